/* SPDX-License-Identifier: MIT */
/*
 * cat_traveler_http: the HTTP front of cat_traveler (libmicrohttpd). Every
 * request goes through the trace point cat_traveler_http:request/2
 * (method, path -> status) and, for the API paths, into the cat_traveler
 * module (api.h).
 *
 *   POST /enter, POST /leave   {"cat":"Tihon","town":"Barcelona"}
 *   GET  /cats, /towns, /health
 *
 * Thread-safety: cat_http_start() and cat_http_stop() on one thread; the
 * server's own threads run the handlers.
 */
#ifndef CAT_HTTP_H
#define CAT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"

struct cat_http_opts {
    const char *bind;         /* an IPv4 or IPv6 address literal */
    unsigned port;            /* 0 picks a free port */
    unsigned threads;         /* 1: one poll() thread; more: a pool */
    unsigned timeout_s;       /* idle connections are closed after this */
    unsigned max_connections; /* accepted at once, over all threads */
    unsigned max_per_ip;      /* at once from one address; 0: no limit */
    /*
     * Each connection served by a thread of its own (threads is then not
     * used), so that requests on two connections always run at once.
     */
    bool thread_per_connection;
};

/*
 * A request must be in full within this of its connection's start or of
 * the previous answer on it, however slowly its bytes come.
 */
#define CAT_REQUEST_DEADLINE_MS 10000

struct cat_http;

/*
 * Starts serving `app`, which must outlive the server. Returns the server,
 * or NULL with a one-line reason in `err` (libmicrohttpd's own message, if
 * any, has gone to stderr before).
 */
struct cat_http *cat_http_start(const struct cat_http_opts *opts,
                                struct cat_traveler *app,
                                char *err,
                                size_t err_size);

/* The port the server listens on (the one picked when opts.port was 0). */
unsigned cat_http_port(const struct cat_http *http);

/*
 * Stops accepting, waits for the handlers in progress and frees the server.
 * NULL is a no-op.
 */
void cat_http_stop(struct cat_http *http);

#endif /* CAT_HTTP_H */
