/*
 * audit.c - `notarium audit`'s engine (nt_mirror library): replays a git
 * mirror of the ledger (ledger/mirror.h, docs/MIRROR.md) from its first
 * commit, rebuilding every leaf hash, tile and root, and checks them against
 * the signed checkpoints, the stored tiles, the commit chain and (optionally)
 * the TSA trust anchors; a state file makes the next run incremental and
 * catches forks and rollbacks.  Git access goes through mirror_int.h (mirror.c
 * is the only file with <git2.h>); no trust is placed in the mirror's server.
 * Token signatures (--trust) are checked by a small worker pool, in parallel
 * with the replay, and merged back in entry order (see "tokens" below).
 */
#include "ledger/mirror.h"
#include "ledger/mirror_int.h"

#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATE_MAGIC "notarium-audit-state 1"
#define STATE_MAX   (64u * 1024u)
#define PROGRESS_WIDTH 24u
#define SAVE_INTERVAL_MS 5000u

typedef struct tile_level {
    uint8_t h[MIRROR_TILE_WIDTH][MERKLE_HASH_SIZE];
    unsigned count;
} tile_level;

typedef struct audit_state {
    int present;
    char vkey_name[NOTE_MAX_NAME + 1];
    uint32_t key_id;
    uint64_t size;
    uint8_t root[32];
    uint8_t commit[MIRROR_OID_SIZE];
    uint8_t tree[MIRROR_OID_SIZE];
    merkle_frontier frontier;
} audit_state;

typedef struct replay {
    const audit_options *opts;
    audit_result *res;
    ledger__git *g;
    note_verifier v;
    merkle_frontier f;
    tile_level lv[MIRROR_MAX_LEVELS];
    uint64_t size;          /* leaves replayed so far */
    audit_state state;      /* what the state file says was verified before */
    int state_root_seen;    /* the replay passed state.size and matched its root */
    const char *commit_hex; /* commit being checked, for messages */
    /* token checks (with --trust) */
    struct trust_set *trust;
    struct token_pool *pool;
    /* progress */
    uint64_t progress_total, progress_base, last_progress_ns, start_ns, replay_ns;
    nt_buf blob, tile, path;
} replay;

/* Prefix every failure with the commit it was found in, keeping the lower-level detail. */
static int fail(replay *r, const char *fmt, ...) NT_PRINTF(2, 3);
static int fail(replay *r, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return nt_error_set(NT_EVERIFY, "commit %.12s: %s", r->commit_hex != NULL ? r->commit_hex : "-",
                        what);
}

static int noop_node(void *ctx, unsigned level, uint64_t index, const uint8_t h[MERKLE_HASH_SIZE])
{
    (void)ctx;
    (void)level;
    (void)index;
    (void)h;
    return 0;
}

/* ------------------------------------------------------------------ state file */

