/* SPDX-License-Identifier: MIT */
/*
 * Session control: the public session API (ctrace/session.h). Options are
 * checked, specs compiled, points selected and armed, the session published
 * in a free slot and its consumer started; stop, wait, stats and free act
 * on a running or stopped session from any thread. The rules are in
 * engine.h.
 */
#include <errno.h>
#include <pthread.h>
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

/*
 * Adds (or removes) the session's slot to those raising process events and
 * recomputes the kinds wanted. Engine lock held.
 */
void ctrace__session_update_proc_wants(struct ctrace_session *s, bool on)
{
    uint64_t bit = UINT64_C(1) << s->slot;
    uint64_t slots_now = atomic_load(&ctrace__proc_slots);
    slots_now = on ? slots_now | bit : slots_now & ~bit;
    unsigned wants = 0;
    for (uint64_t m = slots_now; m != 0; m &= m - 1) {
        struct ctrace_session *o =
            atomic_load(&ctrace__slots[__builtin_ctzll(m)]);
        if (o != NULL)
            wants |= o->wants;
    }
    if (on)
        wants |= s->wants;
    atomic_store(&ctrace__proc_slots, slots_now);
    ctrace__point_set_proc_wants(wants);
}

/* Disarms the session's points and empties its slot. Engine lock held. */
void ctrace__session_unpublish(struct ctrace_session *s)
{
    ctrace__registry_lock();
    for (size_t i = 0; i < s->narmed; i++) {
        struct armed *a = &s->armed[i];
        if (atomic_load(&a->gone))
            continue;
        struct probe *p = atomic_load_explicit(&a->point->ctrace__probe,
                                               memory_order_relaxed);
        if (p != NULL) {
            atomic_fetch_and(&p->sessions, ~(UINT64_C(1) << s->slot));
            ctrace__probe_filter_update(p);
        }
        ctrace__point_disarm(a->point);
    }
    atomic_store_explicit(&ctrace__slots[s->slot], NULL, memory_order_seq_cst);
    ctrace__registry_unlock();
    if (s->wants != 0)
        ctrace__session_update_proc_wants(s, false);
}

