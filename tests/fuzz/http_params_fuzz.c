/*
 * http_params_fuzz.c - fuzz target for the parameters the daemon reads from a
 * request line and its headers, through the MHD-free handlers of tsa/server*.c
 * and tsa/config.c: the "<alg>:<hex>" digest of GET /v1/receipts, the leaf
 * index of GET /v1/receipt/<n>, index/size of /v1/proof/inclusion, from/to of
 * /v1/proof/consistency, a listen spec (server_listen_parse) and a presented
 * API key (server_api_key_check), then the limit and cursor of GET
 * /v1/receipts.  The input is split at '\n' into those nine fields in that order (a missing field
 * is an absent parameter; bytes after a NUL are cut, as libmicrohttpd would hand them over).  The
 * handlers run against a real ledger of LEAVES leaves in a temporary directory whose digests this
 * file knows, so every reply is checked against an independent expectation: 200 exactly when the
 * parameters are well-formed and in range (with the right number of receipts for a digest), 400 /
 * 404 naming the field otherwise, never 500, and always a valid JSON body.  The route matcher,
 * media-type check and "Bearer" parser of tsa/http.c are static and are not reached from here.
 * Seeds in tests/fuzz/corpus/http_params/.
 */
#define _XOPEN_SOURCE 700
#include "tsa/server_int.h"

#include <ftw.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LEAVES 5
#define FIELDS 9
#define ORIGIN "fuzz.notarium.example/params"

static server fz_server;
static server_config fz_cfg;
static ledger *fz_ledger;
static char fz_dir[512];
static uint8_t fz_digest[3][32]; /* leaf i has digest fz_digest[i % 3] */
static nt_buf fz_api_key = NT_BUF_INIT;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fz_fail(const char *what)
{
    fprintf(stderr, "http_params_fuzz: %s: %s\n", what, nt_error_last());
    abort();
}

static void fz_init(void)
{
    const char *base = getenv("TMPDIR");
    ledger_options lo;
    EVP_PKEY *key;
    nt_buf leaf = NT_BUF_INIT, entry = NT_BUF_INIT;
    uint8_t token[48];
    uint64_t index;
    server_config *parsed = NULL;

    snprintf(fz_dir, sizeof(fz_dir), "%s/nt-fuzz-XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(fz_dir) == NULL) {
        abort();
    }
    if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL) {
        abort();
    }
    memset(&lo, 0, sizeof(lo));
    lo.path = fz_dir;
    lo.map_size = 8u << 20;
    lo.origin = ORIGIN;
    lo.log_key = key;
    lo.no_sync = 1;
    if (ledger_open(&fz_ledger, &lo) != 0) {
        fz_fail("ledger_open");
    }
    EVP_PKEY_free(key);
    for (unsigned i = 0; i < 3; i++) {
        uint8_t seed = (uint8_t)i;
        if (EVP_Digest(&seed, 1, fz_digest[i], NULL, EVP_sha256(), NULL) != 1) {
            abort();
        }
    }
    memset(token, 0x5a, sizeof(token));
    token[0] = 0x30; /* looks like DER: the ledger does not parse tokens */
    for (unsigned i = 0; i < LEAVES; i++) {
        record r;
        memset(&r, 0, sizeof(r));
        r.kind = RECORD_KIND_TIMESTAMP;
        r.alg = RECORD_ALG_SHA256;
        r.digest = NT_BYTES(fz_digest[i % 3], 32);
        r.label = NT_BYTES(NULL, 0);
        token[1] = (uint8_t)i;
        r.token = NT_BYTES(token, sizeof(token));
        nt_buf_clear(&leaf);
        if (record_encode(&leaf, &r) != 0 ||
            ledger_append(&index, fz_ledger, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)) != 0 ||
            index != i) {
            fz_fail("append");
        }
    }
    nt_buf_dispose(&leaf);
    /*
     * Nothing is written from here on: remove the directory now (LMDB keeps its open files),
     * so no clean-up has to run at exit.  The ledger stays open for the life of the process:
     * closed from an atexit handler, LSan reported the sequencer thread's OpenSSL error state
     * (ERR_STATE) as leaked.
     */
    nftw(fz_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

    /* One API key, configured the way the daemon reads it: through the parser. */
    {
        nt_buf json = NT_BUF_INIT;
        if (server_api_key_new(&fz_api_key, &entry, "fuzz", NULL) != 0 ||
            nt_buf_printf(&json,
                          "{\"tsa\": {\"policy\": \"1.2.3\"}, \"ledger\": {\"origin\": \"%s\"},"
                          " \"api_keys\": [%s]}",
                          ORIGIN, nt_buf_cstr(&entry)) != 0 ||
            server_config_parse(&parsed, (const char *)json.ptr, json.len, fz_dir) != 0) {
            fz_fail("api key");
        }
        nt_buf_dispose(&json);
    }
    nt_buf_dispose(&entry);
    fz_cfg.api_keys[0] = parsed->api_keys[0];
    fz_cfg.api_key_count = 1;
    server_config_free(parsed);
    if (server_api_key_check(&fz_cfg, (const char *)fz_api_key.ptr, fz_api_key.len) == NULL) {
        fz_fail("the fresh API key does not check");
    }
    fz_server.cfg = &fz_cfg;
    fz_server.ledger = fz_ledger;
}

