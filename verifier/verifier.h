/*
 * verifier.h - the one public header of the offline verifier (`nt_verifier`):
 * a document (or its digest) plus a Notarium receipt, checked against pinned
 * trust anchors (TSA root certificates, the log's vkey) into a certification
 * report, rendered as deterministic JSON and, when built with cairo + pango,
 * as a PDF for people.  It links util, the pure nt_merkle library, OpenSSL and
 * jansson only (plus pangocairo for the PDF), so that a court's expert can
 * build it without the server's storage, HTTP or git libraries.  Mirror
 * corroboration runs the `git` command-line tool, never libgit2.
 * docs/REPORT.md documents every report field, step and sub-indication.
 *
 * Thread safety: verifier_run and the report functions are reentrant (no
 * global state beyond OpenSSL's and util's thread-local error message).
 */
#ifndef VERIFIER_VERIFIER_H
#define VERIFIER_VERIFIER_H

#include "util/util.h"

#include <time.h>

/* Overall indication (ETSI EN 319 102-1 vocabulary) and process exit codes. */
typedef enum verifier_indication {
    VERIFIER_PASSED = 0,
    VERIFIER_FAILED = 1,
    VERIFIER_INDETERMINATE = 2,
} verifier_indication;

/* Exit codes of `notarium verify` / `notarium-verify` beyond the three indications. */
#define VERIFIER_EXIT_USAGE 3 /* bad command line */
#define VERIFIER_EXIT_ERROR 4 /* an input could not be read, or an internal error */

/* Result of one step. */
typedef enum verifier_status {
    VERIFIER_STEP_PASSED = 0,
    VERIFIER_STEP_FAILED = 1,
    VERIFIER_STEP_INDETERMINATE = 2,
    VERIFIER_STEP_NOT_RUN = 3,
} verifier_status;

/* The steps, in the order they are reported. */
typedef enum verifier_step_id {
    VERIFIER_STEP_INPUTS = 0,     /* hashes of everything examined */
    VERIFIER_STEP_DIGEST = 1,     /* document digest == token messageImprint */
    VERIFIER_STEP_TOKEN = 2,      /* well-formed TimeStampToken, TSTInfo extracted */
    VERIFIER_STEP_SIGNATURE = 3,  /* CMS signature, ESSCertID, chain as of genTime, EKU, KU */
    VERIFIER_STEP_REVOCATION = 4, /* CRL status of the chain (optional: NOT_RUN without --crl) */
    VERIFIER_STEP_LEDGER = 5,     /* leaf, inclusion proof, checkpoint signature */
    VERIFIER_STEP_MIRROR = 6,     /* checkpoint found in the git mirror (optional) */
    VERIFIER_STEP_COUNT = 7,
} verifier_step_id;

/* "inputs", "digest", "token", "signature", "revocation", "ledger", "mirror". */
const char *verifier_step_name(verifier_step_id id);
/* "PASSED", "FAILED", "INDETERMINATE", "NOT_RUN". */
const char *verifier_status_name(verifier_status s);
/* "PASSED", "FAILED", "INDETERMINATE". */
const char *verifier_indication_name(verifier_indication i);

#define VERIFIER_MAX_CRLS 16

/*
 * What to verify.  Each input is given either as a file path or as bytes
 * (bytes win when both are set); the bytes are borrowed for the duration of
 * verifier_run only.  `document_path` and `digest` are alternatives: exactly
 * one must be set.
 */
typedef struct verifier_options {
    const char *document_path; /* the document, hashed streamed */
    const char *digest;        /* "ALG:HEX" (e.g. "sha256:ab12..") instead of a document */
    const char *receipt_path;
    nt_bytes receipt;                         /* receipt JSON text */
    const char *trust_path;                   /* PEM file with one or more TSA root certificates */
    nt_bytes trust;                           /* PEM text */
    const char *log_key_path;                 /* file holding the log's vkey line */
    nt_bytes log_key;                         /* vkey text */
    const char *crl_paths[VERIFIER_MAX_CRLS]; /* PEM or DER CRLs */
    size_t crl_count;
    const char *mirror;       /* git URL or path of the ledger mirror; NULL = no corroboration */
    const char *git_command;  /* git executable for the mirror; NULL = "git" from PATH */
    time_t now;               /* verification time; 0 = the clock (nt_clock_now) */
    const char *command_line; /* shown in "verify it yourself"; NULL = rebuilt from these options */
} verifier_options;

