/*
 * verifier_int.h - private to nt_verifier: the report structure that the
 * steps (verify*.c) fill and report_json.c / report_pdf.c render, the
 * context the steps share, and the helpers the verifier's files share
 * (verifier__ prefix).  Not installed, not included outside verifier/.
 */
#ifndef VERIFIER_VERIFIER_INT_H
#define VERIFIER_VERIFIER_INT_H

#include "verifier/verifier.h"

#include "ledger/note.h"
#include "ledger/receipt.h"
#include "ledger/record.h"

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdint.h>

#define VERIFIER_NAME        "notarium-verify"
#define VERIFIER_MAX_CHAIN   16
#define VERIFIER_MAX_ANCHORS 32

typedef struct verifier_step_result {
    verifier_status status;
    const char *sub;   /* static string or NULL */
    nt_buf details;    /* lines, each ending in '\n': English (JSON "details", PDF en) */
    nt_buf details_zh; /* the same lines in Chinese (PDF zh), one for one */
    nt_buf codes;      /* the same lines' message codes (JSON "detail_codes") */
} verifier_step_result;

/* A file (or byte string) that was examined. */
typedef struct verifier_input {
    int present;
    nt_buf name; /* file name as given, or "(inline)" */
    uint64_t size;
    char sha256[65];
} verifier_input;

typedef struct verifier_cert_info {
    nt_buf subject; /* RFC 2253, UTF-8 */
    nt_buf issuer;
    nt_buf serial; /* lowercase hex */
    char sha256[65];
    char not_before[32]; /* RFC 3339 */
    char not_after[32];
    int is_anchor; /* one of the --trust certificates */
} verifier_cert_info;

struct verifier_report {
    time_t now;
    char now_text[32];
    char report_id[40];
    verifier_indication indication;
    const char *sub;
    verifier_step_result steps[VERIFIER_STEP_COUNT];

    /* inputs */
    verifier_input document;
    verifier_input receipt;
    verifier_input trust;
    verifier_input log_key;
    verifier_input crls[VERIFIER_MAX_CRLS];
    size_t crl_count;
    int digest_supplied;    /* --digest instead of --document */
    nt_buf evidence_alg;    /* "sha256" */
    nt_buf evidence_digest; /* hex: the document's digest (or the one supplied) */
    verifier_cert_info anchors[VERIFIER_MAX_ANCHORS];
    size_t anchor_count;
    nt_buf log_vkey; /* the vkey line */
    nt_buf log_name;
    uint32_t log_key_id;

    /* token */
    int have_token;
    nt_buf gen_time; /* RFC 3339 as in the token (fraction kept) */
    int have_accuracy;
    long acc_seconds, acc_millis, acc_micros;
    nt_buf policy; /* dotted OID */
    nt_buf serial; /* hex */
    nt_buf nonce;  /* hex, empty when absent */
    int ordering;
    nt_buf tsa_name; /* empty when absent */
    nt_buf imprint_alg;
    nt_buf imprint;     /* hex */
    nt_buf ess_version; /* "ESSCertIDv2 (sha256)" / "ESSCertID (sha1)" */
    verifier_cert_info chain[VERIFIER_MAX_CHAIN];
    size_t chain_count;
    int chain_verified; /* chain[] is the built, verified path to an anchor */
    int qualified_tsu;  /* the signer's certificate carries esi4-qtstStatement-1 (ledger/qc.h) */

    /* ledger */
    int have_ledger;
    nt_buf origin;
    uint64_t leaf_index;
    uint64_t tree_size;
    nt_buf root;       /* hex, from the checkpoint */
    nt_buf leaf_hash;  /* hex */
    nt_buf checkpoint; /* the signed note text */

    /* mirror */
    int mirror_requested;
    nt_buf mirror_source;
    int mirror_remote;
    nt_buf mirror_commit;
    nt_buf mirror_commit_time; /* RFC 3339 */
    uint64_t mirror_checkpoint_size;

    nt_buf limits; /* lines */
    nt_buf command_line;
};

/*
 * Append a detail line to a step, in both languages: `code` is the
 * language-neutral message code ("token.parsed", see docs/REPORT.md), `en`
 * and `zh` printf formats taking the same arguments (zh may use positional
 * %1$s conversions to reorder them; the compiler checks both).
 */
