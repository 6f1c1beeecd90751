/* SPDX-License-Identifier: MIT */
/*
 * Private interface of the admin endpoint (include/ctrace/admin.h,
 * docs/admin-api.md), shared by its files:
 *
 * - reply.c (reply.h): replies, reading a request, JSON helpers, the clock;
 * - jobs.c (jobs.h): the job queue, its lanes and worker threads;
 * - token.c: the token file;
 * - page.c (page.h): the observer page's files, compiled in (page/);
 * - history.c (history.h): the samples of the observer's charts, taken by
 *   the housekeeping thread; fds.c (fds.h): the process's descriptors;
 * - sessions.c: the trace sessions the endpoint starts, the buffer of
 *   rendered events each keeps for its Server-Sent Events stream, and the
 *   housekeeping thread that ends streams and sessions;
 * - routes.c: the other endpoints (system, points, pattern, processes,
 *   metrics); routes_sys.c: servers' state, status and sys;
 * - daemon.c: the libmicrohttpd daemon, the access handler, routing,
 *   authentication, start and stop.
 *
 * Calls go down this list only, the two handler files being one level:
 *   daemon.c -> routes.c, routes_sys.c, sessions.c -> jobs.c -> reply.c
 *   (daemon.c -> token.c; routes.c -> sessions.c for counts and limits)
 * so reply.c and jobs.c never call a handler or the daemon; page.c and
 * history.c are leaves beside reply.c (daemon.c and reply.c -> page.c;
 * routes.c and sessions.c -> history.c); ctest layers.admin checks it on
 * the objects. deadline.c stands apart (the demo
 * uses it too). This header holds the types and limits all of them share.
 *
 * Threads. libmicrohttpd runs one internal poll() thread that calls every
 * handler; nothing on it blocks for long. Requests that may block (a
 * proc_window, a sys request to a busy server, stopping a session) suspend
 * their connection and run on a worker thread of their lane (below), which
 * resumes the connection when the answer is ready. The housekeeping thread
 * notices sessions that stopped, sends heartbeats, and stops sessions whose
 * reader went away. Sessions' consumer threads (the engine's) render events
 * into the session's buffer through the on_event callback. Every one of
 * these threads is marked never-traced before it does anything.
 *
 * Locks, in the order they nest:
 *   1. admin.lock: the session list, reference counts, the counters of
 *      running sessions and open streams, the job queue;
 *   2. asession.lock: one session's buffer, flags and stream;
 *   3. libmicrohttpd's own locks, taken inside MHD_suspend_connection()
 *      and MHD_resume_connection(), which are called with 2 held so that
 *      "nothing to send -> suspend" and "data came -> resume" cannot miss
 *      each other.
 * No ctrace_session_* call that waits is made with 1 or 2 held: the
 * consumer thread takes 2 in on_event.
 */
#ifndef CTRACE_ADMIN_ADMIN_H
#define CTRACE_ADMIN_ADMIN_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "admin/deadline.h"
#include "admin/history.h"
#include "base/base.h"
#include "ctrace/admin.h"
#include "ctrace/proc.h"

/*
 * Requests that may block run on worker threads, in three lanes so that one
 * kind cannot hold up another: stopping a session (its own worker, so a
 * stop never waits behind anything but other stops), process windows (at
 * most ADMIN_MAX_WINDOWS at once, each at most ADMIN_WINDOW_MAX_MS long, and
 * none waiting: one more is answered 429), and the rest (state, status,
 * sys: two workers, ADMIN_MAX_JOBS waiting at most).
 */
enum admin_lane { LANE_CONTROL, LANE_WINDOW, LANE_OTHER, ADMIN_LANES };
#define ADMIN_LANE_WORKERS_MAX 2
#define ADMIN_WORKERS          2
#define ADMIN_MAX_JOBS         16
#define ADMIN_MAX_STOPS        64
#define ADMIN_MAX_WINDOWS      2
#define ADMIN_WINDOW_MAX_MS    10000
/*
 * Connections at once, from one client address at once, and how long an
 * idle one (not a stream) may stay. A request must be in full within
 * ADMIN_REQUEST_DEADLINE_MS of its connection's start or of the previous
 * answer, however its bytes trickle in (deadline.h). The thread of
 * libmicrohttpd waits in poll(), so a slow connection costs a slot, never a
 * thread; the per-address cap keeps one client from taking every slot.
 */