static int state_load(audit_state *s, const char *path, const note_verifier *v)
{
    int error = 0;
    nt_buf text = NT_BUF_INIT, tmp = NT_BUF_INIT;
    memset(s, 0, sizeof(*s));
    if (!nt_path_exists(path)) {
        return 0;
    }
    NT_TRY(nt_file_read(&text, path, STATE_MAX));
    char *save = NULL;
    int magic = 0, have_size = 0, have_root = 0, have_commit = 0, have_tree = 0;
    for (char *line = strtok_r((char *)text.ptr, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *val = strchr(line, ' ');
        if (strcmp(line, STATE_MAGIC) == 0) {
            magic = 1;
            continue;
        }
        NT_ENSURE(val != NULL, NT_EINVAL, "state file %s: malformed line \"%.40s\"", path, line);
        *val++ = '\0';
        nt_buf_clear(&tmp);
        if (strcmp(line, "log") == 0) {
            unsigned id;
            char name[NOTE_MAX_NAME + 1];
            NT_ENSURE(sscanf(val, "%255s %8x", name, &id) == 2, NT_EINVAL,
                      "state file %s: bad log line", path);
            snprintf(s->vkey_name, sizeof(s->vkey_name), "%s", name);
            s->key_id = id;
        } else if (strcmp(line, "size") == 0) {
            NT_TRY(nt_parse_u64(&s->size, val, strlen(val)));
            have_size = 1;
        } else if (strcmp(line, "root") == 0 || strcmp(line, "commit") == 0 ||
                   strcmp(line, "tree") == 0 || strcmp(line, "frontier") == 0) {
            NT_TRY(nt_hex_decode(&tmp, val, strlen(val)));
            if (strcmp(line, "root") == 0) {
                NT_ENSURE(tmp.len == 32, NT_EINVAL, "state file %s: bad root", path);
                memcpy(s->root, tmp.ptr, 32);
                have_root = 1;
            } else if (strcmp(line, "frontier") == 0) {
                NT_ENSURE(tmp.len == 32 && s->frontier.depth < MERKLE_MAX_LEVEL, NT_EINVAL,
                          "state file %s: bad frontier", path);
                memcpy(s->frontier.stack[s->frontier.depth++], tmp.ptr, 32);
            } else {
                NT_ENSURE(tmp.len == MIRROR_OID_SIZE, NT_EINVAL, "state file %s: bad %s", path,
                          line);
                memcpy(strcmp(line, "commit") == 0 ? s->commit : s->tree, tmp.ptr, MIRROR_OID_SIZE);
                *(strcmp(line, "commit") == 0 ? &have_commit : &have_tree) = 1;
            }
        }
        /* unknown keys are ignored, so later versions can add some */
    }
    NT_ENSURE(magic && have_size && have_root && have_commit && have_tree, NT_EINVAL,
              "state file %s: not a notarium audit state (missing fields)", path);
    NT_ENSURE(strcmp(s->vkey_name, v->name) == 0 && s->key_id == v->key_id, NT_EINVAL,
              "state file %s is for log %s+%08x, not %s+%08x", path, s->vkey_name, s->key_id,
              v->name, v->key_id);
    s->frontier.size = s->size;
    uint8_t root[32];
    merkle_frontier_root(root, &s->frontier);
    NT_ENSURE((unsigned)__builtin_popcountll(s->size) == s->frontier.depth &&
                  memcmp(root, s->root, 32) == 0,
              NT_EINVAL, "state file %s is damaged: its frontier does not give its root", path);
    s->present = 1;
done:
    nt_buf_dispose(&tmp);
    nt_buf_dispose(&text);
    return error;
}

static int state_save(const char *path, const note_verifier *v, const merkle_frontier *f,
                      const uint8_t commit[MIRROR_OID_SIZE], const uint8_t tree[MIRROR_OID_SIZE])
{
    int error = 0;
    nt_buf out = NT_BUF_INIT;
    uint8_t root[32];
    merkle_frontier_root(root, f);
    NT_TRY(nt_buf_printf(&out, "%s\nlog %s %08x\nsize %" PRIu64 "\nroot ", STATE_MAGIC, v->name,
                         v->key_id, f->size));
    NT_TRY(nt_hex_encode(&out, root, 32));
    NT_TRY(nt_buf_puts(&out, "\ncommit "));
    NT_TRY(nt_hex_encode(&out, commit, MIRROR_OID_SIZE));
    NT_TRY(nt_buf_puts(&out, "\ntree "));
    NT_TRY(nt_hex_encode(&out, tree, MIRROR_OID_SIZE));
    NT_TRY(nt_buf_putc(&out, '\n'));
    for (unsigned i = 0; i < f->depth; i++) {
        NT_TRY(nt_buf_puts(&out, "frontier "));
        NT_TRY(nt_hex_encode(&out, f->stack[i], 32));
        NT_TRY(nt_buf_putc(&out, '\n'));
    }
    NT_TRY(nt_file_write_atomic(path, out.ptr, out.len, 0600));
done:
    nt_buf_dispose(&out);
    return error;
}

/* ------------------------------------------------------------------ tokens
 *
 * Why not TS_RESP_verify_token per token: it parses the certificates every
 * token carries (in OpenSSL 3.0 each public key goes through the provider
 * decoder framework, by far the dominant cost) and rebuilds and re-verifies
 * the certificate chain every time, about 1,700 tokens/s on one core.  A TSA
 * signs millions of tokens with the same few certificates, so here:
 *
 *  - the `certificates` field is cut out of the token's DER before parsing,
 *    and parsed once per distinct byte string;
 *  - the chain of each distinct signer certificate (with those certificates)
 *    is validated once, against the --trust anchors parsed once, for the
 *    time-stamping purpose and without a time check; what stays per token is
 *    the check that genTime lies in every certificate's validity period (the
 *    same verdict X509_verify_cert would give at genTime), the ESS
 *    signing-certificate attribute, and the CMS signature itself;
 *  - tokens are verified by a pool of worker threads, one per core, each with
 *    its own cache; the replay collects the results in entry order, so the
 *    first failure reported is the lowest entry that fails, every run.
 *
 * The per-token checks are those TS_RESP_verify_token makes with
 * TS_VFY_SIGNATURE: exactly one SignerInfo, the signer's chain to an anchor
 * with the timestamping purpose, RFC 5035/2634 signing-certificate(-v2)
 * matching the chain, and the signature over the signed attributes whose
 * messageDigest covers the TSTInfo.
 */

#define SIGNER_CACHE_MAX 16
#define POOL_SLOTS       1024u
#define POOL_MAX_WORKERS 64

/* One DER TLV at p with a one-byte tag and a definite length. */
static int der_tlv(const uint8_t *p, size_t left, uint8_t *tag, size_t *hdr, size_t *clen)
{
    if (left < 2 || (p[0] & 0x1f) == 0x1f) {
        return -1;
    }
    size_t n = p[1], h = 2;
    if (n & 0x80) {
        size_t k = n & 0x7f;
        if (k == 0 || k > 4 || left < 2 + k) {
            return -1; /* indefinite (BER) or absurd */
        }
        n = 0;
        for (size_t i = 0; i < k; i++) {
            n = (n << 8) | p[2 + i];
        }
        h += k;
    }
    if (n > left - h) {
        return -1;
    }
    *tag = p[0];
    *hdr = h;
    *clen = n;
    return 0;
}

static size_t der_hdr_size(size_t len)
{
    return len < 0x80 ? 2 : len <= 0xff ? 3 : len <= 0xffff ? 4 : len <= 0xffffff ? 5 : 6;
}

static int der_put_hdr(nt_buf *out, uint8_t tag, size_t len)
{
    uint8_t h[6];
    size_t n = der_hdr_size(len);
    h[0] = tag;
    if (n == 2) {
        h[1] = (uint8_t)len;
    } else {
        h[1] = (uint8_t)(0x80 | (n - 2));
        for (size_t i = 0; i < n - 2; i++) {
            h[n - 1 - i] = (uint8_t)(len >> (8 * i));
        }
    }
    return nt_buf_put(out, h, n);
}

/*
 * Split a DER ContentInfo holding a SignedData into the content of its
 * `certificates` [0] field (a view; empty when absent) and, when there was
 * one, the same ContentInfo without it (in `out`; *stripped = 1).  1 when the
 * bytes are not laid out that way: the caller then parses the token whole;
 * NT_ENOMEM when `out` cannot grow.
 */
static int token_split(nt_bytes *certs, int *stripped, nt_buf *out, const uint8_t *tok, size_t len)
{
    uint8_t tag;
    size_t h, n;
    *certs = NT_BYTES(NULL, 0);
    *stripped = 0;
    if (der_tlv(tok, len, &tag, &h, &n) < 0 || tag != 0x30 || h + n != len) {
        return 1;
    }
    const uint8_t *ci = tok + h;
    size_t ci_len = n;
    if (der_tlv(ci, ci_len, &tag, &h, &n) < 0 || tag != 0x06) {
        return 1;
    }
    size_t oid_len = h + n;
    const uint8_t *q = ci + oid_len;
    size_t qleft = ci_len - oid_len;
    if (der_tlv(q, qleft, &tag, &h, &n) < 0 || tag != 0xa0 || h + n != qleft) {
        return 1;
    }
    q += h;
    qleft = n;
    if (der_tlv(q, qleft, &tag, &h, &n) < 0 || tag != 0x30 || h + n != qleft) {
        return 1;
    }
    const uint8_t *sd = q + h;
    size_t sd_len = n, off = 0;
    for (int i = 0; i < 3; i++) { /* version, digestAlgorithms, encapContentInfo */
        if (der_tlv(sd + off, sd_len - off, &tag, &h, &n) < 0) {
            return 1;
        }
        off += h + n;
    }
    if (off >= sd_len || sd[off] != 0xa0) {
        return 0;
    }
    if (der_tlv(sd + off, sd_len - off, &tag, &h, &n) < 0) {
        return 1;
    }
    *certs = NT_BYTES(sd + off + h, n);
    size_t skip = h + n, new_sd = sd_len - skip;
    size_t a0 = der_hdr_size(new_sd) + new_sd;
    size_t total = oid_len + der_hdr_size(a0) + a0;
    nt_buf_clear(out);
    if (der_put_hdr(out, 0x30, total) < 0 || nt_buf_put(out, ci, oid_len) < 0 ||
        der_put_hdr(out, 0xa0, a0) < 0 || der_put_hdr(out, 0x30, new_sd) < 0 ||
        nt_buf_put(out, sd, off) < 0 || nt_buf_put(out, sd + off + skip, sd_len - off - skip) < 0) {
        return NT_ENOMEM; /* the message is nt_buf's */
    }
    *stripped = 1;
    return 0;
}

/* A signer certificate whose chain to an anchor verified, with the certificates it came with. */
typedef struct signer_entry {
    nt_buf certs_der;             /* the token's certificates field, byte for byte */
    STACK_OF(X509) * chain;       /* verified chain, signer first */
    time_t not_before, not_after; /* the intersection of the chain's validity periods */
} signer_entry;

/* What the --trust file gave: shared read-only by the workers. */
typedef struct trust_set {
    X509_STORE *store;      /* the self-signed anchors */
    STACK_OF(X509) * extra; /* the other certificates: chain helpers */
} trust_set;

/* One worker's verifier: its own cache, so workers never lock each other. */
typedef struct token_verifier {
    const trust_set *trust;
    signer_entry cache[SIGNER_CACHE_MAX];
    size_t cached;
    nt_buf stripped;
} token_verifier;

static void token_verifier_dispose(token_verifier *tv)
{
    for (size_t i = 0; i < tv->cached; i++) {
        nt_buf_dispose(&tv->cache[i].certs_der);
        sk_X509_pop_free(tv->cache[i].chain, X509_free);
    }
    tv->cached = 0;
    nt_buf_dispose(&tv->stripped);
}

/* A failure reason, truncated to fit (a reason is for people, not parsed). */
static void whyf(char *why, size_t len, const char *fmt, ...) NT_PRINTF(3, 4);
static void whyf(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

static void ossl_why(char *why, size_t len, const char *what)
{
    char buf[256];
    unsigned long e = ERR_peek_last_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    whyf(why, len, "%s%s%s", what, e != 0 ? ": " : "", e != 0 ? buf : "");
}

static int asn1_time_t(time_t *out, const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return -1;
    }
    *out = timegm(&tm);
    return 0;
}

static int cert_matches(X509 *x, const PKCS7_ISSUER_AND_SERIAL *ias)
{
    return X509_NAME_cmp(X509_get_issuer_name(x), ias->issuer) == 0 &&
           ASN1_INTEGER_cmp(X509_get0_serialNumber(x), ias->serial) == 0;
}

/* Parse the certificates field (each a plain Certificate), or take the whole token's:
 * NT_EVERIFY when they do not parse, NT_ENOMEM when the stack cannot be built. */
static int certs_parse(STACK_OF(X509) * *out, nt_bytes der, PKCS7 *whole)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (sk == NULL) {
        return nt_error_set(NT_ENOMEM, "out of memory (certificate stack)");
    }
    if (whole != NULL) {
        STACK_OF(X509) *in = whole->d.sign->cert;
        for (int i = 0; in != NULL && i < sk_X509_num(in); i++) {
            X509 *x = sk_X509_value(in, i);
            if (!X509_up_ref(x) || !sk_X509_push(sk, x)) {
                sk_X509_pop_free(sk, X509_free);
                return nt_error_set(NT_ENOMEM, "out of memory (certificate stack)");
            }
        }
    }
    for (size_t off = 0; off < der.len;) {
        uint8_t tag;
        size_t h, n;
        const unsigned char *p = der.ptr + off;
        if (der_tlv(der.ptr + off, der.len - off, &tag, &h, &n) < 0 || tag != 0x30) {
            sk_X509_pop_free(sk, X509_free);
            return NT_EVERIFY;
        }
        X509 *x = d2i_X509(NULL, &p, (long)(h + n));
        if (x == NULL || p != der.ptr + off + h + n || !sk_X509_push(sk, x)) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            return NT_EVERIFY;
        }
        off += h + n;
    }
    *out = sk;
    return 0;
}

