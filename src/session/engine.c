/* SPDX-License-Identifier: MIT */
/*
 * The session engine: what happens between a traced call and a line of
 * output, and the safety contract of DESIGN.md section 4.
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
 * Lock order: engine lock, then registry lock. Registry hooks (module
 * added or removed) run with the registry lock held and so never take the
 * engine lock; what they touch is guarded by the registry lock alone.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "base/clock.h"
#include "pattern/pattern.h"
#include "point/point.h"
#include "proc/proc.h"
#include "proc/thread.h"
#include "session/queue.h"
#include "session/record.h"
#include "session/session.h"
#include "session/symbolize.h"
#include "sink/sink.h"

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
    _Atomic uint64_t sessions;
    _Atomic uint32_t index[CTRACE__MAX_SESSIONS];
    struct probe *next; /* all probes, for module removal and fork */
    struct ctrace_point *point;
    /*
     * Events delivered at this point over all sessions, for the admin's
     * metrics. Counted by consumers in deliver(), never on traced threads.
     */
    atomic_uint_fast64_t delivered;
};

/*
 * `count(N, ...)` at one point: calls per distinct key (the chosen
 * arguments rendered as text), in a fixed table that traced threads fill
 * without a lock. A slot is claimed by setting its hash, then its text is
 * written and `ready` set; a thread that finds a claimed slot not yet ready
 * takes another, so the same key may own two slots, which the report
 * merges. Keys that find no free slot are summed in `other`.
 */
#define COUNT_KEYS      64
#define COUNT_KEY_BYTES 96

struct count_key {
    _Atomic uint64_t hash; /* 0: free */
    atomic_bool ready;     /* text written */
    atomic_uint_fast64_t calls;
    char text[COUNT_KEY_BYTES];
};

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
    int64_t ov_credit_ns; /* budget left; shedding while negative */
    bool ov_shedding;
    int sink_errno;
    struct ctrace__symbolizer *symbolizer; /* made on first use */
    bool owns_fd;                          /* opened from opts.path */
    char reason[96];
    enum ctrace_stop_reason final_reason;

    struct ctrace_session *next_live; /* under the registry lock */
    bool on_live_list;
    /* `dropped` was added to total_dropped; under the registry lock. */
    bool dropped_counted;
    pthread_t consumer;
    bool consumer_started;
    bool consumer_joined; /* under `lock` */
    pthread_mutex_t lock; /* guards state and the condition */
    pthread_cond_t cond;
    enum state state;
    bool freeing;
};

static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctrace_session *_Atomic slots[CTRACE__MAX_SESSIONS];
static _Atomic uint64_t session_epoch;
static struct probe *probes; /* under the registry lock */
/*
 * Every session from start until it is destroyed, running or tearing
 * down: module removal marks their points gone. Under the registry lock.
 */
static struct ctrace_session *live_sessions;
static size_t engine_memory; /* under the engine lock */
static unsigned engine_sessions;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
/*
 * Process events: slots whose session traces some process-event kind, for
 * one load on the paths that raise them; the union of the kinds lives in
 * the point layer (ctrace__point_set_proc_wants()). Written under the
 * engine lock.
 */
static _Atomic uint64_t proc_slots;
/*
 * Totals since the program started, for the admin endpoint: events handed
 * to sinks (counted by consumers), and the drops of sessions that have
 * finished (under the registry lock; running sessions are summed in
 * ctrace__engine_totals()).
 */
static atomic_uint_fast64_t total_events;
static uint64_t total_dropped;
static uint64_t total_shed; /* under the registry lock, as total_dropped */
/* Drops counted by other parts (ctrace__drops_add()), by site. */
static atomic_uint_fast64_t site_drops[CTRACE__DROP_SITES];
/* Sessions stopped by a failing sink: the count and the last few. */
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t sink_failures_total;
static struct ctrace__sink_failure sink_failures[SINK_FAILURES_KEPT];

/* ---- Traced side. ---- */

static uint64_t hook_now(void *arg)
{
    (void)arg;
    return ctrace__clock_ticks();
}

