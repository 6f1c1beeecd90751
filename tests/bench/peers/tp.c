/* SPDX-License-Identifier: MIT */
/* The probes of tp.h, compiled into peer_bench (compare.sh). */
#define TRACEPOINT_CREATE_PROBES
#define TRACEPOINT_DEFINE
#include "tp.h"
