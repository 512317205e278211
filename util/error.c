/*
 * error.c - the thread-local error message behind nt_error_set / nt_error_last.
 * One message per thread, so request threads never see each other's errors.
 */
#include "util/util.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char error_msg[512];
static _Thread_local int error_code;

/* The format attribute lets clang check callers instead of warning on the non-literal here. */
static NT_PRINTF(2, 0) void error_vset(int code, const char *fmt, va_list ap)
{
    /* Format into a scratch buffer first: callers may pass nt_error_last() as an
     * argument ("%s: ...", nt_error_last()) to prefix the current message, and
     * vsnprintf into the buffer it reads from would be undefined behaviour. */
    char scratch[sizeof(error_msg)];
    vsnprintf(scratch, sizeof(scratch), fmt, ap);
    memcpy(error_msg, scratch, sizeof(error_msg));
    error_code = code;
}

int nt_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(code, fmt, ap);
    va_end(ap);
    return code;
}

int nt_error_ossl(const char *fmt, ...)
{
    va_list ap;
    unsigned long e;
    char detail[256] = "";
    size_t used;

    va_start(ap, fmt);
    error_vset(NT_ECRYPTO, fmt, ap);
    va_end(ap);

    e = ERR_peek_error();
    if (e != 0) {
        ERR_error_string_n(e, detail, sizeof(detail));
        used = strlen(error_msg);
        if (used + 3 < sizeof(error_msg)) {
            snprintf(error_msg + used, sizeof(error_msg) - used, ": %s", detail);
        }
    }
    ERR_clear_error();
    return NT_ECRYPTO;
}

const char *nt_error_last(void)
{
    return error_msg;
}

int nt_error_code(void)
{
    return error_code;
}

void nt_error_clear(void)
{
    error_msg[0] = '\0';
    error_code = 0;
}

int nt_error_state_capture(nt_error_state *st, int code)
{
    st->code = code;
    if (code == 0) {
        st->msg[0] = '\0';
    } else {
        snprintf(st->msg, sizeof(st->msg), "%s", error_msg);
    }
    return code;
}

int nt_error_state_restore(const nt_error_state *st)
{
    snprintf(error_msg, sizeof(error_msg), "%s", st->msg);
    error_code = st->code;
    return st->code;
}

const char *nt_error_name(int code)
{
    switch (code) {
    case NT_OK:
        return "NT_OK";
    case NT_ERROR:
        return "NT_ERROR";
    case NT_ENOMEM:
        return "NT_ENOMEM";
    case NT_EINVAL:
        return "NT_EINVAL";
    case NT_ENOTFOUND:
        return "NT_ENOTFOUND";
    case NT_EIO:
        return "NT_EIO";
    case NT_ECRYPTO:
        return "NT_ECRYPTO";
    case NT_EFULL:
        return "NT_EFULL";
    case NT_ECORRUPT:
        return "NT_ECORRUPT";
    case NT_EEXISTS:
        return "NT_EEXISTS";
    case NT_EBUSY:
        return "NT_EBUSY";
    case NT_ERANGE:
        return "NT_ERANGE";
    case NT_EUNSUPPORTED:
        return "NT_EUNSUPPORTED";
    case NT_EVERIFY:
        return "NT_EVERIFY";
    case NT_ESTATE:
        return "NT_ESTATE";
    default:
        return "NT_E?";
    }
}
