/* SPDX-License-Identifier: MIT */
/*
 * Captures: trace sessions for unit tests. Start a capture with a spec, run
 * the code under test, stop it, then walk or assert on the calls, arguments,
 * return values and order it saw, the way Erlang tests use meck's history
 * or a dbg tracer that sends every event to the test process:
 *
 *     struct ctrace_capture *cap =
 *         ctrace_capture_start("cat_counter:add -> return", NULL);
 *     cat_counter_add("Tihon", 2);
 *     assert_int_equal(ctrace_capture_stop(cap), 0);
 *     char *t = ctrace_capture_transcript(cap);
 *     assert_string_equal(t, "cat_counter:add(\"Tihon\", 2)\n"
 *                            "cat_counter:add/2 -> 2\n");
 *     ctrace_free(t);
 *     ctrace_capture_free(cap);
 *
 * A capture is a session (ctrace/session.h) with a callback sink that
 * deep-copies every event into the capture's own memory, so arguments
 * outlive the buffers of the traced call. Specs mean exactly what they mean
 * to sessions (docs/patterns.md): returns are only seen with `-> return`.
 * Unlike a session, a capture has no time limit and no msgs limit of its
 * own (it is started with `force`): it runs until ctrace_capture_stop().
 * What bounds it instead is `max_events` (events kept) and `max_queue`
 * (events traced threads may get ahead of the copying): past either, events
 * are lost, counted, and ctrace_capture_stop() says so.
 *
 * Events are kept in the order the session delivered them, which is the
 * order of the calls on any one thread; calls on different threads are
 * ordered as they reached the session's queue.
 *
 * Code compiled with CTRACE_DISABLE has no trace points, and a capture of
 * it sees nothing (a spec that selects no point is refused at start).
 *
 * Thread-safety: every function here may be called from any thread, also
 * while traced threads run and while the capture runs, except where a
 * function says otherwise; ctrace_capture_free() must be the last use of a
 * capture.
 */
#ifndef CTRACE_CAPTURE_H
#define CTRACE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrace/error.h"
#include "ctrace/session.h"
#include "ctrace/value.h"
#include "ctrace/version.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ctrace_capture;

/* Options of a capture. Fill with ctrace_capture_opts_init() first. */
struct ctrace_capture_opts {
    /*
     * See only the calls made by the thread that starts the capture (its
     * process, ctrace_self()): calls of other threads, such as workers
     * of a library the test does not look at, are not captured. Default
     * false: every thread.
     */
    bool only_this_thread;
    /*
     * Most events (calls and returns) kept, 1 or more; default 100000.
     * Events past it are lost and counted.
     */
    uint32_t max_events;
    /*
     * Events traced threads may be ahead of the copying, 1 to 1048576;
     * default 8192. A burst of more calls than this, faster than the
     * capture copies them (about a microsecond each), loses the rest. The
     * queue is reserved at start and counts against the cap on the memory
     * of all sessions together (256 MiB): about 2.6 KiB an event at the
     * default max_msg_size, 21 MiB for 8192, so a dozen default captures
     * can run at once.
     */
    uint32_t max_queue;
    /* Bytes kept of one string or byte argument, 1 to 65536; default 256.
       A longer one is cut and shows `...` in the text. */
    uint32_t max_msg_size;
};

/*
 * Sets the defaults described in struct ctrace_capture_opts. NULL is a
 * no-op.
 * Thread-safety: any thread.
 */
CTRACE_API void ctrace_capture_opts_init(struct ctrace_capture_opts *opts);

/*
 * Starts capturing the calls that `spec` selects (docs/patterns.md), from
 * every thread, with the default options. Returns the running capture, or
 * NULL with `err` filled as ctrace_session_start() fills it: a spec that
 * does not parse gives CTRACE_ESYNTAX (or another pattern error) with the
 * 1-based column; a spec that selects no trace point gives CTRACE_ENOMATCH
 * with the closest names; CTRACE_ELIMIT when too many sessions run or their
 * memory cap would be passed; CTRACE_ENOMEM. `err` may be NULL.
 * Free the capture with ctrace_capture_free().
 * Thread-safety: any thread.
 */
CTRACE_API struct ctrace_capture *
ctrace_capture_start(const char *spec, struct ctrace_error *err);

/*
 * Starts capturing the calls that any of the `nspecs` specs selects, with
 * `opts` (NULL for the defaults). Errors are those of
 * ctrace_capture_start(); with several specs the error text starts with
 * "spec N: ". CTRACE_EINVAL names an option out of range.
 * Thread-safety: any thread.
 */
CTRACE_API struct ctrace_capture *
ctrace_capture_start_opts(const char *const *specs,
                          size_t nspecs,
                          const struct ctrace_capture_opts *opts,
                          struct ctrace_error *err);