static bool procs_ok(const struct ctrace_session *s, uint64_t pid)
{
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

/* The first stop request wins; later ones are ignored. */
static void request_stop(struct ctrace_session *s, enum ctrace_stop_reason r)
{
    int expected = CTRACE_STOP_RUNNING;
    atomic_compare_exchange_strong(&s->stop_request, &expected, (int)r);
}

/*
 * Takes a ticket for an event. Every event takes one of the `msgs` tickets
 * (redbug's msgs: a call and its return are two); calls and process events
 * also take one of the `calls` tickets (returns of calls taken still come).
 * The last ticket of either asks the session to stop, so at most `msgs`
 * events and `calls` calls are ever queued. A call that gets a `calls`
 * ticket but no `msgs` ticket is not queued; its `calls` ticket is spent.
 */
static bool take_ticket(struct ctrace_session *s, bool counts_as_call)
{
    if (counts_as_call && s->opts.calls != 0) {
        uint_fast64_t n =
            atomic_fetch_add_explicit(&s->calls_taken, 1, memory_order_relaxed);
        if (n >= s->opts.calls)
            return false;
        if (n + 1 == s->opts.calls)
            request_stop(s, CTRACE_STOP_CALLS);
    }
    if (s->opts.msgs == 0)
        return true;
    uint_fast64_t n =
        atomic_fetch_add_explicit(&s->msgs_taken, 1, memory_order_relaxed);
    if (n >= s->opts.msgs)
        return false;
    if (n + 1 == s->opts.msgs)
        request_stop(s, CTRACE_STOP_MSGS);
    return true;
}

static struct ctrace__record *reserve(struct ctrace_session *s)
{
    struct ctrace__record *r = ctrace__queue_reserve(&s->queue);
    if (r == NULL) {
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        request_stop(s, CTRACE_STOP_QUEUE);
    }
    return r;
}

/* The session in slot i if it may still take events of the given kind. */
static struct ctrace_session *session_at(unsigned i, bool call)
{
    struct ctrace_session *s =
        atomic_load_explicit(&slots[i], memory_order_seq_cst);
    if (s == NULL)
        return NULL;
    if (call &&
        atomic_load_explicit(&s->stop_request, memory_order_relaxed) != 0)
        return NULL;
    return s;
}

static struct armed *armed_at(struct ctrace_session *s,
                              struct probe *p,
                              unsigned i,
                              const struct ctrace_point *pt)
{
    uint32_t idx = atomic_load_explicit(&p->index[i], memory_order_relaxed);
    /*
     * The slot may have been reused by a newer session between the loads
     * of the mask and of the slot: the index must still name this point
     * in this session's array.
     */
    if (idx >= s->narmed || s->armed[idx].point != pt)
        return NULL;
    return &s->armed[idx];
}

/*
 * Captures return addresses for `stack` and `caller`, starting at `ra`, the
 * return address into the traced function (point.c), so that ctrace's own
 * frames never show: stack[0] is then in the traced function, stack[1] in
 * its caller. Symbolizing waits for the consumer.
 */
static void
capture_stack(struct ctrace__record *r, unsigned actions, uintptr_t ra)
{
    if ((actions & (CTRACE__ACTION_STACK | CTRACE__ACTION_CALLER)) == 0)
        return;
    void *raw[CTRACE__STACK_MAX + 8];
    int n = backtrace(raw, (int)CTRACE__ARRAY_SIZE(raw));
    int first = 0;
    for (int i = 0; i < n; i++)
        if ((uintptr_t)raw[i] == ra) {
            first = i;
            break;
        }
    uint32_t len = 0;
    for (int i = first; i < n && len < CTRACE__STACK_MAX; i++)
        r->stack[len++] = raw[i];
    r->stack_len = len;
}

/*
 * Counts one call under its key: the arguments count(...) names, rendered
 * on the traced thread (the one thing rendered there; nothing allocates).
 */
static void
count_key(struct count_by *by, const struct ctrace_value *args, size_t nargs)
{
    char text[COUNT_KEY_BYTES];
    size_t len = 0;
    struct ctrace_render_opts ro;
    ctrace_render_opts_init(&ro);
    ro.max_size = 32;
    ro.depth = 4;
    for (unsigned k = 0; k < by->spec->ncount_by; k++) {
        if (k > 0 && len + 2 < sizeof(text)) {
            memcpy(text + len, ", ", 2);
            len += 2;
        }
        unsigned pos = by->spec->count_by[k] - 1;
        size_t n = pos < nargs
                       ? ctrace_value_format(
                             &args[pos], &ro, text + len, sizeof(text) - len)
                       : (size_t)snprintf(text + len, sizeof(text) - len, "?");
        len += n < sizeof(text) - len ? n : sizeof(text) - len - 1;
    }
    text[len] = '\0';
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * UINT64_C(1099511628211);
    h |= 1; /* 0 marks a free slot */
    for (size_t probe = 0, i = (size_t)h % COUNT_KEYS; probe < COUNT_KEYS;
         probe++, i = (i + 1) % COUNT_KEYS) {
        struct count_key *key = &by->keys[i];
        uint64_t cur = atomic_load_explicit(&key->hash, memory_order_acquire);
        if (cur == 0) {
            if (!atomic_compare_exchange_strong_explicit(&key->hash,
                                                         &cur,
                                                         h,
                                                         memory_order_acq_rel,
                                                         memory_order_acquire))
                goto claimed; /* another thread took it: cur is its hash */
            memcpy(key->text, text, len + 1);
            atomic_fetch_add_explicit(&key->calls, 1, memory_order_relaxed);
            atomic_store_explicit(&key->ready, true, memory_order_release);
            return;
        }
    claimed:
        if (cur == h &&
            atomic_load_explicit(&key->ready, memory_order_acquire) &&
            strcmp(key->text, text) == 0) {
            atomic_fetch_add_explicit(&key->calls, 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&by->other, 1, memory_order_relaxed);
}

/*
 * A call (or an instantaneous event, which never returns) at an armed
 * point: offers it to every session whose bit is set in the probe.
 * Returns whether some session wants the return (never for events).
 */
static bool fire(struct ctrace_point *pt,
                 void *probe,
                 struct ctrace__frame *frame,
                 size_t nargs,
                 const struct ctrace_value *args,
                 bool is_event)
{
    struct probe *p = probe;
    if (p == NULL)
        return false;
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL || atomic_load_explicit(&t->no_trace, memory_order_relaxed))
        return false;
    if (atomic_load_explicit(&t->first_point, memory_order_relaxed) == NULL)
        ctrace__thread_set_initial(t, pt);
    atomic_store_explicit(&t->current, pt, memory_order_relaxed);
    uint64_t pid = atomic_load_explicit(&t->pid, memory_order_relaxed);
    /* The label as it is now, for the call line (proc.c keeps it). */
    const char *label = atomic_load_explicit(&t->label, memory_order_acquire);

    /*
     * A trace point reached from a signal handler that interrupted this
     * thread inside the engine would break the odd/even bracket the
     * reclamation relies on (thread.h): such a nested event is dropped.
     */
    if (atomic_load_explicit(&t->cs, memory_order_relaxed) & 1)
        return false;
    ctrace__thread_enter(t);
    /*
     * Sessions started after this point in time are not offered this call,
     * and the return goes only to sessions started no later: a slot reused
     * by a newer session while the call runs is told apart by its epoch.
     */
    uint64_t epoch = atomic_load_explicit(&session_epoch, memory_order_seq_cst);
    uint64_t ret_mask = 0, time_mask = 0;
    uint64_t mask = atomic_load_explicit(&p->sessions, memory_order_acquire);
    while (mask != 0) {
        unsigned i = (unsigned)__builtin_ctzll(mask);
        mask &= mask - 1;
        struct ctrace_session *s = session_at(i, true);
        if (s == NULL || s->start_epoch > epoch || !procs_ok(s, pid))
            continue;
        struct armed *a = armed_at(s, p, i, pt);
        if (a == NULL)
            continue;
        unsigned actions = 0;
        bool fired = false;
        for (uint32_t specs = a->specs; specs != 0; specs &= specs - 1) {
            const struct ctrace__spec *spec = s->specs[__builtin_ctz(specs)];
            if (ctrace__spec_match(spec, args, nargs)) {
                fired = true;
                actions |= spec->action_mask;
            }
        }
        if (!fired)
            continue;
        /* The first session that takes the call stamps it (point.c). */
        if (frame->start_ns == 0)
            frame->start_ns = ctrace__clock_ticks();
        if (is_event)
            actions &= ~(unsigned)(CTRACE__ACTION_RETURN | CTRACE__ACTION_TIME);
        if (actions & COUNTER_ACTIONS)
            atomic_fetch_add_explicit(&a->calls, 1, memory_order_relaxed);
        if ((actions & CTRACE__ACTION_COUNT) && a->by != NULL)
            count_key(a->by, args, nargs);
        if (actions & CTRACE__ACTION_TIME)
            time_mask |= UINT64_C(1) << i;
        if (actions & COUNTER_ACTIONS &&
            (actions & ~(unsigned)COUNTER_ACTIONS) == 0)
            goto want_return; /* only counting: no event */
        /*
         * Count the return as due before the ticket can stop the session:
         * a consumer that sees the msgs stop then also sees it is owed one.
         */
        if (atomic_load_explicit(&s->shedding, memory_order_relaxed)) {
            atomic_fetch_add_explicit(&s->shed, 1, memory_order_relaxed);
            goto want_return;
        }
        uint64_t cost_start = ctrace__clock_ticks();
        bool wants_ret = (actions & CTRACE__ACTION_RETURN) != 0;
        if (wants_ret)
            atomic_fetch_add_explicit(&s->outstanding, 1, memory_order_relaxed);
        struct ctrace__record *r = take_ticket(s, true) ? reserve(s) : NULL;
        if (r == NULL) {
            if (wants_ret)
                atomic_fetch_sub_explicit(
                    &s->outstanding, 1, memory_order_relaxed);
            goto want_return;
        }
        r->kind = CTRACE_EVENT_CALL;
        r->nargs =
            (uint32_t)(nargs < s->layout.nvalues ? nargs : s->layout.nvalues);
        r->has_value = 0;
        r->stack_len = 0;
        r->actions = actions;
        r->ticks = frame->start_ns;
        r->duration_ticks = 0;
        r->pid = pid;
        r->peer_pid = 0;
        r->label = label;
        r->point = pt;
        ctrace__record_copy(&s->layout, r, args, r->nargs);
        capture_stack(r, actions, frame->engine[3]);
        /*
         * `dump` describes the process as it is at the call, as Erlang's
         * process_dump does: here, on the calling thread, taking the
         * process table's lock (the only action that takes a lock).
         */
        if ((actions & CTRACE__ACTION_DUMP) && s->layout.dump_bytes > 0)
            ctrace__proc_describe(
                pid, ctrace__record_dump(&s->layout, r), s->layout.dump_bytes);
        ctrace__queue_commit(&s->queue, r);
        atomic_fetch_add_explicit(&s->cost_ticks,
                                  ctrace__clock_ticks() - cost_start,
                                  memory_order_relaxed);
        if (wants_ret)
            ret_mask |= UINT64_C(1) << i;
    want_return:;
    }
    ctrace__thread_leave(t);
    if ((ret_mask | time_mask) == 0)
        return false;
    frame->engine[0] = (uintptr_t)ret_mask;
    frame->engine[1] = (uintptr_t)time_mask;
    frame->engine[2] = (uintptr_t)epoch;
    return true;
}

static bool hook_enter(void *arg,
                       struct ctrace_point *pt,
                       void *probe,
                       struct ctrace__frame *frame,
                       size_t nargs,
                       const struct ctrace_value *args)
{
    (void)arg;
    return fire(pt, probe, frame, nargs, args, false);
}

static void update_max(atomic_uint_fast64_t *max, uint64_t v)
{
    uint_fast64_t cur = atomic_load_explicit(max, memory_order_relaxed);
    while (v > cur &&
           !atomic_compare_exchange_weak_explicit(
               max, &cur, v, memory_order_relaxed, memory_order_relaxed)) {
    }
}

static void hook_ret(void *arg,
                     struct ctrace__frame *frame,
                     const struct ctrace_value *value,
                     uint64_t duration)
{
    (void)arg;
    uint64_t ret_mask = frame->engine[0];
    uint64_t time_mask = frame->engine[1];
    uint64_t epoch = frame->engine[2];
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL)
        return;
    struct ctrace_point *pt = frame->point;
    struct probe *p =
        atomic_load_explicit(&pt->ctrace__probe, memory_order_acquire);
    if (duration == 0)
        duration = 1; /* 0 would read as "not measured" */
    if (atomic_load_explicit(&t->cs, memory_order_relaxed) & 1)
        return; /* nested in a signal handler: see fire() */

    ctrace__thread_enter(t);
    for (uint64_t mask = ret_mask | time_mask; mask != 0; mask &= mask - 1) {
        unsigned i = (unsigned)__builtin_ctzll(mask);
        uint64_t bit = UINT64_C(1) << i;
        struct ctrace_session *s = session_at(i, false);
        /* A session started after this call is not the one that saw it. */
        if (s == NULL || s->start_epoch > epoch)
            continue;
        if ((time_mask & bit) && p != NULL) {
            struct armed *a = armed_at(s, p, i, pt);
            if (a != NULL) {
                atomic_fetch_add_explicit(
                    &a->total_ticks, duration, memory_order_relaxed);
                update_max(&a->max_ticks, duration);
            }
        }
        if ((ret_mask & bit) == 0)
            continue;
        atomic_fetch_sub_explicit(&s->outstanding, 1, memory_order_relaxed);
        /* Never shed: the call it belongs to was taken. */
        uint64_t cost_start = ctrace__clock_ticks();
        struct ctrace__record *r = take_ticket(s, false) ? reserve(s) : NULL;
        if (r == NULL)
            continue;
        r->kind = CTRACE_EVENT_RETURN;
        r->nargs = 0;
        r->has_value = value != NULL;
        r->stack_len = 0;
        r->actions = 0;
        r->ticks = frame->start_ns + duration;
        r->duration_ticks = duration;
        r->pid = atomic_load_explicit(&t->pid, memory_order_relaxed);
        r->peer_pid = 0;
        r->label = atomic_load_explicit(&t->label, memory_order_acquire);
        r->point = pt;
        if (value != NULL)
            ctrace__record_copy(&s->layout, r, value, 1);
        ctrace__queue_commit(&s->queue, r);
        atomic_fetch_add_explicit(&s->cost_ticks,
                                  ctrace__clock_ticks() - cost_start,
                                  memory_order_relaxed);
    }
    ctrace__thread_leave(t);
}

/* Instantaneous events print as calls that have no return. */
static void hook_event(void *arg,
                       struct ctrace_point *pt,
                       void *probe,
                       uint64_t now,
                       size_t nargs,
                       const struct ctrace_value *args,
                       uintptr_t return_address)
{
    (void)arg;
    struct ctrace__frame frame;
    frame.point = pt;
    frame.start_ns = now;
    frame.active = 0;
    frame.engine[3] = return_address;
    (void)fire(pt, probe, &frame, nargs, args, true);
}

static unsigned want_bit(enum ctrace_event_kind kind)
{
    switch (kind) {
    case CTRACE_EVENT_SEND:
        return CTRACE__WANT_SEND;
    case CTRACE_EVENT_RECEIVE:
        return CTRACE__WANT_RECEIVE;
    case CTRACE_EVENT_CALL:
    case CTRACE_EVENT_RETURN:
        return 0;
    default:
        return CTRACE__WANT_PROCS;
    }
}

static void hook_proc_event(void *arg,
                            enum ctrace_event_kind kind,
                            uint64_t pid,
                            uint64_t peer,
                            const struct ctrace_value *value)
{
    unsigned bit = want_bit(kind);
    if ((ctrace__point_proc_wants() & bit) == 0)
        return;
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL || atomic_load_explicit(&t->no_trace, memory_order_relaxed))
        return;
    if (atomic_load_explicit(&t->cs, memory_order_relaxed) & 1)
        return; /* nested in a signal handler: see fire() */
    ctrace__thread_enter(t);
    uint64_t now = ctrace__clock_ticks();
    uint64_t mask = atomic_load_explicit(&proc_slots, memory_order_acquire);
    while (mask != 0) {
        unsigned i = (unsigned)__builtin_ctzll(mask);
        mask &= mask - 1;
        struct ctrace_session *s = session_at(i, true);
        if (s == NULL || (s->wants & bit) == 0 || !procs_ok(s, pid))
            continue;
        if (atomic_load_explicit(&s->shedding, memory_order_relaxed)) {
            atomic_fetch_add_explicit(&s->shed, 1, memory_order_relaxed);
            continue;
        }
        struct ctrace__record *r = take_ticket(s, true) ? reserve(s) : NULL;
        if (r == NULL)
            continue;
        r->kind = kind;
        r->nargs = 0;
        r->has_value = value != NULL;
        r->stack_len = 0;
        r->actions = 0;
        r->ticks = now;
        r->duration_ticks = 0;
        r->pid = pid;
        r->peer_pid = peer;
        /* Raised for the calling thread's process, or for another one. */
        r->label = pid == atomic_load_explicit(&t->pid, memory_order_relaxed)
                       ? atomic_load_explicit(&t->label, memory_order_acquire)
                       : NULL;
        r->point = NULL;
        if (value != NULL)
            ctrace__record_copy(&s->layout, r, value, 1);
        ctrace__queue_commit(&s->queue, r);
    }
    ctrace__thread_leave(t);
}

