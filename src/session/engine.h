/* SPDX-License-Identifier: MIT */
/*
 * The session engine's own header, shared by its four files and by nothing
 * outside src/session/ (the rest of the library uses session.h):
 *
 *   traced.c    the traced side: fire() and the hooks point.c calls, the
 *               record copy and the queue reservation; the whole hot path
 *   consumer.c  the consumer thread: drain, render, deliver, the overhead
 *               budget, and the teardown it alone runs (finish)
 *   control.c   session control: options, start, stop, wait, free, and
 *               publishing a session in its slot
 *   engine.c    what outlives sessions: the slots and probes, the registry
 *               hooks, fork(), and the totals the admin endpoint reads
 *
 * Control side (any thread, under the engine lock): a session compiles its
 * specs, finds the trace points they select in the registry, takes a free
 * slot (one of CTRACE__MAX_SESSIONS), sets its bit in each point's probe and
 * arms the point. Its consumer thread then delivers events until the first
 * limit trips; the consumer alone tears the session down, so every stop,
 * whoever asked for it, goes one way: disarm, unpublish the slot, wait for
 * traced threads to leave (thread.h), deliver what was queued, write the
 * report and the final line, wake the waiters.
 *
 * Traced side (hooks called from point.c, only for armed points): for each
 * session bit in the point's probe, check the process filter, run the
 * session's matchers on the raw argument values, take a msgs ticket, copy
 * the values into a queue slot, publish it. No lock, no allocation, no
 * system call (timestamps are TSC ticks where the CPU allows). A full
 * queue drops the event, counts it, and trips the session.
 *
 * The epoch. ctrace__session_epoch counts session starts; a session keeps
 * the value it was started with (start_epoch). A traced call reads the
 * epoch once, before it looks at any slot, and keeps it in its frame; it
 * and its return are offered only to sessions whose start_epoch is not
 * newer. So a slot that is emptied and reused by another session while a
 * call runs never receives the return of a call it did not see. Memory of
 * an unpublished session is reclaimed after ctrace__thread_synchronize()
 * (thread.h states that invariant).
 *
 * Lock order: engine lock, then registry lock. Registry hooks (module
 * added or removed) run with the registry lock held and so never take the
 * engine lock; what they touch is guarded by the registry lock alone.
 */
#ifndef CTRACE_SESSION_ENGINE_H
#define CTRACE_SESSION_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "base/clock.h"
#include "pattern/pattern.h"
#include "point/point.h"
#include "session/queue.h"
#include "session/record.h"
#include "session/session.h"
#include "sink/sink.h"

/*
 * Everything declared here is internal to libctrace: declared hidden, the
 * traced side reaches the slots and the epoch with a PC-relative load
 * rather than through the GOT (one instruction less per access).
 */
#pragma GCC visibility push(hidden)

/* Bits of ctrace__spec.action_mask that only update counters. */
#define COUNTER_ACTIONS (CTRACE__ACTION_TIME | CTRACE__ACTION_COUNT)
/* Most specs in one session (a bit each in an armed point's spec mask). */
#define MAX_SPECS 32
/* How long returns of already delivered calls may still arrive after the
 * calls limit was reached. */
#define DRAIN_MS 200
/* Room in each record for the text of `dump`, when a spec asks for it. */
#define DUMP_BYTES 1024
/* Bytes of text a consumer gathers before it writes them. */
#define TEXT_BATCH (64 * 1024)
/*
 * The overhead budget (max_overhead_pct) is settled every OVERHEAD_TICK_MS
 * on the consumer; a session may run ahead of it by OVERHEAD_BURST_MS of
 * budget, so that a short burst is never shed.
 */
#define OVERHEAD_TICK_MS  10
#define OVERHEAD_BURST_MS 100
/*
 * Shedding that pauses for less than this is one spell of being over the
 * budget, for overhead_trip_ms: a storm over the budget sheds in short
 * bursts (the credit swings around zero), a session back under it sheds
 * no more.
 */
#define OVERHEAD_CALM_MS 250
/*
 * The least CPU the service is deemed to have had, in per mille of one
 * CPU: an idle service on a machine that others keep busy had almost
 * none, and a budget that is a share of nothing would shed a trickle of
 * calls that costs it nothing.
 */
#define OVERHEAD_MIN_HAD_PERMILLE 100
/* Sink failures kept for the admin endpoint's listing. */
#define SINK_FAILURES_KEPT 8

