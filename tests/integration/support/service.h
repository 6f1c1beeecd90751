/* SPDX-License-Identifier: MIT */
/*
 * One cat_traveler with its admin endpoint on ephemeral ports, for the
 * integration tests written in C: start it with extra flags, read its
 * ports and token from what it prints, stop it and get its exit status.
 */
#ifndef CTRACE_TEST_SERVICE_H
#define CTRACE_TEST_SERVICE_H

#include <stddef.h>
#include <sys/types.h>

struct service {
    pid_t pid;
    int out;
    unsigned port;
    unsigned admin_port;
    char token_file[128];
    char token[128];
    char output[32768];
    size_t len;
};

/*
 * Starts `traveler_bin` with a token file in `dir` and the `extra` flags
 * (NULL-terminated, or NULL). Returns 0 with the ports and token filled, or
 * -1 after printing what the service said.
 */
int service_start(struct service *s,
                  const char *traveler_bin,
                  const char *dir,
                  const char *const *extra);

/* The same with the token file at `token_file` (read with its blanks cut). */
int service_start_token(struct service *s,
                        const char *traveler_bin,
                        const char *token_file,
                        const char *const *extra);

/* Sends SIGTERM, reads the rest of the output, returns the exit status. */
int service_stop(struct service *s);

#endif /* CTRACE_TEST_SERVICE_H */