/* ---- Registry hooks: run with the registry lock held. ---- */

static void hook_module_removed(void *arg,
                                struct ctrace_point *const *start,
                                struct ctrace_point *const *stop)
{
    (void)arg;
    /*
     * At exit() the program's own points are removed while other threads
     * may still run them, so nothing a traced thread can hold is freed:
     * the points are switched off (no new slow-path entry), their probes
     * unhooked and kept (a thread already past the load may still read
     * one), and every live session, running or tearing down, learns that
     * the descriptors must not be dereferenced again.
     */
    for (struct probe *p = probes; p != NULL; p = p->next) {
        bool inside = false;
        for (struct ctrace_point *const *it = start; it < stop && !inside; it++)
            inside = *it == p->point;
        if (!inside || p->point == NULL)
            continue;
        atomic_store(&p->sessions, 0);
        atomic_store(&p->point->on, 0);
        atomic_store(&p->point->ctrace__probe, NULL);
        for (struct ctrace_session *s = live_sessions; s != NULL;
             s = s->next_live)
            for (size_t k = 0; k < s->narmed; k++)
                if (s->armed[k].point == p->point)
                    atomic_store(&s->armed[k].gone, true);
        p->point = NULL;
    }
}

static const struct ctrace__engine_hooks engine_hooks = {
    .enter = hook_enter,
    .ret = hook_ret,
    .event = hook_event,
    .proc_event = hook_proc_event,
    .module_removed = hook_module_removed,
    .now_ns = hook_now,
};

/*
 * Timed waits on a session run on CLOCK_MONOTONIC: a step of the wall
 * clock must not make a consumer sleep for an hour or a wait end early.
 */
static void init_cond(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

/* ---- fork(): the child keeps no session. ---- */

static void atfork_prepare(void)
{
    pthread_mutex_lock(&engine_lock);
    ctrace__registry_lock();
}

static void atfork_parent(void)
{
    ctrace__registry_unlock();
    pthread_mutex_unlock(&engine_lock);
}

static void atfork_child(void)
{
    /*
     * Only this thread exists in the child; consumers are gone. Sessions
     * are dropped (their memory is leaked: freeing it could race with
     * nothing, but a consumer's mutex may be in any state), every point is
     * switched off, and the locks are usable again.
     */
    for (struct probe *p = probes; p != NULL; p = p->next) {
        atomic_store(&p->sessions, 0);
        atomic_store(&p->point->on, 0);
    }
    for (unsigned i = 0; i < CTRACE__MAX_SESSIONS; i++)
        atomic_store(&slots[i], NULL);
    /*
     * The child still holds handles of the parent's sessions; their
     * consumers are gone, so stopping, waiting or freeing one must not
     * wait for them. They read as stopped, and free only frees.
     */
    for (struct ctrace_session *s = live_sessions; s != NULL;
         s = s->next_live) {
        pthread_mutex_init(&s->lock, NULL);
        init_cond(&s->cond);
        s->state = STOPPED;
        s->consumer_started = false;
        if (s->final_reason == CTRACE_STOP_RUNNING) {
            s->final_reason = CTRACE_STOP_USER;
            snprintf(s->reason, sizeof(s->reason), "dropped by fork()");
        }
        atomic_store(&s->stop_request, (int)CTRACE_STOP_USER);
    }
    engine_sessions = 0;
    ctrace__thread_after_fork_child();
    ctrace__registry_unlock();
    pthread_mutex_init(&engine_lock, NULL);
}

static void engine_init(void)
{
    ctrace__clock_init();
    /*
     * backtrace() loads the unwinder on its first call, which allocates and
     * takes the loader's lock: do it here, on a control thread, so that a
     * traced thread asking for `stack` never does.
     */
    void *warm[4];
    (void)backtrace(warm, 4);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    ctrace__engine_set_hooks(&engine_hooks);
}

/* ---- Consumer side. ---- */

static int64_t ticks_to_wall_us(const struct ctrace_session *s, uint64_t ticks)
{
    return ctrace__clock_ticks_to_wall_us(&s->anchor, ticks);
}

static void write_all(struct ctrace_session *s, const char *data, size_t len)
{
    while (len > 0 && s->sink_errno == 0) {
        ssize_t n = write(s->opts.fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE) {
                /*
                 * The reader went away. SIGPIPE is blocked on this thread
                 * (consumer_main), so it is pending here rather than
                 * killing the service: take it off, then report.
                 */
                sigset_t pipe_set;
                sigemptyset(&pipe_set);
                sigaddset(&pipe_set, SIGPIPE);
                struct timespec zero = {0, 0};
                (void)sigtimedwait(&pipe_set, NULL, &zero);
            }
            s->sink_errno = errno;
            request_stop(s, CTRACE_STOP_SINK);
            return;
        }
        data += n;
        len -= (size_t)n;
    }
}