/* The result of a verification: an immutable report. */
typedef struct verifier_report verifier_report;

/*
 * Run every step.  Returns 0 and a report whenever the inputs could be read,
 * whatever the indication (a forged receipt is a FAILED report, not an
 * error).  NT_EINVAL for unusable options (no document and no digest, both,
 * malformed ALG:HEX, missing trust or log key), NT_EIO when a file cannot be
 * read, NT_ENOMEM.  *out belongs to the caller (verifier_report_free).
 */
int verifier_run(verifier_report **out, const verifier_options *opts);

void verifier_report_free(verifier_report *r);

verifier_indication verifier_report_indication(const verifier_report *r);
/* The sub-indication ("HASH_FAILURE", ...), or NULL when PASSED. Borrowed. */
const char *verifier_report_subindication(const verifier_report *r);
/* Result of one step. */
verifier_status verifier_report_step(const verifier_report *r, verifier_step_id id);
/* Sub-indication of one step, NULL if none.  Borrowed. */
const char *verifier_report_step_subindication(const verifier_report *r, verifier_step_id id);
/* 0 / 1 / 2 for PASSED / FAILED / INDETERMINATE. */
int verifier_report_exit_code(const verifier_report *r);

/*
 * The JSON report (docs/REPORT.md), appended to out: UTF-8, 2-space indent,
 * members in a fixed order, ending in '\n'.  Deterministic: the same inputs
 * and verification time give the same bytes.
 */
int verifier_report_json(nt_buf *out, const verifier_report *r);

/* 1 if this build can render PDF reports (cairo + pango found at build time). */
int verifier_pdf_supported(void);

/*
 * Render the report as PDF to `path` in `lang` ("en" or "zh"; NULL = "en").
 * NT_EUNSUPPORTED when built without cairo/pango, NT_EINVAL for another
 * language, NT_EIO when the file cannot be written.
 */
int verifier_report_pdf(const verifier_report *r, const char *path, const char *lang);
/* The same, the PDF appended to `out` (POST /v1/verify?format=pdf). */
int verifier_report_pdf_buf(nt_buf *out, const verifier_report *r, const char *lang);

/*
 * Sign `report_json` (the exact bytes written) with a detached CMS
 * SignedData (DER, binary content, signer certificate included) using the
 * PEM key and certificate files; optional `chain_path` adds certificates.
 * Appends the DER to out.
 */
int verifier_report_sign(nt_buf *out, nt_bytes report_json, const char *key_path,
                         const char *cert_path, const char *chain_path);

/*
 * Check a detached signature made by verifier_report_sign over `report_json`
 * against the PEM roots in `trust_path`.  0 when the signature verifies and
 * the signer chains to a root; NT_EVERIFY otherwise (reason in
 * nt_error_last()); NT_EIO / NT_EINVAL for unreadable inputs.  When
 * `signer_out` is not NULL the signer's subject is appended to it.
 * A time-stamp on the signature (verifier_report_timestamp), when present,
 * is checked too, as by verifier_report_signature_verify.
 */
int verifier_report_signature_check(nt_buf *signer_out, nt_bytes report_json,
                                    nt_bytes signature_der, const char *trust_path);

