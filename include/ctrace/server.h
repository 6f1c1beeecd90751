/* SPDX-License-Identifier: MIT */
/*
 * Servers: Erlang's gen_server for C. A server is a thread that owns a
 * state and a bounded mailbox and runs the user's callbacks one message at
 * a time, so the state needs no lock: other threads ask it with
 * ctrace_server_call() (and wait for the reply) or ctrace_server_cast()
 * (and do not). A full mailbox is an error returned to the sender, never an
 * unbounded queue.
 *
 * Every server is a process (proc.h): it can be registered by name, ranked
 * by message_queue_len, and looked into and changed while it runs with the
 * sys functions below, which act on a pid: get_state and replace_state
 * (the state as JSON through the format_state and replace_state
 * callbacks), get_status, suspend and resume, and the per-server debug
 * switches trace, log and statistics of Erlang's sys module. Messages are
 * copied into the mailbox (at most max_msg bytes each); sessions tracing
 * `send` and `receive` show them rendered by format_msg.
 *
 * A counter that adds up the lengths of the requests it is called with,
 * kept in main() and shown to sys as JSON:
 *
 *     #include <assert.h>
 *     #include <stdio.h>
 *     #include <stdlib.h>
 *     #include <string.h>
 *     #include "ctrace/ctrace.h"
 *
 *     static int count_init(void *arg, void **state, struct ctrace_error *e)
 *     {
 *         (void)e;
 *         *state = arg;
 *         return 0;
 *     }
 *
 *     static int count_call(void *state, const void *msg, size_t len,
 *                           struct ctrace_reply *reply)
 *     {
 *         (void)msg;
 *         uint64_t *n = state;
 *         *n += len;
 *         ctrace_reply_set(reply, n, sizeof(*n));
 *         return CTRACE_SERVER_CONTINUE;
 *     }
 *
 *     static char *count_format(const void *state)
 *     {
 *         char *json = malloc(40);
 *         if (json != NULL)
 *             snprintf(json, 40, "{\"count\":%llu}",
 *                      (unsigned long long)*(const uint64_t *)state);
 *         return json;
 *     }
 *
 *     int main(void)
 *     {
 *         uint64_t count = 0, reply = 0;
 *         size_t len = 0;
 *         struct ctrace_server_callbacks cb = {.init = count_init,
 *                                              .handle_call = count_call,
 *                                              .format_state = count_format};
 *         struct ctrace_server_opts o;
 *         ctrace_server_opts_init(&o);
 *         o.name = "counter";
 *         o.arg = &count;
 *         struct ctrace_error err;
 *         struct ctrace_server *srv = ctrace_server_start(&cb, &o, &err);
 *         assert(srv != NULL);
 *         int rc = ctrace_server_call(srv, "meow", 4, &reply,
 *                                     sizeof(reply), &len, 1000);
 *         assert(rc == 0 && len == sizeof(reply) && reply == 4);
 *         char *json = NULL;
 *         rc = ctrace_sys_get_state(ctrace_whereis("counter"), 0, &json,
 *                                   &err);
 *         assert(rc == 0 && strcmp(json, "{\"count\":4}") == 0);
 *         ctrace_free(json);
 *         rc = ctrace_server_stop(srv, NULL);
 *         assert(rc == 0);
 *         return 0;
 *     }
 *
 * Callbacks other than format_msg (which also runs on the threads that
 * send) run on the server's thread, one at a time and with no ctrace lock
 * held, so they may call any function here; ctrace_server_call(),
 * ctrace_server_stop() and the sys functions say what waits for whom.
 *
 * Thread-safety: every function may be called from any thread, except
 * ctrace_server_set_timeout(), which a callback calls on its server's
 * thread, and ctrace_reply_set(), which handle_call calls. A server must
 * not call itself or make sys requests that wait for its own thread
 * (CTRACE_EDEADLOCK). None is async-signal-safe but
 * ctrace_sys_state_version().
 */
