/*
 * load_reply.c - notarium-load's requests (a fresh random TimeStampReq or evidence
 * JSON each time) and the checks of every reply: HTTP status, PKIStatus, nonce and
 * imprint echo; the --record file (see load_int.h).
 */
#include "tools/load_int.h"

/* ------------------------------------------------------------------ requests and replies */

/*
 * One DER element at *p (before end): its tag class and number must be
 * `cls`/`tag`; on success *p is moved past it and its contents are returned in
 * *content.  Used to reach the parts of a reply the checks need without
 * decoding the rest.
 */
static int der_take(nt_bytes *content, const unsigned char **p, const unsigned char *end, int cls,
                    int tag)
{
    const unsigned char *q = *p;
    long l = 0;
    int t = 0, c = 0;
    if (q >= end) {
        return NT_EINVAL;
    }
    int r = ASN1_get_object(&q, &l, &t, &c, (long)(end - q));
    if ((r & 0x80) || r == 0x21 /* indefinite length: not DER */ || t != tag || c != cls ||
        l > end - q) {
        ERR_clear_error();
        return NT_EINVAL;
    }
    *content = NT_BYTES(q, (size_t)l);
    *p = q + l;
    return 0;
}

/* A fresh random imprint and nonce (the nonce positive and 8 bytes wide, so its
 * INTEGER has the same length every time and a simple compare checks the echo). */
static int tsa_request_draw(req_state *st, const load_opts *o)
{
    uint8_t r[RECORD_MAX_DIGEST + sizeof(st->nonce)];
    st->digest_len = (size_t)EVP_MD_get_size(o->md);
    if (RAND_bytes(r, (int)(st->digest_len + sizeof(st->nonce))) != 1) {
        return nt_error_set(NT_ECRYPTO, "RAND_bytes failed");
    }
    memcpy(st->digest, r, st->digest_len);
    memcpy(st->nonce, r + st->digest_len, sizeof(st->nonce));
    st->nonce[0] &= 0x7f;
    st->nonce[0] |= 0x01;
    return 0;
}

/*
 * Where the imprint and the nonce are in a TimeStampReq's DER (which starts at
 * `at` in the request): TimeStampReq ::= SEQUENCE { version INTEGER,
 * messageImprint SEQUENCE { hashAlgorithm, hashedMessage OCTET STRING },
 * nonce INTEGER, certReq BOOLEAN }.  The imprint ends the messageImprint; the
 * nonce's 8 content bytes follow its INTEGER header.
 */
static int tsa_request_mark(req_state *st, size_t at, const uint8_t *der, size_t len)
{
    const uint8_t *p = der, *end = der + len;
    nt_bytes req, x, mi;
    if (der_take(&req, &p, end, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE) < 0 || p != end) {
        return nt_error_set(NT_EINVAL, "TimeStampReq is not one DER SEQUENCE");
    }
    p = req.ptr;
    end = req.ptr + req.len;
    if (der_take(&x, &p, end, V_ASN1_UNIVERSAL, V_ASN1_INTEGER) < 0 ||
        der_take(&mi, &p, end, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE) < 0 ||
        der_take(&x, &p, end, V_ASN1_UNIVERSAL, V_ASN1_INTEGER) < 0 || mi.len < st->digest_len ||
        x.len != sizeof(st->nonce) ||
        memcmp(mi.ptr + mi.len - st->digest_len, st->digest, st->digest_len) != 0 ||
        memcmp(x.ptr, st->nonce, sizeof(st->nonce)) != 0) {
        return nt_error_set(NT_EINVAL, "TimeStampReq does not have the expected layout");
    }
    st->tpl_digest_at = at + (size_t)(mi.ptr + mi.len - st->digest_len - der);
    st->tpl_nonce_at = at + (size_t)(x.ptr - der);
    return 0;
}

/*
 * The first request of a connection is encoded with OpenSSL's TS_REQ; every
 * later one is the same bytes with a new imprint and nonce written over the
 * old ones (same lengths, so the DER and Content-Length stay right).  Encoding
 * each request anew cost ~6 µs of this tool's CPU per request, on the cores
 * the server under test needs.
 */