/*
 * Time-stamping a report signature (CAdES-T, RFC 3161 Appendix A): an RFC
 * 3161 token whose messageImprint is the SHA-256 of the SignerInfo's
 * signature value, stored as the unsigned attribute id-aa-timeStampToken
 * (1.2.840.113549.1.9.16.2.14) of that SignerInfo.  The signature itself is
 * unchanged; the token proves it existed at the token's genTime.
 *
 * verifier_report_timestamp_request: the DER TimeStampReq (v1, SHA-256
 * imprint of the signature value, a fresh 64-bit nonce, certReq TRUE) for
 * `signature_der` (one SignerInfo), appended to tsq_out.
 *
 * verifier_report_timestamp_attach: check the DER TimeStampResp `tsr`
 * against the request `tsq` (status granted, version, imprint and nonce
 * echoed; the TSA's signature is NOT checked here: the signer need not trust
 * the TSA, the report's reader does, in verifier_report_signature_verify)
 * and append to out the signature with the token attached.  NT_EVERIFY for
 * a rejection or a response that does not answer `tsq`, NT_EINVAL for
 * malformed inputs or a signature that already carries a time-stamp.
 *
 * verifier_report_timestamp: both, with the request POSTed to `tsa_url`
 * (http:// or https:// through libcurl, RFC 3161 3.4 media types, at most 3
 * redirects, proxies from the environment; `tsa_ca_file` names the CA
 * certificates for an https:// TSA, NULL for the system's store).  NT_EIO
 * when the TSA cannot be reached (or its TLS certificate does not verify),
 * NT_EVERIFY when it refuses or answers something else, NT_EINVAL for
 * another URL scheme or user information in the URL.
 *
 * These are the only functions of nt_verifier that use the network.
 */
int verifier_report_timestamp_request(nt_buf *tsq_out, nt_bytes signature_der);
int verifier_report_timestamp_attach(nt_buf *out, nt_bytes signature_der, nt_bytes tsq,
                                     nt_bytes tsr);
int verifier_report_timestamp(nt_buf *out, nt_bytes signature_der, const char *tsa_url,
                              const char *tsa_ca_file);

/*
 * What verifier_report_signature_verify established.  Start from all zeros
 * ({0}); the buffers belong to the caller: verifier_report_sig_info_dispose.
 */
typedef struct verifier_report_sig_info {
    nt_buf signer;      /* the report signer's subject (one line) */
    int timestamped;    /* 1: a time-stamp token covers the signature and verified */
    nt_buf ts_gen_time; /* its genTime, RFC 3339 UTC with the token's fraction */
    nt_buf ts_tsa;      /* the TSA certificate's subject (one line) */
    nt_buf ts_serial;   /* the token's serialNumber, lowercase hex */
} verifier_report_sig_info;

void verifier_report_sig_info_dispose(verifier_report_sig_info *info);

/*
 * Check a detached report signature and its time-stamp(s), against the PEM
 * roots in `trust_path` (the report signer's roots and the TSA's roots, in
 * one file).  For every id-aa-timeStampToken attribute: the token's
 * signature and ESSCertID, its certificate chain (timeStamping purpose,
 * validity judged at its genTime) to a root, and its messageImprint equal to
 * the hash of the signature value.  Then the CMS signature over the exact
 * report bytes and the signer's chain to a root, with validity judged at the
 * earliest genTime when time-stamped (the token proves the signature existed
 * then), else now.  0 when all of it holds (info filled; info may be NULL);
 * NT_EVERIFY otherwise (reason in nt_error_last()); NT_EINVAL for a
 * signature that is not DER CMS; NT_EIO for an unreadable trust file.
 * Thread-safe.
 */
int verifier_report_signature_verify(verifier_report_sig_info *info, nt_bytes report_json,
                                     nt_bytes signature_der, const char *trust_path);
/* The same with the roots given as PEM text (POST /v1/verify-report). */
int verifier_report_signature_verify_pem(verifier_report_sig_info *info, nt_bytes report_json,
                                         nt_bytes signature_der, nt_bytes trust_pem);

/*
 * The command lines, shared by `notarium verify` / `notarium verify-report`
 * and the standalone `notarium-verify` (whose first argument may be
 * "report" for the second form).  `prog` names the program in messages.
 * Return the process exit status (0/1/2 indications, 3 usage, 4 error).
 */
int verifier_cli_verify(int argc, char **argv, const char *prog);
int verifier_cli_verify_report(int argc, char **argv, const char *prog);

