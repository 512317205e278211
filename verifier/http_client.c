/*
 * http_client.c - the verifier's HTTP client for `--tsa URL`: one RFC 3161
 * POST (3.4: application/timestamp-query out, application/timestamp-reply
 * back) through libcurl.  Part of nt_verifier, which otherwise never touches
 * the network.
 *
 * Why libcurl and not our own HTTP/1 code: users point --tsa at real TSAs,
 * which are https:// more often than not, sit behind proxies (http_proxy /
 * https_proxy / no_proxy from the environment, as every curl-based tool
 * honours them) and answer redirects; libcurl is the HTTP client of the
 * ecosystem, packaged by Debian (libcurl4-openssl-dev, the same OpenSSL the
 * rest of the verifier uses), and does all of that with time-outs we set.
 * What we still decide here: the schemes (http and https only, also across
 * redirects), no user information in the URL (a password in a report's
 * "verify it yourself" command would leak), a bounded answer, and the status
 * and media type we accept.  The token is signed, so the transport adds no
 * trust: TLS protects the request's privacy and the exchange's availability,
 * and the signature is checked by whoever reads the report.
 */
#include "verifier/verifier_int.h"

#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#define HTTP_CONNECT_TIMEOUT_S 10L
#define HTTP_TOTAL_TIMEOUT_S   30L
#define HTTP_MAX_REDIRECTS     3L
#define HTTP_MAX_BODY          (1u << 20)

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init;

