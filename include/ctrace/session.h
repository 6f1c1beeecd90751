/* SPDX-License-Identifier: MIT */
/*
 * Trace sessions: the safety contract of DESIGN.md section 4.
 *
 * A session is one or more trace specs (docs/patterns.md), a process
 * filter, limits, and a sink. Starting it arms the trace points its specs
 * select; the first limit reached stops it, and it always ends with a
 * reason the user can read: "msgs limit 10 reached", "calls limit 5
 * reached", "time limit 15000 ms reached", "rate limit 100/1000 ms
 * tripped", "queue overflow: consumer too slow", "stopped by user", "sink
 * failed: <errno text>".
 *
 * Events travel from traced threads through a bounded queue to a consumer
 * thread that the session owns; the consumer renders them into the sink. A
 * traced thread never blocks on a session and never allocates because of
 * it: when the queue is full the event is dropped, counted, and the session
 * trips with "queue overflow".
 *
 * Thread-safety: every function here may be called from any thread, and any
 * number of sessions may run at once, each with its own specs, filters,
 * limits and sink, while any number of threads are inside trace points. A
 * given session object must not be freed while another thread still uses
 * it.
 */
#ifndef CTRACE_SESSION_H
#define CTRACE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrace/error.h"
#include "ctrace/value.h"
#include "ctrace/version.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ctrace_session;

/* Which processes a session sees. */
enum ctrace_procs_filter {
    CTRACE_PROCS_ALL = 0,  /* every process (default) */
    CTRACE_PROCS_NEW,      /* processes that appear after the session starts */
    CTRACE_PROCS_EXISTING, /* processes that existed when it started */
    CTRACE_PROCS_PIDS      /* the pids and registered names listed */
};

/* How the text sink prints events. */
enum ctrace_format {
    CTRACE_FORMAT_REDBUG = 0, /* redbug's two-line events (default) */
    CTRACE_FORMAT_RECON,      /* recon_trace's one-line events */
    CTRACE_FORMAT_JSON        /* one JSON object per line (docs/formats.md) */
};

/* What an event reports. ABI: append only. */
enum ctrace_event_kind {
    CTRACE_EVENT_CALL = 0, /* a traced function was called */
    CTRACE_EVENT_RETURN,   /* it returned (`-> return`) */
    CTRACE_EVENT_SEND,     /* a process sent a message */
    CTRACE_EVENT_RECEIVE,  /* a process received one */
    CTRACE_EVENT_SPAWN,    /* process events (`procs`) */
    CTRACE_EVENT_EXIT,
    CTRACE_EVENT_REGISTER,
    CTRACE_EVENT_UNREGISTER,
    CTRACE_EVENT_LINK,
    CTRACE_EVENT_UNLINK
};

/* Why a session ended. ABI: append only. */
enum ctrace_stop_reason {
    CTRACE_STOP_RUNNING = 0, /* not stopped yet */
    CTRACE_STOP_MSGS,        /* msgs limit reached */
    CTRACE_STOP_TIME,        /* time limit reached */
    CTRACE_STOP_RATE,        /* rate limit tripped */
    CTRACE_STOP_QUEUE,       /* queue overflow: consumer too slow */
    CTRACE_STOP_USER,        /* ctrace_session_stop() */
    CTRACE_STOP_SINK,        /* the sink failed (write error) */
    CTRACE_STOP_CALLS,       /* calls limit reached */
    CTRACE_STOP_OVERHEAD     /* over max_overhead_pct for overhead_trip_ms */
};

/*
 * One event as a sink sees it, on the session's consumer thread. Every
 * pointer is valid only during the callback that receives the event.
 */
