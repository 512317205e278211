/*
 * load.c - notarium-load, the load generator and end-to-end checker of the
 * `tools/` directory.  It drives a running Notarium server on the loopback
 * interface only (127.0.0.0/8 or "localhost"; anything else is refused) with
 * keep-alive HTTP/1.1 over plain sockets: N connections spread over T threads,
 * each thread an epoll loop, every request a fresh random RFC 3161
 * TimeStampReq (or a fresh evidence JSON), for a fixed duration and under a
 * hard request cap.  Every reply is checked (HTTP status, PKIStatus, nonce and
 * imprint echo) and the run ends with counts, tokens/s and latency
 * percentiles.  Two check modes reuse the same HTTP client for the crash and
 * map-full e2e tests: --check-records (every token a client received has a
 * receipt holding the same token, proven against a signed checkpoint) and
 * --check-consistency (a later checkpoint is signed and consistent with an
 * earlier one).  Links util, nt_merkle (receipts, notes, proofs) and OpenSSL.
 */
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/receipt.h"
#include "ledger/record.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOAD_MAX_CONNECTIONS 1024u
#define LOAD_MAX_THREADS 64u
#define LOAD_DEFAULT_MAX_REQUESTS 1000000ull
#define LOAD_HARD_MAX_REQUESTS 10000000ull
#define LOAD_MAX_DURATION_S 3600.0
#define LOAD_MAX_HEADER 16384u
#define LOAD_MAX_BODY (16u * 1024u * 1024u)
#define LOAD_RECONNECT_NS 20000000ull /* 20 ms between refused connects: a restarting server */
#define LOAD_CHECK_TIMEOUT_S 10

/* ------------------------------------------------------------------ options */

typedef struct load_opts {
    struct sockaddr_in addr;
    char host[80];      /* Host header value: "127.0.0.1:3161" */
    char path[256];     /* request path for the load run */
    unsigned connections;
    unsigned threads;
    double duration_s;
    uint64_t max_requests;
    record_alg alg;
    const EVP_MD *md;
    int evidence;
    const char *api_key;
    const char *record_path;
    int stop_on_reject;
    const char *check_records;
    const char *check_consistency;
    const char *vkey_path;
    const char *save_checkpoint;
} load_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: notarium-load --url http://127.0.0.1:PORT/tsa [--connections N] [--threads T]\n"
            "                     [--duration S] [--max-requests N] [--alg sha256]\n"
            "                     [--evidence --api-key KEY] [--url-path /v1/evidence]\n"
            "                     [--record FILE] [--stop-on-reject]\n"
            "       notarium-load --url http://127.0.0.1:PORT --check-records FILE [--vkey FILE]\n"
            "       notarium-load --url http://127.0.0.1:PORT --check-consistency OLD_CHECKPOINT\n"
            "                     --vkey FILE [--save-checkpoint FILE]\n"
            "Targets must be on the loopback interface (127.0.0.0/8 or localhost).\n"
            "--record writes one line per token received: <alg>:<hex digest> <base64 token>.\n"
            "Exit status: 0 done (load run) or all checks passed, 1 a check failed or the\n"
            "run saw errors, 2 usage.\n");
}

/*
 * Only loopback targets: a load generator pointed at somebody else's server is
 * an attack tool, so the host must be "localhost" or a literal 127.x.y.z.
 */
static int url_parse(load_opts *o, const char *url)
{
    static const char scheme[] = "http://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        return nt_error_set(NT_EINVAL, "only http:// URLs are supported: %s", url);
    }
    const char *h = url + sizeof(scheme) - 1;
    size_t hlen = strcspn(h, ":/");
    if (hlen == 0 || hlen >= 64) {
        return nt_error_set(NT_EINVAL, "bad host in URL: %s", url);
    }
    char host[64];
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    const char *p = h + hlen;
    uint64_t port = 80;
    if (*p == ':') {
        p++;
        size_t plen = strcspn(p, "/");
        if (nt_parse_u64(&port, p, plen) < 0 || port == 0 || port > 65535) {
            return nt_error_set(NT_EINVAL, "bad port in URL: %s", url);
        }
        p += plen;
    }
    if (*p == '\0') {
        p = "/";
    }
    if (strlen(p) >= sizeof(o->path) || strpbrk(p, " \r\n") != NULL) {
        return nt_error_set(NT_EINVAL, "bad path in URL: %s", url);
    }
    memset(&o->addr, 0, sizeof(o->addr));
    o->addr.sin_family = AF_INET;
    o->addr.sin_port = htons((uint16_t)port);
    if (strcasecmp(host, "localhost") == 0) {
        o->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &o->addr.sin_addr) != 1) {
        return nt_error_set(NT_EINVAL, "refusing target %s: not a literal 127.x.y.z or localhost",
                            host);
    }
    if ((ntohl(o->addr.sin_addr.s_addr) >> 24) != 127) {
        return nt_error_set(NT_EINVAL, "refusing target %s: not on the loopback network 127.0.0.0/8",
                            host);
    }
    snprintf(o->host, sizeof(o->host), "%s:%u", host, (unsigned)port);
    snprintf(o->path, sizeof(o->path), "%s", p);
    return 0;
}

static int parse_uint(uint64_t *out, const char *s, uint64_t min, uint64_t max, const char *what)
{
    if (nt_parse_u64(out, s, strlen(s)) < 0 || *out < min || *out > max) {
        return nt_error_set(NT_EINVAL, "%s must be an integer in %llu..%llu", what,
                            (unsigned long long)min, (unsigned long long)max);
    }
    return 0;
}