static void emit_text(struct ctrace_session *s, struct ctrace__sbuf *b)
{
    if (s->opts.fd >= 0 && b->len > 0)
        write_all(s, b->data, b->len);
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/*
 * Rate limit, recon's idea with explicit rules: a window opens at the
 * first event and lasts rate_ms; at most rate_count events are delivered in
 * it; the next one trips the session and is not delivered. An event after
 * the window opens a new one.
 */
static bool rate_ok(struct ctrace_session *s, uint64_t ticks)
{
    if (s->opts.rate_count == 0)
        return true;
    uint64_t ns = ctrace__clock_ticks_to_ns(ticks);
    /*
     * Threads stamp events before queueing them, so an event may come in
     * with a time before the window's start: it counts in this window.
     */
    if (s->rate_count == 0 ||
        (ns > s->rate_window_start &&
         ns - s->rate_window_start >= (uint64_t)s->opts.rate_ms * 1000000u)) {
        s->rate_window_start = ns;
        s->rate_count = 0;
    }
    if (s->rate_count >= s->opts.rate_count) {
        request_stop(s, CTRACE_STOP_RATE);
        return false;
    }
    s->rate_count++;
    return true;
}

/* Whether the module of a point the session armed was unloaded. */
static bool point_gone(const struct ctrace_session *s,
                       const struct ctrace_point *pt)
{
    for (size_t i = 0; i < s->narmed; i++)
        if (s->armed[i].point == pt)
            return atomic_load(&s->armed[i].gone);
    return true;
}

static void hand_over(struct ctrace_session *s,
                      const struct ctrace_event *ev,
                      struct ctrace__sbuf *text)
{
    atomic_fetch_add_explicit(&s->events, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_events, 1, memory_order_relaxed);
    if (s->opts.on_event != NULL)
        s->opts.on_event(ev, s->opts.arg);
    if (s->opts.fd >= 0) {
        size_t before = text->len;
        ctrace__format_event(&s->format, ev, text);
        if (text->failed) {
            /*
             * Out of memory while rendering: this event's text is lost,
             * what the batch held before it is kept, and the next event
             * renders again (the buffer's failure is not sticky here).
             */
            text->failed = false;
            text->len = before;
            if (text->data != NULL)
                text->data[before] = '\0';
        }
        /*
         * Text is written in batches: one write() per drain of the queue
         * (drain() flushes), or per TEXT_BATCH bytes when events keep
         * coming, rather than one system call per event.
         */
        if (text->len >= TEXT_BATCH)
            emit_text(s, text);
    }
}

/*
 * A process event: the record's value is the message (SEND, RECEIVE) or
 * a text (SPAWN's initial call, EXIT's reason, a registered name).
 */
static void deliver_proc_event(struct ctrace_session *s,
                               struct ctrace__record *r,
                               struct ctrace_event *ev,
                               struct ctrace_value *values,
                               struct ctrace__sbuf *text)
{
    char str[CTRACE_PROC_TEXT_MAX + 1] = "";
    if (r->has_value && values[0].kind == CTRACE_VALUE_STRING) {
        size_t len = values[0].as.str.len;
        if (len >= sizeof(str))
            len = sizeof(str) - 1;
        if (len > 0)
            memcpy(str, values[0].as.str.ptr, len);
        str[len] = '\0';
    }
    char peer[CTRACE_PROC_TEXT_MAX + 1] = "";
    ev->peer_pid = r->peer_pid;
    switch (r->kind) {
    case CTRACE_EVENT_SEND:
    case CTRACE_EVENT_RECEIVE:
        ev->message = r->has_value ? &values[0] : NULL;
        if (r->peer_pid != 0) {
            (void)ctrace__proc_label(r->peer_pid, peer, sizeof(peer));
            ev->peer = peer[0] != '\0' ? peer : NULL;
        }
        break;
    case CTRACE_EVENT_SPAWN:
        ev->peer = str;
        break;
    case CTRACE_EVENT_EXIT:
        ev->reason = str;
        break;
    case CTRACE_EVENT_REGISTER:
    case CTRACE_EVENT_UNREGISTER:
        ev->name = str;
        break;
    default:
        break;
    }
    hand_over(s, ev, text);
}

static void deliver(struct ctrace_session *s,
                    struct ctrace__record *r,
                    struct ctrace__sbuf *text)
{
    bool counts = r->kind != CTRACE_EVENT_RETURN;
    if (counts && !rate_ok(s, r->ticks))
        return;
    /* After a rate trip nothing more is delivered. */
    if (atomic_load(&s->stop_request) == CTRACE_STOP_RATE)
        return;

    struct ctrace_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.struct_size = sizeof(ev);
    ev.kind = r->kind;
    ev.seq = atomic_load_explicit(&s->events, memory_order_relaxed) + 1;
    ev.time_us = ticks_to_wall_us(s, r->ticks);
    ev.duration_ns = r->duration_ticks != 0
                         ? ctrace__clock_ticks_to_ns(r->duration_ticks)
                         : 0;
    if (r->kind == CTRACE_EVENT_RETURN && ev.duration_ns == 0)
        ev.duration_ns = 1;
    ev.pid = r->pid;
    char label[CTRACE_PROC_TEXT_MAX + 1];
    /*
     * The label is the one recorded with the event, as the process was
     * then. Only a return or an exit may say (dead), when the process has
     * ended by the time the line is printed, as in redbug; a call, a
     * message or a spawn was made by a running process. The label stays
     * (JSON has both).
     */
    bool may_be_dead =
        r->kind == CTRACE_EVENT_RETURN || r->kind == CTRACE_EVENT_EXIT;
    if (r->label != NULL && !may_be_dead) {
        snprintf(label, sizeof(label), "%s", r->label);
        ev.dead = false;
    } else {
        ev.dead =
            !ctrace__proc_label(r->pid, label, sizeof(label)) && may_be_dead;
        if (r->label != NULL)
            snprintf(label, sizeof(label), "%s", r->label);
    }
    ev.process = label[0] != '\0' ? label : NULL;
    struct ctrace_value *values = ctrace__record_values(r);
    if (r->point == NULL) {
        deliver_proc_event(s, r, &ev, values, text);
        return;
    }
    /*
     * The point's names live in its module, which may be unloaded at any
     * moment: check and copy them under the registry lock, which module
     * removal takes too.
     */
    char module[CTRACE_POINT_NAME_MAX + 1] = "?";
    char function[CTRACE_POINT_NAME_MAX + 1] = "?";
    ev.arity = r->nargs;
    ctrace__registry_lock();
    if (!point_gone(s, r->point)) {
        snprintf(module, sizeof(module), "%s", r->point->module);
        snprintf(function, sizeof(function), "%s", r->point->function);
        ev.arity = r->point->arity;
        /* The per-point count of ctrace__engine_armed_points(). */
        struct probe *p = atomic_load_explicit(&r->point->ctrace__probe,
                                               memory_order_relaxed);
        if (p != NULL)
            atomic_fetch_add_explicit(&p->delivered, 1, memory_order_relaxed);
    }
    ctrace__registry_unlock();
    ev.module = module;
    ev.function = function;
    if (r->kind == CTRACE_EVENT_CALL) {
        ev.args = values;
        ev.nargs = r->nargs;
    } else if (r->has_value) {
        ev.result = values;
    }

    char frames[CTRACE__STACK_MAX][160];
    const char *frame_ptrs[CTRACE__STACK_MAX];
    char caller[160];
    if (r->stack_len > 0) {
        size_t n = 0;
        for (size_t i = 0; i < r->stack_len; i++, n++) {
            if (s->symbolizer == NULL)
                s->symbolizer = ctrace__symbolizer_new();
            ctrace__symbolize(
                s->symbolizer, r->stack[i], frames[n], sizeof(frames[n]));
            frame_ptrs[n] = frames[n];
        }
        if (r->actions & CTRACE__ACTION_STACK) {
            ev.stack = frame_ptrs;
            ev.stack_len = n;
        }
        if ((r->actions & CTRACE__ACTION_CALLER) && n >= 2) {
            /* frames[0] is the traced function; [1] called it. */
            snprintf(caller, sizeof(caller), "%s", frames[1]);
            ev.caller = caller;
        }
    }

    if (r->kind == CTRACE_EVENT_CALL && (r->actions & CTRACE__ACTION_DUMP) &&
        s->layout.dump_bytes > 0) {
        char *dump = ctrace__record_dump(&s->layout, r);
        dump[s->layout.dump_bytes - 1] = '\0';
        ev.dump = dump;
    }

    hand_over(s, &ev, text);
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The overhead budget, settled on the consumer every OVERHEAD_TICK_MS: the
 * session's cost since the last settlement (this thread's CPU time, which
 * includes the sink's rendering and writing and any callback, plus what
 * traced threads spent recording) is taken from a credit that grows by
 * max_overhead_pct of the wall time times the CPUs. While the credit is
 * negative, traced threads shed new calls; it is capped both ways at
 * OVERHEAD_BURST_MS of budget, so that shedding starts and ends within
 * a fraction of a second of the cost crossing the budget.
 */
static void overhead_settle(struct ctrace_session *s)
{
    if (s->opts.max_overhead_pct >= 100)
        return;
    uint64_t now = ctrace__clock_mono_ns();
    if (now < s->ov_next_ns)
        return;
    uint64_t cpu = thread_cpu_ns();
    uint64_t ticks = atomic_load_explicit(&s->cost_ticks, memory_order_relaxed);
    uint64_t charged =
        atomic_load_explicit(&s->charged_ns, memory_order_relaxed);
    uint64_t cost = (cpu > s->ov_cpu_ns ? cpu - s->ov_cpu_ns : 0) +
                    ctrace__clock_ticks_to_ns(ticks - s->ov_ticks) +
                    (charged - s->ov_charged);
    uint64_t share = (uint64_t)s->opts.max_overhead_pct * s->ncpus;
    uint64_t budget = (now - s->ov_last_ns) * share / 100;
    int64_t cap =
        (int64_t)((uint64_t)OVERHEAD_BURST_MS * 1000000u * share / 100);
    int64_t credit = s->ov_credit_ns + (int64_t)budget - (int64_t)cost;
    if (credit > cap)
        credit = cap;
    if (credit < -cap)
        credit = -cap;
    s->ov_credit_ns = credit;
    s->ov_last_ns = now;
    s->ov_cpu_ns = cpu;
    s->ov_ticks = ticks;
    s->ov_charged = charged;
    s->ov_next_ns = now + (uint64_t)OVERHEAD_TICK_MS * 1000000u;
    bool shed = credit < 0;
    if (shed != s->ov_shedding) {
        s->ov_shedding = shed;
        atomic_store_explicit(&s->shedding, shed, memory_order_relaxed);
    }
}

static void overhead_init(struct ctrace_session *s)
{
    unsigned n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        n = (unsigned)CPU_COUNT(&set);
    if (n == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (unsigned)c : 1;
    }
    s->ncpus = n;
    s->ov_last_ns = ctrace__clock_mono_ns();
    s->ov_next_ns = s->ov_last_ns + (uint64_t)OVERHEAD_TICK_MS * 1000000u;
    s->ov_cpu_ns = thread_cpu_ns();
    s->ov_credit_ns = (int64_t)((uint64_t)OVERHEAD_BURST_MS * 1000000u *
                                s->opts.max_overhead_pct * n / 100);
}

/* Delivers what is queued now; returns how many records it took. */
static size_t drain(struct ctrace_session *s, struct ctrace__sbuf *text)
{
    size_t n = 0;
    struct ctrace__record *r;
    while ((r = ctrace__queue_peek(&s->queue)) != NULL) {
        deliver(s, r, text);
        ctrace__queue_release(&s->queue);
        /* A storm keeps the queue full: settle the budget meanwhile. */
        if ((++n & 255) == 0)
            overhead_settle(s);
    }
    emit_text(s, text);
    return n;
}

/*
 * Adds (or removes) the session's slot to those raising process events and
 * recomputes the kinds wanted. Engine lock held.
 */
static void update_proc_wants(struct ctrace_session *s, bool on)
{
    uint64_t bit = UINT64_C(1) << s->slot;
    uint64_t slots_now = atomic_load(&proc_slots);
    slots_now = on ? slots_now | bit : slots_now & ~bit;
    unsigned wants = 0;
    for (uint64_t m = slots_now; m != 0; m &= m - 1) {
        struct ctrace_session *o = atomic_load(&slots[__builtin_ctzll(m)]);
        if (o != NULL)
            wants |= o->wants;
    }
    if (on)
        wants |= s->wants;
    atomic_store(&proc_slots, slots_now);
    ctrace__point_set_proc_wants(wants);
}

/* Disarms the session's points and empties its slot. Engine lock held. */
static void unpublish(struct ctrace_session *s)
{
    ctrace__registry_lock();
    for (size_t i = 0; i < s->narmed; i++) {
        struct armed *a = &s->armed[i];
        if (atomic_load(&a->gone))
            continue;
        struct probe *p = atomic_load_explicit(&a->point->ctrace__probe,
                                               memory_order_relaxed);
        if (p != NULL)
            atomic_fetch_and(&p->sessions, ~(UINT64_C(1) << s->slot));
        ctrace__point_disarm(a->point);
    }
    atomic_store_explicit(&slots[s->slot], NULL, memory_order_seq_cst);
    ctrace__registry_unlock();
    if (s->wants != 0)
        update_proc_wants(s, false);
}

static int cmp_count_key(const void *a, const void *b)
{
    const struct ctrace__count_key *x = a, *y = b;
    if (x->calls != y->calls)
        return x->calls < y->calls ? 1 : -1;
    return strcmp(x->text, y->text);
}

/*
 * The count(...) report of one point, largest first, merging slots that
 * hold the same key. Registry lock held (the names are the point's).
 */
static void format_count_by(struct ctrace_session *s,
                            struct armed *a,
                            struct ctrace__sbuf *text)
{
    struct ctrace__count_key keys[COUNT_KEYS];
    size_t n = 0;
    for (size_t i = 0; i < COUNT_KEYS; i++) {
        struct count_key *k = &a->by->keys[i];
        if (!atomic_load(&k->ready))
            continue;
        uint64_t calls = atomic_load(&k->calls);
        size_t j = 0;
        while (j < n && strcmp(keys[j].text, k->text) != 0)
            j++;
        if (j == n)
            keys[n++] = (struct ctrace__count_key){k->text, 0};
        keys[j].calls += calls;
    }
    if (n == 0 && atomic_load(&a->by->other) == 0)
        return;
    qsort(keys, n, sizeof(keys[0]), cmp_count_key);
    ctrace__format_count_by(&s->format,
                            a->point->module,
                            a->point->function,
                            a->point->arity,
                            a->by->spec->count_by,
                            a->by->spec->ncount_by,
                            keys,
                            n,
                            atomic_load(&a->by->other),
                            text);
}

/* Appends the report of the `time` and `count` actions, if any. */
static void format_counters(struct ctrace_session *s, struct ctrace__sbuf *text)
{
    if (s->all_actions & COUNTER_ACTIONS) {
        struct ctrace__point_stats *st = ctrace__calloc(s->narmed, sizeof(*st));
        size_t n = 0;
        /* Names are read from the points: see deliver(). */
        ctrace__registry_lock();
        for (size_t i = 0; st != NULL && i < s->narmed; i++) {
            struct armed *a = &s->armed[i];
            if (atomic_load(&a->gone) || atomic_load(&a->calls) == 0)
                continue;
            st[n].module = a->point->module;
            st[n].function = a->point->function;
            st[n].arity = a->point->arity;
            st[n].calls = atomic_load(&a->calls);
            st[n].time = a->timed;
            st[n].total_ns =
                ctrace__clock_ticks_to_ns(atomic_load(&a->total_ticks));
            st[n].max_ns =
                ctrace__clock_ticks_to_ns(atomic_load(&a->max_ticks));
            n++;
        }
        ctrace__format_point_stats(&s->format, st, n, text);
        for (size_t i = 0; i < s->narmed; i++)
            if (s->armed[i].by != NULL && !atomic_load(&s->armed[i].gone))
                format_count_by(s, &s->armed[i], text);
        ctrace__registry_unlock();
        ctrace__free(st);
    }
}

static void report(struct ctrace_session *s, struct ctrace__sbuf *text)
{
    if (s->opts.fd < 0 || s->sink_errno != 0)
        return;
    format_counters(s, text);
    uint64_t shed = atomic_load(&s->shed);
    ctrace__format_stopped(&s->format,
                           s->reason,
                           atomic_load(&s->events),
                           atomic_load(&s->dropped) + shed,
                           shed,
                           text);
    emit_text(s, text);
}

/* Keeps the failure of a session's sink for ctrace__engine_sink_failures. */
static void note_sink_failure(struct ctrace_session *s)
{
    pthread_mutex_lock(&failures_lock);
    memmove(&sink_failures[1],
            &sink_failures[0],
            sizeof(sink_failures) - sizeof(sink_failures[0]));
    struct ctrace__sink_failure *f = &sink_failures[0];
    snprintf(f->reason, sizeof(f->reason), "%s", s->reason);
    f->events = atomic_load(&s->events);
    f->dropped = atomic_load(&s->dropped) + atomic_load(&s->shed);
    f->stopped_us = ctrace__clock_wall_us();
    f->sink_errno = s->sink_errno;
    sink_failures_total++;
    pthread_mutex_unlock(&failures_lock);
}

static void finish(struct ctrace_session *s, enum ctrace_stop_reason reason)
{
    struct ctrace__sbuf text = CTRACE__SBUF_INIT;
    pthread_mutex_lock(&engine_lock);
    unpublish(s);
    pthread_mutex_unlock(&engine_lock);
    /* After this, no traced thread can write into the queue any more. */
    ctrace__thread_synchronize();
    drain(s, &text);
    /*
     * The symbol tables of `stack` and `caller` (tens of MB for a large
     * program) go as soon as nothing more will be symbolized, not when
     * the handle is freed, which may be much later.
     */
    ctrace__symbolizer_free(s->symbolizer);
    s->symbolizer = NULL;
    /*
     * The queue, and its share of the memory cap, go now too: a stopped
     * session keeps only its counters and reason, however long its handle
     * is kept (the admin endpoint lists stopped sessions for a minute).
     */
    ctrace__queue_destroy(&s->queue);
    pthread_mutex_lock(&engine_lock);
    engine_memory -= s->memory;
    s->memory = 0;
    pthread_mutex_unlock(&engine_lock);
    /* No drop can follow: move this session's into the total. */
    ctrace__registry_lock();
    total_dropped += atomic_load(&s->dropped);
    total_shed += atomic_load(&s->shed);
    s->dropped_counted = true;
    ctrace__registry_unlock();
    /* A failing sink during the drain overrides a softer reason. */
    if (s->sink_errno != 0)
        reason = CTRACE_STOP_SINK;
    uint64_t a = 0, b = 0;
    switch (reason) {
    case CTRACE_STOP_MSGS:
        a = s->opts.msgs;
        break;
    case CTRACE_STOP_CALLS:
        a = s->opts.calls;
        break;
    case CTRACE_STOP_TIME:
        a = s->opts.time_ms;
        break;
    case CTRACE_STOP_RATE:
        a = s->opts.rate_count;
        b = s->opts.rate_ms;
        break;
    default:
        break;
    }
    ctrace__format_stop_reason(
        reason, a, b, s->sink_errno, s->reason, sizeof(s->reason));
    s->final_reason = reason;
    report(s, &text);
    ctrace__sbuf_free(&text);
    if (reason == CTRACE_STOP_SINK)
        note_sink_failure(s);

    pthread_mutex_lock(&engine_lock);
    engine_sessions--;
    pthread_mutex_unlock(&engine_lock);

    pthread_mutex_lock(&s->lock);
    s->state = STOPPED;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    /*
     * ctrace_session_free() joins this thread before freeing, so the
     * session outlives the callback.
     */
    if (s->opts.on_stop != NULL)
        s->opts.on_stop(s, s->opts.arg);
}

static void *consumer_main(void *arg)
{
    struct ctrace_session *s = arg;
    ctrace__thread_set_no_trace();
    /*
     * A text sink may be a pipe whose reader dies. The process-wide
     * default for SIGPIPE is to die with it; block it on this thread only
     * (write() then fails with EPIPE and the session stops with "sink
     * failed"), leaving the service's own signal settings alone.
     */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    struct ctrace__sbuf text = CTRACE__SBUF_INIT;
    uint64_t drain_deadline = 0;
    overhead_init(s);
    for (;;) {
        overhead_settle(s);
        if (drain(s, &text) > 0)
            continue;
        uint64_t now = ctrace__clock_mono_ns();
        int req = atomic_load(&s->stop_request);
        if (req == CTRACE_STOP_RUNNING && s->opts.time_ms != 0 &&
            now - s->start_mono_ns >= (uint64_t)s->opts.time_ms * 1000000u) {
            request_stop(s, CTRACE_STOP_TIME);
            req = atomic_load(&s->stop_request);
        }
        if (req == CTRACE_STOP_CALLS) {
            /*
             * The last call is queued; its return, and those of the calls
             * before it, may follow shortly. Wait for them a little.
             */
            if (drain_deadline == 0)
                drain_deadline = now + DRAIN_MS * 1000000u;
            if (atomic_load(&s->outstanding) > 0 && now < drain_deadline) {
                struct timespec ts = {0, 200 * 1000};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        if (req != CTRACE_STOP_RUNNING) {
            ctrace__sbuf_free(&text);
            finish(s, (enum ctrace_stop_reason)req);
            return NULL;
        }
        /*
         * Idle: producers never signal (that would be a system call on the
         * traced thread), so poll. 1 ms keeps latency low enough for a
         * person watching and costs a thousand wake-ups a second only
         * while a session runs.
         */
        pthread_mutex_lock(&s->lock);
        if (!s->freeing) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += 1000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->cond, &s->lock, &until);
        }
        pthread_mutex_unlock(&s->lock);
    }
}

/* ---- Control side. ---- */

void ctrace_session_opts_init(struct ctrace_session_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->time_ms = 15000;
    opts->msgs = 10;
    opts->max_queue = 1000;
    opts->max_msg_size = 256;
    opts->procs = CTRACE_PROCS_ALL;
    opts->fd = -1;
    opts->format = CTRACE_FORMAT_REDBUG;
    opts->max_overhead_pct = 20;
}

static int check_opts(const struct ctrace_session_opts *o,
                      struct ctrace_error *err)
{
    if (o->time_ms == 0 && o->msgs == 0 && o->calls == 0 && !o->force)
        return ctrace__error_set(err,
                                 CTRACE_ETOOBROAD,
                                 0,
                                 0,
                                 "a session with no time, msgs or calls limit "
                                 "could run forever; set one, or set force");
    if (o->rate_count != 0 && o->rate_ms == 0)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "rate limit %u per 0 ms: the window must be "
                                 "at least 1 ms",
                                 (unsigned)o->rate_count);
    if (o->max_queue == 0 || o->max_queue > (1u << 20))
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "max_queue %u is out of range 1..1048576",
                                 (unsigned)o->max_queue);
    if (o->max_overhead_pct == 0 || o->max_overhead_pct > 100)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "max_overhead_pct %u is out of range 1..100",
                                 (unsigned)o->max_overhead_pct);
    if (o->max_msg_size == 0 || o->max_msg_size > 65536)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "max_msg_size %u is out of range 1..65536",
                                 (unsigned)o->max_msg_size);
    if (o->procs > CTRACE_PROCS_PIDS)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "procs filter %d is unknown",
                                 (int)o->procs);
    if (o->procs == CTRACE_PROCS_PIDS && (o->npids == 0 || o->pids == NULL) &&
        (o->nnames == 0 || o->names == NULL))
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "the pids filter needs at least one pid or "
                                 "registered name");
    if (o->path != NULL && o->fd >= 0)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "give the sink a file descriptor or a path, "
                                 "not both");
    if (o->format > CTRACE_FORMAT_JSON)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "output format %d is unknown",
                                 (int)o->format);
    return 0;
}

