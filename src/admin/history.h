/* SPDX-License-Identifier: MIT */
/*
 * The service's recent past, for the observer's charts: one sample a
 * second of the process's CPU time, resident memory, live processes, the
 * messages waiting in their mailboxes and ctrace's event and drop totals,
 * the last CTRACE__HISTORY_MAX of them (ten minutes) in a ring. The
 * endpoint's housekeeper takes the samples, so the history is there when a
 * page connects, survives its reloads, and costs nothing per request.
 * Beside it, on the same ticks, the events delivered at each trace point a
 * running session has armed (ctrace_point_events_total of /metrics), for
 * the last CTRACE__POINT_HISTORY_MAX ticks and at most
 * CTRACE__POINT_HISTORY_POINTS points at once. A leaf of the admin
 * endpoint: it reads /proc/self/stat, the process table and the engine's
 * totals and armed points, and knows nothing of HTTP.
 *
 * Thread-safety: every function may be called from any thread; the ring
 * has its own lock, taken for a copy of the samples and nothing else.
 */
#ifndef CTRACE_ADMIN_HISTORY_H
#define CTRACE_ADMIN_HISTORY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTRACE__HISTORY_MAX         600
#define CTRACE__HISTORY_INTERVAL_MS 1000

/* What /proc/self/stat says about the process, in ms and bytes. */
struct ctrace__self_stat {
    uint64_t cpu_ms; /* user and system */
    uint64_t threads;
    uint64_t rss_bytes;
    uint64_t vm_bytes; /* virtual size */
    uint64_t start_ms; /* since boot */
    bool ok;
};

/* Reads /proc/self/stat; `ok` false when it cannot. */
struct ctrace__self_stat ctrace__self_stat_read(void);

struct ctrace__history_sample {
    uint64_t t_ms;      /* CLOCK_REALTIME, ms since the epoch */
    uint64_t cpu_ms;    /* user and system, since the process began */
    uint64_t rss_bytes; /* resident */
    uint64_t vm_bytes;  /* virtual size */
    uint64_t processes; /* live ctrace processes */
    uint64_t mailbox;   /* messages waiting, all processes together */
    uint64_t events;    /* every session's events, since the start */
    uint64_t dropped;   /* and drops */
};

#define CTRACE__POINT_HISTORY_MAX    120 /* two minutes of ticks */
#define CTRACE__POINT_HISTORY_POINTS 32
#define CTRACE__POINT_KEY_MAX        128 /* "module:function/arity" */
/* An events value of a tick at which the point was not armed. */
#define CTRACE__POINT_UNARMED UINT64_MAX

/* One point's counter over the ticks; `key` "" when the slot is free. */
struct ctrace__point_series {
    char key[CTRACE__POINT_KEY_MAX];
    uint64_t events[CTRACE__POINT_HISTORY_MAX]; /* indexed like t_ms */
    uint64_t seen_tick; /* the last tick it was armed at */
};

struct ctrace__history {
    pthread_mutex_t lock;
    struct ctrace__history_sample ring[CTRACE__HISTORY_MAX];
    size_t next;     /* where the next sample goes */
    size_t n;        /* samples held */
    uint64_t due_ms; /* CLOCK_MONOTONIC, when the next sample is due */

    /* The points' ticks: a ring of their own, like `ring`. */
    uint64_t point_t_ms[CTRACE__POINT_HISTORY_MAX];
    size_t point_next;
    size_t point_n;
    uint64_t ticks; /* point ticks taken, ever */
    struct ctrace__point_series points[CTRACE__POINT_HISTORY_POINTS];
    uint64_t points_untracked; /* armed points that found no free slot */
};

void ctrace__history_init(struct ctrace__history *h);
void ctrace__history_destroy(struct ctrace__history *h);

/*
 * Takes a sample when one is due (`now_ms`, CLOCK_MONOTONIC, at least
 * CTRACE__HISTORY_INTERVAL_MS after the previous one); returns whether it
 * did. The first call always samples.
 */
bool ctrace__history_tick(struct ctrace__history *h, uint64_t now_ms);

/* Adds `s` as the newest sample, the oldest going when the ring is full. */
void ctrace__history_add(struct ctrace__history *h,
                         const struct ctrace__history_sample *s);

/*
 * Copies the samples, oldest first, into `out` (room for `cap`); returns
 * how many it copied, the newest `cap` when there are more.
 */
size_t ctrace__history_copy(struct ctrace__history *h,
                            struct ctrace__history_sample *out,
                            size_t cap);

/* A point armed at a tick, and its counter then. */
struct ctrace__point_count {
    char key[CTRACE__POINT_KEY_MAX];
    uint64_t events;
};

/*
 * Adds a tick of the points at `t_ms`: `armed` (n of them) are the points
 * armed now with their counters; every tracked point not among them is
 * CTRACE__POINT_UNARMED at this tick. A point not yet tracked takes a free
 * slot, or the slot of a point unarmed for the whole ring; with none it is
 * counted in `points_untracked` and left out.
 */
void ctrace__history_points_add(struct ctrace__history *h,
                                uint64_t t_ms,
                                const struct ctrace__point_count *armed,
                                size_t n);

/* What ctrace__history_points_copy() gives: oldest tick first. */
struct ctrace__point_history {
    size_t ticks;                             /* held, at most MAX */
    uint64_t t_ms[CTRACE__POINT_HISTORY_MAX]; /* of each tick */
    size_t npoints;                           /* series below */
    struct ctrace__point_series points[CTRACE__POINT_HISTORY_POINTS];
    uint64_t points_untracked;
};

/*
 * Copies the points' ticks into `out`, each series' events in the order of
 * `out->t_ms`; series of points armed at none of those ticks are left out.
 */
void ctrace__history_points_copy(struct ctrace__history *h,
                                 struct ctrace__point_history *out);

#endif
