/* SPDX-License-Identifier: MIT */
/*
 * Reading a command's arguments. Options and operands may come in any order
 * (`ctrace trace 'a:b' --msgs 5` and `ctrace trace --msgs 5 'a:b'`), both
 * `--flag value` and `--flag=value` are accepted, and "--" ends the
 * options. Every mistake is reported with the flag's name and a pointer to
 * `ctrace help COMMAND`, and gives exit status 2.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int ctrace_cli_no_args(const char *command, int argc, char **argv)
{
    static const struct ctrace_cli_opt opts[] = {{NULL, 0, false, 0}};
    struct ctrace_cli_getopt g = {command, argc, argv, 0, false};
    const char *v;
    int id = ctrace_cli_getopt_next(&g, opts, &v);
    if (id == -1)
        return -1;
    if (id == -2)
        return CTRACE_CLI_USAGE;
    if (id == CTRACE_CLI_OPT_HELP) {
        ctrace_cli_help(stdout, command);
        return CTRACE_CLI_OK;
    }
    return ctrace_cli_usage_error(command, "unexpected argument '%s'", v);
}

int ctrace_cli_usage_error(const char *command, const char *fmt, ...)
{
    fprintf(stderr, "ctrace %s: ", command);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee: ctrace help %s\n", command);
    return CTRACE_CLI_USAGE;
}

static const struct ctrace_cli_opt *
find_long(const struct ctrace_cli_opt *opts, const char *name, size_t len)
{
    for (const struct ctrace_cli_opt *o = opts; o->name != NULL; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static const struct ctrace_cli_opt *
find_short(const struct ctrace_cli_opt *opts, char c)
{
    for (const struct ctrace_cli_opt *o = opts; o->name != NULL; o++)
        if (o->short_name != 0 && o->short_name == c)
            return o;
    return NULL;
}

int ctrace_cli_getopt_next(struct ctrace_cli_getopt *g,
                           const struct ctrace_cli_opt *opts,
                           const char **value)
{
    *value = NULL;
    if (g->i >= g->argc)
        return -1;
    char *arg = g->argv[g->i++];
    if (g->operands_only || arg[0] != '-' || arg[1] == '\0') {
        *value = arg;
        return 0;
    }
    if (strcmp(arg, "--") == 0) {
        g->operands_only = true;
        return ctrace_cli_getopt_next(g, opts, value);
    }
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
        return CTRACE_CLI_OPT_HELP;

    const struct ctrace_cli_opt *o;
    const char *inline_value = NULL;
    if (arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        o = find_long(opts, name, len);
        if (o == NULL) {
            ctrace_cli_usage_error(
                g->command, "unknown option '%.*s'", (int)(len + 2), arg);
            return -2;
        }
        if (eq != NULL) {
            if (!o->has_arg) {
                ctrace_cli_usage_error(
                    g->command, "--%s takes no value", o->name);
                return -2;
            }
            inline_value = eq + 1;
        }
    } else {
        /* "-n 5", or "-n5" for a flag that takes a value. */
        o = find_short(opts, arg[1]);
        if (o != NULL && arg[2] != '\0') {
            if (!o->has_arg)
                o = NULL;
            else
                inline_value = arg + 2;
        }
        if (o == NULL) {
            ctrace_cli_usage_error(g->command, "unknown option '%s'", arg);
            return -2;
        }
    }
    if (o->has_arg) {
        if (inline_value == NULL) {
            if (g->i >= g->argc) {
                if (arg[1] == '-')
                    ctrace_cli_usage_error(
                        g->command, "--%s needs a value", o->name);
                else
                    ctrace_cli_usage_error(
                        g->command, "-%c needs a value", o->short_name);
                return -2;
            }
            inline_value = g->argv[g->i++];
        }
        *value = inline_value;
    }
    return o->id;
}

bool ctrace_cli_parse_uint(const char *command,
                           const char *what,
                           const char *text,
                           uint64_t min,
                           uint64_t max,
                           uint64_t *out)
{
    const char *p = text;
    bool digits = *p >= '0' && *p <= '9';
    errno = 0;
    char *end = NULL;
    unsigned long long v = digits ? strtoull(p, &end, 10) : 0;
    if (!digits || *end != '\0' || errno != 0 || v < min || v > max) {
        ctrace_cli_usage_error(command,
                               "%s: expected a number from %" PRIu64
                               " to %" PRIu64 ", got '%s'",
                               what,
                               min,
                               max,
                               text);
        return false;
    }
    *out = v;
    return true;
}