static void curl_init_once(void)
{
    /* curl_global_init is not thread safe: once per process, never cleaned up (it is cheap). */
    g_curl_init = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------------------ URL */

int verifier__url_check(const char *url)
{
    int error = 0;
    CURLU *h = NULL;
    char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL, *fragment = NULL;

    NT_ENSURE(url != NULL && *url != '\0', NT_EINVAL, "--tsa: the URL is empty");
    for (const char *p = url; *p != '\0'; p++) {
        NT_ENSURE((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f, NT_EINVAL,
                  "--tsa: the URL contains a space or a control or non-ASCII character");
    }
    h = curl_url();
    NT_ENSURE(h != NULL, NT_ENOMEM, "out of memory parsing the --tsa URL");
    /* No default scheme: "tsa.example/tsa" is refused rather than guessed. */
    NT_ENSURE(curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK, NT_EINVAL,
              "--tsa: not a valid URL: %s", url);
    NT_ENSURE(curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                  (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0),
              NT_EINVAL, "--tsa: only http:// and https:// URLs are supported: %s", url);
    /* libcurl reads "http:///x" as host "x"; we do not guess. */
    NT_ENSURE(curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK && *host != '\0' &&
                  url[strlen(scheme) + 3] != '/',
              NT_EINVAL, "--tsa: the URL names no host: %s", url);
    NT_ENSURE(curl_url_get(h, CURLUPART_USER, &user, 0) != CURLUE_OK &&
                  curl_url_get(h, CURLUPART_PASSWORD, &password, 0) != CURLUE_OK,
              NT_EINVAL, "--tsa: user information in the URL is not supported");
    NT_ENSURE(curl_url_get(h, CURLUPART_FRAGMENT, &fragment, 0) != CURLUE_OK, NT_EINVAL,
              "--tsa: a URL fragment is not allowed");
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(password);
    curl_free(fragment);
    curl_url_cleanup(h);
    return error;
}

/* ------------------------------------------------------------------ POST */

typedef struct http_sink {
    nt_buf *body;
    int too_large;
    int oom;
} http_sink;

static size_t sink_write(char *data, size_t size, size_t n, void *ctx)
{
    http_sink *s = ctx;
    size_t len = size * n; /* libcurl guarantees size == 1 */
    if (s->body->len + len > HTTP_MAX_BODY) {
        s->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (nt_buf_put(s->body, data, len) < 0) {
        s->oom = 1;
        return 0;
    }
    return len;
}

/* "type/subtype; params" equals want_type, ignoring case and parameters. */
static int media_type_is(const char *value, const char *want_type)
{
    size_t n = strlen(want_type);
    if (value == NULL || strncasecmp(value, want_type, n) != 0) {
        return 0;
    }
    return value[n] == '\0' || value[n] == ';' || value[n] == ' ' || value[n] == '\t';
}

int verifier__http_post(nt_buf *body_out, const char *url, const char *content_type, nt_bytes body,
                        const char *want_type, const char *ca_file)
{
    int error = 0;
    CURL *c = NULL;
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char header[256];
    http_sink sink = {body_out, 0, 0};
    long status = 0;
    char *got_type = NULL;
    CURLcode rc;

    nt_buf_clear(body_out);
    NT_TRY(verifier__url_check(url));
    NT_ENSURE(body.len <= (size_t)LONG_MAX, NT_EINVAL, "request too large");
    pthread_once(&g_curl_once, curl_init_once);
    NT_ENSURE(g_curl_init == CURLE_OK, NT_EIO, "libcurl: %s", curl_easy_strerror(g_curl_init));
    c = curl_easy_init();
    NT_ENSURE(c != NULL, NT_ENOMEM, "out of memory starting an HTTP transfer");

    snprintf(header, sizeof(header), "Content-Type: %s", content_type);
    headers = curl_slist_append(headers, header);
    NT_ENSURE(headers != NULL, NT_ENOMEM, "out of memory building HTTP headers");
    snprintf(header, sizeof(header), "Accept: %s", want_type);
    struct curl_slist *more = curl_slist_append(headers, header);
    NT_ENSURE(more != NULL, NT_ENOMEM, "out of memory building HTTP headers");
    headers = more;
    /* No "Expect: 100-continue" round trip for a request of a few hundred bytes. */
    more = curl_slist_append(headers, "Expect:");
    NT_ENSURE(more != NULL, NT_ENOMEM, "out of memory building HTTP headers");
    headers = more;

    int ok = curl_easy_setopt(c, CURLOPT_URL, url) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_MAXREDIRS, HTTP_MAX_REDIRECTS) == CURLE_OK &&
             /* a 301/302/303 keeps the POST and its body: RFC 3161 has no GET */
             curl_easy_setopt(c, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_TIMEOUT_S) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_TIMEOUT, HTTP_TOTAL_TIMEOUT_S) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body.ptr) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_USERAGENT, "notarium-verify") == CURLE_OK &&
             (ca_file == NULL || curl_easy_setopt(c, CURLOPT_CAINFO, ca_file) == CURLE_OK);
    NT_ENSURE(ok, NT_ENOMEM, "setting up the HTTP transfer failed");

    rc = curl_easy_perform(c);
    NT_ENSURE(!sink.oom, NT_ENOMEM, "out of memory reading the TSA's answer");
    NT_ENSURE(!sink.too_large, NT_EVERIFY, "the TSA's answer is larger than %u bytes",
              HTTP_MAX_BODY);
    /* A TSA that answers with a loop or an odd scheme refused; one that cannot be reached is I/O.
     */
    NT_ENSURE(rc != CURLE_TOO_MANY_REDIRECTS, NT_EVERIFY, "more than %ld redirects from %s",
              HTTP_MAX_REDIRECTS, url);
    NT_ENSURE(rc != CURLE_UNSUPPORTED_PROTOCOL, NT_EVERIFY,
              "%s redirects to a URL that is not http:// or https://", url);
    NT_ENSURE(rc == CURLE_OK, NT_EIO, "%s: %s", url,
              errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    NT_ENSURE(status == 200, NT_EVERIFY, "%s answered HTTP %ld, not 200", url, status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &got_type);
    NT_ENSURE(media_type_is(got_type, want_type), NT_EVERIFY, "%s answered Content-Type %s, not %s",
              url, got_type != NULL ? got_type : "(none)", want_type);
done:
    if (error < 0) {
        nt_buf_clear(body_out);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return error;
}