#define ADMIN_MAX_CONNECTIONS     2048
#define ADMIN_MAX_PER_IP          64
#define ADMIN_TIMEOUT_S           30
#define ADMIN_REQUEST_DEADLINE_MS 10000
/* libmicrohttpd's memory per connection: headers and I/O buffers. */
#define ADMIN_CONNECTION_MEMORY ((size_t)32 * 1024)
/* Longest token accepted from a token file. */
#define ADMIN_TOKEN_MAX 512
/* Event streams: heartbeat period, and how long a stream may stay stuck
 * with data its reader does not take before its connection is shut. */
#define ADMIN_HEARTBEAT_MS 5000
#define ADMIN_STALL_MS     30000
/* A session nobody reads is stopped after this; stopped ones stay listed
 * this long (the default of keep_ms), and at most ADMIN_KEEP_MAX of them
 * (the most recent; a summary costs a few KiB). */
#define ADMIN_NO_READER_MS 10000
#define ADMIN_KEEP_MS      60000
#define ADMIN_KEEP_MAX     64
/* Bytes of rendered events one session holds for its reader at most. */
#define ADMIN_SESSION_BYTES ((size_t)8 * 1024 * 1024)
/* Housekeeping period while sessions exist, and while none does. */
#define ADMIN_TICK_MS      50
#define ADMIN_IDLE_TICK_MS 500
/* Longest process reference or other path segment kept. */
#define ADMIN_SEGMENT_MAX 160

struct asession;
struct request;
struct ctrace__page_file;

/* One job for a worker: `run` fills the request's reply. */
struct job {
    struct job *next;
    void (*run)(struct request *rq);
};

struct admin {
    struct ctrace_admin_opts opts; /* `bind` and `token_file` point below */
    char *bind;
    char *token_file;
    char token[ADMIN_TOKEN_MAX + 1];
    size_t token_len;
    uint16_t port;
    int listen_fd;
    struct MHD_Daemon *daemon;
    struct ctrace__deadline deadline; /* request deadlines */
    struct ctrace__history history;   /* sampled by the housekeeper */
    /* Set once by ctrace_admin_stop(); read anywhere. */
    atomic_bool stopping;
    /* Connections suspended by the endpoint and not yet run again. */
    atomic_int suspended;

    pthread_mutex_t lock;
    pthread_cond_t tick;   /* wakes the housekeeper */
    struct asession *list; /* newest first */
    uint64_t next_id;      /* session ids: 1, 2, ... */
    unsigned running;      /* sessions started and not yet finalized */
    unsigned streams;      /* event streams attached */
    struct admin_lane_queue {
        pthread_cond_t work; /* wakes its workers */
        struct job *head;    /* FIFO */
        struct job *tail;
        unsigned njobs;   /* waiting */
        unsigned running; /* taken by a worker, not yet answered */
        pthread_t workers[ADMIN_LANE_WORKERS_MAX];
        unsigned nworkers;
    } lanes[ADMIN_LANES];
    bool workers_quit;
    bool housekeeper_quit;
    pthread_t housekeeper;
    bool housekeeper_started;
};

/* The answer to a request, built by a handler or a job. */
struct reply {
    unsigned status;
    char *body; /* malloc'd; freed by libmicrohttpd once sent */
    size_t len;
    const char *content_type; /* static */
    const char *allow;        /* 405: the methods allowed */
    const char *location;     /* 201: where the new thing is */
    bool www_authenticate;    /* 401 */
    char etag[24];            /* an ETag header, when not empty */
    /* A file of the observer page: its bytes are the body, not copied. */
    const struct ctrace__page_file *file;
};

enum route_id {
    ROUTE_NONE = 0,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_SYSTEM,
    ROUTE_POINTS,
    ROUTE_PATTERN,
    ROUTE_SESSIONS,
    ROUTE_SESSION,
    ROUTE_EVENTS,
    ROUTE_PROCS,
    ROUTE_WINDOW,
    ROUTE_PROC,
    ROUTE_STATE,
    ROUTE_STATUS,
    ROUTE_SYS,
    ROUTE_PAGE,
    ROUTE_HISTORY,
    ROUTE_MEMORY,
    ROUTE_FDS,
    ROUTE_POINT_HISTORY
};

/*
 * One HTTP request, from its headers to its answer; lives in libmicrohttpd's
 * per-request pointer and is freed when the request completes.
 */
