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
 * allow (core/proc.h, core/engine.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/base.h"
#include "base/clock.h"
#include "ctrace/proc.h"
#include "ctrace/server.h"
#include "point/point.h"
#include "proc/proc.h"

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
    struct ctrace_server_callbacks cb;
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

/* The server whose thread this is, for set_timeout and self-calls. */
static _Thread_local struct ctrace_server *current;

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctrace_server *servers;
static pthread_once_t hook_once = PTHREAD_ONCE_INIT;

/* ---- Small helpers. ---- */

/* Sets *ts to `ms` milliseconds from now on the monotonic clock. */
static void deadline_in(struct timespec *ts, uint32_t ms)
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
static int
wait_until(pthread_cond_t *cv, pthread_mutex_t *m, const struct timespec *dl)
{
    if (dl == NULL) {
        pthread_cond_wait(cv, m);
        return 0;
    }
    return pthread_cond_timedwait(cv, m, dl) == ETIMEDOUT ? ETIMEDOUT : 0;
}

/* CPU microseconds the server's thread used, or 0 when unknown. */
static uint64_t cpu_us(const struct ctrace_server *srv)
{
    struct timespec ts;
    if (!srv->has_cpu_clock || clock_gettime(srv->cpu_clock, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t server_pid(const struct ctrace_server *srv)
{
    return atomic_load_explicit(&srv->pid, memory_order_acquire);
}

/* Tells the process table the mailbox's size. Called with the lock held. */
static void report_queue(struct ctrace_server *srv)
{
    if (srv->proc_alive)
        ctrace__proc_set_queue(srv->proc, srv->count, srv->bytes);
}

/* ---- References and the list of servers. ---- */

static void server_free(struct ctrace_server *srv)
{
    for (unsigned i = 0; i < srv->log_len; i++)
        ctrace__free(srv->log[(srv->log_head + i) % srv->log_cap]);
    ctrace__free(srv->log);
    pthread_mutex_destroy(&srv->lock);
    pthread_mutex_destroy(&srv->trace_lock);
    pthread_cond_destroy(&srv->wake);
    pthread_cond_destroy(&srv->done_cv);
    ctrace__free(srv->slots);
    ctrace__free(srv->arena);
    ctrace__free(srv->cur);
    ctrace__free(srv->reply_buf);
    ctrace__free(srv);
}

/* Takes a reference to a server the caller already holds one to. */
static void server_ref(struct ctrace_server *srv)
{
    atomic_fetch_add_explicit(&srv->refs, 1, memory_order_relaxed);
}

/* Drops a reference; the last one frees the server (its thread is
 * joined by then: the owner's reference goes last of all but callers'). */
static void server_put(struct ctrace_server *srv)
{
    if (atomic_fetch_sub_explicit(&srv->refs, 1, memory_order_acq_rel) == 1)
        server_free(srv);
}

/* The server with `pid`, with a reference taken, or NULL. */
static struct ctrace_server *server_get(uint64_t pid)
{
    if (pid == 0)
        return NULL;
    pthread_mutex_lock(&list_lock);
    struct ctrace_server *srv = servers;
    while (srv != NULL && server_pid(srv) != pid)
        srv = srv->next;
    if (srv != NULL)
        server_ref(srv);
    pthread_mutex_unlock(&list_lock);
    return srv;
}

static void list_add(struct ctrace_server *srv)
{
    pthread_mutex_lock(&list_lock);
    srv->next = servers;
    servers = srv;
    pthread_mutex_unlock(&list_lock);
}

static void list_remove(struct ctrace_server *srv)
{
    pthread_mutex_lock(&list_lock);
    struct ctrace_server **at = &servers;
    while (*at != NULL && *at != srv)
        at = &(*at)->next;
    if (*at != NULL)
        *at = srv->next;
    pthread_mutex_unlock(&list_lock);
}

/* ---- Terms of messages, for events and debug lines. ---- */

/* Room for a message's term: format_msg's items and the wrapper. */
struct term_room {
    struct ctrace_value items[CTRACE_MSG_ITEMS];
    struct ctrace_value outer[3];
};

/* Msg: what format_msg makes of the message, or its bytes. */
static struct ctrace_value user_term(const struct ctrace_server *srv,
                                     enum ctrace_msg_kind kind,
                                     const void *msg,
                                     size_t len,
                                     struct ctrace_value *items)
{
    if (srv->cb.format_msg != NULL)
        return srv->cb.format_msg(kind, msg, len, items);
    return ctrace_value_bytes(msg, len);
}

/*
 * The term sessions see: {call,Msg}, {cast,Msg}, Msg, {reply,Reply},
 * {'EXIT',Pid,Reason} or timeout. It points into `msg` and `room`.
 */
static struct ctrace_value msg_term(const struct ctrace_server *srv,
                                    enum ctrace_msg_kind kind,
                                    const void *msg,
                                    size_t len,
                                    struct term_room *room)
{
    const char *tag = NULL;
    switch (kind) {
    case CTRACE_MSG_CALL:
        tag = "call";
        break;
    case CTRACE_MSG_CAST:
        tag = "cast";
        break;
    case CTRACE_MSG_REPLY:
        tag = "reply";
        break;
    case CTRACE_MSG_INFO:
        return user_term(srv, kind, msg, len, room->items);
    case CTRACE_MSG_TIMEOUT:
        return ctrace_value_symbol("timeout");
    case CTRACE_MSG_EXIT: {
        const struct ctrace_exit_notice *n = msg;
        room->outer[0] = ctrace_value_symbol("EXIT");
        room->outer[1] = ctrace_value_pid(n->pid);
        room->outer[2] = ctrace_value_symbol(n->reason);
        return ctrace_value_tuple(room->outer, 3);
    }
    }
    room->outer[0] = ctrace_value_symbol(tag);
    room->outer[1] = user_term(srv, kind, msg, len, room->items);
    return ctrace_value_tuple(room->outer, 2);
}

/* ---- Debug: trace, log, statistics. ---- */

static void put_value(struct ctrace__sbuf *b, const struct ctrace_value *v)
{
    struct ctrace_render_opts o;
    ctrace_render_opts_init(&o);
    o.depth = DBG_DEPTH;
    o.max_size = DBG_MAX_SIZE;
    ctrace__sbuf_put_value(b, v, &o, false);
}

/* Appends a state as one line of compact JSON, cut to DBG_STATE_MAX. */
static void put_state(struct ctrace__sbuf *b, const char *json)
{
    size_t start = b->len;
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
    size_t need = 0;
    if (v != NULL)
        need = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    char *flat = need > 0 ? ctrace__malloc(need) : NULL;
    if (flat != NULL) {
        json_dumpb(v, flat, need, JSON_COMPACT | JSON_ENCODE_ANY);
        ctrace__sbuf_append(b, flat, need);
        ctrace__free(flat);
    } else {
        for (const char *s = json; *s != '\0'; s++)
            ctrace__sbuf_putc(b, *s == '\n' || *s == '\r' ? ' ' : *s);
    }
    json_decref(v);
    if (!b->failed && b->len - start > DBG_STATE_MAX) {
        b->len = start + DBG_STATE_MAX - 3;
        b->data[b->len] = '\0';
        ctrace__sbuf_puts(b, "...");
    }
}

/* Whether a debug line is wanted at all: trace or log is on. */
static bool debug_wanted(struct ctrace_server *srv)
{
    return atomic_load_explicit(&srv->trace_on, memory_order_relaxed) ||
           atomic_load_explicit(&srv->log_on, memory_order_relaxed);
}

/* Frees the oldest lines so that at most `keep` remain. Lock held. */
static void log_trim(struct ctrace_server *srv, unsigned keep)
{
    while (srv->log_len > keep) {
        ctrace__free(srv->log[srv->log_head]);
        srv->log[srv->log_head] = NULL;
        srv->log_head = (srv->log_head + 1) % srv->log_cap;
        srv->log_len--;
    }
}

/*
 * Writes one finished debug line to the trace fd (with one write()) and
 * into the log, as switched on. Server thread; no lock held.
 */
static void debug_emit(struct ctrace_server *srv, struct ctrace__sbuf *line)
{
    if (line->failed || line->data == NULL)
        return;
    if (atomic_load_explicit(&srv->trace_on, memory_order_relaxed)) {
        ctrace__sbuf_putc(line, '\n');
        pthread_mutex_lock(&srv->trace_lock);
        if (!line->failed && atomic_load(&srv->trace_on)) {
            int fd = srv->trace_fd < 0 ? 2 : srv->trace_fd;
            ssize_t n;
            do {
                n = write(fd, line->data, line->len);
            } while (n < 0 && errno == EINTR);
        }
        pthread_mutex_unlock(&srv->trace_lock);
        if (!line->failed)
            line->data[--line->len] = '\0';
    }
    if (atomic_load_explicit(&srv->log_on, memory_order_relaxed)) {
        char *copy = line->failed ? NULL : ctrace__strdup(line->data);
        if (copy == NULL)
            return;
        pthread_mutex_lock(&srv->lock);
        if (srv->log_cap > 0) {
            log_trim(srv, srv->log_cap - 1);
            srv->log[(srv->log_head + srv->log_len) % srv->log_cap] = copy;
            srv->log_len++;
            copy = NULL;
        }
        pthread_mutex_unlock(&srv->lock);
        ctrace__free(copy);
    }
}

/* "*DBG* NAME got call Msg from <0.N.0>" and the other "got" lines. */
static void debug_got(struct ctrace_server *srv,
                      enum ctrace_msg_kind kind,
                      uint64_t from,
                      const void *msg,
                      size_t len)
{
    struct term_room room;
    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    ctrace__sbuf_printf(&b, "*DBG* %s got ", srv->label);
    struct ctrace_value v;
    if (kind == CTRACE_MSG_CALL || kind == CTRACE_MSG_CAST) {
        ctrace__sbuf_puts(&b, kind == CTRACE_MSG_CALL ? "call " : "cast ");
        v = user_term(srv, kind, msg, len, room.items);
    } else {
        v = msg_term(srv, kind, msg, len, &room);
    }
    put_value(&b, &v);
    if (kind == CTRACE_MSG_CALL)
        ctrace__sbuf_printf(&b, " from <0.%" PRIu64 ".0>", from);
    debug_emit(srv, &b);
    ctrace__sbuf_free(&b);
}

/*
 * "*DBG* NAME sent Reply to <0.N.0>, new state S" (the state only with
 * format_state).
 */
static void debug_sent(struct ctrace_server *srv,
                       uint64_t to,
                       const void *reply,
                       size_t len)
{
    struct term_room room;
    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    ctrace__sbuf_printf(&b, "*DBG* %s sent ", srv->label);
    struct ctrace_value v =
        user_term(srv, CTRACE_MSG_REPLY, reply, len, room.items);
    put_value(&b, &v);
    ctrace__sbuf_printf(&b, " to <0.%" PRIu64 ".0>", to);
    if (srv->cb.format_state != NULL) {
        char *state = srv->cb.format_state(srv->state);
        if (state != NULL) {
            ctrace__sbuf_puts(&b, ", new state ");
            put_state(&b, state);
        }
        ctrace__free(state);
    }
    debug_emit(srv, &b);
    ctrace__sbuf_free(&b);
}

/* "*DBG* NAME new state S" when the state's text changed from `before`. */
static void debug_new_state(struct ctrace_server *srv, const char *before)
{
    char *state = srv->cb.format_state(srv->state);
    if (state != NULL && (before == NULL || strcmp(before, state) != 0)) {
        struct ctrace__sbuf b = CTRACE__SBUF_INIT;
        ctrace__sbuf_printf(&b, "*DBG* %s new state ", srv->label);
        put_state(&b, state);
        debug_emit(srv, &b);
        ctrace__sbuf_free(&b);
    }
    ctrace__free(state);
}

/* ---- The mailbox. ---- */

/*
 * Appends a message to the mailbox, first raising the SEND event `term`
 * (when not NULL) so that a session sees the send before the receive.
 * Returns 0, CTRACE_ESTOPPED or CTRACE_EFULL. Called with the lock held.
 */
static int enqueue(struct ctrace_server *srv,
                   enum ctrace_msg_kind kind,
                   uint64_t from,
                   const void *msg,
                   size_t len,
                   struct call_wait *call,
                   const struct ctrace_value *term)
{
    if (srv->stopping)
        return CTRACE_ESTOPPED;
    if (srv->count == srv->mailbox)
        return CTRACE_EFULL;
    if (term != NULL)
        ctrace__point_proc_event(
            CTRACE_EVENT_SEND, from, server_pid(srv), term);
    struct slot *s = &srv->slots[(srv->head + srv->count) % srv->mailbox];
    s->kind = kind;
    s->len = (uint32_t)len;
    s->from = from;
    s->call = call;
    if (len > 0)
        memcpy(s->data, msg, len);
    srv->count++;
    srv->bytes += len;
    report_queue(srv);
    pthread_cond_signal(&srv->wake);
    return 0;
}

/* Moves waiting exit notices into free slots. Lock held. */
static void refill_from_overflow(struct ctrace_server *srv)
{
    while (srv->ov_count > 0 && srv->count < srv->mailbox) {
        const struct ctrace_exit_notice *n = &srv->overflow[srv->ov_head];
        (void)enqueue(srv, CTRACE_MSG_EXIT, n->pid, n, sizeof(*n), NULL, NULL);
        srv->ov_head = (srv->ov_head + 1) % EXIT_OVERFLOW;
        srv->ov_count--;
    }
}

/*
 * Empties the mailbox, failing the calls in it and the call in hand with
 * CTRACE_ESTOPPED, and fails a sys request not yet taken. Lock held.
 */
static void fail_waiting(struct ctrace_server *srv)
{
    for (uint32_t i = 0; i < srv->count; i++) {
        struct slot *s = &srv->slots[(srv->head + i) % srv->mailbox];
        if (s->call != NULL) {
            s->call->rc = CTRACE_ESTOPPED;
            s->call->done = true;
        }
    }
    if (srv->cur_call != NULL) {
        srv->cur_call->rc = CTRACE_ESTOPPED;
        srv->cur_call->done = true;
        srv->cur_call = NULL;
    }
    srv->count = 0;
    srv->bytes = 0;
    srv->ov_count = 0;
    report_queue(srv);
    if (srv->sys_req != NULL) {
        srv->sys_req->rc = CTRACE_ENOPROC;
        srv->sys_req->done = true;
        srv->sys_req = NULL;
        srv->sys_busy = false;
    }
    pthread_cond_broadcast(&srv->done_cv);
}

/* Forgets a caller that gave up waiting. Lock held. */
static void detach_call(struct ctrace_server *srv, struct call_wait *w)
{
    if (srv->cur_call == w) {
        srv->cur_call = NULL;
        return;
    }
    for (uint32_t i = 0; i < srv->count; i++) {
        struct slot *s = &srv->slots[(srv->head + i) % srv->mailbox];
        if (s->call == w) {
            s->call = NULL;
            return;
        }
    }
}

/* ---- The exit hook: linked processes ending. ---- */

/*
 * Called by the process table when a process linked to `target` ended:
 * queues the notice as a CTRACE_MSG_EXIT message if `target` is a running
 * server (beside a full mailbox if need be). Returns whether it took it.
 * Thread-safety: any thread; takes the list lock and a server lock.
 */
static bool exit_hook(uint64_t target, const struct ctrace_exit_notice *notice)
{
    struct ctrace_server *srv = server_get(target);
    if (srv == NULL)
        return false;
    struct ctrace_exit_notice n = *notice;
    n.reason[sizeof(n.reason) - 1] = '\0';
    bool took = false;
    pthread_mutex_lock(&srv->lock);
    if (!srv->stopping) {
        if (srv->ov_count == 0 && srv->count < srv->mailbox) {
            took =
                enqueue(
                    srv, CTRACE_MSG_EXIT, n.pid, &n, sizeof(n), NULL, NULL) ==
                0;
        } else if (srv->ov_count < EXIT_OVERFLOW) {
            unsigned at = (srv->ov_head + srv->ov_count) % EXIT_OVERFLOW;
            srv->overflow[at] = n;
            srv->ov_count++;
            took = true;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    server_put(srv);
    return took;
}

/* ---- fork(): the child has no server threads but the forking one. ---- */

static void fork_prepare(void)
{
    pthread_mutex_lock(&list_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&list_lock);
}

/*
 * Only the thread that called fork() lives on in the child. The servers'
 * threads did not come along (their processes were dropped from the table
 * by proc.c, so srv->proc points to freed memory), nor did the callers and
 * sys requesters waiting on them, whose references and stack contexts mean
 * nothing here. Each server then reads as stopped: sends fail with
 * CTRACE_ESTOPPED, sys functions with CTRACE_ENOPROC, and
 * ctrace_server_stop() frees the handle without joining a thread that
 * does not exist (which would wait forever). The exception is the server
 * whose callback forked: its thread is this one and goes on serving. The
 * locks may have been held by threads that are gone: they are made anew,
 * as the engine does for its sessions.
 */
static void fork_child(void)
{
    pthread_mutex_init(&list_lock, NULL);
    for (struct ctrace_server *srv = servers; srv != NULL; srv = srv->next) {
        pthread_mutex_init(&srv->lock, NULL);
        pthread_mutex_init(&srv->trace_lock, NULL);
        ctrace__cond_init_monotonic(&srv->wake);
        ctrace__cond_init_monotonic(&srv->done_cv);
        atomic_store(&srv->refs, 1); /* the owner's */
        for (uint32_t i = 0; i < srv->count; i++)
            srv->slots[(srv->head + i) % srv->mailbox].call = NULL;
        srv->cur_call = NULL;
        if (srv->sys_req != NULL) {
            srv->sys_req = NULL;
            srv->sys_busy = false;
        }
        /* A request in hand: serve_sys() frees the channel when done. */
        srv->sys_cur = NULL;
        if (srv == current)
            continue;
        srv->sys_busy = false;
        srv->forked = true;
        srv->started = true;
        srv->stopping = true;
        srv->proc_alive = false;
        srv->proc = NULL;
        srv->count = 0;
        srv->bytes = 0;
        srv->ov_count = 0;
    }
}

static void install_hook(void)
{
    ctrace__proc_set_exit_hook(exit_hook);
    static const struct ctrace__fork_steps steps = {
        .prepare = fork_prepare,
        .parent = fork_parent,
        .child = fork_child,
    };
    ctrace__fork_register(CTRACE__FORK_SERVERS, &steps);
}

/* ---- The server thread. ---- */

/* Applies a ctrace_server_set_timeout() made by the callback just run. */
static void apply_timeout(struct ctrace_server *srv)
{
    if (!srv->timeout_set)
        return;
    srv->timeout_set = false;
    srv->timer_armed = srv->timeout_ms > 0;
    if (srv->timer_armed)
        deadline_in(&srv->timer_deadline, srv->timeout_ms);
}

/* Turns a callback's return into "the server should end". */
static void check_stop(struct ctrace_server *srv, int rc)
{
    if (rc != CTRACE_SERVER_STOP)
        return;
    pthread_mutex_lock(&srv->lock);
    if (!srv->stopping) {
        srv->stopping = true;
        snprintf(srv->reason, sizeof(srv->reason), "normal");
    }
    pthread_mutex_unlock(&srv->lock);
}

/*
 * Runs handle_call for the call in srv->cur and answers the caller if it
 * still waits: the reply is copied into its context under the lock, or
 * the call fails with CTRACE_ETOOLONG when the caller's buffer is too
 * small. Returns the callback's code. Server thread; no lock held.
 */
static int
serve_call(struct ctrace_server *srv, uint64_t from, size_t len, bool dbg)
{
    struct ctrace_reply reply = {srv->reply_buf, srv->max_msg, 0};
    int rc = CTRACE_SERVER_CONTINUE;
    int call_rc = 0;
    if (srv->cb.handle_call != NULL)
        rc = srv->cb.handle_call(srv->state, srv->cur, len, &reply);
    else
        call_rc = CTRACE_EUNSUPPORTED;
    if (reply.len > reply.cap)
        reply.len = 0;
    if ((ctrace__point_proc_wants() & CTRACE__WANT_SEND) != 0) {
        struct term_room room;
        struct ctrace_value t =
            msg_term(srv, CTRACE_MSG_REPLY, srv->reply_buf, reply.len, &room);
        ctrace__point_proc_event(CTRACE_EVENT_SEND, server_pid(srv), from, &t);
    }
    /*
     * The debug line goes first, as in Erlang where sys records the reply
     * before the caller can act on it: a caller that reads the log right
     * after its call finds its reply there.
     */
    if (dbg)
        debug_sent(srv, from, srv->reply_buf, reply.len);
    pthread_mutex_lock(&srv->lock);
    struct call_wait *w = srv->cur_call;
    if (w != NULL) {
        if (call_rc == 0 && reply.len > w->cap) {
            call_rc = CTRACE_ETOOLONG;
        } else if (call_rc == 0) {
            if (reply.len > 0)
                memcpy(w->reply, srv->reply_buf, reply.len);
            w->len = reply.len;
        }
        w->rc = call_rc;
        w->done = true;
        srv->cur_call = NULL;
        pthread_cond_broadcast(&srv->done_cv);
    }
    if (srv->stats_on)
        srv->stats_out++;
    pthread_mutex_unlock(&srv->lock);
    return rc;
}

/*
 * Runs the callback for the message in srv->cur (or a timeout), raising
 * the receive event and writing the debug lines, then applies the
 * callback's timeout and stop request. Server thread; no lock held.
 */
static void handle(struct ctrace_server *srv,
                   enum ctrace_msg_kind kind,
                   uint64_t from,
                   size_t len)
{
    const void *msg = kind == CTRACE_MSG_TIMEOUT ? NULL : srv->cur;
    if (kind != CTRACE_MSG_TIMEOUT &&
        (ctrace__point_proc_wants() & CTRACE__WANT_RECEIVE) != 0) {
        struct term_room room;
        struct ctrace_value t = msg_term(srv, kind, msg, len, &room);
        ctrace__point_proc_event(
            CTRACE_EVENT_RECEIVE, server_pid(srv), from, &t);
    }
    bool dbg = debug_wanted(srv);
    char *before = NULL;
    if (dbg) {
        debug_got(srv, kind, from, msg, len);
        if (kind != CTRACE_MSG_CALL && srv->cb.format_state != NULL)
            before = srv->cb.format_state(srv->state);
    }
    srv->timeout_set = false;
    int rc = CTRACE_SERVER_CONTINUE;
    if (kind == CTRACE_MSG_CALL) {
        rc = serve_call(srv, from, len, dbg);
    } else {
        if (kind == CTRACE_MSG_CAST) {
            if (srv->cb.handle_cast != NULL)
                rc = srv->cb.handle_cast(srv->state, msg, len);
        } else if (srv->cb.handle_info != NULL) {
            rc = srv->cb.handle_info(srv->state, kind, msg, len);
        }
        /* "new state" only when its text changed, as far as we can see. */
        if (dbg && srv->cb.format_state != NULL)
            debug_new_state(srv, before);
    }
    ctrace__free(before);
    apply_timeout(srv);
    check_stop(srv, rc);
}

/* get_status's JSON. Server thread; no lock held. */
static char *status_json(struct ctrace_server *srv, int *rc)
{
    char *state =
        srv->cb.format_state != NULL ? srv->cb.format_state(srv->state) : NULL;
    json_t *o = json_object();
    char pid[48];
    snprintf(pid, sizeof(pid), "<0.%" PRIu64 ".0>", server_pid(srv));
    json_object_set_new(o, "pid", json_string(pid));
    json_object_set_new(
        o, "name", srv->name[0] != '\0' ? json_string(srv->name) : json_null());
    json_object_set_new(o, "initial_call", json_string(srv->initial_call));

    pthread_mutex_lock(&srv->lock);
    bool suspended = srv->suspended;
    uint64_t len = srv->count;
    uint64_t bytes = srv->bytes;
    unsigned log_cap = srv->log_cap;
    bool stats_on = srv->stats_on;
    int64_t start_us = srv->stats_start_us;
    uint64_t in = srv->stats_in;
    uint64_t out = srv->stats_out;
    uint64_t base = srv->stats_cpu_base;
    pthread_mutex_unlock(&srv->lock);
    pthread_mutex_lock(&srv->trace_lock);
    bool trace = atomic_load(&srv->trace_on);
    int trace_fd = srv->trace_fd;
    pthread_mutex_unlock(&srv->trace_lock);

    json_object_set_new(
        o, "status", json_string(suspended ? "suspended" : "running"));
    json_t *mb = json_object();
    json_object_set_new(mb, "len", json_integer((json_int_t)len));
    json_object_set_new(mb, "capacity", json_integer(srv->mailbox));
    json_object_set_new(mb, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(mb, "max_msg", json_integer(srv->max_msg));
    json_object_set_new(o, "mailbox", mb);
    json_t *dbg = json_object();
    json_object_set_new(dbg, "trace", json_boolean(trace));
    if (trace)
        json_object_set_new(
            dbg, "trace_fd", json_integer(trace_fd < 0 ? 2 : trace_fd));
    json_object_set_new(dbg, "log", json_integer(log_cap));
    json_object_set_new(dbg, "statistics", json_boolean(stats_on));
    json_object_set_new(o, "debug", dbg);
    if (stats_on) {
        uint64_t now = cpu_us(srv);
        json_t *st = json_object();
        json_object_set_new(st, "start_us", json_integer(start_us));
        json_object_set_new(st, "messages_in", json_integer((json_int_t)in));
        json_object_set_new(st, "messages_out", json_integer((json_int_t)out));
        json_object_set_new(
            st,
            "reductions",
            json_integer((json_int_t)(now > base ? now - base : 0)));
        json_object_set_new(st, "queue_len", json_integer((json_int_t)len));
        json_object_set_new(o, "statistics", st);
    }
    json_t *sv = NULL;
    if (state != NULL) {
        json_error_t je;
        sv = json_loads(state, JSON_DECODE_ANY, &je);
    }
    json_object_set_new(o, "state", sv != NULL ? sv : json_null());
    ctrace__free(state);

    /* Measured first, so the text is malloc()ed as ctrace_free() wants
     * whatever allocator jansson was given. */
    size_t need = json_dumpb(o, NULL, 0, JSON_COMPACT);
    char *text = need > 0 ? ctrace__malloc(need + 1) : NULL;
    if (text != NULL) {
        json_dumpb(o, text, need, JSON_COMPACT);
        text[need] = '\0';
    }
    json_decref(o);
    *rc = text != NULL ? 0 : CTRACE_ENOMEM;
    return text;
}

/* The version of a state's text. Thread-safety: any thread. */
uint64_t ctrace_sys_state_version(const char *json, size_t len)
{
    /* FNV-1a: the version only has to change when the text does. */
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)json[i];
        h *= 0x100000001b3u;
    }
    return h;
}

/*
 * RFC 7386, section 2: `patch` merged into `target`. Takes `target` (a new
 * reference or NULL) and borrows `patch`; returns a new reference, or NULL
 * when out of memory.
 */
static json_t *merge_patch(json_t *target, json_t *patch)
{
    if (!json_is_object(patch)) {
        json_decref(target);
        return json_deep_copy(patch);
    }
    if (!json_is_object(target)) {
        json_decref(target);
        target = json_object();
        if (target == NULL)
            return NULL;
    }
    const char *key;
    json_t *value;
    json_object_foreach(patch, key, value)
    {
        if (json_is_null(value)) {
            json_object_del(target, key);
            continue;
        }
        json_t *old = json_object_get(target, key);
        json_t *merged = merge_patch(json_incref(old), value);
        if (merged == NULL || json_object_set_new(target, key, merged) != 0) {
            json_decref(target);
            return NULL;
        }
    }
    return target;
}

/*
 * `patch` (text) merged into `target` (text): the result as compact JSON,
 * allocated, or NULL with `err` filled.
 */
static char *merge_patch_text(const char *target,
                              size_t target_len,
                              const char *patch,
                              size_t patch_len,
                              struct ctrace_error *err)
{
    json_error_t je;
    json_t *p = json_loadb(patch, patch_len, JSON_DECODE_ANY, &je);
    if (p == NULL) {
        ctrace__error_set(err,
                          CTRACE_EINVAL,
                          0,
                          je.column > 0 ? (unsigned)je.column : 0,
                          "the patch is not JSON: line %d, column %d: %s",
                          je.line,
                          je.column,
                          je.text);
        return NULL;
    }
    json_t *t = json_loadb(target, target_len, JSON_DECODE_ANY, &je);
    if (t == NULL) {
        json_decref(p);
        ctrace__error_set(err,
                          CTRACE_EINVAL,
                          0,
                          0,
                          "format_state gave text that is not JSON: %s",
                          je.text);
        return NULL;
    }
    json_t *merged = merge_patch(t, p);
    json_decref(p);
    char *text = NULL;
    if (merged != NULL) {
        /* Measured first, so the text is malloc()ed whatever allocator
         * jansson was given. */
        size_t need =
            json_dumpb(merged, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        text = need > 0 ? ctrace__malloc(need + 1) : NULL;
        if (text != NULL) {
            json_dumpb(merged, text, need, JSON_COMPACT | JSON_ENCODE_ANY);
            text[need] = '\0';
        }
    }
    json_decref(merged);
    if (text == NULL)
        ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
    return text;
}

/*
 * replace_state or a merge patch, with the version check first; all on the
 * server's thread, so that no message is handled between the check, the
 * merge and the replacement. Returns the new state's text when
 * format_state exists, else NULL. Server thread, lock not held.
 */
static char *replace_or_patch(struct ctrace_server *srv,
                              const struct sys_req *r,
                              enum sys_op op,
                              const char *in,
                              size_t in_len,
                              struct ctrace_error *e,
                              int *rc)
{
    char *merged = NULL;
    if (r->if_version || op == SYS_PATCH_STATE) {
        char *now = srv->cb.format_state(srv->state);
        if (now == NULL) {
            *rc = ctrace__error_set(
                e, CTRACE_ENOMEM, 0, 0, "format_state failed");
            return NULL;
        }
        uint64_t v = ctrace_sys_state_version(now, strlen(now));
        if (r->if_version && v != r->version) {
            ctrace__free(now);
            *rc =
                ctrace__error_set(e,
                                  CTRACE_ESTALE,
                                  0,
                                  0,
                                  "the state changed since version %016" PRIx64
                                  " was read; it is now %016" PRIx64,
                                  r->version,
                                  v);
            return NULL;
        }
        if (op == SYS_PATCH_STATE) {
            merged = merge_patch_text(now, strlen(now), in, in_len, e);
            ctrace__free(now);
            if (merged == NULL) {
                *rc = e->code;
                return NULL;
            }
            in = merged;
            in_len = strlen(merged);
        } else {
            ctrace__free(now);
        }
    }
    *rc = srv->cb.replace_state(&srv->state, in, in_len, e);
    ctrace__free(merged);
    if (*rc < 0 && e->text[0] == '\0')
        ctrace__error_set(e,
                          *rc,
                          0,
                          0,
                          "replace_state rejected the state: %s",
                          ctrace_strerror(*rc));
    else if (*rc < 0 && e->code == 0)
        e->code = *rc;
    if (*rc < 0)
        return NULL;
    *rc = 0;
    return srv->cb.format_state != NULL ? srv->cb.format_state(srv->state)
                                        : NULL;
}

/*
 * Serves the sys request waiting in srv->sys_req. Called on the server
 * thread with the lock held; releases it while callbacks run.
 */
static void serve_sys(struct ctrace_server *srv)
{
    struct sys_req *r = srv->sys_req;
    srv->sys_req = NULL;
    srv->sys_cur = r;
    enum sys_op op = r->op;
    char *in = r->in;
    size_t in_len = r->in_len;
    r->in = NULL;
    char *out = NULL;
    int rc = 0;
    struct ctrace_error e;
    ctrace__error_clear(&e);
    if (op == SYS_SUSPEND) {
        srv->suspended = true;
    } else {
        pthread_mutex_unlock(&srv->lock);
        switch (op) {
        case SYS_GET_STATE:
            out = srv->cb.format_state(srv->state);
            if (out == NULL)
                rc = ctrace__error_set(
                    &e, CTRACE_ENOMEM, 0, 0, "format_state failed");
            break;
        case SYS_REPLACE_STATE:
        case SYS_PATCH_STATE:
            out = replace_or_patch(srv, r, op, in, in_len, &e, &rc);
            break;
        case SYS_GET_STATUS:
            out = status_json(srv, &rc);
            if (rc < 0)
                ctrace__error_set(&e, rc, 0, 0, "out of memory");
            break;
        case SYS_SUSPEND:
            break;
        }
        pthread_mutex_lock(&srv->lock);
    }
    if (srv->sys_cur == r) {
        r->out = out;
        r->rc = rc;
        r->err = e;
        r->done = true;
        out = NULL;
    }
    srv->sys_cur = NULL;
    srv->sys_busy = false;
    pthread_cond_broadcast(&srv->done_cv);
    ctrace__free(out);
    ctrace__free(in);
}

/* Tells the table the server's status when it changed. */
static void show_status(struct ctrace_server *srv,
                        enum ctrace_proc_status *shown,
                        enum ctrace_proc_status status)
{
    if (*shown != status) {
        *shown = status;
        ctrace__proc_set_status(srv->proc, status);
    }
}

/*
 * The server's loop: sys requests first, then the mailbox unless
 * suspended, then the timeout. Returns when the server is stopping.
 * Server thread; called and returns with the lock held.
 */
static void serve(struct ctrace_server *srv)
{
    enum ctrace_proc_status shown = CTRACE_PROC_RUNNING;
    for (;;) {
        if (srv->sys_req != NULL) {
            serve_sys(srv);
            continue;
        }
        if (srv->stopping)
            break;
        if (srv->suspended) {
            show_status(srv, &shown, CTRACE_PROC_SUSPENDED);
            pthread_cond_wait(&srv->wake, &srv->lock);
            continue;
        }
        if (srv->count > 0) {
            struct slot *s = &srv->slots[srv->head];
            enum ctrace_msg_kind kind = s->kind;
            uint64_t from = s->from;
            size_t len = s->len;
            if (len > 0)
                memcpy(srv->cur, s->data, len);
            srv->cur_call = s->call;
            srv->head = (srv->head + 1) % srv->mailbox;
            srv->count--;
            srv->bytes -= len;
            refill_from_overflow(srv);
            report_queue(srv);
            if (srv->stats_on)
                srv->stats_in++;
            srv->timer_armed = false;
            show_status(srv, &shown, CTRACE_PROC_RUNNING);
            pthread_mutex_unlock(&srv->lock);
            handle(srv, kind, from, len);
            pthread_mutex_lock(&srv->lock);
            continue;
        }
        show_status(srv, &shown, CTRACE_PROC_WAITING);
        if (!srv->timer_armed) {
            pthread_cond_wait(&srv->wake, &srv->lock);
            continue;
        }
        if (wait_until(&srv->wake, &srv->lock, &srv->timer_deadline) == 0)
            continue;
        if (srv->sys_req != NULL || srv->stopping || srv->suspended ||
            srv->count > 0)
            continue;
        srv->timer_armed = false;
        show_status(srv, &shown, CTRACE_PROC_RUNNING);
        pthread_mutex_unlock(&srv->lock);
        handle(srv, CTRACE_MSG_TIMEOUT, 0, 0);
        pthread_mutex_lock(&srv->lock);
    }
}

/* Tells the starter how start went. Server thread; no lock held. */
static void
report_start(struct ctrace_server *srv, int rc, const struct ctrace_error *err)
{
    pthread_mutex_lock(&srv->lock);
    srv->start_rc = rc;
    if (err != NULL)
        srv->start_err = *err;
    srv->started = true;
    if (rc < 0) {
        /* A sys request that found it by pid during init must not wait
         * for a server that never runs. */
        srv->stopping = true;
        fail_waiting(srv);
    }
    pthread_cond_broadcast(&srv->done_cv);
    pthread_mutex_unlock(&srv->lock);
}

/*
 * The server's life on its thread: takes its process, registers the name,
 * runs init and reports to the starter, then serves until stopped, fails
 * what still waits, runs terminate and returns (the thread's exit ends the
 * process).
 */
static void server_run(struct ctrace_server *srv)
{
    struct ctrace_error err;
    ctrace__error_clear(&err);
    current = srv;
    struct ctrace__proc *p = ctrace__proc_self();
    if (p == NULL) {
        ctrace__error_set(
            &err, CTRACE_ENOMEM, 0, 0, "no memory for the server's process");
        report_start(srv, CTRACE_ENOMEM, &err);
        return;
    }
    /* Read by server_thread_exited() only, on this thread. */
    srv->own_proc = p;
    ctrace__proc_make_server(p, srv->initial_call);
    uint64_t pid = ctrace__proc_pid(p);
    if (srv->name[0] != '\0')
        snprintf(srv->label, sizeof(srv->label), "%s", srv->name);
    else
        snprintf(srv->label, sizeof(srv->label), "<0.%" PRIu64 ".0>", pid);
    srv->has_cpu_clock =
        pthread_getcpuclockid(pthread_self(), &srv->cpu_clock) == 0;
    atomic_store_explicit(&srv->pid, pid, memory_order_release);
    if (srv->name[0] != '\0') {
        int rc = ctrace_register(srv->name, 0);
        if (rc < 0) {
            if (rc == -EEXIST)
                ctrace__error_set(
                    &err, rc, 0, 0, "name %s is taken", srv->name);
            else
                ctrace__error_set(&err,
                                  rc,
                                  0,
                                  0,
                                  "cannot register name %s: %s",
                                  srv->name,
                                  ctrace_strerror(rc));
            report_start(srv, rc, &err);
            return;
        }
    }
    int rc = srv->cb.init(srv->arg, &srv->state, &err);
    if (rc < 0) {
        if (err.text[0] == '\0')
            ctrace__error_set(
                &err, rc, 0, 0, "init failed: %s", ctrace_strerror(rc));
        else
            err.code = rc;
        /*
         * As gen_server's {stop, Reason} from init: the process ends with
         * the failure, not "normal", so that a process init linked to
         * learns why.
         */
        ctrace__proc_set_exit_reason(p, err.text);
        report_start(srv, rc, &err);
        return;
    }
    apply_timeout(srv);

    pthread_mutex_lock(&srv->lock);
    srv->proc = p;
    srv->proc_alive = true;
    report_queue(srv);
    srv->started = true;
    srv->start_rc = 0;
    pthread_cond_broadcast(&srv->done_cv);
    pthread_mutex_unlock(&srv->lock);

    pthread_mutex_lock(&srv->lock);
    serve(srv);
    fail_waiting(srv);
    char reason[sizeof(srv->reason)];
    memcpy(reason, srv->reason, sizeof(reason));
    pthread_mutex_unlock(&srv->lock);

    if (srv->cb.terminate != NULL)
        srv->cb.terminate(srv->state, reason);
    srv->state = NULL;
    /* The process ends with the thread, with the reason it was given. */
    ctrace__proc_set_exit_reason(p, reason);

    pthread_mutex_lock(&srv->lock);
    srv->proc_alive = false;
    pthread_cond_broadcast(&srv->done_cv);
    pthread_mutex_unlock(&srv->lock);
}

/*
 * A callback ended the server's thread with pthread_exit() (nothing else
 * can: no one outside knows the thread, and its waits are no cancellation
 * points). The server must not go on looking alive with a thread that is
 * gone: it is marked stopped (reason "thread exited", unless a stop gave
 * one), waiting callers fail with CTRACE_ESTOPPED, a starter waiting for
 * init learns that it failed, and srv->proc is let go before the thread's
 * exit ends the process, after which the table may free the entry.
 * terminate does not run: the state may be half-changed. Callbacks run
 * with no lock held, so none is held here.
 */
static void server_thread_exited(void *arg)
{
    struct ctrace_server *srv = arg;
    pthread_mutex_lock(&srv->lock);
    if (!srv->stopping) {
        srv->stopping = true;
        snprintf(srv->reason, sizeof(srv->reason), "thread exited");
    }
    fail_waiting(srv);
    if (!srv->started) {
        srv->started = true;
        srv->start_rc = ctrace__error_set(&srv->start_err,
                                          CTRACE_ESTOPPED,
                                          0,
                                          0,
                                          "the server's thread exited in init");
    }
    srv->proc_alive = false;
    char reason[sizeof(srv->reason)];
    memcpy(reason, srv->reason, sizeof(reason));
    pthread_cond_broadcast(&srv->done_cv);
    pthread_mutex_unlock(&srv->lock);
    ctrace__proc_set_exit_reason(srv->own_proc, reason);
}

/*
 * The server's thread. Cancellation is off: the thread's pthread_t is
 * never handed out, and a cancellation acting in serve()'s waits would
 * leave the server's lock held.
 */
static void *server_main(void *arg)
{
    struct ctrace_server *srv = arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_cleanup_push(server_thread_exited, srv);
    server_run(srv);
    pthread_cleanup_pop(0);
    return NULL;
}

/* ---- The public API: servers. ---- */

/*
 * Copies `len` bytes into the reply, or empties it and returns
 * CTRACE_ETOOLONG when they do not fit; CTRACE_EINVAL for a NULL reply or
 * NULL data with len > 0. Thread-safety: the server's thread, in
 * handle_call.
 */
int ctrace_reply_set(struct ctrace_reply *reply, const void *data, size_t len)
{
    if (reply == NULL || (data == NULL && len > 0))
        return CTRACE_EINVAL;
    if (len > reply->cap) {
        reply->len = 0;
        return CTRACE_ETOOLONG;
    }
    if (len > 0)
        memcpy(reply->data, data, len);
    reply->len = len;
    return 0;
}

/* Fills `opts` with the defaults. Thread-safety: any thread. */
void ctrace_server_opts_init(struct ctrace_server_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->mailbox = MAILBOX_DEFAULT;
    opts->max_msg = MAX_MSG_DEFAULT;
}

/*
 * Checks the callbacks and options; returns 0 or CTRACE_EINVAL with the
 * reason in `err`.
 */
static int check_opts(const struct ctrace_server_callbacks *cb,
                      const struct ctrace_server_opts *o,
                      struct ctrace_error *err)
{
    if (cb == NULL || cb->init == NULL)
        return ctrace__error_set(
            err, CTRACE_EINVAL, 0, 0, "the init callback is required");
    if (o->mailbox == 0 || o->mailbox > MAILBOX_MAX)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "mailbox must hold 1 to %u messages, not %u",
                                 MAILBOX_MAX,
                                 (unsigned)o->mailbox);
    if (o->max_msg == 0 || o->max_msg > MAX_MSG_MAX)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "max_msg must be 1 to %u bytes, not %u",
                                 MAX_MSG_MAX,
                                 (unsigned)o->max_msg);
    if (o->name != NULL &&
        (o->name[0] == '\0' || strlen(o->name) > CTRACE_PROC_NAME_MAX))
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "a server name must be 1 to %d bytes",
                                 CTRACE_PROC_NAME_MAX);
    return 0;
}

/* A server with its buffers, not started. NULL when memory ran out. */
static struct ctrace_server *
server_new(const struct ctrace_server_callbacks *cb,
           const struct ctrace_server_opts *o)
{
    struct ctrace_server *srv = ctrace__calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    srv->cb = *cb;
    srv->mailbox = o->mailbox;
    srv->max_msg = o->max_msg;
    srv->slot_size = o->max_msg > sizeof(struct ctrace_exit_notice)
                         ? o->max_msg
                         : sizeof(struct ctrace_exit_notice);
    srv->arg = o->arg;
    srv->trace_fd = -1;
    atomic_init(&srv->refs, 1);
    atomic_init(&srv->pid, 0);
    atomic_init(&srv->trace_on, false);
    atomic_init(&srv->log_on, false);
    if (o->name != NULL)
        snprintf(srv->name, sizeof(srv->name), "%s", o->name);
    if (o->initial_call != NULL)
        snprintf(srv->initial_call,
                 sizeof(srv->initial_call),
                 "%s",
                 o->initial_call);
    else if (o->name != NULL)
        snprintf(
            srv->initial_call, sizeof(srv->initial_call), "%s:init/1", o->name);
    else
        snprintf(srv->initial_call,
                 sizeof(srv->initial_call),
                 "ctrace_server:init/1");
    snprintf(srv->reason, sizeof(srv->reason), "normal");

    /* malloc, not calloc: slots are written before they are read, and an
     * untouched arena costs no memory. */
    srv->slots = ctrace__calloc(srv->mailbox, sizeof(*srv->slots));
    srv->arena = ctrace__malloc((size_t)srv->mailbox * srv->slot_size);
    srv->cur = ctrace__malloc(srv->slot_size);
    srv->reply_buf = ctrace__malloc(srv->max_msg);
    bool ok = srv->slots != NULL && srv->arena != NULL && srv->cur != NULL &&
              srv->reply_buf != NULL;
    if (!ok) {
        ctrace__free(srv->slots);
        ctrace__free(srv->arena);
        ctrace__free(srv->cur);
        ctrace__free(srv->reply_buf);
        ctrace__free(srv);
        return NULL;
    }
    for (uint32_t i = 0; i < srv->mailbox; i++)
        srv->slots[i].data = srv->arena + (size_t)i * srv->slot_size;
    ctrace__cond_init_monotonic(&srv->wake);
    ctrace__cond_init_monotonic(&srv->done_cv);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->trace_lock, NULL);
    return srv;
}

/*
 * Starts a server: checks the options, makes the thread (with every
 * signal blocked, as ctrace's own threads are), which takes its process,
 * registers the name and runs init; returns once init returned. NULL with
 * `err` filled on any failure, and then no callback but init ran.
 * Thread-safety: any thread.
 */
struct ctrace_server *
ctrace_server_start(const struct ctrace_server_callbacks *cb,
                    const struct ctrace_server_opts *opts,
                    struct ctrace_error *err)
{
    ctrace__error_clear(err);
    struct ctrace_server_opts defaults;
    if (opts == NULL) {
        ctrace_server_opts_init(&defaults);
        opts = &defaults;
    }
    if (check_opts(cb, opts, err) < 0)
        return NULL;
    pthread_once(&hook_once, install_hook);
    struct ctrace_server *srv = server_new(cb, opts);
    if (srv == NULL) {
        ctrace__error_set(
            err, CTRACE_ENOMEM, 0, 0, "no memory for the server's mailbox");
        return NULL;
    }
    /* On the list before its pid is known, so that exit notices reach it
     * from the moment init may link. */
    list_add(srv);
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&srv->thread, NULL, server_main, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        list_remove(srv);
        server_free(srv);
        ctrace__error_set(err,
                          -rc,
                          0,
                          0,
                          "cannot start the server's thread: %s",
                          ctrace_strerror(-rc));
        return NULL;
    }
    /*
     * Not a cancellation point: cancelled in the wait, the starter would
     * leave the server's lock held and a running server nobody owns.
     */
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&srv->lock);
    while (!srv->started)
        pthread_cond_wait(&srv->done_cv, &srv->lock);
    rc = srv->start_rc;
    struct ctrace_error start_err = srv->start_err;
    pthread_mutex_unlock(&srv->lock);
    if (rc < 0) {
        pthread_join(srv->thread, NULL);
        list_remove(srv);
        server_put(srv);
        pthread_setcancelstate(cancel_state, NULL);
        if (err != NULL && err->code == 0)
            *err = start_err;
        return NULL;
    }
    pthread_setcancelstate(cancel_state, NULL);
    return srv;
}

