/* SPDX-License-Identifier: MIT */
/*
 * The admin endpoint: the HTTP API through which the `ctrace` command line
 * (and curl, and scripts) attach to a running service and ask it questions
 * safely (DESIGN.md section 7; the API is docs/admin-api.md).
 *
 * A service starts it with one call. It runs on threads of its own, which
 * ctrace never traces (streaming an event must not raise new ones), and
 * never blocks the service's threads: the trace sessions it starts obey the
 * safety contract of session.h, and slow requests (a proc_window, a sys
 * request to a busy server) wait on the endpoint's own worker threads.
 *
 * Security: it binds 127.0.0.1 unless told otherwise, and every request but
 * `GET /health` must carry `Authorization: Bearer <token>`, the token being
 * read from a file that only its owner can read (created with a random
 * 256-bit token when missing, the way Erlang keeps ~/.erlang.cookie).
 * Request bodies are capped, and so are the sessions and the event streams
 * it runs at once.
 *
 * Lifetime: ctrace_admin_start() succeeded => call ctrace_admin_stop().
 * The child of a fork() has none of the endpoint's threads: it must not
 * use or stop the parent's endpoint (it may start its own).
 * Thread-safety: every function here may be called from any thread; a
 * given endpoint is stopped once, and not used after that.
 */
#ifndef CTRACE_ADMIN_H
#define CTRACE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrace/error.h"
#include "ctrace/version.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ctrace_admin;

/* The port the `ctrace` command line connects to unless told otherwise. */
#define CTRACE_ADMIN_DEFAULT_PORT 8081

/* Options of the endpoint. Fill with ctrace_admin_opts_init() first. */
struct ctrace_admin_opts {
    /* An IPv4 or IPv6 address literal; default "127.0.0.1". */
    const char *bind;
    /* Default CTRACE_ADMIN_DEFAULT_PORT; 0 picks a free port (see
     * ctrace_admin_port()). */
    uint16_t port;
    /*
     * The token file; NULL (default) for $HOME/.ctrace/token, whose
     * directory is created (mode 0700) when missing. The file is created
     * (mode 0600) when it does not exist.
     */
    const char *token_file;
    /*
     * Let GET requests from 127.0.0.1 and ::1 in without a token; anything
     * that changes the service still needs it. Default false.
     */
    bool allow_loopback_reads;
    /*
     * Refuse, with 403 `read_only`, every request that changes the service
     * or costs it a trace: starting and stopping sessions, replacing a
     * server's state, sys commands. Everything that only looks (and a
     * pattern check) still works; the observer page hides what it cannot
     * do. Default false.
     */
    bool read_only;
    unsigned max_sessions; /* trace sessions running at once; default 4 */
    unsigned max_streams;  /* event streams open at once; default 4 */
    size_t max_body;       /* bytes of a request body; default 64 KiB */
    /*
     * How long a stopped session stays listed, as its summary (reason and
     * counters; its queue memory is given back when it stops), in ms;
     * default 60000.
     */
    unsigned keep_ms;
};

/*
 * Sets the defaults described in struct ctrace_admin_opts.
 * Thread-safety: any thread.
 */
CTRACE_API void ctrace_admin_opts_init(struct ctrace_admin_opts *opts);

/*
 * Reads (or creates) the token file and starts serving on opts->bind and
 * opts->port (`opts` NULL: the defaults). Returns the running endpoint, or
 * NULL with `err` filled:
 * - CTRACE_EINVAL: `bind` is not an address literal, or a limit is 0 or
 *   out of range (the text names it);
 * - -EPERM: the token file's group or others may read or write it, or
 *   it belongs to another user (as ssh refuses such keys; the text says
 *   how to fix it);
 * - CTRACE_EINVAL: the token file is empty, too long or not one line of
 *   printable characters;
 * - -errno of the call that failed: the token file or its directory cannot
 *   be read or created, the address cannot be bound (-EADDRINUSE), a
 *   thread cannot start;
 * - -ENOSYS: the library was built without the endpoint
 *   (CTRACE_WITH_ADMIN=OFF);
 * - CTRACE_ENOMEM.
 * Nothing is left running when it fails. Stop the endpoint with
 * ctrace_admin_stop().
 * Thread-safety: any thread.
 */
CTRACE_API struct ctrace_admin *
ctrace_admin_start(const struct ctrace_admin_opts *opts,
                   struct ctrace_error *err);

/*
 * The port the endpoint listens on: the one picked when opts->port was 0.
 * Thread-safety: any thread.
 */
CTRACE_API uint16_t ctrace_admin_port(const struct ctrace_admin *admin);

/*
 * The path of the token file the endpoint uses (the default expanded). The
 * string lives as long as the endpoint.
 * Thread-safety: any thread.
 */
CTRACE_API const char *
ctrace_admin_token_file(const struct ctrace_admin *admin);

/*
 * The address of the observer page (docs/observer.md) with the token in
 * its fragment, "http://127.0.0.1:8081/#token=...", written into `buf`
 * (NUL-terminated, cut to `size`); returns its whole length, as snprintf
 * does (0 without the endpoint). The fragment never reaches the server:
 * the page moves the token into the tab's sessionStorage and strips it
 * from the address bar. The address carries the token, so print it where
 * only the service's operators read, as Jupyter prints its own.
 * Thread-safety: any thread.
 */
CTRACE_API size_t ctrace_admin_observer_url(const struct ctrace_admin *admin,
                                            char *buf,
                                            size_t size);

/*
 * Stops accepting requests, stops every trace session the endpoint started
 * (their streams end with a `stopped` event, reason "admin endpoint
 * stopped"), closes every connection, waits for the endpoint's threads and
 * frees it. A request that is waiting for a server or sampling a
 * proc_window is let finish first, so this waits at most as long as the
 * slowest of those (CTRACE_SYS_TIMEOUT_MS, or the window asked for). NULL
 * is a no-op.
 * Thread-safety: any thread, once per endpoint.
 */
CTRACE_API void ctrace_admin_stop(struct ctrace_admin *admin);

#ifdef __cplusplus
}
#endif

#endif /* CTRACE_ADMIN_H */
