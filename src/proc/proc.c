/* SPDX-License-Identifier: MIT */
/*
 * The process table: see proc.h (private) for its layout and locking and
 * include/ctrace/proc.h for what users see.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "base/clock.h"
#include "ctrace/point.h"
#include "point/point.h"
#include "proc/proc.h"
#include "proc/thread.h"

struct ctrace__proc {
    uint64_t pid;
    uint64_t parent;
    enum ctrace_proc_kind kind;
    _Atomic int status; /* enum ctrace_proc_status; DEAD once `dead` */
    bool dead;
    /* The thread running it, while alive; NULL once dead. */
    struct ctrace__thread *thread;
    /* EXPLICIT: the thread's current process before this one began. */
    struct ctrace__proc *outer;
    char name[CTRACE_PROC_NAME_MAX + 1];
    char initial[CTRACE_PROC_TEXT_MAX + 1];
    char label[CTRACE_PROC_TEXT_MAX + 1]; /* frozen at death */
    char exit_reason[CTRACE_PROC_TEXT_MAX + 1];
    char pending_reason[CTRACE_PROC_TEXT_MAX + 1]; /* THREAD/SERVER */
    int64_t start_us;
    int64_t end_us;
    uint64_t end_mono_ns;
    int tid;
    /*
     * Reductions: CPU nanoseconds of the thread. `cpu_mark` is the thread
     * clock when the process last became the thread's current one,
     * `cpu_done` what it used before that; a dead process keeps its total
     * in `cpu_done`. A thread's own process is current except while an
     * explicit process runs on the thread, which then gets the CPU.
     */
    clockid_t cpu_clock;
    bool has_cpu_clock;
    bool current; /* the thread's current process now */
    uint64_t cpu_mark;
    uint64_t cpu_done;
    /* Owner-updated attributes. */
    _Atomic uint64_t queue_len;
    _Atomic uint64_t queue_bytes;
    _Atomic int64_t accounted;
    size_t nlinks;
    uint64_t links[CTRACE_PROC_LINKS_MAX];
    /* Exit notices for ctrace_proc_exits(): a ring, allocated on first. */
    struct ctrace_exit_notice *notices;
    unsigned notice_first;
    unsigned notice_count;
    struct ctrace__proc *hash_next;
    struct ctrace__proc *prev, *next; /* live list, or the dead FIFO */
};

/* One lock guards everything below (proc.h). */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctrace__proc **buckets;
static size_t nbuckets;
static size_t nentries;
static struct ctrace__proc *live_head, *live_tail;
static struct ctrace__proc *dead_head, *dead_tail; /* oldest first */
static size_t ndead;
static _Atomic uint64_t next_pid = 1;
static _Atomic(ctrace__exit_hook) exit_hook;

static const char *const status_names[] = {"running",
                                           "waiting",
                                           "suspended",
                                           "dead"};
static const char *const attr_names[] = {"memory",
                                         "reductions",
                                         "message_queue_len"};

/* ---- The hash, the lists. Table lock held. ---- */