/*
 * What the engine publishes for a point (core.h: ctrace__point_set_probe).
 * `sessions` has bit i set while session slot i selects the point;
 * `index[i]` is the point's position in that session's armed array.
 * Allocated the first time a point is armed and kept until its module is
 * unloaded, so a traced thread holding it can never see it freed.
 */
struct probe {
    /*
     * First, as point.h requires: the point's filter, which the entry
     * points run before calling the engine. ctrace__probe_filter_update()
     * keeps it in step with the sessions below.
     */
    struct ctrace__point_filter filter;
    _Atomic uint64_t sessions;
    _Atomic uint32_t index[CTRACE__MAX_SESSIONS];
    struct probe *next; /* all ctrace__probes, for module removal and fork */
    struct ctrace_point *point;
    /*
     * Events delivered at this point over all sessions, for the admin's
     * metrics. Counted by consumers in deliver(), never on traced threads.
     */
    atomic_uint_fast64_t delivered;
};

_Static_assert(offsetof(struct probe, filter) == 0,
               "point.h reads the filter at the start of the probe");

/*
 * `count(N, ...)` at one point: calls per distinct key (the chosen
 * arguments' raw bytes, count.c), in a fixed table that traced threads
 * fill without a lock. A slot is claimed by setting its hash, then its key
 * is written and `ready` set; a thread that finds a claimed slot not yet
 * ready takes another, so the same key may own two slots, which the
 * report merges (by text). Keys that find no free slot are summed in
 * `other`.
 */
#define COUNT_KEYS 64
/*
 * Room for the raw key of CTRACE__COUNT_MAX_ARGS arguments of any kind but
 * a container: a kind, a length and up to 36 bytes each (count.c).
 */
#define COUNT_KEY_BYTES (CTRACE__COUNT_MAX_ARGS * 38)
/* Room for a key's text in the report. */
#define COUNT_TEXT_BYTES 256

struct count_key {
    _Atomic uint64_t hash; /* 0: free */
    atomic_bool ready;     /* key written */
    atomic_uint_fast64_t calls;
    uint32_t len;
    unsigned char key[COUNT_KEY_BYTES];
};

/*
 * The key of a call for `spec`'s count(...) into `out`; returns its
 * length. `args` may hold unmeasured C strings (point.h), read only as far
 * as the key keeps. No allocation, no lock: for traced threads.
 */
size_t ctrace__count_key_encode(const struct ctrace__spec *spec,
                                const struct ctrace_value *args,
                                size_t nargs,
                                unsigned char out[COUNT_KEY_BYTES]);
/* A key's hash, never 0. */
uint64_t ctrace__count_key_hash(const unsigned char *key, size_t len);
/*
 * The text the report prints for a key ("\"Tihon\", 3"), NUL-terminated in
 * `text` (cut to `size`); returns its length.
 */
size_t ctrace__count_key_text(const unsigned char *key,
                              size_t len,
                              char *text,
                              size_t size);

struct count_by {
    const struct ctrace__spec *spec; /* whose count(...) this is */
    atomic_uint_fast64_t other;
    struct count_key keys[COUNT_KEYS];
};

/* A point as one session armed it. */
struct armed {
    struct ctrace_point *point; /* compared, dereferenced only if !gone */
    uint32_t specs;             /* bit j: spec j selects the point */
    atomic_bool gone;           /* its module was unloaded */
    /* `time` and `count` counters, updated by traced threads. */
    atomic_uint_fast64_t calls;
    atomic_uint_fast64_t total_ticks;
    atomic_uint_fast64_t max_ticks;
    bool timed;
    /*
     * One spec selects the point and it has no argument pattern or guard
     * (flat.always): every call fires, with `always_actions`, and fire()
     * skips the spec loop.
     */
    bool always;
    unsigned always_actions;
    struct count_by *by; /* NULL unless a spec says count(N, ...) */
};

enum state { RUNNING = 0, STOPPING, STOPPED };