struct ctrace_event {
    uint32_t struct_size; /* sizeof(struct ctrace_event) of the library */
    enum ctrace_event_kind kind;
    uint64_t seq;         /* 1, 2, ... within the session */
    int64_t time_us;      /* wall clock, microseconds since the epoch */
    uint64_t duration_ns; /* RETURN: time since the matching call */
    uint64_t pid;         /* N of the process <0.N.0> */
    /* The registered name or initial call when the event happened, or
       NULL. */
    const char *process;
    /* RETURN and EXIT only: the process had ended when this was printed. */
    bool dead;
    const char *module; /* CALL and RETURN: the trace point */
    const char *function;
    unsigned arity;
    const struct ctrace_value *args; /* CALL: `nargs` argument values */
    size_t nargs;
    const struct ctrace_value *result; /* RETURN: the value, or NULL (`?`) */
    const char *const *stack; /* CALL with `stack`: frames, innermost first */
    size_t stack_len;
    const char *caller; /* CALL with `caller`: the calling function */
    /* SEND and RECEIVE: the message; SEND: the receiving process. */
    const struct ctrace_value *message;
    uint64_t peer_pid;
    const char *peer; /* the peer's registered name or initial call */
    /* SPAWN: the new process (peer_pid) and its initial call (peer);
       EXIT: the exit reason; REGISTER/UNREGISTER: the name;
       LINK/UNLINK: the other process (peer_pid). */
    const char *reason;
    const char *name;
    /*
     * CALL with `dump`: what was known of the calling process at the call,
     * one "key: value" per line (pid, label, thread, status), or NULL.
     */
    const char *dump;
};

/* Receives each event of a session, in order, on its consumer thread. */
typedef void (*ctrace_event_cb)(const struct ctrace_event *event, void *arg);

/* Options of a session. Fill with ctrace_session_opts_init() first. */
struct ctrace_session_opts {
    uint32_t time_ms;      /* stop after this long; default 15000 */
    uint32_t msgs;         /* stop after this many events of any kind:
                              calls, returns, process events (redbug's
                              msgs: a call and its return are two);
                              0 = no msgs limit; default 10 */
    uint32_t calls;        /* stop after this many calls and process events;
                              their returns do not count and are still
                              delivered if they come within 200 ms of the
                              last call; 0 = none (default) */
    uint32_t rate_count;   /* trip when more than rate_count events ... */
    uint32_t rate_ms;      /* ... fall in one window of rate_ms; 0 = off */
    uint32_t max_queue;    /* events waiting for the consumer; default 1000 */
    uint32_t max_msg_size; /* bytes kept of a string argument; default 256 */
    uint32_t print_depth;  /* nesting printed; 0 = all (default) */
    enum ctrace_procs_filter procs;
    const uint64_t *pids; /* CTRACE_PROCS_PIDS: the process numbers */
    size_t npids;
    /* CTRACE_PROCS_PIDS: registered names too, looked up at start. */
    const char *const *names;
    size_t nnames;
    /*
     * Allow a selection that could hurt the service: no limit that ends it
     * (time_ms, msgs and calls all 0), or every trace point of the program
     * for every process.
     */
    bool force;
    /* The sink: a callback, or a file descriptor for text, or both. */
    ctrace_event_cb on_event;
    void *arg;
    int fd; /* -1 for none (default); the caller keeps it open */
    /*
     * Or a file the session opens for appending (created 0644) and closes
     * when it ends; NULL for none (default). Not together with `fd`.
     */
    const char *path;
    enum ctrace_format format;
    bool timestamps_ms; /* print milliseconds instead of microseconds */
    /*
     * The most the session may cost the service, in percent of the CPU
     * time the process's CPUs offer (its consumer's rendering and writing,
     * plus the traced threads' recording, measured as it runs). Over it,
     * new calls are shed (dropped and counted in `dropped` and `shed`)
     * until the cost is back under it. 1 to 100; 100 never sheds.
     * Default 20. A session that cannot get back under it stops: see
     * `overhead_trip_ms`.
     */
    uint32_t max_overhead_pct;
    /*
     * Called once on the session's consumer thread when the session has
     * stopped, whatever stopped it, after its final line was written: the
     * place to report a stop the program did not ask for (a full disk
     * under the sink) when it happens. NULL for none (default). It may
     * read the session (stats, reason) but not stop, wait for or free it.
     */
    void (*on_stop)(struct ctrace_session *session, void *arg);
    /*
     * A session that has shed calls for this long, with no pause of 250
     * ms or more in which none was shed, is a storm that shedding only
     * thins out (over the budget while no call comes sheds nothing and
     * does not count): it stops with CTRACE_STOP_OVERHEAD ("overhead budget 20%
     * exceeded for 1000 ms"). A session only briefly over its budget sheds
     * and recovers. 0: shed for as long as it runs. Default 1000.
     */
    uint32_t overhead_trip_ms;
};