#ifndef CTRACE_SERVER_H
#define CTRACE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrace/error.h"
#include "ctrace/value.h"
#include "ctrace/version.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ctrace_server;

/* What a message is, for handle_info and format_msg. ABI: values are
 * only appended. */
enum ctrace_msg_kind {
    CTRACE_MSG_CALL = 0, /* ctrace_server_call() request */
    CTRACE_MSG_CAST,     /* ctrace_server_cast() */
    CTRACE_MSG_INFO,     /* ctrace_server_send(): a plain message */
    CTRACE_MSG_REPLY,    /* the reply to a call */
    CTRACE_MSG_TIMEOUT,  /* no message came within the timeout: no data */
    CTRACE_MSG_EXIT      /* a linked process ended: a ctrace_exit_notice */
};

/* How many values format_msg finds room for in its `items`. */
#define CTRACE_MSG_ITEMS 16

/*
 * Where handle_call writes its reply: up to `cap` bytes (the server's
 * max_msg) into `data`, which the server owns; `len` is how many it holds,
 * 0 until set. Write it with ctrace_reply_set(), or write into `data` and
 * set `len`; a `len` above `cap` sends an empty reply.
 */
struct ctrace_reply {
    void *data;
    size_t cap;
    size_t len;
};

/*
 * Copies `len` bytes from `data` into the reply (the caller keeps `data`),
 * replacing what it held. Returns 0, or:
 * - CTRACE_ETOOLONG: `len` is more than reply->cap (the reply is then
 *   empty);
 * - CTRACE_EINVAL: `reply` is NULL, or `data` is NULL with `len` > 0.
 * A reply that fits here but not in the caller's buffer fails the call
 * with CTRACE_ETOOLONG on the caller's side (ctrace_server_call()).
 * Thread-safety: the server's thread, in handle_call, on the reply it got.
 */
CTRACE_API int
ctrace_reply_set(struct ctrace_reply *reply, const void *data, size_t len);

/* handle_call, handle_cast and handle_info return CTRACE_SERVER_CONTINUE,
 * or CTRACE_SERVER_STOP to end the server with the reason "normal" once
 * this message is handled (terminate runs; the owner must still call
 * ctrace_server_stop() to free the handle). Any other value continues. */
#define CTRACE_SERVER_CONTINUE 0
#define CTRACE_SERVER_STOP     1

/*
 * The callbacks, copied at start. All but format_msg run on the server's
 * thread, one at a time, with no lock held. Only init is required, and
 * handle_call if calls are used; the others may be NULL. In every one,
 * `msg` (`len` bytes) is the server's copy of the message, valid until the
 * callback returns.
 */
