/*
 * cli_certificate.c - the command line `notarium case certificate` (also
 * `notarium-verify certificate`): verify an evidence bundle against pinned
 * anchors and, when it PASSED and the case is sealed, write the preservation
 * certificate (case_certificate.c) as JSON, its detached signature (and
 * time-stamp, --tsa) as for signed reports, and optionally a PDF.  Part of
 * nt_verifier; argv[0] is the subcommand name.
 */
#include "verifier/case_int.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s --bundle CASE.bundle --trust TSA-ROOTS.pem --log-key LOG.vkey\n"
            "          --sign-key KEY.pem --sign-cert CERT.pem [--sign-chain CHAIN.pem]\n"
            "          --out CERT.json [--signature CERT.json.p7s]\n"
            "          [--tsa http(s)://TSA-URL [--tsa-ca CA.pem]]\n"
            "          [--pdf CERT.pdf [--lang en|zh]] [--now UNIX-SECONDS]\n"
            "exit status: 0 issued, 1 not issued (the case does not verify or is not sealed),\n"
            "3 usage, 4 error\n",
            prog);
}

typedef struct cert_args {
    verifier_case_options o;
    const char *out, *sig, *pdf, *lang, *skey, *scert, *schain, *tsa, *tsa_ca;
} cert_args;

/* parse's "go on": the options are good (any other value is an exit status). */
#define CERT_PARSED (-1)

static int parse(cert_args *a, int argc, char **argv, const char *prog)
{
    enum {
        O_BUNDLE = 1000,
        O_TRUST,
        O_LOGKEY,
        O_KEY,
        O_CERT,
        O_CHAIN,
        O_OUT,
        O_SIG,
        O_TSA,
        O_TSACA,
        O_PDF,
        O_LANG,
        O_NOW,
        O_HELP
    };
    static const struct option longopts[] = {
        {"bundle", required_argument, NULL, O_BUNDLE},
        {"trust", required_argument, NULL, O_TRUST},
        {"log-key", required_argument, NULL, O_LOGKEY},
        {"sign-key", required_argument, NULL, O_KEY},
        {"sign-cert", required_argument, NULL, O_CERT},
        {"sign-chain", required_argument, NULL, O_CHAIN},
        {"out", required_argument, NULL, O_OUT},
        {"signature", required_argument, NULL, O_SIG},
        {"tsa", required_argument, NULL, O_TSA},
        {"tsa-ca", required_argument, NULL, O_TSACA},
        {"pdf", required_argument, NULL, O_PDF},
        {"lang", required_argument, NULL, O_LANG},
        {"now", required_argument, NULL, O_NOW},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char **text[] = {&a->o.bundle_path, &a->o.trust_path, &a->o.log_key_path,
                           &a->skey,          &a->scert,        &a->schain,
                           &a->out,           &a->sig,          &a->tsa,
                           &a->tsa_ca,        &a->pdf,          &a->lang};
    int c;
    memset(a, 0, sizeof(*a));
    a->lang = "en";
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c >= O_BUNDLE && c <= O_LANG) {
            *text[c - O_BUNDLE] = optarg;
        } else if (c == O_NOW) {
            uint64_t t = 0;
            if (nt_parse_u64(&t, optarg, strlen(optarg)) < 0 || t == 0 || t > INT64_MAX / 2) {
                fprintf(stderr, "%s: --now takes Unix seconds\n", prog);
                return VERIFIER_EXIT_USAGE;
            }
            a->o.now = (time_t)t;
        } else if (c == O_HELP) {
            usage(stdout, prog);
            return 0;
        } else {
            usage(stderr, prog);
            return VERIFIER_EXIT_USAGE;
        }
    }
    if (optind != argc || a->o.bundle_path == NULL || a->o.trust_path == NULL ||
        a->o.log_key_path == NULL || a->skey == NULL || a->scert == NULL || a->out == NULL ||
        (a->tsa_ca != NULL && a->tsa == NULL)) {
        usage(stderr, prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (strcmp(a->lang, "en") != 0 && strcmp(a->lang, "zh") != 0) {
        fprintf(stderr, "%s: --lang must be en or zh\n", prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (a->pdf != NULL && !verifier_pdf_supported()) {
        fprintf(stderr, "%s: this build has no PDF support (cairo + pango)\n", prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (a->tsa != NULL && verifier__url_check(a->tsa) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        return VERIFIER_EXIT_USAGE;
    }
    return CERT_PARSED;
}

int verifier_cli_case_certificate(int argc, char **argv, const char *prog)
{
    cert_args a;
    int status = parse(&a, argc, argv, prog);
    verifier_case_report *r = NULL;
    nt_buf json = NT_BUF_INIT, sig = NT_BUF_INIT, stamped = NT_BUF_INIT, sigp = NT_BUF_INIT;

    if (status != CERT_PARSED) {
        return status;
    }
    status = VERIFIER_EXIT_ERROR;
    if (verifier_case_run(&r, &a.o) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        status = nt_error_code() == NT_EINVAL ? VERIFIER_EXIT_USAGE : VERIFIER_EXIT_ERROR;
        goto done;
    }
    if (verifier_case_certificate(&json, r, r->now) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        status = 1;
        goto done;
    }
    if (verifier_report_sign(&sig, nt_buf_bytes(&json), a.skey, a.scert, a.schain) < 0) {
        fprintf(stderr, "%s: signing the certificate: %s\n", prog, nt_error_last());
        goto done;
    }
    if (a.tsa != NULL &&
        verifier_report_timestamp(&stamped, nt_buf_bytes(&sig), a.tsa, a.tsa_ca) < 0) {
        fprintf(stderr, "%s: time-stamping the signature at %s: %s\n", prog, a.tsa,
                nt_error_last());
        goto done;
    }
    if (a.sig == NULL) {
        if (nt_buf_printf(&sigp, "%s.p7s", a.out) < 0) {
            goto done;
        }
        a.sig = nt_buf_cstr(&sigp);
    }
    const nt_buf *s = a.tsa != NULL ? &stamped : &sig;
    if (nt_file_write_atomic(a.out, json.ptr, json.len, 0644) < 0 ||
        nt_file_write_atomic(a.sig, s->ptr, s->len, 0644) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        goto done;
    }
    if (a.pdf != NULL && verifier_case_certificate_pdf(NULL, a.pdf, r, r->now, a.lang) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        goto done;
    }
    printf("ISSUED: %s (signature %s)\n", a.out, a.sig);
    status = 0;
done:
    verifier_case_report_free(r);
    nt_buf_dispose(&json);
    nt_buf_dispose(&sig);
    nt_buf_dispose(&stamped);
    nt_buf_dispose(&sigp);
    return status;
}