/*
 * Stops the capture. When it returns, every event of the calls that
 * completed before it was called is in the capture (a call still running
 * on another thread may be missing its return), nothing more is added, and
 * the session's queue is freed. Returns:
 * - 0: nothing was lost;
 * - CTRACE_ENOMEM: copying some event ran out of memory;
 * - CTRACE_ELIMIT: events were lost to `max_events` or `max_queue`.
 * In both failure cases the events kept are still readable, with gaps
 * where events were lost, and ctrace_capture_lost() says how many. Calling
 * it again returns the same code.
 * Thread-safety: any thread.
 */
CTRACE_API int ctrace_capture_stop(struct ctrace_capture *c);

/*
 * The number of events lost so far: not kept for lack of memory, refused
 * past `max_events`, or dropped by the session's full queue. The capture
 * stops tracing at the first call past `max_events`, so once that limit is
 * hit this counts what reached the capture, not every later call.
 * Thread-safety: any thread.
 */
CTRACE_API uint64_t ctrace_capture_lost(const struct ctrace_capture *c);

/*
 * The number of events kept so far. While the capture runs this grows as
 * the session delivers events, which may trail the calls themselves; after
 * ctrace_capture_stop() it is final.
 * Thread-safety: any thread.
 */
CTRACE_API size_t ctrace_capture_count(const struct ctrace_capture *c);

/*
 * Event `i` (0-based, in delivery order), or NULL when `i` is out of range.
 * Borrowed: the event and everything it points to (names, arguments,
 * result, nested values, stack frames) belong to the capture and stay
 * valid, unchanged, until ctrace_capture_free(). `seq`, `time_us`, `pid`
 * and `duration_ns` are as the session saw them.
 * Thread-safety: any thread.
 */
CTRACE_API const struct ctrace_event *
ctrace_capture_event(const struct ctrace_capture *c, size_t i);

/*
 * Event `i` as one stable line for assertions, without timestamp, process
 * or duration, so that it reads the same in every run:
 *   a call:                 cat_counter:add("Tihon", 2)
 *   a return:               cat_counter:add/2 -> 2
 *   a return without value: cat_counter:reset/0 -> ?
 * Values print as ctrace_value_format() prints them (ctrace/value.h),
 * arguments joined by ", " as redbug does. NULL when `i` is out of range.
 * Borrowed, valid until ctrace_capture_free().
 * Thread-safety: any thread.
 */
CTRACE_API const char *ctrace_capture_text(const struct ctrace_capture *c,
                                           size_t i);

/*
 * Argument `k` (0-based) of event `i`, or NULL when `i` is out of range,
 * is not a call, or has fewer arguments. Borrowed, valid until
 * ctrace_capture_free().
 * Thread-safety: any thread.
 */
CTRACE_API const struct ctrace_value *
ctrace_capture_arg(const struct ctrace_capture *c, size_t i, size_t k);

/*
 * The return value of event `i`, or NULL when `i` is out of range, is not
 * a return, or returned without a value (`?`: a plain `return`, or the end
 * of the function, rather than CTRACE_RETURN). Borrowed, valid until
 * ctrace_capture_free().
 * Thread-safety: any thread.
 */
CTRACE_API const struct ctrace_value *
ctrace_capture_result(const struct ctrace_capture *c, size_t i);

/*
 * Counts the calls kept whose point matches `glob`, where `*` matches any
 * run of characters: "cat_counter:add", "cat_*:add", "*:reset"; a glob
 * without ':' is matched against the module alone ("cat_counter"), as
 * ctrace_points_foreach() does, and a "/N" suffix also requires arity N
 * ("cat_counter:add/2"). Returns are not counted. NULL counts every call.
 * Thread-safety: any thread.
 */
CTRACE_API size_t ctrace_capture_calls(const struct ctrace_capture *c,
                                       const char *glob);

/*
 * The index of the first event at or after `from` whose text
 * (ctrace_capture_text()) matches `glob`, where `*` matches any run of
 * characters: "cat_counter:add(\"Tihon\", *)". Returns SIZE_MAX when none
 * does, so that `find(a) < find(b)` asserts that a was seen before b.
 * Thread-safety: any thread.
 */
CTRACE_API size_t ctrace_capture_find(const struct ctrace_capture *c,
                                      const char *glob,
                                      size_t from);

/*
 * Every event's text, each followed by "\n", in one new string: "" for no
 * events. NULL when memory runs out. Free it with ctrace_free().
 * Thread-safety: any thread.
 */
CTRACE_API char *ctrace_capture_transcript(const struct ctrace_capture *c);

/*
 * Stops the capture if it still runs and frees it, with every event, text
 * and value it handed out. NULL is a no-op.
 * Thread-safety: any thread, once, when no other thread uses the capture.
 */
CTRACE_API void ctrace_capture_free(struct ctrace_capture *c);

#ifdef __cplusplus
}
#endif

#endif /* CTRACE_CAPTURE_H */