struct ctrace_server_callbacks {
    /*
     * Makes the state (`arg` is opts->arg) and returns 0; may call
     * ctrace_server_set_timeout(). The server's name is registered by
     * then. A negative return fails ctrace_server_start() with that code
     * and the text put into `err` (never NULL, cleared), and the server's
     * process ends with that text as its reason; terminate does not run,
     * so init frees what it made before failing.
     */
    int (*init)(void *arg, void **state, struct ctrace_error *err);
    /*
     * A call: handles `msg` and writes the reply into `reply` (empty if it
     * writes none). NULL: calls fail with CTRACE_EUNSUPPORTED.
     */
    int (*handle_call)(void *state,
                       const void *msg,
                       size_t len,
                       struct ctrace_reply *reply);
    /* A cast. NULL: casts are taken and dropped. */
    int (*handle_cast)(void *state, const void *msg, size_t len);
    /*
     * Plain messages (CTRACE_MSG_INFO), timeouts (CTRACE_MSG_TIMEOUT: msg
     * NULL, len 0) and exits of linked processes (CTRACE_MSG_EXIT: msg is
     * a struct ctrace_exit_notice). NULL: they are taken and dropped.
     */
    int (*handle_info)(void *state,
                       enum ctrace_msg_kind kind,
                       const void *msg,
                       size_t len);
    /*
     * The server is ending with `reason` (valid during the call): free the
     * state. Runs once, after the last message, when the server was
     * stopped or a callback returned CTRACE_SERVER_STOP; not after a
     * failed init, nor when a callback ended the thread (pthread_exit()).
     */
    void (*terminate)(void *state, const char *reason);
    /*
     * The state as NUL-terminated JSON text, allocated with malloc() (the
     * server frees it); NULL on failure. Runs for sys requests and, while
     * sys trace or log is on, for each debug line.
     */
    char *(*format_state)(const void *state);
    /*
     * Replaces the state with the one `json` describes (`len` bytes, also
     * NUL-terminated, valid during the call) and returns 0. Must check it
     * all before changing anything: on a negative return the old state
     * stays, and the text in `err` (never NULL, cleared) says why. May swap
     * *state for a new pointer.
     */
    int (*replace_state)(void **state,
                         const char *json,
                         size_t len,
                         struct ctrace_error *err);
    /*
     * The term a trace or a sys log shows for a message of kind CALL,
     * CAST, INFO or REPLY (timeouts and exits show as `timeout` and
     * {'EXIT',Pid,Reason} without it). `items` has room
     * for CTRACE_MSG_ITEMS values that the result may point into; values
     * must stay valid until the callback's caller is done, so point only
     * into `msg` or static data. It runs on the sending thread as well
     * as on the server's, possibly at the same time: it must not touch
     * the state. NULL: messages show as binaries.
     */
    struct ctrace_value (*format_msg)(enum ctrace_msg_kind kind,
                                      const void *msg,
                                      size_t len,
                                      struct ctrace_value *items);
};

/*
 * Options of a server. Fill with ctrace_server_opts_init() first. The
 * strings are copied by ctrace_server_start(): they need to live only
 * during that call. The mailbox and two message buffers are allocated at
 * start: about (`mailbox` + 2) * `max_msg` bytes.
 */
struct ctrace_server_opts {
    const char *name; /* registered name, or NULL */
    const char
        *initial_call; /* default "NAME:init/1" or "ctrace_server:init/1" */
    uint32_t mailbox;  /* messages waiting at most, 1 to 65536; default 64 */
    uint32_t max_msg;  /* bytes of one message or reply, 1 to 1048576;
                          default 1024 */
    void *arg;         /* passed to init */
    /*
     * The state holds secrets and is not shown: format_state is never
     * called, so get_state, get_status, sys trace and log lines and the
     * admin endpoint (and the observer page) show no state, and say that
     * the server declares it private; replace_state still works, blind.
     * Default false.
     */
    bool private_state;
};

/*
 * Sets the defaults described in struct ctrace_server_opts. NULL is a
 * no-op.
 * Thread-safety: any thread.
 */
CTRACE_API void ctrace_server_opts_init(struct ctrace_server_opts *opts);

/*
 * Starts a server with the callbacks `cb` and the options `opts` (NULL for
 * the defaults): makes its thread (with every signal blocked), registers
 * its name, runs init and returns once init has returned. Returns the
 * running server, to be stopped and freed with ctrace_server_stop(), or
 * NULL with `err` (may be NULL; cleared first) filled:
 * - CTRACE_EINVAL: `cb` or cb->init is NULL, mailbox or max_msg out of
 *   range, or the name empty, too long or not one ctrace_register()
 *   takes (the text says which);
 * - -EEXIST: a live process holds the name;
 * - CTRACE_ENOMEM: no memory for the mailbox or the server's process;
 * - -EAGAIN (or another -errno of pthread_create()): no thread;
 * - init's negative code, with its text ("init failed: ..." without one);
 * - CTRACE_ESTOPPED: init ended the thread.
 * On failure no callback but init ran, and nothing is left to free. The
 * wait for init is not a cancellation point.
 * Thread-safety: any thread, also a callback of another server.
 */
CTRACE_API struct ctrace_server *
ctrace_server_start(const struct ctrace_server_callbacks *cb,
                    const struct ctrace_server_opts *opts,
                    struct ctrace_error *err);

