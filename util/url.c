/*
 * url.c - URL credential redaction: what logs, /metrics and /healthz show of
 * a remote URL that may carry a password ("https://user:secret@host/...").
 * One rule for the mirror's push workers (ledger/mirror_push.c) and the
 * server's status pages (tsa/server.c).
 */
#include "util/util.h"

#include <stdio.h>
#include <string.h>

void nt_url_redact(char *out, size_t size, const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *auth = scheme != NULL ? scheme + 3 : NULL;
    const char *at = NULL, *colon = NULL;

    if (auth != NULL) {
        size_t n = strcspn(auth, "/?#");
        for (size_t i = 0; i < n; i++) {
            if (auth[i] == '@') {
                at = auth + i; /* the last '@' of the authority ends the userinfo */
            }
        }
        if (at != NULL) {
            colon = memchr(auth, ':', (size_t)(at - auth));
        }
    }
    if (colon == NULL) {
        snprintf(out, size, "%s", url);
        return;
    }
    snprintf(out, size, "%.*s***%s", (int)(colon + 1 - url), url, at);
}

void nt_url_redact_in(char *out, size_t size, const char *msg, const char *url)
{
    char shown[NT_URL_SHOWN_MAX];
    size_t n = 0, url_len = strlen(url);
    const char *hit;

    nt_url_redact(shown, sizeof(shown), url);
    if (url_len == 0 || strcmp(url, shown) == 0) {
        snprintf(out, size, "%s", msg);
        return;
    }
    out[0] = '\0';
    while ((hit = strstr(msg, url)) != NULL && n < size) {
        int w = snprintf(out + n, size - n, "%.*s%s", (int)(hit - msg), msg, shown);
        n += w > 0 ? (size_t)w : 0;
        msg = hit + url_len;
    }
    if (n < size) {
        snprintf(out + n, size - n, "%s", msg);
    }
}
