/* SPDX-License-Identifier: MIT */
/* The service's recent past, sampled once a second: see history.h. */
#include "admin/history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "ctrace/proc.h"
#include "session/session.h"

struct ctrace__self_stat ctrace__self_stat_read(void)
{
    struct ctrace__self_stat st = {0};
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "re");
    if (f == NULL)
        return st;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: skip past the last
     * ')'. Then field 3 (state) on; utime is field 14. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return st;
    p++;
    unsigned long long v[25] = {0};
    int field = 3;
    char *save = NULL;
    for (char *t = strtok_r(p, " ", &save); t != NULL && field <= 24;
         t = strtok_r(NULL, " ", &save), field++)
        v[field] = strtoull(t, NULL, 10);
    if (field <= 24)
        return st;
    long hz = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (hz <= 0)
        hz = 100;
    if (page <= 0)
        page = 4096;
    /* utime, stime and starttime are in clock ticks, rss in pages. */
    st.cpu_ms = (v[14] + v[15]) * 1000u / (uint64_t)hz;
    st.threads = v[20];
    st.start_ms = v[22] * 1000u / (uint64_t)hz;
    st.vm_bytes = v[23];
    st.rss_bytes = v[24] * (uint64_t)page;
    st.ok = true;
    return st;
}

void ctrace__history_init(struct ctrace__history *h)
{
    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->lock, NULL);
}

void ctrace__history_destroy(struct ctrace__history *h)
{
    pthread_mutex_destroy(&h->lock);
}

void ctrace__history_add(struct ctrace__history *h,
                         const struct ctrace__history_sample *s)
{
    pthread_mutex_lock(&h->lock);
    h->ring[h->next] = *s;
    h->next = (h->next + 1) % CTRACE__HISTORY_MAX;
    if (h->n < CTRACE__HISTORY_MAX)
        h->n++;
    pthread_mutex_unlock(&h->lock);
}

size_t ctrace__history_copy(struct ctrace__history *h,
                            struct ctrace__history_sample *out,
                            size_t cap)
{
    pthread_mutex_lock(&h->lock);
    size_t n = h->n < cap ? h->n : cap;
    /* The newest n, oldest first. */
    size_t first = (h->next + CTRACE__HISTORY_MAX - n) % CTRACE__HISTORY_MAX;
    for (size_t i = 0; i < n; i++)
        out[i] = h->ring[(first + i) % CTRACE__HISTORY_MAX];
    pthread_mutex_unlock(&h->lock);
    return n;
}

/*
 * The slot of `key` in `h->points`, else a free one (or one whose point
 * was unarmed at every tick the ring holds) made `key`'s, else NULL.
 * `tick` is the tick being added. With the lock held.
 */
static struct ctrace__point_series *
point_slot(struct ctrace__history *h, const char *key, uint64_t tick)
{
    struct ctrace__point_series *reuse = NULL;
    for (size_t i = 0; i < CTRACE__POINT_HISTORY_POINTS; i++) {
        struct ctrace__point_series *p = &h->points[i];
        if (p->key[0] != '\0' && strcmp(p->key, key) == 0)
            return p;
        if (reuse == NULL && (p->key[0] == '\0' ||
                              tick - p->seen_tick >= CTRACE__POINT_HISTORY_MAX))
            reuse = p;
    }
    if (reuse == NULL)
        return NULL;
    snprintf(reuse->key, sizeof(reuse->key), "%s", key);
    for (size_t t = 0; t < CTRACE__POINT_HISTORY_MAX; t++)
        reuse->events[t] = CTRACE__POINT_UNARMED;
    return reuse;
}

void ctrace__history_points_add(struct ctrace__history *h,
                                uint64_t t_ms,
                                const struct ctrace__point_count *armed,
                                size_t n)
{
    pthread_mutex_lock(&h->lock);
    uint64_t tick = ++h->ticks;
    size_t at = h->point_next;
    h->point_t_ms[at] = t_ms;
    for (size_t i = 0; i < n; i++) {
        struct ctrace__point_series *p = point_slot(h, armed[i].key, tick);
        if (p == NULL) {
            h->points_untracked++;
            continue;
        }
        p->events[at] = armed[i].events;
        p->seen_tick = tick;
    }
    for (size_t i = 0; i < CTRACE__POINT_HISTORY_POINTS; i++)
        if (h->points[i].key[0] != '\0' && h->points[i].seen_tick != tick)
            h->points[i].events[at] = CTRACE__POINT_UNARMED;
    h->point_next = (at + 1) % CTRACE__POINT_HISTORY_MAX;
    if (h->point_n < CTRACE__POINT_HISTORY_MAX)
        h->point_n++;
    pthread_mutex_unlock(&h->lock);
}

