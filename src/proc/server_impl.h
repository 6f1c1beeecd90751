/* SPDX-License-Identifier: MIT */
/*
 * Servers (gen_server for C) and the sys functions that look into them.
 *
 * A server is a thread that owns a state and a bounded mailbox: a ring of
 * `mailbox` slots of max_msg bytes each, allocated once at start, so a
 * server never holds more than that however fast others send. A full
 * mailbox fails the sender with CTRACE_EFULL at once. The only exception
 * are exit notices of linked processes, which must not be lost: up to
 * EXIT_OVERFLOW of them wait beside a full mailbox and move into it as soon
 * as a slot frees.
 *
 * A call is a slot that points to the caller's waiting context on the
 * caller's stack. The server writes the reply into its own reply buffer and
 * copies it into the context under the server lock, and only while the
 * caller still waits; a caller that times out detaches its context under
 * the same lock, so the server never touches a dead stack frame. sys
 * requests (get_state, replace_state, get_status, suspend) travel the same
 * way through a channel of their own, one request at a time, so that they
 * work with a full mailbox and on a suspended server.
 *
 * Handles are reference counted: the owner holds one (dropped by
 * ctrace_server_stop()), a caller inside ctrace_server_call() and a sys
 * function that found the server by pid hold one each, so a stop that races
 * with them never frees memory they still use.
 *
 * Locks, in the order they nest: the list lock (the global list of servers,
 * looked up by pid), then a server's lock (its mailbox, sys channel, flags,
 * log and statistics). A server's trace lock (the trace switch and fd, held
 * across the write of a trace line) is never held with another. No lock is
 * held while a user callback runs; the process table and the engine's
 * process events are called with at most a server lock held, which they
 * allow (proc/proc.h, point/point.h).
 *
 * The files of servers, and what each holds:
 *   server.c          handles, the list of servers, exit notices of linked
 *                     processes, fork(), and the public server API
 *   server_loop.c     the server's thread: init, the loop, callbacks,
 *                     timeouts, stopping
 *   server_mailbox.c  the bounded mailbox and its overflow of exit notices
 *   server_sys.c      the sys channel: get/replace state, status, suspend,
 *                     resume, and the public sys API
 *   server_debug.c    sys debug: trace, log and statistics of a server
 * This header holds what they share and is private to src/proc/.
 */
#ifndef CTRACE_PROC_SERVER_IMPL_H
#define CTRACE_PROC_SERVER_IMPL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/base.h"
#include "ctrace/server.h"
#include "proc/proc.h"

#pragma GCC visibility push(hidden)

/* Exit notices kept beside a full mailbox. */
#define EXIT_OVERFLOW 16
/* Limits of the options. */
#define MAILBOX_MAX (1u << 16)
#define MAX_MSG_MAX (1u << 20)
/* Defaults of the options. */
#define MAILBOX_DEFAULT 64
#define MAX_MSG_DEFAULT 1024
/* How much of a term and of a state a debug line shows. */
#define DBG_DEPTH     16
#define DBG_MAX_SIZE  256
#define DBG_STATE_MAX 4096

/* A caller waiting for its reply, on the caller's stack. */
struct call_wait {
    void *reply;
    size_t cap;
    size_t len;
    int rc;
    bool done;
};

/* One message in the mailbox. `data` points into the server's arena. */
struct slot {
    enum ctrace_msg_kind kind; /* CALL, CAST, INFO or EXIT */
    uint32_t len;
    uint64_t from;
    struct call_wait *call; /* CALL: the waiting caller, NULL if gone */
    unsigned char *data;
};

enum sys_op {
    SYS_GET_STATE,
    SYS_REPLACE_STATE,
    SYS_PATCH_STATE,
    SYS_GET_STATUS,
    SYS_SUSPEND
};

/* A sys request, on the requester's stack. */
struct sys_req {
    enum sys_op op;
    char *in; /* REPLACE_STATE, PATCH_STATE: the JSON; the server takes it */
    size_t in_len;
    char *out; /* GET_STATE, GET_STATUS: the answer, allocated; REPLACE_STATE
                  and PATCH_STATE: the new state, if format_state exists */
    int rc;
    bool done;
    struct ctrace_error err;
    /* REPLACE_STATE, PATCH_STATE: only if the state's version is this. */
    bool if_version;
    uint64_t version;
};

struct ctrace_server {
    /* Set before the thread starts (or by it before init) and then fixed. */
    struct ctrace_server_callbacks cb; /* format_state NULL if private */
    bool private_state;                /* opts.private_state */
    char name[CTRACE_PROC_NAME_MAX + 1];
    char initial_call[CTRACE_PROC_TEXT_MAX + 1];
    char label[CTRACE_PROC_NAME_MAX + 32]; /* NAME or <0.N.0> in lines */
    uint32_t mailbox;
    uint32_t max_msg;
    size_t slot_size;
    void *arg;
    pthread_t thread;
    clockid_t cpu_clock;
    bool has_cpu_clock;
    _Atomic uint64_t pid;
    atomic_uint refs;
    struct ctrace_server *next; /* under list_lock */

    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the server thread waits on it */
    pthread_cond_t done_cv; /* callers, requesters and the starter */