static size_t bucket_of(uint64_t pid, size_t n)
{
    return (size_t)((pid * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (n - 1);
}

static struct ctrace__proc *find(uint64_t pid)
{
    if (nbuckets == 0)
        return NULL;
    for (struct ctrace__proc *p = buckets[bucket_of(pid, nbuckets)]; p != NULL;
         p = p->hash_next)
        if (p->pid == pid)
            return p;
    return NULL;
}

static int hash_insert(struct ctrace__proc *p)
{
    if (nentries + 1 > nbuckets * 2) {
        size_t n = nbuckets ? nbuckets * 2 : 64;
        struct ctrace__proc **b = ctrace__calloc(n, sizeof(*b));
        if (b == NULL) {
            if (nbuckets == 0)
                return CTRACE_ENOMEM;
        } else {
            for (size_t i = 0; i < nbuckets; i++) {
                struct ctrace__proc *q = buckets[i];
                while (q != NULL) {
                    struct ctrace__proc *next = q->hash_next;
                    size_t k = bucket_of(q->pid, n);
                    q->hash_next = b[k];
                    b[k] = q;
                    q = next;
                }
            }
            ctrace__free(buckets);
            buckets = b;
            nbuckets = n;
        }
    }
    size_t k = bucket_of(p->pid, nbuckets);
    p->hash_next = buckets[k];
    buckets[k] = p;
    nentries++;
    return 0;
}

static void hash_remove(struct ctrace__proc *p)
{
    struct ctrace__proc **link = &buckets[bucket_of(p->pid, nbuckets)];
    while (*link != NULL && *link != p)
        link = &(*link)->hash_next;
    if (*link == p) {
        *link = p->hash_next;
        nentries--;
    }
}

static void list_remove(struct ctrace__proc **head,
                        struct ctrace__proc **tail,
                        struct ctrace__proc *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        *head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    else
        *tail = p->prev;
    p->prev = p->next = NULL;
}

static void list_append(struct ctrace__proc **head,
                        struct ctrace__proc **tail,
                        struct ctrace__proc *p)
{
    p->next = NULL;
    p->prev = *tail;
    if (*tail != NULL)
        (*tail)->next = p;
    else
        *head = p;
    *tail = p;
}

static void entry_free(struct ctrace__proc *p)
{
    ctrace__free(p->notices);
    ctrace__free(p);
}

/* Forgets dead processes past their time, or past the count kept. */
static void prune_dead(void)
{
    uint64_t now = ctrace__clock_mono_ns();
    while (dead_head != NULL &&
           (ndead > CTRACE_PROC_DEAD_KEEP ||
            now - dead_head->end_mono_ns >
                (uint64_t)CTRACE_PROC_DEAD_MS * 1000000u)) {
        struct ctrace__proc *p = dead_head;
        list_remove(&dead_head, &dead_tail, p);
        ndead--;
        hash_remove(p);
        entry_free(p);
    }
}

/* ---- Attributes. ---- */

static uint64_t cpu_now(const struct ctrace__proc *p)
{
    struct timespec ts;
    if (!p->has_cpu_clock || clock_gettime(p->cpu_clock, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU nanoseconds the process used so far. Table lock held. */
static uint64_t cpu_used(const struct ctrace__proc *p)
{
    if (p->dead || !p->current)
        return p->cpu_done;
    uint64_t now = cpu_now(p);
    return p->cpu_done + (now > p->cpu_mark ? now - p->cpu_mark : 0);
}

static uint64_t memory_of(const struct ctrace__proc *p)
{
    int64_t acc = atomic_load_explicit(&p->accounted, memory_order_relaxed);
    uint64_t m = sizeof(*p) +
                 atomic_load_explicit(&p->queue_bytes, memory_order_relaxed);
    if (p->kind == CTRACE_PROC_THREAD)
        m += sizeof(struct ctrace__thread);
    if (p->notices != NULL)
        m += CTRACE_PROC_NOTICES_MAX * sizeof(*p->notices);
    if (acc < 0 && (uint64_t)-acc > m)
        return 0;
    return acc < 0 ? m - (uint64_t)-acc : m + (uint64_t)acc;
}

static uint64_t attr_of(const struct ctrace__proc *p, enum ctrace_proc_attr a)
{
    switch (a) {
    case CTRACE_ATTR_MEMORY:
        return memory_of(p);
    case CTRACE_ATTR_REDUCTIONS:
        return cpu_used(p) / 1000u;
    case CTRACE_ATTR_MESSAGE_QUEUE_LEN:
        return atomic_load_explicit(&p->queue_len, memory_order_relaxed);
    }
    return 0;
}

/*
 * Whether listings and rankings leave `p` out: a thread's own process while
 * an explicit process runs on its thread, so that one activity is one
 * process in every view (docs/processes-and-servers.md). Table lock held.
 */
static bool hidden(const struct ctrace__proc *p)
{
    return p->kind == CTRACE_PROC_THREAD && !p->dead && !p->current;
}

/* The label output shows. Table lock held. */
static void label_of(const struct ctrace__proc *p, char *buf, size_t size)
{
    if (size == 0)
        return;
    if (p->dead) {
        snprintf(buf, size, "%s", p->label);
    } else if (p->name[0] != '\0') {
        snprintf(buf, size, "%s", p->name);
    } else if (p->kind == CTRACE_PROC_THREAD && p->thread != NULL) {
        ctrace__thread_label(p->thread, buf, size);
    } else {
        snprintf(buf, size, "%s", p->initial);
    }
}

/* The initial call of a thread's process: its first armed trace point. */
static void initial_of(const struct ctrace__proc *p, char *buf, size_t size)
{
    if (p->kind == CTRACE_PROC_THREAD && !p->dead && p->thread != NULL)
        ctrace__thread_initial(p->thread, buf, size);
    else
        snprintf(buf, size, "%s", p->initial);
}

/* ---- Labels recorded with events. ---- */

/*
 * Most distinct labels kept for traced threads to point at. Labels are
 * interned and never freed, so a record may hold a pointer to one for as
 * long as it likes; past this many, threads whose label is new get none
 * and their events are labelled when printed instead.
 */
#define LABELS_MAX 4096

static const char **labels; /* open addressing, LABELS_MAX * 2 slots */
static size_t nlabels;

/* The interned copy of `text`, or NULL (empty, table full, no memory).
 * Table lock held. */
static const char *label_intern(const char *text)
{
    if (text[0] == '\0')
        return NULL;
    const size_t cap = LABELS_MAX * 2;
    if (labels == NULL &&
        (labels = ctrace__calloc(cap, sizeof(*labels))) == NULL)
        return NULL;
    uint64_t h = UINT64_C(1469598103934665603);
    for (const char *c = text; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * UINT64_C(1099511628211);
    for (size_t i = (size_t)h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (labels[i] == NULL) {
            if (nlabels == LABELS_MAX)
                return NULL;
            size_t len = strlen(text) + 1;
            char *copy = ctrace__malloc(len);
            if (copy == NULL)
                return NULL;
            memcpy(copy, text, len);
            labels[i] = copy;
            nlabels++;
            return copy;
        }
        if (strcmp(labels[i], text) == 0)
            return labels[i];
    }
}

/*
 * Keeps t->label, the label its traced calls record, equal to the label
 * of the thread's current process. Called wherever that process or its
 * label changes. Table lock held.
 */
static void label_publish(struct ctrace__thread *t)
{
    if (t == NULL)
        return;
    const char *l = NULL;
    struct ctrace__proc *p = t->proc;
    if (p != NULL && !p->dead) {
        char text[CTRACE_PROC_TEXT_MAX + 1];
        label_of(p, text, sizeof(text));
        l = label_intern(text);
    }
    atomic_store_explicit(&t->label, l, memory_order_release);
}

void ctrace__proc_label_changed(struct ctrace__thread *t)
{
    pthread_mutex_lock(&table_lock);
    label_publish(t);
    pthread_mutex_unlock(&table_lock);
}

/* ---- Process events. ---- */

static void raise_text(enum ctrace_event_kind kind,
                       uint64_t pid,
                       uint64_t peer,
                       const char *text)
{
    if ((ctrace__point_proc_wants() & CTRACE__WANT_PROCS) == 0)
        return;
    struct ctrace_value v = ctrace_value_string(text);
    ctrace__point_proc_event(kind, pid, peer, text != NULL ? &v : NULL);
}

/* ---- Life and death. ---- */

static struct ctrace__proc *entry_new(enum ctrace_proc_kind kind,
                                      struct ctrace__thread *t)
{
    struct ctrace__proc *p = ctrace__calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->kind = kind;
    atomic_init(&p->status, CTRACE_PROC_RUNNING);
    atomic_init(&p->queue_len, 0);
    atomic_init(&p->queue_bytes, 0);
    atomic_init(&p->accounted, 0);
    p->thread = t;
    p->tid = t->tid;
    p->start_us = ctrace__clock_wall_us();
    /* The calling thread is `t`: its own CPU clock. */
    p->has_cpu_clock =
        pthread_getcpuclockid(pthread_self(), &p->cpu_clock) == 0;
    return p;
}

/* Hands out a pid and puts `p` in the table. Table lock held. */
static int entry_publish(struct ctrace__proc *p)
{
    p->pid = atomic_fetch_add(&next_pid, 1);
    int rc = hash_insert(p);
    if (rc < 0)
        return rc;
    list_append(&live_head, &live_tail, p);
    return 0;
}

/*
 * fork(): the table lock is held across it, so the child's copy of the
 * table is never caught in the middle of a change; the child then makes
 * the lock usable again, and thread.c drops the records and processes of
 * the threads that did not come along (ctrace__proc_after_fork_child).
 * The engine's handler does that too, but only once a session was started;
 * a program that used processes without ever tracing must not leave its
 * child with processes, names and thread records of threads it does not
 * have. Doing it twice is harmless: the second pass finds nothing to drop.
 */
static void fork_prepare(void)
{
    pthread_mutex_lock(&table_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&table_lock);
}

static void fork_child(void)
{
    pthread_mutex_init(&table_lock, NULL);
    ctrace__thread_after_fork_child();
}

static void fork_handlers(void)
{
    static const struct ctrace__fork_steps steps = {
        .prepare = fork_prepare,
        .parent = fork_parent,
        .child = fork_child,
    };
    ctrace__fork_register(CTRACE__FORK_PROCS, &steps);
}

void ctrace__proc_thread_claimed(struct ctrace__thread *t)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fork_handlers);
    struct ctrace__proc *p = entry_new(CTRACE_PROC_THREAD, t);
    pthread_mutex_lock(&table_lock);
    prune_dead();
    if (p != NULL && entry_publish(p) < 0) {
        ctrace__free(p);
        p = NULL;
    }
    if (p != NULL)
        p->current = true; /* cpu_mark 0: the thread's CPU from its start */
    t->proc = p;
    atomic_store_explicit(
        &t->pid, p != NULL ? p->pid : 0, memory_order_release);
    label_publish(t);
    pthread_mutex_unlock(&table_lock);
}

/* Keeps a notice for a process that is not a server. Table lock held. */
static void keep_notice(uint64_t target, const struct ctrace_exit_notice *n)
{
    struct ctrace__proc *p = find(target);
    if (p == NULL || p->dead)
        return;
    if (p->notices == NULL) {
        p->notices =
            ctrace__calloc(CTRACE_PROC_NOTICES_MAX, sizeof(*p->notices));
        if (p->notices == NULL)
            return;
    }
    unsigned at = (p->notice_first + p->notice_count) % CTRACE_PROC_NOTICES_MAX;
    p->notices[at] = *n;
    if (p->notice_count < CTRACE_PROC_NOTICES_MAX)
        p->notice_count++;
    else
        p->notice_first = (p->notice_first + 1) % CTRACE_PROC_NOTICES_MAX;
}

static bool has_link(const struct ctrace__proc *p, uint64_t pid)
{
    for (size_t i = 0; i < p->nlinks; i++)
        if (p->links[i] == pid)
            return true;
    return false;
}

/* Removes `pid` from p's links, if there. Table lock held. */
static void drop_link(struct ctrace__proc *p, uint64_t pid)
{
    for (size_t k = 0; k < p->nlinks; k++)
        if (p->links[k] == pid) {
            p->links[k] = p->links[--p->nlinks];
            return;
        }
}

/*
 * Ends `p` with `reason`: final counters, names released, links broken
 * (the other ends collected into `out` to be told once the lock is
 * released), moved to the dead FIFO. Table lock held.
 */
static size_t
entry_end(struct ctrace__proc *p, const char *reason, uint64_t *out, size_t cap)
{
    /*
     * Through a copy: label_of() of a dead entry reads p->label, and
     * snprintf() must not read the buffer it writes (gcc -O3 says so).
     */
    char label[sizeof(p->label)];
    label_of(p, label, sizeof(label));
    memcpy(p->label, label, sizeof(label));
    if (p->kind == CTRACE_PROC_THREAD && p->thread != NULL)
        ctrace__thread_initial(p->thread, p->initial, sizeof(p->initial));
    p->cpu_done = cpu_used(p);
    p->current = false;
    p->dead = true;
    p->thread = NULL;
    atomic_store(&p->status, CTRACE_PROC_DEAD);
    atomic_store(&p->queue_len, 0);
    atomic_store(&p->queue_bytes, 0);
    snprintf(p->exit_reason, sizeof(p->exit_reason), "%s", reason);
    p->end_us = ctrace__clock_wall_us();
    p->end_mono_ns = ctrace__clock_mono_ns();
    raise_text(CTRACE_EVENT_EXIT, p->pid, 0, p->exit_reason);
    if (p->name[0] != '\0') {
        raise_text(CTRACE_EVENT_UNREGISTER, p->pid, 0, p->name);
        p->name[0] = '\0';
        if (p->thread != NULL && p->thread->proc == p)
            label_publish(p->thread);
    }
    size_t n = 0;
    for (size_t i = 0; i < p->nlinks; i++) {
        struct ctrace__proc *q = find(p->links[i]);
        if (q == NULL || q->dead)
            continue;
        drop_link(q, p->pid);
        if (n < cap)
            out[n++] = q->pid;
    }
    p->nlinks = 0;
    list_remove(&live_head, &live_tail, p);
    list_append(&dead_head, &dead_tail, p);
    ndead++;
    return n;
}

/*
 * Tells the other ends of `pid`'s links that it ended: servers through
 * the hook, others through their notice ring. Table lock NOT held.
 */
static void
tell_links(uint64_t pid, const char *reason, const uint64_t *targets, size_t n)
{
    if (n == 0)
        return;
    struct ctrace_exit_notice notice;
    memset(&notice, 0, sizeof(notice));
    notice.pid = pid;
    snprintf(notice.reason, sizeof(notice.reason), "%s", reason);
    ctrace__exit_hook hook = atomic_load(&exit_hook);
    for (size_t i = 0; i < n; i++) {
        if (hook != NULL && hook(targets[i], &notice))
            continue;
        pthread_mutex_lock(&table_lock);
        keep_notice(targets[i], &notice);
        pthread_mutex_unlock(&table_lock);
    }
}

void ctrace__proc_thread_released(struct ctrace__thread *t)
{
    uint64_t targets[CTRACE_PROC_LINKS_MAX];
    for (;;) {
        pthread_mutex_lock(&table_lock);
        struct ctrace__proc *p = t->proc;
        if (p == NULL) {
            pthread_mutex_unlock(&table_lock);
            return;
        }
        char reason[CTRACE_PROC_TEXT_MAX + 1];
        snprintf(reason,
                 sizeof(reason),
                 "%s",
                 p->kind == CTRACE_PROC_EXPLICIT ? "thread exited"
                 : p->pending_reason[0] != '\0'  ? p->pending_reason
                                                 : "normal");
        struct ctrace__proc *outer = p->outer;
        size_t n = entry_end(p, reason, targets, CTRACE_PROC_LINKS_MAX);
        uint64_t pid = p->pid;
        t->proc = outer;
        atomic_store_explicit(
            &t->pid, outer != NULL ? outer->pid : 0, memory_order_release);
        label_publish(t);
        pthread_mutex_unlock(&table_lock);
        tell_links(pid, reason, targets, n);
    }
}

void ctrace__proc_after_fork_child(struct ctrace__thread *self)
{
    /*
     * Only the forking thread lives on in the child: every other live
     * process is gone without a trace (no events; nobody to tell).
     */
    struct ctrace__proc *p = live_head;
    while (p != NULL) {
        struct ctrace__proc *next = p->next;
        if (self == NULL || p->thread != self) {
            list_remove(&live_head, &live_tail, p);
            hash_remove(p);
            entry_free(p);
        } else {
            p->tid = self->tid;
            p->has_cpu_clock =
                pthread_getcpuclockid(pthread_self(), &p->cpu_clock) == 0;
            p->cpu_mark = 0;
            p->cpu_done = 0;
            p->nlinks = 0;
        }
        p = next;
    }
}

uint64_t ctrace__proc_watermark(void)
{
    return atomic_load(&next_pid) - 1;
}

bool ctrace__proc_label(uint64_t pid, char *label, size_t size)
{
    if (size > 0)
        label[0] = '\0';
    pthread_mutex_lock(&table_lock);
    struct ctrace__proc *p = find(pid);
    bool alive = p != NULL && !p->dead;
    if (p != NULL)
        label_of(p, label, size);
    pthread_mutex_unlock(&table_lock);
    return alive;
}

struct ctrace__proc *ctrace__proc_self(void)
{
    struct ctrace__thread *t = ctrace__thread_self();
    return t != NULL ? t->proc : NULL;
}

uint64_t ctrace__proc_pid(const struct ctrace__proc *p)
{
    return p->pid;
}

void ctrace__proc_set_status(struct ctrace__proc *p,
                             enum ctrace_proc_status status)
{
    if (p != NULL)
        atomic_store_explicit(&p->status, (int)status, memory_order_relaxed);
}

void ctrace__proc_set_queue(struct ctrace__proc *p,
                            uint64_t len,
                            uint64_t bytes)
{
    if (p == NULL)
        return;
    atomic_store_explicit(&p->queue_len, len, memory_order_relaxed);
    atomic_store_explicit(&p->queue_bytes, bytes, memory_order_relaxed);
}

void ctrace__proc_make_server(struct ctrace__proc *p, const char *initial_call)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&table_lock);
    p->kind = CTRACE_PROC_SERVER;
    snprintf(p->initial,
             sizeof(p->initial),
             "%s",
             initial_call != NULL ? initial_call : "");
    label_publish(p->thread);
    pthread_mutex_unlock(&table_lock);
}

void ctrace__proc_set_exit_reason(struct ctrace__proc *p, const char *reason)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&table_lock);
    snprintf(p->pending_reason,
             sizeof(p->pending_reason),
             "%s",
             reason != NULL ? reason : "");
    pthread_mutex_unlock(&table_lock);
}