void ctrace__history_points_copy(struct ctrace__history *h,
                                 struct ctrace__point_history *out)
{
    pthread_mutex_lock(&h->lock);
    size_t n = h->point_n;
    size_t first = (h->point_next + CTRACE__POINT_HISTORY_MAX - n) %
                   CTRACE__POINT_HISTORY_MAX;
    out->ticks = n;
    for (size_t t = 0; t < n; t++)
        out->t_ms[t] = h->point_t_ms[(first + t) % CTRACE__POINT_HISTORY_MAX];
    out->npoints = 0;
    for (size_t i = 0; i < CTRACE__POINT_HISTORY_POINTS; i++) {
        const struct ctrace__point_series *p = &h->points[i];
        /* Armed at none of the ticks held: nothing to show. */
        if (p->key[0] == '\0' || p->seen_tick + n <= h->ticks)
            continue;
        struct ctrace__point_series *o = &out->points[out->npoints++];
        memcpy(o->key, p->key, sizeof(o->key));
        o->seen_tick = p->seen_tick;
        for (size_t t = 0; t < n; t++)
            o->events[t] = p->events[(first + t) % CTRACE__POINT_HISTORY_MAX];
    }
    out->points_untracked = h->points_untracked;
    pthread_mutex_unlock(&h->lock);
}

/* The armed points of a tick, as many as the history tracks. */
struct armed_points {
    struct ctrace__point_count at[CTRACE__POINT_HISTORY_POINTS];
    size_t n;
    uint64_t more; /* armed beyond those */
};

/* Called with the registry lock held: copies and calls nothing else. */
static void collect_point(const char *module,
                          const char *function,
                          unsigned arity,
                          uint64_t events,
                          void *arg)
{
    struct armed_points *a = arg;
    if (a->n == CTRACE__POINT_HISTORY_POINTS) {
        a->more++;
        return;
    }
    struct ctrace__point_count *c = &a->at[a->n++];
    snprintf(c->key, sizeof(c->key), "%s:%s/%u", module, function, arity);
    c->events = events;
}

/* Live processes and the messages in their mailboxes. */
static void count_procs(uint64_t *procs, uint64_t *mailbox)
{
    *procs = 0;
    *mailbox = 0;
    size_t cap = ctrace_proc_list(NULL, 0, false) + 16;
    struct ctrace_proc_info *all = ctrace__malloc(cap * sizeof(*all));
    if (all == NULL)
        return;
    size_t n = ctrace_proc_list(all, cap, false);
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++)
        *mailbox += all[i].message_queue_len;
    *procs = n;
    ctrace__free(all);
}

bool ctrace__history_tick(struct ctrace__history *h, uint64_t now_ms)
{
    if (h->n > 0 && now_ms < h->due_ms)
        return false;
    h->due_ms = now_ms + CTRACE__HISTORY_INTERVAL_MS;
    struct ctrace__history_sample s = {0};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s.t_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    struct ctrace__self_stat st = ctrace__self_stat_read();
    s.cpu_ms = st.cpu_ms;
    s.rss_bytes = st.rss_bytes;
    s.vm_bytes = st.vm_bytes;
    count_procs(&s.processes, &s.mailbox);
    ctrace__engine_totals(&s.events, &s.dropped);
    ctrace__history_add(h, &s);

    struct armed_points armed = {.n = 0};
    (void)ctrace__engine_armed_points(collect_point, &armed);
    ctrace__history_points_add(h, s.t_ms, armed.at, armed.n);
    if (armed.more > 0) {
        pthread_mutex_lock(&h->lock);
        h->points_untracked += armed.more;
        pthread_mutex_unlock(&h->lock);
    }
    return true;
}