/*
 * Stops the server: fails waiting and queued calls with CTRACE_ESTOPPED,
 * lets the thread finish its message and run terminate, joins it and
 * drops the owner's reference (the memory goes when the last caller
 * leaves). Returns 0; CTRACE_EDEADLOCK, doing nothing, when called on the
 * server's own thread (a callback returns CTRACE_SERVER_STOP instead).
 * NULL is a no-op. Thread-safety: any thread, once per server.
 */
int ctrace_server_stop(struct ctrace_server *srv, const char *reason)
{
    if (srv == NULL)
        return 0;
    if (current == srv)
        return CTRACE_EDEADLOCK;
    pthread_mutex_lock(&srv->lock);
    if (!srv->stopping) {
        srv->stopping = true;
        snprintf(srv->reason,
                 sizeof(srv->reason),
                 "%s",
                 reason != NULL ? reason : "normal");
    }
    fail_waiting(srv);
    pthread_cond_signal(&srv->wake);
    bool forked = srv->forked;
    pthread_mutex_unlock(&srv->lock);
    if (!forked) {
        /* Not a cancellation point: a half-done stop would leak it all. */
        int old;
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
        pthread_join(srv->thread, NULL);
        pthread_setcancelstate(old, NULL);
    }
    list_remove(srv);
    server_put(srv);
    return 0;
}