void ctrace__proc_set_exit_hook(ctrace__exit_hook hook)
{
    atomic_store(&exit_hook, hook);
}

/* ---- The public API. ---- */

uint64_t ctrace_self(void)
{
    struct ctrace__thread *t = ctrace__thread_self();
    return t != NULL ? atomic_load(&t->pid) : 0;
}

uint64_t ctrace_proc_begin(const char *initial_call)
{
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL)
        return 0;
    struct ctrace__proc *p = entry_new(CTRACE_PROC_EXPLICIT, t);
    if (p == NULL)
        return 0;
    snprintf(p->initial,
             sizeof(p->initial),
             "%s",
             initial_call != NULL ? initial_call : "");
    uint64_t now = cpu_now(p);
    pthread_mutex_lock(&table_lock);
    prune_dead();
    struct ctrace__proc *outer = t->proc;
    p->parent = outer != NULL ? outer->pid : 0;
    if (entry_publish(p) < 0) {
        pthread_mutex_unlock(&table_lock);
        ctrace__free(p);
        return 0;
    }
    if (outer != NULL && outer->current) {
        outer->cpu_done += now > outer->cpu_mark ? now - outer->cpu_mark : 0;
        outer->current = false;
    }
    p->outer = outer;
    p->current = true;
    p->cpu_mark = now;
    t->proc = p;
    atomic_store_explicit(&t->pid, p->pid, memory_order_release);
    label_publish(t);
    raise_text(CTRACE_EVENT_SPAWN, p->parent, p->pid, p->initial);
    uint64_t pid = p->pid;
    pthread_mutex_unlock(&table_lock);
    return pid;
}

