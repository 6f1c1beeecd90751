/* SPDX-License-Identifier: MIT */
/*
 * The LTTng-UST tracepoint provider of tests/bench/compare.sh: one event,
 * ctrace_bench_peer:enter, with the two strings of enter(cat, town) as
 * ctf_string fields, and a second event of the same shape,
 * ctrace_bench_peer:enter_off, that no session ever enables (the
 * "disabled" variant). Built only by compare.sh, never by CMake: the
 * project does not depend on LTTng.
 */
#undef TRACEPOINT_PROVIDER
#define TRACEPOINT_PROVIDER ctrace_bench_peer

#undef TRACEPOINT_INCLUDE
#define TRACEPOINT_INCLUDE "./tp.h"

#if !defined(CTRACE_BENCH_PEERS_TP_H) || defined(TRACEPOINT_HEADER_MULTI_READ)
#define CTRACE_BENCH_PEERS_TP_H

#include <lttng/tracepoint.h>

/* LTTng's own macro language reads better as LTTng formats it. */
/* clang-format off */
TRACEPOINT_EVENT(
    ctrace_bench_peer,
    enter,
    TP_ARGS(const char *, cat, const char *, town),
    TP_FIELDS(
        ctf_string(cat, cat)
        ctf_string(town, town)
    )
)

TRACEPOINT_EVENT(
    ctrace_bench_peer,
    enter_off,
    TP_ARGS(const char *, cat, const char *, town),
    TP_FIELDS(
        ctf_string(cat, cat)
        ctf_string(town, town)
    )
)
/* clang-format on */

#endif /* CTRACE_BENCH_PEERS_TP_H */

#include <lttng/tracepoint-event.h>