/* ------------------------------------------------------------------ HTTP framing */

typedef struct http_resp {
    int status;
    size_t header_len; /* bytes up to and including the blank line */
    size_t body_len;
    int close;         /* the server will close the connection after this response */
} http_resp;

static int header_is(const char *line, size_t len, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':') {
        return 0;
    }
    const char *v = line + n + 1;
    while (v < line + len && (*v == ' ' || *v == '\t')) {
        v++;
    }
    *value = v;
    return 1;
}

/*
 * Frame one response in p[0..len): 0 while incomplete, 1 when the whole
 * response (headers and Content-Length body) is there, NT_EINVAL when it is
 * not an HTTP/1.x response we can frame (no Content-Length, chunked, too big).
 */
static int http_parse(http_resp *out, const uint8_t *p, size_t len)
{
    const char *s = (const char *)p;
    size_t end = 0;
    for (size_t i = 3; i < len; i++) {
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') {
            end = i + 1;
            break;
        }
    }
    if (end == 0) {
        if (len > LOAD_MAX_HEADER) {
            return nt_error_set(NT_EINVAL, "response header larger than %u bytes", LOAD_MAX_HEADER);
        }
        return 0;
    }
    if (end < 14 || strncmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ') {
        return nt_error_set(NT_EINVAL, "not an HTTP/1.x status line");
    }
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return nt_error_set(NT_EINVAL, "bad HTTP status code");
        }
        status = status * 10 + (s[i] - '0');
    }
    int have_length = 0;
    uint64_t length = 0;
    int close = s[7] == '0'; /* HTTP/1.0 closes unless told otherwise; we never ask */
    const char *line = memchr(s, '\n', end);
    while (line != NULL && (size_t)(line + 1 - s) < end - 2) {
        line++;
        const char *eol = memchr(line, '\r', end - (size_t)(line - s));
        if (eol == NULL) {
            break;
        }
        size_t llen = (size_t)(eol - line);
        const char *v = NULL;
        if (header_is(line, llen, "Content-Length", &v)) {
            if (nt_parse_u64(&length, v, (size_t)(eol - v)) < 0 || length > LOAD_MAX_BODY) {
                return nt_error_set(NT_EINVAL, "bad or too large Content-Length");
            }
            have_length = 1;
        } else if (header_is(line, llen, "Transfer-Encoding", &v)) {
            return nt_error_set(NT_EINVAL, "Transfer-Encoding is not supported by this client");
        } else if (header_is(line, llen, "Connection", &v)) {
            close = strncasecmp(v, "close", 5) == 0;
        }
        line = eol + 1;
    }
    if (!have_length) {
        if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
            length = 0;
        } else {
            return nt_error_set(NT_EINVAL, "HTTP %d response without Content-Length", status);
        }
    }
    if (len < end + length) {
        return 0;
    }
    out->status = status;
    out->header_len = end;
    out->body_len = (size_t)length;
    out->close = close;
    return 1;
}

static int sock_open(int *fd_out, const struct sockaddr_in *addr, int nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        return nt_error_set(NT_EIO, "socket: %s", strerror(errno));
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return nt_error_set(NT_EIO, "connect: %s", strerror(e));
    }
    *fd_out = fd;
    return 0;
}

/* ------------------------------------------------------------------ requests and replies */

typedef struct req_state {
    uint8_t digest[RECORD_MAX_DIGEST];
    size_t digest_len;
    uint8_t nonce[8];
} req_state;

static int build_tsa_request(nt_buf *out, req_state *st, const load_opts *o)
{
    int error = 0;
    TS_REQ *req = NULL;
    TS_MSG_IMPRINT *imprint = NULL;
    X509_ALGOR *algor = NULL;
    ASN1_INTEGER *nonce = NULL;
    BIGNUM *bn = NULL;
    unsigned char *der = NULL;
    int der_len = 0;

    st->digest_len = (size_t)EVP_MD_get_size(o->md);
    NT_OSSL(RAND_bytes(st->digest, (int)st->digest_len), "RAND_bytes");
    NT_OSSL(RAND_bytes(st->nonce, sizeof(st->nonce)), "RAND_bytes");
    st->nonce[0] &= 0x7f; /* keep the INTEGER positive and 8 bytes wide for a simple compare */
    st->nonce[0] |= 0x01;

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
                         "POST %s HTTP/1.1\r\nHost: %s\r\n"
                         "Content-Type: application/timestamp-query\r\n"
                         "Content-Length: %d\r\n\r\n",
                         o->path, o->host, der_len));
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

static int build_evidence_request(nt_buf *out, req_state *st, const load_opts *o, uint64_t seq)
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
                         "POST %s HTTP/1.1\r\nHost: %s\r\n"
                         "Content-Type: application/json\r\n"
                         "Authorization: Bearer %s\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         o->path, o->host, o->api_key, body.len));
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

typedef enum reply_kind {
    REPLY_GRANTED = 0,
    REPLY_REJECTED = 1, /* a clean refusal: PKIStatus rejection, or HTTP 503 */
    REPLY_ERROR = 2,    /* anything else: wrong status, undecodable, mismatched echo */
} reply_kind;

/* The record file (--record) is shared by every thread. */
static pthread_mutex_t g_record_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *g_record;