/*
 * Stops the server with `reason` (copied; NULL: "normal"; a server that
 * ended itself keeps the reason it ended with) after the callback it is
 * running, runs terminate, joins its thread and frees the handle. Calls
 * queued or in hand fail with CTRACE_ESTOPPED, casts and infos still
 * queued are dropped unhandled, and sys requests it has not taken yet
 * fail with CTRACE_ENOPROC. The server's process ends with the reason: linked
 * processes are told, and ctrace_proc_info() shows it. Returns 0; NULL is
 * a no-op. Also needed for a server that ended itself (CTRACE_SERVER_STOP),
 * to free it. Called from the server's own thread it does nothing and
 * returns CTRACE_EDEADLOCK: a callback returns CTRACE_SERVER_STOP instead.
 * Blocks until the running callback and terminate return (not a
 * cancellation point), so stopping a server whose callback waits for the
 * caller (a server it calls with no timeout) deadlocks.
 * Thread-safety: any thread but the server's own, once per server; calls
 * already under way on other threads are safe, but none may start after
 * it returned.
 */
CTRACE_API int ctrace_server_stop(struct ctrace_server *srv,
                                  const char *reason);

/*
 * The server's pid (its process's N), set before init runs; 0 for NULL.
 * It stays the same after the server ended, until ctrace_server_stop().
 * Thread-safety: any thread; one atomic load.
 */
CTRACE_API uint64_t ctrace_server_pid(const struct ctrace_server *srv);

/*
 * Sends a request (`len` bytes of `msg`, copied into the mailbox) and
 * waits up to `timeout_ms` (0: forever) for the reply, copied into `reply`
 * (room for `cap` bytes; its length in *reply_len, which may be NULL and
 * is 0 unless the call succeeds). Nothing is written into `reply` after
 * the call returned. Returns 0, or:
 * - CTRACE_EINVAL: srv NULL, msg NULL with len > 0, or reply NULL with
 *   cap > 0;
 * - CTRACE_ETOOLONG: the request is longer than max_msg (nothing was
 *   sent), or the reply longer than `cap` (it is thrown away);
 * - CTRACE_EDEADLOCK: called from the server's own thread;
 * - CTRACE_EFULL: the mailbox is full (nothing was sent);
 * - CTRACE_ESTOPPED: the server is stopping or ended before replying;
 * - CTRACE_EUNSUPPORTED: the server has no handle_call;
 * - -ETIMEDOUT: no reply in time (the request may still be handled; its
 *   reply is thrown away). A suspended server keeps the request until it
 *   is resumed.
 * While it waits the calling process's status is "waiting".
 * Thread-safety: any thread but the server's own; the wait is a
 * cancellation point (a cancelled caller is forgotten safely). Servers
 * that call each other with no timeout can deadlock, as in Erlang.
 */
CTRACE_API int ctrace_server_call(struct ctrace_server *srv,
                                  const void *msg,
                                  size_t len,
                                  void *reply,
                                  size_t cap,
                                  size_t *reply_len,
                                  uint32_t timeout_ms);

/*
 * Queues a cast (`len` bytes of `msg`, copied) for handle_cast and returns
 * without waiting. Returns 0, or:
 * - CTRACE_EINVAL: srv NULL, or msg NULL with len > 0;
 * - CTRACE_ETOOLONG: longer than max_msg;
 * - CTRACE_ESTOPPED: the server is stopping or ended;
 * - CTRACE_EFULL: the mailbox is full.
 * On error nothing was queued.
 * Thread-safety: any thread, also the server's own (the message is handled
 * after the current one).
 */
CTRACE_API int
ctrace_server_cast(struct ctrace_server *srv, const void *msg, size_t len);

/*
 * Queues a plain message for handle_info (CTRACE_MSG_INFO); arguments and
 * results as ctrace_server_cast().
 * Thread-safety: any thread, also the server's own.
 */
CTRACE_API int
ctrace_server_send(struct ctrace_server *srv, const void *msg, size_t len);

