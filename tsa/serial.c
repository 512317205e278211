/*
 * serial.c - the TSA's only mutable shared state: serial numbers, the
 * monotonic genTime and the clock policy.  Everything here is lock-free (C11
 * atomics), so any number of threads can issue tokens at once; the structure
 * of the serial and the genTime rule are pinned in docs/TOKEN-PROFILE.md.
 */
#include "tsa/core_int.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

/*
 * RFC 3161 2.4.2: "serialNumber is an integer assigned by the TSA to each
 * TimeStampToken.  It MUST be unique for each TimeStampToken issued by a
 * given TSA (i.e., the TSA name and serial number identify a unique
 * TimeStampToken)."  and "TSAs MUST be prepared to accommodate integers up to
 * 160 bits."
 *
 * Uniqueness comes from the structure, not from luck: node_id is distinct per
 * node, boot_epoch strictly increases at every start of a node, and the
 * counter never repeats within one process.  The 32 random bits only make the
 * next serial unguessable.  The first bit is always 0 so the INTEGER is
 * positive; the counter starts at 1 so the value is never 0.
 */
int tsa__serial_next(uint8_t out[TSA_SERIAL_BYTES], tsa *t)
{
    uint64_t counter = atomic_fetch_add(&t->seq->serial_counter, 1) + 1;
    uint16_t node = (uint16_t)(t->cfg.node_id & 0x7fffu);
    uint32_t boot = t->cfg.boot_epoch;

    out[0] = (uint8_t)(node >> 8);
    out[1] = (uint8_t)(node & 0xff);
    out[2] = (uint8_t)(boot >> 24);
    out[3] = (uint8_t)(boot >> 16);
    out[4] = (uint8_t)(boot >> 8);
    out[5] = (uint8_t)boot;
    nt_store_u64be(out + 6, counter);
    if (RAND_bytes(out + 14, 4) != 1) {
        return nt_error_ossl("RAND_bytes failed");
    }
    return 0;
}

tsa_fail tsa__clock_check(tsa *t, char *reason, size_t reason_cap)
{
    nt_clock_status st;

    if (nt_clock_sync_status(&st) < 0) {
        st.sync = NT_CLOCK_UNKNOWN;
        st.max_error_us = st.est_error_us = -1;
    }
    atomic_store(&t->clock_sync, (int)st.sync);
    atomic_store(&t->clock_max_error_us, st.max_error_us);
    atomic_store(&t->clock_est_error_us, st.est_error_us);

    /*
     * BRIEF invariant 3: no token is issued while the clock is *known* to be
     * unsynchronised, unless the operator allows it.  NT_CLOCK_UNKNOWN (the
     * kernel could not be asked) is not "known unsynchronised": it is issued
     * and shows up in tsa_clock_status / healthz instead.
     */
    if (st.sync == NT_CLOCK_UNSYNCED && !t->cfg.allow_unsynced_clock) {
        snprintf(reason, reason_cap, "clock is not synchronised");
        return TSA_FAIL_TIME_NOT_AVAILABLE;
    }
    return TSA_FAIL_NONE;
}

int tsa_clock_status(nt_clock_status *out, tsa *t)
{
    char reason[64];
    (void)tsa__clock_check(t, reason, sizeof(reason));
    out->sync = (nt_clock_sync)atomic_load(&t->clock_sync);
    out->max_error_us = atomic_load(&t->clock_max_error_us);
    out->est_error_us = atomic_load(&t->clock_est_error_us);
    return 0;
}

/*
 * genTime rule (docs/TOKEN-PROFILE.md, "genTime"):
 *   c    = clock reading truncated to the precision unit u
 *   last = last issued genTime
 *   c > last                         -> c
 *   otherwise, if last + u <= clock + lead  -> last + u   (strictly later, and
 *        still within the stated accuracy; lead = max(accuracy, u))
 *   otherwise, ordering FALSE        -> last  (equal, never earlier)
 *   otherwise, ordering TRUE         -> timeNotAvailable (RFC 3161: with
 *        ordering "every time-stamp token from the same TSA can always be
 *        ordered based on the genTime field", so equal times are not allowed)
 * A compare-and-swap publishes the new last value; losers recompute.
 */
tsa_fail tsa__gen_time_next(struct timespec *out, tsa *t, char *reason, size_t reason_cap)
{
    struct timespec now;
    uint64_t now_ns, cand, last, next, lead;

    if (nt_clock_now(&now) < 0 || now.tv_sec < 0 || now.tv_nsec < 0 || now.tv_nsec >= 1000000000L ||
        (uint64_t)now.tv_sec > UINT64_MAX / 1000000000u - 1) {
        snprintf(reason, reason_cap, "clock cannot be read");
        return TSA_FAIL_SYSTEM_FAILURE;
    }
    now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    cand = now_ns - now_ns % t->unit_ns;
    lead = (uint64_t)t->cfg.accuracy_ms * 1000000u;
    if (lead < t->unit_ns) {
        lead = t->unit_ns;
    }

    last = atomic_load(&t->seq->last_gen_ns);
    for (;;) {
        if (cand > last) {
            next = cand;
        } else if (last + t->unit_ns <= now_ns + lead) {
            next = last + t->unit_ns;
        } else if (!t->cfg.ordering) {
            next = last;
        } else {
            snprintf(reason, reason_cap,
                     "clock is behind the last issued genTime; ordering requires a later time");
            return TSA_FAIL_TIME_NOT_AVAILABLE;
        }
        if (next == last || atomic_compare_exchange_weak(&t->seq->last_gen_ns, &last, next)) {
            break;
        }
    }
    out->tv_sec = (time_t)(next / 1000000000u);
    out->tv_nsec = (long)(next % 1000000000u);
    return TSA_FAIL_NONE;
}

void tsa_gen_time_floor(tsa *t, const struct timespec *floor)
{
    uint64_t want, last;

    if (floor->tv_sec < 0 || floor->tv_nsec < 0 || floor->tv_nsec >= 1000000000L ||
        (uint64_t)floor->tv_sec > UINT64_MAX / 1000000000u - 1) {
        return;
    }
    want = (uint64_t)floor->tv_sec * 1000000000u + (uint64_t)floor->tv_nsec;
    /* keep every issued genTime on the precision grid: round the floor up */
    if (want % t->unit_ns != 0) {
        want += t->unit_ns - want % t->unit_ns;
    }
    last = atomic_load(&t->seq->last_gen_ns);
    while (last < want && !atomic_compare_exchange_weak(&t->seq->last_gen_ns, &last, want)) {
    }
}

void tsa_stats_get(tsa_stats *out, const tsa *t)
{
    tsa *m = (tsa *)t; /* atomic_load takes a non-const pointer in C17 */
    out->granted = atomic_load(&m->stat_granted);
    for (size_t i = 0; i < NT_ARRAY_LEN(out->rejected); i++) {
        out->rejected[i] = atomic_load(&m->stat_rejected[i]);
    }
}
