/* SPDX-License-Identifier: MIT */
/*
 * ctrace: Erlang-style live tracing and introspection for C services.
 *
 * The umbrella header: include this one. Each header it includes states its
 * own thread-safety rules; the default is "not thread-safe except where a
 * function says so".
 */
#ifndef CTRACE_CTRACE_H
#define CTRACE_CTRACE_H

#include "ctrace/admin.h"
#include "ctrace/capture.h"
#include "ctrace/error.h"
#include "ctrace/point.h"
#include "ctrace/proc.h"
#include "ctrace/server.h"
#include "ctrace/session.h"
#include "ctrace/value.h"
#include "ctrace/version.h"

#endif /* CTRACE_CTRACE_H */