/* The server's pid. Thread-safety: any thread. */
uint64_t ctrace_server_pid(const struct ctrace_server *srv)
{
    return srv != NULL ? server_pid(srv) : 0;
}

/* Checks a message's arguments; returns 0 or the code to return. */
static int
check_msg(const struct ctrace_server *srv, const void *msg, size_t len)
{
    if (srv == NULL || (msg == NULL && len > 0))
        return CTRACE_EINVAL;
    if (len > srv->max_msg)
        return CTRACE_ETOOLONG;
    return 0;
}

/* The calling process's entry and pid (0 when memory ran out). */
static struct ctrace__proc *sender(uint64_t *pid)
{
    struct ctrace__proc *me = ctrace__proc_self();
    *pid = me != NULL ? ctrace__proc_pid(me) : 0;
    return me;
}

/* What a caller cancelled while it waits must undo. */
struct call_cleanup {
    struct ctrace_server *srv;
    struct call_wait *w;
    struct ctrace__proc *me;
};

/*
 * The caller's thread was cancelled in its wait (a cancellation point):
 * the wait took the lock again before unwinding. The context on its stack
 * is detached, so the server never writes into that dead frame, and the
 * lock and the reference are given back.
 */
static void call_cancelled(void *arg)
{
    struct call_cleanup *c = arg;
    if (!c->w->done)
        detach_call(c->srv, c->w);
    ctrace__proc_set_status(c->me, CTRACE_PROC_RUNNING);
    pthread_mutex_unlock(&c->srv->lock);
    server_put(c->srv);
}

