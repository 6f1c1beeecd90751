/* SPDX-License-Identifier: MIT */
/*
 * Processes: the unit ctrace filters and reports by, as Erlang's tools do
 * (docs/processes-and-servers.md). A request handled as a process of its
 * own, found by name while it runs and still known after it ended:
 *
 *     #include <assert.h>
 *     #include <string.h>
 *     #include "ctrace/ctrace.h"
 *
 *     int main(void)
 *     {
 *         uint64_t thread = ctrace_self();
 *         uint64_t req = ctrace_proc_begin("cat_web:handle/1");
 *         int rc = ctrace_register("tihon_req", 0);
 *         assert(req != 0 && rc == 0 && ctrace_self() == req);
 *         assert(ctrace_whereis("tihon_req") == req);
 *         rc = ctrace_proc_end("done");
 *         assert(rc == 0 && ctrace_self() == thread);
 *         assert(ctrace_whereis("tihon_req") == 0);
 *         struct ctrace_proc_info info;
 *         rc = ctrace_proc_info(req, &info);
 *         assert(rc == 0 && info.status == CTRACE_PROC_DEAD);
 *         assert(info.parent == thread);
 *         assert(strcmp(info.exit_reason, "done") == 0);
 *         return 0;
 *     }
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
 * Nothing here hands out a pointer into the table: information is copied
 * into structs the caller provides, and strings passed in are copied (cut
 * to the sizes below), so the caller keeps them and may free them at once.
 *
 * Thread-safety: every function may be called from any thread, including
 * from server callbacks; those that act on "the calling process" act on
 * the calling thread's current one. None is async-signal-safe but the two
 * that name enum values: the others take the process table's lock, and
 * the first call on a thread allocates its record.
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
/* How many dead processes stay visible, and for how long at most: past
 * either, the oldest are forgotten and ctrace_proc_info() says
 * CTRACE_ENOPROC for them. */
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

/*
 * Everything the table knows about one process, as ctrace_proc_info() and
 * ctrace_proc_list() copy it: a snapshot, with no pointers into the table,
 * that stays valid for as long as the caller keeps it. Every string is
 * NUL-terminated, "" when unknown.
 */
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

/* An exit of a linked process, as the other end of the link learns it: a
 * copy, owned by whoever holds it. */
struct ctrace_exit_notice {
    uint64_t pid; /* the process that ended */
    char reason[CTRACE_PROC_TEXT_MAX + 1];
};

/* One row of a ranking: recon's {Pid, Value, [Name, Current, Initial]}. A
 * copy; `name`, `label`, `initial_call` and `current` are "" when unknown
 * (`current` also for a process that died before its row was filled). */
struct ctrace_proc_rank {
    uint64_t pid;
    uint64_t value; /* the attribute now, or its growth over the window */
    char name[CTRACE_PROC_NAME_MAX + 1];
    char label[CTRACE_PROC_TEXT_MAX + 1];
    char initial_call[CTRACE_PROC_TEXT_MAX + 1];
    char current[CTRACE_PROC_TEXT_MAX + 1];
};

/*
 * The calling process's pid: the explicit process the thread runs, if any,
 * else its implicit one, made now if the thread has none. Returns 0 only
 * when memory ran out for the thread's record or process. After the first
 * call on a thread it is one thread-local and one atomic load.
 * Thread-safety: any thread, for itself.
 */
CTRACE_API uint64_t ctrace_self(void);

/*
 * Names the calling thread: the name (copied, cut to 31 bytes; NULL or ""
 * removes it) labels its implicit process in events and listings in place
 * of its initial call. A registered name (ctrace_register()) still comes
 * first, and an explicit process running on the thread keeps its own
 * label. Does nothing when memory ran out for the thread's record.
 * Thread-safety: any thread, for itself.
 */
CTRACE_API void ctrace_thread_set_name(const char *name);

/*
 * Begins a short-lived process on the calling thread, child of the
 * thread's current process (its `parent`), with `initial_call`
 * ("module:function/arity", copied, cut to CTRACE_PROC_TEXT_MAX bytes;
 * NULL means ""). Until the matching ctrace_proc_end() the thread's events
 * carry the new pid, the thread's CPU time counts as its reductions, and
 * the thread's implicit process (not a server's) is left out of listings
 * and rankings. Begins
 * nest. Sessions tracing `procs` see a spawn event. Returns the pid, or 0
 * when memory ran out (the thread then stays in its current process, and
 * there is nothing to end). A process still running when its thread exits
 * ends with the reason "thread exited".
 * Thread-safety: any thread, for itself; end it on the same thread.
 */
