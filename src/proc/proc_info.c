/* SPDX-License-Identifier: MIT */
/*
 * What a process looks like from outside: ctrace_proc_info, the list of
 * processes, pid parsing (<0.N.0>), and the accounting of memory.
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
    ctrace__procs_initial_of(p, out->initial_call, sizeof(out->initial_call));
    ctrace__procs_label_of(p, out->label, sizeof(out->label));
    snprintf(out->exit_reason, sizeof(out->exit_reason), "%s", p->exit_reason);
    out->start_us = p->start_us;
    out->end_us = p->end_us;
    out->tid = p->tid;
    out->memory = ctrace__procs_memory_of(p);
    out->reductions = ctrace__procs_cpu_used(p) / 1000u;
    out->message_queue_len =
        atomic_load_explicit(&p->queue_len, memory_order_relaxed);
    out->nlinks = p->nlinks;
    memcpy(out->links, p->links, p->nlinks * sizeof(p->links[0]));
}

/* The trace point a live process last passed. Table lock held. */
const struct ctrace_point *
ctrace__procs_current_point(const struct ctrace__proc *p)
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
void ctrace__procs_name_point(const struct ctrace_point *pt,
                              char *buf,
                              size_t size)
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
    pthread_mutex_lock(&ctrace__procs_table_lock);
    ctrace__procs_prune_dead();
    struct ctrace__proc *p = ctrace__procs_find(pid);
    const struct ctrace_point *pt = NULL;
    if (p != NULL) {
        info_of(p, out);
        pt = ctrace__procs_current_point(p);
    }
    pthread_mutex_unlock(&ctrace__procs_table_lock);
    if (p == NULL)
        return CTRACE_ENOPROC;
    ctrace__procs_name_point(pt, out->current, sizeof(out->current));
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
    if (!ctrace__procs_name_ok(text))
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
    pthread_mutex_lock(&ctrace__procs_table_lock);
    ctrace__procs_prune_dead();
    for (struct ctrace__proc *p = ctrace__procs_live_head; p != NULL;
         p = p->next) {
        if (ctrace__procs_hidden(p))
            continue;
        if (n < cap) {
            info_of(p, &out[n]);
            if (pts != NULL)
                pts[n] = ctrace__procs_current_point(p);
        }
        n++;
    }
    if (dead)
        for (struct ctrace__proc *p = ctrace__procs_dead_head; p != NULL;
             p = p->next, n++)
            if (n < cap)
                info_of(p, &out[n]);
    pthread_mutex_unlock(&ctrace__procs_table_lock);
    for (size_t i = 0; pts != NULL && i < cap && i < n; i++)
        if (pts[i] != NULL)
            ctrace__procs_name_point(
                pts[i], out[i].current, sizeof(out[i].current));
    ctrace__free(pts);
    return n;
}
