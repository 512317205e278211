/*
 * ledger_int.h - private to nt_ledger: a read snapshot of the store for
 * whole-ledger scans (ledger/check.c).  Implemented in store_read.c (with
 * <lmdb.h>, see store_int.h); everything read through one snapshot describes one committed
 * state (one LMDB read transaction), also while the sequencer (or another
 * process) keeps appending.  Bytes handed to a callback point into the map and
 * are valid only during the call.  A snapshot is used by one thread at a time.
 */
#ifndef LEDGER_LEDGER_INT_H
#define LEDGER_LEDGER_INT_H

#include "ledger/ledger.h"

typedef struct ledger__snap ledger__snap;

int ledger__snap_begin(ledger__snap **out, ledger *l);
/* NULL ok. */
void ledger__snap_end(ledger__snap *s);

/* The stored head (NT_ECORRUPT when missing or malformed). */
int ledger__snap_head(uint64_t *size_out, uint8_t root_out[MERKLE_HASH_SIZE], ledger__snap *s);

/* merkle_hash_fn over the snapshot's stored subtree hashes (`snap` is the ledger__snap). */
int ledger__snap_hash(uint8_t out[MERKLE_HASH_SIZE], void *snap, unsigned level, uint64_t index);

/* 0 if the digest index maps (alg, digest) to `index`; NT_ENOTFOUND if not. */
int ledger__snap_digest_has(ledger__snap *s, record_alg alg, nt_bytes digest, uint64_t index);

/*
 * Row callback: `index` is the row's u64be key (UINT64_MAX for a malformed
 * key); `has_value` 0 means a metadata row without its leaf; `metadata` NULL
 * when the row has no metadata.  A negative return stops the scan with it.
 */
typedef int (*ledger__row_fn)(void *ctx, uint64_t index, nt_bytes value, int has_value,
                              const nt_bytes *metadata);

/* Every leaf row in index order, joined with its metadata row; orphan metadata rows too. */
int ledger__snap_leaves(ledger__snap *s, ledger__row_fn fn, void *ctx);
/* Every stored checkpoint (index = its tree size), in size order; metadata is NULL. */
int ledger__snap_checkpoints(ledger__snap *s, ledger__row_fn fn, void *ctx);
/* Rows in the subtree hash database. */
int ledger__snap_node_count(uint64_t *out, ledger__snap *s);

#endif
