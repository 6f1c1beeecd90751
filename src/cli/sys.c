/* SPDX-License-Identifier: MIT */
/*
 * `ctrace sys PROC ...`: OTP's sys debug functions for a server process,
 * sent as POST /api/v1/procs/{proc}/sys:
 *
 *   sys PROC trace on|off             sys:trace/2 (lines go to the service)
 *   sys PROC log on [N]|off|get|print sys:log/2 (get and print show the log
 *                                     here, one *DBG* line per event)
 *   sys PROC statistics on|off|get    sys:statistics/2
 *   sys PROC suspend|resume           sys:suspend/1, sys:resume/1
 *
 * A command that only changes something prints "ok", as Erlang's shell does.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int wrong(const char *what, const char *expected, const char *got)
{
    if (got == NULL)
        return ctrace_cli_usage_error("sys", "%s: expected %s", what, expected);
    return ctrace_cli_usage_error(
        "sys", "%s: expected %s, got '%s'", what, expected, got);
}

/* Builds the request body from the words after PROC; NULL after an error. */
static json_t *command_body(int n, const char **w, int *status, bool *get)
{
    const char *cmd = w[0];
    const char *arg = n > 1 ? w[1] : NULL;
    int max_words = 2;
    json_t *body = NULL;
    *get = false;
    if (strcmp(cmd, "suspend") == 0 || strcmp(cmd, "resume") == 0) {
        max_words = 1;
        body = json_pack("{s:s}", "command", cmd);
    } else if (strcmp(cmd, "trace") == 0) {
        if (arg == NULL ||
            (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)) {
            *status = wrong("sys trace", "on or off", arg);
            return NULL;
        }
        body = json_pack("{s:s, s:b}", "command", "trace", "on", arg[1] == 'n');
    } else if (strcmp(cmd, "log") == 0) {
        static const char *const actions[] = {"on", "off", "get", "print"};
        bool known = false;
        for (size_t i = 0; arg != NULL && i < 4; i++)
            known = known || strcmp(arg, actions[i]) == 0;
        if (!known) {
            *status = wrong("sys log", "on [N], off, get or print", arg);
            return NULL;
        }
        /* print shows the log here: the service's standard error is not
         * where the person typing this is looking. */
        bool show = strcmp(arg, "get") == 0 || strcmp(arg, "print") == 0;
        *get = show;
        body = json_pack(
            "{s:s, s:s}", "command", "log", "action", show ? "get" : arg);
        if (strcmp(arg, "on") == 0 && n > 2) {
            uint64_t v;
            if (!ctrace_cli_parse_uint(
                    "sys", "log on N", w[2], 1, 100000, &v)) {
                json_decref(body);
                *status = CTRACE_CLI_USAGE;
                return NULL;
            }
            json_object_set_new(body, "n", json_integer((json_int_t)v));
            max_words = 3;
        }
    } else if (strcmp(cmd, "statistics") == 0) {
        if (arg == NULL || (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0 &&
                            strcmp(arg, "get") != 0)) {
            *status = wrong("sys statistics", "on, off or get", arg);
            return NULL;
        }
        *get = strcmp(arg, "get") == 0;
        body = json_pack("{s:s, s:s}", "command", "statistics", "action", arg);
    } else {
        *status = wrong(
            "sys", "trace, log, statistics, suspend or resume after PROC", cmd);
        return NULL;
    }
    if (n > max_words) {
        json_decref(body);
        *status = ctrace_cli_usage_error(
            "sys", "unexpected argument '%s'", w[max_words]);
        return NULL;
    }
    if (body == NULL) {
        fputs("ctrace: out of memory\n", stderr);
        *status = CTRACE_CLI_REMOTE;
    }
    return body;
}

int ctrace_cli_sys(struct ctrace_cli *cli, int argc, char **argv)
{
    static const struct ctrace_cli_opt opts[] = {{NULL, 0, false, 0}};
    struct ctrace_cli_getopt g = {"sys", argc, argv, 0, false};
    const char *v;
    const char *words[8];
    int n = 0, id;
    while ((id = ctrace_cli_getopt_next(&g, opts, &v)) != -1) {
        if (id == -2)
            return CTRACE_CLI_USAGE;
        if (id == CTRACE_CLI_OPT_HELP) {
            ctrace_cli_help(stdout, "sys");
            return CTRACE_CLI_OK;
        }
        if (n == 8)
            return ctrace_cli_usage_error("sys", "unexpected argument '%s'", v);
        words[n++] = v;
    }
    if (n < 2)
        return ctrace_cli_usage_error(
            "sys",
            "expected PROC and a command: trace, log, statistics, suspend or "
            "resume");
    int status = CTRACE_CLI_USAGE;
    bool get;
    json_t *body = command_body(n - 1, words + 1, &status, &get);
    if (body == NULL)
        return status;

    char *e = ctrace_cli_escape(words[0]);
    char *path = NULL;
    if (e == NULL || asprintf(&path, "/api/v1/procs/%s/sys", e) < 0)
        path = NULL;
    free(e);
    json_t *reply = NULL;
    int rc = path == NULL
                 ? CTRACE_CLI_REMOTE
                 : ctrace_cli_request(cli, "POST", path, body, 0, &reply);
    free(path);
    json_decref(body);
    if (rc != CTRACE_CLI_OK) {
        json_decref(reply);
        return rc;
    }
    const char *cmd = words[1];
    if (cli->json) {
        ctrace_cli_print_json_line(reply);
    } else if (get && strcmp(cmd, "log") == 0) {
        size_t i;
        json_t *line;
        json_array_foreach(json_object_get(reply, "log"), i, line)
        {
            const char *s = json_string_value(line);
            if (s != NULL)
                puts(s);
        }
    } else if (get) {
        json_t *stats = json_object_get(reply, "statistics");
        if (json_is_object(stats))
            ctrace_cli_print_keys(stats);
        else
            puts("no_statistics");
    } else {
        puts("ok");
    }
    json_decref(reply);
    return CTRACE_CLI_OK;
}
