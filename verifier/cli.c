/*
 * cli.c - the command lines `verify` and `verify-report`, shared by the
 * `notarium` tool (tools/cmd_verify.c) and the standalone `notarium-verify`
 * (verifier/cli/main.c), so both behave identically.  Part of nt_verifier.
 * argv[0] is the subcommand (or program) name; options follow.
 */
#include "verifier/verifier_int.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage_verify(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s (--document FILE | --digest ALG:HEX) --receipt RECEIPT.json\n"
            "          --trust TSA-ROOTS.pem --log-key LOG.vkey\n"
            "          [--mirror GIT-URL-OR-PATH] [--crl FILE ...]\n"
            "          [--report-json OUT.json] [--report-pdf OUT.pdf] [--lang en|zh]\n"
            "          [--sign-key KEY.pem --sign-cert CERT.pem [--sign-chain CHAIN.pem]\n"
            "           [--report-sig OUT.p7s] [--tsa http(s)://TSA-URL [--tsa-ca CA.pem]]]\n"
            "          [--now UNIX-SECONDS] [--quiet]\n"
            "exit status: 0 PASSED, 1 FAILED, 2 INDETERMINATE, 3 usage, 4 error\n",
            prog);
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

int verifier_cli_verify(int argc, char **argv, const char *prog)
{
    enum {
        O_DOC = 1000,
        O_DIGEST,
        O_RECEIPT,
        O_TRUST,
        O_LOGKEY,
        O_MIRROR,
        O_CRL,
        O_JSON,
        O_PDF,
        O_LANG,
        O_SKEY,
        O_SCERT,
        O_SCHAIN,
        O_SIG,
        O_NOW,
        O_QUIET,
        O_HELP,
        O_GIT,
        O_TSA,
        O_TSA_CA,
    };
    static const struct option longopts[] = {
        {"document", required_argument, NULL, O_DOC},
        {"digest", required_argument, NULL, O_DIGEST},
        {"receipt", required_argument, NULL, O_RECEIPT},
        {"trust", required_argument, NULL, O_TRUST},
        {"log-key", required_argument, NULL, O_LOGKEY},
        {"mirror", required_argument, NULL, O_MIRROR},
        {"crl", required_argument, NULL, O_CRL},
        {"report-json", required_argument, NULL, O_JSON},
        {"report-pdf", required_argument, NULL, O_PDF},
        {"lang", required_argument, NULL, O_LANG},
        {"sign-key", required_argument, NULL, O_SKEY},
        {"sign-cert", required_argument, NULL, O_SCERT},
        {"sign-chain", required_argument, NULL, O_SCHAIN},
        {"report-sig", required_argument, NULL, O_SIG},
        {"tsa", required_argument, NULL, O_TSA},
        {"tsa-ca", required_argument, NULL, O_TSA_CA},
        {"now", required_argument, NULL, O_NOW},
        {"git", required_argument, NULL, O_GIT},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    verifier_options o;
    const char *json_path = NULL, *pdf_path = NULL, *lang = "en";
    const char *skey = NULL, *scert = NULL, *schain = NULL, *sig_path = NULL, *tsa = NULL;
    const char *tsa_ca = NULL;
    int quiet = 0, c, status = VERIFIER_EXIT_ERROR;
    verifier_report *r = NULL;
    nt_buf json = NT_BUF_INIT, cmd = NT_BUF_INIT, sig = NT_BUF_INIT, sigp = NT_BUF_INIT;
    nt_buf stamped = NT_BUF_INIT;

    memset(&o, 0, sizeof(o));
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_DOC:
            o.document_path = optarg;
            break;
        case O_DIGEST:
            o.digest = optarg;
            break;
        case O_RECEIPT:
            o.receipt_path = optarg;
            break;
        case O_TRUST:
            o.trust_path = optarg;
            break;
        case O_LOGKEY:
            o.log_key_path = optarg;
            break;
        case O_MIRROR:
            o.mirror = optarg;
            break;
        case O_CRL:
            if (o.crl_count >= VERIFIER_MAX_CRLS) {
                fprintf(stderr, "%s: at most %d --crl\n", prog, VERIFIER_MAX_CRLS);
                return VERIFIER_EXIT_USAGE;
            }
            o.crl_paths[o.crl_count++] = optarg;
            break;
        case O_JSON:
            json_path = optarg;
            break;
        case O_PDF:
            pdf_path = optarg;
            break;
        case O_LANG:
            lang = optarg;
            break;
        case O_SKEY:
            skey = optarg;
            break;
        case O_SCERT:
            scert = optarg;
            break;
        case O_SCHAIN:
            schain = optarg;
            break;
        case O_SIG:
            sig_path = optarg;
            break;
        case O_GIT:
            o.git_command = optarg;
            break;
        case O_TSA:
            tsa = optarg;
            break;
        case O_TSA_CA:
            tsa_ca = optarg;
            break;
        case O_NOW: {
            uint64_t t = 0;
            if (nt_parse_u64(&t, optarg, strlen(optarg)) < 0 || t == 0 || t > INT64_MAX / 2) {
                fprintf(stderr, "%s: --now takes Unix seconds\n", prog);
                return VERIFIER_EXIT_USAGE;
            }
            o.now = (time_t)t;
            break;
        }
        case O_QUIET:
            quiet = 1;
            break;
        case O_HELP:
            usage_verify(stdout, prog);
            return 0;
        default:
            usage_verify(stderr, prog);
            return VERIFIER_EXIT_USAGE;
        }
    }
    if (optind != argc || (o.document_path == NULL) == (o.digest == NULL) ||
        o.receipt_path == NULL || o.trust_path == NULL || o.log_key_path == NULL ||
        (skey == NULL) != (scert == NULL) || (sig_path != NULL && skey == NULL) ||
        (tsa != NULL && skey == NULL) || (tsa_ca != NULL && tsa == NULL)) {
        usage_verify(stderr, prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (strcmp(lang, "en") != 0 && strcmp(lang, "zh") != 0) {
        fprintf(stderr, "%s: --lang must be en or zh\n", prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (pdf_path != NULL && !verifier_pdf_supported()) {
        fprintf(stderr, "%s: this build has no PDF support (cairo + pango)\n", prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (skey != NULL && json_path == NULL) {
        fprintf(stderr, "%s: --sign-key needs --report-json\n", prog);
        return VERIFIER_EXIT_USAGE;
    }
    if (tsa != NULL) {
        if (verifier__url_check(tsa) < 0) {
            fprintf(stderr, "%s: %s\n", prog, nt_error_last());
            return VERIFIER_EXIT_USAGE;
        }
    }
    /* The exact command, for the report's "verify it yourself" section (without outputs). */
    if (nt_buf_puts(&cmd, VERIFIER_NAME) < 0) {
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int skip = 0;
        static const char *const outputs[] = {
            "--report-json", "--report-pdf", "--sign-key", "--sign-cert", "--sign-chain",
            "--report-sig",  "--quiet",      "--now",      "--lang",      "--tsa",
            "--tsa-ca"};
        for (size_t k = 0; k < NT_ARRAY_LEN(outputs); k++) {
            size_t n = strlen(outputs[k]);
            if (strncmp(a, outputs[k], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
                skip = strcmp(outputs[k], "--quiet") == 0 || a[n] == '=' ? 1 : 2;
            }
        }
        if (skip > 0) {
            i += skip - 1;
            continue;
        }
        if (nt_buf_putc(&cmd, ' ') < 0 || quote_arg(&cmd, a) < 0) {
            goto done;
        }
    }
    o.command_line = nt_buf_cstr(&cmd);

    if (verifier_run(&r, &o) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        status = nt_error_code() == NT_EINVAL ? VERIFIER_EXIT_USAGE : VERIFIER_EXIT_ERROR;
        goto done;
    }
    if (verifier_report_json(&json, r) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        goto done;
    }
    if (json_path != NULL && nt_file_write_atomic(json_path, json.ptr, json.len, 0644) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, json_path, nt_error_last());
        goto done;
    }
    if (pdf_path != NULL && verifier_report_pdf(r, pdf_path, lang) < 0) {
        fprintf(stderr, "%s: %s\n", prog, nt_error_last());
        goto done;
    }
    if (skey != NULL) {
        if (sig_path == NULL) {
            if (nt_buf_printf(&sigp, "%s.p7s", json_path) < 0) {
                goto done;
            }
            sig_path = nt_buf_cstr(&sigp);
        }
        if (verifier_report_sign(&sig, nt_buf_bytes(&json), skey, scert, schain) < 0) {
            fprintf(stderr, "%s: signing the report: %s\n", prog, nt_error_last());
            goto done;
        }
        /* The only network access of a verification, and only when asked for. */
        if (tsa != NULL && verifier_report_timestamp(&stamped, nt_buf_bytes(&sig), tsa, tsa_ca) < 0) {
            fprintf(stderr, "%s: time-stamping the report signature at %s: %s\n", prog, tsa,
                    nt_error_last());
            goto done;
        }
        const nt_buf *out = tsa != NULL ? &stamped : &sig;
        if (nt_file_write_atomic(sig_path, out->ptr, out->len, 0644) < 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, sig_path, nt_error_last());
            goto done;
        }
    }
    if (!quiet) {
        if (json_path == NULL) {
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
    nt_buf_dispose(&sig);
    nt_buf_dispose(&sigp);
    nt_buf_dispose(&stamped);
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
