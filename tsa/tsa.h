/*
 * tsa.h - the time-stamping authority: RFC 3161 request checks, token
 * issuance (RFC 3161 + RFC 5816 ESSCertIDv2), serial numbers, clock policy,
 * and the HTTP daemon that ties it to the ledger.  http.c and http_async.c
 * are the only files that include <microhttpd.h>.
 *
 * Core (this section) is pure request -> response logic, safe to call from
 * many threads at once: signing takes no global lock (the only shared state is
 * the atomic serial counter and the atomic last-genTime).
 */
#ifndef TSA_TSA_H
#define TSA_TSA_H

#include "certs/certs.h"
#include "ledger/record.h"
#include "util/util.h"

/* RFC 3161 PKIFailureInfo bit numbers. */
typedef enum tsa_fail {
    TSA_FAIL_NONE = -1,
    TSA_FAIL_BAD_ALG = 0,
    TSA_FAIL_BAD_REQUEST = 2,
    TSA_FAIL_BAD_DATA_FORMAT = 5,
    TSA_FAIL_TIME_NOT_AVAILABLE = 14,
    TSA_FAIL_UNACCEPTED_POLICY = 15,
    TSA_FAIL_UNACCEPTED_EXTENSION = 16,
    TSA_FAIL_ADD_INFO_NOT_AVAILABLE = 17,
    TSA_FAIL_SYSTEM_FAILURE = 25,
} tsa_fail;

/* "badAlg", "badRequest", ... ; "none" for TSA_FAIL_NONE. */
const char *tsa_fail_name(tsa_fail f);

#define TSA_MAX_POLICIES   16
#define TSA_MAX_EXTENSIONS 16
/* Larger TimeStampReqs are rejected (badDataFormat) without being parsed. */
#define TSA_MAX_REQUEST_DER 16384u
/* Longer nonces (magnitude bytes) are rejected (badRequest): 256 bits is plenty. */
#define TSA_MAX_NONCE_BYTES 32u
/* serialNumber: 0 | node_id(15) | boot_epoch(32) | counter(64) | random(32) = 144 bits. */
#define TSA_SERIAL_BYTES 18u

typedef struct tsa_config {
    const char *policy; /* default policy OID (dotted), required */
    const char
        *accepted_policies[TSA_MAX_POLICIES]; /* also accepted in reqPolicy; policy always is */
    size_t accepted_policy_count;
    const char
        *accepted_extensions[TSA_MAX_EXTENSIONS]; /* OIDs accepted in requests; default none */
    size_t accepted_extension_count;
    unsigned accuracy_ms;       /* accuracy in milliseconds; 0 = omit; default 1000 */
    int precision_digits;       /* genTime fraction digits 0..6; default 3 (ms) */
    int ordering;               /* TSTInfo.ordering */
    int include_tsa_name;       /* TSTInfo.tsa = directoryName of the signer's subject */
    int allow_sha1;             /* accept SHA-1 imprints */
    int allow_md5;              /* accept MD5 imprints */
    int allow_unsynced_clock;   /* issue even while the kernel says unsynchronised */
    const char *signing_digest; /* "sha256", "sha384", "sha512"; NULL (default) = by key:
                                   P-256 sha256, P-384 sha384, RSA sha256, SM2 sm3 (SM2 keys
                                   take "sm3" or NULL only) */
    int rsa_pss;                /* RSASSA-PSS instead of PKCS#1 v1.5 for RSA keys */
    const char *sm2_id;         /* SM2 keys: signer identifier, 1..64 bytes; NULL (default) =
                                   "1234567812345678" (GB/T 35276); signing_digest is SM3 */
    uint16_t node_id;           /* 0..32767, distinct per TSA node (serials) */
    uint32_t boot_epoch;        /* increases at every start (persisted by the caller) */
} tsa_config;

/* Fill with defaults (policy NULL: the caller must set one). */
void tsa_config_init(tsa_config *cfg);

typedef struct tsa tsa;

/*
 * The signer is borrowed and must outlive the tsa; cfg's strings are copied
 * (parsed) and need not outlive the call.  NT_EINVAL for a bad configuration
 * (policy missing or not a dotted OID, precision outside 0..6, node_id above
 * 32767, signer key not EC P-256/P-384, RSA or SM2, key not matching the
 * certificate, rsa_pss with a non-RSA key, unknown signing_digest).
 */
