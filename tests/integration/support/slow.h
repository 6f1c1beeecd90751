/* SPDX-License-Identifier: MIT */
/*
 * Hostile and ordinary HTTP clients on loopback, over plain sockets, for
 * the hardening tests and the availability bench: connections that trickle
 * their headers or body a byte at a time or say nothing (slow_start), and
 * a client that measures how many ordinary requests are answered and how
 * fast (probe_run). Everything is bounded in count and time.
 */
#ifndef CTRACE_TEST_SLOW_H
#define CTRACE_TEST_SLOW_H

#include <stdbool.h>
#include <stddef.h>

enum slow_kind {
    SLOW_HEADERS, /* a request line, then one header byte per interval */
    SLOW_BODY,    /* full headers announcing a body, one byte per interval */
    SLOW_IDLE     /* connect and send nothing */
};

struct slow_opts {
    unsigned port;
    unsigned count; /* connections to keep open, at most 20000 */
    enum slow_kind kind;
    const char *path;     /* of SLOW_BODY's POST, e.g. "/enter" */
    unsigned first_addr;  /* client addresses 127.0.0.first_addr ... */
    unsigned naddrs;      /* ... over this many (1: all from one) */
    unsigned interval_ms; /* between two bytes of one connection */
    bool reconnect;       /* open a new one when the server closes one */
};

struct slow;

/* Starts the connections from a thread of their own; NULL on failure. */
struct slow *slow_start(const struct slow_opts *opts);
/* Connections open (connected, not closed by the server) now. */
unsigned slow_open_now(struct slow *s);
/* Connections the server closed (or refused) so far. */
unsigned long slow_closed(struct slow *s);
/* Closes every connection and frees `s`. */
void slow_stop(struct slow *s);

/*
 * Sends `req` on a new connection from `addr` (NULL: 127.0.0.1) and reads
 * until the server closes or `timeout_ms` passes. Returns the bytes read
 * into `out` (NUL-terminated), or -1 when the connection failed.
 */
long raw_exchange(unsigned port,
                  const char *addr,
                  const char *req,
                  size_t len,
                  char *out,
                  size_t size,
                  int timeout_ms);

struct probe_result {
    unsigned sent;
    unsigned ok;   /* answered 200 within the timeout */
    double p50_ms; /* of the answered ones */
    double p99_ms;
    double max_ms;
};

/*
 * Sends `n` requests "GET path" one after the other, each on a new
 * connection from 127.0.0.1 with `timeout_ms` for the whole exchange, and
 * `gap_ms` between them.
 */
void probe_run(unsigned port,
               const char *path,
               unsigned n,
               int timeout_ms,
               int gap_ms,
               struct probe_result *r);

/* Raises the soft file descriptor limit to the hard one. */
void raise_fd_limit(void);

#endif /* CTRACE_TEST_SLOW_H */
