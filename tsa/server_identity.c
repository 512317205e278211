/*
 * server_identity.c - the signing identities in force (docs/OPERATING.md,
 * "Several signing identities"): each one's signer, checks and tsa, gathered in
 * a reference-counted set (server_live, server_int.h) that a reload replaces
 * whole.
 *
 * Taking a reference without a lock: a reader announces itself in the reader
 * count of the current epoch, checks that the epoch did not move, and only then
 * loads the set and takes its reference.  The publisher swaps the pointer,
 * advances the epoch, and waits for the readers counted under the old epoch
 * (a few instructions each) before it drops the server's reference to the old
 * set.  A reader that saw the old epoch therefore holds its reference before
 * the old set can reach zero, and a reader of the new epoch sees the new set.
 * Requests hold their reference as long as they run (commit included), so the
 * old set lives exactly as long as the last request that began with it.
 */
#include "tsa/server_int.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

static const char *key_type_name(EVP_PKEY *key)
{
    char group[64];
    size_t len = 0;
    if (EVP_PKEY_is_a(key, "SM2")) { /* a provider key: no legacy base id */
        return "sm2";
    }
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &len) == 1) {
            if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
                return "ec-p256";
            }
            if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
                return "ec-p384";
            }
        }
        return "ec";
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        switch (EVP_PKEY_get_bits(key)) {
        case 2048:
            return "rsa-2048";
        case 3072:
            return "rsa-3072";
        case 4096:
            return "rsa-4096";
        default:
            return "rsa";
        }
    default:
        return "unknown";
    }
}

static void identity_dispose(server_identity *id)
{
    tsa_free(id->tsa);
    certs_signer_free(id->signer);
    for (size_t i = 0; i < RECEIPT_MAX_CERTS; i++) {
        nt_buf_dispose(&id->cert_der[i]);
    }
    nt_buf_dispose(&id->certs_text);
    memset(id, 0, sizeof(*id));
}

static void live_free(server_live *lv)
{
    for (size_t i = 0; i < lv->count; i++) {
        identity_dispose(&lv->ids[i]);
    }
    server__keys_expiry_free(lv);
    server_config_free(lv->owned);
    nt_free(lv);
}

/* Load, check and describe one identity (no tsa yet: it needs the boot epoch). */
static int identity_load(server_identity *id, const server_config *cfg,
                         const server_identity_config *ic)
{
    int error = 0;
    unsigned int len = 0;

    snprintf(id->name, sizeof(id->name), "%s", ic->name);
    snprintf(id->policy, sizeof(id->policy), "%s", ic->policy);
    id->is_default = ic->is_default;
    error = server_identity_signer_load(&id->signer, cfg, ic);
    if (error < 0) {
        char reason[400];
        snprintf(reason, sizeof(reason), "%s", nt_error_last());
        NT_ENSURE(0, error, "identity %s: %s", ic->name, reason);
    }
    NT_TRY(server__keys_check(id, cfg));
    snprintf(id->key_type, sizeof(id->key_type), "%s", key_type_name(id->signer->key));
    NT_TRY(certs_signer_receipt_ders(id->cert_der, &id->cert_count, RECEIPT_MAX_CERTS, id->signer));
    NT_TRY(receipt_certs_text(&id->certs_text, id->cert_der, id->cert_count));
    NT_OSSL(
        EVP_Digest(id->cert_der[0].ptr, id->cert_der[0].len, id->sha256, &len, EVP_sha256(), NULL),
        "cannot hash the certificate");
done:
    return error;
}

int server__live_load(server_live **out, server *s, const server_config *cfg, server_config *owned)
{
    server_live *lv = NULL;
    int error = 0;

    (void)s;
    *out = NULL;
    NT_ENSURE((lv = nt_calloc(1, sizeof(*lv))) != NULL, NT_ENOMEM, "out of memory");
    atomic_init(&lv->refs, 1);
    lv->cfg = cfg;
    lv->owned = owned;
    owned = NULL;
    NT_ENSURE(cfg->identity_count > 0, NT_EINVAL, "the configuration has no signing identity");
    for (size_t i = 0; i < cfg->identity_count; i++) {
        lv->count = i + 1;
        NT_TRY(identity_load(&lv->ids[i], cfg, &cfg->identities[i]));
        if (lv->ids[i].is_default) {
            lv->dflt = i;
        }
    }
    NT_TRY(server__keys_expiry(lv));
    *out = lv;
    lv = NULL;
done:
    if (lv != NULL) {
        live_free(lv);
    }
    server_config_free(owned);
    return error;
}

