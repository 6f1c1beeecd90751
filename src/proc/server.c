/* SPDX-License-Identifier: MIT */
/*
 * Servers: handles and their references, the list of servers looked up by
 * pid, exit notices of linked processes, fork(), and the public server API
 * (ctrace/server.h). The design and the locks are in server_impl.h.
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
#include "proc/server_impl.h"

_Thread_local struct ctrace_server *ctrace__srv_current;

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctrace_server *servers;
static pthread_once_t hook_once = PTHREAD_ONCE_INIT;

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
void ctrace__server_put(struct ctrace_server *srv)
{
    if (atomic_fetch_sub_explicit(&srv->refs, 1, memory_order_acq_rel) == 1)
        server_free(srv);
}

/* The server with `pid`, with a reference taken, or NULL. */
struct ctrace_server *ctrace__server_get(uint64_t pid)
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

/* ---- The exit hook: linked processes ending. ---- */

/*
 * Called by the process table when a process linked to `target` ended:
 * queues the notice as a CTRACE_MSG_EXIT message if `target` is a running
 * server (beside a full mailbox if need be). Returns whether it took it.
 * Thread-safety: any thread; takes the list lock and a server lock.
 */
static bool exit_hook(uint64_t target, const struct ctrace_exit_notice *notice)
{
    struct ctrace_server *srv = ctrace__server_get(target);
    if (srv == NULL)
        return false;
    struct ctrace_exit_notice n = *notice;
    n.reason[sizeof(n.reason) - 1] = '\0';
    bool took = false;
    pthread_mutex_lock(&srv->lock);
    if (!srv->stopping) {
        if (srv->ov_count == 0 && srv->count < srv->mailbox) {
            took =
                ctrace__srv_enqueue(
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
    ctrace__server_put(srv);
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
 * ctrace_server_stop() frees the ctrace__srv_handle without joining a thread
 * that does not exist (which would wait forever). The exception is the server
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
        /* A request in hand: ctrace__srv_serve_sys() frees the channel when
         * done. */
        srv->sys_cur = NULL;
        if (srv == ctrace__srv_current)
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

/* ---- The public API: servers (contracts in ctrace/server.h). ---- */

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

void ctrace_server_opts_init(struct ctrace_server_opts *opts)
{
    if (opts == NULL)
        return;
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
    /* A private state is never formatted: nothing can show it. */
    srv->private_state = o->private_state;
    if (o->private_state)
        srv->cb.format_state = NULL;
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
 * Signals are blocked in the thread, as in ctrace's own threads; the
 * thread takes its process and registers the name itself (server_run()).
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
    int rc = pthread_create(&srv->thread, NULL, ctrace__server_main, srv);
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
        ctrace__server_put(srv);
        pthread_setcancelstate(cancel_state, NULL);
        if (err != NULL && err->code == 0)
            *err = start_err;
        return NULL;
    }
    pthread_setcancelstate(cancel_state, NULL);
    return srv;
}

/*
 * Drops the owner's reference once the thread is joined: the memory goes
 * when the last caller still inside ctrace_server_call() leaves.
 */
int ctrace_server_stop(struct ctrace_server *srv, const char *reason)
{
    if (srv == NULL)
        return 0;
    if (ctrace__srv_current == srv)
        return CTRACE_EDEADLOCK;
    pthread_mutex_lock(&srv->lock);
    if (!srv->stopping) {
        srv->stopping = true;
        snprintf(srv->reason,
                 sizeof(srv->reason),
                 "%s",
                 reason != NULL ? reason : "normal");
    }
    ctrace__srv_fail_waiting(srv);
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
    ctrace__server_put(srv);
    return 0;
}

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
        ctrace__srv_detach_call(c->srv, c->w);
    ctrace__proc_set_status(c->me, CTRACE_PROC_RUNNING);
    pthread_mutex_unlock(&c->srv->lock);
    ctrace__server_put(c->srv);
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
 * The caller's context lives on its stack; the reference taken keeps the
 * server's memory alive across a racing ctrace_server_stop().
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
    if (ctrace__srv_current == srv)
        return CTRACE_EDEADLOCK;
    uint64_t from;
    struct ctrace__proc *me = sender(&from);
    struct term_room room;
    struct ctrace_value term = ctrace_value_null();
    bool event = (ctrace__point_proc_wants() & CTRACE__WANT_SEND) != 0;
    if (event)
        term = ctrace__srv_msg_term(srv, CTRACE_MSG_CALL, msg, len, &room);
    struct timespec dl;
    if (timeout_ms > 0)
        deadline_in(&dl, timeout_ms);
    struct call_wait w = {reply, cap, 0, 0, false};
    server_ref(srv);
    pthread_mutex_lock(&srv->lock);
    rc = ctrace__srv_enqueue(
        srv, CTRACE_MSG_CALL, from, msg, len, &w, event ? &term : NULL);
    if (rc == 0) {
        ctrace__proc_set_status(me, CTRACE_PROC_WAITING);
        struct call_cleanup cleanup = {srv, &w, me};
        call_wait_locked(&cleanup, timeout_ms > 0 ? &dl : NULL);
        if (w.done) {
            rc = w.rc;
            if (rc == 0 && reply_len != NULL)
                *reply_len = w.len;
        } else {
            ctrace__srv_detach_call(srv, &w);
            rc = -ETIMEDOUT;
        }
        ctrace__proc_set_status(me, CTRACE_PROC_RUNNING);
    }
    pthread_mutex_unlock(&srv->lock);
    ctrace__server_put(srv);
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
        term = ctrace__srv_msg_term(srv, kind, msg, len, &room);
    pthread_mutex_lock(&srv->lock);
    rc = ctrace__srv_enqueue(
        srv, kind, from, msg, len, NULL, event ? &term : NULL);
    pthread_mutex_unlock(&srv->lock);
    return rc;
}

int ctrace_server_cast(struct ctrace_server *srv, const void *msg, size_t len)
{
    return post(srv, CTRACE_MSG_CAST, msg, len);
}

int ctrace_server_send(struct ctrace_server *srv, const void *msg, size_t len)
{
    return post(srv, CTRACE_MSG_INFO, msg, len);
}

/* Recorded here, applied by apply_timeout() once the callback returned. */
void ctrace_server_set_timeout(uint32_t ms)
{
    struct ctrace_server *srv = ctrace__srv_current;
    if (srv == NULL)
        return;
    srv->timeout_set = true;
    srv->timeout_ms = ms;
}
