/*
 * cmd_case.c - `notarium case show|export` (issue 11, docs/man/notarium-case.1):
 * an operator's view of one case of a data directory's ledger, read-only so
 * that it works while the server runs.  `show` prints the case's head and
 * its events; `export` writes the evidence bundle (docs/FORMATS.md) that GET
 * /v1/cases/<case>/bundle serves, with the certificates of the configured
 * TSA certificate and chain files added to those the tokens carry.
 */
#include "certs/certs.h"
#include "ledger/event.h"
#include "ledger/ledger.h"
#include "tools/cmd_int.h"
#include "tsa/server.h"
#include "tsa/tsa.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

int cmd_case(int argc, char **argv);

#define CASE_CERTS_MAX 16

static void case_usage(void)
{
    fprintf(stderr, "usage: notarium case show --data DIR --tenant T --case C [--config FILE]\n"
                    "       notarium case export --data DIR --tenant T --case C [--out FILE] "
                    "[--config FILE]\n");
}

typedef struct case_args {
    const char *data, *config, *tenant, *case_id, *out;
} case_args;

static int parse_args(case_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof(*a));
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = strcmp(argv[i], "--data") == 0     ? &a->data
                            : strcmp(argv[i], "--config") == 0 ? &a->config
                            : strcmp(argv[i], "--tenant") == 0 ? &a->tenant
                            : strcmp(argv[i], "--case") == 0   ? &a->case_id
                            : strcmp(argv[i], "--out") == 0    ? &a->out
                                                               : NULL;
        if (slot == NULL || v == NULL) {
            return nt_error_set(NT_EINVAL, "unknown or incomplete option '%s'", argv[i]);
        }
        *slot = v;
        i++;
    }
    if (a->data == NULL || a->tenant == NULL || a->case_id == NULL) {
        return nt_error_set(NT_EINVAL, "--data, --tenant and --case are required");
    }
    if (!event_tenant_valid(a->tenant, strlen(a->tenant)) ||
        !event_case_valid(a->case_id, strlen(a->case_id))) {
        return nt_error_set(NT_EINVAL, "bad --tenant or --case (docs/FORMATS.md \"Case events\")");
    }
    return 0;
}

static int open_ledger(ledger **out, server_config **cfg, const case_args *a)
{
    return cmd_open_ledger(out, cfg, a->data, a->config); /* tools/cmd_common.c */
}

/* The DER of every certificate in the configured TSA certificate and chain files. */
static int config_certs(nt_buf ders[CASE_CERTS_MAX], size_t *count, const server_config *cfg)
{
    const char *files[2] = {cfg->tsa_cert, cfg->tsa_chain};
    int error = 0;

    *count = 0;
    for (int f = 0; f < 2; f++) {
        STACK_OF(X509) *sk = NULL;
        if (files[f] == NULL || certs_load_pem_certs(&sk, files[f]) < 0) {
            continue; /* a PKCS#12 or PKCS#11 setup: the tokens carry the signer */
        }
        for (int i = 0; i < sk_X509_num(sk) && *count < CASE_CERTS_MAX; i++) {
            unsigned char *der = NULL;
            int len = i2d_X509(sk_X509_value(sk, i), &der);
            if (len > 0) {
                error = nt_buf_set(&ders[(*count)++], der, (size_t)len);
            }
            OPENSSL_free(der);
        }
        sk_X509_pop_free(sk, X509_free);
        NT_TRY(error);
    }
done:
    return error;
}

static int case_export(ledger *l, const server_config *cfg, const case_args *a)
{
    nt_buf ders[CASE_CERTS_MAX], out = NT_BUF_INIT;
    nt_bytes certs[CASE_CERTS_MAX];
    size_t n = 0;
    int error = 0;

    memset(ders, 0, sizeof(ders));
    NT_TRY(config_certs(ders, &n, cfg));
    for (size_t i = 0; i < n; i++) {
        certs[i] = nt_buf_bytes(&ders[i]);
    }
    NT_TRY(ledger_case_bundle(&out, l, a->tenant, a->case_id, certs, n));
    if (a->out != NULL) {
        NT_TRY(nt_file_write_atomic(a->out, out.ptr, out.len, 0644));
    } else {
        NT_ENSURE(fwrite(out.ptr, 1, out.len, stdout) == out.len, NT_EIO, "cannot write stdout");
    }
done:
    for (size_t i = 0; i < CASE_CERTS_MAX; i++) {
        nt_buf_dispose(&ders[i]);
    }
    nt_buf_dispose(&out);
    return error;
}

static int case_show(ledger *l, const case_args *a)
{
    ledger_case_head h;
    uint64_t index;
    int error = 0;
    char hex[65];

    NT_TRY(ledger_case_head_get(&h, l, a->tenant, a->case_id));
    nt_hex_fill(hex, h.last_hash, 32);
    hex[64] = '\0';
    printf("tenant %s\ncase %s\nevents %llu\nsealed %s\nhead leaf %llu %s\n", a->tenant, a->case_id,
           (unsigned long long)h.seq, h.sealed ? "yes" : "no", (unsigned long long)h.last_index,
           hex);
    for (uint64_t seq = 1; seq <= h.seq; seq++) {
        nt_buf leaf = NT_BUF_INIT, when = NT_BUF_INIT;
        record rec;
        uint64_t gen_ns = 0;
        uint32_t epoch;
        struct timespec ts;
        size_t n = 0;

        error = ledger_case_events(&index, &n, l, a->tenant, a->case_id, seq, 1);
        if (error == 0 && n != 1) {
            error = nt_error_set(NT_ECORRUPT, "event %llu of the case is missing",
                                 (unsigned long long)seq);
        }
        if (error == 0) {
            error = ledger_leaf_get(&leaf, NULL, l, index);
        }
        if (error == 0 && (error = record_decode(&rec, leaf.ptr, leaf.len)) == 0 &&
            (error = tsa_token_info(&gen_ns, &epoch, rec.token)) == 0) {
            ts.tv_sec = (time_t)(gen_ns / 1000000000u);
            ts.tv_nsec = (long)(gen_ns % 1000000000u);
            error = nt_time_rfc3339(&when, &ts, 3);
        }
        if (error == 0) {
            printf("%llu\t%s\tleaf %llu\t%.*s\n", (unsigned long long)seq, nt_buf_cstr(&when),
                   (unsigned long long)index, (int)rec.label.len, (const char *)rec.label.ptr);
        }
        nt_buf_dispose(&leaf);
        nt_buf_dispose(&when);
        NT_TRY(error);
    }
done:
    return error;
}

int cmd_case(int argc, char **argv)
{
    case_args a;
    ledger *l = NULL;
    server_config *cfg = NULL;
    int error;

    if (argc < 2 || (strcmp(argv[1], "show") != 0 && strcmp(argv[1], "export") != 0)) {
        case_usage();
        return 2;
    }
    if (parse_args(&a, argc, argv) < 0) {
        fprintf(stderr, "notarium case: %s\n", nt_error_last());
        case_usage();
        return 2;
    }
    error = open_ledger(&l, &cfg, &a);
    if (error == 0) {
        error = strcmp(argv[1], "show") == 0 ? case_show(l, &a) : case_export(l, cfg, &a);
    }
    if (error < 0) {
        fprintf(stderr, "notarium case %s: %s\n", argv[1],
                error == NT_ENOTFOUND ? "no such case" : nt_error_last());
    }
    ledger_close(l);
    server_config_free(cfg);
    return error == 0 ? 0 : 1;
}
