/* SPDX-License-Identifier: MIT */
/*
 * Ranking processes, recon's proc_count and proc_window: a bounded min-heap
 * of the best n seen so far, by an attribute or its growth over a window.
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

static const char *const status_names[] = {"running",
                                           "waiting",
                                           "suspended",
                                           "dead"};
static const char *const attr_names[] = {"memory",
                                         "reductions",
                                         "message_queue_len"};

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
    pthread_mutex_lock(&ctrace__procs_table_lock);
    for (size_t i = 0; i < n; i++) {
        struct ctrace_proc_rank *row = &out[i];
        memset(row, 0, sizeof(*row));
        row->pid = h[i].pid;
        row->value = h[i].value;
        struct ctrace__proc *p = ctrace__procs_find(h[i].pid);
        if (p == NULL)
            continue;
        snprintf(row->name, sizeof(row->name), "%s", p->name);
        ctrace__procs_label_of(p, row->label, sizeof(row->label));
        ctrace__procs_initial_of(
            p, row->initial_call, sizeof(row->initial_call));
        if (pts != NULL)
            pts[i] = ctrace__procs_current_point(p);
    }
    pthread_mutex_unlock(&ctrace__procs_table_lock);
    for (size_t i = 0; pts != NULL && i < n; i++)
        ctrace__procs_name_point(
            pts[i], out[i].current, sizeof(out[i].current));
    ctrace__free(pts);
    *nout = n;
}

/* The smaller of `n` and the number of live processes. Table lock held. */
static size_t live_at_most(size_t n)
{
    size_t live = 0;
    for (struct ctrace__proc *p = ctrace__procs_live_head;
         p != NULL && live < n;
         p = p->next)
        live += !ctrace__procs_hidden(p);
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
    pthread_mutex_lock(&ctrace__procs_table_lock);
    /*
     * The heap never holds more rows than there are live processes: a
     * caller asking for "all" with a huge n must not make n * 16 bytes
     * wrap around into a small allocation.
     */
    n = live_at_most(n);
    struct rank_item *heap = ctrace__malloc((n > 0 ? n : 1) * sizeof(*heap));
    if (heap == NULL) {
        pthread_mutex_unlock(&ctrace__procs_table_lock);
        return CTRACE_ENOMEM;
    }
    size_t have = 0;
    for (struct ctrace__proc *p = ctrace__procs_live_head; p != NULL;
         p = p->next)
        if (!ctrace__procs_hidden(p))
            heap_offer(
                heap,
                &have,
                n,
                (struct rank_item){ctrace__procs_attr_of(p, attr), p->pid});
    pthread_mutex_unlock(&ctrace__procs_table_lock);
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
    pthread_mutex_lock(&ctrace__procs_table_lock);
    size_t cap = 0;
    for (struct ctrace__proc *p = ctrace__procs_live_head; p != NULL;
         p = p->next)
        cap++;
    struct rank_item *first =
        ctrace__malloc((cap > 0 ? cap : 1) * sizeof(*first));
    if (first == NULL) {
        pthread_mutex_unlock(&ctrace__procs_table_lock);
        return CTRACE_ENOMEM;
    }
    size_t nfirst = 0;
    for (struct ctrace__proc *p = ctrace__procs_live_head; p != NULL;
         p = p->next)
        first[nfirst++] =
            (struct rank_item){ctrace__procs_attr_of(p, attr), p->pid};
    pthread_mutex_unlock(&ctrace__procs_table_lock);

    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }

    size_t have = 0, k = 0;
    pthread_mutex_lock(&ctrace__procs_table_lock);
    n = live_at_most(n); /* as in ctrace_proc_count() */
    struct rank_item *heap = ctrace__malloc((n > 0 ? n : 1) * sizeof(*heap));
    if (heap == NULL) {
        pthread_mutex_unlock(&ctrace__procs_table_lock);
        ctrace__free(first);
        return CTRACE_ENOMEM;
    }
    /* Both walks go up in pid: one merge pass. */
    for (struct ctrace__proc *p = ctrace__procs_live_head; p != NULL;
         p = p->next) {
        while (k < nfirst && first[k].pid < p->pid)
            k++;
        uint64_t before =
            k < nfirst && first[k].pid == p->pid ? first[k].value : 0;
        if (ctrace__procs_hidden(p))
            continue; /* sampled first all the same: it may show again */
        uint64_t now = ctrace__procs_attr_of(p, attr);
        uint64_t grew = now > before ? now - before : 0;
        heap_offer(heap, &have, n, (struct rank_item){grew, p->pid});
    }
    pthread_mutex_unlock(&ctrace__procs_table_lock);
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
