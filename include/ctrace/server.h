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
 * Thread-safety: every function may be called from any thread, except
 * ctrace_server_set_timeout(), which a callback calls on its server's
 * thread. A server must not call itself (CTRACE_EDEADLOCK).
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

/* What a message is, for handle_info and format_msg. */
enum ctrace_msg_kind {
    CTRACE_MSG_CALL = 0, /* ctrace_server_call() request */
    CTRACE_MSG_CAST,     /* ctrace_server_cast() */
    CTRACE_MSG_INFO,     /* ctrace_server_send(): a plain message */
    CTRACE_MSG_REPLY,    /* the reply to a call */
    CTRACE_MSG_TIMEOUT,  /* no message came within the timeout: no data */
    CTRACE_MSG_EXIT      /* a linked process ended: a ctrace_exit_notice */
};

/* Values format_msg may use to build a message's term. */
#define CTRACE_MSG_ITEMS 16

/* Where handle_call writes its reply: up to `cap` bytes into `data`. */
struct ctrace_reply {
    void *data;
    size_t cap;
    size_t len;
};

/*
 * Copies `len` bytes into the reply. Returns 0, or CTRACE_ETOOLONG when
 * they do not fit (the reply is then empty).
 */
CTRACE_API int
ctrace_reply_set(struct ctrace_reply *reply, const void *data, size_t len);

/* Callbacks return CTRACE_SERVER_CONTINUE, or CTRACE_SERVER_STOP to end
 * the server normally once this message is handled. */
#define CTRACE_SERVER_CONTINUE 0
#define CTRACE_SERVER_STOP     1

/*
 * The callbacks, all run on the server's thread. Only init and handle_call
 * (if calls are used) are required; the others may be NULL.
 */
struct ctrace_server_callbacks {
    /* Makes the state. A negative return fails ctrace_server_start()
     * with that code and the text put into `err`. */
    int (*init)(void *arg, void **state, struct ctrace_error *err);
    /* A call: handles `msg` and writes the reply. */
    int (*handle_call)(void *state,
                       const void *msg,
                       size_t len,
                       struct ctrace_reply *reply);
    int (*handle_cast)(void *state, const void *msg, size_t len);
    /* Plain messages, timeouts (msg NULL) and exits of linked processes. */
    int (*handle_info)(void *state,
                       enum ctrace_msg_kind kind,
                       const void *msg,
                       size_t len);
    /* The server is ending with `reason`; free the state. */
    void (*terminate)(void *state, const char *reason);
    /* The state as JSON text, allocated with malloc(); NULL on failure. */
    char *(*format_state)(const void *state);
    /*
     * Replaces the state with the one `json` describes. Must check it all
     * before changing anything: on a negative return the old state stays,
     * and the text in `err` says why. May swap *state for a new pointer.
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
     * into `msg` or static data. NULL: messages show as binaries.
     */
    struct ctrace_value (*format_msg)(enum ctrace_msg_kind kind,
                                      const void *msg,
                                      size_t len,
                                      struct ctrace_value *items);
};

struct ctrace_server_opts {
    const char *name; /* registered name, or NULL */
    const char
        *initial_call; /* default "NAME:init/1" or "ctrace_server:init/1" */
    uint32_t mailbox;  /* messages waiting at most; default 64 */
    uint32_t max_msg;  /* bytes of one message or reply; default 1024 */
    void *arg;         /* passed to init */
};

/* Sets the defaults described in struct ctrace_server_opts. */
CTRACE_API void ctrace_server_opts_init(struct ctrace_server_opts *opts);

/*
 * Starts a server: makes its thread, registers its name, runs init and
 * returns once init has returned. Returns NULL with `err` filled when an
 * option is bad (CTRACE_EINVAL), the name is taken (-EEXIST), init failed
 * (its code and text) or resources ran out.
 */
CTRACE_API struct ctrace_server *
ctrace_server_start(const struct ctrace_server_callbacks *cb,
                    const struct ctrace_server_opts *opts,
                    struct ctrace_error *err);

/*
 * Stops the server with `reason` (NULL: "normal") after the message it is
 * handling, runs terminate, joins its thread and frees the handle. Waiting
 * calls fail with CTRACE_ESTOPPED. Returns 0. NULL is a no-op. Also needed
 * for a server that ended itself (CTRACE_SERVER_STOP), to free it. Called
 * from the server's own thread it does nothing and returns
 * CTRACE_EDEADLOCK: a callback returns CTRACE_SERVER_STOP instead.
 */
CTRACE_API int ctrace_server_stop(struct ctrace_server *srv,
                                  const char *reason);

/* The server's pid (its process's N). */
CTRACE_API uint64_t ctrace_server_pid(const struct ctrace_server *srv);

/*
 * Sends a request and waits up to `timeout_ms` (0: forever) for the reply,
 * copied into `reply` (room for `cap` bytes; its length in *reply_len).
 * Returns 0, or:
 * - CTRACE_EFULL: the mailbox is full (nothing was sent);
 * - CTRACE_ETOOLONG: the request is longer than max_msg, or the reply
 *   longer than `cap`;
 * - -ETIMEDOUT: no reply in time (the request may still be handled; its
 *   reply is thrown away);
 * - CTRACE_ESTOPPED: the server ended before replying;
 * - CTRACE_EDEADLOCK: called from the server's own thread;
 * - CTRACE_EUNSUPPORTED: the server has no handle_call;
 * - CTRACE_EINVAL: srv NULL, msg NULL with len > 0, or reply NULL with
 *   cap > 0.
 */