static void record_write(const load_opts *o, const req_state *st, nt_bytes token)
{
    nt_buf line = NT_BUF_INIT;
    if (g_record == NULL) {
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
    fwrite(line.ptr, 1, line.len, g_record);
    fflush(g_record);
    pthread_mutex_unlock(&g_record_lock);
    nt_buf_dispose(&line);
}

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
    /* id-ct-TSTInfo 1.2.840.113549.1.9.16.1.4 (RFC 3161 2.4.2), id-signedData 1.2.840.113549.1.7.2 */
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
    if (der_take(&oid, &p, end, V_ASN1_UNIVERSAL, V_ASN1_OBJECT) < 0 ||
        oid.len != sizeof(oid_sd) || memcmp(oid.ptr, oid_sd, sizeof(oid_sd)) != 0 ||
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

static reply_kind check_tsa_reply(const load_opts *o, const req_state *st, int status,
                                  const uint8_t *body, size_t len, char *why, size_t why_len)
{
    reply_kind kind = REPLY_ERROR;
    const unsigned char *p;
    TS_STATUS_INFO *si = NULL;
    TS_TST_INFO *tst = NULL;
    nt_bytes si_der, tst_der;
    if (status != 200 && status != 503) {
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

static reply_kind check_evidence_reply(const load_opts *o, const req_state *st, int status,
                                       const uint8_t *body, size_t len, char *why, size_t why_len)
{
    reply_kind kind = REPLY_ERROR;
    receipt r;
    record rec;
    receipt_init(&r);
    if (status == 503) {
        return REPLY_REJECTED;
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

/* ------------------------------------------------------------------ the load run */

static volatile sig_atomic_t g_signalled;
static atomic_int g_stop;
static atomic_ullong g_started;

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_SENDING, CONN_RECEIVING };

typedef struct conn {
    int fd;
    enum conn_state state;
    nt_buf out;
    size_t out_off;
    nt_buf in;
    uint64_t started_ns;
    uint64_t retry_ns;
    int retired; /* the request cap is reached: no more requests from this one */
    req_state st;
} conn;

typedef struct worker {
    pthread_t thread;
    const load_opts *o;
    conn *conns;
    unsigned nconn;
    int ep;
    uint64_t deadline_ns;
    uint64_t granted, rejected, errors, http503;
    uint32_t *lat_us;
    size_t lat_len, lat_cap;
    char first_error[200];
} worker;

static void worker_note_error(worker *w, const char *why)
{
    w->errors++;
    if (w->first_error[0] == '\0') {
        snprintf(w->first_error, sizeof(w->first_error), "%s", why);
    }
}

static void conn_close(worker *w, conn *c, uint64_t retry_after_ns)
{
    if (c->fd >= 0) {
        (void)epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = CONN_IDLE;
    c->retry_ns = nt_mono_ns() + retry_after_ns;
}

static void conn_watch(worker *w, conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(w->ep, op, c->fd, &ev) < 0) {
        worker_note_error(w, "epoll_ctl failed");
        conn_close(w, c, LOAD_RECONNECT_NS);
    }
}

static void conn_send(worker *w, conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.ptr + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->state != CONN_SENDING) {
                c->state = CONN_SENDING;
                conn_watch(w, c, EPOLLOUT, EPOLL_CTL_MOD);
            }
            return;
        }
        if (n < 0) {
            char why[120];
            snprintf(why, sizeof(why), "send: %s", strerror(errno));
            worker_note_error(w, why);
            conn_close(w, c, LOAD_RECONNECT_NS);
            return;
        }
        c->out_off += (size_t)n;
    }
    c->state = CONN_RECEIVING;
    conn_watch(w, c, EPOLLIN, EPOLL_CTL_MOD);
}

/* Start the next request on c (connecting first if needed), unless the run is over. */
static void conn_start(worker *w, conn *c)
{
    const load_opts *o = w->o;
    if (atomic_load(&g_stop) || g_signalled || nt_mono_ns() >= w->deadline_ns) {
        return;
    }
    uint64_t seq = atomic_fetch_add(&g_started, 1);
    if (seq >= o->max_requests) {
        c->retired = 1;
        return;
    }
    int rc = o->evidence ? build_evidence_request(&c->out, &c->st, o, seq)
                         : build_tsa_request(&c->out, &c->st, o);
    if (rc < 0) {
        worker_note_error(w, nt_error_last());
        c->retired = 1;
        return;
    }
    c->out_off = 0;
    nt_buf_clear(&c->in);
    c->started_ns = nt_mono_ns();
    if (c->fd < 0) {
        if (sock_open(&c->fd, &o->addr, 1) < 0) {
            worker_note_error(w, nt_error_last());
            conn_close(w, c, LOAD_RECONNECT_NS);
            return;
        }
        c->state = CONN_CONNECTING;
        conn_watch(w, c, EPOLLOUT, EPOLL_CTL_ADD);
        return;
    }
    c->state = CONN_SENDING;
    conn_send(w, c);
}

static void worker_latency(worker *w, uint64_t ns)
{
    if (w->lat_len == w->lat_cap) {
        size_t cap = w->lat_cap ? w->lat_cap * 2 : 4096;
        uint32_t *p = nt_reallocarray(w->lat_us, cap, sizeof(*p));
        if (p == NULL) {
            return; /* statistics only: drop the sample rather than the run */
        }
        w->lat_us = p;
        w->lat_cap = cap;
    }
    uint64_t us = ns / 1000;
    w->lat_us[w->lat_len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void conn_complete(worker *w, conn *c, const http_resp *r)
{
    const load_opts *o = w->o;
    char why[200] = "";
    const uint8_t *body = c->in.ptr + r->header_len;
    reply_kind k = o->evidence ? check_evidence_reply(o, &c->st, r->status, body, r->body_len, why,
                                                      sizeof(why))
                               : check_tsa_reply(o, &c->st, r->status, body, r->body_len, why,
                                                 sizeof(why));
    if (r->status == 503) {
        w->http503++;
    }
    if (k == REPLY_GRANTED) {
        w->granted++;
    } else if (k == REPLY_REJECTED) {
        w->rejected++;
        if (o->stop_on_reject) {
            atomic_store(&g_stop, 1);
        }
    } else {
        worker_note_error(w, why);
    }
    if (k != REPLY_ERROR) {
        worker_latency(w, nt_mono_ns() - c->started_ns);
    }
    if (r->close || c->in.len != r->header_len + r->body_len) {
        conn_close(w, c, 0);
    } else {
        c->state = CONN_IDLE;
    }
}

static void conn_receive(worker *w, conn *c)
{
    for (;;) {
        if (nt_buf_grow(&c->in, 16384) < 0) {
            worker_note_error(w, "out of memory");
            conn_close(w, c, LOAD_RECONNECT_NS);
            return;
        }
        ssize_t n = recv(c->fd, c->in.ptr + c->in.len, c->in.cap - c->in.len - 1, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            char why[120];
            snprintf(why, sizeof(why), "connection lost before the response was complete (%s)",
                     n == 0 ? "closed by the server" : strerror(errno));
            worker_note_error(w, why);
            conn_close(w, c, LOAD_RECONNECT_NS);
            return;
        }
        c->in.len += (size_t)n;
        c->in.ptr[c->in.len] = 0;
        http_resp r;
        int rc = http_parse(&r, c->in.ptr, c->in.len);
        if (rc < 0) {
            worker_note_error(w, nt_error_last());
            conn_close(w, c, 0);
            return;
        }
        if (rc == 1) {
            conn_complete(w, c, &r);
            if (c->state == CONN_IDLE && c->fd >= 0) {
                conn_start(w, c);
            }
            return;
        }
    }
}

static void conn_event(worker *w, conn *c, uint32_t events)
{
    if (c->state == CONN_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
            char why[120];
            snprintf(why, sizeof(why), "connect: %s", strerror(err ? err : errno));
            worker_note_error(w, why);
            conn_close(w, c, LOAD_RECONNECT_NS);
            return;
        }
        c->state = CONN_SENDING;
        conn_send(w, c);
        return;
    }
    if (c->state == CONN_SENDING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        conn_send(w, c);
        return;
    }
    if (c->state == CONN_RECEIVING) {
        conn_receive(w, c);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event events[64];
    for (;;) {
        uint64_t now = nt_mono_ns();
        if (now >= w->deadline_ns || g_signalled) {
            break;
        }
        /* --stop-on-reject drains: requests in flight are answered and
         * counted, so the client's count of granted tokens is exact. */
        int stopping = atomic_load(&g_stop);
        unsigned busy = 0;
        for (unsigned i = 0; i < w->nconn; i++) {
            conn *c = &w->conns[i];
            if (c->state == CONN_IDLE && !c->retired && !stopping && c->retry_ns <= now) {
                conn_start(w, c);
            }
            busy += c->state != CONN_IDLE || (!c->retired && !stopping);
        }
        if (busy == 0) {
            break; /* request cap reached or stopping, and nothing in flight */
        }
        uint64_t left_ms = (w->deadline_ns - now) / 1000000 + 1;
        int timeout = left_ms < 10 ? (int)left_ms : 10;
        int n = epoll_wait(w->ep, events, (int)NT_ARRAY_LEN(events), timeout);
        for (int i = 0; i < n; i++) {
            conn_event(w, events[i].data.ptr, events[i].events);
        }
    }
    for (unsigned i = 0; i < w->nconn; i++) {
        conn_close(w, &w->conns[i], 0);
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(const uint32_t *sorted, size_t n, double q)
{
    if (n == 0) {
        return 0.0;
    }
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return (double)sorted[i] / 1000.0;
}

static void on_signal(int sig)
{
    (void)sig;
    g_signalled = 1;
}

/* User + system CPU seconds of this process so far (all threads). */
static double process_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0.0;
    }
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int load_run(const load_opts *o)
{
    int error = 0;
    worker *ws = NULL;
    conn *conns = NULL;
    uint32_t *all = NULL;
    unsigned started = 0;
    uint64_t granted = 0, rejected = 0, errors = 0, http503 = 0;
    size_t nlat = 0;
    uint64_t t0 = nt_mono_ns();
    double cpu0 = process_cpu_s();

    NT_ENSURE((ws = nt_calloc(o->threads, sizeof(*ws))) != NULL, NT_ENOMEM, "out of memory");
    NT_ENSURE((conns = nt_calloc(o->connections, sizeof(*conns))) != NULL, NT_ENOMEM,
              "out of memory");
    for (unsigned i = 0; i < o->connections; i++) {
        conns[i].fd = -1;
        conns[i].state = CONN_IDLE;
    }
    uint64_t deadline = t0 + (uint64_t)(o->duration_s * 1e9);
    unsigned next = 0;
    for (unsigned t = 0; t < o->threads; t++) {
        worker *w = &ws[t];
        unsigned share = o->connections / o->threads + (t < o->connections % o->threads);
        w->o = o;
        w->conns = conns + next;
        w->nconn = share;
        w->deadline_ns = deadline;
        next += share;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        NT_ENSURE(w->ep >= 0, NT_EIO, "epoll_create1: %s", strerror(errno));
    }
    for (; started < o->threads; started++) {
        NT_ENSURE(pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) == 0,
                  NT_ERROR, "pthread_create failed");
    }
done:
    for (unsigned t = 0; t < started; t++) {
        pthread_join(ws[t].thread, NULL);
    }
    if (ws != NULL && error == 0) {
        double elapsed = (double)(nt_mono_ns() - t0) / 1e9;
        const char *first_error = "";
        for (unsigned t = 0; t < o->threads; t++) {
            granted += ws[t].granted;
            rejected += ws[t].rejected;
            errors += ws[t].errors;
            http503 += ws[t].http503;
            nlat += ws[t].lat_len;
            if (first_error[0] == '\0') {
                first_error = ws[t].first_error;
            }
        }
        all = nlat ? nt_calloc(nlat, sizeof(*all)) : NULL;
        size_t k = 0;
        for (unsigned t = 0; t < o->threads && all != NULL; t++) {
            if (ws[t].lat_len > 0) {
                memcpy(all + k, ws[t].lat_us, ws[t].lat_len * sizeof(*all));
                k += ws[t].lat_len;
            }
        }
        if (all == NULL) {
            nlat = 0;
        }
        if (nlat > 0) {
            qsort(all, nlat, sizeof(*all), cmp_u32);
        }
        uint64_t requests = granted + rejected + errors;
        double tps = elapsed > 0 ? (double)granted / elapsed : 0.0;
        double p50 = percentile_ms(all, nlat, 0.50), p90 = percentile_ms(all, nlat, 0.90);
        double p99 = percentile_ms(all, nlat, 0.99), pmax = percentile_ms(all, nlat, 1.0);
        /* This tool's own CPU, to tell how much of the machine the client took. */
        double cpu = process_cpu_s() - cpu0;
        double cores = elapsed > 0 ? cpu / elapsed : 0.0;
        double cpu_us = requests > 0 ? cpu * 1e6 / (double)requests : 0.0;
        printf("target      http://%s%s (%s)\n", o->host, o->path,
               o->evidence ? "evidence" : "rfc3161");
        printf("connections %u over %u threads, %.2f s\n", o->connections, o->threads, elapsed);
        printf("requests    %llu\n", (unsigned long long)requests);
        printf("granted     %llu\n", (unsigned long long)granted);
        printf("rejected    %llu (HTTP 503: %llu)\n", (unsigned long long)rejected,
               (unsigned long long)http503);
        printf("errors      %llu%s%s\n", (unsigned long long)errors, errors ? "  first: " : "",
               errors ? first_error : "");
        printf("tokens/s    %.1f\n", tps);
        printf("latency ms  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", p50, p90, p99, pmax);
        printf("client cpu  %.2f s = %.2f cores, %.1f us per request\n", cpu, cores, cpu_us);
        printf("RESULT requests=%llu granted=%llu rejected=%llu errors=%llu tps=%.1f "
               "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f client_cores=%.2f "
               "client_us_per_req=%.1f\n",
               (unsigned long long)requests, (unsigned long long)granted,
               (unsigned long long)rejected, (unsigned long long)errors, tps, p50, p90, p99, pmax,
               cores, cpu_us);
        fflush(stdout);
    }
    for (unsigned t = 0; ws != NULL && t < o->threads; t++) {
        if (ws[t].ep > 0) {
            close(ws[t].ep);
        }
        nt_free(ws[t].lat_us);
    }
    for (unsigned i = 0; conns != NULL && i < o->connections; i++) {
        nt_buf_dispose(&conns[i].out);
        nt_buf_dispose(&conns[i].in);
    }
    nt_free(all);
    nt_free(conns);
    nt_free(ws);
    if (error == 0 && errors > 0) {
        return 1;
    }
    return error;
}

/* ------------------------------------------------------------------ blocking client for checks */

typedef struct client {
    const load_opts *o;
    int fd;
    nt_buf in;
} client;

static void client_close(client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
}

/* GET path; the body replaces body_out's contents.  One retry on a stale keep-alive connection. */
static int client_get(int *status_out, nt_buf *body_out, client *c, const char *path)
{
    int error = 0;
    nt_buf req = NT_BUF_INIT;
    NT_TRY(nt_buf_printf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n", path,
                         c->o->host));
    for (int attempt = 0;; attempt++) {
        int reused = c->fd >= 0;
        if (c->fd < 0) {
            NT_TRY(sock_open(&c->fd, &c->o->addr, 0));
            struct timeval tv = {.tv_sec = LOAD_CHECK_TIMEOUT_S};
            (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        }
        size_t off = 0;
        int failed = 0;
        while (off < req.len && !failed) {
            ssize_t n = send(c->fd, req.ptr + off, req.len - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            failed = n <= 0;
            off += failed ? 0 : (size_t)n;
        }
        nt_buf_clear(&c->in);
        http_resp r;
        int rc = 0;
        while (!failed && rc == 0) {
            NT_TRY(nt_buf_grow(&c->in, 65536));
            ssize_t n = recv(c->fd, c->in.ptr + c->in.len, c->in.cap - c->in.len - 1, 0);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                failed = 1;
                break;
            }
            c->in.len += (size_t)n;
            NT_TRY(rc = http_parse(&r, c->in.ptr, c->in.len));
        }
        if (failed) {
            client_close(c);
            NT_ENSURE(reused && attempt == 0 && c->in.len == 0, NT_EIO, "GET %s: connection failed",
                      path);
            continue;
        }
        *status_out = r.status;
        NT_TRY(nt_buf_set(body_out, c->in.ptr + r.header_len, r.body_len));
        if (r.close) {
            client_close(c);
        }
        break;
    }
done:
    nt_buf_dispose(&req);
    return error;
}

static int vkey_load(note_verifier *out, const char *path)
{
    int error = 0;
    nt_buf text = NT_BUF_INIT;
    NT_TRY(nt_file_read(&text, path, 4096));
    NT_TRY(note_vkey_parse(out, (const char *)text.ptr, text.len));
done:
    nt_buf_dispose(&text);
    return error;
}

/* A checkpoint reply is the signed note itself; tolerate a JSON wrapper {"checkpoint": "..."}. */
static int checkpoint_text(nt_buf *note)
{
    int error = 0;
    json_t *root = NULL;
    if (note->len == 0 || note->ptr[0] != '{') {
        return 0;
    }
    json_error_t jerr;
    root = json_loadb((const char *)note->ptr, note->len, 0, &jerr);
    const char *s = json_string_value(json_object_get(root, "checkpoint"));
    NT_ENSURE(s != NULL, NT_EINVAL, "checkpoint reply is neither a note nor {\"checkpoint\":...}");
    NT_TRY(nt_buf_set(note, s, strlen(s)));
done:
    json_decref(root);
    return error;
}

/*
 * Check one receipt against what the client received: same token bytes,
 * a leaf that holds that token and digest, and (with a vkey) an inclusion
 * proof that leads to the root of the receipt's signed checkpoint.
 */
static int receipt_check(const receipt *r, nt_bytes digest, record_alg alg, nt_bytes token,
                         const note_verifier *v)
{
    int error = 0;
    record rec;
    checkpoint cp;
    if (r->token.len != token.len || memcmp(r->token.ptr, token.ptr, token.len) != 0) {
        return nt_error_set(NT_EVERIFY, "receipt token differs from the token the client got");
    }
    NT_TRY(record_decode(&rec, r->leaf.ptr, r->leaf.len));
    NT_ENSURE(rec.alg == alg && rec.digest.len == digest.len &&
                  memcmp(rec.digest.ptr, digest.ptr, digest.len) == 0,
              NT_EVERIFY, "leaf digest differs");
    NT_ENSURE(rec.token.len == token.len && memcmp(rec.token.ptr, token.ptr, token.len) == 0,
              NT_EVERIFY, "leaf token differs from the token the client got");
    if (v != NULL) {
        uint8_t leaf_hash[MERKLE_HASH_SIZE];
        NT_TRY(checkpoint_open(&cp, (const char *)r->checkpoint.ptr, r->checkpoint.len, v, 0));
        NT_ENSURE(cp.size == r->tree_size, NT_EVERIFY, "proof size %llu != checkpoint size %llu",
                  (unsigned long long)r->tree_size, (unsigned long long)cp.size);
        merkle_leaf_hash(leaf_hash, r->leaf.ptr, r->leaf.len);
        NT_TRY(merkle_verify_inclusion(leaf_hash, r->leaf_index, r->tree_size, r->proof.ptr,
                                       r->proof.len, cp.root));
    }
done:
    return error;
}

static int check_records(const load_opts *o)
{
    int error = 0;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    client c = {.o = o, .fd = -1, .in = NT_BUF_INIT};
    nt_buf body = NT_BUF_INIT, digest = NT_BUF_INIT, token = NT_BUF_INIT, path = NT_BUF_INIT;
    note_verifier v, *vp = NULL;
    uint64_t total = 0, ok = 0, missing = 0, bad = 0;

    if (o->vkey_path != NULL) {
        NT_TRY(vkey_load(&v, o->vkey_path));
        vp = &v;
    }
    f = fopen(o->check_records, "r");
    NT_ENSURE(f != NULL, NT_EIO, "%s: %s", o->check_records, strerror(errno));
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        /* A line cut short (the writer was killed mid-line) has no newline: skip it. */
        if (line[n - 1] != '\n') {
            break;
        }
        line[--n] = '\0';
        char *colon = strchr(line, ':'), *space = strchr(line, ' ');
        record_alg alg;
        NT_ENSURE(colon != NULL && space != NULL && colon < space, NT_EINVAL,
                  "%s: malformed record line", o->check_records);
        *colon = '\0';
        NT_TRY(record_alg_from_name(&alg, line));
        *colon = ':';
        nt_buf_clear(&digest);
        nt_buf_clear(&token);
        NT_TRY(nt_hex_decode(&digest, colon + 1, (size_t)(space - colon - 1)));
        NT_TRY(nt_base64_decode(&token, space + 1, strlen(space + 1)));
        *space = '\0';
        total++;

        nt_buf_clear(&path);
        NT_TRY(nt_buf_printf(&path, "/v1/receipts?digest=%s", line));
        int status = 0;
        NT_TRY(client_get(&status, &body, &c, nt_buf_cstr(&path)));
        json_error_t jerr;
        json_t *root = status == 200 ? json_loadb((const char *)body.ptr, body.len, 0, &jerr) : NULL;
        json_t *list = json_object_get(root, "receipts");
        int found = 0;
        const char *why = status == 200 ? "no receipt for this digest" : "HTTP status";
        for (size_t i = 0; i < json_array_size(list) && !found; i++) {
            json_t *item = json_array_get(list, i);
            char *text = json_is_string(item) ? NULL : json_dumps(item, JSON_COMPACT);
            const char *s = text != NULL ? text : json_string_value(item);
            receipt r;
            receipt_init(&r);
            if (s == NULL || receipt_decode(&r, s, strlen(s)) < 0 ||
                receipt_check(&r, nt_buf_bytes(&digest), alg, nt_buf_bytes(&token), vp) < 0) {
                why = nt_error_last();
            } else {
                found = 1;
            }
            receipt_dispose(&r);
            free(text);
        }
        json_decref(root);
        if (found) {
            ok++;
        } else {
            if (json_array_size(list) == 0) {
                missing++;
            } else {
                bad++;
            }
            if (missing + bad <= 5) {
                fprintf(stderr, "notarium-load: %s: %s (HTTP %d)\n", line, why, status);
            }
        }
    }
    printf("records %llu  receipts ok %llu  missing %llu  bad %llu\n", (unsigned long long)total,
           (unsigned long long)ok, (unsigned long long)missing, (unsigned long long)bad);
    if (missing + bad > 0) {
        error = nt_error_set(NT_EVERIFY, "%llu of %llu tokens have no matching receipt",
                             (unsigned long long)(missing + bad), (unsigned long long)total);
    }
done:
    if (f != NULL) {
        fclose(f);
    }
    free(line);
    client_close(&c);
    nt_buf_dispose(&c.in);
    nt_buf_dispose(&body);
    nt_buf_dispose(&digest);
    nt_buf_dispose(&token);
    nt_buf_dispose(&path);
    return error;
}

static int check_consistency(const load_opts *o)
{
    int error = 0;
    client c = {.o = o, .fd = -1, .in = NT_BUF_INIT};
    nt_buf old_note = NT_BUF_INIT, new_note = NT_BUF_INIT, body = NT_BUF_INIT, path = NT_BUF_INIT;
    nt_buf proof = NT_BUF_INIT;
    note_verifier v;
    checkpoint old_cp, new_cp;
    json_t *root = NULL;
    int status = 0, have_old = 0;

    NT_ENSURE(o->vkey_path != NULL, NT_EINVAL, "--check-consistency needs --vkey");
    NT_TRY(vkey_load(&v, o->vkey_path));
    if (nt_path_exists(o->check_consistency)) {
        NT_TRY(nt_file_read(&old_note, o->check_consistency, NOTE_MAX_SIZE));
        NT_TRY(checkpoint_open(&old_cp, (const char *)old_note.ptr, old_note.len, &v, 0));
        have_old = 1;
    }
    NT_TRY(client_get(&status, &new_note, &c, "/v1/checkpoint"));
    NT_ENSURE(status == 200, NT_EVERIFY, "GET /v1/checkpoint: HTTP %d", status);
    NT_TRY(checkpoint_text(&new_note));
    NT_TRY(checkpoint_open(&new_cp, (const char *)new_note.ptr, new_note.len, &v, 0));
    if (have_old) {
        /* RFC 9162 2.1.4: the log only grows, so the later head must extend the earlier one. */
        NT_ENSURE(new_cp.size >= old_cp.size, NT_EVERIFY, "tree size went down: %llu -> %llu",
                  (unsigned long long)old_cp.size, (unsigned long long)new_cp.size);
        if (old_cp.size > 0 && old_cp.size < new_cp.size) {
            NT_TRY(nt_buf_printf(&path, "/v1/proof/consistency?from=%llu&to=%llu",
                                 (unsigned long long)old_cp.size, (unsigned long long)new_cp.size));
            NT_TRY(client_get(&status, &body, &c, nt_buf_cstr(&path)));
            NT_ENSURE(status == 200, NT_EVERIFY, "GET %s: HTTP %d", nt_buf_cstr(&path), status);
            json_error_t jerr;
            root = json_loadb((const char *)body.ptr, body.len, 0, &jerr);
            json_t *hashes = json_object_get(root, "hashes");
            NT_ENSURE(json_is_array(hashes), NT_EINVAL, "consistency proof without \"hashes\"");
            for (size_t i = 0; i < json_array_size(hashes); i++) {
                const char *h = json_string_value(json_array_get(hashes, i));
                size_t before = proof.len;
                NT_ENSURE(h != NULL, NT_EINVAL, "hashes[%zu] is not a string", i);
                NT_TRY(nt_base64_decode(&proof, h, strlen(h)));
                NT_ENSURE(proof.len - before == MERKLE_HASH_SIZE, NT_EINVAL,
                          "hashes[%zu] is not 32 bytes", i);
            }
        }
        NT_TRY(merkle_verify_consistency(old_cp.size, new_cp.size, old_cp.root, new_cp.root,
                                         proof.ptr, proof.len));
        printf("consistent %llu -> %llu (%zu hashes)\n", (unsigned long long)old_cp.size,
               (unsigned long long)new_cp.size, proof.len / MERKLE_HASH_SIZE);
    } else {
        printf("checkpoint %llu (signature ok; no earlier checkpoint to compare)\n",
               (unsigned long long)new_cp.size);
    }
    if (o->save_checkpoint != NULL) {
        NT_TRY(nt_file_write_atomic(o->save_checkpoint, new_note.ptr, new_note.len, 0644));
    }
done:
    json_decref(root);
    client_close(&c);
    nt_buf_dispose(&c.in);
    nt_buf_dispose(&old_note);
    nt_buf_dispose(&new_note);
    nt_buf_dispose(&body);
    nt_buf_dispose(&path);
    nt_buf_dispose(&proof);
    return error;
}

/* ------------------------------------------------------------------ main */

static int opts_parse(load_opts *o, int argc, char **argv)
{
    int error = 0;
    const char *url = NULL, *url_path = NULL, *alg = "sha256";
    int threads_set = 0;
    uint64_t v = 0;

    memset(o, 0, sizeof(*o));
    o->connections = 4;
    o->duration_s = 10.0;
    o->max_requests = LOAD_DEFAULT_MAX_REQUESTS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--evidence") == 0) {
            o->evidence = 1;
            takes = 0;
        } else if (strcmp(a, "--stop-on-reject") == 0) {
            o->stop_on_reject = 1;
            takes = 0;
        } else if (next == NULL) {
            NT_ENSURE(0, NT_EINVAL, "unknown option or missing value: %s", a);
        } else if (strcmp(a, "--url") == 0) {
            url = next;
        } else if (strcmp(a, "--url-path") == 0) {
            url_path = next;
        } else if (strcmp(a, "--connections") == 0) {
            NT_TRY(parse_uint(&v, next, 1, LOAD_MAX_CONNECTIONS, "--connections"));
            o->connections = (unsigned)v;
        } else if (strcmp(a, "--threads") == 0) {
            NT_TRY(parse_uint(&v, next, 1, LOAD_MAX_THREADS, "--threads"));
            o->threads = (unsigned)v;
            threads_set = 1;
        } else if (strcmp(a, "--duration") == 0) {
            char *end = NULL;
            o->duration_s = strtod(next, &end);
            NT_ENSURE(end != next && *end == '\0' && o->duration_s > 0 &&
                          o->duration_s <= LOAD_MAX_DURATION_S,
                      NT_EINVAL, "--duration must be seconds in (0, %.0f]", LOAD_MAX_DURATION_S);
        } else if (strcmp(a, "--max-requests") == 0) {
            NT_TRY(parse_uint(&o->max_requests, next, 1, LOAD_HARD_MAX_REQUESTS, "--max-requests"));
        } else if (strcmp(a, "--alg") == 0) {
            alg = next;
        } else if (strcmp(a, "--api-key") == 0) {
            o->api_key = next;
        } else if (strcmp(a, "--record") == 0) {
            o->record_path = next;
        } else if (strcmp(a, "--check-records") == 0) {
            o->check_records = next;
        } else if (strcmp(a, "--check-consistency") == 0) {
            o->check_consistency = next;
        } else if (strcmp(a, "--vkey") == 0) {
            o->vkey_path = next;
        } else if (strcmp(a, "--save-checkpoint") == 0) {
            o->save_checkpoint = next;
        } else {
            NT_ENSURE(0, NT_EINVAL, "unknown option: %s", a);
        }
        i += takes;
    }
    NT_ENSURE(url != NULL, NT_EINVAL, "--url is required");
    NT_TRY(url_parse(o, url));
    if (url_path != NULL) {
        NT_ENSURE(url_path[0] == '/' && strlen(url_path) < sizeof(o->path) &&
                      strpbrk(url_path, " \r\n") == NULL,
                  NT_EINVAL, "bad --url-path");
        snprintf(o->path, sizeof(o->path), "%s", url_path);
    }
    NT_TRY(record_alg_from_name(&o->alg, alg));
    o->md = EVP_get_digestbynid(record_alg_nid(o->alg));
    NT_ENSURE(o->md != NULL, NT_EINVAL, "digest %s not available", alg);
    if (o->evidence) {
        NT_ENSURE(o->api_key != NULL && o->api_key[0] != '\0' && strpbrk(o->api_key, "\r\n") == NULL,
                  NT_EINVAL, "--evidence needs --api-key KEY");
        if (url_path == NULL && (strcmp(o->path, "/") == 0 || strcmp(o->path, "/tsa") == 0)) {
            snprintf(o->path, sizeof(o->path), "/v1/evidence");
        }
    }
    if (!threads_set) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads = cpus > 0 && (unsigned long)cpus < o->connections ? (unsigned)cpus
                                                                       : o->connections;
    }
    if (o->threads > o->connections) {
        o->threads = o->connections;
    }
done:
    return error;
}

int main(int argc, char **argv)
{
    load_opts o;
    int rc = 0;
    if (opts_parse(&o, argc, argv) < 0) {
        fprintf(stderr, "notarium-load: %s\n", nt_error_last());
        usage(stderr);
        return 2;
    }
    if (o.check_records != NULL || o.check_consistency != NULL) {
        if (o.check_records != NULL) {
            rc = check_records(&o);
        }
        if (rc == 0 && o.check_consistency != NULL) {
            rc = check_consistency(&o);
        }
        if (rc < 0) {
            fprintf(stderr, "notarium-load: check failed: %s\n", nt_error_last());
            return 1;
        }
        return 0;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (o.record_path != NULL) {
        g_record = fopen(o.record_path, "a");
        if (g_record == NULL) {
            fprintf(stderr, "notarium-load: %s: %s\n", o.record_path, strerror(errno));
            return 1;
        }
    }
    rc = load_run(&o);
    if (g_record != NULL) {
        fclose(g_record);
    }
    if (rc < 0) {
        fprintf(stderr, "notarium-load: %s\n", nt_error_last());
        return 1;
    }
    return rc;
}
