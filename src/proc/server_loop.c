/* SPDX-License-Identifier: MIT */
/*
 * The server's thread: init, the loop that takes messages and sys requests
 * in turn, the callbacks, timeouts and stopping. server_impl.h has the
 * design and the locks.
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
        struct ctrace_value t = ctrace__srv_msg_term(
            srv, CTRACE_MSG_REPLY, srv->reply_buf, reply.len, &room);
        ctrace__point_proc_event(CTRACE_EVENT_SEND, server_pid(srv), from, &t);
    }
    /*
     * The debug line goes first, as in Erlang where sys records the reply
     * before the caller can act on it: a caller that reads the log right
     * after its call finds its reply there.
     */
    if (dbg)
        ctrace__srv_debug_sent(srv, from, srv->reply_buf, reply.len);
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
void ctrace__srv_handle(struct ctrace_server *srv,
                        enum ctrace_msg_kind kind,
                        uint64_t from,
                        size_t len)
{
    const void *msg = kind == CTRACE_MSG_TIMEOUT ? NULL : srv->cur;
    if (kind != CTRACE_MSG_TIMEOUT &&
        (ctrace__point_proc_wants() & CTRACE__WANT_RECEIVE) != 0) {
        struct term_room room;
        struct ctrace_value t =
            ctrace__srv_msg_term(srv, kind, msg, len, &room);
        ctrace__point_proc_event(
            CTRACE_EVENT_RECEIVE, server_pid(srv), from, &t);
    }
    bool dbg = ctrace__srv_debug_wanted(srv);
    char *before = NULL;
    if (dbg) {
        ctrace__srv_debug_got(srv, kind, from, msg, len);
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
            ctrace__srv_debug_new_state(srv, before);
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

uint64_t ctrace_sys_state_version(const char *json, size_t len)
{
    /* FNV-1a: the version only has to change when the text does. */
    uint64_t h = 0xcbf29ce484222325u;
    if (json == NULL)
        len = 0; /* NULL reads as "" */
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
                          je.column > 0 ? je.column : 0,
                          je.position > 0 ? (size_t)je.position - 1 : 0,
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
void ctrace__srv_serve_sys(struct ctrace_server *srv)
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
            ctrace__srv_serve_sys(srv);
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
            ctrace__srv_refill_from_overflow(srv);
            report_queue(srv);
            if (srv->stats_on)
                srv->stats_in++;
            srv->timer_armed = false;
            show_status(srv, &shown, CTRACE_PROC_RUNNING);
            pthread_mutex_unlock(&srv->lock);
            ctrace__srv_handle(srv, kind, from, len);
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
        ctrace__srv_handle(srv, CTRACE_MSG_TIMEOUT, 0, 0);
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
        ctrace__srv_fail_waiting(srv);
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
    ctrace__srv_current = srv;
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
    ctrace__srv_fail_waiting(srv);
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
    ctrace__srv_fail_waiting(srv);
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
void *ctrace__server_main(void *arg)
{
    struct ctrace_server *srv = arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_cleanup_push(server_thread_exited, srv);
    server_run(srv);
    pthread_cleanup_pop(0);
    return NULL;
}