static int parse_specs(struct ctrace_session *s,
                       const char *const *specs,
                       size_t nspecs,
                       struct ctrace_error *err)
{
    if (nspecs == 0 || specs == NULL)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "a session needs at least one trace spec");
    if (nspecs > MAX_SPECS)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "%zu trace specs given; at most %d",
                                 nspecs,
                                 MAX_SPECS);
    for (size_t i = 0; i < nspecs; i++) {
        struct ctrace_error e = {0};
        const char *text = specs[i] != NULL ? specs[i] : "";
        s->specs[i] = ctrace__spec_parse(text, strlen(text), &e);
        if (s->specs[i] == NULL) {
            if (nspecs > 1)
                return ctrace__error_set(err,
                                         e.code,
                                         e.column,
                                         e.position,
                                         "spec %zu: %s",
                                         i + 1,
                                         e.text);
            return ctrace__error_set(
                err, e.code, e.column, e.position, "%s", e.text);
        }
        s->nspecs = i + 1;
        switch (s->specs[i]->kind) {
        case CTRACE__SPEC_SEND:
            s->wants |= CTRACE__WANT_SEND;
            break;
        case CTRACE__SPEC_RECEIVE:
            s->wants |= CTRACE__WANT_RECEIVE;
            break;
        case CTRACE__SPEC_PROCS:
            s->wants |= CTRACE__WANT_PROCS;
            break;
        case CTRACE__SPEC_CALL:
            break;
        }
        s->all_actions |= s->specs[i]->action_mask;
    }
    return 0;
}

