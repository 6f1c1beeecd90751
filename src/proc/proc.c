/* SPDX-License-Identifier: MIT */
/*
 * The process table: entries, the hash and lists, attributes, labels,
 * process events, life and death. proc_impl.h has the file map, proc.h the
 * locking, include/ctrace/proc.h what users see.
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
#include "proc/proc_impl.h"
#include "proc/thread.h"

/* One lock guards everything below (proc.h). */
pthread_mutex_t ctrace__procs_table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctrace__proc **buckets;
static size_t nbuckets;
static size_t nentries;
struct ctrace__proc *ctrace__procs_live_head;
static struct ctrace__proc *live_tail;
/* The dead FIFO, oldest first. */
struct ctrace__proc *ctrace__procs_dead_head;
static struct ctrace__proc *dead_tail;
static size_t ndead;
static _Atomic uint64_t next_pid = 1;
static _Atomic(ctrace__exit_hook) exit_hook;

/* ---- The hash, the lists. Table lock held. ---- */

static size_t bucket_of(uint64_t pid, size_t n)
{
    return (size_t)((pid * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (n - 1);
}

struct ctrace__proc *ctrace__procs_find(uint64_t pid)
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
void ctrace__procs_prune_dead(void)
{
    uint64_t now = ctrace__clock_mono_ns();
    while (ctrace__procs_dead_head != NULL &&
           (ndead > CTRACE_PROC_DEAD_KEEP ||
            now - ctrace__procs_dead_head->end_mono_ns >
                (uint64_t)CTRACE_PROC_DEAD_MS * 1000000u)) {
        struct ctrace__proc *p = ctrace__procs_dead_head;
        list_remove(&ctrace__procs_dead_head, &dead_tail, p);
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
uint64_t ctrace__procs_cpu_used(const struct ctrace__proc *p)
{
    if (p->dead || !p->current)
        return p->cpu_done;
    uint64_t now = cpu_now(p);
    return p->cpu_done + (now > p->cpu_mark ? now - p->cpu_mark : 0);
}

uint64_t ctrace__procs_memory_of(const struct ctrace__proc *p)
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

uint64_t ctrace__procs_attr_of(const struct ctrace__proc *p,
                               enum ctrace_proc_attr a)
{
    switch (a) {
    case CTRACE_ATTR_MEMORY:
        return ctrace__procs_memory_of(p);
    case CTRACE_ATTR_REDUCTIONS:
        return ctrace__procs_cpu_used(p) / 1000u;
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
bool ctrace__procs_hidden(const struct ctrace__proc *p)
{
    return p->kind == CTRACE_PROC_THREAD && !p->dead && !p->current;
}

/* The label output shows. Table lock held. */
void ctrace__procs_label_of(const struct ctrace__proc *p,
                            char *buf,
                            size_t size)
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
void ctrace__procs_initial_of(const struct ctrace__proc *p,
                              char *buf,
                              size_t size)
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
void ctrace__procs_label_publish(struct ctrace__thread *t)
{
    if (t == NULL)
        return;
    const char *l = NULL;
    struct ctrace__proc *p = t->proc;
    if (p != NULL && !p->dead) {
        char text[CTRACE_PROC_TEXT_MAX + 1];
        ctrace__procs_label_of(p, text, sizeof(text));
        l = label_intern(text);
    }
    atomic_store_explicit(&t->label, l, memory_order_release);
}

void ctrace__proc_label_changed(struct ctrace__thread *t)
{
    pthread_mutex_lock(&ctrace__procs_table_lock);
    ctrace__procs_label_publish(t);
    pthread_mutex_unlock(&ctrace__procs_table_lock);
}

/* ---- Process events. ---- */

void ctrace__procs_raise_text(enum ctrace_event_kind kind,
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
    list_append(&ctrace__procs_live_head, &live_tail, p);
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
    pthread_mutex_lock(&ctrace__procs_table_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&ctrace__procs_table_lock);
}

static void fork_child(void)
{
    pthread_mutex_init(&ctrace__procs_table_lock, NULL);
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
    pthread_mutex_lock(&ctrace__procs_table_lock);
    ctrace__procs_prune_dead();
    if (p != NULL && entry_publish(p) < 0) {
        ctrace__free(p);
        p = NULL;
    }
    if (p != NULL)
        p->current = true; /* cpu_mark 0: the thread's CPU from its start */
    t->proc = p;
    atomic_store_explicit(
        &t->pid, p != NULL ? p->pid : 0, memory_order_release);
    ctrace__procs_label_publish(t);
    pthread_mutex_unlock(&ctrace__procs_table_lock);
}

/* Keeps a notice for a process that is not a server. Table lock held. */
static void keep_notice(uint64_t target, const struct ctrace_exit_notice *n)
{
    struct ctrace__proc *p = ctrace__procs_find(target);
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

bool ctrace__procs_has_link(const struct ctrace__proc *p, uint64_t pid)
{
    for (size_t i = 0; i < p->nlinks; i++)
        if (p->links[i] == pid)
            return true;
    return false;
}

/* Removes `pid` from p's links, if there. Table lock held. */
void ctrace__procs_drop_link(struct ctrace__proc *p, uint64_t pid)
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
     * Through a copy: ctrace__procs_label_of() of a dead entry reads p->label,
     * and snprintf() must not read the buffer it writes (gcc -O3 says so).
     */
    char label[sizeof(p->label)];
    ctrace__procs_label_of(p, label, sizeof(label));
    memcpy(p->label, label, sizeof(label));
    if (p->kind == CTRACE_PROC_THREAD && p->thread != NULL)
        ctrace__thread_initial(p->thread, p->initial, sizeof(p->initial));
    p->cpu_done = ctrace__procs_cpu_used(p);
    p->current = false;
    p->dead = true;
    p->thread = NULL;
    atomic_store(&p->status, CTRACE_PROC_DEAD);
    atomic_store(&p->queue_len, 0);
    atomic_store(&p->queue_bytes, 0);
    snprintf(p->exit_reason, sizeof(p->exit_reason), "%s", reason);
    p->end_us = ctrace__clock_wall_us();
    p->end_mono_ns = ctrace__clock_mono_ns();
    ctrace__procs_raise_text(CTRACE_EVENT_EXIT, p->pid, 0, p->exit_reason);
    if (p->name[0] != '\0') {
        ctrace__procs_raise_text(CTRACE_EVENT_UNREGISTER, p->pid, 0, p->name);
        p->name[0] = '\0';
        if (p->thread != NULL && p->thread->proc == p)
            ctrace__procs_label_publish(p->thread);
    }
    size_t n = 0;
    for (size_t i = 0; i < p->nlinks; i++) {
        struct ctrace__proc *q = ctrace__procs_find(p->links[i]);
        if (q == NULL || q->dead)
            continue;
        ctrace__procs_drop_link(q, p->pid);
        if (n < cap)
            out[n++] = q->pid;
    }
    p->nlinks = 0;
    list_remove(&ctrace__procs_live_head, &live_tail, p);
    list_append(&ctrace__procs_dead_head, &dead_tail, p);
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
        pthread_mutex_lock(&ctrace__procs_table_lock);
        keep_notice(targets[i], &notice);
        pthread_mutex_unlock(&ctrace__procs_table_lock);
    }
}

void ctrace__proc_thread_released(struct ctrace__thread *t)
{
    uint64_t targets[CTRACE_PROC_LINKS_MAX];
    for (;;) {
        pthread_mutex_lock(&ctrace__procs_table_lock);
        struct ctrace__proc *p = t->proc;
        if (p == NULL) {
            pthread_mutex_unlock(&ctrace__procs_table_lock);
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
        ctrace__procs_label_publish(t);
        pthread_mutex_unlock(&ctrace__procs_table_lock);
        tell_links(pid, reason, targets, n);
    }
}

void ctrace__proc_after_fork_child(struct ctrace__thread *self)
{
    /*
     * Only the forking thread lives on in the child: every other live
     * process is gone without a trace (no events; nobody to tell).
     */
    struct ctrace__proc *p = ctrace__procs_live_head;
    while (p != NULL) {
        struct ctrace__proc *next = p->next;
        if (self == NULL || p->thread != self) {
            list_remove(&ctrace__procs_live_head, &live_tail, p);
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
    pthread_mutex_lock(&ctrace__procs_table_lock);
    struct ctrace__proc *p = ctrace__procs_find(pid);
    bool alive = p != NULL && !p->dead;
    if (p != NULL)
        ctrace__procs_label_of(p, label, size);
    pthread_mutex_unlock(&ctrace__procs_table_lock);
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
    pthread_mutex_lock(&ctrace__procs_table_lock);
    p->kind = CTRACE_PROC_SERVER;
    snprintf(p->initial,
             sizeof(p->initial),
             "%s",
             initial_call != NULL ? initial_call : "");
    ctrace__procs_label_publish(p->thread);
    pthread_mutex_unlock(&ctrace__procs_table_lock);
}

void ctrace__proc_set_exit_reason(struct ctrace__proc *p, const char *reason)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&ctrace__procs_table_lock);
    snprintf(p->pending_reason,
             sizeof(p->pending_reason),
             "%s",
             reason != NULL ? reason : "");
    pthread_mutex_unlock(&ctrace__procs_table_lock);
}

void ctrace__proc_set_exit_hook(ctrace__exit_hook hook)
{
    atomic_store(&exit_hook, hook);
}

/* ---- The public API (contracts in ctrace/proc.h). ---- */

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
    pthread_mutex_lock(&ctrace__procs_table_lock);
    ctrace__procs_prune_dead();
    struct ctrace__proc *outer = t->proc;
    p->parent = outer != NULL ? outer->pid : 0;
    if (entry_publish(p) < 0) {
        pthread_mutex_unlock(&ctrace__procs_table_lock);
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
    ctrace__procs_label_publish(t);
    ctrace__procs_raise_text(CTRACE_EVENT_SPAWN, p->parent, p->pid, p->initial);
    uint64_t pid = p->pid;
    pthread_mutex_unlock(&ctrace__procs_table_lock);
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
    pthread_mutex_lock(&ctrace__procs_table_lock);
    struct ctrace__proc *p = t->proc;
    if (p == NULL || p->kind != CTRACE_PROC_EXPLICIT) {
        pthread_mutex_unlock(&ctrace__procs_table_lock);
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
    ctrace__procs_label_publish(t);
    ctrace__procs_prune_dead();
    pthread_mutex_unlock(&ctrace__procs_table_lock);
    tell_links(pid, reason, targets, n);
    return 0;
}
