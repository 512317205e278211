/*
 * event_valid.c - the member rules of a case-event body (docs/FORMATS.md
 * "Case events"), declared in ledger/event.h and shared by the body builder
 * and the parser (event_parse.c).  Part of the pure `nt_merkle` library.
 *
 * The cases-server branch's ledger/event.c defines these same functions with
 * the same rules; once both are on main, this file goes (one definition).
 */
#include "ledger/event.h"

#include <string.h>

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"
#define UPPER        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* 1 when n is in [1, max] and every byte of s[0..n) is in `set`. */
static int charset_ok(const char *s, size_t n, size_t max, const char *set)
{
    if (s == NULL || n == 0 || n > max) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || strchr(set, s[i]) == NULL) {
            return 0;
        }
    }
    return 1;
}

int event_tenant_valid(const char *s, size_t n)
{
    return charset_ok(s, n, EVENT_TENANT_MAX, UPPER LOWER_DIGITS "._-");
}

int event_case_valid(const char *s, size_t n)
{
    return charset_ok(s, n, EVENT_CASE_MAX, UPPER LOWER_DIGITS "._:-");
}

int event_role_valid(const char *s, size_t n)
{
    return charset_ok(s, n, EVENT_ROLE_MAX, LOWER_DIGITS "._-");
}

int event_attr_name_valid(const char *s, size_t n)
{
    return n >= 1 && s[0] >= 'a' && s[0] <= 'z' &&
           charset_ok(s, n, EVENT_ATTR_NAME_MAX, LOWER_DIGITS "._-");
}

int event_kind_valid(const char *s, size_t n)
{
    static const char *const kinds[] = {
        "document.uploaded", "identity.verified", "intent.confirmed", "document.signed",
        "document.sent",     "document.viewed",   "document.stored",  "case.completed",
    };
    for (size_t i = 0; i < NT_ARRAY_LEN(kinds); i++) {
        if (n == strlen(kinds[i]) && memcmp(s, kinds[i], n) == 0) {
            return 1;
        }
    }
    return n > 2 && memcmp(s, "x-", 2) == 0 &&
           charset_ok(s + 2, n - 2, EVENT_KIND_MAX - 2, LOWER_DIGITS "._-");
}
