/* SPDX-License-Identifier: MIT */
/*
 * Tick source and conversions; see clock.h for why ticks and not
 * nanoseconds are taken on traced threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "base/clock.h"

/*
 * Written once by clock_calibrate() under pthread_once, read by any thread
 * afterwards; pthread_once orders the writes before every reader that
 * called ctrace__clock_init(). `ctrace__clock_tsc` is atomic because the fast
 * path reads it without having called init itself (a traced thread only reaches
 * the tick call after a session, started after init, armed its point).
 */
atomic_bool ctrace__clock_tsc;
/* 128-bit products keep the 32.32 fixed-point conversion exact. */
__extension__ typedef unsigned __int128 u128;
/* ns = ticks * mult >> 32 when the TSC is used. */
uint64_t ctrace__clock_tsc_mult;
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

uint64_t ctrace__clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t ctrace__clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * The kernel lists `constant_tsc` and `nonstop_tsc` in /proc/cpuinfo when
 * the counter runs at a fixed rate through frequency changes and sleep
 * states; with both, ticks from different cores are comparable too (the
 * kernel would have marked the TSC unstable otherwise, which it reports by
 * not choosing it as clocksource; we do not second-guess that here).
 */
static bool cpu_has_invariant_tsc(void)
{
#if CTRACE__HAVE_TSC
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return false;
    char line[4096];
    bool constant = false, nonstop = false;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        constant = strstr(line, " constant_tsc") != NULL;
        nonstop = strstr(line, " nonstop_tsc") != NULL;
        break;
    }
    fclose(f);
    return constant && nonstop;
#else
    return false;
#endif
}

static void clock_calibrate(void)
{
#if CTRACE__HAVE_TSC
    if (!cpu_has_invariant_tsc())
        return;
    /*
     * Count ticks across 20 ms of CLOCK_MONOTONIC. The error of the two
     * clock reads (tens of ns) against 20 ms keeps the rate within a few
     * parts per million, so a 15 s session drifts by well under 100 us.
     */
    uint64_t ns0 = ctrace__clock_mono_ns();
    uint64_t t0 = __rdtsc();
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    uint64_t ns1 = ctrace__clock_mono_ns();
    uint64_t t1 = __rdtsc();
    if (t1 <= t0 || ns1 <= ns0)
        return;
    /* mult = ns/tick in 32.32 fixed point. */
    ctrace__clock_tsc_mult = (uint64_t)(((u128)(ns1 - ns0) << 32) / (t1 - t0));
    if (ctrace__clock_tsc_mult == 0)
        return;
    atomic_store_explicit(&ctrace__clock_tsc, true, memory_order_release);
#endif
}

void ctrace__clock_init(void)
{
    pthread_once(&clock_once, clock_calibrate);
}

bool ctrace__clock_uses_tsc(void)
{
    return atomic_load_explicit(&ctrace__clock_tsc, memory_order_acquire);
}

void ctrace__clock_anchor_now(struct ctrace__clock_anchor *a)
{
    struct timespec wall;
    a->ticks = ctrace__clock_ticks();
    clock_gettime(CLOCK_REALTIME, &wall);
    a->wall_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
}