int server__live_start(server_live *lv, server *s, const tsa *sibling)
{
    tsa_config tc;
    int error = 0;

    for (size_t i = 0; i < lv->count; i++) {
        server_identity *id = &lv->ids[i];
        tc = lv->cfg->tsa;
        tc.policy = id->policy;
        tc.boot_epoch = s->boot_epoch;
        error = tsa_new_shared(&id->tsa, &tc, id->signer, sibling);
        if (error < 0) {
            char reason[400];
            snprintf(reason, sizeof(reason), "%s", nt_error_last());
            NT_ENSURE(0, error, "identity %s: %s", id->name, reason);
        }
        if (sibling == NULL) {
            sibling = id->tsa;
        }
    }
done:
    return error;
}

server_live *server__live_acquire(server *s)
{
    for (;;) {
        uint64_t e = atomic_load(&s->live_epoch);
        atomic_fetch_add(&s->live_readers[e & 1], 1);
        if (atomic_load(&s->live_epoch) == e) {
            server_live *lv = atomic_load(&s->live);
            if (lv != NULL) {
                atomic_fetch_add(&lv->refs, 1);
            }
            atomic_fetch_sub(&s->live_readers[e & 1], 1);
            return lv;
        }
        atomic_fetch_sub(&s->live_readers[e & 1], 1);
    }
}

void server__live_release(server_live *lv)
{
    if (lv != NULL && atomic_fetch_sub(&lv->refs, 1) == 1) {
        live_free(lv);
    }
}

void server__live_publish(server *s, server_live *lv)
{
    server_live *old = atomic_exchange(&s->live, lv);
    uint64_t e = atomic_fetch_add(&s->live_epoch, 1);

    while (atomic_load(&s->live_readers[e & 1]) > 0) {
        sched_yield();
    }
    server__live_release(old);
}

const server_identity *server__live_pick(const server_live *lv, nt_bytes request_der)
{
    char policy[128];

    if (lv->count > 1) {
        tsa_request_policy(policy, sizeof(policy), request_der);
        for (size_t i = 0; policy[0] != '\0' && i < lv->count; i++) {
            if (strcmp(lv->ids[i].policy, policy) == 0) {
                return &lv->ids[i];
            }
        }
    }
    return &lv->ids[lv->dflt];
}

static json_t *identity_json(const server_identity *id)
{
    nt_buf subject = NT_BUF_INIT, not_after = NT_BUF_INIT, hex = NT_BUF_INIT;
    time_t na = 0;
    struct timespec ts = {0, 0};
    json_t *j = NULL;

    if (certs_cert_subject(&subject, id->signer->cert) == 0 &&
        certs_cert_not_after(&na, id->signer->cert) == 0 &&
        nt_hex_encode(&hex, id->sha256, sizeof(id->sha256)) == 0) {
        ts.tv_sec = na;
        if (nt_time_rfc3339(&not_after, &ts, 0) == 0) {
            j = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:I}", "name", id->name, "policy",
                          id->policy, "default", id->is_default, "key_type", id->key_type,
                          "subject", nt_buf_cstr(&subject), "not_after", nt_buf_cstr(&not_after),
                          "sha256", nt_buf_cstr(&hex), "days_left",
                          (json_int_t)((na - time(NULL)) / 86400));
        }
    }
    nt_buf_dispose(&subject);
    nt_buf_dispose(&not_after);
    nt_buf_dispose(&hex);
    return j;
}

json_t *server__live_json(const server_live *lv)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < lv->count; i++) {
        if (json_array_append_new(arr, identity_json(&lv->ids[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}
