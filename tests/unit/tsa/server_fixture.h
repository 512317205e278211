/*
 * server_fixture.h - shared by the daemon's MHD-free unit tests
 * (tests/unit/tsa/server_test.c, server_api_test.c): a reply's body as JSON,
 * and a real ledger in a temporary directory for the handlers to read
 * (opened unsynced: durability is not what these tests check), removed with
 * its directory afterwards.  Header-only, included once per test executable.
 */
#ifndef NT_SERVER_FIXTURE_H
#define NT_SERVER_FIXTURE_H

#include "tests/unit/test.h"
#include "tsa/server_int.h"

#include <openssl/evp.h>

/* The reply's JSON body (caller decrefs); REQUIREs that it is a JSON object. */
static NT_UNUSED json_t *sfx_body_json(const server_reply *r)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)r->body.ptr, r->body.len, 0, &jerr);
    if (j == NULL || !json_is_object(j)) {
        fprintf(stderr, "not a JSON object (%s): %.*s\n", jerr.text, (int)r->body.len,
                (const char *)r->body.ptr);
    }
    REQUIRE(j != NULL && json_is_object(j));
    return j;
}

/* A fresh temporary directory (dir, cap bytes) holding an empty ledger `origin` signed by a
 * fresh Ed25519 *key_out. */
static NT_UNUSED ledger *sfx_ledger_open(char *dir, size_t cap, EVP_PKEY **key_out,
                                         const char *origin)
{
    ledger_options lo;
    ledger *l = NULL;

    REQUIRE(test_tmpdir(dir, cap) != NULL);
    REQUIRE((*key_out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) != NULL);
    memset(&lo, 0, sizeof(lo));
    lo.path = dir;
    lo.map_size = 8u << 20;
    lo.origin = origin;
    lo.log_key = *key_out;
    lo.no_sync = 1;
    REQUIRE(ledger_open(&l, &lo) == 0);
    return l;
}

/* Close what sfx_ledger_open made and remove its directory. */
static NT_UNUSED void sfx_ledger_close(ledger *l, EVP_PKEY *key, const char *dir)
{
    nt_buf cmd = NT_BUF_INIT;
    ledger_close(l);
    EVP_PKEY_free(key);
    REQUIRE(nt_buf_printf(&cmd, "rm -rf '%s'", dir) == 0);
    if (system(nt_buf_cstr(&cmd)) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    nt_buf_dispose(&cmd);
}

#endif