/* The body is a JSON object; an error names `field` (when not NULL). */
static json_t *check_body(const server_reply *r, const char *field)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)r->body.ptr, r->body.len, 0, &jerr);
    if (j == NULL || !json_is_object(j) || strcmp(r->content_type, "application/json") != 0) {
        fprintf(stderr, "status %u, body not a JSON object: %.*s\n", r->status, (int)r->body.len,
                (const char *)r->body.ptr);
        abort();
    }
    if (r->status != 200) {
        json_t *f = json_object_get(j, "field");
        if (!json_is_string(json_object_get(j, "error")) ||
            (field != NULL && (!json_is_string(f) || strcmp(json_string_value(f), field) != 0))) {
            abort();
        }
    }
    return j;
}

/* Independent parse of a decimal parameter: digits only, no leading zero, fits in 64 bits. */
static int dec(uint64_t *out, const char *s)
{
    uint64_t v = 0;
    size_t n;
    if (s == NULL || (n = strlen(s)) == 0 || n > 20 || (s[0] == '0' && n > 1)) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static void fuzz_receipts(const char *digest, const char *limit_text, const char *cursor_text)
{
    uint64_t limit = SERVER_RECEIPTS_DEFAULT, cursor = 0;
    const char *field;
    int params_ok = 1, limit_ok = 1;
    server_reply r;
    json_t *j;
    record_alg alg;
    nt_buf bytes = NT_BUF_INIT;
    const char *colon = digest != NULL ? strchr(digest, ':') : NULL;
    size_t expect = 0;
    int well_formed = 0;

    /* expectation: "<known alg>:<hex of its size>" */
    if (colon != NULL && colon != digest && (size_t)(colon - digest) < 16) {
        char name[16];
        memcpy(name, digest, (size_t)(colon - digest));
        name[colon - digest] = '\0';
        if (record_alg_from_name(&alg, name) == 0 &&
            nt_hex_decode(&bytes, colon + 1, strlen(colon + 1)) == 0 &&
            bytes.len == record_alg_size(alg)) {
            well_formed = 1;
            /* limit and cursor are checked for every algorithm, not only the one stored */
            if (limit_text != NULL) {
                limit_ok =
                    dec(&limit, limit_text) == 0 && limit >= 1 && limit <= SERVER_RECEIPTS_MAX;
                params_ok &= limit_ok;
            }
            if (cursor_text != NULL) {
                params_ok &= dec(&cursor, cursor_text) == 0;
            }
            if (alg == RECORD_ALG_SHA256) {
                for (unsigned i = 0; params_ok && i < LEAVES && expect < limit; i++) {
                    expect += i >= cursor && memcmp(bytes.ptr, fz_digest[i % 3], 32) == 0;
                }
            }
        }
    }
    server_reply_init(&r);
    server_get_receipts(&r, &fz_server, digest, limit_text, cursor_text, NULL);
    field = !well_formed ? "digest" : !limit_ok ? "limit" : "cursor";
    well_formed &= params_ok;
    if (r.status != (well_formed ? 200u : 400u)) {
        fprintf(stderr, "receipts '%s': status %u\n", digest ? digest : "(null)", r.status);
        abort();
    }
    j = check_body(&r, field);
    if (r.status == 200 && json_array_size(json_object_get(j, "receipts")) != expect) {
        abort();
    }
    json_decref(j);
    server_reply_dispose(&r);
    nt_buf_dispose(&bytes);
}

static void fuzz_receipt(const char *text)
{
    server_reply r;
    uint64_t index;
    unsigned want;

    if (text == NULL) {
        return; /* the route needs a non-empty last segment: never NULL from http.c */
    }
    want = dec(&index, text) < 0 ? 400 : index < LEAVES ? 200 : 404;
    server_reply_init(&r);
    server_get_receipt(&r, &fz_server, text, NULL);
    if (r.status != want) {
        fprintf(stderr, "receipt '%s': status %u, expected %u\n", text, r.status, want);
        abort();
    }
    json_decref(check_body(&r, want == 200 ? NULL : "index"));
    server_reply_dispose(&r);
}

static void fuzz_inclusion(const char *a, const char *b)
{
    server_reply r;
    uint64_t index = 0, size = 0;
    unsigned want = 200;
    json_t *j;

    if (dec(&index, a) < 0 || dec(&size, b) < 0 || size > LEAVES || index >= size) {
        want = 400;
    }
    server_reply_init(&r);
    server_get_proof_inclusion(&r, &fz_server, a, b);
    if (r.status != want) {
        abort();
    }
    j = check_body(&r, NULL);
    if (want == 200 && (json_integer_value(json_object_get(j, "index")) != (json_int_t)index ||
                        json_integer_value(json_object_get(j, "tree_size")) != (json_int_t)size ||
                        !json_is_array(json_object_get(j, "hashes")))) {
        abort();
    }
    json_decref(j);
    server_reply_dispose(&r);
}

static void fuzz_consistency(const char *a, const char *b)
{
    server_reply r;
    uint64_t from = 0, to = 0;
    unsigned want = 200;

    if (dec(&from, a) < 0 || dec(&to, b) < 0 || to > LEAVES || from > to) {
        want = 400;
    }
    server_reply_init(&r);
    server_get_proof_consistency(&r, &fz_server, a, b);
    if (r.status != want) {
        abort();
    }
    json_decref(check_body(&r, NULL));
    server_reply_dispose(&r);
}

static void fuzz_listen(const char *spec)
{
    nt_buf host = NT_BUF_INIT, again = NT_BUF_INIT, host2 = NT_BUF_INIT;
    uint16_t port = 0, port2 = 0;

    if (spec == NULL || server_listen_parse(&host, &port, spec) != 0) {
        nt_buf_dispose(&host);
        return;
    }
    if (host.len == 0) {
        abort();
    }
    /* what was parsed formats back into a spec that parses the same way */
    if (spec[0] == '[') {
        nt_buf_printf(&again, "[%s]:%u", nt_buf_cstr(&host), (unsigned)port);
    } else {
        nt_buf_printf(&again, "%s:%u", nt_buf_cstr(&host), (unsigned)port);
    }
    if (server_listen_parse(&host2, &port2, nt_buf_cstr(&again)) != 0 || port2 != port ||
        host2.len != host.len || memcmp(host2.ptr, host.ptr, host.len) != 0) {
        abort();
    }
    nt_buf_dispose(&host);
    nt_buf_dispose(&host2);
    nt_buf_dispose(&again);
}

static void fuzz_api_key(const char *key, size_t len)
{
    const server_api_key *k = server_api_key_check(fz_server.cfg, key, len);
    int same = len == fz_api_key.len && memcmp(key, fz_api_key.ptr, len) == 0;
    if ((k != NULL) != same || (k != NULL && k != &fz_cfg.api_keys[0])) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy, *field[FIELDS] = {NULL};
    size_t start = 0, n = 0;

    if (fz_ledger == NULL) {
        fz_init();
    }
    if ((copy = nt_malloc(size + 1)) == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (size_t i = 0; i <= size && n < FIELDS; i++) {
        if (i == size || copy[i] == '\n') {
            copy[i] = '\0';
            field[n] = copy + start;
            n++;
            start = i + 1;
        }
    }
    fuzz_receipts(field[0], field[7], field[8]);
    fuzz_receipt(field[1]);
    fuzz_inclusion(field[2], field[3]);
    fuzz_consistency(field[4], field[5]);
    fuzz_listen(field[6]);
    /* the whole input as a presented key (a header value may hold any byte but NUL) */
    fuzz_api_key((const char *)data, size);
    nt_free(copy);
    return 0;
}