int load__build_tsa_request(nt_buf *out, req_state *st, const load_opts *o)
{
    int error = 0;
    TS_REQ *req = NULL;
    TS_MSG_IMPRINT *imprint = NULL;
    X509_ALGOR *algor = NULL;
    ASN1_INTEGER *nonce = NULL;
    BIGNUM *bn = NULL;
    unsigned char *der = NULL;
    int der_len = 0;

    NT_TRY(tsa_request_draw(st, o));
    if (st->tpl_digest_at != 0) {
        memcpy(out->ptr + st->tpl_digest_at, st->digest, st->digest_len);
        memcpy(out->ptr + st->tpl_nonce_at, st->nonce, sizeof(st->nonce));
        return 0;
    }

    NT_OSSL_PTR(req = TS_REQ_new(), "TS_REQ_new");
    NT_OSSL(TS_REQ_set_version(req, 1), "TS_REQ_set_version");
    NT_OSSL_PTR(imprint = TS_MSG_IMPRINT_new(), "TS_MSG_IMPRINT_new");
    NT_OSSL_PTR(algor = X509_ALGOR_new(), "X509_ALGOR_new");
    X509_ALGOR_set_md(algor, o->md);
    NT_OSSL(TS_MSG_IMPRINT_set_algo(imprint, algor), "TS_MSG_IMPRINT_set_algo");
    NT_OSSL(TS_MSG_IMPRINT_set_msg(imprint, st->digest, (int)st->digest_len),
            "TS_MSG_IMPRINT_set_msg");
    NT_OSSL(TS_REQ_set_msg_imprint(req, imprint), "TS_REQ_set_msg_imprint");
    NT_OSSL_PTR(bn = BN_bin2bn(st->nonce, sizeof(st->nonce), NULL), "BN_bin2bn");
    NT_OSSL_PTR(nonce = BN_to_ASN1_INTEGER(bn, NULL), "BN_to_ASN1_INTEGER");
    NT_OSSL(TS_REQ_set_nonce(req, nonce), "TS_REQ_set_nonce");
    NT_OSSL(TS_REQ_set_cert_req(req, 1), "TS_REQ_set_cert_req");
    der_len = i2d_TS_REQ(req, &der);
    NT_OSSL(der_len, "i2d_TS_REQ");

    nt_buf_clear(out);
    NT_TRY(nt_buf_printf(out,
                         "POST %s HTTP/1.1\r\nHost: %s\r\n%s"
                         "Content-Type: application/timestamp-query\r\n"
                         "%s%s%s"
                         "Content-Length: %d\r\n\r\n",
                         o->path, o->host, o->no_keepalive ? "Connection: close\r\n" : "",
                         o->api_key != NULL ? "Authorization: Bearer " : "",
                         o->api_key != NULL ? o->api_key : "", o->api_key != NULL ? "\r\n" : "",
                         der_len));
    NT_TRY(tsa_request_mark(st, out->len, der, (size_t)der_len));
    NT_TRY(nt_buf_put(out, der, (size_t)der_len));
done:
    OPENSSL_free(der);
    BN_free(bn);
    ASN1_INTEGER_free(nonce);
    X509_ALGOR_free(algor);
    TS_MSG_IMPRINT_free(imprint);
    TS_REQ_free(req);
    return error;
}

int load__build_evidence_request(nt_buf *out, req_state *st, const load_opts *o, uint64_t seq)
{
    int error = 0;
    nt_buf body = NT_BUF_INIT;

    st->digest_len = (size_t)EVP_MD_get_size(o->md);
    NT_OSSL(RAND_bytes(st->digest, (int)st->digest_len), "RAND_bytes");
    NT_TRY(nt_buf_printf(&body, "{\"digest\":\"%s:", record_alg_name(o->alg)));
    NT_TRY(nt_hex_encode(&body, st->digest, st->digest_len));
    NT_TRY(nt_buf_printf(&body, "\",\"kind\":\"load.test\",\"metadata\":{\"seq\":%llu}}",
                         (unsigned long long)seq));
    nt_buf_clear(out);
    NT_TRY(nt_buf_printf(out,
                         "POST %s HTTP/1.1\r\nHost: %s\r\n%s"
                         "Content-Type: application/json\r\n"
                         "Authorization: Bearer %s\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         o->path, o->host, o->no_keepalive ? "Connection: close\r\n" : "",
                         o->api_key, body.len));
    NT_TRY(nt_buf_put(out, body.ptr, body.len));
done:
    nt_buf_dispose(&body);
    return error;
}

