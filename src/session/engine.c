/* SPDX-License-Identifier: MIT */
/*
 * What outlives any one session: the slots and probes every session
 * publishes into, the hooks point.c calls, what module removal and fork()
 * do to sessions, and the totals the admin endpoint reads. The rules are
 * in engine.h.
 */
#include <execinfo.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proc/thread.h"
#include "session/engine.h"

pthread_mutex_t ctrace__engine_lock = PTHREAD_MUTEX_INITIALIZER;
struct ctrace_session *_Atomic ctrace__slots[CTRACE__MAX_SESSIONS];
_Atomic uint64_t ctrace__session_epoch;
struct probe *ctrace__probes; /* under the registry lock */
/*
 * Every session from start until it is destroyed, running or tearing
 * down: module removal marks their points gone. Under the registry lock.
 */
struct ctrace_session *ctrace__live_sessions;
size_t ctrace__engine_bytes; /* under the engine lock */
unsigned ctrace__engine_running;
pthread_once_t ctrace__engine_once = PTHREAD_ONCE_INIT;
/*
 * Process events: slots whose session traces some process-event kind, for
 * one load on the paths that raise them; the union of the kinds lives in
 * the point layer (ctrace__point_set_proc_wants()). Written under the
 * engine lock.
 */
_Atomic uint64_t ctrace__proc_slots;
/*
 * Totals since the program started, for the admin endpoint: events handed
 * to sinks (counted by consumers), and the drops of sessions that have
 * finished (under the registry lock; running sessions are summed in
 * ctrace__engine_totals()).
 */
atomic_uint_fast64_t ctrace__total_events;
uint64_t ctrace__total_dropped;
uint64_t
    ctrace__total_shed; /* under the registry lock, as ctrace__total_dropped */
/* Drops counted by other parts (ctrace__drops_add()), by site. */
static atomic_uint_fast64_t site_drops[CTRACE__DROP_SITES];
/* Sessions stopped by a failing sink: the count and the last few. */
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t sink_failures_total;
static struct ctrace__sink_failure sink_failures[SINK_FAILURES_KEPT];

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
    for (struct probe *p = ctrace__probes; p != NULL; p = p->next) {
        bool inside = false;
        for (struct ctrace_point *const *it = start; it < stop && !inside; it++)
            inside = *it == p->point;
        if (!inside || p->point == NULL)
            continue;
        atomic_store(&p->sessions, 0);
        ctrace__probe_filter_update(p);
        atomic_store(&p->point->on, 0);
        atomic_store(&p->point->ctrace__probe, NULL);
        for (struct ctrace_session *s = ctrace__live_sessions; s != NULL;
             s = s->next_live)
            for (size_t k = 0; k < s->narmed; k++)
                if (s->armed[k].point == p->point)
                    atomic_store(&s->armed[k].gone, true);
        p->point = NULL;
    }
}

static const struct ctrace__engine_hooks engine_hooks = {
    .enter = ctrace__traced_enter,
    .ret = ctrace__traced_ret,
    .event = ctrace__traced_event,
    .proc_event = ctrace__traced_proc_event,
    .module_removed = hook_module_removed,
};

/* ---- fork(): the child keeps no session. ---- */

static void atfork_prepare(void)
{
    pthread_mutex_lock(&ctrace__engine_lock);
    ctrace__registry_lock();
}

static void atfork_parent(void)
{
    ctrace__registry_unlock();
    pthread_mutex_unlock(&ctrace__engine_lock);
}

static void atfork_child(void)
{
    /*
     * Only this thread exists in the child; consumers are gone. Sessions
     * are dropped (their memory is leaked: freeing it could race with
     * nothing, but a consumer's mutex may be in any state), every point is
     * switched off, and the locks are usable again.
     */
    for (struct probe *p = ctrace__probes; p != NULL; p = p->next) {
        atomic_store(&p->sessions, 0);
        ctrace__point_filter_set(&p->filter, 0, (const uint64_t[2]){0, 0});
        atomic_store(&p->point->on, 0);
    }
    for (unsigned i = 0; i < CTRACE__MAX_SESSIONS; i++)
        atomic_store(&ctrace__slots[i], NULL);
    /*
     * The child still holds handles of the parent's sessions; their
     * consumers are gone, so stopping, waiting or freeing one must not
     * wait for them. They read as stopped, and free only frees.
     */
    for (struct ctrace_session *s = ctrace__live_sessions; s != NULL;
         s = s->next_live) {
        pthread_mutex_init(&s->lock, NULL);
        ctrace__cond_init_monotonic(&s->cond);
        s->state = STOPPED;
        s->consumer_started = false;
        if (s->final_reason == CTRACE_STOP_RUNNING) {
            s->final_reason = CTRACE_STOP_USER;
            snprintf(s->reason, sizeof(s->reason), "dropped by fork()");
        }
        atomic_store(&s->stop_request, (int)CTRACE_STOP_USER);
    }
    ctrace__engine_running = 0;
    ctrace__thread_after_fork_child();
    ctrace__registry_unlock();
    pthread_mutex_init(&ctrace__engine_lock, NULL);
}

