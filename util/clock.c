/*
 * clock.c - the wall clock and the kernel's synchronisation state.  Both are
 * replaceable so that tests can step time backwards or pretend the clock is
 * unsynchronised without touching the machine's real clock.
 */
#include "util/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <sys/timex.h>

static _Atomic(nt_clock_source_fn) clock_fn;
static _Atomic(void *) clock_ctx;
static _Atomic(nt_clock_sync_fn) sync_fn;
static _Atomic(void *) sync_ctx;

void nt_clock_set_source(nt_clock_source_fn fn, void *ctx)
{
    atomic_store(&clock_ctx, ctx);
    atomic_store(&clock_fn, fn);
}

int nt_clock_now(struct timespec *out)
{
    nt_clock_source_fn fn = atomic_load(&clock_fn);
    if (fn != NULL) {
        return fn(out, atomic_load(&clock_ctx));
    }
    if (clock_gettime(CLOCK_REALTIME, out) != 0) {
        return nt_error_set(NT_EIO, "clock_gettime failed");
    }
    return 0;
}

void nt_clock_set_sync_source(nt_clock_sync_fn fn, void *ctx)
{
    atomic_store(&sync_ctx, ctx);
    atomic_store(&sync_fn, fn);
}

int nt_clock_sync_status(nt_clock_status *out)
{
    nt_clock_sync_fn fn = atomic_load(&sync_fn);
    struct timex tx = {0};
    int state;

    if (fn != NULL) {
        return fn(out, atomic_load(&sync_ctx));
    }
    state = adjtimex(&tx);
    if (state < 0) {
        out->sync = NT_CLOCK_UNKNOWN;
        out->max_error_us = out->est_error_us = -1;
        return 0;
    }
    out->sync =
        (state == TIME_ERROR || (tx.status & STA_UNSYNC)) ? NT_CLOCK_UNSYNCED : NT_CLOCK_SYNCED;
    out->max_error_us = tx.maxerror;
    out->est_error_us = tx.esterror;
    return 0;
}

const char *nt_clock_sync_name(nt_clock_sync s)
{
    switch (s) {
    case NT_CLOCK_SYNCED:
        return "synchronised";
    case NT_CLOCK_UNSYNCED:
        return "unsynchronised";
    default:
        return "unknown";
    }
}

uint64_t nt_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int nt_time_rfc3339(nt_buf *out, const struct timespec *ts, int digits)
{
    struct tm tm;
    char frac[16] = "";
    time_t sec = ts->tv_sec;

    if (gmtime_r(&sec, &tm) == NULL) {
        return nt_error_set(NT_EINVAL, "time out of range");
    }
    if (digits > 0) {
        long ns = ts->tv_nsec;
        long div = 1;
        for (int i = digits; i < 9; i++) {
            div *= 10;
        }
        snprintf(frac, sizeof(frac), ".%0*ld", digits > 9 ? 9 : digits, ns / div);
    }
    return nt_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}