struct ctrace_session {
    struct ctrace_session_opts opts;
    uint64_t *pids; /* opts.pids and the pids of opts.names */
    size_t npids;
    unsigned wants; /* CTRACE__WANT_ bits of its process-event specs */
    struct ctrace__spec *specs[MAX_SPECS];
    size_t nspecs;
    unsigned all_actions;
    struct armed *armed;
    size_t narmed;
    unsigned slot;
    uint64_t start_epoch;
    uint64_t pid_watermark;
    struct ctrace__record_layout layout;
    struct ctrace__queue queue;
    size_t memory;
    struct ctrace__clock_anchor anchor;
    uint64_t start_mono_ns;
    struct ctrace__format_opts format;

    /* Set by traced threads or the user, read by the consumer. */
    _Atomic int stop_request; /* enum ctrace_stop_reason, first wins */
    atomic_uint_fast64_t msgs_taken;
    atomic_uint_fast64_t calls_taken;
    atomic_uint_fast64_t dropped;
    atomic_int_fast64_t outstanding; /* calls whose return is still due */
    /* Overhead: set by the consumer while calls are to be shed. */
    atomic_bool shedding;
    atomic_uint_fast64_t shed;       /* calls shed, counted by traced threads */
    atomic_uint_fast64_t cost_ticks; /* traced threads' time recording */
    atomic_uint_fast64_t charged_ns; /* ctrace__session_charge() */

    atomic_uint_fast64_t events; /* delivered; written by the consumer */

    /* Consumer-only while running; read by others once stopped. */
    uint64_t rate_window_start;
    uint64_t rate_count;
    unsigned ncpus;       /* CPUs the process may run on, at start */
    uint64_t ov_next_ns;  /* next settlement of the overhead budget */
    uint64_t ov_last_ns;  /* the last one */
    uint64_t ov_cpu_ns;   /* consumer's CPU time then */
    uint64_t ov_ticks;    /* cost_ticks then */
    uint64_t ov_charged;  /* charged_ns then */
    uint64_t ov_proc_ns;  /* the process's CPU time then */
    uint64_t ov_idle_ns;  /* the machine's idle CPU time then */
    int64_t ov_credit_ns; /* budget left; shedding while negative */
    bool ov_shedding;
    uint64_t ov_over_since_ns; /* this spell of shedding began, or 0 */
    uint64_t ov_shed_last_ns;  /* the last settlement that shed */
    uint64_t ov_shed;          /* shed then */
    int sink_errno;
    struct ctrace__symbolizer *symbolizer; /* made on first use */
    /*
     * The consumer's copy of the last point it delivered an event of, so
     * that a run of events at one point takes the registry lock once:
     * valid while `point` is the record's and the registry generation is
     * `generation` (point.h). Consumer only.
     */
    struct {
        const struct ctrace_point *point;
        uint64_t generation;
        bool gone;
        unsigned arity;
        struct probe *probe;
        char module[CTRACE_POINT_NAME_MAX + 1];
        char function[CTRACE_POINT_NAME_MAX + 1];
    } names;
    bool owns_fd; /* opened from opts.path */
    char reason[96];
    enum ctrace_stop_reason final_reason;

    struct ctrace_session *next_live; /* under the registry lock */
    bool on_live_list;
    /* `dropped` was added to ctrace__total_dropped; under the registry lock. */
    bool dropped_counted;
    pthread_t consumer;
    bool consumer_started;
    bool consumer_joined; /* under `lock` */
    pthread_mutex_t lock; /* guards state and the condition */
    pthread_cond_t cond;
    enum state state;
    bool freeing;
};

extern pthread_mutex_t ctrace__engine_lock;
extern struct ctrace_session *_Atomic ctrace__slots[CTRACE__MAX_SESSIONS];
extern _Atomic uint64_t ctrace__session_epoch;
extern struct probe *ctrace__probes; /* under the registry lock */
/*
 * Every session from start until it is destroyed, running or tearing
 * down: module removal marks their points gone. Under the registry lock.
 */
extern struct ctrace_session *ctrace__live_sessions;
extern size_t ctrace__engine_bytes; /* under the engine lock */
extern unsigned ctrace__engine_running;
extern pthread_once_t ctrace__engine_once;
/*
 * Process events: slots whose session traces some process-event kind, for
 * one load on the paths that raise them; the union of the kinds lives in
 * the point layer (ctrace__point_set_proc_wants()). Written under the
 * engine lock.
 */
extern _Atomic uint64_t ctrace__proc_slots;
/*
 * Totals since the program started, for the admin endpoint: events handed
 * to sinks (counted by consumers), and the drops of sessions that have
 * finished (under the registry lock; running sessions are summed in
 * ctrace__engine_totals()).
 */