/*
 * Waits, lock held, until the call is answered or `dl` (NULL: never)
 * passes. The wait is a cancellation point (call_cancelled); it is in a
 * function of its own so that no local of the caller's frame changes
 * between pthread_cleanup_push(), a setjmp() in glibc, and its pop.
 */
static void call_wait_locked(struct call_cleanup *c, const struct timespec *dl)
{
    pthread_cleanup_push(call_cancelled, c);
    int wr = 0;
    while (!c->w->done && wr == 0)
        wr = wait_until(&c->srv->done_cv, &c->srv->lock, dl);
    pthread_cleanup_pop(0);
}

/*
 * Sends a call and waits for its reply; see server.h for the codes. The
 * wait is a cancellation point, as pthread_cond_wait() is.
 * Thread-safety: any thread but the server's own (CTRACE_EDEADLOCK).
 */
int ctrace_server_call(struct ctrace_server *srv,
                       const void *msg,
                       size_t len,
                       void *reply,
                       size_t cap,
                       size_t *reply_len,
                       uint32_t timeout_ms)
{
    if (reply_len != NULL)
        *reply_len = 0;
    int rc = check_msg(srv, msg, len);
    if (rc == 0 && reply == NULL && cap > 0)
        rc = CTRACE_EINVAL;
    if (rc < 0)
        return rc;
    if (current == srv)
        return CTRACE_EDEADLOCK;
    uint64_t from;
    struct ctrace__proc *me = sender(&from);
    struct term_room room;
    struct ctrace_value term = ctrace_value_null();
    bool event = (ctrace__point_proc_wants() & CTRACE__WANT_SEND) != 0;
    if (event)
        term = msg_term(srv, CTRACE_MSG_CALL, msg, len, &room);
    struct timespec dl;
    if (timeout_ms > 0)
        deadline_in(&dl, timeout_ms);
    struct call_wait w = {reply, cap, 0, 0, false};
    server_ref(srv);
    pthread_mutex_lock(&srv->lock);
    rc =
        enqueue(srv, CTRACE_MSG_CALL, from, msg, len, &w, event ? &term : NULL);
    if (rc == 0) {
        ctrace__proc_set_status(me, CTRACE_PROC_WAITING);
        struct call_cleanup cleanup = {srv, &w, me};
        call_wait_locked(&cleanup, timeout_ms > 0 ? &dl : NULL);
        if (w.done) {
            rc = w.rc;
            if (rc == 0 && reply_len != NULL)
                *reply_len = w.len;
        } else {
            detach_call(srv, &w);
            rc = -ETIMEDOUT;
        }
        ctrace__proc_set_status(me, CTRACE_PROC_RUNNING);
    }
    pthread_mutex_unlock(&srv->lock);
    server_put(srv);
    return rc;
}

