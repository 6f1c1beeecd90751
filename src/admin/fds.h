/* SPDX-License-Identifier: MIT */
/*
 * The process's file descriptors, for the observer's Ports tab and
 * GET /api/v1/fds: what each one is (a file, a pipe, a socket, an anonymous
 * inode), and for a socket its protocol, local and remote address, state
 * and queue sizes, from /proc/self/fd and /proc/self/net/{tcp,tcp6,udp,
 * udp6,unix}. A leaf of the admin endpoint: it reads /proc and makes JSON.
 *
 * Thread-safety: any thread; it reads a snapshot of /proc that may be a
 * little stale by the time it is sent.
 */
#ifndef CTRACE_ADMIN_FDS_H
#define CTRACE_ADMIN_FDS_H

#include <stddef.h>

#include <jansson.h>

/*
 * {"fds": [...], "total": N, "by_type": {...}}: the first `limit` open
 * descriptors in fd order, each {"fd", "type", "target"} plus, for sockets
 * found in /proc/self/net, "proto", "local", "remote", "state", "tx_queue"
 * and "rx_queue" (unix sockets: "path" when bound). A new reference, or
 * NULL when /proc/self/fd cannot be read or memory runs out.
 */
json_t *ctrace__fds_json(size_t limit);

#endif
