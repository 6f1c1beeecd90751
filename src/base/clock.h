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

#include <stdbool.h>
#include <stdint.h>

/* Calibrates the tick source. Safe to call many times. */
void ctrace__clock_init(void);

/* Whether ticks come from the time stamp counter (after init). */
bool ctrace__clock_uses_tsc(void);

/* A raw, monotonic tick. Cheap; never a system call when the TSC is used. */
uint64_t ctrace__clock_ticks(void);

/* Nanoseconds spanned by a number of ticks. */
uint64_t ctrace__clock_ticks_to_ns(uint64_t ticks);

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t ctrace__clock_mono_ns(void);

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
int64_t ctrace__clock_ticks_to_wall_us(const struct ctrace__clock_anchor *a,
                                       uint64_t ticks);

#endif /* CTRACE_CORE_CLOCK_H */
