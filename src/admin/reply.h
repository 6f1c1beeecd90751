/* SPDX-License-Identifier: MIT */
/*
 * The bottom of the admin endpoint (reply.c): what every other file of
 * src/admin/ uses to answer a request and to read one. It calls nothing
 * of the endpoint above it; see admin.h for who calls whom.
 *
 * A reply is built into the request (struct reply in admin.h) by a handler
 * on the daemon's thread or by a job on a worker; only the daemon's thread
 * queues it on libmicrohttpd (ctrace__admin_send_reply()). Each reply call
 * replaces what the request had.
 *
 * Thread-safety: the reply and request functions touch only `rq`, which
 * one thread owns at a time (the daemon's, or the worker running its job
 * while the connection is suspended); ctrace__admin_query() and
 * ctrace__admin_from_loopback() read libmicrohttpd's connection and belong
 * to the daemon's thread; the JSON helpers and the clock are for any
 * thread.
 */
#ifndef CTRACE_ADMIN_REPLY_H
#define CTRACE_ADMIN_REPLY_H

#include "admin/admin.h"

/*
 * Marks the calling thread as the endpoint's own: never traced, named
 * "ctrace_admin". Cheap after the first call on a thread.
 */
void ctrace__admin_thread_mark(void);

/* Replies. Each replaces what the request had; JSON bodies are compact. */
void ctrace__admin_reply_json(struct request *rq, unsigned status, json_t *v);
void ctrace__admin_reply_text(struct request *rq,
                              unsigned status,
                              const char *content_type,
                              char *text,
                              size_t len);
/*
 * A file of the observer page (page.h), its bytes sent as they are, with
 * its ETag and the page's Content-Security-Policy; 304 without a body
 * when the request's If-None-Match names the ETag.
 */
void ctrace__admin_reply_file(struct request *rq,
                              const struct ctrace__page_file *f);
/* {"error": code, "detail": printf(fmt, ...)}. */
void ctrace__admin_reply_error(struct request *rq,
                               unsigned status,
                               const char *code,
                               const char *fmt,
                               ...) CTRACE__PRINTF(4, 5);
/* As above with extra members, taken from `extra` (a new reference). */
void ctrace__admin_reply_error_with(struct request *rq,
                                    unsigned status,
                                    const char *code,
                                    json_t *extra,
                                    const char *fmt,
                                    ...) CTRACE__PRINTF(5, 6);
/*
 * Replies to a failed library call with the status and code its error
 * maps to (docs/admin-api.md), and `e->text` as the detail.
 */
void ctrace__admin_reply_ctrace_error(struct request *rq,
                                      int code,
                                      const struct ctrace_error *e);

/*
 * Parses the request's body as one JSON document (duplicate keys refused),
 * or replies 400 and returns NULL. `any`: a value of any type, else an
 * object. Returns a new reference.
 */
json_t *ctrace__admin_body_json(struct request *rq, bool any);

/* The value of a query argument, or NULL. Daemon's thread only. */
const char *ctrace__admin_query(struct request *rq, const char *name);

/* A JSON string from any bytes: invalid UTF-8 becomes U+FFFD. */
json_t *ctrace__admin_jstr(const char *s);

/* "<0.N.0>" as a new JSON string. */
json_t *ctrace__admin_jpid(uint64_t pid);

/*
 * Appends `s` (`len` bytes) as a JSON string literal, quotes included;
 * invalid UTF-8 becomes U+FFFD, so the result is always valid JSON.
 */
void ctrace__admin_put_json_string(struct ctrace__sbuf *b,
                                   const char *s,
                                   size_t len);

/* Monotonic milliseconds. */
uint64_t ctrace__admin_now_ms(void);

/*
 * Queues the request's reply on its connection (the body passes to
 * libmicrohttpd). Returns what the access handler returns. Daemon's thread
 * only.
 */
enum MHD_Result ctrace__admin_send_reply(struct request *rq);

/*
 * Appends `n` bytes of the body; beyond opts.max_body (or when memory runs
 * out) only marks the request too large, for a 413 at its end.
 */
void ctrace__admin_body_append(struct request *rq, const char *data, size_t n);

/* Whether the connection comes from 127.0.0.0/8 or ::1. */
bool ctrace__admin_from_loopback(struct MHD_Connection *conn);

#endif /* CTRACE_ADMIN_REPLY_H */
