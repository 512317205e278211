/*
 * cli.c - the command lines `verify` and `verify-report`, shared by the
 * `notarium` tool (tools/cmd_verify.c) and the standalone `notarium-verify`
 * (verifier/cli/main.c), so both behave identically.  Part of nt_verifier.
 * argv[0] is the subcommand (or program) name; options follow.
 */
#include "verifier/verifier_int.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static void usage_verify(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s (--document FILE | --digest ALG:HEX) --receipt RECEIPT.json\n"
            "          --trust TSA-ROOTS.pem --log-key LOG.vkey\n"
            "   or: %s --bundle CASE.bundle [--document FILE ...] [--disclose DISCLOSURES.json]\n"
            "          --trust TSA-ROOTS.pem --log-key LOG.vkey\n"
            "          [--mirror GIT-URL-OR-PATH] [--crl FILE ...]\n"
            "          [--report-json OUT.json] [--report-pdf OUT.pdf] [--lang en|zh]\n"
            "          [--sign-key KEY.pem --sign-cert CERT.pem [--sign-chain CHAIN.pem]\n"
            "           [--report-sig OUT.p7s] [--tsa http(s)://TSA-URL [--tsa-ca CA.pem]]]\n"
            "          [--now UNIX-SECONDS] [--quiet]\n"
            "exit status: 0 PASSED, 1 FAILED, 2 INDETERMINATE, 3 usage, 4 error\n",
            prog, prog);
}

static void usage_report(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s --report REPORT.json --signature REPORT.json.p7s --trust ROOTS.pem\n"
            "          [--require-timestamp]\n"
            "exit status: 0 signature (and time-stamp, if any) valid, 1 invalid, 3 usage, "
            "4 error\n",
            prog);
}

/* Shell-quote one argument for the "verify it yourself" line. */
static int quote_arg(nt_buf *out, const char *a)
{
    int error = 0;
    int plain = a[0] != '\0';
    for (const char *p = a; *p != '\0'; p++) {
        if (!(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./:=+@,",
                     *p) != NULL)) {
            plain = 0;
        }
    }
    if (plain) {
        return nt_buf_puts(out, a);
    }
    NT_TRY(nt_buf_putc(out, '\''));
    for (const char *p = a; *p != '\0'; p++) {
        NT_TRY(*p == '\'' ? nt_buf_puts(out, "'\\''") : nt_buf_putc(out, (uint8_t)*p));
    }
    NT_TRY(nt_buf_putc(out, '\''));
done:
    return error;
}

/* What `verify` was asked for: the verification's options and what to do with the report. */
typedef struct cli_verify {
    verifier_options o;
    verifier_case_options co; /* --bundle: its documents and disclosures */
    const char *json_path, *pdf_path, *lang, *skey, *scert, *schain, *sig_path, *tsa, *tsa_ca;
    int quiet;
} cli_verify;

enum cli_opt_kind { OPT_TEXT, OPT_CRL, OPT_NOW, OPT_QUIET, OPT_HELP, OPT_DOC };

/*
 * The options of `verify`, in one table: a text option sets the string at
 * `field` of cli_verify; an `output` one says what to do with the report and
 * is left out of the report's "verify it yourself" command line.
 */
static const struct cli_opt {
    const char *name;
    enum cli_opt_kind kind;
    size_t field;
    int output;
} verify_opts[] = {
    {"document", OPT_DOC, offsetof(cli_verify, o.document_path), 0},
    {"bundle", OPT_TEXT, offsetof(cli_verify, co.bundle_path), 0},
    {"disclose", OPT_TEXT, offsetof(cli_verify, co.disclose_path), 0},
    {"digest", OPT_TEXT, offsetof(cli_verify, o.digest), 0},
    {"receipt", OPT_TEXT, offsetof(cli_verify, o.receipt_path), 0},
    {"trust", OPT_TEXT, offsetof(cli_verify, o.trust_path), 0},
    {"log-key", OPT_TEXT, offsetof(cli_verify, o.log_key_path), 0},
    {"mirror", OPT_TEXT, offsetof(cli_verify, o.mirror), 0},
    {"crl", OPT_CRL, 0, 0},
    {"report-json", OPT_TEXT, offsetof(cli_verify, json_path), 1},
    {"report-pdf", OPT_TEXT, offsetof(cli_verify, pdf_path), 1},
    {"lang", OPT_TEXT, offsetof(cli_verify, lang), 1},
    {"sign-key", OPT_TEXT, offsetof(cli_verify, skey), 1},
    {"sign-cert", OPT_TEXT, offsetof(cli_verify, scert), 1},
    {"sign-chain", OPT_TEXT, offsetof(cli_verify, schain), 1},
    {"report-sig", OPT_TEXT, offsetof(cli_verify, sig_path), 1},
    {"tsa", OPT_TEXT, offsetof(cli_verify, tsa), 1},
    {"tsa-ca", OPT_TEXT, offsetof(cli_verify, tsa_ca), 1},
    {"now", OPT_NOW, 0, 1},
    {"git", OPT_TEXT, offsetof(cli_verify, o.git_command), 0},
    {"quiet", OPT_QUIET, 0, 1},
    {"help", OPT_HELP, 0, 1},
};

