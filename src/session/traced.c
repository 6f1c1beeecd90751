/* SPDX-License-Identifier: MIT */
/*
 * The traced side of sessions: what a traced thread runs when it reaches an
 * armed trace point. This file is the whole hot path; everything here runs
 * on the service's threads, so nothing here takes a lock (but `dump`),
 * allocates or makes a system call. The rules are in engine.h.
 */
#include <execinfo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "proc/proc.h"
#include "proc/thread.h"
#include "session/engine.h"

/*
 * What recording costs the traced thread, for the overhead budget: one
 * event in COST_SAMPLE is timed (two tick reads) and counted COST_SAMPLE
 * times, so the others pay one increment. cost_begin() returns 0 for an
 * event that is not timed.
 */
#define COST_SAMPLE 16

static inline uint64_t cost_begin(struct ctrace__thread *t)
{
    if ((++t->recorded & (COST_SAMPLE - 1)) != 0)
        return 0;
    return ctrace__clock_ticks();
}

static inline void cost_end(struct ctrace_session *s, uint64_t start)
{
    if (start == 0)
        return;
    atomic_fetch_add_explicit(&s->cost_ticks,
                              (ctrace__clock_ticks() - start) * COST_SAMPLE,
                              memory_order_relaxed);
}

/*
 * Takes a ticket for an event. Every event takes one of the `msgs` tickets
 * (redbug's msgs: a call and its return are two); calls and process events
 * also take one of the `calls` tickets (returns of calls taken still come).
 * The last ticket of either asks the session to stop, so at most `msgs`
 * events and `calls` calls are ever queued. A call that gets a `calls`
 * ticket but no `msgs` ticket is not queued; its `calls` ticket is spent.
 */
static inline bool take_ticket(struct ctrace_session *s, bool counts_as_call)
{
    if (counts_as_call && s->opts.calls != 0) {
        uint_fast64_t n =
            atomic_fetch_add_explicit(&s->calls_taken, 1, memory_order_relaxed);
        if (n >= s->opts.calls)
            return false;
        if (n + 1 == s->opts.calls)
            ctrace__session_request_stop(s, CTRACE_STOP_CALLS);
    }
    if (s->opts.msgs == 0)
        return true;
    uint_fast64_t n =
        atomic_fetch_add_explicit(&s->msgs_taken, 1, memory_order_relaxed);
    if (n >= s->opts.msgs)
        return false;
    if (n + 1 == s->opts.msgs)
        ctrace__session_request_stop(s, CTRACE_STOP_MSGS);
    return true;
}

static inline struct ctrace__record *reserve(struct ctrace_session *s)
{
    struct ctrace__record *r = ctrace__queue_reserve(&s->queue);
    if (r == NULL) {
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        ctrace__session_request_stop(s, CTRACE_STOP_QUEUE);
    }
    return r;
}