/*
 * Cases (issue 11): an evidence bundle (docs/FORMATS.md "Evidence bundle")
 * holds every event of one signing process with its leaf, token and
 * inclusion proof against one checkpoint.  verifier_case_run checks every
 * event as a receipt (token, chain at genTime, leaf, inclusion, checkpoint
 * signature), then the case: every body parses, tenant and case are the
 * bundle's, seq runs 1..n with prev the previous event's leaf hash, genTime
 * never decreases, sealed iff the last event is case.completed and nothing
 * follows it; each document given matches an artifact of some event; each
 * disclosed attribute matches its commitment.  docs/REPORT.md "Case report".
 */
#define VERIFIER_MAX_DOCUMENTS 32

typedef struct verifier_case_options {
    const char *bundle_path;
    nt_bytes bundle; /* bundle JSON text (wins over bundle_path) */
    const char *document_paths[VERIFIER_MAX_DOCUMENTS];
    size_t document_count;
    const char *document_digests[VERIFIER_MAX_DOCUMENTS]; /* "ALG:HEX" instead of files */
    size_t digest_count;
    const char *disclose_path; /* disclosures JSON (docs/FORMATS.md); NULL = none */
    nt_bytes disclose;
    const char *trust_path;
    nt_bytes trust;
    const char *log_key_path;
    nt_bytes log_key;
    time_t now;               /* 0 = the clock */
    const char *command_line; /* NULL = rebuilt from these options */
} verifier_case_options;

typedef struct verifier_case_report verifier_case_report;

/*
 * Returns 0 and a report whenever the inputs could be read, whatever the
 * indication (a malformed or forged bundle is a FAILED report).  NT_EINVAL
 * for unusable options or a malformed disclosures file / document digest,
 * NT_EIO for an unreadable file, NT_ENOMEM.  *out: verifier_case_report_free.
 */
int verifier_case_run(verifier_case_report **out, const verifier_case_options *opts);
void verifier_case_report_free(verifier_case_report *r);
verifier_indication verifier_case_report_indication(const verifier_case_report *r);
/* The sub-indication, NULL when PASSED.  Borrowed. */
const char *verifier_case_report_subindication(const verifier_case_report *r);
int verifier_case_report_exit_code(const verifier_case_report *r);
/* Deterministic JSON (docs/REPORT.md "Case report"), appended to out. */
int verifier_case_report_json(nt_buf *out, const verifier_case_report *r);
/* PDF, as verifier_report_pdf / verifier_report_pdf_buf. */
int verifier_case_report_pdf(const verifier_case_report *r, const char *path, const char *lang);
int verifier_case_report_pdf_buf(nt_buf *out, const verifier_case_report *r, const char *lang);

/*
 * The preservation certificate of a verified, sealed case (docs/REPORT.md
 * "Preservation certificate"): deterministic JSON appended to out, stating
 * the case, the documents' digests with the events that carry them, the
 * timeline (kind, genTime, TSA serial, leaf index and hash), the checkpoint
 * and what the verification used; issued_at is its date.  NT_EINVAL when the
 * report is not PASSED or the case not sealed.  Sign it (and time-stamp the
 * signature) with verifier_report_sign / verifier_report_timestamp; anyone
 * checks it with verifier_report_signature_verify (`notarium verify-report`).
 * verifier_case_certificate_pdf renders the same certificate for people
 * ("en"/"zh") into `path`, or (path NULL) appended to out.
 */
int verifier_case_certificate(nt_buf *out, const verifier_case_report *r, time_t issued_at);
int verifier_case_certificate_pdf(nt_buf *out, const char *path, const verifier_case_report *r,
                                  time_t issued_at, const char *lang);
/*
 * `notarium case certificate` / `notarium-verify certificate`: verify a bundle
 * and, when it PASSED and is sealed, write the signed certificate.  Exit 0
 * issued, 1 not issued (the case does not verify or is not sealed), 3 usage,
 * 4 error.
 */
int verifier_cli_case_certificate(int argc, char **argv, const char *prog);

#endif
