/* SPDX-License-Identifier: MIT */
/*
 * The consumer of a session: one thread per session that takes records
 * from its queue in order, turns each into a struct ctrace_event, applies
 * the limits only it can judge (rate, the overhead budget), and hands the
 * event to the sink. When the first limit trips it alone tears the session
 * down (finish()). The rules are in engine.h.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc/proc.h"
#include "proc/thread.h"
#include "session/engine.h"
#include "session/symbolize.h"

static int64_t ticks_to_wall_us(const struct ctrace_session *s, uint64_t ticks)
{
    return ctrace__clock_ticks_to_wall_us(&s->anchor, ticks);
}

static void emit_text(struct ctrace_session *s, struct ctrace__sbuf *b)
{
    if (s->opts.fd >= 0 && b->len > 0 && s->sink_errno == 0) {
        int rc = ctrace__sink_write(s->opts.fd, b->data, b->len);
        if (rc < 0) {
            s->sink_errno = -rc;
            ctrace__session_request_stop(s, CTRACE_STOP_SINK);
        }
    }
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
        ctrace__session_request_stop(s, CTRACE_STOP_RATE);
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

/* Inlined into each deliverer: it runs once per event. */
static inline __attribute__((always_inline)) void
hand_over(struct ctrace_session *s,
          const struct ctrace_event *ev,
          struct ctrace__sbuf *text)
{
    atomic_fetch_add_explicit(&s->events, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ctrace__total_events, 1, memory_order_relaxed);
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
 * Fills every field of an event: those of the record's header, and zero or
 * NULL for the rest, which the deliverers set. Field by field, not by
 * zeroing the whole struct and writing half of it again (a `rep stos` of
 * 21 words per event): the assert below fails when the struct grows, and
 * the new field must be added here.
 */
_Static_assert(sizeof(struct ctrace_event) == 176,
               "struct ctrace_event changed: update event_init()");
static inline void event_init(struct ctrace_event *ev,
                              const struct ctrace_session *s,
                              const struct ctrace__record *r,
                              uint64_t duration_ns,
                              const char *process,
                              bool dead)
{
    ev->struct_size = sizeof(*ev);
    ev->kind = r->kind;
    ev->seq = atomic_load_explicit(&s->events, memory_order_relaxed) + 1;
    ev->time_us = ticks_to_wall_us(s, r->ticks);
    ev->duration_ns = duration_ns;
    ev->pid = r->pid;
    ev->process = process;
    ev->dead = dead;
    ev->module = NULL;
    ev->function = NULL;
    ev->arity = 0;
    ev->args = NULL;
    ev->nargs = 0;
    ev->result = NULL;
    ev->stack = NULL;
    ev->stack_len = 0;
    ev->caller = NULL;
    ev->message = NULL;
    ev->peer_pid = 0;
    ev->peer = NULL;
    ev->reason = NULL;
    ev->name = NULL;
    ev->dump = NULL;
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

    uint64_t duration_ns = r->duration_ticks != 0
                               ? ctrace__clock_ticks_to_ns(r->duration_ticks)
                               : 0;
    if (r->kind == CTRACE_EVENT_RETURN && duration_ns == 0)
        duration_ns = 1;
    char label[CTRACE_PROC_TEXT_MAX + 1];
    /*
     * The label is the one recorded with the event, as the process was
     * then. Only a return or an exit may say (dead), when the process has
     * ended by the time the line is printed, as in redbug; a call, a
     * message or a spawn was made by a running process. The label stays
     * (JSON has both). A recorded label is interned and never freed
     * (proc.c): the event points at it.
     */
    bool may_be_dead =
        r->kind == CTRACE_EVENT_RETURN || r->kind == CTRACE_EVENT_EXIT;
    const char *process = r->label;
    bool dead = false;
    if (r->label == NULL || may_be_dead) {
        label[0] = '\0';
        dead = !ctrace__proc_label(r->pid, label, sizeof(label)) && may_be_dead;
        if (process == NULL && label[0] != '\0')
            process = label;
    }
    struct ctrace_value *values = ctrace__record_values(r);
    if (r->point == NULL) {
        struct ctrace_event ev;
        event_init(&ev, s, r, duration_ns, process, dead);
        deliver_proc_event(s, r, &ev, values, text);
        return;
    }
    /*
     * The point's names live in its module, which may be unloaded at any
     * moment: check and copy them under the registry lock, which module
     * removal takes too.
     */
    if (r->point != s->names.point ||
        ctrace__registry_generation() != s->names.generation) {
        ctrace__registry_lock();
        s->names.point = r->point;
        s->names.generation = ctrace__registry_generation();
        s->names.gone = point_gone(s, r->point);
        if (!s->names.gone) {
            ctrace__strlcpy(
                s->names.module, r->point->module, sizeof(s->names.module));
            ctrace__strlcpy(s->names.function,
                            r->point->function,
                            sizeof(s->names.function));
            s->names.arity = r->point->arity;
            /* Probes are never freed: the copy may keep it. */
            s->names.probe = atomic_load_explicit(&r->point->ctrace__probe,
                                                  memory_order_relaxed);
        }
        ctrace__registry_unlock();
    }
    bool named = !s->names.gone;
    /* The per-point count of ctrace__engine_armed_points(). */
    if (named && s->names.probe != NULL)
        atomic_fetch_add_explicit(
            &s->names.probe->delivered, 1, memory_order_relaxed);
    struct ctrace_event ev;
    event_init(&ev, s, r, duration_ns, process, dead);
    ev.module = named ? s->names.module : "?";
    ev.function = named ? s->names.function : "?";
    ev.arity = named ? s->names.arity : r->nargs;
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
            ctrace__strlcpy(caller, frames[1], sizeof(caller));
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

static uint64_t process_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The machine's idle CPU time so far (idle and iowait of every CPU, from
 * /proc/stat), or 0 when it cannot be read.
 */
static uint64_t machine_idle_ns(void)
{
    long hz = sysconf(_SC_CLK_TCK); /* a constant; no cache to race on */
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL)
        return 0;
    unsigned long long user, nice, sys, idle, iowait;
    int n = fscanf(
        f, "cpu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait);
    fclose(f);
    if (n != 5 || hz <= 0)
        return 0;
    return (uint64_t)(idle + iowait) * (1000000000u / (uint64_t)hz);
}

/*
 * The overhead budget, settled on the consumer every OVERHEAD_TICK_MS: the
 * session's cost since the last settlement (this thread's CPU time, which
 * includes the sink's rendering and writing and any callback, plus what
 * traced threads spent recording, plus what was charged to it) is taken
 * from a credit that grows by max_overhead_pct of the CPU time the service
 * had: what its process used, what was charged to the session from outside
 * it (a reader on this machine), and what the machine left idle, at most
 * the wall time times the CPUs. On an idle machine that is every CPU; on
 * one that other programs keep busy it is the service's own share, of
 * which tracing may take no more than max_overhead_pct either. While the
 * credit is negative, traced threads shed new calls; it is capped both
 * ways at OVERHEAD_BURST_MS of the CPUs' budget, so that shedding starts
 * and ends within a fraction of a second of the cost crossing the budget.
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
    uint64_t offered = (now - s->ov_last_ns) * s->ncpus;
    uint64_t proc = process_cpu_ns(), idle = machine_idle_ns();
    uint64_t had = offered;
    if (proc != 0 && idle != 0) {
        had = (proc > s->ov_proc_ns ? proc - s->ov_proc_ns : 0) +
              (charged - s->ov_charged) +
              (idle > s->ov_idle_ns ? idle - s->ov_idle_ns : 0);
        if (had > offered)
            had = offered;
    }
    uint64_t least = (now - s->ov_last_ns) * OVERHEAD_MIN_HAD_PERMILLE / 1000;
    if (had < least)
        had = least;
    s->ov_proc_ns = proc;
    s->ov_idle_ns = idle;
    uint64_t budget = had * s->opts.max_overhead_pct / 100;
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
    /*
     * Over the budget is calls shed since the last settlement: a session
     * whose credit is short while nothing calls loses nothing. One spell
     * lasts while calls are shed again within OVERHEAD_CALM_MS; one longer
     * than overhead_trip_ms trips the session.
     */
    uint64_t shed_calls = atomic_load_explicit(&s->shed, memory_order_relaxed);
    bool dropped = shed_calls != s->ov_shed;
    s->ov_shed = shed_calls;
    if (!dropped)
        return;
    if (s->ov_over_since_ns == 0 ||
        now - s->ov_shed_last_ns > (uint64_t)OVERHEAD_CALM_MS * 1000000u)
        s->ov_over_since_ns = now;
    s->ov_shed_last_ns = now;
    if (s->opts.overhead_trip_ms != 0 &&
        now - s->ov_over_since_ns >=
            (uint64_t)s->opts.overhead_trip_ms * 1000000u)
        ctrace__session_request_stop(s, CTRACE_STOP_OVERHEAD);
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
    s->ov_proc_ns = process_cpu_ns();
    s->ov_idle_ns = machine_idle_ns();
    s->ov_shed = atomic_load_explicit(&s->shed, memory_order_relaxed);
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
    /* Each key rendered once, here: traced threads store raw bytes. */
    char texts[COUNT_KEYS][COUNT_TEXT_BYTES]; /* 16 KiB of stack */
    size_t n = 0;
    for (size_t i = 0; i < COUNT_KEYS; i++) {
        struct count_key *k = &a->by->keys[i];
        if (!atomic_load(&k->ready))
            continue;
        uint64_t calls = atomic_load(&k->calls);
        ctrace__count_key_text(k->key, k->len, texts[n], sizeof(texts[n]));
        size_t j = 0;
        while (j < n && strcmp(keys[j].text, texts[n]) != 0)
            j++;
        if (j == n)
            keys[n++] = (struct ctrace__count_key){texts[j], 0};
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

static void finish(struct ctrace_session *s, enum ctrace_stop_reason reason)
{
    struct ctrace__sbuf text = CTRACE__SBUF_INIT;
    pthread_mutex_lock(&ctrace__engine_lock);
    ctrace__session_unpublish(s);
    pthread_mutex_unlock(&ctrace__engine_lock);
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
    pthread_mutex_lock(&ctrace__engine_lock);
    ctrace__engine_bytes -= s->memory;
    s->memory = 0;
    pthread_mutex_unlock(&ctrace__engine_lock);
    /* No drop can follow: move this session's into the total. */
    ctrace__registry_lock();
    ctrace__total_dropped += atomic_load(&s->dropped);
    ctrace__total_shed += atomic_load(&s->shed);
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
    case CTRACE_STOP_OVERHEAD:
        a = s->opts.max_overhead_pct;
        b = s->opts.overhead_trip_ms;
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
        ctrace__engine_note_sink_failure(s);

    pthread_mutex_lock(&ctrace__engine_lock);
    ctrace__engine_running--;
    pthread_mutex_unlock(&ctrace__engine_lock);

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

unsigned
ctrace__consumer_next_wait_ms(size_t capacity, unsigned wait_ms, size_t got)
{
    uint64_t limit = capacity / CTRACE__POLL_BURST_PER_MS;
    if (limit > CTRACE__POLL_MAX_MS)
        limit = CTRACE__POLL_MAX_MS;
    uint64_t next = (uint64_t)(wait_ms > 0 ? wait_ms : 1) * 2;
    if (got > 0) {
        /* At the last wait's rate, the next fills a quarter at most. */
        uint64_t fit = (uint64_t)capacity * (wait_ms > 0 ? wait_ms : 1) /
                       ((uint64_t)got * 4);
        if (fit < next)
            next = fit;
    }
    if (next > limit)
        next = limit;
    return next > 0 ? (unsigned)next : 1;
}

void *ctrace__consumer_main(void *arg)
{
    struct ctrace_session *s = arg;
    ctrace__thread_set_no_trace();
    /* What top -H and /proc/PID/task/TID/comm show. */
    (void)pthread_setname_np(pthread_self(), "ctrace_consumer");
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
    unsigned wait_ms = 1;
    size_t got = 0; /* events drained since the last wait began */
    overhead_init(s);
    for (;;) {
        overhead_settle(s);
        size_t n = drain(s, &text);
        got += n;
        if (n > 0)
            continue;
        uint64_t now = ctrace__clock_mono_ns();
        int req = atomic_load(&s->stop_request);
        if (req == CTRACE_STOP_RUNNING && s->opts.time_ms != 0 &&
            now - s->start_mono_ns >= (uint64_t)s->opts.time_ms * 1000000u) {
            ctrace__session_request_stop(s, CTRACE_STOP_TIME);
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
         * Idle: poll (ctrace__consumer_next_wait_ms). A steady stream of
         * events is taken in batches of up to a quarter of the queue, at
         * most CTRACE__POLL_MAX_MS apart, instead of a wake-up and a
         * write() each millisecond. ctrace_session_stop() signals the
         * condition; a limit reached on a traced thread is seen at the next
         * wake-up.
         */
        wait_ms = ctrace__consumer_next_wait_ms(
            ctrace__queue_capacity(&s->queue), wait_ms, got);
        got = 0;
        pthread_mutex_lock(&s->lock);
        if (!s->freeing) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += (long)wait_ms * 1000000L;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->cond, &s->lock, &until);
        }
        pthread_mutex_unlock(&s->lock);
    }
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
