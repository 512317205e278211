/*
 * tsreq_fuzz.c - fuzz target for the TSA core's request path: any bytes as
 * a TimeStampReq through tsa_respond, the way the HTTP endpoint feeds them.
 * Checks the contract on every input: a TimeStampResp is always produced
 * (return 0), it decodes, its status agrees with tsa_result, and a granted
 * one carries a token whose TSTInfo echoes the request's imprint.  The
 * signer is a throw-away development PKI made once in a temporary directory.
 * Seeds in tests/fuzz/corpus/tsreq/: requests made by `openssl ts -query`
 * and hand-broken variants (truncated, trailing bytes, BER, version 2,
 * unknown algorithm, wrong imprint length, unaccepted policy/extension).
 */
#define _XOPEN_SOURCE 700
#include "certs/certs.h"
#include "tsa/tsa.h"

#include <ftw.h>
#include <openssl/ts.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tsa *fuzz_tsa;
static certs_signer *fuzz_signer;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fuzz_init(void)
{
    char dir[512], cert[600], key[600], ca[600];
    const char *base = getenv("TMPDIR");
    certs_pki_options o;
    tsa_config cfg;

    snprintf(dir, sizeof(dir), "%s/nt-fuzz-XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    memset(&o, 0, sizeof(o));
    o.dir = dir;
    o.tsa_key = CERTS_KEY_EC_P256;
    o.log_origin = "fuzz.notarium.example/log";
    snprintf(cert, sizeof(cert), "%s/tsa.pem", dir);
    snprintf(key, sizeof(key), "%s/tsa.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    if (certs_pki_init(&o) != 0 || certs_signer_load_pem(&fuzz_signer, cert, key, NULL, ca) != 0) {
        fprintf(stderr, "tsreq_fuzz: %s\n", nt_error_last());
        abort();
    }
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

    tsa_config_init(&cfg);
    cfg.policy = "1.3.6.1.4.1.99999.1.1";
    cfg.accepted_policies[0] = "1.3.6.1.4.1.99999.1.2";
    cfg.accepted_policy_count = 1;
    cfg.accepted_extensions[0] = "1.3.6.1.4.1.99999.2.1";
    cfg.accepted_extension_count = 1;
    cfg.allow_unsynced_clock = 1; /* reach the signing path whatever the host's clock says */
    cfg.include_tsa_name = 1;
    if (tsa_new(&fuzz_tsa, &cfg, fuzz_signer) != 0) {
        fprintf(stderr, "tsreq_fuzz: %s\n", nt_error_last());
        abort();
    }
    nt_log_set_level(NT_LOG_NONE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsa_result r;
    const unsigned char *p;
    TS_RESP *resp;
    int status;

    if (fuzz_tsa == NULL) {
        fuzz_init();
    }
    tsa_result_init(&r);
    if (tsa_respond(&r, fuzz_tsa, NT_BYTES(data, size)) != 0 || r.response.len == 0) {
        abort(); /* the contract: a TimeStampResp for every input */
    }
    p = r.response.ptr;
    resp = d2i_TS_RESP(NULL, &p, (long)r.response.len);
    if (resp == NULL || p != r.response.ptr + r.response.len) {
        abort();
    }
    status = (int)ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp)));
    if (r.granted) {
        TS_TST_INFO *tst = TS_RESP_get_tst_info(resp);
        const ASN1_OCTET_STRING *msg;
        if (status != 0 || r.fail != TSA_FAIL_NONE || r.token.len == 0 || tst == NULL) {
            abort();
        }
        msg = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(tst));
        if ((size_t)ASN1_STRING_length(msg) != r.digest.len ||
            memcmp(ASN1_STRING_get0_data(msg), r.digest.ptr, r.digest.len) != 0) {
            abort();
        }
    } else if (status != 2 || r.fail == TSA_FAIL_NONE || r.token.len != 0) {
        abort();
    }
    TS_RESP_free(resp);
    tsa_result_dispose(&r);
    return 0;
}