int ctrace_proc_end(const char *reason)
{
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL)
        return CTRACE_ENOTFOUND;
    if (reason == NULL)
        reason = "normal";
    uint64_t targets[CTRACE_PROC_LINKS_MAX];
    pthread_mutex_lock(&table_lock);
    struct ctrace__proc *p = t->proc;
    if (p == NULL || p->kind != CTRACE_PROC_EXPLICIT) {
        pthread_mutex_unlock(&table_lock);
        return CTRACE_ENOTFOUND;
    }
    struct ctrace__proc *outer = p->outer;
    size_t n = entry_end(p, reason, targets, CTRACE_PROC_LINKS_MAX);
    uint64_t pid = p->pid;
    if (outer != NULL) {
        outer->current = true;
        outer->cpu_mark = cpu_now(outer);
    }
    t->proc = outer;
    atomic_store_explicit(
        &t->pid, outer != NULL ? outer->pid : 0, memory_order_release);
    label_publish(t);
    prune_dead();
    pthread_mutex_unlock(&table_lock);
    tell_links(pid, reason, targets, n);
    return 0;
}

static bool name_ok(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;
    /* A leading digit would read as a pid in ctrace_proc_parse(). */
    if (len == 0 || len > CTRACE_PROC_NAME_MAX ||
        (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
              c == '@'))
            return false;
    }
    return true;
}