void ctrace_session_opts_init(struct ctrace_session_opts *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->time_ms = 15000;
    opts->msgs = 10;
    opts->max_queue = 1000;
    opts->max_msg_size = 256;
    opts->procs = CTRACE_PROCS_ALL;
    opts->fd = -1;
    opts->format = CTRACE_FORMAT_REDBUG;
    opts->max_overhead_pct = 20;
    opts->overhead_trip_ms = 1000;
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
        uint32_t specs = s->armed[i].specs;
        s->armed[i].always = specs != 0 && (specs & (specs - 1)) == 0 &&
                             s->specs[__builtin_ctz(specs)]->flat.always;
        /* 0 when the specs decide call by call: fire() ORs their masks. */
        s->armed[i].always_actions = s->armed[i].always ? actions : 0;
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
            p->next = ctrace__probes;
            ctrace__probes = p;
            ctrace__point_set_probe(pt, p);
        }
        atomic_store_explicit(
            &p->index[s->slot], (uint32_t)i, memory_order_relaxed);
        atomic_fetch_or_explicit(
            &p->sessions, UINT64_C(1) << s->slot, memory_order_release);
        ctrace__probe_filter_update(p);
        int rc = ctrace__point_arm(pt);
        if (rc < 0) {
            atomic_fetch_and(&p->sessions, ~(UINT64_C(1) << s->slot));
            ctrace__probe_filter_update(p);
            /* Undo what was armed before this one. */
            for (size_t k = 0; k < i; k++) {
                struct probe *q =
                    atomic_load(&s->armed[k].point->ctrace__probe);
                atomic_fetch_and(&q->sessions, ~(UINT64_C(1) << s->slot));
                ctrace__probe_filter_update(q);
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

void ctrace__session_destroy(struct ctrace_session *s)
{
    if (s->on_live_list) {
        ctrace__registry_lock();
        struct ctrace_session **link = &ctrace__live_sessions;
        while (*link != NULL && *link != s)
            link = &(*link)->next_live;
        if (*link == s)
            *link = s->next_live;
        ctrace__registry_unlock();
    }
    if (s->memory != 0) {
        pthread_mutex_lock(&ctrace__engine_lock);
        ctrace__engine_bytes -= s->memory;
        pthread_mutex_unlock(&ctrace__engine_lock);
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
    pthread_once(&ctrace__engine_once, ctrace__engine_init);
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
    ctrace__cond_init_monotonic(&s->cond);
    snprintf(s->reason, sizeof(s->reason), "running");
    if (opts->procs == CTRACE_PROCS_PIDS && resolve_pids(s, opts, err) < 0) {
        ctrace__session_destroy(s);
        return NULL;
    }
    if (parse_specs(s, specs, nspecs, err) < 0 || check_breadth(s, err) < 0) {
        ctrace__session_destroy(s);
        return NULL;
    }
    if (opts->path != NULL) {
        int fd = ctrace__sink_open(opts->path);
        if (fd < 0) {
            ctrace__error_set(err,
                              fd,
                              0,
                              0,
                              "cannot open %s: %s",
                              opts->path,
                              ctrace_strerror(fd));
            ctrace__session_destroy(s);
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

    pthread_mutex_lock(&ctrace__engine_lock);
    int rc = 0;
    unsigned slot = CTRACE__MAX_SESSIONS;
    for (unsigned i = 0; i < CTRACE__MAX_SESSIONS; i++)
        if (atomic_load(&ctrace__slots[i]) == NULL) {
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
    if (need == SIZE_MAX ||
        ctrace__engine_bytes + need > CTRACE__MEMORY_LIMIT) {
        rc = ctrace__error_set(err,
                               CTRACE_ELIMIT,
                               0,
                               0,
                               "the session would need %zu KiB of queue and "
                               "sessions may use %zu KiB together (%zu KiB "
                               "in use); lower max_queue or max_msg_size",
                               need == SIZE_MAX ? SIZE_MAX / 1024 : need / 1024,
                               CTRACE__MEMORY_LIMIT / 1024,
                               ctrace__engine_bytes / 1024);
        goto fail_registry;
    }
    rc = ctrace__queue_init(&s->queue, opts->max_queue, s->layout.slot_size);
    if (rc < 0) {
        ctrace__error_set(err, rc, 0, 0, "cannot allocate the event queue");
        goto fail_registry;
    }
    /* Charged until the queue is freed, in finish() (or
     * ctrace__session_destroy() when the session never ran). */
    s->memory = need;
    ctrace__engine_bytes += need;

    s->pid_watermark = ctrace__proc_watermark();
    ctrace__clock_anchor_now(&s->anchor);
    s->start_mono_ns = ctrace__clock_mono_ns();
    s->start_epoch = atomic_fetch_add(&ctrace__session_epoch, 1) + 1;
    atomic_store_explicit(&ctrace__slots[slot], s, memory_order_seq_cst);
    rc = arm_points(s, err);
    if (rc < 0) {
        atomic_store(&ctrace__slots[slot], NULL);
        ctrace__registry_unlock();
        goto fail_published;
    }
    s->next_live = ctrace__live_sessions;
    ctrace__live_sessions = s;
    s->on_live_list = true;
    ctrace__registry_unlock();
    if (s->wants != 0)
        ctrace__session_update_proc_wants(s, true);

    /*
     * The consumer takes no signal meant for the service's own threads
     * (a sigwait() thread, say): create it with every signal blocked.
     */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->consumer, NULL, ctrace__consumer_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        ctrace__session_unpublish(s);
        ctrace__error_set(err,
                          -rc,
                          0,
                          0,
                          "cannot start the consumer thread: %s",
                          ctrace_strerror(-rc));
        rc = -rc;
        goto fail_published;
    }
    s->consumer_started = true;
    ctrace__engine_running++;
    pthread_mutex_unlock(&ctrace__engine_lock);
    return s;

fail_registry:
    ctrace__registry_unlock();
    goto fail_locked;
fail_published:
    pthread_mutex_unlock(&ctrace__engine_lock);
    ctrace__thread_synchronize();
    ctrace__session_destroy(s);
    return NULL;
fail_locked:
    pthread_mutex_unlock(&ctrace__engine_lock);
    ctrace__session_destroy(s);
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
    ctrace__session_request_stop(s, CTRACE_STOP_USER);
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
    ctrace__session_destroy(s);
}