int load__build_case_request(nt_buf *out, req_state *st, const load_opts *o, uint64_t seq)
{
    int error = 0;
    nt_buf body = NT_BUF_INIT;

    st->digest_len = 32;
    NT_OSSL(RAND_bytes(st->digest, 32), "RAND_bytes");
    NT_TRY(nt_buf_printf(&body,
                         "{\"event_key\":\"e%llu\",\"kind\":\"x-load\",\"artifacts\":"
                         "[{\"digest\":\"sha256:",
                         (unsigned long long)seq));
    NT_TRY(nt_hex_encode(&body, st->digest, 32));
    NT_TRY(nt_buf_puts(&body, "\"}]}"));
    nt_buf_clear(out);
    NT_TRY(nt_buf_printf(out,
                         "POST /v1/cases/%s-%llu/events HTTP/1.1\r\nHost: %s\r\n"
                         "Content-Type: application/json\r\n"
                         "Authorization: Bearer %s\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         o->case_prefix, (unsigned long long)(seq % o->cases), o->host, o->api_key,
                         body.len));
    NT_TRY(nt_buf_put(out, body.ptr, body.len));
done:
    nt_buf_dispose(&body);
    return error;
}

/*
 * The TimeStampToken as the server sent it: the bytes after PKIStatusInfo in
 * the TimeStampResp SEQUENCE, taken from the DER rather than re-encoded, so
 * the comparison with the ledger's copy is byte for byte.
 */
static int resp_token_span(nt_bytes *out, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    long l = 0;
    int tag = 0, cls = 0;
    int r = ASN1_get_object(&p, &l, &tag, &cls, (long)len);
    if ((r & 0x80) || tag != V_ASN1_SEQUENCE || (size_t)(p - der) + (size_t)l != len) {
        return nt_error_set(NT_EINVAL, "TimeStampResp is not one DER SEQUENCE");
    }
    const unsigned char *end = p + l;
    const unsigned char *q = p;
    r = ASN1_get_object(&q, &l, &tag, &cls, (long)(end - p));
    if ((r & 0x80) || tag != V_ASN1_SEQUENCE || l > end - q) {
        return nt_error_set(NT_EINVAL, "TimeStampResp without PKIStatusInfo");
    }
    q += l;
    if (q >= end) {
        return nt_error_set(NT_EINVAL, "TimeStampResp without timeStampToken");
    }
    *out = NT_BYTES(q, (size_t)(end - q));
    return 0;
}

/* The record file (--record) is shared by every thread. */
static pthread_mutex_t g_record_lock = PTHREAD_MUTEX_INITIALIZER;
FILE *load__record;

static void record_write(const load_opts *o, const req_state *st, nt_bytes token)
{
    nt_buf line = NT_BUF_INIT;
    if (load__record == NULL) {
        return;
    }
    if (nt_buf_printf(&line, "%s:", record_alg_name(o->alg)) < 0 ||
        nt_hex_encode(&line, st->digest, st->digest_len) < 0 || nt_buf_putc(&line, ' ') < 0 ||
        nt_base64_encode(&line, token.ptr, token.len) < 0 || nt_buf_putc(&line, '\n') < 0) {
        nt_buf_dispose(&line);
        return;
    }
    /* One line per write and a flush, so a token received just before the
     * tool is stopped is on disk for the checker. */
    pthread_mutex_lock(&g_record_lock);
    fwrite(line.ptr, 1, line.len, load__record);
    fflush(load__record);
    pthread_mutex_unlock(&g_record_lock);
    nt_buf_dispose(&line);
}

/*
 * The PKIStatusInfo and, when present, the TSTInfo (eContent of the token's
 * SignedData) of a TimeStampResp, as spans of `der`:
 *   TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }
 *   ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
 *   SignedData ::= SEQUENCE { version, digestAlgorithms SET,
 *                             encapContentInfo SEQUENCE { eContentType OID,
 *                                                          eContent [0] EXPLICIT OCTET STRING },
 *                             certificates [0] IMPLICIT ..., crls [1] ..., signerInfos SET }
 * Why not d2i_TS_RESP: it also decodes the certificates that certReq asks
 * for, and OpenSSL 3 decodes each certificate's public key through its
 * provider decoder machinery (OSSL_DECODER_CTX_new_for_pkey, under global
 * read locks): measured, ~90 % of this tool's CPU went there, ~0.3 ms per
 * reply, on the same cores the server under test needs.  The load generator
 * does not verify signatures (the e2e tests run `openssl ts -verify`), so it
 * decodes only what it checks.
 */
