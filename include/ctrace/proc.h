/* SPDX-License-Identifier: MIT */
/*
 * Processes: the unit ctrace filters and reports by, as Erlang's tools do
 * (docs/processes-and-servers.md).
 *
 * A process has a pid (N of <0.N.0>, never reused while the program runs),
 * an optional registered name, an initial call, a parent, a status and the
 * ranking attributes below. There are three kinds:
 * - the implicit process of a thread, made the first time the thread
 *   reaches an armed trace point or calls a function of this header, and
 *   ended when the thread exits;
 * - an explicit, short-lived process that a thread runs for a piece of
 *   work (a request): ctrace_proc_begin() ... ctrace_proc_end(); while it
 *   runs, everything the thread does is attributed to it;
 * - a server (server.h), the implicit process of the server's thread.
 *
 * Ranking attributes, each something a C user can check:
 * - memory: bytes ctrace holds for the process (its table entry, and for a
 *   server the messages waiting in its mailbox) plus the bytes the process
 *   reported with ctrace_proc_account();
 * - reductions: CPU time the process used, in microseconds: one reduction
 *   is one microsecond of CPU time of its thread, as
 *   clock_gettime(CLOCK_THREAD_CPUTIME_ID) counts it (for an explicit
 *   process, only while it was the thread's current process);
 * - message_queue_len: messages waiting in a server's mailbox; 0 for
 *   processes that are not servers.
 *
 * Dead processes stay in the table for CTRACE_PROC_DEAD_MS, the
 * CTRACE_PROC_DEAD_KEEP most recent of them, so that output can say
 * "(dead)" and ctrace_proc_info() can say how a process ended.
 *
 * Thread-safety: every function may be called from any thread; those that
 * act on "the calling process" act on the calling thread's current one.
 */
#ifndef CTRACE_PROC_H
#define CTRACE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrace/error.h"
#include "ctrace/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest registered name, in bytes, without the final NUL. */
#define CTRACE_PROC_NAME_MAX 63
/* Longest initial call, exit reason or label kept, without the NUL. */
#define CTRACE_PROC_TEXT_MAX 127
/* Most links one process holds. */
#define CTRACE_PROC_LINKS_MAX 16
/* Exit notices kept for a linked process that is not a server. */
#define CTRACE_PROC_NOTICES_MAX 8
/* How many dead processes stay visible, and for how long at most. */
#define CTRACE_PROC_DEAD_KEEP 256
#define CTRACE_PROC_DEAD_MS   60000

enum ctrace_proc_kind {
    CTRACE_PROC_THREAD = 0, /* the implicit process of a thread */
    CTRACE_PROC_EXPLICIT,   /* ctrace_proc_begin() ... ctrace_proc_end() */
    CTRACE_PROC_SERVER      /* a ctrace_server's thread */
};

enum ctrace_proc_status {
    CTRACE_PROC_RUNNING = 0, /* doing work */
    CTRACE_PROC_WAITING,     /* a server with an empty mailbox, or a
                                caller waiting for a server's reply */
    CTRACE_PROC_SUSPENDED,   /* a server suspended by ctrace_sys_suspend() */
    CTRACE_PROC_DEAD         /* ended; kept for a while */
};

enum ctrace_proc_attr {
    CTRACE_ATTR_MEMORY = 0,
    CTRACE_ATTR_REDUCTIONS,
    CTRACE_ATTR_MESSAGE_QUEUE_LEN
};

/* Everything the table knows about one process. */
struct ctrace_proc_info {
    uint64_t pid;
    uint64_t parent; /* the process that began this one; 0 for none */
    enum ctrace_proc_kind kind;
    enum ctrace_proc_status status;
    char name[CTRACE_PROC_NAME_MAX + 1];         /* registered, or "" */
    char initial_call[CTRACE_PROC_TEXT_MAX + 1]; /* "m:f/a", or "" */
    char label[CTRACE_PROC_TEXT_MAX + 1];        /* what output shows */
    char current[CTRACE_PROC_TEXT_MAX + 1];      /* last trace point */
    char exit_reason[CTRACE_PROC_TEXT_MAX + 1];  /* dead: how it ended */
    int64_t start_us; /* wall clock, microseconds since the epoch */
    int64_t end_us;   /* dead: when it ended; 0 while alive */
    int tid;          /* the thread running it */
    uint64_t memory;
    uint64_t reductions;
    uint64_t message_queue_len;
    size_t nlinks;
    uint64_t links[CTRACE_PROC_LINKS_MAX];
};

/* An exit of a linked process, as the other end of the link learns it. */
struct ctrace_exit_notice {
    uint64_t pid; /* the process that ended */
    char reason[CTRACE_PROC_TEXT_MAX + 1];
};

/* One row of a ranking: recon's {Pid, Value, [Name, Current, Initial]}. */
struct ctrace_proc_rank {
    uint64_t pid;
    uint64_t value; /* the attribute now, or its growth over the window */
    char name[CTRACE_PROC_NAME_MAX + 1];
    char label[CTRACE_PROC_TEXT_MAX + 1];
    char initial_call[CTRACE_PROC_TEXT_MAX + 1];
    char current[CTRACE_PROC_TEXT_MAX + 1];
};

/*
 * The calling process's pid, giving the thread its implicit process if it
 * has none; 0 only when memory ran out.
 * Thread-safety: any thread, for itself.
 */
CTRACE_API uint64_t ctrace_self(void);

