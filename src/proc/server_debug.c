/* SPDX-License-Identifier: MIT */
/*
 * sys debug of servers: the trace of messages and state changes, the log
 * of the last events, statistics, and the terms they print.
 * server_impl.h has the design and the locks.
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

/* ---- Terms of messages, for events and debug lines. ---- */

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
struct ctrace_value ctrace__srv_msg_term(const struct ctrace_server *srv,
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
bool ctrace__srv_debug_wanted(struct ctrace_server *srv)
{
    return atomic_load_explicit(&srv->trace_on, memory_order_relaxed) ||
           atomic_load_explicit(&srv->log_on, memory_order_relaxed);
}

/* Frees the oldest lines so that at most `keep` remain. Lock held. */
void ctrace__srv_log_trim(struct ctrace_server *srv, unsigned keep)
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
            ctrace__srv_log_trim(srv, srv->log_cap - 1);
            srv->log[(srv->log_head + srv->log_len) % srv->log_cap] = copy;
            srv->log_len++;
            copy = NULL;
        }
        pthread_mutex_unlock(&srv->lock);
        ctrace__free(copy);
    }
}

/* "*DBG* NAME got call Msg from <0.N.0>" and the other "got" lines. */
void ctrace__srv_debug_got(struct ctrace_server *srv,
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
        v = ctrace__srv_msg_term(srv, kind, msg, len, &room);
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
void ctrace__srv_debug_sent(struct ctrace_server *srv,
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
void ctrace__srv_debug_new_state(struct ctrace_server *srv, const char *before)
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