/*
 * From a callback: if no message arrives within `ms` after this callback
 * returns, handle_info runs with CTRACE_MSG_TIMEOUT (gen_server's
 * timeout); 0 cancels. The last call in a callback wins. Any message that
 * arrives first cancels it too, and a callback that does not call this
 * leaves no timeout; sys requests do not count as messages, and a
 * suspended server waits for resume before its timeout can fire.
 * Thread-safety: a server's thread, in init or a handle_* callback; it
 * does nothing elsewhere.
 */
CTRACE_API void ctrace_server_set_timeout(uint32_t ms);

/*
 * ---- sys: looking into a running server by pid. ----
 *
 * Each sys function returns CTRACE_ENOPROC (and says so in `err`, where it
 * takes one) when no running server has `pid`: the pid is unknown, is not
 * a server's, or its server is stopping or has ended. Those that take
 * `err` clear it first and accept NULL. Those that take a timeout run on
 * the server's thread between two messages, also while it is suspended
 * or its mailbox is full, one request at a time per server, and wait up to
 * `timeout_ms` (0: CTRACE_SYS_TIMEOUT_MS) for it: -ETIMEDOUT when the
 * server is busy with a long callback or another sys request; a request
 * the server had already taken may still be carried out. They fail with
 * CTRACE_EDEADLOCK when called from the server's own callbacks, and their
 * waits are cancellation points. The others (resume, trace, log,
 * statistics) take the server's lock only briefly and may be called from
 * any thread, the server's own included.
 */

/* How long sys functions that need the server's thread wait when their
 * timeout_ms is 0. */
#define CTRACE_SYS_TIMEOUT_MS 5000

/*
 * sys:get_state: the state as format_state writes it, in *json, allocated;
 * free it with ctrace_free(). *json is NULL on error. Returns 0, or:
 * - CTRACE_EINVAL: `json` is NULL;
 * - CTRACE_ENOPROC, CTRACE_EDEADLOCK, -ETIMEDOUT: see above;
 * - CTRACE_EUNSUPPORTED: the server has no format_state;
 * - CTRACE_ENOMEM: format_state returned NULL.
 * Thread-safety: any thread but the server's own.
 */
CTRACE_API int ctrace_sys_get_state(uint64_t pid,
                                    uint32_t timeout_ms,
                                    char **json,
                                    struct ctrace_error *err);

/*
 * sys:replace_state: hands `json` (copied; the caller keeps it) to the
 * server's replace_state. Returns 0, or:
 * - CTRACE_EINVAL: `json` is NULL;
 * - CTRACE_ENOPROC, CTRACE_EDEADLOCK, -ETIMEDOUT: see above;
 * - CTRACE_EUNSUPPORTED: the server has no replace_state;
 * - CTRACE_ENOMEM: no memory for the copy;
 * - replace_state's own negative code (CTRACE_EINVAL usually): the old
 *   state stays, and `err` has the text (and column) replace_state gave.
 * Thread-safety: any thread but the server's own.
 */
CTRACE_API int ctrace_sys_replace_state(uint64_t pid,
                                        const char *json,
                                        uint32_t timeout_ms,
                                        struct ctrace_error *err);

/*
 * The version of a state: a 64-bit hash of format_state's text, so it
 * changes whenever the text does (format_state must then write the same
 * state the same way, e.g. with sorted keys). Versions make a read, an edit
 * and a write safe against the messages handled in between: pass the
 * version of the text you edited to ctrace_sys_replace_state_if() or
 * ctrace_sys_patch_state(). Reads `len` bytes of `json`, which need not
 * be NUL-terminated; NULL reads as "". A pure function.
 * Thread-safety: any thread; async-signal-safe.
 */
CTRACE_API uint64_t ctrace_sys_state_version(const char *json, size_t len);

