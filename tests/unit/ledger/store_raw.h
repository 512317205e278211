/*
 * store_raw.h - raw LMDB access to a ledger's named databases behind the
 * store's back, for the corruption tests (store_test.c, check_test.c): read
 * one record, overwrite or delete it.  Tests only: the product reaches LMDB
 * through ledger/store*.c alone.
 */
#ifndef NT_TESTS_STORE_RAW_H
#define NT_TESTS_STORE_RAW_H

#include "tests/unit/ledger/store_fixture.h"

#include <lmdb.h>

/* Overwrite (or delete, when data is NULL) one record of a named DB behind the ledger's back. */
static inline void raw_put(const char *dir, const char *db, const void *key, size_t klen,
                           const void *data, size_t dlen)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k = {klen, (void *)(uintptr_t)key}, v = {dlen, (void *)(uintptr_t)data};

    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
    REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, db, 0, &dbi) == 0);
    if (data != NULL) {
        REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
    } else {
        REQUIRE(mdb_del(txn, dbi, &k, NULL) == 0);
    }
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
}

static inline void raw_get(const char *dir, const char *db, const void *key, size_t klen,
                           nt_buf *out)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k = {klen, (void *)(uintptr_t)key}, v;

    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
    REQUIRE(mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, db, 0, &dbi) == 0);
    REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
    REQUIRE(nt_buf_set(out, v.mv_data, v.mv_size) == 0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

#endif