#if defined(__GNUC__) || defined(__clang__)
#define VERIFIER_PRINTF2(en, zh, a) __attribute__((format(printf, en, a), format(printf, zh, a)))
#else
#define VERIFIER_PRINTF2(en, zh, a)
#endif
int verifier__detail(verifier_report *r, verifier_step_id id, const char *code, const char *en,
                     const char *zh, ...) VERIFIER_PRINTF2(4, 5, 6);
/* The same with the lines already formatted (newlines in them become spaces). */
int verifier__detail_text(verifier_report *r, verifier_step_id id, const char *code, const char *en,
                          const char *zh);
/* Set a step's status and sub-indication (keeps the worse status already set). */
void verifier__step_set(verifier_report *r, verifier_step_id id, verifier_status s,
                        const char *sub);
/* The same three on one step result (the case report's checks use them too, verify_case.c). */
int verifier__result_text(verifier_step_result *st, const char *code, const char *en,
                          const char *zh);
int verifier__result_vdetail(verifier_step_result *st, const char *code, const char *en,
                             const char *zh, va_list ap) VERIFIER_PRINTF2(3, 4, 0);
void verifier__result_set(verifier_step_result *st, verifier_status s, const char *sub);
/* Append a line to the report's limits, once. */
int verifier__limit(verifier_report *r, const char *text);
/* Iterate the lines of a buffer filled by verifier__detail / verifier__limit. */
int verifier__next_line(const nt_buf *lines, size_t *pos, const char **line, size_t *len);

/*
 * The HTTP client (http_client.c, libcurl) for --tsa.  verifier__url_check
 * accepts http:// and https:// URLs with a host, without user information or
 * a fragment (NT_EINVAL otherwise).  verifier__http_post POSTs `body` with
 * `content_type` and returns the answer's body: status 200 and Content-Type
 * `want_type` (NT_EVERIFY otherwise, also for more than 3 redirects, a
 * redirect to another scheme, or an answer over 1 MiB); redirects are
 * followed keeping the POST; proxies come from the environment as for curl;
 * `ca_file` (NULL: the system's store) names the CA certificates an https://
 * TSA is checked against.  NT_EIO when the TSA cannot be reached, its TLS
 * certificate does not verify, or 30 s pass (10 s to connect).
 */
int verifier__url_check(const char *url);
int verifier__http_post(nt_buf *body_out, const char *url, const char *content_type, nt_bytes body,
                        const char *want_type, const char *ca_file);

/*
 * A TSTInfo genTime "YYYYMMDDhhmmss[.f*]Z": appended to `out` as RFC 3339
 * keeping the fraction, and as Unix seconds in *unix_out.  NT_EINVAL when it
 * is not a UTC GeneralizedTime or its fraction is not digits.
 */
int verifier__gen_time(nt_buf *out, int64_t *unix_out, const ASN1_GENERALIZEDTIME *gt);
/* An ASN.1 INTEGER as lowercase hex, set into `out`. */
int verifier__asn1_int_hex(nt_buf *out, const ASN1_INTEGER *v);

/* Format a time_t as RFC 3339 UTC ("2026-01-02T03:04:05Z"). */
void verifier__time_text(char out[32], int64_t t);

/*
 * The verification steps (verify*.c).  verify.c runs them in order on one
 * context, vctx, which holds what a step hands to the next: the decoded
 * receipt, the parsed token, the certificate pool, anchors and chain.  Each
 * step records its outcome in the report with verifier__step_set /
 * verifier__detail and returns a negative NT_E* code only when the
 * verification itself could not go on (out of memory, an unreadable input).
 */
typedef struct vctx {
    verifier_report *r;
    const verifier_options *opts;
    receipt rc;
    int have_receipt;
    PKCS7 *p7;
    TS_TST_INFO *tst;
    record_alg imprint_alg;
    nt_buf imprint;
    STACK_OF(X509) * pool; /* token certificates + receipt certificates */
    STACK_OF(X509) * anchors;
    STACK_OF(X509) * chain; /* verified path, signer first */
    X509 *signer;           /* borrowed from pool */
    int64_t gen_time;
} vctx;