static int resp_spans(nt_bytes *status_info, nt_bytes *tst_info, const uint8_t *der, size_t len)
{
    /* id-ct-TSTInfo 1.2.840.113549.1.9.16.1.4 (RFC 3161 2.4.2), id-signedData 1.2.840.113549.1.7.2
     */
    static const uint8_t oid_tst[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                      0x01, 0x09, 0x10, 0x01, 0x04};
    static const uint8_t oid_sd[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};
    const unsigned char *p = der, *end = der + len;
    nt_bytes resp, ci, oid, exp, sd, x, eci, octets;

    *status_info = NT_BYTES(NULL, 0);
    *tst_info = NT_BYTES(NULL, 0);
    if (der_take(&resp, &p, end, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE) < 0 || p != end) {
        return nt_error_set(NT_EINVAL, "TimeStampResp is not one DER SEQUENCE");
    }
    p = resp.ptr;
    end = resp.ptr + resp.len;
    const unsigned char *si = p;
    if (der_take(&x, &p, end, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE) < 0) {
        return nt_error_set(NT_EINVAL, "TimeStampResp without PKIStatusInfo");
    }
    *status_info = NT_BYTES(si, (size_t)(p - si));
    if (p == end) {
        return 0; /* no token */
    }
    if (der_take(&ci, &p, end, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE) < 0 || p != end) {
        return nt_error_set(NT_EINVAL, "timeStampToken is not one ContentInfo");
    }
    p = ci.ptr;
    end = ci.ptr + ci.len;
    if (der_take(&oid, &p, end, V_ASN1_UNIVERSAL, V_ASN1_OBJECT) < 0 || oid.len != sizeof(oid_sd) ||
        memcmp(oid.ptr, oid_sd, sizeof(oid_sd)) != 0 ||
        der_take(&exp, &p, end, V_ASN1_CONTEXT_SPECIFIC, 0) < 0 || p != end) {
        return nt_error_set(NT_EINVAL, "timeStampToken is not a CMS SignedData");
    }
    p = exp.ptr;
    end = exp.ptr + exp.len;
    if (der_take(&sd, &p, end, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE) < 0 || p != end) {
        return nt_error_set(NT_EINVAL, "timeStampToken without SignedData");
    }
    p = sd.ptr;
    end = sd.ptr + sd.len;
    if (der_take(&x, &p, end, V_ASN1_UNIVERSAL, V_ASN1_INTEGER) < 0 ||
        der_take(&x, &p, end, V_ASN1_UNIVERSAL, V_ASN1_SET) < 0 ||
        der_take(&eci, &p, end, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE) < 0) {
        return nt_error_set(NT_EINVAL, "SignedData without encapContentInfo");
    }
    p = eci.ptr;
    end = eci.ptr + eci.len;
    if (der_take(&oid, &p, end, V_ASN1_UNIVERSAL, V_ASN1_OBJECT) < 0 ||
        oid.len != sizeof(oid_tst) || memcmp(oid.ptr, oid_tst, sizeof(oid_tst)) != 0) {
        return nt_error_set(NT_EINVAL, "eContentType is not id-ct-TSTInfo");
    }
    if (der_take(&exp, &p, end, V_ASN1_CONTEXT_SPECIFIC, 0) < 0 || p != end) {
        return nt_error_set(NT_EINVAL, "encapContentInfo without eContent");
    }
    p = exp.ptr;
    end = exp.ptr + exp.len;
    if (der_take(&octets, &p, end, V_ASN1_UNIVERSAL, V_ASN1_OCTET_STRING) < 0 || p != end) {
        return nt_error_set(NT_EINVAL, "eContent is not one OCTET STRING");
    }
    *tst_info = octets;
    return 0;
}

