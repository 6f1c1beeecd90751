/* SPDX-License-Identifier: MIT */
/*
 * Private interface of the session engine (engine.c) for the rest of the
 * library: the sinks and the capture API.
 */
#ifndef CTRACE_CORE_ENGINE_H
#define CTRACE_CORE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrace/session.h"

/* Most sessions running at once; each owns one bit of a point's probe. */
#define CTRACE__MAX_SESSIONS 64

/* Cap on the queue memory of all sessions together, in bytes. */
#define CTRACE__MEMORY_LIMIT ((size_t)256 * 1024 * 1024)

/* Bytes of queue memory all running sessions hold now. */
size_t ctrace__engine_memory(void);

/* Number of sessions running now. */
unsigned ctrace__engine_sessions(void);

/* ---- For the admin endpoint (src/admin). ---- */

/*
 * Totals since the program started, over every session: events handed to
 * sinks, and events dropped because a queue was full.
 * Thread-safety: any thread; takes the registry lock.
 */
void ctrace__engine_totals(uint64_t *events, uint64_t *dropped);

/*
 * Called for each point some running session has armed: its names, and the
 * events delivered at it over all sessions since it was first armed.
 * Called with registry lock held: it must not call into ctrace.
 */
typedef void (*ctrace__armed_point_fn)(const char *module,
                                       const char *function,
                                       unsigned arity,
                                       uint64_t events,
                                       void *arg);

/*
 * Walks the points that some running session has armed now, calling `fn`
 * (may be NULL to count) for each; returns how many there are. The counts
 * are kept by consumers, so traced threads pay nothing for them.
 * Thread-safety: any thread; takes the registry lock.
 */
size_t ctrace__engine_armed_points(ctrace__armed_point_fn fn, void *arg);

/*
 * The report of the `time` and `count` actions of a stopped session, as its
 * text sink would print it before the last line ("" when it used neither),
 * allocated (free with ctrace_free()); NULL while it still runs or when
 * memory runs out. A callback sink needs it: only fd sinks get it written.
 * Thread-safety: any thread, but not from the session's own callback.
 */
char *ctrace__session_counters_report(struct ctrace_session *s);

#endif /* CTRACE_CORE_ENGINE_H */
