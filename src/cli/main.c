/* SPDX-License-Identifier: MIT */
/*
 * `ctrace`: the command line. Reads the global options wherever they are
 * (before or after the command), then dispatches to one command; see
 * `ctrace help`.
 */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "ctrace/ctrace.h"

static const struct {
    const char *name;
    int (*run)(struct ctrace_cli *cli, int argc, char **argv);
} commands[] = {
    {"points", ctrace_cli_points},
    {"trace", ctrace_cli_trace},
    {"sessions", ctrace_cli_sessions},
    {"stop", ctrace_cli_stop},
    {"system", ctrace_cli_system},
    {"procs", ctrace_cli_procs},
    {"window", ctrace_cli_window},
    {"top", ctrace_cli_top},
    {"info", ctrace_cli_info},
    {"state", ctrace_cli_state},
    {"replace-state", ctrace_cli_replace_state},
    {"status", ctrace_cli_status},
    {"sys", ctrace_cli_sys},
    {"fds", ctrace_cli_fds},
};

/* Matches "--NAME VALUE" and "--NAME=VALUE"; advances *i past the value. */
static int
global_value(int argc, char **argv, int *i, const char *name, const char **v)
{
    const char *a = argv[*i];
    size_t len = strlen(name);
    if (strncmp(a, name, len) != 0)
        return 0;
    if (a[len] == '=') {
        *v = a + len + 1;
        return 1;
    }
    if (a[len] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "ctrace: %s needs a value\nsee: ctrace help\n", name);
        return -1;
    }
    *v = argv[++*i];
    return 1;
}

/* Fills the token file's path and how messages show it ("~/..."). */
static void token_paths(struct ctrace_cli *cli, const char *given)
{
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
        struct passwd *pw = getpwuid(getuid());
        home = pw != NULL ? pw->pw_dir : "";
    }
    if (given != NULL && given[0] != '\0')
        snprintf(cli->token_file, sizeof(cli->token_file), "%s", given);
    else
        snprintf(
            cli->token_file, sizeof(cli->token_file), "%s/.ctrace/token", home);
    size_t hl = strlen(home);
    if (hl > 1 && strncmp(cli->token_file, home, hl) == 0 &&
        cli->token_file[hl] == '/')
        snprintf(cli->token_file_shown,
                 sizeof(cli->token_file_shown),
                 "~%s",
                 cli->token_file + hl);
    else
        snprintf(cli->token_file_shown,
                 sizeof(cli->token_file_shown),
                 "%s",
                 cli->token_file);
}

static int set_url(struct ctrace_cli *cli, const char *url)
{
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        len <= 8 || len >= sizeof(cli->url)) {
        fprintf(stderr,
                "ctrace: --url: expected http://HOST:PORT, got '%s'\n"
                "see: ctrace help\n",
                url);
        return CTRACE_CLI_USAGE;
    }
    memcpy(cli->url, url, len);
    cli->url[len] = '\0';
    return CTRACE_CLI_OK;
}

int main(int argc, char **argv)
{
    struct ctrace_cli cli;
    memset(&cli, 0, sizeof(cli));
    const char *url = getenv("CTRACE_URL");
    const char *token_file = getenv("CTRACE_TOKEN_FILE");
    if (url == NULL || url[0] == '\0')
        url = CTRACE_CLI_DEFAULT_URL;

    /* The global options come out wherever they are; the rest keeps its
     * order for the command. After "--" everything is the command's. */
    char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    if (rest == NULL) {
        fputs("ctrace: out of memory\n", stderr);
        return CTRACE_CLI_REMOTE;
    }
    int n = 0;
    bool operands = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int m;
        if (operands) {
            rest[n++] = argv[i];
        } else if (strcmp(argv[i], "--") == 0) {
            operands = true;
            rest[n++] = argv[i];
        } else if (strcmp(argv[i], "--json") == 0) {
            cli.json = true;
        } else if ((m = global_value(argc, argv, &i, "--url", &v)) != 0) {
            if (m < 0) {
                free(rest);
                return CTRACE_CLI_USAGE;
            }
            url = v;
        } else if ((m = global_value(argc, argv, &i, "--token-file", &v)) !=
                   0) {
            if (m < 0) {
                free(rest);
                return CTRACE_CLI_USAGE;
            }
            token_file = v;
        } else {
            rest[n++] = argv[i];
        }
    }

    int status = CTRACE_CLI_USAGE;
    const char *cmd = n > 0 ? rest[0] : NULL;
    if (cmd == NULL) {
        ctrace_cli_help(stderr, NULL);
    } else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
               strcmp(cmd, "-h") == 0) {
        if (n > 1 && !ctrace_cli_help(stdout, rest[1])) {
            fprintf(
                stderr, "ctrace: no command '%s'; see: ctrace help\n", rest[1]);
        } else {
            if (n <= 1)
                ctrace_cli_help(stdout, NULL);
            status = CTRACE_CLI_OK;
        }
    } else if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("ctrace %s\n", ctrace_version_string());
        status = CTRACE_CLI_OK;
    } else if (strcmp(cmd, "pattern") == 0) {
        status = ctrace_cli_pattern(n - 1, rest + 1);
    } else {
        size_t i = 0;
        while (i < sizeof(commands) / sizeof(commands[0]) &&
               strcmp(commands[i].name, cmd) != 0)
            i++;
        if (i == sizeof(commands) / sizeof(commands[0])) {
            fprintf(stderr,
                    cmd[0] == '-' ? "ctrace: unknown option '%s'\n"
                                  : "ctrace: unknown command '%s'\n",
                    cmd);
            fputs("see: ctrace help\n", stderr);
        } else if ((status = set_url(&cli, url)) == CTRACE_CLI_OK) {
            token_paths(&cli, token_file);
            ctrace_cli_load_token(&cli);
            /* A reader that goes away is an error to handle, not a kill. */
            signal(SIGPIPE, SIG_IGN);
            curl_global_init(CURL_GLOBAL_DEFAULT);
            status = commands[i].run(&cli, n - 1, rest + 1);
            curl_global_cleanup();
        }
    }
    if (fflush(stdout) != 0 && status == CTRACE_CLI_OK)
        status = CTRACE_CLI_REMOTE;
    free(rest);
    return status;
}