CTRACE_API int ctrace_server_call(struct ctrace_server *srv,
                                  const void *msg,
                                  size_t len,
                                  void *reply,
                                  size_t cap,
                                  size_t *reply_len,
                                  uint32_t timeout_ms);

/* Queues a cast. Returns 0, CTRACE_EFULL, CTRACE_ETOOLONG or
 * CTRACE_ESTOPPED. */
CTRACE_API int
ctrace_server_cast(struct ctrace_server *srv, const void *msg, size_t len);

/* Queues a plain message for handle_info; returns as ctrace_server_cast. */
CTRACE_API int
ctrace_server_send(struct ctrace_server *srv, const void *msg, size_t len);

/*
 * From a callback: if no message arrives within `ms` after this callback,
 * handle_info runs with CTRACE_MSG_TIMEOUT (gen_server's timeout); 0
 * cancels. Any message that arrives first cancels it too.
 */
CTRACE_API void ctrace_server_set_timeout(uint32_t ms);

/*
 * ---- sys: looking into a running server by pid. ----
 *
 * Each sys function returns CTRACE_ENOPROC (and says so in `err`, where it
 * takes one) when no running server has `pid`. Those that take a timeout
 * run on the server's thread between two messages, also while it is
 * suspended or its mailbox is full, and fail with CTRACE_EDEADLOCK when
 * called from the server's own callbacks.
 */

/* How long sys functions that need the server's thread wait when their
 * timeout_ms is 0. */
#define CTRACE_SYS_TIMEOUT_MS 5000

/*
 * The state as JSON (format_state), allocated; free with ctrace_free().
 * Errors: CTRACE_ENOPROC (no server has that pid), CTRACE_EUNSUPPORTED (no
 * format_state), -ETIMEDOUT (the server is busy with a long callback).
 */
CTRACE_API int ctrace_sys_get_state(uint64_t pid,
                                    uint32_t timeout_ms,
                                    char **json,
                                    struct ctrace_error *err);

/*
 * Replaces the state from JSON through replace_state. A rejected
 * replacement returns its code (CTRACE_EINVAL usually), keeps the old
 * state and puts the reason into `err`.
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
 * ctrace_sys_patch_state().
 * Thread-safety: any thread.
 */
CTRACE_API uint64_t ctrace_sys_state_version(const char *json, size_t len);

/*
 * As ctrace_sys_replace_state(), but only if the state's version is still
 * `version`: the check and the replacement run on the server's thread
 * between two messages. Errors as ctrace_sys_replace_state(), plus
 * CTRACE_ESTALE (the state changed; nothing was replaced) and
 * CTRACE_EUNSUPPORTED without format_state. On success *new_json (if
 * `new_json` is not NULL) receives the new state as format_state writes it;
 * free it with ctrace_free().
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
 * Errors: CTRACE_EINVAL (the patch is not JSON, with where), CTRACE_ESTALE,
 * CTRACE_EUNSUPPORTED (format_state or replace_state missing), and
 * replace_state's refusals, which keep the old state. *new_json as in
 * ctrace_sys_replace_state_if().
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
 * Allocated; free with ctrace_free().
 */
CTRACE_API int ctrace_sys_get_status(uint64_t pid,
                                     uint32_t timeout_ms,
                                     char **json,
                                     struct ctrace_error *err);

/*
 * Suspends the server once it has finished the message in hand: it takes
 * no calls, casts or infos (they wait in the mailbox) but still answers
 * sys requests. Returns when it is suspended.
 */
CTRACE_API int
ctrace_sys_suspend(uint64_t pid, uint32_t timeout_ms, struct ctrace_error *err);
CTRACE_API int ctrace_sys_resume(uint64_t pid, struct ctrace_error *err);

/*
 * sys:trace: with `on`, writes a line to `fd` (-1: standard error) for
 * every message in, reply out and state change (when format_state
 * exists), like "*DBG* cat_traveler_srv got call {enter,...} from <0.9.0>".
 * Once a call with `on` false returns, nothing more is written to the old
 * fd. The "sent" line is written before the caller gets the reply.
 */
CTRACE_API int ctrace_sys_trace(uint64_t pid, bool on, int fd);

/*
 * sys:log: keeps the last `n` debug events (0 turns the log off and
 * forgets it; CTRACE_SYS_LOG_DEFAULT is sys's 10).
 */
#define CTRACE_SYS_LOG_DEFAULT 10
#define CTRACE_SYS_LOG_MAX     1000
CTRACE_API int ctrace_sys_log(uint64_t pid, unsigned n);
/* The log, oldest first, one "*DBG* ..." line per event, joined with
 * '\n' (no final one; "" when the log is off); allocated. */
CTRACE_API int ctrace_sys_log_get(uint64_t pid, char **text);
/* Writes the log to `fd`. */
CTRACE_API int ctrace_sys_log_print(uint64_t pid, int fd);

/* sys:statistics. */
struct ctrace_sys_stats {
    int64_t start_us;      /* when statistics were turned on (wall clock) */
    uint64_t messages_in;  /* calls, casts and infos taken from the mailbox */
    uint64_t messages_out; /* replies sent */
    uint64_t reductions;   /* CPU microseconds since statistics went on */
    uint64_t queue_len;    /* messages waiting now */
};
/* Turning statistics on (again) starts the counters from zero. */
CTRACE_API int ctrace_sys_statistics(uint64_t pid, bool on);
/* CTRACE_ENOTFOUND when statistics are off. */
CTRACE_API int ctrace_sys_statistics_get(uint64_t pid,
                                         struct ctrace_sys_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* CTRACE_SERVER_H */