/*
 * As ctrace_sys_replace_state(), but only if the state's version is still
 * `version`: the check and the replacement run on the server's thread
 * between two messages. Errors as ctrace_sys_replace_state(), plus
 * CTRACE_ESTALE (the state changed; nothing was replaced; `err` gives both
 * versions), CTRACE_EUNSUPPORTED without format_state, and CTRACE_ENOMEM
 * when format_state returned NULL. On success *new_json (if `new_json` is
 * not NULL) receives the new state as format_state writes it, allocated
 * (free it with ctrace_free()), or NULL if format_state failed then;
 * *new_json is NULL on error.
 * Thread-safety: any thread but the server's own.
 */
CTRACE_API int ctrace_sys_replace_state_if(uint64_t pid,
                                           const char *json,
                                           uint64_t version,
                                           uint32_t timeout_ms,
                                           char **new_json,
                                           struct ctrace_error *err);

/*
 * sys:replace_state with a function, for JSON: merges `patch`, a JSON merge
 * patch (RFC 7386: an object's members replace or, when null, remove the
 * state's members, recursively; anything else replaces the whole state),
 * into the state as format_state writes it, and hands the result to
 * replace_state. Format, merge and replacement run on the server's thread
 * between two messages, so no update made by a message is lost. With
 * `version` not NULL, only if the state's version is still *version.
 * `patch` is copied; the caller keeps it. Returns 0, or:
 * - CTRACE_EINVAL: `patch` is NULL or not JSON (err->column and
 *   err->position say where, the text gives the line too), or
 *   format_state's text is not JSON;
 * - CTRACE_ESTALE: `version` is not NULL and the state changed;
 * - CTRACE_EUNSUPPORTED: format_state or replace_state missing;
 * - CTRACE_ENOMEM: no memory, or format_state returned NULL;
 * - CTRACE_ENOPROC, CTRACE_EDEADLOCK, -ETIMEDOUT: see above;
 * - replace_state's refusals, which keep the old state.
 * *new_json as in ctrace_sys_replace_state_if().
 * Thread-safety: any thread but the server's own.
 */
CTRACE_API int ctrace_sys_patch_state(uint64_t pid,
                                      const char *patch,
                                      const uint64_t *version,
                                      uint32_t timeout_ms,
                                      char **new_json,
                                      struct ctrace_error *err);

/*
 * sys:get_status as one JSON object, on one line:
 *   {"pid":"<0.5.0>","name":"kv" or null,"initial_call":"kv:init/1",
 *    "status":"running" or "suspended",
 *    "mailbox":{"len":0,"capacity":64,"bytes":0,"max_msg":1024},
 *    "debug":{"trace":false,"log":0,"statistics":false},
 *    "statistics":{...} (only when on: the fields of ctrace_sys_stats),
 *    "state":format_state's JSON, or null}
 * where "debug" also has "trace_fd" while trace is on, and "state" is null
 * without format_state or when its text is not JSON. In *json, allocated;
 * free it with ctrace_free(); *json is NULL on error. Returns 0, or:
 * - CTRACE_EINVAL: `json` is NULL;
 * - CTRACE_ENOPROC, CTRACE_EDEADLOCK, -ETIMEDOUT: see above;
 * - CTRACE_ENOMEM.
 * Thread-safety: any thread but the server's own.
 */
CTRACE_API int ctrace_sys_get_status(uint64_t pid,
                                     uint32_t timeout_ms,
                                     char **json,
                                     struct ctrace_error *err);

/*
 * sys:suspend: suspends the server once it has finished the message in
 * hand: it takes no calls, casts or infos (they wait in the mailbox, and
 * senders get CTRACE_EFULL once it is full) and fires no timeout, but
 * still answers sys requests and can be stopped. Returns 0 when it is
 * suspended (also if it was already), or CTRACE_ENOPROC,
 * CTRACE_EDEADLOCK or -ETIMEDOUT (see above).
 * Thread-safety: any thread but the server's own.
 */
CTRACE_API int
ctrace_sys_suspend(uint64_t pid, uint32_t timeout_ms, struct ctrace_error *err);