/*
 * Sets the defaults described in struct ctrace_session_opts. NULL is a
 * no-op.
 * Thread-safety: any thread.
 */
CTRACE_API void ctrace_session_opts_init(struct ctrace_session_opts *opts);

/* What a session did, for reports and for its final line. */
struct ctrace_session_stats {
    enum ctrace_stop_reason reason;
    uint64_t events;       /* events delivered to the sink */
    uint64_t dropped;      /* events lost to a full queue, or shed */
    unsigned points_armed; /* trace points the specs selected */
    uint64_t shed;  /* of `dropped`: shed to stay under max_overhead_pct */
    int sink_errno; /* the errno of a failed sink, or 0 */
};

/*
 * Starts a session with `nspecs` trace specs (docs/patterns.md) and
 * `opts` (NULL for the defaults: 15 s, 10 events, every process, no sink).
 * Returns the running session, or NULL with `err` filled:
 * - CTRACE_ESYNTAX and the other pattern errors: a spec does not parse;
 *   the text starts with "spec N: " when there are several, and the
 *   column is the column inside that spec;
 * - CTRACE_ENOMATCH: a spec selects no trace point ("no trace point
 *   matches cat_travler:enter/2; did you mean cat_traveler:enter/2?");
 * - CTRACE_ETOOBROAD: a selection that could hurt the service without
 *   `force` (a wildcard module for every process, or no time, no msgs and
 *   no calls limit: nothing that would end the session);
 * - CTRACE_EINVAL: an option out of range (the text names it);
 * - CTRACE_ELIMIT: too many sessions at once, or the memory cap for all
 *   sessions together would be passed;
 * - CTRACE_ENOPROC: a name in `names` that no process is registered as;
 * - CTRACE_ENOMEM, or -errno when the consumer thread cannot start.
 * The callback in `opts`, if any, is never called when starting fails.
 * Free the session with ctrace_session_free().
 * Thread-safety: any thread.
 */
CTRACE_API struct ctrace_session *
ctrace_session_start(const char *const *specs,
                     size_t nspecs,
                     const struct ctrace_session_opts *opts,
                     struct ctrace_error *err);

/*
 * Waits until the session has stopped, for at most `timeout_ms` (negative:
 * no limit). Returns 0 once it has stopped, or -ETIMEDOUT.
 * Thread-safety: any thread, but not from the session's own callback.
 */
CTRACE_API int ctrace_session_wait(struct ctrace_session *s, int timeout_ms);

/*
 * Stops the session ("stopped by user") unless a limit stopped it first,
 * and waits until its last event was delivered and its final line written.
 * Returns 0, also when it had already stopped.
 * Thread-safety: any thread, but not from the session's own callback.
 */
CTRACE_API int ctrace_session_stop(struct ctrace_session *s);

/*
 * Copies the session's counters and stop reason (CTRACE_STOP_RUNNING while
 * it runs) into `stats`.
 * Thread-safety: any thread.
 */
CTRACE_API void ctrace_session_stats(const struct ctrace_session *s,
                                     struct ctrace_session_stats *stats);

/*
 * The stop reason as users read it: "msgs limit 10 reached", or "running".
 * The string lives as long as the session.
 * Thread-safety: any thread.
 */
CTRACE_API const char *ctrace_session_reason(const struct ctrace_session *s);

/*
 * Stops the session if it still runs, waits for it, and frees it. NULL is
 * a no-op.
 * Thread-safety: any thread, once per session, not from its own callback.
 */
CTRACE_API void ctrace_session_free(struct ctrace_session *s);

#ifdef __cplusplus
}
#endif

#endif /* CTRACE_SESSION_H */
