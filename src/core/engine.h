/* SPDX-License-Identifier: MIT */
/*
 * Private interface of the session engine (engine.c) for the rest of the
 * library: the sinks and the capture API.
 */
#ifndef CTRACE_CORE_ENGINE_H
#define CTRACE_CORE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "ctrace/session.h"

/* Most sessions running at once; each owns one bit of a point's probe. */
#define CTRACE__MAX_SESSIONS 64

/* Cap on the queue memory of all sessions together, in bytes. */
#define CTRACE__MEMORY_LIMIT ((size_t)256 * 1024 * 1024)

/* Bytes of queue memory all running sessions hold now. */
size_t ctrace__engine_memory(void);

/* Number of sessions running now. */
unsigned ctrace__engine_sessions(void);

/*
 * Process events (send, receive, procs) are raised by the process table
 * and by servers, not by trace points. ctrace__engine_wants() says, with
 * one relaxed load, which kinds some running session traces, so that
 * nothing is rendered for nobody: test the CTRACE__WANT_ bit first.
 */
#define CTRACE__WANT_SEND    (1u << 0)
#define CTRACE__WANT_RECEIVE (1u << 1)
#define CTRACE__WANT_PROCS   (1u << 2)
unsigned ctrace__engine_wants(void);

/*
 * Offers a process event to every session tracing its kind and passing
 * `pid` through its process filter. `value` is the message (SEND,
 * RECEIVE), the initial call (SPAWN), the exit reason (EXIT) or the name
 * (REGISTER, UNREGISTER) as a string, or NULL (LINK, UNLINK); it is copied
 * before the call returns. `peer` is the other process, or 0. Takes no
 * lock and does not allocate; may be called with the table lock held.
 */
void ctrace__engine_proc_event(enum ctrace_event_kind kind,
                               uint64_t pid,
                               uint64_t peer,
                               const struct ctrace_value *value);

#endif /* CTRACE_CORE_ENGINE_H */