/* verify_token.c: step 3, the token parsed into v->tst and the report. */
int verifier__step_token(vctx *v);
/* verify_token.c: step 2, the document (or the supplied digest) against the imprint. */
int verifier__step_digest(vctx *v, const record_alg *sup_alg, const nt_buf *sup_digest);
/* verify_signature.c: step 4, signature, signer identification, chain, key usage. */
int verifier__step_signature(vctx *v);
/* verify_revocation.c: step 5, the verified chain against the --crl files. */
int verifier__step_revocation(vctx *v);
/* verify_ledger.c: step 6, leaf, checkpoint and inclusion proof (then the mirror step). */
int verifier__step_ledger(vctx *v, const note_verifier *nv);

/*
 * verify_inputs.c: load an input given as bytes (when bytes.ptr is set) or
 * as the file `path` (at most 64 MiB), recording its name, size and SHA-256
 * in `info`; `what` names it in error messages.
 */
int verifier__input_load(nt_buf *data, verifier_input *info, const char *path, nt_bytes bytes,
                         const char *what);
/*
 * verify_inputs.c: hash the document at `path` streamed with `alg` (NULL:
 * SHA-256 only) and SHA-256 in one pass, filling `info` and md/md_len.
 */
int verifier__document_hash(verifier_input *info, uint8_t *md, unsigned *md_len, const char *path,
                            const EVP_MD *alg);
/* verify_inputs.c: parse --digest "ALG:HEX" (NT_EINVAL with a message otherwise). */
int verifier__digest_parse(record_alg *alg, nt_buf *digest, const char *text);
/* verify_inputs.c: describe a certificate for the report (subject, issuer, serial, validity). */
int verifier__cert_info_fill(verifier_cert_info *c, X509 *x);
/* verify_report.c: free what verifier__cert_info_fill allocated. */
void verifier__cert_info_dispose(verifier_cert_info *c);

/*
 * report_pdf.c's page machinery for the other PDF documents (the case report, the
 * preservation certificate); only in builds with NT_VERIFIER_PDF.  verifier__pdf_render
 * lays out a document with fn(p, ctx), titled `title`, every page footed with `report_id`,
 * dated `now`, into `path` or (path NULL) appended to `out`.  Styles: 0 title, 1 heading,
 * 2 body, 3 monospace, 4 small.  verifier__pdf_block takes pango markup (escape with
 * g_markup_printf_escaped); verifier__pdf_row one table row of markup cells.
 */
struct pdf;
int verifier__pdf_render(nt_buf *out, const char *path, const char *lang, const char *title,
                         const char *report_id, time_t now,
                         void (*fn)(struct pdf *p, const void *ctx), const void *ctx);
const char *verifier__pdf_lang(const struct pdf *p);
void verifier__pdf_block(struct pdf *p, int style, const char *markup, double indent);
/* verifier__pdf_block of a printf format whose arguments are markup-escaped (g_markup). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 4, 5)))
#endif
void verifier__pdf_blockf(struct pdf *p, int style, double indent, const char *fmt, ...);
void verifier__pdf_footer(struct pdf *p);
void verifier__pdf_row(struct pdf *p, const char *const *cells, const double *widths, size_t n,
                       int header);

/*
 * Mirror corroboration (mirror.c): look for the checkpoint of `size`/`root`
 * in the git history of opts->mirror, filling the mirror fields and the
 * mirror step.
 */
struct note_verifier;
int verifier__mirror_check(verifier_report *r, const verifier_options *opts,
                           const struct note_verifier *v, uint64_t size, const uint8_t root[32]);

/*
 * report_json.c: the JSON pieces both reports (report_json.c, report_case_json.c) build
 * with.  _put / _push take `value` (NULL = out of memory) and return NT_ENOMEM on failure;
 * _lines: one string per line of `lines`; _input: {name, size, sha256} or null.
 */
struct json_t;
int verifier__json_put(struct json_t *obj, const char *key, struct json_t *value);
int verifier__json_push(struct json_t *arr, struct json_t *value);
struct json_t *verifier__json_lines(const nt_buf *lines);
struct json_t *verifier__json_input(const verifier_input *in);

#endif