/* The live process registered as `name`. Table lock held. */
static struct ctrace__proc *find_name(const char *name)
{
    for (struct ctrace__proc *p = live_head; p != NULL; p = p->next)
        if (p->name[0] != '\0' && strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

int ctrace_register(const char *name, uint64_t pid)
{
    if (!name_ok(name))
        return CTRACE_EINVAL;
    struct ctrace__thread *t = ctrace__thread_self();
    if (pid == 0) {
        pid = t != NULL ? atomic_load(&t->pid) : 0;
        if (pid == 0)
            return CTRACE_ENOMEM;
    }
    pthread_mutex_lock(&table_lock);
    struct ctrace__proc *p = find(pid);
    int rc = 0;
    if (p == NULL || p->dead)
        rc = CTRACE_ENOPROC;
    else if (p->name[0] != '\0' || find_name(name) != NULL)
        rc = -EEXIST;
    if (rc == 0) {
        snprintf(p->name, sizeof(p->name), "%s", name);
        if (p->thread != NULL && p->thread->proc == p)
            label_publish(p->thread);
        raise_text(CTRACE_EVENT_REGISTER, p->pid, 0, p->name);
    }
    pthread_mutex_unlock(&table_lock);
    return rc;
}

int ctrace_unregister(const char *name)
{
    if (name == NULL)
        return CTRACE_ENOTFOUND;
    (void)ctrace__thread_self();
    pthread_mutex_lock(&table_lock);
    struct ctrace__proc *p = find_name(name);
    if (p != NULL) {
        raise_text(CTRACE_EVENT_UNREGISTER, p->pid, 0, p->name);
        p->name[0] = '\0';
    }
    pthread_mutex_unlock(&table_lock);
    return p != NULL ? 0 : CTRACE_ENOTFOUND;
}

uint64_t ctrace_whereis(const char *name)
{
    if (name == NULL)
        return 0;
    pthread_mutex_lock(&table_lock);
    struct ctrace__proc *p = find_name(name);
    uint64_t pid = p != NULL ? p->pid : 0;
    pthread_mutex_unlock(&table_lock);
    return pid;
}

int ctrace_link(uint64_t pid)
{
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL)
        return CTRACE_ENOMEM;
    pthread_mutex_lock(&table_lock);
    struct ctrace__proc *self = t->proc;
    struct ctrace__proc *other = find(pid);
    int rc = 0;
    if (self == NULL)
        rc = CTRACE_ENOMEM;
    else if (other == NULL || other->dead)
        rc = CTRACE_ENOPROC;
    else if (other == self || has_link(self, pid))
        rc = 0;
    else if (self->nlinks == CTRACE_PROC_LINKS_MAX ||
             other->nlinks == CTRACE_PROC_LINKS_MAX)
        rc = CTRACE_ELIMIT;
    else {
        self->links[self->nlinks++] = pid;
        other->links[other->nlinks++] = self->pid;
        raise_text(CTRACE_EVENT_LINK, self->pid, pid, NULL);
    }
    pthread_mutex_unlock(&table_lock);
    return rc;
}

int ctrace_unlink(uint64_t pid)
{
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL)
        return CTRACE_ENOMEM;
    pthread_mutex_lock(&table_lock);
    struct ctrace__proc *self = t->proc;
    struct ctrace__proc *other = find(pid);
    if (self != NULL && has_link(self, pid)) {
        drop_link(self, pid);
        if (other != NULL)
            drop_link(other, self->pid);
        raise_text(CTRACE_EVENT_UNLINK, self->pid, pid, NULL);
    }
    pthread_mutex_unlock(&table_lock);
    return 0;
}