/* "cat_travler:enter/2" as the user meant it, for messages. */
static void spec_target(const struct ctrace__spec *spec, char *buf, size_t n)
{
    if (spec->function == NULL)
        snprintf(buf, n, "%s", spec->module);
    else if (spec->arity >= 0)
        snprintf(buf, n, "%s:%s/%d", spec->module, spec->function, spec->arity);
    else
        snprintf(buf, n, "%s:%s", spec->module, spec->function);
}

struct select_ctx {
    struct ctrace_session *s;
    unsigned spec;
    size_t cap;
    int error;
};

/* Adds one selected point to the session's armed array. Registry lock. */
static int select_point(struct ctrace_point *pt, void *arg)
{
    struct select_ctx *c = arg;
    struct ctrace_session *s = c->s;
    if (!ctrace__spec_selects(
            s->specs[c->spec], pt->module, pt->function, pt->arity))
        return 0;
    for (size_t i = 0; i < s->narmed; i++) {
        if (s->armed[i].point == pt) {
            s->armed[i].specs |= 1u << c->spec;
            return 0;
        }
    }
    if (s->narmed == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct armed *a = ctrace__realloc(s->armed, cap * sizeof(*a));
        if (a == NULL) {
            c->error = CTRACE_ENOMEM;
            return 1;
        }
        s->armed = a;
        c->cap = cap;
    }
    struct armed *a = &s->armed[s->narmed++];
    memset(a, 0, sizeof(*a));
    a->point = pt;
    a->specs = 1u << c->spec;
    atomic_init(&a->gone, false);
    atomic_init(&a->calls, 0);
    atomic_init(&a->total_ticks, 0);
    atomic_init(&a->max_ticks, 0);
    return 0;
}

static int cmp_armed(const void *a, const void *b)
{
    const struct armed *x = a, *y = b;
    return (x->point > y->point) - (x->point < y->point);
}

/*
 * Finds the points every spec selects. A spec that selects none is an
 * error naming the closest points. Registry lock held.
 */