/* Queues a cast or a plain message. */
static int post(struct ctrace_server *srv,
                enum ctrace_msg_kind kind,
                const void *msg,
                size_t len)
{
    int rc = check_msg(srv, msg, len);
    if (rc < 0)
        return rc;
    uint64_t from;
    (void)sender(&from);
    struct term_room room;
    struct ctrace_value term = ctrace_value_null();
    bool event = (ctrace__point_proc_wants() & CTRACE__WANT_SEND) != 0;
    if (event)
        term = msg_term(srv, kind, msg, len, &room);
    pthread_mutex_lock(&srv->lock);
    rc = enqueue(srv, kind, from, msg, len, NULL, event ? &term : NULL);
    pthread_mutex_unlock(&srv->lock);
    return rc;
}

/* Queues a cast. Thread-safety: any thread. */
int ctrace_server_cast(struct ctrace_server *srv, const void *msg, size_t len)
{
    return post(srv, CTRACE_MSG_CAST, msg, len);
}

/* Queues a plain message for handle_info. Thread-safety: any thread. */
int ctrace_server_send(struct ctrace_server *srv, const void *msg, size_t len)
{
    return post(srv, CTRACE_MSG_INFO, msg, len);
}

/*
 * Arms (ms > 0) or cancels (0) the timeout after the running callback.
 * Does nothing off a server's thread. Thread-safety: a server's thread.
 */
