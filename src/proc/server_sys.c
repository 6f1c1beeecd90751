/* SPDX-License-Identifier: MIT */
/*
 * The sys channel of servers: get_state, replace_state, get_status,
 * suspend and resume, one request at a time beside the mailbox, and the
 * public sys API (ctrace/server.h). server_impl.h has the design.
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

/* ---- The public API: sys (contracts in ctrace/server.h). ---- */

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
    ctrace__server_put(srv);
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
    struct ctrace_server *srv = ctrace__server_get(pid);
    if (srv == NULL) {
        ctrace__free(in);
        return no_server(err, pid);
    }
    if (ctrace__srv_current == srv) {
        ctrace__free(in);
        ctrace__server_put(srv);
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
    if (needs_format && srv->private_state)
        rc = ctrace__error_set(err,
                               CTRACE_EUNSUPPORTED,
                               0,
                               0,
                               "server <0.%" PRIu64 ".0> declares its state "
                               "private: it is not shown",
                               pid);
    else if ((needs_format && srv->cb.format_state == NULL) ||
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
    ctrace__server_put(srv);
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
        ctrace__error_set(
            err, rc, r.err.column, r.err.position, "%s", r.err.text);
    if (rc == 0 && out != NULL)
        *out = r.out;
    else
        ctrace__free(r.out);
    return rc;
}

/* get_state and get_status: a JSON text allocated for the caller. */
static int fetch_json(uint64_t pid,
                      enum sys_op op,
                      uint32_t timeout_ms,
                      char **json,
                      struct ctrace_error *err)
{
    ctrace__error_clear(err);
    if (json == NULL)
        return ctrace__error_set(
            err, CTRACE_EINVAL, 0, 0, "json must not be NULL");
    *json = NULL;
    return sys_request(pid, op, NULL, 0, NULL, timeout_ms, json, err);
}

int ctrace_sys_get_state(uint64_t pid,
                         uint32_t timeout_ms,
                         char **json,
                         struct ctrace_error *err)
{
    return fetch_json(pid, SYS_GET_STATE, timeout_ms, json, err);
}

/*
 * replace_state or a merge patch, with an optional version check, both run
 * between two messages.
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

int ctrace_sys_replace_state(uint64_t pid,
                             const char *json,
                             uint32_t timeout_ms,
                             struct ctrace_error *err)
{
    ctrace__error_clear(err);
    return replace_with(
        pid, SYS_REPLACE_STATE, json, NULL, timeout_ms, NULL, err);
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

int ctrace_sys_get_status(uint64_t pid,
                          uint32_t timeout_ms,
                          char **json,
                          struct ctrace_error *err)
{
    return fetch_json(pid, SYS_GET_STATUS, timeout_ms, json, err);
}

int ctrace_sys_suspend(uint64_t pid,
                       uint32_t timeout_ms,
                       struct ctrace_error *err)
{
    ctrace__error_clear(err);
    return sys_request(pid, SYS_SUSPEND, NULL, 0, NULL, timeout_ms, NULL, err);
}

int ctrace_sys_resume(uint64_t pid, struct ctrace_error *err)
{
    ctrace__error_clear(err);
    struct ctrace_server *srv = ctrace__server_get(pid);
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
    ctrace__server_put(srv);
    return rc;
}

/*
 * Finds a live server for the switches below. Returns it with a reference
 * and its lock held, or NULL (CTRACE_ENOPROC).
 */
static struct ctrace_server *sys_lock(uint64_t pid)
{
    struct ctrace_server *srv = ctrace__server_get(pid);
    if (srv == NULL)
        return NULL;
    pthread_mutex_lock(&srv->lock);
    if (srv->stopping) {
        pthread_mutex_unlock(&srv->lock);
        ctrace__server_put(srv);
        return NULL;
    }
    return srv;
}

static void sys_unlock(struct ctrace_server *srv)
{
    pthread_mutex_unlock(&srv->lock);
    ctrace__server_put(srv);
}

/* The trace lock is held across each write (debug_emit()), so that once
 * this returns the old fd sees no more lines. */
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
    ctrace__server_put(srv);
    return 0;
}

/* The new ring is allocated before the lock is taken. */
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
        ctrace__srv_log_trim(srv, n);
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

/* Written once the lock is released: a slow fd never holds up the server. */
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