size_t ctrace_proc_exits(struct ctrace_exit_notice *out, size_t cap)
{
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL)
        return 0;
    size_t n = 0;
    if (out == NULL)
        return 0;
    pthread_mutex_lock(&table_lock);
    struct ctrace__proc *p = t->proc;
    while (p != NULL && p->notice_count > 0 && n < cap) {
        out[n++] = p->notices[p->notice_first];
        p->notice_first = (p->notice_first + 1) % CTRACE_PROC_NOTICES_MAX;
        p->notice_count--;
    }
    pthread_mutex_unlock(&table_lock);
    return n;
}

void ctrace_proc_account(int64_t delta)
{
    struct ctrace__proc *p = ctrace__proc_self();
    if (p != NULL)
        atomic_fetch_add_explicit(&p->accounted, delta, memory_order_relaxed);
}

/* Fills `out` from `p`, except `current`. Table lock held. */
static void info_of(const struct ctrace__proc *p, struct ctrace_proc_info *out)
{
    memset(out, 0, sizeof(*out));
    out->pid = p->pid;
    out->parent = p->parent;
    out->kind = p->kind;
    out->status = p->dead ? CTRACE_PROC_DEAD
                          : (enum ctrace_proc_status)atomic_load_explicit(
                                &p->status, memory_order_relaxed);
    snprintf(out->name, sizeof(out->name), "%s", p->name);
    initial_of(p, out->initial_call, sizeof(out->initial_call));
    label_of(p, out->label, sizeof(out->label));
    snprintf(out->exit_reason, sizeof(out->exit_reason), "%s", p->exit_reason);
    out->start_us = p->start_us;
    out->end_us = p->end_us;
    out->tid = p->tid;
    out->memory = memory_of(p);
    out->reductions = cpu_used(p) / 1000u;
    out->message_queue_len =
        atomic_load_explicit(&p->queue_len, memory_order_relaxed);
    out->nlinks = p->nlinks;
    memcpy(out->links, p->links, p->nlinks * sizeof(p->links[0]));
}

/* The trace point a live process last passed. Table lock held. */
static const struct ctrace_point *current_point(const struct ctrace__proc *p)
{
    if (p->dead || p->thread == NULL)
        return NULL;
    return atomic_load_explicit(&p->thread->current, memory_order_relaxed);
}

struct point_find {
    const struct ctrace_point *pt;
    char *buf;
    size_t size;
};

static int point_name(struct ctrace_point *pt, void *arg)
{
    struct point_find *f = arg;
    if (pt != f->pt)
        return 0;
    snprintf(f->buf,
             f->size,
             "%s:%s/%u",
             pt->module,
             pt->function,
             (unsigned)pt->arity);
    return 1;
}

/*
 * Names a trace point, only if its module is still loaded: the pointer is
 * compared, never followed, until the registry says it is one of its own.
 * Takes the registry lock; table lock NOT held.
 */
static void name_point(const struct ctrace_point *pt, char *buf, size_t size)
{
    if (size > 0)
        buf[0] = '\0';
    if (pt == NULL)
        return;
    struct point_find f = {pt, buf, size};
    ctrace__registry_lock();
    ctrace__registry_walk(NULL, NULL, -1, point_name, &f);
    ctrace__registry_unlock();
}

int ctrace_proc_info(uint64_t pid, struct ctrace_proc_info *out)
{
    if (out == NULL)
        return CTRACE_EINVAL;
    pthread_mutex_lock(&table_lock);
    prune_dead();
    struct ctrace__proc *p = find(pid);
    const struct ctrace_point *pt = NULL;
    if (p != NULL) {
        info_of(p, out);
        pt = current_point(p);
    }
    pthread_mutex_unlock(&table_lock);
    if (p == NULL)
        return CTRACE_ENOPROC;
    name_point(pt, out->current, sizeof(out->current));
    return 0;
}

/*
 * Reads the decimal digits at *s (at least one, nothing else: no sign, no
 * space) into *v and moves *s past them. Returns false on no digit or on
 * overflow.
 */
static bool read_digits(const char **s, uint64_t *v)
{
    const char *p = *s;
    uint64_t n = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *s = p;
    *v = n;
    return true;
}