void ctrace_server_set_timeout(uint32_t ms)
{
    struct ctrace_server *srv = current;
    if (srv == NULL)
        return;
    srv->timeout_set = true;
    srv->timeout_ms = ms;
}

/* ---- The public API: sys. ---- */

static int no_server(struct ctrace_error *err, uint64_t pid)
{
    return ctrace__error_set(
        err, CTRACE_ENOPROC, 0, 0, "no server has pid <0.%" PRIu64 ".0>", pid);
}

/* What a sys requester cancelled while it waits must undo. */
struct sys_cleanup {
    struct ctrace_server *srv;
    struct sys_req *r;
};

/*
 * The requester's thread was cancelled in a wait, which took the lock
 * again: its request on the stack is withdrawn (or, if the server took
 * it, forgotten) as a timeout would, and what it owns is freed.
 */
static void sys_cancelled(void *arg)
{
    struct sys_cleanup *c = arg;
    struct ctrace_server *srv = c->srv;
    if (srv->sys_req == c->r) {
        srv->sys_req = NULL;
        srv->sys_busy = false;
        pthread_cond_broadcast(&srv->done_cv);
    } else if (srv->sys_cur == c->r) {
        srv->sys_cur = NULL;
    }
    pthread_mutex_unlock(&srv->lock);
    server_put(srv);
    ctrace__free(c->r->in);
    ctrace__free(c->r->out);
}