static const struct ctrace__fork_steps fork_steps = {
    .prepare = atfork_prepare,
    .parent = atfork_parent,
    .child = atfork_child,
};

void ctrace__engine_init(void)
{
    ctrace__clock_init();
    /*
     * backtrace() loads the unwinder on its first call, which allocates and
     * takes the loader's lock: do it here, on a control thread, so that a
     * traced thread asking for `stack` never does.
     */
    void *warm[4];
    (void)backtrace(warm, 4);
    ctrace__fork_register(CTRACE__FORK_SESSIONS, &fork_steps);
    ctrace__engine_set_hooks(&engine_hooks);
}
/* Keeps the failure of a session's sink for ctrace__engine_sink_failures. */
void ctrace__engine_note_sink_failure(struct ctrace_session *s)
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

size_t ctrace__engine_memory(void)
{
    pthread_mutex_lock(&ctrace__engine_lock);
    size_t m = ctrace__engine_bytes;
    pthread_mutex_unlock(&ctrace__engine_lock);
    return m;
}

unsigned ctrace__engine_sessions(void)
{
    pthread_mutex_lock(&ctrace__engine_lock);
    unsigned n = ctrace__engine_running;
    pthread_mutex_unlock(&ctrace__engine_lock);
    return n;
}

void ctrace__engine_totals(uint64_t *events, uint64_t *dropped)
{
    *events = atomic_load_explicit(&ctrace__total_events, memory_order_relaxed);
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
    uint64_t queue = ctrace__total_dropped, shed = ctrace__total_shed;
    for (struct ctrace_session *s = ctrace__live_sessions; s != NULL;
         s = s->next_live)
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
    for (struct probe *p = ctrace__probes; p != NULL; p = p->next) {
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

/* ---- The probe's filter (engine.h). ---- */

/*
 * The filter word and literal for `spec` on a point of this arity, or false
 * when it has none.
 */
static bool filter_of(const struct ctrace__spec *spec,
                      unsigned arity,
                      uint32_t *word,
                      uint64_t lit[2])
{
    const struct ctrace__flat *f = &spec->flat;
    if (f->nargs < 0 || (unsigned)f->nargs > CTRACE__FILTER_NARGS_MAX)
        return false;
    unsigned op = CTRACE__FILTER_OP_NONE, arg = 0, len = 0;
    lit[0] = lit[1] = 0;
    for (unsigned k = 0; k < f->nchecks && op == CTRACE__FILTER_OP_NONE; k++) {
        const struct ctrace__flat_check *c = &f->checks[k];
        switch ((enum ctrace__flat_op)c->op) {
        case CTRACE__FLAT_BYTES:
        case CTRACE__FLAT_PREFIX:
            /*
             * The entry points compare a literal byte by byte with strings
             * whose end they find at the NUL (point.h): it must hold none,
             * and one that does can never equal a C string anyway.
             */
            if (c->len > CTRACE__FILTER_BYTES_MAX ||
                memchr(c->lit.bytes, '\0', c->len) != NULL)
                continue;
            op = c->op == CTRACE__FLAT_BYTES ? CTRACE__FILTER_OP_BYTES
                                             : CTRACE__FILTER_OP_PREFIX;
            len = (unsigned)c->len;
            for (size_t b = 0; b < c->len; b++)
                lit[b / 8] |= (uint64_t)(unsigned char)c->lit.bytes[b]
                              << (8 * (b % 8));
            break;
        case CTRACE__FLAT_INT:
            op = CTRACE__FILTER_OP_INT;
            lit[0] = (uint64_t)c->lit.i;
            break;
        case CTRACE__FLAT_UINT:
            op = CTRACE__FILTER_OP_UINT;
            lit[0] = c->lit.u;
            break;
        case CTRACE__FLAT_ATOM:
            continue;
        }
        arg = c->arg;
    }
    *word = ctrace__filter_word(op, arg, len, (unsigned)f->nargs + 1);
    if ((op == CTRACE__FILTER_OP_BYTES || op == CTRACE__FILTER_OP_PREFIX) &&
        len >= 1 && (unsigned)f->nargs == arity && arg < arity)
        *word |= CTRACE__FILTER_LAZY;
    return true;
}

void ctrace__probe_filter_update(struct probe *p)
{
    uint32_t word = 0;
    uint64_t lit[2] = {0, 0};
    uint64_t mask = atomic_load(&p->sessions);
    if (mask != 0 && (mask & (mask - 1)) == 0) {
        unsigned i = (unsigned)__builtin_ctzll(mask);
        struct ctrace_session *s = atomic_load(&ctrace__slots[i]);
        uint32_t idx = atomic_load(&p->index[i]);
        if (s != NULL && idx < s->narmed && s->armed[idx].point == p->point) {
            uint32_t specs = s->armed[idx].specs;
            bool one = specs != 0 && (specs & (specs - 1)) == 0;
            if (!one || !filter_of(s->specs[__builtin_ctz(specs)],
                                   p->point->arity,
                                   &word,
                                   lit))
                word = 0;
        }
    }
    ctrace__point_filter_set(&p->filter, word, lit);
}