/*
 * Validate the chain of the signer named by `ias` among `certs` and the trust
 * file's other certificates; on success fill `e` (chain and validity window).
 * NT_EVERIFY with `why` when it does not validate, NT_ENOMEM when out of memory.
 */
static int signer_validate(signer_entry *e, char *why, size_t whylen, const trust_set *trust,
                           STACK_OF(X509) * certs, const PKCS7_ISSUER_AND_SERIAL *ias)
{
    int ok = NT_EVERIFY;
    X509 *signer = NULL;
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE_CTX *ctx = NULL;
    for (int i = 0; signer == NULL && i < sk_X509_num(certs); i++) {
        signer = cert_matches(sk_X509_value(certs, i), ias) ? sk_X509_value(certs, i) : NULL;
    }
    for (int i = 0; signer == NULL && i < sk_X509_num(trust->extra); i++) {
        signer = cert_matches(sk_X509_value(trust->extra, i), ias) ? sk_X509_value(trust->extra, i)
                                                                   : NULL;
    }
    if (signer == NULL) {
        whyf(why, whylen, "the signer's certificate is neither in the token nor in --trust");
        goto done;
    }
    untrusted = sk_X509_dup(trust->extra);
    ctx = X509_STORE_CTX_new();
    if (untrusted == NULL || ctx == NULL) {
        ERR_clear_error();
        ok = nt_error_set(NT_ENOMEM, "out of memory (certificate chain)");
        goto done;
    }
    for (int i = 0; i < sk_X509_num(certs); i++) {
        if (!sk_X509_push(untrusted, sk_X509_value(certs, i))) {
            ERR_clear_error();
            ok = nt_error_set(NT_ENOMEM, "out of memory (certificate chain)");
            goto done;
        }
    }
    if (X509_STORE_CTX_init(ctx, trust->store, signer, untrusted) != 1) {
        ossl_why(why, whylen, "X509_STORE_CTX_init");
        goto done;
    }
    /* OpenSSL's ts_verify_cert does the same: the TSA certificate must be fit for
     * time-stamping (RFC 3161 2.3: extended key usage id-kp-timeStamping, critical). */
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_TIMESTAMP_SIGN);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(ctx) != 1) {
        ERR_clear_error();
        whyf(why, whylen, "certificate verify error: %s",
             X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto done;
    }
    e->chain = X509_STORE_CTX_get1_chain(ctx);
    if (e->chain == NULL) {
        ossl_why(why, whylen, "X509_STORE_CTX_get1_chain");
        goto done;
    }
    e->not_before = 0;
    e->not_after = (time_t)INT64_MAX;
    for (int i = 0; i < sk_X509_num(e->chain); i++) {
        X509 *x = sk_X509_value(e->chain, i);
        time_t nb, na;
        if (asn1_time_t(&nb, X509_get0_notBefore(x)) < 0 ||
            asn1_time_t(&na, X509_get0_notAfter(x)) < 0) {
            whyf(why, whylen, "a certificate of the chain has an unreadable validity period");
            goto done;
        }
        e->not_before = nb > e->not_before ? nb : e->not_before;
        e->not_after = na < e->not_after ? na : e->not_after;
    }
    ok = 0;
done:
    if (ok < 0 && e->chain != NULL) {
        sk_X509_pop_free(e->chain, X509_free);
        e->chain = NULL;
    }
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    return ok;
}

/* The ESS signing-certificate attribute(s) must name the signer (and only chain members). */
static int ess_check(char *why, size_t whylen, PKCS7_SIGNER_INFO *si, STACK_OF(X509) * chain)
{
    ESS_SIGNING_CERT *ss = NULL;
    ESS_SIGNING_CERT_V2 *ssv2 = NULL;
    ASN1_TYPE *a = PKCS7_get_signed_attribute(si, NID_id_smime_aa_signingCertificate);
    if (a != NULL && a->type == V_ASN1_SEQUENCE) {
        const unsigned char *p = a->value.sequence->data;
        ss = d2i_ESS_SIGNING_CERT(NULL, &p, a->value.sequence->length);
    }
    a = PKCS7_get_signed_attribute(si, NID_id_smime_aa_signingCertificateV2);
    if (a != NULL && a->type == V_ASN1_SEQUENCE) {
        const unsigned char *p = a->value.sequence->data;
        ssv2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, a->value.sequence->length);
    }
    int ok = OSSL_ESS_check_signing_certs(ss, ssv2, chain, 1) > 0 ? 0 : -1;
    if (ok < 0) {
        ossl_why(why, whylen, "the signing-certificate attribute does not match the signer");
    }
    ESS_SIGNING_CERT_free(ss);
    ESS_SIGNING_CERT_V2_free(ssv2);
    return ok;
}

/*
 * Verify one token against the leaf's digest; 0, NT_EVERIFY with `why` (no
 * entry prefix) filled when a check fails, or another code (NT_ENOMEM) with the
 * thread's error message when the check could not be made.  Thread-safe across
 * verifiers sharing one trust_set.
 */