CTRACE_API uint64_t ctrace_proc_begin(const char *initial_call);

/*
 * Ends the process begun last on the calling thread with `reason` (copied,
 * cut to CTRACE_PROC_TEXT_MAX bytes; NULL means "normal"): its name is
 * unregistered, its links are told (a server through handle_info, another
 * process through ctrace_proc_exits()), and it stays visible as dead for a
 * while (CTRACE_PROC_DEAD_KEEP, CTRACE_PROC_DEAD_MS). The thread is back in
 * the process it ran before. Returns 0, or CTRACE_ENOTFOUND when the
 * thread's current process was not begun with ctrace_proc_begin().
 * Thread-safety: any thread, for the process it began itself.
 */
CTRACE_API int ctrace_proc_end(const char *reason);

/*
 * Registers `pid` (0: the calling process) under `name` (copied; 1 to
 * CTRACE_PROC_NAME_MAX bytes of letters, digits, '_', '.', '-' and '@',
 * not starting with a digit, which would read as a pid). A process has at
 * most one name; it labels the process in events and listings, and goes
 * when the process ends or ctrace_unregister() removes it. Sessions tracing
 * `procs` see a register event. Returns 0, or:
 * - CTRACE_EINVAL: `name` is NULL or not such a name (checked first);
 * - CTRACE_ENOMEM: `pid` is 0 and the calling thread has no process for
 *   lack of memory;
 * - CTRACE_ENOPROC: no live process has `pid`;
 * - -EEXIST: a live process holds the name, or the process has a name
 *   already (the same one included).
 * Thread-safety: any thread, for any process.
 */
CTRACE_API int ctrace_register(const char *name, uint64_t pid);

/*
 * Removes a registered name, whichever process holds it; sessions tracing
 * `procs` see an unregister event. Returns 0, or CTRACE_ENOTFOUND when no
 * live process holds `name` (NULL included).
 * Thread-safety: any thread.
 */
CTRACE_API int ctrace_unregister(const char *name);

/*
 * The live process registered under `name`, or 0 (none, or `name` NULL).
 * The process may end right after the call: the answer is a pid, not a
 * hold on the process.
 * Thread-safety: any thread.
 */
CTRACE_API uint64_t ctrace_whereis(const char *name);

/*
 * Links the calling process with `pid`, both ways: when either ends, the
 * other is told (a server through handle_info with CTRACE_MSG_EXIT; any
 * other process through ctrace_proc_exits()) and the link goes. Unlike
 * Erlang's, a link never ends the other process. Sessions tracing `procs`
 * see a link event. Returns 0 (also, changing nothing, when the two are
 * linked already or `pid` is the calling process), or:
 * - CTRACE_ENOPROC: no live process has `pid`;
 * - CTRACE_ELIMIT: either end has CTRACE_PROC_LINKS_MAX links already;
 * - CTRACE_ENOMEM: the calling thread has no process for lack of memory.
 * Thread-safety: any thread, for itself.
 */
CTRACE_API int ctrace_link(uint64_t pid);

/*
 * Removes the link between the calling process and `pid`, on both ends,
 * without telling either; sessions tracing `procs` see an unlink event.
 * Returns 0, also when there was no such link or no such process, or
 * CTRACE_ENOMEM when the calling thread has no record for lack of memory.
 * Thread-safety: any thread, for itself.
 */
CTRACE_API int ctrace_unlink(uint64_t pid);

/*
 * Takes up to `cap` pending exit notices of the calling process, oldest
 * first, copying them into `out` (room for `cap`), and returns how many it
 * took (0 when `out` is NULL). Taken notices are gone; the rest wait for
 * the next call. At most CTRACE_PROC_NOTICES_MAX are kept; older ones are
 * dropped when more arrive, and a notice is lost when memory for the
 * first one runs out. Servers get theirs through handle_info instead.
 * Thread-safety: any thread, for itself.
 */
CTRACE_API size_t ctrace_proc_exits(struct ctrace_exit_notice *out, size_t cap);

/*
 * Adds `delta` bytes (negative to give back) to the memory attributed to
 * the calling process: what it holds that ctrace cannot see. The memory
 * attribute never reads below 0, whatever is given back. Accounting ends
 * with the process: an explicit process's bytes are not the thread's. One
 * atomic add; nothing happens when the thread has no process.
 * Thread-safety: any thread, for itself.
 */
CTRACE_API void ctrace_proc_account(int64_t delta);