/*
 * Names the calling thread; the name labels its implicit process's events
 * in place of its initial call (cut to 31 bytes; NULL or "" removes it).
 * Thread-safety: any thread, for itself.
 */
CTRACE_API void ctrace_thread_set_name(const char *name);

/*
 * Begins a short-lived process on the calling thread, child of the
 * thread's current process, with `initial_call` ("module:function/arity",
 * cut to CTRACE_PROC_TEXT_MAX bytes). Until the matching ctrace_proc_end()
 * the thread's events carry the new pid. Begins nest. Returns the pid, or
 * 0 when memory ran out (the thread then stays in its current process).
 */
CTRACE_API uint64_t ctrace_proc_begin(const char *initial_call);

/*
 * Ends the process begun last on the calling thread with `reason` (NULL
 * means "normal"): its names are unregistered, its links told, and it
 * stays visible as dead for a while. Returns 0, or CTRACE_ENOTFOUND when
 * the thread has no process begun with ctrace_proc_begin().
 */
CTRACE_API int ctrace_proc_end(const char *reason);

/*
 * Registers `pid` (0: the calling process) under `name` (1 to
 * CTRACE_PROC_NAME_MAX bytes of letters, digits, '_', '.', '-' and '@',
 * not starting with a digit, which would read as a pid).
 * A process has at most one name. Returns 0, or -EEXIST when the name is
 * taken or the process has a name already, CTRACE_ENOPROC when the pid is
 * not alive, CTRACE_EINVAL for a bad name.
 */
CTRACE_API int ctrace_register(const char *name, uint64_t pid);

/* Removes a registered name. Returns 0 or CTRACE_ENOTFOUND. */
CTRACE_API int ctrace_unregister(const char *name);

/* The live process registered under `name`, or 0. */
CTRACE_API uint64_t ctrace_whereis(const char *name);

/*
 * Links the calling process with `pid`: when either ends, the other is
 * told (a server through handle_info with CTRACE_MSG_EXIT; any other
 * process through ctrace_proc_exits()). Linking a dead or unknown pid
 * fails with CTRACE_ENOPROC; a full link set with CTRACE_ELIMIT.
 */
CTRACE_API int ctrace_link(uint64_t pid);
CTRACE_API int ctrace_unlink(uint64_t pid);

/*
 * Takes up to `cap` pending exit notices of the calling process, oldest
 * first, and returns how many it took. At most CTRACE_PROC_NOTICES_MAX are
 * kept; older ones are dropped when more arrive.
 */
CTRACE_API size_t ctrace_proc_exits(struct ctrace_exit_notice *out, size_t cap);

/*
 * Adds `delta` bytes (negative to give back) to the memory attributed to
 * the calling process: what it holds that ctrace cannot see.
 */
CTRACE_API void ctrace_proc_account(int64_t delta);

/*
 * Fills `out` for `pid`, alive or dead. Returns 0, or CTRACE_ENOPROC when
 * the table does not know the pid (never existed, or dead and forgotten).
 */
CTRACE_API int ctrace_proc_info(uint64_t pid, struct ctrace_proc_info *out);

/*
 * Reads a process reference as users write it: "<0.5.0>", "5" or a
 * registered name. Returns 0 with `*pid` set, CTRACE_EINVAL for text that
 * is neither, or CTRACE_ENOPROC for a name nobody holds.
 */
CTRACE_API int ctrace_proc_parse(const char *text, uint64_t *pid);

/*
 * Copies up to `cap` processes into `out`, live ones in pid order and then,
 * with `dead`, the dead ones kept; returns how many there are in all (call
 * with cap 0 to size the array).
 */
CTRACE_API size_t ctrace_proc_list(struct ctrace_proc_info *out,
                                   size_t cap,
                                   bool dead);

/*
 * recon:proc_count: the `n` live processes with the highest `attr` now,
 * highest first, into `out` (room for `n`); `*nout` is how many were found.
 * Costs one pass over the live processes with a bounded top-n heap: O(P log
 * n) time and O(n) memory, plus one clock read per process for reductions.
 * Returns 0 or CTRACE_EINVAL for an unknown attribute or n == 0.
 */
CTRACE_API int ctrace_proc_count(enum ctrace_proc_attr attr,
                                 size_t n,
                                 struct ctrace_proc_rank *out,
                                 size_t *nout);

/*
 * recon:proc_window: samples `attr` of every live process, sleeps `ms`
 * milliseconds, samples again, and ranks by growth over the window; a
 * process born during the window counts from 0, one that died is left out.
 * Costs two passes and 16 bytes per live process for the first sample.
 * Returns 0, CTRACE_EINVAL for a bad attribute or n == 0 or ms == 0, or
 * CTRACE_ENOMEM.
 */
CTRACE_API int ctrace_proc_window(enum ctrace_proc_attr attr,
                                  size_t n,
                                  uint32_t ms,
                                  struct ctrace_proc_rank *out,
                                  size_t *nout);

/* "memory", "reductions", "message_queue_len". */
CTRACE_API const char *ctrace_proc_attr_name(enum ctrace_proc_attr attr);
/* The reverse; returns 0 or CTRACE_EINVAL. */
CTRACE_API int ctrace_proc_attr_parse(const char *text,
                                      enum ctrace_proc_attr *attr);
/* "running", "waiting", "suspended", "dead". */
CTRACE_API const char *ctrace_proc_status_name(enum ctrace_proc_status s);

#ifdef __cplusplus
}
#endif

#endif /* CTRACE_PROC_H */