/*
 * Waits for the sys channel, posts `r` and waits for the answer until
 * `dl`; a request not answered in time is withdrawn, or forgotten if the
 * server took it. Sets *rc to the answer's code, CTRACE_ENOPROC when the
 * server is stopping, or -ETIMEDOUT. Lock held.
 */
static void sys_wait_locked(struct ctrace_server *srv,
                            struct sys_req *r,
                            const struct timespec *dl,
                            int *rc)
{
    int wr = 0;
    while (srv->sys_busy && !srv->stopping && wr == 0)
        wr = wait_until(&srv->done_cv, &srv->lock, dl);
    if (srv->stopping) {
        *rc = CTRACE_ENOPROC;
        return;
    }
    if (srv->sys_busy) {
        *rc = -ETIMEDOUT;
        return;
    }
    srv->sys_busy = true;
    srv->sys_req = r;
    pthread_cond_signal(&srv->wake);
    while (!r->done && wr == 0)
        wr = wait_until(&srv->done_cv, &srv->lock, dl);
    if (r->done) {
        *rc = r->rc;
        return;
    }
    if (srv->sys_req == r) {
        srv->sys_req = NULL;
        srv->sys_busy = false;
        pthread_cond_broadcast(&srv->done_cv);
    } else if (srv->sys_cur == r) {
        srv->sys_cur = NULL;
    }
    *rc = -ETIMEDOUT;
}

/*
 * sys_wait_locked() under the server's lock. The waits are cancellation
 * points (sys_cancelled); the work is in a function of its own so that no
 * local of this frame changes between pthread_cleanup_push(), a setjmp()
 * in glibc, and its pop.
 */
static int sys_post_wait(struct ctrace_server *srv,
                         struct sys_req *r,
                         const struct timespec *dl)
{
    int rc = 0;
    pthread_mutex_lock(&srv->lock);
    struct sys_cleanup cleanup = {srv, r};
    pthread_cleanup_push(sys_cancelled, &cleanup);
    sys_wait_locked(srv, r, dl, &rc);
    pthread_cleanup_pop(0);
    pthread_mutex_unlock(&srv->lock);
    return rc;
}

/*
 * Runs a sys request on the server's thread and waits up to `timeout_ms`
 * (0: CTRACE_SYS_TIMEOUT_MS) for the answer. Takes ownership of `in`.
 * On success *out (if `out` is not NULL) receives the allocated answer.
 * The waits are cancellation points.
 */
static int sys_request(uint64_t pid,
                       enum sys_op op,
                       char *in,
                       size_t in_len,
                       const uint64_t *version,
                       uint32_t timeout_ms,
                       char **out,
                       struct ctrace_error *err)
{
    struct ctrace_server *srv = server_get(pid);
    if (srv == NULL) {
        ctrace__free(in);
        return no_server(err, pid);
    }
    if (current == srv) {
        ctrace__free(in);
        server_put(srv);
        return ctrace__error_set(err,
                                 CTRACE_EDEADLOCK,
                                 0,
                                 0,
                                 "a server cannot make sys requests to itself");
    }
    int rc = 0;
    /* A version or a patch is taken from format_state's text. */
    bool needs_format = op == SYS_GET_STATE || op == SYS_PATCH_STATE ||
                        (op == SYS_REPLACE_STATE && version != NULL);
    bool needs_replace = op == SYS_REPLACE_STATE || op == SYS_PATCH_STATE;
    if ((needs_format && srv->cb.format_state == NULL) ||
        (needs_replace && srv->cb.replace_state == NULL))
        rc = ctrace__error_set(err,
                               CTRACE_EUNSUPPORTED,
                               0,
                               0,
                               "server <0.%" PRIu64 ".0> has no %s callback",
                               pid,
                               needs_format && srv->cb.format_state == NULL
                                   ? "format_state"
                                   : "replace_state");
    if (timeout_ms == 0)
        timeout_ms = CTRACE_SYS_TIMEOUT_MS;
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    struct sys_req r = {op, in, in_len, NULL, 0, false, {0}, false, 0};
    if (version != NULL) {
        r.if_version = true;
        r.version = *version;
    }
    if (rc == 0)
        rc = sys_post_wait(srv, &r, &dl);
    server_put(srv);
    ctrace__free(r.in);
    if (rc == -ETIMEDOUT)
        ctrace__error_set(err,
                          rc,
                          0,
                          0,
                          "server <0.%" PRIu64 ".0> did not answer in %u ms",
                          pid,
                          (unsigned)timeout_ms);
    else if (rc == CTRACE_ENOPROC)
        no_server(err, pid);
    else if (rc < 0 && r.done)
        ctrace__error_set(err, rc, 0, 0, "%s", r.err.text);
    if (rc == 0 && out != NULL)
        *out = r.out;
    else
        ctrace__free(r.out);
    return rc;
}

/*
 * sys:get_state: the state as JSON, allocated (free with ctrace_free()).
 * Thread-safety: any thread but the server's own.
 */
int ctrace_sys_get_state(uint64_t pid,
                         uint32_t timeout_ms,
                         char **json,
                         struct ctrace_error *err)
{
    ctrace__error_clear(err);
    if (json == NULL)
        return ctrace__error_set(
            err, CTRACE_EINVAL, 0, 0, "json must not be NULL");
    *json = NULL;
    return sys_request(
        pid, SYS_GET_STATE, NULL, 0, NULL, timeout_ms, json, err);
}

/*
 * sys:replace_state from JSON text; a rejection keeps the old state and
 * returns the callback's code and text. Thread-safety: any thread but the
 * server's own.
 */
int ctrace_sys_replace_state(uint64_t pid,
                             const char *json,
                             uint32_t timeout_ms,
                             struct ctrace_error *err)
{
    ctrace__error_clear(err);
    if (json == NULL)
        return ctrace__error_set(
            err, CTRACE_EINVAL, 0, 0, "json must not be NULL");
    char *copy = ctrace__strdup(json);
    if (copy == NULL)
        return ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
    return sys_request(pid,
                       SYS_REPLACE_STATE,
                       copy,
                       strlen(copy),
                       NULL,
                       timeout_ms,
                       NULL,
                       err);
}

/*
 * replace_state or a merge patch, with an optional version check, both run
 * between two messages. Thread-safety: any thread but the server's own.
 */