int ctrace_proc_parse(const char *text, uint64_t *pid)
{
    if (text == NULL || pid == NULL)
        return CTRACE_EINVAL;
    /*
     * Digits only, checked by hand: scanf's %llu would also take a sign
     * ("<0.-1.0>" as a huge pid), spaces, and "<0.5.0" without its '>'.
     */
    const char *s = text;
    uint64_t a, n, c;
    if (*s == '<') {
        s++;
        if (!read_digits(&s, &a) || *s++ != '.' || !read_digits(&s, &n) ||
            *s++ != '.' || !read_digits(&s, &c) || *s++ != '>' || *s != '\0' ||
            a != 0 || c != 0 || n == 0)
            return CTRACE_EINVAL;
        *pid = n;
        return 0;
    }
    if (text[0] >= '0' && text[0] <= '9') {
        if (!read_digits(&s, &n) || *s != '\0' || n == 0)
            return CTRACE_EINVAL;
        *pid = n;
        return 0;
    }
    if (!name_ok(text))
        return CTRACE_EINVAL;
    uint64_t found = ctrace_whereis(text);
    if (found == 0)
        return CTRACE_ENOPROC;
    *pid = found;
    return 0;
}

size_t ctrace_proc_list(struct ctrace_proc_info *out, size_t cap, bool dead)
{
    size_t n = 0;
    if (out == NULL)
        cap = 0;
    /* Each live row's trace point, named once the table lock is released. */
    const struct ctrace_point **pts =
        cap > 0 ? ctrace__calloc(cap, sizeof(*pts)) : NULL;
    pthread_mutex_lock(&table_lock);
    prune_dead();
    for (struct ctrace__proc *p = live_head; p != NULL; p = p->next) {
        if (hidden(p))
            continue;
        if (n < cap) {
            info_of(p, &out[n]);
            if (pts != NULL)
                pts[n] = current_point(p);
        }
        n++;
    }
    if (dead)
        for (struct ctrace__proc *p = dead_head; p != NULL; p = p->next, n++)
            if (n < cap)
                info_of(p, &out[n]);
    pthread_mutex_unlock(&table_lock);
    for (size_t i = 0; pts != NULL && i < cap && i < n; i++)
        if (pts[i] != NULL)
            name_point(pts[i], out[i].current, sizeof(out[i].current));
    ctrace__free(pts);
    return n;
}

/* ---- Ranking: a bounded min-heap of the best n seen so far. ---- */

struct rank_item {
    uint64_t value;
    uint64_t pid;
};

static bool rank_less(const struct rank_item *a, const struct rank_item *b)
{
    /* Lower value first; on a tie, the higher pid counts as lower. */
    return a->value < b->value || (a->value == b->value && a->pid > b->pid);
}

static void heap_down(struct rank_item *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && rank_less(&h[l], &h[m]))
            m = l;
        if (r < n && rank_less(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        struct rank_item tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
}

static void heap_up(struct rank_item *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!rank_less(&h[i], &h[parent]))
            return;
        struct rank_item tmp = h[i];
        h[i] = h[parent];
        h[parent] = tmp;
        i = parent;
    }
}

/* Offers one process to a heap of at most `cap` items holding `*n`. */
static void
heap_offer(struct rank_item *h, size_t *n, size_t cap, struct rank_item item)
{
    if (cap == 0)
        return;
    if (*n < cap) {
        h[*n] = item;
        heap_up(h, (*n)++);
    } else if (rank_less(&h[0], &item)) {
        h[0] = item;
        heap_down(h, cap, 0);
    }
}

static int cmp_rank_desc(const void *a, const void *b)
{
    const struct rank_item *x = a, *y = b;
    return rank_less(x, y) ? 1 : rank_less(y, x) ? -1 : 0;
}

/*
 * Turns the heap into rows, highest first: names are filled from the
 * table (processes that died meanwhile keep their last label).
 */
static void rank_rows(struct rank_item *h,
                      size_t n,
                      struct ctrace_proc_rank *out,
                      size_t *nout)
{
    qsort(h, n, sizeof(*h), cmp_rank_desc);
    /* Each row's point, named once the table lock is released. */
    const struct ctrace_point **pts =
        ctrace__calloc(n > 0 ? n : 1, sizeof(*pts));
    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; i < n; i++) {
        struct ctrace_proc_rank *row = &out[i];
        memset(row, 0, sizeof(*row));
        row->pid = h[i].pid;
        row->value = h[i].value;
        struct ctrace__proc *p = find(h[i].pid);
        if (p == NULL)
            continue;
        snprintf(row->name, sizeof(row->name), "%s", p->name);
        label_of(p, row->label, sizeof(row->label));
        initial_of(p, row->initial_call, sizeof(row->initial_call));
        if (pts != NULL)
            pts[i] = current_point(p);
    }
    pthread_mutex_unlock(&table_lock);
    for (size_t i = 0; pts != NULL && i < n; i++)
        name_point(pts[i], out[i].current, sizeof(out[i].current));
    ctrace__free(pts);
    *nout = n;
}

/* The smaller of `n` and the number of live processes. Table lock held. */
static size_t live_at_most(size_t n)
{
    size_t live = 0;
    for (struct ctrace__proc *p = live_head; p != NULL && live < n; p = p->next)
        live += !hidden(p);
    return live;
}

static bool attr_valid(enum ctrace_proc_attr attr)
{
    return (unsigned)attr <= CTRACE_ATTR_MESSAGE_QUEUE_LEN;
}

