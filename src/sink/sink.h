/* SPDX-License-Identifier: MIT */
/*
 * Sinks: where the events of a session go, and the text they become.
 *
 * The formatters here turn one struct ctrace_event into the lines a user
 * reads (docs/formats.md): redbug's two-line events, recon_trace's one-line
 * events, or one JSON object per line. They also write the last line of a
 * session (why it stopped), the report of the `time` and `count` actions,
 * and human durations. They run on a session's consumer thread, never on a
 * traced thread, so they may allocate: everything is appended to a
 * struct ctrace__sbuf, which records an allocation failure in its `failed`
 * flag instead of reporting it from each call.
 *
 * Argument, result and message values are printed by ctrace_value_format()
 * and ctrace_value_format_json() under the render options of the format
 * options, so one huge or deeply nested value cannot flood an output.
 *
 * Thread-safety: every function here is reentrant and keeps no state; the
 * buffers and options passed in belong to the caller.
 */
#ifndef CTRACE_SINK_SINK_H
#define CTRACE_SINK_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "ctrace/session.h"
#include "ctrace/value.h"

/* How events are printed. Fill with ctrace__format_opts_init() first. */
struct ctrace__format_opts {
    enum ctrace_format format; /* default CTRACE_FORMAT_REDBUG */
    bool timestamps_ms; /* milliseconds rather than microseconds; default no */
    struct ctrace_render_opts render; /* default ctrace_render_opts_init() */
};

/*
 * Sets the defaults described in struct ctrace__format_opts.
 * Thread-safety: any thread.
 */
void ctrace__format_opts_init(struct ctrace__format_opts *o);

/*
 * Appends the text of one event to `out`: one or more lines, each ending in
 * "\n". In the redbug format an event also ends with an empty line, which
 * separates it from the next one, as redbug does. `o` may be NULL for the
 * defaults; a NULL `ev` appends nothing.
 *
 * Fields of `ev` past its `struct_size` read as zero, so an event from a
 * build with a shorter struct prints what it has. NULL strings print as `?`
 * in text and as null in JSON. A CALL whose `args` is NULL prints as
 * `module:function/arity` (the arguments were not captured). A RETURN with
 * `duration_ns` 0 prints no duration in the text formats (0 means "not
 * measured"). In text, control bytes and bytes that are not valid UTF-8 in
 * names and stack frames print as \xHH, so an event can never forge a line;
 * in JSON every string is escaped into valid UTF-8 JSON.
 * Thread-safety: any thread.
 */
void ctrace__format_event(const struct ctrace__format_opts *o,
                          const struct ctrace_event *ev,
                          struct ctrace__sbuf *out);

/*
 * Appends the last line of a session: `% stopped: REASON (N events, M
 * dropped)` in the text formats, `{"kind":"stopped","reason":"REASON",
 * "events":N,"dropped":M}` in JSON. `dropped` counts every drop, `shed`
 * those of them shed for overhead: when not 0, the text says `M dropped, S
 * of them shed for overhead` and JSON adds "shed". `reason` is the text of
 * ctrace__format_stop_reason(); NULL prints as `?` (null in JSON).
 * Thread-safety: any thread.
 */
void ctrace__format_stopped(const struct ctrace__format_opts *o,
                            const char *reason,
                            uint64_t events,
                            uint64_t dropped,
                            uint64_t shed,
                            struct ctrace__sbuf *out);

/* What the `time` and `count` actions measured at one trace point. */
struct ctrace__point_stats {
    const char *module;
    const char *function;
    unsigned arity;
    uint64_t calls;
    uint64_t total_ns; /* with `time`: the sum of the call durations */
    uint64_t max_ns;   /* with `time`: the longest call */
    bool time;         /* durations were measured (`time`, not `count`) */
};

/*
 * Appends the report of the `time` and `count` actions, printed when a
 * session ends, for the `n` points of `stats` in the order given. The text
 * formats print a table whose columns are aligned to the widest cell: a
 * header line, then one line per point with calls, total, mean and max
 * durations and the function; points counted without `time` leave the
 * duration cells empty, and when no point has `time` the duration columns
 * are left out. JSON prints one `{"kind":"stats",...}` object per point and
 * no header. Nothing is appended when `n` is 0.
 * Thread-safety: any thread.
 */
void ctrace__format_point_stats(const struct ctrace__format_opts *o,
                                const struct ctrace__point_stats *stats,
                                size_t n,
                                struct ctrace__sbuf *out);

/* One key of a `count(N)` report: the arguments as text, and its calls. */
struct ctrace__count_key {
    const char *text;
    uint64_t calls;
};