static int replace_with(uint64_t pid,
                        enum sys_op op,
                        const char *json,
                        const uint64_t *version,
                        uint32_t timeout_ms,
                        char **new_json,
                        struct ctrace_error *err)
{
    if (new_json != NULL)
        *new_json = NULL;
    if (json == NULL)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "%s must not be NULL",
                                 op == SYS_PATCH_STATE ? "patch" : "json");
    char *copy = ctrace__strdup(json);
    if (copy == NULL)
        return ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
    return sys_request(
        pid, op, copy, strlen(copy), version, timeout_ms, new_json, err);
}

int ctrace_sys_replace_state_if(uint64_t pid,
                                const char *json,
                                uint64_t version,
                                uint32_t timeout_ms,
                                char **new_json,
                                struct ctrace_error *err)
{
    ctrace__error_clear(err);
    return replace_with(
        pid, SYS_REPLACE_STATE, json, &version, timeout_ms, new_json, err);
}

int ctrace_sys_patch_state(uint64_t pid,
                           const char *patch,
                           const uint64_t *version,
                           uint32_t timeout_ms,
                           char **new_json,
                           struct ctrace_error *err)
{
    ctrace__error_clear(err);
    return replace_with(
        pid, SYS_PATCH_STATE, patch, version, timeout_ms, new_json, err);
}

/*
 * sys:get_status as one JSON object, allocated (free with ctrace_free()).
 * Thread-safety: any thread but the server's own.
 */
int ctrace_sys_get_status(uint64_t pid,
                          uint32_t timeout_ms,
                          char **json,
                          struct ctrace_error *err)
{
    ctrace__error_clear(err);
    if (json == NULL)
        return ctrace__error_set(
            err, CTRACE_EINVAL, 0, 0, "json must not be NULL");
    *json = NULL;
    return sys_request(
        pid, SYS_GET_STATUS, NULL, 0, NULL, timeout_ms, json, err);
}

/*
 * sys:suspend: returns once the server finished its message in hand and
 * is suspended. Thread-safety: any thread but the server's own.
 */
int ctrace_sys_suspend(uint64_t pid,
                       uint32_t timeout_ms,
                       struct ctrace_error *err)
{
    ctrace__error_clear(err);
    return sys_request(pid, SYS_SUSPEND, NULL, 0, NULL, timeout_ms, NULL, err);
}

/*
 * sys:resume: lets a suspended server take messages again; 0 also when it
 * was not suspended. Thread-safety: any thread.
 */
int ctrace_sys_resume(uint64_t pid, struct ctrace_error *err)
{
    ctrace__error_clear(err);
    struct ctrace_server *srv = server_get(pid);
    if (srv == NULL)
        return no_server(err, pid);
    int rc = 0;
    pthread_mutex_lock(&srv->lock);
    if (srv->stopping) {
        rc = no_server(err, pid);
    } else {
        srv->suspended = false;
        pthread_cond_signal(&srv->wake);
    }
    pthread_mutex_unlock(&srv->lock);
    server_put(srv);
    return rc;
}

/*
 * Finds a live server for the switches below. Returns it with a reference
 * and its lock held, or NULL (CTRACE_ENOPROC).
 */
static struct ctrace_server *sys_lock(uint64_t pid)
{
    struct ctrace_server *srv = server_get(pid);
    if (srv == NULL)
        return NULL;
    pthread_mutex_lock(&srv->lock);
    if (srv->stopping) {
        pthread_mutex_unlock(&srv->lock);
        server_put(srv);
        return NULL;
    }
    return srv;
}

static void sys_unlock(struct ctrace_server *srv)
{
    pthread_mutex_unlock(&srv->lock);
    server_put(srv);
}

/*
 * sys:trace: switches the trace lines on (to `fd`, -1 for 2) or off. Once
 * it returns with `on` false, no line is written to the old fd any more.
 * Thread-safety: any thread.
 */
int ctrace_sys_trace(uint64_t pid, bool on, int fd)
{
    struct ctrace_server *srv = sys_lock(pid);
    if (srv == NULL)
        return CTRACE_ENOPROC;
    pthread_mutex_unlock(&srv->lock);
    pthread_mutex_lock(&srv->trace_lock);
    srv->trace_fd = on ? fd : -1;
    atomic_store(&srv->trace_on, on);
    pthread_mutex_unlock(&srv->trace_lock);
    server_put(srv);
    return 0;
}

/*
 * sys:log: keeps the last `n` debug lines (at most CTRACE_SYS_LOG_MAX);
 * 0 turns the log off and forgets it. Changing n keeps the newest lines
 * that fit. Returns 0, CTRACE_EINVAL, CTRACE_ENOMEM or CTRACE_ENOPROC.
 * Thread-safety: any thread.
 */
int ctrace_sys_log(uint64_t pid, unsigned n)
{
    if (n > CTRACE_SYS_LOG_MAX)
        return CTRACE_EINVAL;
    char **ring = NULL;
    if (n > 0 && (ring = ctrace__calloc(n, sizeof(*ring))) == NULL)
        return CTRACE_ENOMEM;
    struct ctrace_server *srv = sys_lock(pid);
    if (srv == NULL) {
        ctrace__free(ring);
        return CTRACE_ENOPROC;
    }
    if (srv->log_cap > 0) {
        log_trim(srv, n);
        for (unsigned i = 0; i < srv->log_len; i++)
            ring[i] = srv->log[(srv->log_head + i) % srv->log_cap];
    }
    char **old = srv->log;
    srv->log = ring;
    srv->log_cap = n;
    srv->log_head = 0;
    atomic_store(&srv->log_on, n > 0);
    sys_unlock(srv);
    ctrace__free(old);
    return 0;
}

/* The log's lines, each followed by `sep` but the last unless `last`. */
static char *log_text(struct ctrace_server *srv, bool last)
{
    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    for (unsigned i = 0; i < srv->log_len; i++) {
        ctrace__sbuf_puts(&b, srv->log[(srv->log_head + i) % srv->log_cap]);
        if (last || i + 1 < srv->log_len)
            ctrace__sbuf_putc(&b, '\n');
    }
    return ctrace__sbuf_take(&b);
}

/*
 * sys:log get: the kept lines, oldest first, joined with '\n' ("" when
 * the log is off or empty); free with ctrace_free(). Thread-safety: any
 * thread.
 */
int ctrace_sys_log_get(uint64_t pid, char **text)
{
    if (text == NULL)
        return CTRACE_EINVAL;
    *text = NULL;
    struct ctrace_server *srv = sys_lock(pid);
    if (srv == NULL)
        return CTRACE_ENOPROC;
    *text = log_text(srv, false);
    sys_unlock(srv);
    return *text != NULL ? 0 : CTRACE_ENOMEM;
}

/*
 * sys:log print: writes the kept lines to `fd` (-1: 2), each ending in
 * '\n'. Returns 0, -errno of a failed write, or CTRACE_ENOPROC.
 * Thread-safety: any thread.
 */
int ctrace_sys_log_print(uint64_t pid, int fd)
{
    struct ctrace_server *srv = sys_lock(pid);
    if (srv == NULL)
        return CTRACE_ENOPROC;
    char *text = log_text(srv, true);
    sys_unlock(srv);
    if (text == NULL)
        return CTRACE_ENOMEM;
    if (fd < 0)
        fd = 2;
    int rc = 0;
    size_t len = strlen(text);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        off += (size_t)n;
    }
    ctrace__free(text);
    return rc;
}

/*
 * sys:statistics: on (re)starts the counters now; off forgets them.
 * Thread-safety: any thread.
 */
int ctrace_sys_statistics(uint64_t pid, bool on)
{
    struct ctrace_server *srv = sys_lock(pid);
    if (srv == NULL)
        return CTRACE_ENOPROC;
    srv->stats_on = on;
    srv->stats_start_us = ctrace__clock_wall_us();
    srv->stats_in = 0;
    srv->stats_out = 0;
    srv->stats_cpu_base = cpu_us(srv);
    sys_unlock(srv);
    return 0;
}

/*
 * sys:statistics get: the counters, or CTRACE_ENOTFOUND when statistics
 * are off. Thread-safety: any thread.
 */
int ctrace_sys_statistics_get(uint64_t pid, struct ctrace_sys_stats *out)
{
    if (out == NULL)
        return CTRACE_EINVAL;
    struct ctrace_server *srv = sys_lock(pid);
    if (srv == NULL)
        return CTRACE_ENOPROC;
    int rc = 0;
    if (!srv->stats_on) {
        rc = CTRACE_ENOTFOUND;
    } else {
        uint64_t now = cpu_us(srv);
        out->start_us = srv->stats_start_us;
        out->messages_in = srv->stats_in;
        out->messages_out = srv->stats_out;
        out->reductions =
            now > srv->stats_cpu_base ? now - srv->stats_cpu_base : 0;
        out->queue_len = srv->count;
    }
    sys_unlock(srv);
    return rc;
}
