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
    return true;
}
