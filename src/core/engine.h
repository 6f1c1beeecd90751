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

#endif /* CTRACE_CORE_ENGINE_H */