static int token_verify(char *why, size_t whylen, token_verifier *tv, const uint8_t *tok,
                        size_t len, record_alg alg, const uint8_t *digest, size_t dlen)
{
    int ok = NT_EVERIFY, whole = 0, rc;
    nt_bytes certs_der;
    PKCS7 *p7 = NULL;
    TS_TST_INFO *tst = NULL;
    STACK_OF(X509) *certs = NULL;
    signer_entry tmp, *e = NULL;
    BIO *bio = NULL;
    memset(&tmp, 0, sizeof(tmp));

    int stripped = 0;
    rc = token_split(&certs_der, &stripped, &tv->stripped, tok, len);
    if (rc < 0) {
        ok = rc;
        goto done;
    }
    if (rc > 0) {
        whole = 1; /* not laid out as we expect: let OpenSSL parse it all */
        certs_der = NT_BYTES(NULL, 0);
    }
    const unsigned char *p = stripped ? tv->stripped.ptr : tok;
    const unsigned char *end = p + (stripped ? tv->stripped.len : len);
    p7 = d2i_PKCS7(NULL, &p, (long)(end - p));
    if (p7 == NULL || p != end || (whole && p != tok + len)) {
        ERR_clear_error();
        whyf(why, whylen, "the token is not one DER ContentInfo");
        goto done;
    }
    tst = PKCS7_to_TS_TST_INFO(p7);
    if (tst == NULL) {
        ERR_clear_error();
        whyf(why, whylen, "the token holds no TSTInfo");
        goto done;
    }
    TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
    ASN1_OCTET_STRING *md = TS_MSG_IMPRINT_get_msg(mi);
    if (OBJ_obj2nid(TS_MSG_IMPRINT_get_algo(mi)->algorithm) != record_alg_nid(alg) ||
        (size_t)ASN1_STRING_length(md) != dlen ||
        memcmp(ASN1_STRING_get0_data(md), digest, dlen) != 0) {
        whyf(why, whylen, "the token's message imprint is not the leaf's digest");
        goto done;
    }
    const char *sig = "the token's signature does not verify against --trust";
    STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
    if (sis == NULL || sk_PKCS7_SIGNER_INFO_num(sis) != 1) {
        whyf(why, whylen, "%s: it must have exactly one signer", sig);
        goto done;
    }
    PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sis, 0);
    time_t gen;
    if (asn1_time_t(&gen, TS_TST_INFO_get_time(tst)) < 0) {
        whyf(why, whylen, "the token's genTime cannot be read");
        goto done;
    }

    for (size_t i = 0; !whole && i < tv->cached && e == NULL; i++) {
        signer_entry *c = &tv->cache[i];
        if (c->certs_der.len == certs_der.len &&
            (certs_der.len == 0 || memcmp(c->certs_der.ptr, certs_der.ptr, certs_der.len) == 0) &&
            cert_matches(sk_X509_value(c->chain, 0), si->issuer_and_serial)) {
            e = c;
        }
    }
    if (e == NULL) {
        char inner[256];
        rc = certs_parse(&certs, certs_der, whole ? p7 : NULL);
        if (rc < 0 && rc != NT_EVERIFY) {
            ok = rc;
            goto done;
        }
        if (rc < 0) {
            ERR_clear_error();
            whyf(why, whylen, "%s: its certificates cannot be parsed", sig);
            goto done;
        }
        rc = signer_validate(&tmp, inner, sizeof(inner), tv->trust, certs, si->issuer_and_serial);
        if (rc < 0 && rc != NT_EVERIFY) {
            ok = rc;
            goto done;
        }
        if (rc < 0) {
            whyf(why, whylen, "%s: %s", sig, inner);
            goto done;
        }
        e = &tmp;
        if (!whole && tv->cached < SIGNER_CACHE_MAX &&
            nt_buf_set(&tv->cache[tv->cached].certs_der, certs_der.ptr, certs_der.len) == 0) {
            tv->cache[tv->cached].chain = tmp.chain;
            tv->cache[tv->cached].not_before = tmp.not_before;
            tv->cache[tv->cached].not_after = tmp.not_after;
            tmp.chain = NULL;
            e = &tv->cache[tv->cached++];
        }
    }
    /* Certificates expire; a token is judged at the time it states it was made
     * (what X509_verify_cert would decide with the verification time = genTime). */
    if (gen < e->not_before || gen > e->not_after) {
        whyf(why, whylen, "%s: certificate verify error: %s at the token's genTime", sig,
             gen < e->not_before ? "certificate is not yet valid" : "certificate has expired");
        goto done;
    }
    char inner[256];
    if (ess_check(inner, sizeof(inner), si, e->chain) < 0) {
        whyf(why, whylen, "%s: %s", sig, inner);
        goto done;
    }
    bio = PKCS7_dataInit(p7, NULL);
    if (bio == NULL) {
        ossl_why(inner, sizeof(inner), "PKCS7_dataInit");
        whyf(why, whylen, "%s: %s", sig, inner);
        goto done;
    }
    char buf[4096];
    while (BIO_read(bio, buf, sizeof(buf)) > 0) {
    }
    if (PKCS7_signatureVerify(bio, p7, si, sk_X509_value(e->chain, 0)) != 1) {
        ossl_why(inner, sizeof(inner), "bad signature");
        whyf(why, whylen, "%s: %s", sig, inner);
        goto done;
    }
    ok = 0;
done:
    BIO_free_all(bio);
    sk_X509_pop_free(tmp.chain, X509_free);
    sk_X509_pop_free(certs, X509_free);
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
    return ok;
}

static int trust_load(trust_set *t, const char *path)
{
    int error = 0;
    BIO *bio = NULL;
    X509 *cert = NULL;
    size_t anchors = 0;
    NT_OSSL_PTR(bio = BIO_new_file(path, "r"), "--trust %s", path);
    NT_OSSL_PTR(t->store = X509_STORE_new(), "X509_STORE_new");
    NT_OSSL_PTR(t->extra = sk_X509_new_null(), "sk_X509_new_null");
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        /* Self-signed certificates are the anchors; the others (a TSA certificate,
         * intermediates) only help build chains for tokens that carry no certificates. */
        if (X509_check_issued(cert, cert) == X509_V_OK) {
            NT_OSSL(X509_STORE_add_cert(t->store, cert), "--trust %s", path);
            X509_free(cert);
            anchors++;
        } else {
            NT_OSSL(sk_X509_push(t->extra, cert), "sk_X509_push");
        }
        cert = NULL;
    }
    ERR_clear_error();
    NT_ENSURE(anchors > 0, NT_EINVAL, "--trust %s: no self-signed (root) certificate in it", path);
done:
    X509_free(cert);
    BIO_free(bio);
    return error;
}

static void trust_dispose(trust_set *t)
{
    X509_STORE_free(t->store);
    sk_X509_pop_free(t->extra, X509_free);
    t->store = NULL;
    t->extra = NULL;
}

/* ------------------------------------------------------------------ the worker pool */

typedef struct token_job {
    uint64_t index;  /* leaf index */
    char commit[13]; /* the commit it was read from, for the message */
    record_alg alg;
    uint8_t digest[RECORD_MAX_DIGEST];
    size_t dlen;
    nt_buf token; /* a copy: the bundle buffer moves on */
    int done, failed; /* failed: token_verify's code (0, NT_EVERIFY, NT_ENOMEM ...) */
    char why[512];    /* NT_EVERIFY: the check that failed */
    nt_error_state err; /* any other code: the worker's error, carried whole */
} token_job;

typedef struct token_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;     /* workers wait for jobs */
    pthread_cond_t finished; /* the replay waits for results */
    token_job *slots;        /* POOL_SLOTS, a ring indexed by job number */
    uint64_t submitted, claimed, harvested;
    int stop;
    unsigned nworkers, next_id;
    pthread_t threads[POOL_MAX_WORKERS];
    token_verifier verifiers[POOL_MAX_WORKERS];
    uint64_t verified; /* tokens that verified, counted at harvest */
    int failed;        /* a harvested job failed: first_fail holds it */
    token_job first_fail;
} token_pool;