/*
 * Appends the report of `count(N, ...)` for one point: the `n` keys of
 * `keys` in the order given (largest first, by the caller), then `other`,
 * the calls whose key found no room, when it is not 0. `by` names the
 * argument positions ("1" or "1, 2"). Text:
 *   % calls  cat_traveler:enter/2 by argument 1
 *   %    41  "Marfa"
 *   %     3  other
 * JSON: one {"kind":"count_by",...,"by":[1],"counts":[{"key":"\"Marfa\"",
 * "calls":41}],"other":3} line.
 * Thread-safety: any thread.
 */
void ctrace__format_count_by(const struct ctrace__format_opts *o,
                             const char *module,
                             const char *function,
                             unsigned arity,
                             const unsigned *by,
                             size_t nby,
                             const struct ctrace__count_key *keys,
                             size_t n,
                             uint64_t other,
                             struct ctrace__sbuf *out);

/*
 * Appends a duration for humans, rounded to 3 significant digits in the
 * largest unit that keeps it at least 1: "812 ns", "1.00 us", "54.2 us",
 * "12.3 ms", "1.52 s". Whole nanoseconds below 1 us; from 1000 s on, whole
 * seconds ("1234 s"). Rounding may carry into the next unit: 999999 ns is
 * "1.00 ms".
 * Thread-safety: any thread.
 */
void ctrace__format_duration(uint64_t ns, struct ctrace__sbuf *out);

/*
 * Writes why a session stopped into `buf`, like snprintf (at most size - 1
 * bytes and a NUL; nothing when size is 0):
 *   CTRACE_STOP_MSGS   "msgs limit A reached"
 *   CTRACE_STOP_CALLS  "calls limit A reached"
 *   CTRACE_STOP_TIME   "time limit A ms reached"
 *   CTRACE_STOP_RATE   "rate limit A/B ms tripped"
 *   CTRACE_STOP_QUEUE  "queue overflow: consumer too slow"
 *   CTRACE_STOP_USER   "stopped by user"
 *   CTRACE_STOP_SINK   "sink failed: <strerror(sink_errno)>"
 *   CTRACE_STOP_OVERHEAD "overhead budget A% exceeded for B ms"
 *   CTRACE_STOP_RUNNING "running"; any other value "unknown reason N".
 * `limit_a` and `limit_b` are ignored by the reasons that do not use them.
 * `sink_errno` may be an errno value or its negation (ctrace's convention),
 * or one of ctrace's own negative codes.
 * Thread-safety: any thread.
 */
void ctrace__format_stop_reason(enum ctrace_stop_reason r,
                                uint64_t limit_a,
                                uint64_t limit_b,
                                int sink_errno,
                                char *buf,
                                size_t size);

/* ---- The file-descriptor sink (write.c). ---- */

/*
 * Opens `path` for a session's text: created 0644 if missing, appended to,
 * closed on exec. Returns the descriptor, or -errno.
 * Thread-safety: any thread.
 */
int ctrace__sink_open(const char *path);

/*
 * Pieces format.c and report.c share. The options to use when the caller
 * passed NULL (`o`, or `defaults` filled with the defaults);
 * `module:function/arity` as the text formats print it; the same as JSON
 * members (`"module":..,"function":..,"arity":N`); a C string as a JSON
 * string literal (NULL as null).
 */
const struct ctrace__format_opts *
ctrace__sink_opts_or_default(const struct ctrace__format_opts *o,
                             struct ctrace__format_opts *defaults);
void ctrace__sink_put_mfa(struct ctrace__sbuf *out,
                          const char *module,
                          const char *function,
                          unsigned arity);
void ctrace__sink_put_json_mfa(struct ctrace__sbuf *out,
                               const char *module,
                               const char *function,
                               unsigned arity);
void ctrace__sink_put_json_string(struct ctrace__sbuf *out, const char *s);

/*
 * Writes all `len` bytes of `data` to `fd`, retrying interrupted and short
 * writes. Returns 0, or -errno of the write that failed; on EPIPE the
 * SIGPIPE that the write raised is taken off the calling thread's pending
 * signals, so the caller must block SIGPIPE (consumers do).
 * Thread-safety: any thread; one writer per descriptor.
 */
int ctrace__sink_write(int fd, const char *data, size_t len);

/*
 * Test hook of the capture sink (src/sink/capture.c): when non-zero, each
 * allocation a capture makes for an event counts it down, and the one that
 * brings it to zero fails as if memory had run out. Zero (the default)
 * never fails.
 */
extern _Atomic unsigned long ctrace__capture_fail_countdown;

#endif /* CTRACE_SINK_SINK_H */
