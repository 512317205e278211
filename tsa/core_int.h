/*
 * core_int.h - private to the RFC 3161 core of the TSA (request.c, token.c,
 * response.c, serial.c): the definition of struct tsa and the helpers the four
 * files share.  Nothing outside tsa/ includes it; the public contract is
 * tsa/tsa.h.
 */
#ifndef TSA_CORE_INT_H
#define TSA_CORE_INT_H

#include "tsa/tsa.h"

#include <openssl/ts.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>

/*
 * The serial counter and the last issued genTime: one sequence for every tsa
 * object made with tsa_new_shared from one first tsa (the identities of one
 * server, old and new across a reload), so that serials stay unique and
 * genTime never runs backwards whichever identity signs.  Freed with its last tsa.
 */
typedef struct tsa__seq {
    _Atomic uint64_t serial_counter;
    _Atomic uint64_t last_gen_ns; /* last issued genTime, ns since the epoch */
    _Atomic unsigned refs;
} tsa__seq;

struct tsa {
    tsa_config cfg;             /* copy; its string pointers are not kept (set to NULL) */
    const certs_signer *signer; /* borrowed */

    /* parsed once, read-only afterwards: shared by every signing thread */
    ASN1_OBJECT *policy;
    ASN1_OBJECT *accepted_policies[TSA_MAX_POLICIES];
    size_t accepted_policy_count;
    ASN1_OBJECT *accepted_extensions[TSA_MAX_EXTENSIONS];
    size_t accepted_extension_count;
    EVP_MD *sign_md;        /* digest of the CMS signature */
    int sign_pss;           /* RSASSA-PSS padding */
    int sign_sm2;           /* SM2 key: SM2-with-SM3, token_fast.c only (token_sm2.c) */
    nt_buf sm2_id;          /* the SM2 signer identifier (sign_sm2 only) */
    GENERAL_NAME *tsa_name; /* TSTInfo.tsa, NULL when not included */
    TS_ACCURACY *accuracy;  /* NULL when omitted */
    nt_buf ess_v2;          /* DER SigningCertificateV2 of the signer (constant) */
    STACK_OF(X509) * embed; /* certReq TRUE: signer, then its chain (no duplicates) */
    nt_buf embed_der;       /* their DER, concatenated in that order */
    uint64_t unit_ns;       /* one unit of genTime precision */
    struct tsa__fast *fast; /* token_fast.c's constants and contexts; NULL: CMS path */

    /* the only mutable shared state: atomics */
    tsa__seq *seq; /* serial counter and last genTime, maybe shared (tsa_new_shared) */
    _Atomic uint64_t stat_granted;
    _Atomic uint64_t stat_rejected[32];
    _Atomic int clock_sync; /* nt_clock_sync as last observed */
    _Atomic long clock_max_error_us;
    _Atomic long clock_est_error_us;
};

/* One accepted (or allowed-if-configured) imprint algorithm. */
typedef struct tsa__alg {
    record_alg alg;
    int nid;
    size_t size;
    const char *name;
} tsa__alg;

/* The table entry for a NID, NULL if the NID is not a hash we know. */
const tsa__alg *tsa__alg_by_nid(int nid);
/* The table entry for a record_alg, NULL if unknown. */
const tsa__alg *tsa__alg_by_id(record_alg alg);
/* 1 if the configuration lets this algorithm be time-stamped. */
int tsa__alg_allowed(const tsa *t, const tsa__alg *a);

/*
 * Reset `out` to a rejection: fail bit, reason (statusString and log text)
 * and the encoded TimeStampResp; counts it.  Returns 0, or a negative code if
 * the rejection itself could not be encoded.
 */
int tsa__reject(tsa_result *out, tsa *t, tsa_fail fail, const char *fmt, ...) NT_PRINTF(4, 5);

/*
 * Issue a token for an already checked imprint (request.c and
 * tsa_issue_digest): clock policy, genTime, serial, TSTInfo, CMS signature,
 * granted response.  Rejections (timeNotAvailable, systemFailure) go into
 * `out` like tsa__reject; returns 0 unless not even a rejection could be
 * encoded.  `policy` NULL means the default policy; `nonce` may be NULL.
 */
int tsa__issue(tsa_result *out, tsa *t, const TS_MSG_IMPRINT *imprint, const tsa__alg *alg,
               const ASN1_OBJECT *policy, const ASN1_INTEGER *nonce, int cert_req);

/*
 * Clock policy: 0 and TSA_FAIL_NONE, or TSA_FAIL_TIME_NOT_AVAILABLE with the
 * reason in `reason` when the kernel says the clock is unsynchronised and the
 * operator did not allow that.  Records the observed state for
 * tsa_clock_status.
 */
tsa_fail tsa__clock_check(tsa *t, char *reason, size_t reason_cap);

/*
 * The next genTime: the clock truncated to the precision, never earlier than
 * the last issued one (see serial.c for the exact rule).  Returns
 * TSA_FAIL_NONE, or TSA_FAIL_TIME_NOT_AVAILABLE (ordering requested and no
 * strictly later time available within the accuracy bound) or
 * TSA_FAIL_SYSTEM_FAILURE (clock unreadable), with a reason.
 */
tsa_fail tsa__gen_time_next(struct timespec *out, tsa *t, char *reason, size_t reason_cap);

/* The next serial number, TSA_SERIAL_BYTES big-endian (top bit always 0). */
int tsa__serial_next(uint8_t out[TSA_SERIAL_BYTES], tsa *t);

#endif
