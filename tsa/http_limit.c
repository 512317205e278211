/*
 * http_limit.c - the HTTP side of the per-client rate limits (tsa/ratelimit.c holds the
 * buckets): which route class a request is, the client address and declared body length
 * libmicrohttpd knows, and the 429 sent.  Part of the HTTP front end (http_int.h).
 */
#include "tsa/http_int.h"

#include <string.h>

/* The rate-limit class (ratelimit.c's server_limit_classes) of a route; SERVER_LIMIT_CLASSES
 * when the route is not limited. */
static unsigned limit_class(http_route r)
{
    return r == ROUTE_TSA                                  ? SERVER_LIMIT_TSA
           : r == ROUTE_EVIDENCE                           ? SERVER_LIMIT_EVIDENCE
           : r == ROUTE_VERIFY || r == ROUTE_VERIFY_REPORT ? SERVER_LIMIT_VERIFY
                                                           : SERVER_LIMIT_CLASSES;
}

/* The 429 of a request over its rate limit (q->limited). */
enum MHD_Result http__send_limited(http_req *q)
{
    server_reply r;
    enum MHD_Result ret;
    server_reply_init(&r);
    server_limit_reply(&r, limit_class(q->route), &q->limit);
    ret = http__send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

/*
 * Per-client rate limits, decided from the headers alone: 1 when the request is refused
 * (q->limited).  A declared body of up to 64 KiB is then read and dropped before the 429,
 * so that the connection stays open (a reply before the body makes libmicrohttpd close it,
 * and a hammering client reconnecting per refusal costs more than the few bytes).
 */
int http__over_limit(http_req *q, enum MHD_Result *ret)
{
    const union MHD_ConnectionInfo *ci;
    uint8_t addr[16];
    uint64_t declared = 0;
    unsigned cls = limit_class(q->route);
    const char *length;

    if (q->s->limiter == NULL || cls >= SERVER_LIMIT_CLASSES) {
        return 0;
    }
    ci = MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    server__limit_address(addr, ci != NULL ? ci->client_addr : NULL);
    if (!server_limiter_take(&q->limit, q->s->limiter, cls, addr, q->key, q->start_ns)) {
        return 0;
    }
    q->limited = 1;
    length = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    *ret =
        length != NULL && nt_parse_u64(&declared, length, strlen(length)) == 0 && declared <= 65536
            ? MHD_YES
            : http__send_limited(q);
    return 1;
}