static int select_points(struct ctrace_session *s, struct ctrace_error *err)
{
    struct select_ctx c = {.s = s};
    for (unsigned j = 0; j < s->nspecs; j++) {
        if (s->specs[j]->kind != CTRACE__SPEC_CALL)
            continue; /* process events select no trace point */
        c.spec = j;
        ctrace__registry_walk(NULL, NULL, -1, select_point, &c);
        if (c.error != 0)
            return ctrace__error_set(err, c.error, 0, 0, "out of memory");
        bool any = false;
        for (size_t i = 0; i < s->narmed && !any; i++)
            any = (s->armed[i].specs & (1u << j)) != 0;
        if (any)
            continue;
        const struct ctrace__spec *spec = s->specs[j];
        char target[300];
        spec_target(spec, target, sizeof(target));
        /* Suggestions take the registry lock themselves: release it. */
        ctrace__registry_unlock();
        struct ctrace__suggestion sug[3];
        size_t n = ctrace__registry_suggest(
            strcmp(spec->module, "*") == 0 ? "*" : spec->module,
            spec->function,
            spec->arity,
            sug,
            3);
        ctrace__registry_lock();
        char hint[sizeof(sug[0].text) * 3 + 32] = "";
        if (n > 0) {
            size_t len = (size_t)snprintf(
                hint, sizeof(hint), "; did you mean %s", sug[0].text);
            for (size_t k = 1; k < n && len < sizeof(hint); k++)
                len += (size_t)snprintf(hint + len,
                                        sizeof(hint) - len,
                                        "%s %s",
                                        k + 1 == n ? " or" : ",",
                                        sug[k].text);
            if (len < sizeof(hint))
                snprintf(hint + len, sizeof(hint) - len, "?");
        }
        return ctrace__error_set(err,
                                 CTRACE_ENOMATCH,
                                 0,
                                 0,
                                 "no trace point matches %s%s",
                                 target,
                                 hint);
    }
    if (s->narmed > 0)
        qsort(s->armed, s->narmed, sizeof(*s->armed), cmp_armed);
    for (size_t i = 0; i < s->narmed; i++) {
        unsigned actions = 0;
        const struct ctrace__spec *by = NULL;
        for (uint32_t m = s->armed[i].specs; m != 0; m &= m - 1) {
            const struct ctrace__spec *spec = s->specs[__builtin_ctz(m)];
            actions |= spec->action_mask;
            /* The first spec with count(...) at this point decides. */
            if (by == NULL && spec->ncount_by > 0 &&
                (spec->action_mask & CTRACE__ACTION_COUNT))
                by = spec;
        }
        s->armed[i].timed = (actions & CTRACE__ACTION_TIME) != 0;
        if (by != NULL) {
            s->armed[i].by = ctrace__calloc(1, sizeof(*s->armed[i].by));
            if (s->armed[i].by == NULL)
                return ctrace__error_set(
                    err, CTRACE_ENOMEM, 0, 0, "out of memory");
            s->armed[i].by->spec = by;
        }
    }
    return 0;
}

/*
 * recon refuses '_' modules for every process (its dangerous_combo); so do
 * we, unless forced: a spec whose module is a bare wildcard selects every
 * trace point of the program.
 */
static int check_breadth(const struct ctrace_session *s,
                         struct ctrace_error *err)
{
    if (s->opts.force || s->opts.procs != CTRACE_PROCS_ALL)
        return 0;
    for (size_t i = 0; i < s->nspecs; i++)
        if (s->specs[i]->kind == CTRACE__SPEC_CALL &&
            strcmp(s->specs[i]->module, "*") == 0)
            return ctrace__error_set(
                err,
                CTRACE_ETOOBROAD,
                0,
                0,
                "'%s' selects every trace point of the program for every "
                "process; name a module, filter processes, or set force",
                s->specs[i]->text);
    return 0;
}

/* Arms the selected points for slot `slot`. Registry lock held. */
static int arm_points(struct ctrace_session *s, struct ctrace_error *err)
{
    for (size_t i = 0; i < s->narmed; i++) {
        struct ctrace_point *pt = s->armed[i].point;
        struct probe *p =
            atomic_load_explicit(&pt->ctrace__probe, memory_order_relaxed);
        if (p == NULL) {
            p = ctrace__calloc(1, sizeof(*p));
            if (p == NULL)
                return ctrace__error_set(
                    err, CTRACE_ENOMEM, 0, 0, "out of memory");
            p->point = pt;
            p->next = probes;
            probes = p;
            ctrace__point_set_probe(pt, p);
        }
        atomic_store_explicit(
            &p->index[s->slot], (uint32_t)i, memory_order_relaxed);
        atomic_fetch_or_explicit(
            &p->sessions, UINT64_C(1) << s->slot, memory_order_release);
        int rc = ctrace__point_arm(pt);
        if (rc < 0) {
            atomic_fetch_and(&p->sessions, ~(UINT64_C(1) << s->slot));
            /* Undo what was armed before this one. */
            for (size_t k = 0; k < i; k++) {
                struct probe *q =
                    atomic_load(&s->armed[k].point->ctrace__probe);
                atomic_fetch_and(&q->sessions, ~(UINT64_C(1) << s->slot));
                ctrace__point_disarm(s->armed[k].point);
            }
            return ctrace__error_set(err,
                                     rc,
                                     0,
                                     0,
                                     "trace point %s:%s is armed by too "
                                     "many sessions",
                                     pt->module,
                                     pt->function);
        }
    }
    return 0;
}

static void session_destroy(struct ctrace_session *s)
{
    if (s->on_live_list) {
        ctrace__registry_lock();
        struct ctrace_session **link = &live_sessions;
        while (*link != NULL && *link != s)
            link = &(*link)->next_live;
        if (*link == s)
            *link = s->next_live;
        ctrace__registry_unlock();
    }
    if (s->memory != 0) {
        pthread_mutex_lock(&engine_lock);
        engine_memory -= s->memory;
        pthread_mutex_unlock(&engine_lock);
    }
    for (size_t i = 0; i < s->nspecs; i++)
        ctrace__spec_free(s->specs[i]);
    for (size_t i = 0; i < s->narmed; i++)
        ctrace__free(s->armed[i].by);
    ctrace__free(s->armed);
    ctrace__free(s->pids);
    ctrace__symbolizer_free(s->symbolizer);
    if (s->owns_fd)
        close(s->opts.fd);
    if (s->queue.cells != NULL)
        ctrace__queue_destroy(&s->queue);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    ctrace__free(s);
}

/*
 * The pids filter: the pids given and those registered under the names
 * given, looked up now (as redbug does: a name registered later does not
 * count).
 */
static int resolve_pids(struct ctrace_session *s,
                        const struct ctrace_session_opts *opts,
                        struct ctrace_error *err)
{
    size_t npids = opts->pids != NULL ? opts->npids : 0;
    size_t nnames = opts->names != NULL ? opts->nnames : 0;
    s->pids = ctrace__malloc((npids + nnames) * sizeof(*s->pids));
    if (s->pids == NULL)
        return ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
    if (npids > 0)
        memcpy(s->pids, opts->pids, npids * sizeof(*s->pids));
    s->npids = npids;
    for (size_t i = 0; i < nnames; i++) {
        const char *name = opts->names[i] != NULL ? opts->names[i] : "";
        uint64_t pid = ctrace_whereis(name);
        if (pid == 0)
            return ctrace__error_set(err,
                                     CTRACE_ENOPROC,
                                     0,
                                     0,
                                     "no process is registered as '%s'",
                                     name);
        s->pids[s->npids++] = pid;
    }
    s->opts.pids = s->pids;
    s->opts.npids = s->npids;
    s->opts.names = NULL;
    s->opts.nnames = 0;
    return 0;
}

