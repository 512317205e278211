/*
 * record.h - the canonical leaf encoding of the ledger (version 1).  Part of
 * the pure `nt_merkle` library.  docs/FORMATS.md pins the bytes; this header
 * is the programmer's view of the same layout:
 *
 *   offset size  field
 *   0      1     version, 0x01
 *   1      1     entry kind: 0x01 RFC 3161 time-stamp, 0x02 evidence record,
 *                 0x03 case event, 0x04 signing certificate (digest = SHA-256 of its DER,
 *                 label "certificate", token issued with certReq by that certificate's key)
 *   2      1     digest algorithm id (record_alg)
 *   3      1     digest length L, equal to the algorithm's output size
 *   4      L     digest (the messageImprint's hashedMessage)
 *   .      1     label length K (0..255); 0 for kind 0x01
 *   .      K     label, UTF-8 (the evidence kind, e.g. "contract.signed")
 *   .      4     token length T, big-endian, 1..16 MiB (the total limit below binds first)
 *   .      T     the complete DER TimeStampToken (CMS ContentInfo) issued for it
 *   .      1     metadata flag: 0x00 none, 0x01 present
 *   .      32    SHA-256 of the metadata bytes (only when the flag is 0x01)
 *
 * Nothing may follow.  Decoding is strict: any other byte string is rejected,
 * so every leaf has exactly one encoding.
 *
 * A whole leaf is at most RECORD_MAX_LEAF (65,535) bytes: the git mirror
 * publishes leaves in C2SP tlog-tiles entry bundles, which store each entry's
 * length as a big-endian uint16, so a longer leaf could be sequenced but never
 * mirrored.  record_encode refuses to build one and record_decode refuses to
 * read one, so the ledger (which decodes every leaf it is given) cannot hold
 * it and the TSA cannot issue a token that does not fit (its leaf is encoded
 * before the token is sent, and a failed encode answers systemFailure).  With
 * the fixed fields, a SHA-512 digest, a 255-byte label and a metadata hash, a
 * token of up to 65,535 - 361 = 65,174 bytes always fits.
 */
#ifndef LEDGER_RECORD_H
#define LEDGER_RECORD_H

#include "util/util.h"

#define RECORD_VERSION    1
#define RECORD_MAX_TOKEN  (16u * 1024u * 1024u) /* the field's own bound */
#define RECORD_MAX_LEAF   65535u                /* the whole encoding; binds first */
#define RECORD_MAX_LABEL  255u
#define RECORD_MAX_DIGEST 64u

typedef enum record_kind {
    RECORD_KIND_TIMESTAMP = 1,   /* answer to an RFC 3161 TimeStampReq */
    RECORD_KIND_EVIDENCE = 2,    /* evidence record from POST /v1/evidence */
    RECORD_KIND_CASE_EVENT = 3,  /* an event of a case (ledger/event.h): digest sha256 of the
                                    event body, label the event kind, metadata the body, so
                                    metadata hash = digest (checked by encode and decode) */
    RECORD_KIND_CERTIFICATE = 4, /* a signing certificate, recorded when first used */
} record_kind;

/* The label of every RECORD_KIND_CERTIFICATE leaf. */
#define RECORD_CERTIFICATE_LABEL "certificate"

typedef enum record_alg {
    RECORD_ALG_SHA256 = 1,
    RECORD_ALG_SHA384 = 2,
    RECORD_ALG_SHA512 = 3,
    RECORD_ALG_SHA3_256 = 4,
    RECORD_ALG_SHA3_384 = 5,
    RECORD_ALG_SHA3_512 = 6,
    RECORD_ALG_SHA1 = 7, /* accepted only if the operator allows it */
    RECORD_ALG_MD5 = 8,  /* accepted only if the operator allows it */
    RECORD_ALG_SM3 = 9,  /* GB/T 32905; only where the build's OpenSSL has SM3 */
} record_alg;

/* "sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512", "sha1", "md5", "sm3"; NULL if
 * unknown. */
const char *record_alg_name(record_alg alg);
/* Case-insensitive; also accepts "sha-256" style spellings. NT_EINVAL if unknown, or if
 * this build's OpenSSL cannot compute it (SM3 in a build without it: record_alg_available). */
int record_alg_from_name(record_alg *out, const char *name);
/* 1 if OpenSSL (default library context) can compute the algorithm, else 0.  Only SM3 can
 * be missing (a build with no-sm3, a FIPS-only provider); decoding a leaf does not ask. */
int record_alg_available(record_alg alg);
/* Output size in bytes, 0 if unknown. */
size_t record_alg_size(record_alg alg);
/* OpenSSL NID of the algorithm (NID_sha256, ...), NID_undef if unknown. */
int record_alg_nid(record_alg alg);
/* NT_EINVAL if the NID is not one of ours (or not record_alg_available). */
int record_alg_from_nid(record_alg *out, int nid);
/*
 * Parse a digest written "<alg>:<hex>" (e.g. "sha256:9f86..."): the algorithm
 * as record_alg_from_name takes it (any case), the value strict hex of either
 * case and exactly record_alg_size bytes; *digest is replaced.  The error code
 * says what is wrong (the message says it in words): NT_EINVAL no "<alg>:"
 * (or a name of 16 characters or more) or a value that is not hex,
 * NT_EUNSUPPORTED an unknown algorithm, NT_ERANGE a value of the wrong length.
 */
int record_digest_parse(record_alg *alg, nt_buf *digest, const char *text);

/* A decoded leaf.  The byte views borrow from the decoded buffer (or the caller's data). */
typedef struct record {
    record_kind kind;
    record_alg alg;
    nt_bytes digest;
    nt_bytes label;
    nt_bytes token;
    int has_metadata;
    uint8_t metadata_hash[32];
} record;

/*
 * Append the canonical encoding to out.  NT_EINVAL for out-of-range fields,
 * including a token that would make the leaf longer than RECORD_MAX_LEAF (the
 * message names the token length); out is then left as it was.
 */
int record_encode(nt_buf *out, const record *r);
/* Strict decode; views point into data.  NT_EINVAL with a message naming the field
 * ("record length" for more than RECORD_MAX_LEAF bytes). */
int record_decode(record *out, const uint8_t *data, size_t len);

#endif