int tsa_new(tsa **out, const tsa_config *cfg, const certs_signer *signer);
/*
 * tsa_new for a further signing identity beside `sibling` (NULL: tsa_new): the new tsa shares
 * the sibling's serial counter and last genTime (and keeps them when the sibling is freed),
 * so serials stay unique and genTime monotonic across every tsa of the family, whichever
 * signs.  cfg must have the sibling's precision, node_id and boot_epoch (NT_EINVAL).
 */
int tsa_new_shared(tsa **out, const tsa_config *cfg, const certs_signer *signer,
                   const tsa *sibling);

/*
 * The reqPolicy of a DER TimeStampReq as a dotted OID into out ("" when the request has
 * none or does not decode: tsa_respond then answers it).  Cheap enough to route a request
 * to the identity of its policy before tsa_respond.  Thread-safe.
 */
void tsa_request_policy(char *out, size_t cap, nt_bytes request_der);
void tsa_free(tsa *t);

/* Outcome of one request. */
typedef struct tsa_result {
    int granted;              /* 1: status granted and `token` set */
    tsa_fail fail;            /* failure bit when not granted */
    char reason[160];         /* statusString / log text when not granted */
    nt_buf response;          /* DER TimeStampResp (granted or rejection) */
    nt_buf token;             /* DER TimeStampToken (ContentInfo) when granted */
    record_alg alg;           /* imprint algorithm (when parsed) */
    nt_buf digest;            /* imprint hashedMessage (when parsed) */
    struct timespec gen_time; /* genTime when granted (truncated to the precision) */
    nt_buf serial;            /* serialNumber when granted: big-endian magnitude, no
                                 leading zero bytes (DER content minus any 0x00 pad) */
} tsa_result;

void tsa_result_init(tsa_result *r);
void tsa_result_dispose(tsa_result *r);

/*
 * Answer a DER TimeStampReq.  Returns 0 whenever a TimeStampResp was produced
 * (granted or a rejection with the right PKIFailureInfo: badDataFormat for
 * undecodable or non-DER input and for a wrong imprint length, badAlg,
 * badRequest, unacceptedPolicy, unacceptedExtension, timeNotAvailable, and
 * systemFailure when our own signing failed: the server may answer that one
 * with HTTP 500); a negative code only if not even a rejection could be
 * encoded.  docs/TOKEN-PROFILE.md lists every rejection.  `out` must have
 * been initialised with tsa_result_init; it is reset first.  Thread-safe.
 */
int tsa_respond(tsa_result *out, tsa *t, nt_bytes request_der);

/*
 * Time-stamp a digest directly (evidence records): as if a request with this
 * imprint, certReq TRUE, no nonce and no reqPolicy had been received (badAlg
 * for an unknown or disallowed algorithm, badDataFormat for a wrong length).
 * Same return and reset rules as tsa_respond.  Thread-safe.
 */
int tsa_issue_digest(tsa_result *out, tsa *t, record_alg alg, nt_bytes digest);

/* Encode a rejection TimeStampResp (status rejection, failInfo, statusString) into out. */
int tsa_response_rejection(nt_buf *out, tsa_fail fail, const char *text);

/* Wrap an issued token into a granted TimeStampResp (status granted). */
int tsa_response_granted(nt_buf *out, nt_bytes token);

/* The signer's certificate followed by its chain, DER each (for receipts). */
const certs_signer *tsa_signer(const tsa *t);

/* Counters for /metrics. */
typedef struct tsa_stats {
    uint64_t granted;
    uint64_t rejected[32]; /* by failure bit */
} tsa_stats;
void tsa_stats_get(tsa_stats *out, const tsa *t);

/* Clock state as last observed by the tsa (for /healthz). */
int tsa_clock_status(nt_clock_status *out, tsa *t);

/*
 * Raise the last issued genTime to at least `floor` (e.g. the genTime of the
 * newest token in the ledger at start-up), so that time never runs backwards
 * across a restart even if the clock did.  Thread-safe.
 */
void tsa_gen_time_floor(tsa *t, const struct timespec *floor);

/*
 * Read an issued DER TimeStampToken back: its genTime (ns since the epoch,
 * fraction kept) and the boot epoch of its serialNumber (docs/TOKEN-PROFILE.md
 * section 5).  NT_EINVAL when `token` is not a TimeStampToken or its serial
 * is longer than ours.  Signatures are not checked.  Thread-safe.
 */
int tsa_token_info(uint64_t *gen_time_ns_out, uint32_t *boot_epoch_out, nt_bytes token);

#endif
