/* SPDX-License-Identifier: MIT */
/*
 * A deadline per HTTP request for a libmicrohttpd daemon: the whole request
 * (headers and body) must be in within `limit_ms` of the moment the
 * connection was accepted or its previous request was answered. Unlike
 * libmicrohttpd's own inactivity timeout, a byte that arrives does not
 * reset it, so a client that trickles one byte every few seconds
 * (slowloris, slow body) or keeps a connection idle cannot hold it longer.
 *
 * libmicrohttpd 0.9.75 has no such timer, so a thread of ours keeps one:
 * the daemon tells it about each connection (MHD_OPTION_NOTIFY_CONNECTION),
 * the access handler says when a request is in full and when it is done,
 * and the thread shuts down the socket of every connection over its
 * deadline; libmicrohttpd then sees the end of the stream and closes the
 * connection in its own thread, as it would for a client that went away.
 * The socket is shut only while libmicrohttpd still holds it open: it tells
 * us a connection is closed (NOTIFY_CLOSED, under our lock) before it
 * closes the socket.
 *
 * Thread-safety: every function may be called from any thread, with the
 * daemon's callbacks running at the same time.
 */
#ifndef CTRACE_ADMIN_DEADLINE_H
#define CTRACE_ADMIN_DEADLINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

struct ctrace__deadline_conn;

struct ctrace__deadline {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct ctrace__deadline_conn *list; /* the connections open now */
    unsigned limit_ms;
    bool quit;
    bool started;
    pthread_t thread;
    /* Connections shut because their request was not in on time. */
    atomic_ulong expired;
};

/*
 * Starts the thread that enforces `limit_ms`. Returns 0, or a negative
 * errno when the thread cannot start (then nothing needs stopping).
 * Thread-safety: once per struct, before the daemon starts.
 */
int ctrace__deadline_start(struct ctrace__deadline *d, unsigned limit_ms);

/*
 * Stops the thread and frees what it tracks. Call it after
 * MHD_stop_daemon(). Thread-safety: once, after the daemon is stopped.
 */
void ctrace__deadline_stop(struct ctrace__deadline *d);

/*
 * The MHD_OPTION_NOTIFY_CONNECTION callback; `cls` is the struct
 * ctrace__deadline. Thread-safety: the daemon's threads.
 */
void ctrace__deadline_notify(void *cls,
                             struct MHD_Connection *conn,
                             void **socket_context,
                             enum MHD_ConnectionNotificationCode code);

/*
 * The request on `conn` is in full (`answering` true: no deadline while it
 * is answered, however long that takes, an event stream say), or it has
 * been answered (false: the clock of the next request on the connection
 * starts now). Thread-safety: the daemon's threads.
 */
void ctrace__deadline_mark(struct MHD_Connection *conn, bool answering);

#endif /* CTRACE_ADMIN_DEADLINE_H */
