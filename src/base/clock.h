/* SPDX-License-Identifier: MIT */
/*
 * Timestamps for events.
 *
 * Traced threads take a raw tick with ctrace__clock_ticks(): the CPU's time
 * stamp counter when it is invariant (constant rate, not stopped in sleep
 * states; about 11 ns on a KVM guest here against 26 ns for clock_gettime),
 * else CLOCK_MONOTONIC in nanoseconds. Converting ticks to nanoseconds and
 * to wall-clock time happens later, on consumers, from one calibration and
 * one anchor pair (wall, monotonic) per session, so a step of the wall clock
 * during a session cannot reorder its events.
 *
 * Thread-safety: ctrace__clock_init() runs once, on a control thread, before
 * any session is armed (it is idempotent and internally synchronised); the
 * other functions are safe from any thread after it returned.
 */
#ifndef CTRACE_CORE_CLOCK_H
#define CTRACE_CORE_CLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define CTRACE__HAVE_TSC 1
#else
#define CTRACE__HAVE_TSC 0
#endif

/* Calibrates the tick source. Safe to call many times. */
void ctrace__clock_init(void);

/* Whether ticks come from the time stamp counter (after init). */
bool ctrace__clock_uses_tsc(void);

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t ctrace__clock_mono_ns(void);

/*
 * Whether ticks are TSC cycles; set once by ctrace__clock_init(). Hidden:
 * the inline tick below reads it with one PC-relative load.
 */
__attribute__((visibility("hidden"))) extern atomic_bool ctrace__clock_tsc;

/*
 * A raw, monotonic tick. Inline, so that a traced thread pays one load and
 * `rdtsc` for it; never a system call when the TSC is used.
 */
static inline uint64_t ctrace__clock_ticks(void)
{
#if CTRACE__HAVE_TSC
    if (__builtin_expect(
            atomic_load_explicit(&ctrace__clock_tsc, memory_order_relaxed), 1))
        return __rdtsc();
#endif
    return ctrace__clock_mono_ns();
}

/*
 * Nanoseconds per tick in 32.32 fixed point, written once before
 * ctrace__clock_tsc is set (release): read only after that flag.
 */
__attribute__((visibility("hidden"))) extern uint64_t ctrace__clock_tsc_mult;

/* Nanoseconds spanned by a number of ticks. Inline: once per event. */
static inline uint64_t ctrace__clock_ticks_to_ns(uint64_t ticks)
{
    if (!atomic_load_explicit(&ctrace__clock_tsc, memory_order_acquire))
        return ticks;
    __extension__ typedef unsigned __int128 ctrace__u128;
    return (uint64_t)(((ctrace__u128)ticks * ctrace__clock_tsc_mult) >> 32);
}

/* CLOCK_REALTIME now, in microseconds since the Unix epoch. */
int64_t ctrace__clock_wall_us(void);

/*
 * An anchor relates ticks to wall-clock time: taken once when a session
 * starts, it converts any later tick into microseconds since the epoch.
 */
struct ctrace__clock_anchor {
    uint64_t ticks;
    int64_t wall_ns;
};

void ctrace__clock_anchor_now(struct ctrace__clock_anchor *a);

/* Wall-clock microseconds since the epoch at `ticks`. */
static inline int64_t
ctrace__clock_ticks_to_wall_us(const struct ctrace__clock_anchor *a,
                               uint64_t ticks)
{
    int64_t ns;
    if (ticks >= a->ticks)
        ns = a->wall_ns + (int64_t)ctrace__clock_ticks_to_ns(ticks - a->ticks);
    else
        ns = a->wall_ns - (int64_t)ctrace__clock_ticks_to_ns(a->ticks - ticks);
    return ns / 1000;
}

#endif /* CTRACE_CORE_CLOCK_H */
