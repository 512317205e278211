/*
 * audit_int.h - private to the auditor of the nt_mirror library: the token
 * checks and their worker pool (audit_tokens.c) and the DER splitter
 * (audit_der.c) that the replay (audit.c) uses.  Not installed, not for other
 * components.
 */
#ifndef LEDGER_AUDIT_INT_H
#define LEDGER_AUDIT_INT_H

#include "ledger/record.h"
#include "util/util.h"

/*
 * One DER TLV at p (left bytes): a one-byte tag and a definite length that fits
 * in `left`; -1 otherwise (a multi-byte tag, an indefinite or absurd length).
 */
int audit__der_tlv(const uint8_t *p, size_t left, uint8_t *tag, size_t *hdr, size_t *clen);

/*
 * Split a DER ContentInfo holding a SignedData into the content of its
 * `certificates` [0] field (a view into tok; empty when absent) and, when
 * there was one, the same ContentInfo without it (in `out`; *stripped = 1).
 * 1 when the bytes are not laid out that way (the caller then parses the
 * token whole); NT_ENOMEM when `out` cannot grow.  Any input is safe.
 */
int audit__token_split(nt_bytes *certs, int *stripped, nt_buf *out, const uint8_t *tok, size_t len);

/* The --trust anchors (self-signed certificates) and chain helpers, read-only once loaded. */
typedef struct audit__trust audit__trust;

/* Load the PEM file at path; NT_EINVAL when it holds no self-signed certificate. */
int audit__trust_load(audit__trust **out, const char *path);
void audit__trust_free(audit__trust *t); /* NULL ok */
/*
 * The certificates a kind-0x04 leaf's token carries (the signing certificate recorded in
 * the ledger, and its chain) become chain helpers like --trust's non-root certificates, so
 * that tokens issued without certReq verify from the mirror alone.  Only while no worker
 * runs (audit__pool_drain first).  NT_ENOMEM; a token that does not parse adds nothing.
 */
int audit__trust_add_token_certs(audit__trust *t, nt_bytes token);

/*
 * The token worker pool: one worker per online core (NT_AUDIT_THREADS=N
 * overrides), each with its own signer cache; results are collected in
 * submission order, so the failure reported is the lowest entry that fails.
 */
typedef struct audit__pool audit__pool;

int audit__pool_start(audit__pool **out, const audit__trust *trust);

/* Queue the token of leaf `index` (read from commit `commit_hex`); NT_EVERIFY (or the
 * failing worker's own code, e.g. NT_ENOMEM) as soon as an earlier token failed. */
int audit__pool_submit(audit__pool *pool, const char *commit_hex, uint64_t index,
                       const record *rec);

/* Wait for every queued token: the lowest failing entry's error, else 0.  NULL ok. */
int audit__pool_drain(audit__pool *pool);

/* Wait for every queued token and return how many verified.  NULL ok (0). */
uint64_t audit__pool_finish(audit__pool *pool);

/* Stop and join the workers, free.  NULL ok. */
void audit__pool_stop(audit__pool *pool);

#endif