#define VERIFY_OPT_BASE 1000

/* Parse and check the options: -1 to go on, or the exit status to return now. */
/* verify_args_parse's "go on": the options are good (any other value is an exit status). */
#define CLI_PARSED (-1)

static int verify_args_parse(cli_verify *a, int argc, char **argv, const char *prog)
{
    struct option longopts[NT_ARRAY_LEN(verify_opts) + 1];
    int c;

    memset(longopts, 0, sizeof(longopts));
    for (size_t i = 0; i < NT_ARRAY_LEN(verify_opts); i++) {
        int plain = verify_opts[i].kind == OPT_QUIET || verify_opts[i].kind == OPT_HELP;
        longopts[i].name = verify_opts[i].name;
        longopts[i].has_arg = plain ? no_argument : required_argument;
        longopts[i].val = VERIFY_OPT_BASE + (int)i;
    }
    memset(a, 0, sizeof(*a));
    a->lang = "en";
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        size_t i = (size_t)(c - VERIFY_OPT_BASE);
        if (c < VERIFY_OPT_BASE || i >= NT_ARRAY_LEN(verify_opts)) {
            usage_verify(stderr, prog);
            return VERIFIER_EXIT_USAGE;
        }
        switch (verify_opts[i].kind) {
        case OPT_DOC:
            if (a->co.document_count >= VERIFIER_MAX_DOCUMENTS) {
                fprintf(stderr, "%s: at most %d --document\n", prog, VERIFIER_MAX_DOCUMENTS);
                return VERIFIER_EXIT_USAGE;
            }
            a->co.document_paths[a->co.document_count++] = optarg;
            /* fall through - the single-receipt form takes its one document too */
        case OPT_TEXT:
            *(const char **)(void *)((char *)a + verify_opts[i].field) = optarg;
            break;
        case OPT_CRL:
            if (a->o.crl_count >= VERIFIER_MAX_CRLS) {
                fprintf(stderr, "%s: at most %d --crl\n", prog, VERIFIER_MAX_CRLS);
                return VERIFIER_EXIT_USAGE;
            }
            a->o.crl_paths[a->o.crl_count++] = optarg;
            break;
        case OPT_NOW: {
            uint64_t t = 0;
            if (nt_parse_u64(&t, optarg, strlen(optarg)) < 0 || t == 0 || t > INT64_MAX / 2) {
                fprintf(stderr, "%s: --now takes Unix seconds\n", prog);
                return VERIFIER_EXIT_USAGE;
            }
            a->o.now = (time_t)t;
            break;
        }
        case OPT_QUIET:
            a->quiet = 1;
            break;
        case OPT_HELP:
            usage_verify(stdout, prog);
            return 0;
        }
    }
    /* A bundle takes any number of documents, no receipt, digest, mirror or CRL. */
    int bad_form = a->co.bundle_path != NULL
                       ? a->o.receipt_path != NULL || a->o.digest != NULL || a->o.mirror != NULL ||
                             a->o.crl_count > 0
                       : (a->o.document_path == NULL) == (a->o.digest == NULL) ||
                             a->co.document_count > 1 || a->o.receipt_path == NULL ||
                             a->co.disclose_path != NULL;
    if (optind != argc || bad_form || a->o.trust_path == NULL || a->o.log_key_path == NULL ||
        (a->skey == NULL) != (a->scert == NULL) || (a->sig_path != NULL && a->skey == NULL) ||
        (a->tsa != NULL && a->skey == NULL) || (a->tsa_ca != NULL && a->tsa == NULL)) {
        usage_verify(stderr, prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (strcmp(a->lang, "en") != 0 && strcmp(a->lang, "zh") != 0) {
        fprintf(stderr, "%s: --lang must be en or zh\n", prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (a->pdf_path != NULL && !verifier_pdf_supported()) {
        fprintf(stderr, "%s: this build has no PDF support (cairo + pango)\n", prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (a->skey != NULL && a->json_path == NULL) {
        fprintf(stderr, "%s: --sign-key needs --report-json\n", prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (a->tsa != NULL && verifier__url_check(a->tsa) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        return VERIFIER_EXIT_USAGE;
    }
    return CLI_PARSED;
}

/* The exact command, for the report's "verify it yourself" section (without outputs). */
static int verify_command_line(nt_buf *cmd, int argc, char **argv)
{
    int error = 0;
    NT_TRY(nt_buf_puts(cmd, VERIFIER_NAME));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int skip = 0;
        for (size_t k = 0; k < NT_ARRAY_LEN(verify_opts); k++) {
            const struct cli_opt *opt = &verify_opts[k];
            size_t n = strlen(opt->name);
            if (opt->output && opt->kind != OPT_HELP && strncmp(a, "--", 2) == 0 &&
                strncmp(a + 2, opt->name, n) == 0 && (a[n + 2] == '\0' || a[n + 2] == '=')) {
                skip = opt->kind == OPT_QUIET || a[n + 2] == '=' ? 1 : 2;
            }
        }
        if (skip > 0) {
            i += skip - 1;
            continue;
        }
        NT_TRY(nt_buf_putc(cmd, ' '));
        NT_TRY(quote_arg(cmd, a));
    }
done:
    return error;
}

/* Sign the JSON report (and have the signature time-stamped with --tsa) into --report-sig. */
static int verify_sign(const cli_verify *a, const nt_buf *json, const char *prog)
{
    int error = 0;
    nt_buf sig = NT_BUF_INIT, sigp = NT_BUF_INIT, stamped = NT_BUF_INIT;
    const char *sig_path = a->sig_path;
    if (sig_path == NULL) {
        NT_TRY(nt_buf_printf(&sigp, "%s.p7s", a->json_path));
        sig_path = nt_buf_cstr(&sigp);
    }
    if ((error = verifier_report_sign(&sig, nt_buf_bytes(json), a->skey, a->scert, a->schain)) <
        0) {
        fprintf(stderr, "%s: signing the report: %s\n", prog, nt_error_last());
        goto done;
    }
    /* The only network access of a verification, and only when asked for. */
    if (a->tsa != NULL &&
        (error = verifier_report_timestamp(&stamped, nt_buf_bytes(&sig), a->tsa, a->tsa_ca)) < 0) {
        fprintf(stderr, "%s: time-stamping the report signature at %s: %s\n", prog, a->tsa,
                nt_error_last());
        goto done;
    }
    const nt_buf *out = a->tsa != NULL ? &stamped : &sig;
    if ((error = nt_file_write_atomic(sig_path, out->ptr, out->len, 0644)) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, sig_path, nt_error_last());
        goto done;
    }
done:
    nt_buf_dispose(&sig);
    nt_buf_dispose(&sigp);
    nt_buf_dispose(&stamped);
    return error;
}

/* --bundle: the case report, written and signed as the single-receipt report is. */
static int cli_case(cli_verify *a, const char *prog)
{
    int status = VERIFIER_EXIT_ERROR;
    verifier_case_report *r = NULL;
    nt_buf json = NT_BUF_INIT;
    a->co.trust_path = a->o.trust_path;
    a->co.log_key_path = a->o.log_key_path;
    a->co.now = a->o.now;
    a->co.command_line = a->o.command_line;
    if (verifier_case_run(&r, &a->co) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        status = nt_error_code() == NT_EINVAL ? VERIFIER_EXIT_USAGE : VERIFIER_EXIT_ERROR;
        goto done;
    }
    if (verifier_case_report_json(&json, r) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        goto done;
    }
    if (a->json_path != NULL && nt_file_write_atomic(a->json_path, json.ptr, json.len, 0644) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, a->json_path, nt_error_last());
        goto done;
    }
    if (a->pdf_path != NULL && verifier_case_report_pdf(r, a->pdf_path, a->lang) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        goto done;
    }
    if (a->skey != NULL && verify_sign(a, &json, prog) < 0) {
        goto done;
    }
    if (!a->quiet) {
        if (a->json_path == NULL) {
            fwrite(json.ptr, 1, json.len, stdout);
        } else {
            const char *sub = verifier_case_report_subindication(r);
            printf("%s%s%s\n", verifier_indication_name(verifier_case_report_indication(r)),
                   sub != NULL ? " " : "", sub != NULL ? sub : "");
        }
    }
    status = verifier_case_report_exit_code(r);
done:
    verifier_case_report_free(r);
    nt_buf_dispose(&json);
    return status;
}

int verifier_cli_verify(int argc, char **argv, const char *prog)
{
    cli_verify a;
    int status = verify_args_parse(&a, argc, argv, prog);
    verifier_report *r = NULL;
    nt_buf json = NT_BUF_INIT, cmd = NT_BUF_INIT;

    if (status >= 0) {
        return status;
    }
    status = VERIFIER_EXIT_ERROR;
    if (verify_command_line(&cmd, argc, argv) < 0) {
        goto done;
    }
    a.o.command_line = nt_buf_cstr(&cmd);
    if (a.co.bundle_path != NULL) {
        status = cli_case(&a, prog);
        goto done;
    }

    if (verifier_run(&r, &a.o) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        status = nt_error_code() == NT_EINVAL ? VERIFIER_EXIT_USAGE : VERIFIER_EXIT_ERROR;
        goto done;
    }
    if (verifier_report_json(&json, r) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        goto done;
    }
    if (a.json_path != NULL && nt_file_write_atomic(a.json_path, json.ptr, json.len, 0644) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, a.json_path, nt_error_last());
        goto done;
    }
    if (a.pdf_path != NULL && verifier_report_pdf(r, a.pdf_path, a.lang) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        goto done;
    }
    if (a.skey != NULL && verify_sign(&a, &json, prog) < 0) {
        goto done;
    }
    if (!a.quiet) {
        if (a.json_path == NULL) {
            fwrite(json.ptr, 1, json.len, stdout);
        } else {
            const char *sub = verifier_report_subindication(r);
            printf("%s%s%s\n", verifier_indication_name(verifier_report_indication(r)),
                   sub != NULL ? " " : "", sub != NULL ? sub : "");
        }
    }
    status = verifier_report_exit_code(r);
done:
    verifier_report_free(r);
    nt_buf_dispose(&json);
    nt_buf_dispose(&cmd);
    return status;
}

int verifier_cli_verify_report(int argc, char **argv, const char *prog)
{
    enum { O_REPORT = 1000, O_SIG, O_TRUST, O_HELP, O_REQTS };
    static const struct option longopts[] = {
        {"report", required_argument, NULL, O_REPORT},
        {"signature", required_argument, NULL, O_SIG},
        {"trust", required_argument, NULL, O_TRUST},
        {"require-timestamp", no_argument, NULL, O_REQTS},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *report = NULL, *sigpath = NULL, *trust = NULL;
    int c, status = VERIFIER_EXIT_ERROR, require_ts = 0;
    nt_buf json = NT_BUF_INIT, sig = NT_BUF_INIT;
    verifier_report_sig_info info;

    memset(&info, 0, sizeof(info));

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_REPORT:
            report = optarg;
            break;
        case O_SIG:
            sigpath = optarg;
            break;
        case O_TRUST:
            trust = optarg;
            break;
        case O_REQTS:
            require_ts = 1;
            break;
        case O_HELP:
            usage_report(stdout, prog);
            return 0;
        default:
            usage_report(stderr, prog);
            return VERIFIER_EXIT_USAGE;
        }
    }
    if (optind != argc || report == NULL || sigpath == NULL || trust == NULL) {
        usage_report(stderr, prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (nt_file_read(&json, report, 64u << 20) < 0 || nt_file_read(&sig, sigpath, 1u << 20) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        goto done;
    }
    int rc =
        verifier_report_signature_verify(&info, nt_buf_bytes(&json), nt_buf_bytes(&sig), trust);
    if (rc == NT_EVERIFY) {
        printf("INVALID: %s\n", nt_error_last());
        status = 1;
    } else if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        status = rc == NT_EINVAL ? 1 : VERIFIER_EXIT_ERROR;
    } else if (!info.timestamped && require_ts) {
        printf("INVALID: the signature by %s carries no time-stamp (--require-timestamp)\n",
               nt_buf_cstr(&info.signer));
        status = 1;
    } else if (info.timestamped) {
        printf("VALID: signed by %s\nTIME-STAMPED: %s by %s, serial %s\n",
               nt_buf_cstr(&info.signer), nt_buf_cstr(&info.ts_gen_time), nt_buf_cstr(&info.ts_tsa),
               nt_buf_cstr(&info.ts_serial));
        status = 0;
    } else {
        printf("VALID: signed by %s\nNOT TIME-STAMPED: the signing time is not proven\n",
               nt_buf_cstr(&info.signer));
        status = 0;
    }
done:
    nt_buf_dispose(&json);
    nt_buf_dispose(&sig);
    verifier_report_sig_info_dispose(&info);
    return status;
}
