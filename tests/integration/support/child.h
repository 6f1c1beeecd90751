/* SPDX-License-Identifier: MIT */
/*
 * Child processes for the integration tests: start a program with its
 * output on a pipe, read that output until a line appears, and wait for
 * the program to end. Shared by the tests that run the real services.
 */
#ifndef CTRACE_TEST_CHILD_H
#define CTRACE_TEST_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in milliseconds. */
long long child_now_ms(void);

/*
 * Starts `argv` (argv[0] is a path) with its standard output, and its
 * standard error too when `both`, on a pipe. Returns the pid, or -1;
 * *out_fd gets the read end.
 */
pid_t child_spawn(char *const argv[], int *out_fd, bool both);

/*
 * Reads from `fd` into `buf` (NUL-terminated, the rest dropped) from `len`
 * on, until end of file, `stop` appears (when not NULL), or `timeout_ms`
 * passes. Returns the bytes kept.
 */
size_t child_read_until(int fd,
                        char *buf,
                        size_t size,
                        size_t len,
                        const char *stop,
                        long long timeout_ms);

/*
 * Waits up to `timeout_ms` for `pid`; kills it if it does not end. Returns
 * its exit status, 128 + the signal that ended it, or -1 on timeout.
 */
int child_wait_exit(pid_t pid, long long timeout_ms);

#endif /* CTRACE_TEST_CHILD_H */