struct ctrace_session *
ctrace_session_start(const char *const *specs,
                     size_t nspecs,
                     const struct ctrace_session_opts *opts,
                     struct ctrace_error *err)
{
    ctrace__error_clear(err);
    pthread_once(&engine_once, engine_init);
    struct ctrace_session_opts defaults;
    if (opts == NULL) {
        ctrace_session_opts_init(&defaults);
        opts = &defaults;
    }
    if (check_opts(opts, err) < 0)
        return NULL;
    struct ctrace_session *s = ctrace__calloc(1, sizeof(*s));
    if (s == NULL) {
        ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    s->opts = *opts;
    pthread_mutex_init(&s->lock, NULL);
    init_cond(&s->cond);
    snprintf(s->reason, sizeof(s->reason), "running");
    if (opts->procs == CTRACE_PROCS_PIDS && resolve_pids(s, opts, err) < 0) {
        session_destroy(s);
        return NULL;
    }
    if (parse_specs(s, specs, nspecs, err) < 0 || check_breadth(s, err) < 0) {
        session_destroy(s);
        return NULL;
    }
    if (opts->path != NULL) {
        int fd =
            open(opts->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            int e = errno;
            ctrace__error_set(
                err, -e, 0, 0, "cannot open %s: %s", opts->path, strerror(e));
            session_destroy(s);
            return NULL;
        }
        s->opts.fd = fd;
        s->opts.path = NULL;
        s->owns_fd = true;
    }
    ctrace__format_opts_init(&s->format);
    s->format.format = opts->format;
    s->format.timestamps_ms = opts->timestamps_ms;
    s->format.render.depth = opts->print_depth;
    s->format.render.max_size = opts->max_msg_size;

    pthread_mutex_lock(&engine_lock);
    int rc = 0;
    unsigned slot = CTRACE__MAX_SESSIONS;
    for (unsigned i = 0; i < CTRACE__MAX_SESSIONS; i++)
        if (atomic_load(&slots[i]) == NULL) {
            slot = i;
            break;
        }
    if (slot == CTRACE__MAX_SESSIONS) {
        rc = ctrace__error_set(err,
                               CTRACE_ELIMIT,
                               0,
                               0,
                               "%d sessions are running already; stop one "
                               "first",
                               CTRACE__MAX_SESSIONS);
        goto fail_locked;
    }
    s->slot = slot;

    /*
     * From selection to arming the registry lock is held throughout, so no
     * module can be unloaded between finding a point and switching it on.
     */
    ctrace__registry_lock();
    rc = select_points(s, err);
    if (rc < 0)
        goto fail_registry;

    unsigned max_arity = 1;
    for (size_t i = 0; i < s->narmed; i++)
        if (s->armed[i].point->arity > max_arity)
            max_arity = s->armed[i].point->arity;
    ctrace__record_layout_init(
        &s->layout, opts->max_msg_size, opts->print_depth, max_arity);
    if (s->all_actions & CTRACE__ACTION_DUMP) {
        s->layout.dump_bytes = DUMP_BYTES;
        s->layout.slot_size += DUMP_BYTES;
    }
    /* What is rendered is what was kept: the record's depth. */
    s->format.render.depth = s->layout.depth;
    size_t need = ctrace__queue_bytes(opts->max_queue, s->layout.slot_size);
    if (need == SIZE_MAX || engine_memory + need > CTRACE__MEMORY_LIMIT) {
        rc = ctrace__error_set(err,
                               CTRACE_ELIMIT,
                               0,
                               0,
                               "the session would need %zu KiB of queue and "
                               "sessions may use %zu KiB together (%zu KiB "
                               "in use); lower max_queue or max_msg_size",
                               need == SIZE_MAX ? SIZE_MAX / 1024 : need / 1024,
                               CTRACE__MEMORY_LIMIT / 1024,
                               engine_memory / 1024);
        goto fail_registry;
    }
    rc = ctrace__queue_init(&s->queue, opts->max_queue, s->layout.slot_size);
    if (rc < 0) {
        ctrace__error_set(err, rc, 0, 0, "cannot allocate the event queue");
        goto fail_registry;
    }
    /* Charged until the queue is freed, in finish() (or session_destroy()
     * when the session never ran). */
    s->memory = need;
    engine_memory += need;

    s->pid_watermark = ctrace__proc_watermark();
    ctrace__clock_anchor_now(&s->anchor);
    s->start_mono_ns = ctrace__clock_mono_ns();
    s->start_epoch = atomic_fetch_add(&session_epoch, 1) + 1;
    atomic_store_explicit(&slots[slot], s, memory_order_seq_cst);
    rc = arm_points(s, err);
    if (rc < 0) {
        atomic_store(&slots[slot], NULL);
        ctrace__registry_unlock();
        goto fail_published;
    }
    s->next_live = live_sessions;
    live_sessions = s;
    s->on_live_list = true;
    ctrace__registry_unlock();
    if (s->wants != 0)
        update_proc_wants(s, true);

    /*
     * The consumer takes no signal meant for the service's own threads
     * (a sigwait() thread, say): create it with every signal blocked.
     */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->consumer, NULL, consumer_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        unpublish(s);
        ctrace__error_set(err,
                          -rc,
                          0,
                          0,
                          "cannot start the consumer thread: %s",
                          strerror(rc));
        rc = -rc;
        goto fail_published;
    }
    s->consumer_started = true;
    engine_sessions++;
    pthread_mutex_unlock(&engine_lock);
    return s;

fail_registry:
    ctrace__registry_unlock();
    goto fail_locked;
fail_published:
    pthread_mutex_unlock(&engine_lock);
    ctrace__thread_synchronize();
    session_destroy(s);
    return NULL;
fail_locked:
    pthread_mutex_unlock(&engine_lock);
    session_destroy(s);
    return NULL;
}

int ctrace_session_wait(struct ctrace_session *s, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_ms >= 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    while (s->state != STOPPED && rc == 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&s->cond, &s->lock);
        else
            rc = pthread_cond_timedwait(&s->cond, &s->lock, &until);
    }
    bool stopped = s->state == STOPPED;
    pthread_mutex_unlock(&s->lock);
    return stopped ? 0 : -ETIMEDOUT;
}

int ctrace_session_stop(struct ctrace_session *s)
{
    request_stop(s, CTRACE_STOP_USER);
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return ctrace_session_wait(s, -1);
}

void ctrace_session_stats(const struct ctrace_session *s,
                          struct ctrace_session_stats *st)
{
    struct ctrace_session *m = (struct ctrace_session *)s;
    pthread_mutex_lock(&m->lock);
    bool stopped = m->state == STOPPED;
    st->reason = stopped ? m->final_reason : CTRACE_STOP_RUNNING;
    st->events = atomic_load(&m->events);
    st->sink_errno = stopped ? m->sink_errno : 0;
    pthread_mutex_unlock(&m->lock);
    st->shed = atomic_load(&m->shed);
    st->dropped = atomic_load(&m->dropped) + st->shed;
    st->points_armed = (unsigned)m->narmed;
}

const char *ctrace_session_reason(const struct ctrace_session *s)
{
    struct ctrace_session *m = (struct ctrace_session *)s;
    pthread_mutex_lock(&m->lock);
    bool stopped = m->state == STOPPED;
    pthread_mutex_unlock(&m->lock);
    return stopped ? s->reason : "running";
}

void ctrace__session_charge(struct ctrace_session *s, uint64_t ns)
{
    atomic_fetch_add_explicit(&s->charged_ns, ns, memory_order_relaxed);
}

void ctrace__session_reap(struct ctrace_session *s)
{
    ctrace_session_wait(s, -1);
    pthread_mutex_lock(&s->lock);
    bool join = s->consumer_started && !s->consumer_joined;
    s->consumer_joined = true;
    pthread_mutex_unlock(&s->lock);
    if (join)
        pthread_join(s->consumer, NULL);
}

void ctrace_session_free(struct ctrace_session *s)
{
    if (s == NULL)
        return;
    ctrace_session_stop(s);
    ctrace__session_reap(s);
    session_destroy(s);
}

size_t ctrace__engine_memory(void)
{
    pthread_mutex_lock(&engine_lock);
    size_t m = engine_memory;
    pthread_mutex_unlock(&engine_lock);
    return m;
}

unsigned ctrace__engine_sessions(void)
{
    pthread_mutex_lock(&engine_lock);
    unsigned n = engine_sessions;
    pthread_mutex_unlock(&engine_lock);
    return n;
}

void ctrace__engine_totals(uint64_t *events, uint64_t *dropped)
{
    *events = atomic_load_explicit(&total_events, memory_order_relaxed);
    uint64_t by_site[CTRACE__DROP_SITES];
    ctrace__drops_read(by_site);
    uint64_t d = 0;
    for (unsigned i = 0; i < CTRACE__DROP_SITES; i++)
        d += by_site[i];
    *dropped = d;
}

void ctrace__drops_add(enum ctrace__drop_site site, uint64_t n)
{
    if ((unsigned)site < CTRACE__DROP_SITES)
        atomic_fetch_add_explicit(&site_drops[site], n, memory_order_relaxed);
}

void ctrace__drops_read(uint64_t counts[CTRACE__DROP_SITES])
{
    for (unsigned i = 0; i < CTRACE__DROP_SITES; i++)
        counts[i] = atomic_load_explicit(&site_drops[i], memory_order_relaxed);
    /* The engine's own are summed here, never on traced threads. */
    ctrace__registry_lock();
    uint64_t queue = total_dropped, shed = total_shed;
    for (struct ctrace_session *s = live_sessions; s != NULL; s = s->next_live)
        if (!s->dropped_counted) {
            queue += atomic_load_explicit(&s->dropped, memory_order_relaxed);
            shed += atomic_load_explicit(&s->shed, memory_order_relaxed);
        }
    ctrace__registry_unlock();
    counts[CTRACE__DROP_QUEUE] += queue;
    counts[CTRACE__DROP_SHED] += shed;
}

const char *ctrace__drop_site_name(enum ctrace__drop_site site)
{
    switch (site) {
    case CTRACE__DROP_QUEUE:
        return "session_queue";
    case CTRACE__DROP_SHED:
        return "overhead";
    case CTRACE__DROP_STREAM:
        return "stream_buffer";
    case CTRACE__DROP_EXPORT:
        return "export";
    default:
        return "unknown";
    }
}

size_t ctrace__engine_sink_failures(struct ctrace__sink_failure *out,
                                    size_t max,
                                    uint64_t *total)
{
    pthread_mutex_lock(&failures_lock);
    uint64_t n = sink_failures_total;
    size_t kept = n < SINK_FAILURES_KEPT ? (size_t)n : SINK_FAILURES_KEPT;
    if (kept > max)
        kept = max;
    if (kept > 0)
        memcpy(out, sink_failures, kept * sizeof(*out));
    pthread_mutex_unlock(&failures_lock);
    if (total != NULL)
        *total = n;
    return kept;
}

size_t ctrace__engine_armed_points(ctrace__armed_point_fn fn, void *arg)
{
    size_t n = 0;
    ctrace__registry_lock();
    for (struct probe *p = probes; p != NULL; p = p->next) {
        if (p->point == NULL || atomic_load(&p->sessions) == 0)
            continue;
        n++;
        if (fn != NULL)
            fn(p->point->module,
               p->point->function,
               p->point->arity,
               atomic_load_explicit(&p->delivered, memory_order_relaxed),
               arg);
    }
    ctrace__registry_unlock();
    return n;
}

char *ctrace__session_counters_report(struct ctrace_session *s)
{
    pthread_mutex_lock(&s->lock);
    bool stopped = s->state == STOPPED;
    pthread_mutex_unlock(&s->lock);
    if (!stopped)
        return NULL;
    struct ctrace__sbuf text = CTRACE__SBUF_INIT;
    format_counters(s, &text);
    return ctrace__sbuf_take(&text);
}
