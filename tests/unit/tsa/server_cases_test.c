/*
 * server_cases_test.c - the per-case turn of tsa/server_cases.c, which
 * serialises the appends of one case (issue 11): the first request of a case
 * takes the turn at once, later ones queue and are woken one at a time, in
 * arrival order, each only when the previous one leaves; a waiter that is gone
 * (answered by a shutdown) passes the turn on; another case, or the same case
 * id under another tenant, is never held up; a case with CASE_WAITING_MAX
 * waiters refuses the next with 503 case_busy and changes nothing.  Also the
 * route matcher (server_case_path) and the request parser's event key
 * precedence (body or Idempotency-Key, both only when equal).
 */
#include "tests/unit/test.h"

#include "tsa/server_cases_int.h"

static int g_order[CASE_WAITING_MAX + 8];
static int g_woken;

typedef struct waiter {
    int id;
    int gone; /* 1: the request is no longer there (wake returns 0) */
} waiter;

static int wake(void *ctx)
{
    waiter *w = ctx;
    if (w->gone) {
        return 0;
    }
    g_order[g_woken++] = w->id;
    return 1;
}

static server_case_req *req(server *s, const char *tenant, const char *case_id)
{
    server_case_req *c = NULL;
    server_reply r;
    static const char body[] = "{\"event_key\":\"k\",\"kind\":\"document.viewed\"}";
    server_reply_init(&r);
    REQUIRE(server_case_parse(&c, &r, s, tenant, case_id, NT_BYTES(body, sizeof(body) - 1), NULL) ==
            0);
    server_reply_dispose(&r);
    return c;
}

static void test_turns(server *s)
{
    server_case_req *a = req(s, "t1", "c"), *b = req(s, "t1", "c"), *c = req(s, "t1", "c");
    server_case_req *d = req(s, "t1", "c"), *other = req(s, "t1", "c2"), *t2 = req(s, "t2", "c");
    waiter wb = {2, 0}, wc = {3, 1}, wd = {4, 0}, wo = {5, 0}, wt = {6, 0};
    server_reply r;

    server_reply_init(&r);
    g_woken = 0;
    CHECK(server_case_enter(&r, s, a, wake, NULL) == 1);
    CHECK(server_case_enter(&r, s, b, wake, &wb) == 0);
    CHECK(server_case_enter(&r, s, c, wake, &wc) == 0); /* will be gone */
    CHECK(server_case_enter(&r, s, d, wake, &wd) == 0);
    /* other cases go at once */
    CHECK(server_case_enter(&r, s, other, wake, &wo) == 1);
    CHECK(server_case_enter(&r, s, t2, wake, &wt) == 1);
    CHECK(g_woken == 0);
    server_case_leave(s, a);
    CHECK(g_woken == 1 && g_order[0] == 2);
    server_case_leave(s, a); /* a second leave is a no-op */
    CHECK(g_woken == 1);
    server_case_leave(s, b); /* c is gone: the turn goes to d */
    CHECK(g_woken == 2 && g_order[1] == 4);
    server_case_leave(s, d);
    CHECK(g_woken == 2);
    /* the case is free again: the next request takes the turn at once */
    CHECK(server_case_enter(&r, s, a, wake, NULL) == 1);
    server_case_leave(s, a);
    server_case_leave(s, other);
    server_case_leave(s, t2);
    CHECK(g_woken == 2);
    server_reply_dispose(&r);
    server_case_req_free(a);
    server_case_req_free(b);
    server_case_req_free(c);
    server_case_req_free(d);
    server_case_req_free(other);
    server_case_req_free(t2);
}

static void test_busy(server *s)
{
    server_case_req *holder = req(s, "t1", "busy"), *extra = req(s, "t1", "busy");
    server_case_req *q[CASE_WAITING_MAX];
    waiter w[CASE_WAITING_MAX], wx = {999, 0};
    server_reply r;

    server_reply_init(&r);
    g_woken = 0;
    CHECK(server_case_enter(&r, s, holder, wake, NULL) == 1);
    for (unsigned i = 0; i < CASE_WAITING_MAX; i++) {
        q[i] = req(s, "t1", "busy");
        w[i].id = (int)i;
        w[i].gone = 0;
        CHECK(server_case_enter(&r, s, q[i], wake, &w[i]) == 0);
    }
    CHECK(server_case_enter(&r, s, extra, wake, &wx) == -1);
    CHECK(r.status == 503 && r.retry_after > 0 && strstr(nt_buf_cstr(&r.body), "case_busy"));
    server_case_leave(s, extra); /* it holds nothing */
    CHECK(g_woken == 0);
    server_case_leave(s, holder);
    for (unsigned i = 0; i < CASE_WAITING_MAX; i++) {
        CHECK(g_woken == (int)i + 1 && g_order[i] == (int)i); /* arrival order */
        server_case_leave(s, q[i]);
        server_case_req_free(q[i]);
    }
    server_reply_dispose(&r);
    server_case_req_free(holder);
    server_case_req_free(extra);
}

static void test_paths_and_keys(server *s)
{
    char id[132];
    server_case_req *c = NULL;
    server_reply r;
    static const char no_key[] = "{\"kind\":\"document.viewed\"}";
    static const char with_key[] = "{\"event_key\":\"a\",\"kind\":\"document.viewed\"}";

    CHECK(server_case_path(id, "/v1/cases/c-1") == 1 && strcmp(id, "c-1") == 0);
    CHECK(server_case_path(id, "/v1/cases/c-1/events") == 2);
    CHECK(server_case_path(id, "/v1/cases/c-1/bundle") == 3);
    CHECK(server_case_path(id, "/v1/cases/") == 0);
    CHECK(server_case_path(id, "/v1/cases/c/other") == 0);
    CHECK(server_case_path(id, "/v1/cases/c/events/") == 0);
    CHECK(server_case_path(id, "/v1/casesx") == 0);

    server_reply_init(&r);
    CHECK(server_case_parse(&c, &r, s, "t", "c", NT_BYTES(no_key, sizeof(no_key) - 1), "h1") == 0);
    CHECK(c != NULL && strcmp(c->event_key, "h1") == 0);
    server_case_req_free(c);
    CHECK(server_case_parse(&c, &r, s, "t", "c", NT_BYTES(with_key, sizeof(with_key) - 1), "a") ==
          0);
    CHECK(c != NULL && strcmp(c->event_key, "a") == 0);
    server_case_req_free(c);
    c = NULL;
    CHECK(server_case_parse(&c, &r, s, "t", "c", NT_BYTES(with_key, sizeof(with_key) - 1), "b") <
          0);
    CHECK(c == NULL && r.status == 400 && strstr(nt_buf_cstr(&r.body), "event_key_conflict"));
    server_reply_dispose(&r);
    server_reply_init(&r);
    CHECK(server_case_parse(&c, &r, s, "t", "c", NT_BYTES(no_key, sizeof(no_key) - 1), NULL) < 0);
    CHECK(r.status == 400 && strstr(nt_buf_cstr(&r.body), "missing_event_key"));
    server_reply_dispose(&r);
}

int main(void)
{
    server s;

    memset(&s, 0, sizeof(s));
    REQUIRE(server_cases_new(&s.cases) == 0);
    test_turns(&s);
    test_busy(&s);
    test_paths_and_keys(&s);
    server_cases_free(s.cases);
    return TEST_END();
}