    /* Under `lock`. */
    struct slot *slots;
    unsigned char *arena;
    uint32_t head;
    uint32_t count;
    uint64_t bytes;
    struct ctrace_exit_notice overflow[EXIT_OVERFLOW];
    unsigned ov_head;
    unsigned ov_count;
    struct call_wait *cur_call; /* the call in hand, NULL if none/gone */
    bool started;
    int start_rc;
    struct ctrace_error start_err;
    bool stopping;
    char reason[CTRACE_PROC_TEXT_MAX + 1];
    bool suspended;
    /* In a child of fork(): the server's thread was not copied. */
    bool forked;
    struct ctrace__proc *proc;     /* valid while proc_alive */
    struct ctrace__proc *own_proc; /* the server thread's own */
    bool proc_alive;
    bool sys_busy;           /* a requester holds the sys channel */
    struct sys_req *sys_req; /* posted, not taken yet */
    struct sys_req *sys_cur; /* taken; NULL once its requester left */
    char **log;              /* ring of log_cap lines */
    unsigned log_cap;
    unsigned log_head;
    unsigned log_len;
    atomic_bool log_on; /* log_cap > 0, readable without the lock */
    bool stats_on;
    int64_t stats_start_us;
    uint64_t stats_in;
    uint64_t stats_out;
    uint64_t stats_cpu_base;

    /* The trace switch: written under trace_lock, read anywhere. */
    pthread_mutex_t trace_lock;
    atomic_bool trace_on;
    int trace_fd; /* under trace_lock */

    /* The server thread's own. */
    void *state;
    unsigned char *cur; /* the message in hand */
    unsigned char *reply_buf;
    bool timer_armed;
    struct timespec timer_deadline;
    bool timeout_set; /* ctrace_server_set_timeout() ran in a callback */
    uint32_t timeout_ms;
};

/* Room for a message's term: format_msg's items and the wrapper. */
struct term_room {
    struct ctrace_value items[CTRACE_MSG_ITEMS];
    struct ctrace_value outer[3];
};

/* ---- Shared between the files of this part. ---- */

void ctrace__server_put(struct ctrace_server *srv);
struct ctrace_server *ctrace__server_get(uint64_t pid);
extern _Thread_local struct ctrace_server *ctrace__srv_current;
void ctrace__srv_handle(struct ctrace_server *srv,
                        enum ctrace_msg_kind kind,
                        uint64_t from,
                        size_t len);
void ctrace__srv_serve_sys(struct ctrace_server *srv);
void *ctrace__server_main(void *arg);
struct ctrace_value ctrace__srv_msg_term(const struct ctrace_server *srv,
                                         enum ctrace_msg_kind kind,
                                         const void *msg,
                                         size_t len,
                                         struct term_room *room);
bool ctrace__srv_debug_wanted(struct ctrace_server *srv);
void ctrace__srv_log_trim(struct ctrace_server *srv, unsigned keep);
void ctrace__srv_debug_got(struct ctrace_server *srv,
                           enum ctrace_msg_kind kind,
                           uint64_t from,
                           const void *msg,
                           size_t len);
void ctrace__srv_debug_sent(struct ctrace_server *srv,
                            uint64_t to,
                            const void *reply,
                            size_t len);
void ctrace__srv_debug_new_state(struct ctrace_server *srv, const char *before);
int ctrace__srv_enqueue(struct ctrace_server *srv,
                        enum ctrace_msg_kind kind,
                        uint64_t from,
                        const void *msg,
                        size_t len,
                        struct call_wait *call,
                        const struct ctrace_value *term);
void ctrace__srv_refill_from_overflow(struct ctrace_server *srv);
void ctrace__srv_fail_waiting(struct ctrace_server *srv);
void ctrace__srv_detach_call(struct ctrace_server *srv, struct call_wait *w);

/* ---- Small helpers. ---- */

/* Sets *ts to `ms` milliseconds from now on the monotonic clock. */
static inline void deadline_in(struct timespec *ts, uint32_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/*
 * Waits on `cv` until signalled or `deadline` passes (NULL: no deadline).
 * Returns 0 or ETIMEDOUT. Called with `m` held.
 */
static inline int
wait_until(pthread_cond_t *cv, pthread_mutex_t *m, const struct timespec *dl)
{
    if (dl == NULL) {
        pthread_cond_wait(cv, m);
        return 0;
    }
    return pthread_cond_timedwait(cv, m, dl) == ETIMEDOUT ? ETIMEDOUT : 0;
}

/* CPU microseconds the server's thread used, or 0 when unknown. */
static inline uint64_t cpu_us(const struct ctrace_server *srv)
{
    struct timespec ts;
    if (!srv->has_cpu_clock || clock_gettime(srv->cpu_clock, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t server_pid(const struct ctrace_server *srv)
{
    return atomic_load_explicit(&srv->pid, memory_order_acquire);
}

/* Tells the process table the mailbox's size. Called with the lock held. */
static inline void report_queue(struct ctrace_server *srv)
{
    if (srv->proc_alive)
        ctrace__proc_set_queue(srv->proc, srv->count, srv->bytes);
}

#pragma GCC visibility pop

#endif /* CTRACE_PROC_SERVER_IMPL_H */
