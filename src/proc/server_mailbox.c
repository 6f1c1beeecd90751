/* SPDX-License-Identifier: MIT */
/*
 * A server's bounded mailbox: a ring of slots allocated at start, and the
 * few exit notices that wait beside it when it is full. server_impl.h has
 * the design and the locks.
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

/* ---- The mailbox. ---- */

/*
 * Appends a message to the mailbox, first raising the SEND event `term`
 * (when not NULL) so that a session sees the send before the receive.
 * Returns 0, CTRACE_ESTOPPED or CTRACE_EFULL. Called with the lock held.
 */
int ctrace__srv_enqueue(struct ctrace_server *srv,
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
void ctrace__srv_refill_from_overflow(struct ctrace_server *srv)
{
    while (srv->ov_count > 0 && srv->count < srv->mailbox) {
        const struct ctrace_exit_notice *n = &srv->overflow[srv->ov_head];
        (void)ctrace__srv_enqueue(
            srv, CTRACE_MSG_EXIT, n->pid, n, sizeof(*n), NULL, NULL);
        srv->ov_head = (srv->ov_head + 1) % EXIT_OVERFLOW;
        srv->ov_count--;
    }
}

/*
 * Empties the mailbox, failing the calls in it and the call in hand with
 * CTRACE_ESTOPPED, and fails a sys request not yet taken. Lock held.
 */
void ctrace__srv_fail_waiting(struct ctrace_server *srv)
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
void ctrace__srv_detach_call(struct ctrace_server *srv, struct call_wait *w)
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