int ctrace_proc_count(enum ctrace_proc_attr attr,
                      size_t n,
                      struct ctrace_proc_rank *out,
                      size_t *nout)
{
    if (nout != NULL)
        *nout = 0;
    if (!attr_valid(attr) || n == 0 || out == NULL || nout == NULL)
        return CTRACE_EINVAL;
    pthread_mutex_lock(&table_lock);
    /*
     * The heap never holds more rows than there are live processes: a
     * caller asking for "all" with a huge n must not make n * 16 bytes
     * wrap around into a small allocation.
     */
    n = live_at_most(n);
    struct rank_item *heap = ctrace__malloc((n > 0 ? n : 1) * sizeof(*heap));
    if (heap == NULL) {
        pthread_mutex_unlock(&table_lock);
        return CTRACE_ENOMEM;
    }
    size_t have = 0;
    for (struct ctrace__proc *p = live_head; p != NULL; p = p->next)
        if (!hidden(p))
            heap_offer(
                heap, &have, n, (struct rank_item){attr_of(p, attr), p->pid});
    pthread_mutex_unlock(&table_lock);
    rank_rows(heap, have, out, nout);
    ctrace__free(heap);
    return 0;
}

int ctrace_proc_window(enum ctrace_proc_attr attr,
                       size_t n,
                       uint32_t ms,
                       struct ctrace_proc_rank *out,
                       size_t *nout)
{
    if (nout != NULL)
        *nout = 0;
    if (!attr_valid(attr) || n == 0 || ms == 0 || out == NULL || nout == NULL)
        return CTRACE_EINVAL;
    /* The first sample: (pid, value) in pid order, as the live list is. */
    pthread_mutex_lock(&table_lock);
    size_t cap = 0;
    for (struct ctrace__proc *p = live_head; p != NULL; p = p->next)
        cap++;
    struct rank_item *first =
        ctrace__malloc((cap > 0 ? cap : 1) * sizeof(*first));
    if (first == NULL) {
        pthread_mutex_unlock(&table_lock);
        return CTRACE_ENOMEM;
    }
    size_t nfirst = 0;
    for (struct ctrace__proc *p = live_head; p != NULL; p = p->next)
        first[nfirst++] = (struct rank_item){attr_of(p, attr), p->pid};
    pthread_mutex_unlock(&table_lock);

    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }

    size_t have = 0, k = 0;
    pthread_mutex_lock(&table_lock);
    n = live_at_most(n); /* as in ctrace_proc_count() */
    struct rank_item *heap = ctrace__malloc((n > 0 ? n : 1) * sizeof(*heap));
    if (heap == NULL) {
        pthread_mutex_unlock(&table_lock);
        ctrace__free(first);
        return CTRACE_ENOMEM;
    }
    /* Both walks go up in pid: one merge pass. */
    for (struct ctrace__proc *p = live_head; p != NULL; p = p->next) {
        while (k < nfirst && first[k].pid < p->pid)
            k++;
        uint64_t before =
            k < nfirst && first[k].pid == p->pid ? first[k].value : 0;
        if (hidden(p))
            continue; /* sampled first all the same: it may show again */
        uint64_t now = attr_of(p, attr);
        uint64_t grew = now > before ? now - before : 0;
        heap_offer(heap, &have, n, (struct rank_item){grew, p->pid});
    }
    pthread_mutex_unlock(&table_lock);
    ctrace__free(first);
    rank_rows(heap, have, out, nout);
    ctrace__free(heap);
    return 0;
}

const char *ctrace_proc_attr_name(enum ctrace_proc_attr attr)
{
    return attr_valid(attr) ? attr_names[attr] : "unknown";
}

int ctrace_proc_attr_parse(const char *text, enum ctrace_proc_attr *attr)
{
    if (attr == NULL)
        return CTRACE_EINVAL;
    for (size_t i = 0; text != NULL && i < CTRACE__ARRAY_SIZE(attr_names); i++)
        if (strcmp(text, attr_names[i]) == 0) {
            *attr = (enum ctrace_proc_attr)i;
            return 0;
        }
    return CTRACE_EINVAL;
}

const char *ctrace_proc_status_name(enum ctrace_proc_status s)
{
    return (unsigned)s < CTRACE__ARRAY_SIZE(status_names) ? status_names[s]
                                                          : "unknown";
}

void ctrace__proc_describe(uint64_t pid, char *buf, size_t size)
{
    struct ctrace_proc_info info;
    if (ctrace_proc_info(pid, &info) < 0) {
        snprintf(buf, size, "pid: <0.%" PRIu64 ".0>\nstatus: dead", pid);
        return;
    }
    char parent[32] = "none";
    if (info.parent != 0)
        snprintf(parent, sizeof(parent), "<0.%" PRIu64 ".0>", info.parent);
    snprintf(buf,
             size,
             "pid: <0.%" PRIu64 ".0>\n"
             "label: %s\n"
             "registered_name: %s\n"
             "initial_call: %s\n"
             "current: %s\n"
             "parent: %s\n"
             "status: %s\n"
             "thread: %d\n"
             "memory: %" PRIu64 "\n"
             "reductions: %" PRIu64 "\n"
             "message_queue_len: %" PRIu64 "\n"
             "links: %zu",
             pid,
             info.label[0] != '\0' ? info.label : "-",
             info.name[0] != '\0' ? info.name : "-",
             info.initial_call[0] != '\0' ? info.initial_call : "-",
             info.current[0] != '\0' ? info.current : "-",
             parent,
             ctrace_proc_status_name(info.status),
             info.tid,
             info.memory,
             info.reductions,
             info.message_queue_len,
             info.nlinks);
}
