/* SPDX-License-Identifier: MIT */
/*
 * Private interface of the session engine (src/session/) for the rest of the
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

/*
 * Bytes of queue memory all running sessions hold now. A session gives its
 * share back when it stops, not when its handle is freed.
 */
size_t ctrace__engine_memory(void);

/* Number of sessions running now. */
unsigned ctrace__engine_sessions(void);

/* ---- For the admin endpoint (src/admin). ---- */

/*
 * Totals since the program started, over every session: events handed to
 * sinks, and events dropped anywhere (every site of ctrace__drops_read()).
 * Thread-safety: any thread; takes the registry lock.
 */
void ctrace__engine_totals(uint64_t *events, uint64_t *dropped);

/*
 * Where an event can be lost on its way to a reader. Every part that drops
 * one counts it here (or, for the engine's own, in its sessions), so that
 * one total in /api/v1/system, /metrics and the stop line covers them all.
 * ABI: internal; append before CTRACE__DROP_SITES.
 */
enum ctrace__drop_site {
    CTRACE__DROP_QUEUE = 0, /* a session's queue was full */
    CTRACE__DROP_SHED,      /* shed to stay under max_overhead_pct */
    CTRACE__DROP_STREAM,    /* the admin endpoint's stream buffer was full */
    CTRACE__DROP_EXPORT,    /* an export sink's queue was full or it failed */
    CTRACE__DROP_SITES
};

/*
 * Counts `n` events dropped at `site`, for the totals. Not for the
 * engine's own sites, whose drops its sessions count. One relaxed atomic
 * add: not for a traced thread's hot path under contention.
 * Thread-safety: any thread.
 */
void ctrace__drops_add(enum ctrace__drop_site site, uint64_t n);

/*
 * Drops since the program started, by site (running sessions included).
 * Thread-safety: any thread; takes the registry lock.
 */
void ctrace__drops_read(uint64_t counts[CTRACE__DROP_SITES]);

/* The site's name, as the `site` label of /metrics. Thread-safety: any. */
const char *ctrace__drop_site_name(enum ctrace__drop_site site);

/*
 * Waits until the stopped session's consumer thread has ended and joins it,
 * so that a handle kept after the stop (the admin endpoint lists stopped
 * sessions) holds no thread and no stack; ctrace_session_free() then has
 * nothing to join. The session must have been asked to stop, or be about
 * to stop by a limit.
 * Thread-safety: any thread but the session's consumer (not from its
 * callbacks); once or more, but not during ctrace_session_free().
 */
void ctrace__session_reap(struct ctrace_session *s);

/*
 * Charges `ns` of CPU time spent elsewhere on the session's events (the
 * admin endpoint sending its stream) to its overhead budget
 * (max_overhead_pct), as if its consumer had spent it.
 * Thread-safety: any thread, while the handle is valid.
 */
void ctrace__session_charge(struct ctrace_session *s, uint64_t ns);

/* A session that stopped because its sink failed. */
struct ctrace__sink_failure {
    char reason[96]; /* "sink failed: No space left on device" */
    uint64_t events; /* delivered before it failed */
    uint64_t dropped;
    int64_t stopped_us; /* wall clock */
    int sink_errno;
};

/*
 * Copies up to `max` of the most recent sink failures (newest first) into
 * `out` and returns how many; *total (may be NULL) gets how many there have
 * been since the program started.
 * Thread-safety: any thread.
 */
size_t ctrace__engine_sink_failures(struct ctrace__sink_failure *out,
                                    size_t max,
                                    uint64_t *total);

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