/*
 * sys:resume: lets a suspended server take messages again, without
 * waiting for it. Returns 0, also when it was not suspended, or
 * CTRACE_ENOPROC.
 * Thread-safety: any thread, the server's own included.
 */
CTRACE_API int ctrace_sys_resume(uint64_t pid, struct ctrace_error *err);

/*
 * sys:trace: with `on`, writes a line to `fd` (-1: standard error) for
 * every message in, reply out and state change (when format_state
 * exists), like "*DBG* cat_traveler_srv got call {enter,...} from <0.9.0>",
 * each with one write() from the server's thread; `on` again switches to
 * the new fd. Once a call with `on` false returns, nothing more is written
 * to the old fd. The "sent" line is written before the caller gets the
 * reply. The fd stays the caller's: it is never closed, and must stay
 * open while trace is on; write errors are ignored. Returns 0 or
 * CTRACE_ENOPROC.
 * Thread-safety: any thread, the server's own included.
 */
CTRACE_API int ctrace_sys_trace(uint64_t pid, bool on, int fd);

/* sys:log's usual size, and the most lines a log keeps. */
#define CTRACE_SYS_LOG_DEFAULT 10
#define CTRACE_SYS_LOG_MAX     1000

/*
 * sys:log: keeps the last `n` debug events, the lines sys trace writes (0
 * turns the log off and forgets it; CTRACE_SYS_LOG_DEFAULT is sys's 10).
 * Changing `n` keeps the newest lines that fit. Returns 0, or
 * CTRACE_EINVAL when `n` is above CTRACE_SYS_LOG_MAX, CTRACE_ENOMEM, or
 * CTRACE_ENOPROC; on error the log is as it was.
 * Thread-safety: any thread, the server's own included.
 */
CTRACE_API int ctrace_sys_log(uint64_t pid, unsigned n);

/*
 * The log in *text, oldest first, one "*DBG* ..." line per event, joined
 * with '\n' (no final one; "" when the log is off or empty); allocated,
 * free it with ctrace_free(). *text is NULL on error. Returns 0, or
 * CTRACE_EINVAL when `text` is NULL, CTRACE_ENOPROC or CTRACE_ENOMEM.
 * Thread-safety: any thread, the server's own included.
 */
CTRACE_API int ctrace_sys_log_get(uint64_t pid, char **text);

/*
 * Writes the log to `fd` (-1: standard error), each line ending in '\n';
 * nothing when the log is off or empty. The fd stays the caller's.
 * Returns 0, CTRACE_ENOPROC, CTRACE_ENOMEM, or the -errno of a failed
 * write() (what was written before stays written).
 * Thread-safety: any thread, the server's own included.
 */
CTRACE_API int ctrace_sys_log_print(uint64_t pid, int fd);

/* sys:statistics, as ctrace_sys_statistics_get() copies them. */
struct ctrace_sys_stats {
    int64_t start_us;      /* when statistics were turned on (wall clock) */
    uint64_t messages_in;  /* calls, casts, infos and exit notices taken
                              from the mailbox */
    uint64_t messages_out; /* replies made, also to callers gone since */
    uint64_t reductions;   /* CPU microseconds of the server's thread
                              since statistics went on */
    uint64_t queue_len;    /* messages waiting now */
};

/*
 * sys:statistics: turns the counters on or off; turning them on (again)
 * starts them from zero. Returns 0 or CTRACE_ENOPROC.
 * Thread-safety: any thread, the server's own included.
 */
CTRACE_API int ctrace_sys_statistics(uint64_t pid, bool on);

/*
 * Copies the counters into `out`. Returns 0, or CTRACE_EINVAL when `out`
 * is NULL, CTRACE_ENOPROC, or CTRACE_ENOTFOUND when statistics are off;
 * on error `out` is left as it was.
 * Thread-safety: any thread, the server's own included.
 */
CTRACE_API int ctrace_sys_statistics_get(uint64_t pid,
                                         struct ctrace_sys_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* CTRACE_SERVER_H */