extern atomic_uint_fast64_t ctrace__total_events;
extern uint64_t ctrace__total_dropped;
extern uint64_t
    ctrace__total_shed; /* under the registry lock, as ctrace__total_dropped */

/* ---- engine.c ---- */

/* Runs once, before the first session starts (ctrace__engine_once). */
void ctrace__engine_init(void);

/* Keeps the failure of a session's sink for ctrace__engine_sink_failures. */
void ctrace__engine_note_sink_failure(struct ctrace_session *s);

/* ---- traced.c: the hooks point.c calls (struct ctrace__engine_hooks). ---- */

bool ctrace__traced_enter(void *arg,
                          struct ctrace_point *pt,
                          void *probe,
                          struct ctrace__frame *frame,
                          size_t nargs,
                          const struct ctrace_value *args);
void ctrace__traced_ret(void *arg,
                        struct ctrace__frame *frame,
                        const struct ctrace_value *value,
                        uint64_t duration);
void ctrace__traced_event(void *arg,
                          struct ctrace_point *pt,
                          void *probe,
                          uint64_t now,
                          size_t nargs,
                          const struct ctrace_value *args,
                          uintptr_t return_address);
void ctrace__traced_proc_event(void *arg,
                               enum ctrace_event_kind kind,
                               uint64_t pid,
                               uint64_t peer,
                               const struct ctrace_value *value);

/* ---- consumer.c ---- */

/* The consumer thread of session `arg`, started by ctrace_session_start(). */
void *ctrace__consumer_main(void *arg);

/*
 * The consumer's idle wait: producers never wake it (that would be a
 * system call on the traced thread), so it polls, and the wait adapts to
 * the queue. After a wait of `wait_ms` that found `got` events in a queue
 * of `capacity` slots, the next wait doubles, but no further than what
 * would fill a quarter of the queue at that rate, than what a burst of
 * CTRACE__POLL_BURST_PER_MS events a millisecond would fill it in, and
 * than CTRACE__POLL_MAX_MS; it is never under 1 ms. Pure; any thread.
 */
#define CTRACE__POLL_MAX_MS       OVERHEAD_TICK_MS
#define CTRACE__POLL_BURST_PER_MS 64u
unsigned
ctrace__consumer_next_wait_ms(size_t capacity, unsigned wait_ms, size_t got);

/* ---- control.c ---- */

/*
 * Adds (or removes) the session's slot to those raising process events and
 * recomputes the kinds wanted. Engine lock held.
 */
void ctrace__session_update_proc_wants(struct ctrace_session *s, bool on);

/* Disarms the session's points and empties its slot. Engine lock held. */
void ctrace__session_unpublish(struct ctrace_session *s);

/*
 * Sets the point's filter from the one spec that selects it now, or
 * clears it when none or several do. After every change of p->sessions.
 * Registry lock held (and the engine lock, so the slots do not change).
 */
void ctrace__probe_filter_update(struct probe *p);

/* Frees a session that is stopped, or was never started. */
void ctrace__session_destroy(struct ctrace_session *s);

/* ---- Small helpers of every side. ---- */

/* The first stop request wins; later ones are ignored. */
static inline void ctrace__session_request_stop(struct ctrace_session *s,
                                                enum ctrace_stop_reason r)
{
    int expected = CTRACE_STOP_RUNNING;
    atomic_compare_exchange_strong(&s->stop_request, &expected, (int)r);
}

static inline bool ctrace__session_procs_ok(const struct ctrace_session *s,
                                            uint64_t pid)
{
    /* Most sessions trace every process: one compare, not the switch. */
    if (CTRACE__LIKELY(s->opts.procs == CTRACE_PROCS_ALL))
        return true;
    switch (s->opts.procs) {
    case CTRACE_PROCS_ALL:
        return true;
    case CTRACE_PROCS_NEW:
        return pid > s->pid_watermark;
    case CTRACE_PROCS_EXISTING:
        return pid <= s->pid_watermark;
    case CTRACE_PROCS_PIDS:
        for (size_t i = 0; i < s->npids; i++)
            if (s->pids[i] == pid)
                return true;
        return false;
    }
    return false;
}

#pragma GCC visibility pop

#endif /* CTRACE_SESSION_ENGINE_H */
