/* SPDX-License-Identifier: MIT */
/*
 * `ctrace`: the command line. Dispatches to one command; see `ctrace help`.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "ctrace/ctrace.h"

static void usage(FILE *out)
{
    fputs("usage: ctrace COMMAND [ARGS...]\n"
          "\n"
          "commands:\n"
          "  pattern SPEC...   check trace specs offline; print each as JSON\n"
          "  version           print the version\n"
          "  help              print this text\n"
          "\n"
          "exit codes: 0 success, 1 remote error, 2 usage or pattern error,\n"
          "3 cannot connect or not authorized\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CTRACE_CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "pattern") == 0)
        return ctrace_cli_pattern(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("ctrace %s\n", ctrace_version_string());
        return CTRACE_CLI_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return CTRACE_CLI_OK;
    }
    fprintf(stderr, "ctrace: unknown command '%s'\n", cmd);
    usage(stderr);
    return CTRACE_CLI_USAGE;
}
