/*
 * url_test.c - URL credential redaction (util/url.c): a password in the
 * userinfo never shows, everything else of the URL does; in a message every
 * occurrence of the URL is redacted; outputs too small are cut, never overrun.
 */
#include "tests/unit/test.h"

static void check_redact(const char *url, const char *want)
{
    char out[256];
    nt_url_redact(out, sizeof(out), url);
    CHECK_STR(out, want);
}

static void test_redact(void)
{
    check_redact("https://user:secret@example.com/log.git", "https://user:***@example.com/log.git");
    check_redact("https://user:s3cr:et@host:8443/x", "https://user:***@host:8443/x");
    /* the last '@' of the authority ends the userinfo */
    check_redact("https://u:p@ss@host/r", "https://u:***@host/r");
    /* an '@' after the authority is not userinfo */
    check_redact("https://host/a:b@c", "https://host/a:b@c");
    check_redact("https://token@host/r.git", "https://token@host/r.git");
    check_redact("ssh://git@host:22/r.git", "ssh://git@host:22/r.git");
    check_redact("git@host:r.git", "git@host:r.git");
    check_redact("/srv/mirror.git", "/srv/mirror.git");
    check_redact("", "");
    /* cut to fit; the password never shows */
    char small[12];
    nt_url_redact(small, sizeof(small), "https://user:secret@h/");
    CHECK_STR(small, "https://use");
    nt_url_redact(small, sizeof(small), "https://u:secretsecret@h/");
    CHECK_STR(small, "https://u:*");
}

static void test_redact_in(void)
{
    char out[256];
    const char *url = "https://u:pw@h/r.git";
    nt_url_redact_in(out, sizeof(out),
                     "push to https://u:pw@h/r.git: failed (https://u:pw@h/r.git)", url);
    CHECK_STR(out, "push to https://u:***@h/r.git: failed (https://u:***@h/r.git)");
    CHECK(strstr(out, "pw") == NULL);
    nt_url_redact_in(out, sizeof(out), "no url here", url);
    CHECK_STR(out, "no url here");
    /* nothing to hide: the message as it is */
    nt_url_redact_in(out, sizeof(out), "push to /srv/m.git failed", "/srv/m.git");
    CHECK_STR(out, "push to /srv/m.git failed");
    nt_url_redact_in(out, sizeof(out), "empty", "");
    CHECK_STR(out, "empty");
    /* cut to fit, NUL-terminated, the password never shows */
    char small[20];
    memset(small, 'Z', sizeof(small));
    nt_url_redact_in(small, sizeof(small), "push to https://u:pw@h/r.git: failed", url);
    CHECK(small[sizeof(small) - 1] == '\0');
    CHECK_STR(small, "push to https://u:*");
}

int main(void)
{
    test_redact();
    test_redact_in();
    return TEST_END();
}