/* The session in slot i if it may still take events of the given kind. */
static struct ctrace_session *session_at(unsigned i, bool call)
{
    struct ctrace_session *s =
        atomic_load_explicit(&ctrace__slots[i], memory_order_seq_cst);
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
 * The arguments as the full matcher reads them, with
 * every unmeasured string measured (point.h): `args` itself when none is,
 * else a copy in `buf`. Only calls carry such strings, and at most
 * CTRACE_POINT_ARGS_MAX arguments.
 */
static const struct ctrace_value *measured(const struct ctrace_value *args,
                                           size_t nargs,
                                           struct ctrace_value *buf)
{
    size_t i = 0;
    while (i < nargs && !ctrace__value_lazy(&args[i]))
        i++;
    if (i == nargs || nargs > CTRACE_POINT_ARGS_MAX)
        return args;
    memcpy(buf, args, nargs * sizeof(*buf));
    for (; i < nargs; i++)
        ctrace__value_measure(&buf[i]);
    return buf;
}

/*
 * Counts one call under its key, the raw bytes of the arguments count(...)
 * names (count.c); nothing is rendered or allocated here.
 */
static void
count_key(struct count_by *by, const struct ctrace_value *args, size_t nargs)
{
    unsigned char key[COUNT_KEY_BYTES];
    /* Unmeasured strings are read by the encoder, up to its bound. */
    size_t len = ctrace__count_key_encode(by->spec, args, nargs, key);
    uint64_t h = ctrace__count_key_hash(key, len);
    for (size_t probe = 0, i = (size_t)h % COUNT_KEYS; probe < COUNT_KEYS;
         probe++, i = (i + 1) % COUNT_KEYS) {
        struct count_key *k = &by->keys[i];
        uint64_t cur = atomic_load_explicit(&k->hash, memory_order_acquire);
        if (cur == 0) {
            if (!atomic_compare_exchange_strong_explicit(&k->hash,
                                                         &cur,
                                                         h,
                                                         memory_order_acq_rel,
                                                         memory_order_acquire))
                goto claimed; /* another thread took it: cur is its hash */
            memcpy(k->key, key, len);
            k->len = (uint32_t)len;
            atomic_fetch_add_explicit(&k->calls, 1, memory_order_relaxed);
            atomic_store_explicit(&k->ready, true, memory_order_release);
            return;
        }
    claimed:
        if (cur == h && atomic_load_explicit(&k->ready, memory_order_acquire) &&
            k->len == len && memcmp(k->key, key, len) == 0) {
            atomic_fetch_add_explicit(&k->calls, 1, memory_order_relaxed);
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
/*
 * Inlined into its two callers, so that each has its own copy with
 * `is_event` known: the call's copy is the hot one.
 */
static inline __attribute__((always_inline)) bool
fire(struct ctrace_point *pt,
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
    uint64_t epoch =
        atomic_load_explicit(&ctrace__session_epoch, memory_order_seq_cst);
    uint64_t ret_mask = 0, time_mask = 0;
    uint64_t mask = atomic_load_explicit(&p->sessions, memory_order_acquire);
    while (mask != 0) {
        unsigned i = (unsigned)__builtin_ctzll(mask);
        mask &= mask - 1;
        struct ctrace_session *s = session_at(i, true);
        if (s == NULL || s->start_epoch > epoch ||
            !ctrace__session_procs_ok(s, pid))
            continue;
        struct armed *a = armed_at(s, p, i, pt);
        if (a == NULL)
            continue;
        unsigned actions = a->always_actions;
        bool fired = a->always;
        for (uint32_t specs = fired ? 0 : a->specs; specs != 0;
             specs &= specs - 1) {
            const struct ctrace__spec *spec = s->specs[__builtin_ctz(specs)];
            /*
             * The flat checks first (pattern.h): literals compared in place
             * reject most calls; the full matcher runs only for what they
             * cannot decide (guards, repeated variables, nested patterns).
             */
            enum ctrace__flat_result r =
                spec->flat.always ? CTRACE__FLAT_YES
                                  : ctrace__spec_flat_match(spec, args, nargs);
            if (r == CTRACE__FLAT_NO)
                continue;
            if (r == CTRACE__FLAT_MAYBE) {
                struct ctrace_value buf[CTRACE_POINT_ARGS_MAX];
                if (!ctrace__spec_match(
                        spec, measured(args, nargs, buf), nargs))
                    continue;
            }
            fired = true;
            actions |= spec->action_mask;
        }
        if (!fired)
            continue;
        /* The first session that takes the call stamps it (point.c). */
        if (frame->start_ns == 0)
            frame->start_ns = ctrace__clock_ticks();
        if (is_event)
            actions &= ~(unsigned)(CTRACE__ACTION_RETURN | CTRACE__ACTION_TIME);
        /* One test for the counters, which most traces do not ask for. */
        if (CTRACE__UNLIKELY(actions & COUNTER_ACTIONS)) {
            atomic_fetch_add_explicit(&a->calls, 1, memory_order_relaxed);
            if ((actions & CTRACE__ACTION_COUNT) && a->by != NULL)
                count_key(a->by, args, nargs);
            if (actions & CTRACE__ACTION_TIME)
                time_mask |= UINT64_C(1) << i;
            if ((actions & ~(unsigned)COUNTER_ACTIONS) == 0)
                goto want_return; /* only counting: no event */
        }
        /*
         * Count the return as due before the ticket can stop the session:
         * a consumer that sees the msgs stop then also sees it is owed one.
         */
        if (atomic_load_explicit(&s->shedding, memory_order_relaxed)) {
            atomic_fetch_add_explicit(&s->shed, 1, memory_order_relaxed);
            goto want_return;
        }
        uint64_t cost_start = cost_begin(t);
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
        if (CTRACE__UNLIKELY(actions &
                             (CTRACE__ACTION_STACK | CTRACE__ACTION_CALLER |
                              CTRACE__ACTION_DUMP))) {
            capture_stack(r, actions, frame->engine[3]);
            /*
             * `dump` describes the process as it is at the call, as
             * Erlang's process_dump does: here, on the calling thread,
             * taking the process table's lock (the only action that takes
             * a lock).
             */
            if ((actions & CTRACE__ACTION_DUMP) && s->layout.dump_bytes > 0)
                ctrace__proc_describe(pid,
                                      ctrace__record_dump(&s->layout, r),
                                      s->layout.dump_bytes);
        }
        ctrace__queue_commit(&s->queue, r);
        cost_end(s, cost_start);
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

bool ctrace__traced_enter(void *arg,
                          struct ctrace_point *pt,
                          void *probe,
                          struct ctrace__frame *frame,
                          size_t nargs,
                          const struct ctrace_value *args)
{
    (void)arg;
    /* Calls the point's filter rejects never get here (point.h). */
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

void ctrace__traced_ret(void *arg,
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
        uint64_t cost_start = cost_begin(t);
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
            ctrace__record_copy_one(&s->layout, r, value);
        ctrace__queue_commit(&s->queue, r);
        cost_end(s, cost_start);
    }
    ctrace__thread_leave(t);
}

/* Instantaneous events print as calls that have no return. */
void ctrace__traced_event(void *arg,
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

void ctrace__traced_proc_event(void *arg,
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
    uint64_t mask =
        atomic_load_explicit(&ctrace__proc_slots, memory_order_acquire);
    while (mask != 0) {
        unsigned i = (unsigned)__builtin_ctzll(mask);
        mask &= mask - 1;
        struct ctrace_session *s = session_at(i, true);
        if (s == NULL || (s->wants & bit) == 0 ||
            !ctrace__session_procs_ok(s, pid))
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
            ctrace__record_copy_one(&s->layout, r, value);
        ctrace__queue_commit(&s->queue, r);
    }
    ctrace__thread_leave(t);
}
