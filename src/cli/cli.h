/* SPDX-License-Identifier: MIT */
/*
 * The `ctrace` command line: one function per command, each returning the
 * process exit code.
 */
#ifndef CTRACE_CLI_H
#define CTRACE_CLI_H

/* Exit codes a script can rely on. */
enum {
    CTRACE_CLI_OK = 0,     /* success */
    CTRACE_CLI_REMOTE = 1, /* the service answered with an error */
    CTRACE_CLI_USAGE = 2,  /* bad command line or bad pattern */
    CTRACE_CLI_CONNECT = 3 /* cannot connect, or not authorized */
};

int ctrace_cli_pattern(int argc, char **argv);

#endif /* CTRACE_CLI_H */