static void *pool_worker(void *arg)
{
    token_pool *pool = arg;
    pthread_mutex_lock(&pool->mu);
    unsigned me = pool->next_id++;
    for (;;) {
        while (!pool->stop && pool->claimed == pool->submitted) {
            pthread_cond_wait(&pool->work, &pool->mu);
        }
        if (pool->claimed == pool->submitted) {
            break;
        }
        token_job *j = &pool->slots[pool->claimed++ % POOL_SLOTS];
        pthread_mutex_unlock(&pool->mu);
        int rc = token_verify(j->why, sizeof(j->why), &pool->verifiers[me], j->token.ptr,
                              j->token.len, j->alg, j->digest, j->dlen);
        /* out of memory is not "the token failed": keep the worker's code and message */
        nt_error_state_capture(&j->err, rc < 0 && rc != NT_EVERIFY ? rc : 0);
        pthread_mutex_lock(&pool->mu);
        j->failed = rc;
        j->done = 1;
        pthread_cond_broadcast(&pool->finished);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

static void pool_stop(token_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mu);
    for (unsigned i = 0; i < pool->nworkers; i++) {
        pthread_join(pool->threads[i], NULL);
    }
    for (unsigned i = 0; i < POOL_MAX_WORKERS; i++) {
        token_verifier_dispose(&pool->verifiers[i]);
    }
    if (pool->slots != NULL) {
        for (unsigned i = 0; i < POOL_SLOTS; i++) {
            nt_buf_dispose(&pool->slots[i].token);
        }
    }
    nt_free(pool->slots);
    pthread_cond_destroy(&pool->work);
    pthread_cond_destroy(&pool->finished);
    pthread_mutex_destroy(&pool->mu);
    nt_free(pool);
}

/* One worker per online core (NT_AUDIT_THREADS overrides, for measurements). */
static int pool_start(token_pool **out, const trust_set *trust)
{
    int error = 0;
    token_pool *pool = nt_calloc(1, sizeof(*pool));
    NT_ENSURE(pool != NULL, NT_ENOMEM, "out of memory");
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->finished, NULL);
    pool->slots = nt_calloc(POOL_SLOTS, sizeof(*pool->slots));
    NT_ENSURE(pool->slots != NULL, NT_ENOMEM, "out of memory");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("NT_AUDIT_THREADS");
    if (env != NULL && atoi(env) > 0) {
        n = atoi(env);
    }
    n = n < 1 ? 1 : n > POOL_MAX_WORKERS ? POOL_MAX_WORKERS : n;
    for (unsigned i = 0; i < POOL_MAX_WORKERS; i++) {
        pool->verifiers[i].trust = trust;
    }
    pthread_mutex_lock(&pool->mu);
    for (unsigned i = 0; i < (unsigned)n; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, pool_worker, pool);
        if (rc != 0) {
            pthread_mutex_unlock(&pool->mu);
            error = nt_error_set(NT_ENOMEM, "audit: cannot start a token worker: %s", strerror(rc));
            goto done;
        }
        pool->nworkers++;
    }
    pthread_mutex_unlock(&pool->mu);
    *out = pool;
    pool = NULL;
done:
    pool_stop(pool);
    return error;
}

/* Collect finished jobs in submission order (mu held). */
static void pool_harvest_locked(token_pool *pool)
{
    while (pool->harvested < pool->submitted) {
        token_job *j = &pool->slots[pool->harvested % POOL_SLOTS];
        if (!j->done) {
            break;
        }
        if (j->failed && !pool->failed) {
            pool->failed = 1;
            pool->first_fail.index = j->index;
            pool->first_fail.failed = j->failed;
            pool->first_fail.err = j->err;
            memcpy(pool->first_fail.commit, j->commit, sizeof(j->commit));
            memcpy(pool->first_fail.why, j->why, sizeof(j->why));
        } else if (!j->failed) {
            pool->verified++;
        }
        pool->harvested++;
    }
}

/* The lowest failing entry as the audit's error: NT_EVERIFY, or the worker's own code and
 * message restored (NT_ENOMEM: the audit could not be done, nothing was found wrong); or 0. */
static int pool_error(token_pool *pool)
{
    if (!pool->failed) {
        return 0;
    }
    if (pool->first_fail.failed != NT_EVERIFY) {
        int code = nt_error_state_restore(&pool->first_fail.err);
        return nt_error_set(code, "commit %.12s: entry %" PRIu64 ": %s", pool->first_fail.commit,
                            pool->first_fail.index, nt_error_last());
    }
    return nt_error_set(NT_EVERIFY, "commit %.12s: entry %" PRIu64 ": %s", pool->first_fail.commit,
                        pool->first_fail.index, pool->first_fail.why);
}