struct request {
    struct admin *admin;
    struct MHD_Connection *conn;
    enum route_id route;
    char method[16];
    uint64_t session_id;                 /* ROUTE_SESSION, ROUTE_EVENTS */
    char segment[ADMIN_SEGMENT_MAX + 1]; /* the process, as written */
    /* The body, NUL-terminated, at most opts.max_body bytes. */
    char *body;
    size_t len;
    size_t cap;
    bool too_large;
    /* The answer, once known. */
    struct reply reply;
    bool answered;
    char location[48]; /* what reply.location points to */
    /* A job: queued, and the connection suspended until it ran. */
    struct job job;
    bool suspended;
    /* What a job needs, parsed on the daemon's thread beforehand. */
    uint64_t pid;
    json_t *args; /* a new reference, or NULL */
    enum ctrace_proc_attr attr;
    size_t limit;
    uint32_t ms;
    /* PUT and PATCH of a state: the version If-Match asks for. */
    bool if_match;
    uint64_t version;
};

/* ---- sessions.c ---- */

/* POST /api/v1/sessions, GET /api/v1/sessions[/{id}], DELETE. */
void ctrace__admin_sessions_start(struct request *rq);
void ctrace__admin_sessions_list(struct request *rq);
void ctrace__admin_session_get(struct request *rq);
void ctrace__admin_session_delete(struct request *rq);
/*
 * GET /api/v1/sessions/{id}/events: attaches the reader and returns the
 * event stream's response (a new reference), or NULL with an error reply.
 */
struct MHD_Response *ctrace__admin_session_events(struct request *rq);

/* The housekeeping thread. */
void *ctrace__admin_housekeeper(void *arg);

/*
 * Stops every session the endpoint started and queues their last events;
 * then resumes every suspended stream, which ends once drained. Called by
 * ctrace_admin_stop() with `stopping` set and the workers and housekeeper
 * gone.
 */
void ctrace__admin_sessions_stop_all(struct admin *a);

/* Frees every session record; after the daemon has stopped. */
void ctrace__admin_sessions_free_all(struct admin *a);

/* Running sessions and open streams, for /system and /metrics. */
void ctrace__admin_sessions_counts(struct admin *a,
                                   unsigned *running,
                                   unsigned *streams);

/*
 * Adds to the /api/v1/system object `v` what bounds and what was lost:
 * "dropped_by" (drops by site), "memory" (queue bytes in use and the cap)
 * and "sink_failures" (sessions stopped by a failing sink).
 * Thread-safety: any thread.
 */
void ctrace__admin_put_limits(json_t *v);

/* The same as Prometheus text, for /metrics. Thread-safety: any thread. */
void ctrace__admin_put_limits_metrics(struct ctrace__sbuf *b);

/* ---- routes.c ---- */

void ctrace__admin_system(struct request *rq);
/* GET /api/v1/system/history: the samples of history.h, oldest first. */
void ctrace__admin_history(struct request *rq);
/* GET /api/v1/memory: malloc's view, the process's sizes, ctrace's own. */
void ctrace__admin_memory(struct request *rq);
/* GET /api/v1/fds[?limit=N]: the process's file descriptors (fds.h). */
void ctrace__admin_fds(struct request *rq);
void ctrace__admin_points(struct request *rq);
/* GET /api/v1/points/history: each armed point's counter over the ticks. */
void ctrace__admin_point_history(struct request *rq);
void ctrace__admin_pattern(struct request *rq);
void ctrace__admin_procs(struct request *rq);
void ctrace__admin_window(struct request *rq);
void ctrace__admin_proc(struct request *rq);
void ctrace__admin_state(struct request *rq);
void ctrace__admin_status(struct request *rq);
void ctrace__admin_sys(struct request *rq);
void ctrace__admin_metrics(struct request *rq);

/*
 * Resolves the process named in the request's path ("<0.N.0>", "N" or a
 * registered name) into `info`; replies 404 and returns false when there
 * is no such process.
 */
bool ctrace__admin_find_proc(struct request *rq, struct ctrace_proc_info *info);

/* ---- token.c ---- */

/*
 * Reads the token file `path` (NULL: $HOME/.ctrace/token, its directory
 * made 0700 when missing), or creates it with a new random token. Sets
 * a->token_file (allocated) and a->token. Returns 0 or a negative code
 * with `err` filled (see ctrace_admin_start()).
 */
int ctrace__admin_token_load(struct admin *a,
                             const char *path,
                             struct ctrace_error *err);

/* Whether `given` (`len` bytes) is the token; constant time in the token. */
bool ctrace__admin_token_equal(const struct admin *a,
                               const char *given,
                               size_t len);

#endif /* CTRACE_ADMIN_ADMIN_H */