/*
 * Fills `out` for `pid`, alive or dead (a snapshot: see struct
 * ctrace_proc_info). `current` names the last trace point the process
 * passed, "" when dead or when that point's module was unloaded. Returns
 * 0, or CTRACE_EINVAL when `out` is NULL, or CTRACE_ENOPROC when the table
 * does not know the pid (never existed, or dead and forgotten). On error
 * `out` is left as it was.
 * Thread-safety: any thread.
 */
CTRACE_API int ctrace_proc_info(uint64_t pid, struct ctrace_proc_info *out);

/*
 * Reads a process reference as users write it: "<0.5.0>", "5" or a
 * registered name, exactly (no spaces, no sign; N from 1). Returns 0 with
 * `*pid` set, or:
 * - CTRACE_EINVAL: `text` or `pid` is NULL, or the text is none of these;
 * - CTRACE_ENOPROC: the text is a name that no live process holds.
 * A pid written as a number is not checked: it may name no process. On
 * error `*pid` is left as it was.
 * Thread-safety: any thread.
 */
CTRACE_API int ctrace_proc_parse(const char *text, uint64_t *pid);

/*
 * Copies up to `cap` processes into `out`, live ones in pid order and then,
 * with `dead`, the dead ones kept, oldest death first; returns how many
 * there are in all, which may be more than `cap` (call with cap 0 or out
 * NULL to size the array; processes may come and go before the next
 * call). A thread's own process is left out while an explicit process runs
 * on its thread. Rows are snapshots (struct ctrace_proc_info); `current`
 * is "" when memory to name the points ran out.
 * Thread-safety: any thread.
 */
CTRACE_API size_t ctrace_proc_list(struct ctrace_proc_info *out,
                                   size_t cap,
                                   bool dead);

/*
 * recon:proc_count: the `n` live processes with the highest `attr` now,
 * highest first (on a tie, the lower pid first), into `out` (room for
 * `n`); `*nout` is how many were found, fewer than `n` when fewer
 * processes live. Processes left out of ctrace_proc_list() are left out
 * here too. Costs one pass over the live processes with a bounded top-n
 * heap: O(P log n) time and O(n) memory, plus one clock read per process
 * for reductions. Returns 0, or CTRACE_EINVAL for an unknown attribute,
 * n == 0, or `out` or `nout` NULL, or CTRACE_ENOMEM; on error `*nout` is 0
 * (when `nout` is not NULL).
 * Thread-safety: any thread.
 */
CTRACE_API int ctrace_proc_count(enum ctrace_proc_attr attr,
                                 size_t n,
                                 struct ctrace_proc_rank *out,
                                 size_t *nout);

/*
 * recon:proc_window: samples `attr` of every live process, sleeps `ms`
 * milliseconds, samples again, and ranks by growth over the window, as
 * ctrace_proc_count() ranks (a value that shrank counts as 0); a process
 * born during the window counts from 0, one that died is left out. Costs
 * two passes and 16 bytes per live process for the first sample; no lock
 * is held while it sleeps. Returns 0, or CTRACE_EINVAL for a bad
 * attribute, n == 0, ms == 0, or `out` or `nout` NULL, or CTRACE_ENOMEM;
 * on error `*nout` is 0 (when `nout` is not NULL).
 * Thread-safety: any thread; it blocks the calling thread for `ms`, so a
 * server callback that calls it stalls its server that long.
 */
CTRACE_API int ctrace_proc_window(enum ctrace_proc_attr attr,
                                  size_t n,
                                  uint32_t ms,
                                  struct ctrace_proc_rank *out,
                                  size_t *nout);

/*
 * "memory", "reductions" or "message_queue_len"; "unknown" for a value
 * that is no attribute. A static string: never NULL, never freed.
 * Thread-safety: any thread; async-signal-safe.
 */
CTRACE_API const char *ctrace_proc_attr_name(enum ctrace_proc_attr attr);

/*
 * The reverse of ctrace_proc_attr_name(), for the exact names only: sets
 * `*attr` and returns 0, or returns CTRACE_EINVAL when `text` or `attr` is
 * NULL or `text` names no attribute (`*attr` left as it was).
 * Thread-safety: any thread.
 */
CTRACE_API int ctrace_proc_attr_parse(const char *text,
                                      enum ctrace_proc_attr *attr);

/*
 * "running", "waiting", "suspended" or "dead"; "unknown" for a value that
 * is no status. A static string: never NULL, never freed.
 * Thread-safety: any thread; async-signal-safe.
 */
CTRACE_API const char *ctrace_proc_status_name(enum ctrace_proc_status s);

#ifdef __cplusplus
}
#endif

#endif /* CTRACE_PROC_H */