/* Queue one token; NT_EVERIFY as soon as an earlier token is known to have failed. */
static int pool_submit(token_pool *pool, const char *commit_hex, uint64_t index, const record *rec)
{
    int error = 0;
    pthread_mutex_lock(&pool->mu);
    pool_harvest_locked(pool);
    while (!pool->failed && pool->submitted - pool->harvested == POOL_SLOTS) {
        pthread_cond_wait(&pool->finished, &pool->mu);
        pool_harvest_locked(pool);
    }
    if (pool->failed) {
        pthread_mutex_unlock(&pool->mu);
        return pool_error(pool);
    }
    token_job *j = &pool->slots[pool->submitted % POOL_SLOTS];
    pthread_mutex_unlock(&pool->mu);
    /* the slot is ours until `submitted` moves past it */
    j->index = index;
    snprintf(j->commit, sizeof(j->commit), "%.12s", commit_hex);
    j->alg = rec->alg;
    j->dlen = rec->digest.len <= sizeof(j->digest) ? rec->digest.len : sizeof(j->digest);
    memcpy(j->digest, rec->digest.ptr, j->dlen);
    j->done = j->failed = 0;
    j->why[0] = '\0';
    error = nt_buf_set(&j->token, rec->token.ptr, rec->token.len);
    if (error < 0) {
        return error;
    }
    pthread_mutex_lock(&pool->mu);
    pool->submitted++;
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

/* Wait for every queued token and collect the results. */
static void pool_wait(token_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    pool_harvest_locked(pool);
    while (pool->harvested < pool->submitted) {
        pthread_cond_wait(&pool->finished, &pool->mu);
        pool_harvest_locked(pool);
    }
    pthread_mutex_unlock(&pool->mu);
}

/* Wait for every queued token; NT_EVERIFY naming the lowest failing entry, else 0. */
static int pool_drain(token_pool *pool)
{
    if (pool == NULL) {
        return 0;
    }
    pool_wait(pool);
    return pool_error(pool);
}

/* ------------------------------------------------------------------ replay */

/*
 * The progress bar (stderr, for a TTY): rewritten in place at most 5 times a
 * second, fixed width so a shorter update leaves nothing behind, e.g.
 *   audit: [##########..............]  42.0%    420000/1000000 leaves   21034 leaves/s  ETA 27s
 */
static void progress(replay *r, int last)
{
    if (!r->opts->progress) {
        return;
    }
    uint64_t now = nt_mono_ns();
    if (!last && now - r->last_progress_ns < 200000000u) {
        return;
    }
    r->last_progress_ns = now;
    uint64_t done = r->size - r->progress_base;
    double secs = (double)(now - r->replay_ns) / 1e9;
    double frac = r->progress_total > 0 ? (double)done / (double)r->progress_total : 1.0;
    frac = frac > 1.0 ? 1.0 : frac;
    double rate = secs > 0 ? (double)done / secs : 0.0;
    char bar[PROGRESS_WIDTH + 1], eta[32];
    unsigned fill = (unsigned)(frac * PROGRESS_WIDTH + 0.5);
    for (unsigned i = 0; i < PROGRESS_WIDTH; i++) {
        bar[i] = i < fill ? '#' : '.';
    }
    bar[PROGRESS_WIDTH] = '\0';
    if (last) {
        snprintf(eta, sizeof(eta), "%6.1fs", secs);
    } else if (rate > 0 && done < r->progress_total) {
        snprintf(eta, sizeof(eta), "ETA %.0fs", (double)(r->progress_total - done) / rate);
    } else {
        snprintf(eta, sizeof(eta), "ETA ?");
    }
    fprintf(stderr, "\raudit: [%s] %5.1f%% %9" PRIu64 "/%" PRIu64 " leaves %7.0f leaves/s  %-10s%s",
            bar, 100.0 * frac, done, r->progress_total, rate, eta, last ? "\n" : "");
    fflush(stderr);
}

static int tile_read(replay *r, const uint8_t tree[MIRROR_OID_SIZE], int level, uint64_t index,
                     unsigned width)
{
    int error = 0;
    nt_buf_clear(&r->path);
    NT_TRY(ledger__tile_path(&r->path, level, index, width));
    int rc = ledger__git_blob_read(level < 0 ? &r->blob : &r->tile, r->g, tree,
                                   (const char *)r->path.ptr);
    if (rc == NT_ENOTFOUND) {
        error = fail(r, "%s is missing", (const char *)r->path.ptr);
        goto done;
    }
    NT_TRY(rc);
    if (level >= 0) {
        size_t want = (size_t)(width == 0 ? MIRROR_TILE_WIDTH : width) * MERKLE_HASH_SIZE;
        NT_ENSURE(r->tile.len == want, NT_EVERIFY, "commit %.12s: %s is %zu bytes, expected %zu",
                  r->commit_hex, (const char *)r->path.ptr, r->tile.len, want);
    }
done:
    return error;
}

/* A tile at level >= 1 is complete or is the partial one: compare it with the rebuilt one. */
static int tile_compare(replay *r, const uint8_t tree[MIRROR_OID_SIZE], unsigned level,
                        uint64_t index, unsigned width)
{
    int error = 0;
    NT_TRY(tile_read(r, tree, (int)level, index, width));
    unsigned n = width == 0 ? MIRROR_TILE_WIDTH : width;
    for (unsigned i = 0; i < n; i++) {
        if (memcmp(r->tile.ptr + (size_t)i * 32, r->lv[level].h[i], 32) != 0) {
            char found[65], want[65];
            ledger__hex(found, r->tile.ptr + (size_t)i * 32, MERKLE_HASH_SIZE);
            ledger__hex(want, r->lv[level].h[i], MERKLE_HASH_SIZE);
            error = fail(r, "%s: hash %u is %s, rebuilt from the entries %s",
                         (const char *)r->path.ptr, i, found, want);
            goto done;
        }
    }
    r->res->tiles++;
done:
    return error;
}

/* Push a complete-tile hash up the levels, checking each level >= 1 tile that fills. */
static int carry(replay *r, const uint8_t tree[MIRROR_OID_SIZE])
{
    int error = 0;
    for (unsigned level = 0; level + 1 < MIRROR_MAX_LEVELS; level++) {
        if (r->lv[level].count < MIRROR_TILE_WIDTH) {
            break;
        }
        if (level > 0) {
            uint64_t full;
            unsigned w;
            ledger__tile_count(&full, &w, r->size, level);
            NT_TRY(tile_compare(r, tree, level, full - 1, 0));
        }
        uint8_t h[32];
        NT_TRY(merkle_root_naive(h, &r->lv[level].h[0][0], MIRROR_TILE_WIDTH));
        r->lv[level].count = 0;
        memcpy(r->lv[level + 1].h[r->lv[level + 1].count++], h, 32);
    }
done:
    return error;
}

static int leaf_add(replay *r, const uint8_t *leaf, size_t len, const uint8_t hash[32])
{
    int error = 0;
    record rec;
    uint64_t index = r->size;
    if (record_decode(&rec, leaf, len) < 0) {
        error =
            fail(r, "entry %" PRIu64 " is not a canonical leaf record: %s", index, nt_error_last());
        goto done;
    }
    if (r->pool != NULL) {
        NT_TRY(pool_submit(r->pool, r->commit_hex, index, &rec));
    }
    NT_TRY(merkle_frontier_append(&r->f, hash, noop_node, NULL));
    memcpy(r->lv[0].h[r->lv[0].count++], hash, 32);
    r->size++;
    r->res->leaves++;
    if (r->state.present && r->size == r->state.size) {
        uint8_t root[32];
        merkle_frontier_root(root, &r->f);
        if (memcmp(root, r->state.root, 32) != 0) {
            char was[65], now[65];
            ledger__hex(was, r->state.root, MERKLE_HASH_SIZE);
            ledger__hex(now, root, MERKLE_HASH_SIZE);
            error = fail(r,
                         "fork: the tree of size %" PRIu64 " verified before had root %s, "
                         "this mirror's entries give %s",
                         r->state.size, was, now);
            goto done;
        }
        r->state_root_seen = 1;
    }
done:
    return error;
}

/* Leaves [from, to) from the entry bundles of `tree`, each against the level-0 tile. */
static int leaves_replay(replay *r, const uint8_t tree[MIRROR_OID_SIZE], uint64_t from, uint64_t to)
{
    int error = 0;
    char bundle_path[256], tile_path[256];
    for (uint64_t b = from / MIRROR_TILE_WIDTH; b * MIRROR_TILE_WIDTH < to; b++) {
        uint64_t start = b * MIRROR_TILE_WIDTH;
        unsigned n = to - start >= MIRROR_TILE_WIDTH ? MIRROR_TILE_WIDTH : (unsigned)(to - start);
        unsigned width = n == MIRROR_TILE_WIDTH ? 0 : n;
        unsigned known = from > start ? (unsigned)(from - start) : 0;
        NT_TRY(tile_read(r, tree, -1, b, width));
        snprintf(bundle_path, sizeof(bundle_path), "%s", (const char *)r->path.ptr);
        NT_TRY(tile_read(r, tree, 0, b, width));
        snprintf(tile_path, sizeof(tile_path), "%s", (const char *)r->path.ptr);
        const uint8_t *p = r->blob.ptr, *end = r->blob.ptr + r->blob.len;
        for (unsigned j = 0; j < n; j++) {
            uint64_t index = start + j;
            if (end - p < 2 || (size_t)(end - p - 2) < nt_load_u16be(p)) {
                error = fail(r, "%s: entry %u (leaf %" PRIu64 ") runs past the end of the bundle",
                             bundle_path, j, index);
                goto done;
            }
            size_t len = nt_load_u16be(p);
            const uint8_t *leaf = p + 2;
            p += 2 + len;
            uint8_t h[32];
            merkle_leaf_hash(h, leaf, len);
            const uint8_t *stored = r->tile.ptr + (size_t)j * 32;
            char a[65], b2[65];
            if (j < known) {
                /* seen at an earlier checkpoint: must not have changed */
                if (memcmp(h, r->lv[0].h[j], 32) != 0) {
                    ledger__hex(a, h, MERKLE_HASH_SIZE);
                    ledger__hex(b2, r->lv[0].h[j], MERKLE_HASH_SIZE);
                    error = fail(r,
                                 "%s: entry %u (leaf %" PRIu64 ") changed since the previous "
                                 "checkpoint: hash %s, was %s",
                                 bundle_path, j, index, a, b2);
                    goto done;
                }
                if (memcmp(stored, r->lv[0].h[j], 32) != 0) {
                    ledger__hex(a, stored, MERKLE_HASH_SIZE);
                    ledger__hex(b2, r->lv[0].h[j], MERKLE_HASH_SIZE);
                    error = fail(r, "%s: hash %u (leaf %" PRIu64 ") is %s, was %s", tile_path, j,
                                 index, a, b2);
                    goto done;
                }
                continue;
            }
            if (memcmp(stored, h, 32) != 0) {
                ledger__hex(a, h, MERKLE_HASH_SIZE);
                ledger__hex(b2, stored, MERKLE_HASH_SIZE);
                error = fail(r,
                             "entry %" PRIu64 ": %s entry %u hashes to %s, but %s has %s at "
                             "position %u",
                             index, bundle_path, j, a, tile_path, b2, j);
                goto done;
            }
            NT_TRY(leaf_add(r, leaf, len, h));
        }
        if (p != end) {
            error =
                fail(r, "%s: %zu bytes after its %u entries", bundle_path, (size_t)(end - p), n);
            goto done;
        }
        r->res->tiles += 2;
        NT_TRY(carry(r, tree));
        progress(r, 0);
    }
done:
    return error;
}

typedef struct path_lists {
    nt_buf *keep, *drop;
} path_lists;

static int path_collect(void *ctx, int upsert, int level, uint64_t index, unsigned width)
{
    path_lists *ls = ctx;
    nt_buf *b = upsert ? ls->keep : ls->drop;
    int error = ledger__tile_path(b, level, index, width);
    return error < 0 ? error : nt_buf_putc(b, 0);
}

/* The value of trailer `key` in a commit message (borrowed up to the line end), or NULL. */
static const char *trailer(const char *msg, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    for (const char *line = msg; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t ll = nl != NULL ? (size_t)(nl - line) : strlen(line);
        if (ll > klen + 1 && strncmp(line, key, klen) == 0 && line[klen] == ':' &&
            line[klen + 1] == ' ') {
            *len = ll - klen - 2;
            return line + klen + 2;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    return NULL;
}

static int trailer_eq(const char *msg, const char *key, const char *want)
{
    size_t len;
    const char *v = trailer(msg, key, &len);
    return v != NULL && len == strlen(want) && memcmp(v, want, len) == 0;
}

static int commit_check(replay *r, const ledger__git_commit *c, const ledger__git_commit *prev,
                        uint64_t prev_size, const nt_buf *prev_note, nt_buf *note_out)
{
    int error = 0;
    checkpoint cp;
    nt_buf keep = NT_BUF_INIT, drop = NT_BUF_INIT, want = NT_BUF_INIT;

    if (prev_note == NULL && c->parent_count != 0) {
        error = fail(r, "the first commit of main has a parent");
        goto done;
    }
    int rc = ledger__git_blob_read(note_out, r->g, c->tree, "checkpoint");
    if (rc == NT_ENOTFOUND) {
        error = fail(r, "no checkpoint file");
        goto done;
    }
    NT_TRY(rc);
    rc = checkpoint_open(&cp, (const char *)note_out->ptr, note_out->len, &r->v, 0);
    NT_TRY(rc == NT_ENOMEM ? rc : 0); /* out of memory says nothing about the checkpoint */
    if (rc < 0) {
        checkpoint unsigned_cp;
        size_t body = ledger__note_body_len((const char *)note_out->ptr, note_out->len);
        int parsed =
            body > 0 && checkpoint_parse(&unsigned_cp, (const char *)note_out->ptr, body) == 0;
        if (rc == NT_EVERIFY && parsed) {
            error = fail(r, "checkpoint of size %" PRIu64 ": no valid signature by %s+%08x",
                         unsigned_cp.size, r->v.name, r->v.key_id);
        } else {
            error = fail(r, "checkpoint file is not a valid signed checkpoint of %s: %s", r->v.name,
                         nt_error_last());
        }
        goto done;
    }
    if (prev_note != NULL && cp.size <= prev_size) {
        error = fail(r, "checkpoint size %" PRIu64 " does not grow from the previous %" PRIu64,
                     cp.size, prev_size);
        goto done;
    }

    /* The chain: the commit says which checkpoint it follows (docs/MIRROR.md). */
    NT_TRY(nt_buf_printf(&want, "%" PRIu64, cp.size));
    if (!trailer_eq(c->message, "Tree-Size", (const char *)want.ptr)) {
        error = fail(r, "the commit message's Tree-Size is not the checkpoint's %" PRIu64, cp.size);
        goto done;
    }
    nt_buf_clear(&want);
    NT_TRY(nt_base64_encode(&want, cp.root, 32));
    if (!trailer_eq(c->message, "Root", (const char *)want.ptr)) {
        error = fail(r, "the commit message's Root is not the checkpoint's root");
        goto done;
    }
    size_t tlen;
    const char *said = trailer(c->message, "Previous-Tree-Size", &tlen);
    if (prev_note == NULL) {
        if (said != NULL) {
            error = fail(r,
                         "the first commit says it follows a checkpoint of size %.*s: the "
                         "commits before it were dropped",
                         (int)tlen, said);
            goto done;
        }
    } else {
        nt_buf_clear(&want);
        NT_TRY(nt_buf_printf(&want, "%" PRIu64, prev_size));
        if (said == NULL || !trailer_eq(c->message, "Previous-Tree-Size", (const char *)want.ptr)) {
            error = fail(r,
                         "checkpoint of size %" PRIu64 " says it follows size %.*s, but its "
                         "parent holds size %" PRIu64 ": a commit was dropped or reordered",
                         cp.size, said != NULL ? (int)tlen : 4, said != NULL ? said : "none",
                         prev_size);
            goto done;
        }
        uint8_t d[32];
        EVP_Digest(prev_note->ptr, prev_note->len, d, NULL, EVP_sha256(), NULL);
        nt_buf_clear(&want);
        NT_TRY(nt_hex_encode(&want, d, 32));
        if (!trailer_eq(c->message, "Previous-Checkpoint", (const char *)want.ptr)) {
            error = fail(r, "Previous-Checkpoint is not the SHA-256 of the parent's checkpoint "
                            "file: a commit was replaced");
            goto done;
        }
    }

    NT_TRY(leaves_replay(r, c->tree, prev_size, cp.size));
    for (unsigned level = 1; level < MIRROR_MAX_LEVELS; level++) {
        uint64_t full;
        unsigned w;
        ledger__tile_count(&full, &w, cp.size, level);
        if (w > 0) {
            NT_TRY(tile_compare(r, c->tree, level, full, w));
        }
    }
    uint8_t root[32];
    merkle_frontier_root(root, &r->f);
    if (memcmp(root, cp.root, 32) != 0) {
        char a[65], b[65];
        ledger__hex(a, cp.root, MERKLE_HASH_SIZE);
        ledger__hex(b, root, MERKLE_HASH_SIZE);
        error =
            fail(r, "checkpoint of size %" PRIu64 ": signed root %s, but the entries rebuild %s",
                 cp.size, a, b);
        goto done;
    }

    /* Nothing else in the tree changed: rebuild it from the previous one and compare. */
    path_lists ls = {&keep, &drop};
    NT_TRY(ledger__tile_changes(prev_size, cp.size, path_collect, &ls));
    NT_TRY(nt_buf_put(&keep, "checkpoint", sizeof("checkpoint")));
    rc = ledger__git_tree_expect(r->g, prev != NULL ? prev->tree : NULL, c->tree, &keep, &drop);
    if (rc == NT_EVERIFY) {
        error = fail(r, "checkpoint of size %" PRIu64 ": %s", cp.size, nt_error_last());
        goto done;
    }
    NT_TRY(rc);
done:
    if (error == 0) {
        r->res->checkpoints++;
        memcpy(r->res->root, cp.root, 32);
        r->res->size = cp.size;
    }
    nt_buf_dispose(&want);
    nt_buf_dispose(&keep);
    nt_buf_dispose(&drop);
    return error;
}

/* Resume from the state's commit: its frontier, and the partial tiles of its tree. */
static int resume_load(replay *r, const ledger__git_commit *c, nt_buf *note)
{
    int error = 0;
    checkpoint cp;
    NT_TRY(ledger__git_blob_read(note, r->g, c->tree, "checkpoint"));
    size_t body = ledger__note_body_len((const char *)note->ptr, note->len);
    NT_ENSURE(body > 0 && checkpoint_parse(&cp, (const char *)note->ptr, body) == 0 &&
                  cp.size == r->state.size && memcmp(cp.root, r->state.root, 32) == 0,
              NT_EINVAL, "state file: commit %.12s does not hold the checkpoint it recorded",
              r->commit_hex);
    r->f = r->state.frontier;
    r->size = r->state.size;
    for (unsigned level = 0; level < MIRROR_MAX_LEVELS; level++) {
        uint64_t full;
        unsigned w;
        ledger__tile_count(&full, &w, r->size, level);
        if (w == 0) {
            continue;
        }
        NT_TRY(tile_read(r, c->tree, (int)level, full, w));
        memcpy(r->lv[level].h, r->tile.ptr, (size_t)w * 32);
        r->lv[level].count = w;
    }
done:
    return error;
}

int audit_run(audit_result *out, const audit_options *opts)
{
    int error = 0;
    replay *r = NULL;
    ledger__git_commit *list = NULL;
    size_t n = 0;
    nt_buf cache = NT_BUF_INIT, note_a = NT_BUF_INIT, note_b = NT_BUF_INIT;
    nt_buf *note = &note_a, *prev_note = NULL;
    char hex[2 * MIRROR_OID_SIZE + 1];
    int resumed = 0;

    memset(out, 0, sizeof(*out));
    NT_ENSURE(opts != NULL && opts->source != NULL && opts->vkey != NULL, NT_EINVAL,
              "audit: a source and the log's vkey are required");
    r = nt_calloc(1, sizeof(*r));
    NT_ENSURE(r != NULL, NT_ENOMEM, "out of memory");
    r->opts = opts;
    r->res = out;
    r->start_ns = nt_mono_ns();
    merkle_frontier_init(&r->f);
    NT_TRY(note_vkey_parse(&r->v, opts->vkey, strlen(opts->vkey)));
    if (opts->trust_path != NULL) {
        r->trust = nt_calloc(1, sizeof(*r->trust));
        NT_ENSURE(r->trust != NULL, NT_ENOMEM, "out of memory");
        NT_TRY(trust_load(r->trust, opts->trust_path));
        NT_TRY(pool_start(&r->pool, r->trust));
    }
    if (opts->state_path != NULL) {
        NT_TRY(state_load(&r->state, opts->state_path, &r->v));
    }
    const char *cache_path = opts->cache_path;
    if (cache_path == NULL && opts->state_path != NULL) {
        NT_TRY(nt_buf_printf(&cache, "%s.git", opts->state_path));
        cache_path = (const char *)cache.ptr;
    }
    NT_TRY(ledger__git_open(&r->g, opts->source, cache_path));
    NT_TRY(ledger__git_history(&list, &n, r->g));
    NT_ENSURE(n > 0, NT_EVERIFY, "%s: no commit on refs/heads/main", opts->source);

    size_t start = 0;
    const ledger__git_commit *prev = NULL;
    uint64_t prev_size = 0;
    if (r->state.present) {
        for (size_t i = 0; i < n; i++) {
            if (memcmp(list[i].id, r->state.commit, MIRROR_OID_SIZE) == 0) {
                ledger__oid_hex(hex, list[i].id);
                r->commit_hex = hex;
                NT_TRY(resume_load(r, &list[i], &note_b));
                prev_note = &note_b;
                prev = &list[i];
                prev_size = r->state.size;
                start = i + 1;
                resumed = 1;
                r->state_root_seen = 1;
                out->resumed_size = r->state.size;
                break;
            }
        }
    }
    {
        checkpoint head;
        ledger__oid_hex(hex, list[n - 1].id);
        r->commit_hex = hex;
        NT_TRY(ledger__git_blob_read(note, r->g, list[n - 1].tree, "checkpoint"));
        size_t body = ledger__note_body_len((const char *)note->ptr, note->len);
        if (body > 0 && checkpoint_parse(&head, (const char *)note->ptr, body) == 0 &&
            head.size > r->size) {
            r->progress_total = head.size - r->size;
        }
        r->progress_base = r->size;
    }
    uint64_t last_save = nt_mono_ns();
    uint64_t save_ns = opts->save_interval_ms < 0    ? 0
                       : opts->save_interval_ms == 0 ? (uint64_t)SAVE_INTERVAL_MS * 1000000u
                                                     : (uint64_t)opts->save_interval_ms * 1000000u;
    r->replay_ns = last_save;
    for (size_t i = start; i < n; i++) {
        ledger__oid_hex(hex, list[i].id);
        r->commit_hex = hex;
        int rc = commit_check(r, &list[i], prev, prev_size, prev_note, note);
        if (rc < 0) {
            /* a token queued before this point that failed comes first, as it would
             * in a sequential replay */
            int te = pool_drain(r->pool);
            NT_TRY(te < 0 ? te : rc);
        }
        prev = &list[i];
        prev_size = out->size;
        nt_buf *t = prev_note != NULL ? prev_note : &note_b;
        prev_note = note;
        note = t;
        if (opts->state_path != NULL && (!r->state.present || resumed) &&
            nt_mono_ns() - last_save >= save_ns) {
            /* resumable: an interrupted run continues from here next time */
            NT_TRY(pool_drain(r->pool));
            NT_TRY(state_save(opts->state_path, &r->v, &r->f, list[i].id, list[i].tree));
            last_save = nt_mono_ns();
        }
    }
    NT_TRY(pool_drain(r->pool));
    progress(r, 1);
    if (start == n) {
        out->size = r->state.size;
        memcpy(out->root, r->state.root, 32);
    }
    if (r->state.present && !resumed) {
        char was[2 * MIRROR_OID_SIZE + 1];
        ledger__oid_hex(was, r->state.commit);
        ledger__oid_hex(hex, list[n - 1].id);
        if (!r->state_root_seen) {
            error = nt_error_set(NT_EVERIFY,
                                 "rollback: main (commit %.12s) holds %" PRIu64 " entries, but a "
                                 "tree of %" PRIu64 " entries (commit %.12s) was verified before; "
                                 "this mirror does not extend it",
                                 hex, out->size, r->state.size, was);
        } else {
            error = nt_error_set(NT_EVERIFY,
                                 "history rewritten: commit %.12s (checkpoint of size %" PRIu64
                                 ") verified before is no longer in the history of main "
                                 "(commit %.12s); the entries up to that size are unchanged",
                                 was, r->state.size, hex);
        }
        goto done;
    }
    if (opts->state_path != NULL) {
        NT_TRY(state_save(opts->state_path, &r->v, &r->f, list[n - 1].id, list[n - 1].tree));
    }
done:
    if (r != NULL) {
        out->seconds = (double)(nt_mono_ns() - r->start_ns) / 1e9;
        if (error < 0 && opts->progress && r->last_progress_ns != 0) {
            fputc('\n', stderr);
        }
        if (r->pool != NULL) {
            pool_wait(r->pool);
            out->tokens = r->pool->verified;
        }
        pool_stop(r->pool);
        if (r->trust != NULL) {
            trust_dispose(r->trust);
            nt_free(r->trust);
        }
        ledger__git_close(r->g);
        nt_buf_dispose(&r->blob);
        nt_buf_dispose(&r->tile);
        nt_buf_dispose(&r->path);
        nt_free(r);
    }
    ledger__git_history_free(list, n);
    nt_buf_dispose(&cache);
    nt_buf_dispose(&note_a);
    nt_buf_dispose(&note_b);
    return error;
}