reply_kind load__check_tsa_reply(const load_opts *o, const req_state *st, int status,
                                 const uint8_t *body, size_t len, char *why, size_t why_len)
{
    reply_kind kind = REPLY_ERROR;
    const unsigned char *p;
    TS_STATUS_INFO *si = NULL;
    TS_TST_INFO *tst = NULL;
    nt_bytes si_der, tst_der;
    if (status != 200 && status != 503 && status != 429) {
        snprintf(why, why_len, "HTTP %d", status);
        return REPLY_ERROR;
    }
    if (resp_spans(&si_der, &tst_der, body, len) < 0 ||
        (p = si_der.ptr, si = d2i_TS_STATUS_INFO(NULL, &p, (long)si_der.len)) == NULL ||
        p != si_der.ptr + si_der.len) {
        ERR_clear_error();
        TS_STATUS_INFO_free(si);
        if (status == 503) {
            return REPLY_REJECTED; /* overload: 503 + JSON, a clean refusal */
        }
        if (status == 429) {
            snprintf(why, why_len, "HTTP 429 with a body that is not a TimeStampResp");
            return REPLY_ERROR;
        }
        snprintf(why, why_len, "HTTP 200 with a body that is not a TimeStampResp");
        return REPLY_ERROR;
    }
    long pki = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));
    if (pki != 0 && pki != 1) {
        kind = REPLY_REJECTED;
        goto done;
    }
    if (status != 200) {
        snprintf(why, why_len, "token granted with HTTP %d", status);
        goto done;
    }
    p = tst_der.ptr;
    if (tst_der.len == 0 || (tst = d2i_TS_TST_INFO(NULL, &p, (long)tst_der.len)) == NULL ||
        p != tst_der.ptr + tst_der.len) {
        ERR_clear_error();
        snprintf(why, why_len, "granted without a TSTInfo");
        goto done;
    }
    const ASN1_OCTET_STRING *msg = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(tst));
    if (msg == NULL || (size_t)ASN1_STRING_length(msg) != st->digest_len ||
        memcmp(ASN1_STRING_get0_data(msg), st->digest, st->digest_len) != 0) {
        snprintf(why, why_len, "token for another imprint");
        goto done;
    }
    const ASN1_INTEGER *nonce = TS_TST_INFO_get_nonce(tst);
    uint8_t echo[8];
    if (nonce == NULL || ASN1_STRING_length(nonce) != (int)sizeof(echo) ||
        memcmp(ASN1_STRING_get0_data(nonce), st->nonce, sizeof(echo)) != 0) {
        snprintf(why, why_len, "nonce not echoed");
        goto done;
    }
    nt_bytes token;
    if (resp_token_span(&token, body, len) < 0) {
        snprintf(why, why_len, "%s", nt_error_last());
        goto done;
    }
    record_write(o, st, token);
    kind = REPLY_GRANTED;
done:
    TS_TST_INFO_free(tst);
    TS_STATUS_INFO_free(si);
    return kind;
}

reply_kind load__check_evidence_reply(const load_opts *o, const req_state *st, int status,
                                      const uint8_t *body, size_t len, char *why, size_t why_len)
{
    reply_kind kind = REPLY_ERROR;
    receipt r;
    record rec;
    receipt_init(&r);
    if (status == 503 || status == 429) {
        return REPLY_REJECTED; /* overload or a rate limit: a clean refusal */
    }
    if (status != 201 && status != 200) {
        snprintf(why, why_len, "HTTP %d", status);
        return REPLY_ERROR;
    }
    if (receipt_decode(&r, (const char *)body, len) < 0) {
        snprintf(why, why_len, "receipt: %s", nt_error_last());
        goto done;
    }
    if (record_decode(&rec, r.leaf.ptr, r.leaf.len) < 0 || rec.alg != o->alg ||
        rec.digest.len != st->digest_len ||
        memcmp(rec.digest.ptr, st->digest, st->digest_len) != 0) {
        snprintf(why, why_len, "receipt for another digest");
        goto done;
    }
    record_write(o, st, nt_buf_bytes(&r.token));
    kind = REPLY_GRANTED;
done:
    receipt_dispose(&r);
    return kind;
}

reply_kind load__check_case_reply(const load_opts *o, const req_state *st, int status,
                                  const uint8_t *body, size_t len, char *why, size_t why_len)
{
    reply_kind kind = REPLY_ERROR;
    json_t *j = NULL;
    char *text = NULL, hex[65];
    receipt r;
    record rec;

    (void)o;
    receipt_init(&r);
    if (status == 503) {
        return REPLY_REJECTED;
    }
    if (status != 201) {
        snprintf(why, why_len, "HTTP %d", status);
        return REPLY_ERROR;
    }
    j = json_loadb((const char *)body, len, 0, NULL);
    if (j == NULL || (text = json_dumps(json_object_get(j, "receipt"), 0)) == NULL ||
        receipt_decode(&r, text, strlen(text)) < 0) {
        snprintf(why, why_len, "no receipt in the 201");
        goto done;
    }
    nt_hex_fill(hex, st->digest, 32);
    hex[64] = '\0';
    if (record_decode(&rec, r.leaf.ptr, r.leaf.len) < 0 || rec.kind != RECORD_KIND_CASE_EVENT ||
        !r.has_metadata || strstr(nt_buf_cstr(&r.metadata), hex) == NULL) {
        snprintf(why, why_len, "the receipt is not the event posted");
        goto done;
    }
    kind = REPLY_GRANTED;
done:
    free(text);
    json_decref(j);
    receipt_dispose(&r);
    return kind;
}
