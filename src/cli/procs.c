/* SPDX-License-Identifier: MIT */
/*
 * The process commands, recon's side of the command line: `procs`
 * (proc_count, or every process), `window` (proc_window), `top` (the same
 * table refreshed), `info` (process_info), `state` and `replace-state`
 * (sys get_state and replace_state), `status` (sys get_status) and
 * `system`. Tables are for people; --json prints one JSON object a line.
 * One concept, the process side of the CLI, and so one file although it
 * is just over 900 lines.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ctrace/error.h"

/* ---- Output helpers. ---- */

void ctrace_cli_print_json_line(const json_t *value)
{
    char *s = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s != NULL)
        puts(s);
    free(s);
}

void ctrace_cli_print_json_pretty(const json_t *value)
{
    char *s = json_dumps(value, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s != NULL)
        puts(s);
    free(s);
}

char *ctrace_cli_value_text(const json_t *value)
{
    /* Nothing prints as "-", so that every column has a word. */
    if (value == NULL || json_is_null(value) ||
        (json_is_string(value) && json_string_length(value) == 0))
        return strdup("-");
    if (json_is_string(value))
        return strdup(json_string_value(value));
    if (json_is_array(value)) {
        /* "[<0.5.0>, <0.9.0>]", as process_info prints links. */
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        if (f == NULL)
            return NULL;
        fputc('[', f);
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item)
        {
            char *t = ctrace_cli_value_text(item);
            fprintf(f, "%s%s", i > 0 ? ", " : "", t != NULL ? t : "?");
            free(t);
        }
        fputc(']', f);
        fclose(f);
        return s;
    }
    return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
}

void ctrace_cli_print_keys(const json_t *object)
{
    int w = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)object, key, value)
    {
        if ((int)strlen(key) > w)
            w = (int)strlen(key);
    }
    json_object_foreach((json_t *)object, key, value)
    {
        char *t = ctrace_cli_value_text(value);
        printf("%s:%*s %s\n", key, w - (int)strlen(key), "", t ? t : "?");
        free(t);
    }
}

/* A table of strings, printed with each column as wide as its widest. */
struct table {
    int ncols;
    const char *const *heads;
    const bool *right; /* right-aligned columns: numbers */
    char **cells;      /* row-major, owned */
    size_t rows;
};

static void table_add(struct table *t, char **row)
{
    char **cells =
        realloc(t->cells, (t->rows + 1) * (size_t)t->ncols * sizeof(*cells));
    if (cells == NULL) {
        for (int c = 0; c < t->ncols; c++)
            free(row[c]);
        return;
    }
    t->cells = cells;
    memcpy(cells + t->rows * (size_t)t->ncols,
           row,
           (size_t)t->ncols * sizeof(*row));
    t->rows++;
}

static void table_print(struct table *t)
{
    int w[16] = {0};
    for (int c = 0; c < t->ncols; c++) {
        w[c] = (int)strlen(t->heads[c]);
        for (size_t r = 0; r < t->rows; r++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            if (s != NULL && (int)strlen(s) > w[c])
                w[c] = (int)strlen(s);
        }
    }
    for (size_t r = 0; r <= t->rows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s =
                r == 0 ? t->heads[c]
                       : t->cells[(r - 1) * (size_t)t->ncols + (size_t)c];
            if (s == NULL)
                s = "?";
            bool last = c == t->ncols - 1;
            if (t->right[c])
                printf("%*s", w[c], s);
            else
                printf("%-*s", last ? 0 : w[c], s);
            fputs(last ? "\n" : "  ", stdout);
        }
    }
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->rows = 0;
}

static char *str_field(const json_t *o, const char *key)
{
    return ctrace_cli_value_text(json_object_get(o, key));
}

/* The process's label: its name, else its initial call, as recon shows. */
static char *label_of(const json_t *p)
{
    const char *keys[] = {"name", "label", "initial_call"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *s = json_string_value(json_object_get(p, keys[i]));
        if (s != NULL && s[0] != '\0')
            return strdup(s);
    }
    return strdup("-");
}

static const char *const proc_heads[] =
    {"PID", "NAME", "CURRENT", "STATUS", "MEMORY", "REDUCTIONS", "MQ"};
static const bool proc_right[] = {false, false, false, false, true, true, true};

static void print_procs(const json_t *procs)
{
    struct table t = {7, proc_heads, proc_right, NULL, 0};
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p)
    {
        char *row[7] = {str_field(p, "pid"),
                        label_of(p),
                        str_field(p, "current"),
                        str_field(p, "status"),
                        str_field(p, "memory"),
                        str_field(p, "reductions"),
                        str_field(p, "message_queue_len")};
        table_add(&t, row);
    }
    table_print(&t);
    table_free(&t);
}

static bool attr_valid(const char *attr)
{
    return strcmp(attr, "memory") == 0 || strcmp(attr, "reductions") == 0 ||
           strcmp(attr, "message_queue_len") == 0;
}

/* Builds "/api/v1/procs/PROC[SUFFIX]" with PROC escaped; NULL if too long. */
static char *proc_path(const char *proc, const char *suffix)
{
    char *e = ctrace_cli_escape(proc);
    if (e == NULL)
        return NULL;
    char *path = NULL;
    if (asprintf(&path, "/api/v1/procs/%s%s", e, suffix) < 0)
        path = NULL;
    free(e);
    return path;
}

/* Reads the one PROC operand of `cmd`; returns -1 to go on, else status. */
static int one_proc(const char *cmd, int argc, char **argv, const char **proc)
{
    static const struct ctrace_cli_opt opts[] = {{NULL, 0, false, 0}};
    struct ctrace_cli_getopt g = {cmd, argc, argv, 0, false};
    const char *v;
    int id;
    *proc = NULL;
    while ((id = ctrace_cli_getopt_next(&g, opts, &v)) != -1) {
        if (id == -2)
            return CTRACE_CLI_USAGE;
        if (id == CTRACE_CLI_OPT_HELP) {
            ctrace_cli_help(stdout, cmd);
            return CTRACE_CLI_OK;
        }
        if (*proc != NULL)
            return ctrace_cli_usage_error(cmd, "unexpected argument '%s'", v);
        *proc = v;
    }
    if (*proc == NULL || (*proc)[0] == '\0')
        return ctrace_cli_usage_error(
            cmd, "no process given: PROC is <0.N.0>, N or a registered name");
    return -1;
}

/* GET of a path under the process; the answer in *reply. */
static int get_proc(struct ctrace_cli *cli,
                    const char *proc,
                    const char *suffix,
                    json_t **reply)
{
    char *path = proc_path(proc, suffix);
    if (path == NULL) {
        fputs("ctrace: out of memory\n", stderr);
        return CTRACE_CLI_REMOTE;
    }
    int rc = ctrace_cli_request(cli, "GET", path, NULL, 0, reply);
    free(path);
    return rc;
}

/* ---- procs ---- */

enum {
    OPT_SORT = 1,
    OPT_N,
    OPT_MS,
    OPT_INTERVAL,
    OPT_ITERATIONS,
    OPT_PATCH,
    OPT_IF_VERSION,
    OPT_WINDOW,
    OPT_TOTALS
};

/* GET /api/v1/procs with an optional sort and limit. */
static int fetch_procs(struct ctrace_cli *cli,
                       const char *sort,
                       uint64_t limit,
                       json_t **reply)
{
    char path[256] = "/api/v1/procs";
    size_t len = strlen(path);
    char sep = '?';
    if (sort != NULL) {
        len += (size_t)snprintf(
            path + len, sizeof(path) - len, "%csort=%s", sep, sort);
        sep = '&';
    }
    if (limit > 0)
        snprintf(
            path + len, sizeof(path) - len, "%climit=%" PRIu64, sep, limit);
    return ctrace_cli_request(cli, "GET", path, NULL, 0, reply);
}

/*
 * The options `procs` and `top` share, and getopt's verdicts: a usage
 * error (-2), --help, a stray argument, --sort and -n (1 to `n_max`).
 * Returns true when `id` was one of these, with *rc set to -1 to go on or
 * to what the command returns; false for an option of the command's own.
 */
static bool ranking_opt(const char *cmd,
                        int id,
                        const char *v,
                        uint64_t n_max,
                        const char **sort,
                        uint64_t *limit,
                        int *rc)
{
    *rc = -1;
    switch (id) {
    case -2:
        *rc = CTRACE_CLI_USAGE;
        return true;
    case CTRACE_CLI_OPT_HELP:
        ctrace_cli_help(stdout, cmd);
        *rc = CTRACE_CLI_OK;
        return true;
    case 0:
        *rc = ctrace_cli_usage_error(cmd, "unexpected argument '%s'", v);
        return true;
    case OPT_SORT:
        if (!attr_valid(v))
            *rc =
                ctrace_cli_usage_error(cmd,
                                       "--sort: expected memory, reductions or "
                                       "message_queue_len, got '%s'",
                                       v);
        else
            *sort = v;
        return true;
    case OPT_N:
        if (!ctrace_cli_parse_uint(cmd, "-n", v, 1, n_max, limit))
            *rc = CTRACE_CLI_USAGE;
        return true;
    default:
        return false;
    }
}

int ctrace_cli_procs(struct ctrace_cli *cli, int argc, char **argv)
{
    static const struct ctrace_cli_opt opts[] = {{"sort", 's', true, OPT_SORT},
                                                 {"n", 'n', true, OPT_N},
                                                 {NULL, 0, false, 0}};
    struct ctrace_cli_getopt g = {"procs", argc, argv, 0, false};
    const char *v;
    const char *sort = NULL;
    uint64_t limit = 0;
    int id;
    while ((id = ctrace_cli_getopt_next(&g, opts, &v)) != -1) {
        int rc;
        if (ranking_opt("procs", id, v, 1000000, &sort, &limit, &rc) && rc >= 0)
            return rc;
    }
    json_t *reply;
    int rc = fetch_procs(cli, sort, limit, &reply);
    if (rc != CTRACE_CLI_OK)
        return rc;
    json_t *procs = json_object_get(reply, "procs");
    if (cli->json) {
        size_t i;
        json_t *p;
        json_array_foreach(procs, i, p)
        {
            ctrace_cli_print_json_line(p);
        }
    } else {
        print_procs(procs);
    }
    json_decref(reply);
    return CTRACE_CLI_OK;
}

/* ---- window ---- */

int ctrace_cli_window(struct ctrace_cli *cli, int argc, char **argv)
{
    static const struct ctrace_cli_opt opts[] = {
        {"n", 'n', true, OPT_N}, {"ms", 0, true, OPT_MS}, {NULL, 0, false, 0}};
    struct ctrace_cli_getopt g = {"window", argc, argv, 0, false};
    const char *v;
    const char *attr = NULL;
    uint64_t limit = 10, ms = 1000;
    int id;
    while ((id = ctrace_cli_getopt_next(&g, opts, &v)) != -1) {
        switch (id) {
        case -2:
            return CTRACE_CLI_USAGE;
        case CTRACE_CLI_OPT_HELP:
            ctrace_cli_help(stdout, "window");
            return CTRACE_CLI_OK;
        case 0:
            if (attr != NULL)
                return ctrace_cli_usage_error(
                    "window", "unexpected argument '%s'", v);
            if (!attr_valid(v))
                return ctrace_cli_usage_error(
                    "window",
                    "ATTR: expected memory, reductions or message_queue_len, "
                    "got '%s'",
                    v);
            attr = v;
            break;
        case OPT_N:
            if (!ctrace_cli_parse_uint("window", "-n", v, 1, 1000000, &limit))
                return CTRACE_CLI_USAGE;
            break;
        case OPT_MS:
            if (!ctrace_cli_parse_uint("window", "--ms", v, 1, 10000, &ms))
                return CTRACE_CLI_USAGE;
            break;
        }
    }
    if (attr == NULL)
        return ctrace_cli_usage_error(
            "window", "no ATTR given: memory, reductions or message_queue_len");
    char path[256];
    snprintf(path,
             sizeof(path),
             "/api/v1/procs/window?attr=%s&limit=%" PRIu64 "&ms=%" PRIu64,
             attr,
             limit,
             ms);
    json_t *reply;
    int rc =
        ctrace_cli_request(cli, "GET", path, NULL, (long)ms + 30000, &reply);
    if (rc != CTRACE_CLI_OK)
        return rc;
    json_t *procs = json_object_get(reply, "procs");
    size_t i;
    json_t *p;
    if (cli->json) {
        json_array_foreach(procs, i, p)
        {
            ctrace_cli_print_json_line(p);
        }
    } else {
        char head[64];
        snprintf(head, sizeof(head), "%s/%" PRIu64 "ms", attr, ms);
        const char *heads[] = {"PID", head, "NAME", "CURRENT"};
        static const bool right[] = {false, true, false, false};
        struct table t = {4, heads, right, NULL, 0};
        json_array_foreach(procs, i, p)
        {
            char *row[4] = {str_field(p, "pid"),
                            str_field(p, "value"),
                            label_of(p),
                            str_field(p, "current")};
            table_add(&t, row);
        }
        table_print(&t);
        table_free(&t);
    }
    json_decref(reply);
    return CTRACE_CLI_OK;
}

/* ---- info, state, status ---- */

/* How show_proc() prints a reply for people. */
enum show { SHOW_KEYS, SHOW_STATE, SHOW_PRETTY };

/*
 * `ctrace CMD PROC`: GET /api/v1/procs/PROC`sub` and print the reply, as
 * one JSON line with --json, else as `how` says.
 */
static int show_proc(struct ctrace_cli *cli,
                     const char *cmd,
                     int argc,
                     char **argv,
                     const char *sub,
                     enum show how)
{
    const char *proc;
    int rc = one_proc(cmd, argc, argv, &proc);
    if (rc >= 0)
        return rc;
    json_t *reply;
    if ((rc = get_proc(cli, proc, sub, &reply)) != CTRACE_CLI_OK)
        return rc;
    if (cli->json)
        ctrace_cli_print_json_line(reply);
    else if (how == SHOW_KEYS)
        ctrace_cli_print_keys(reply);
    else if (how == SHOW_STATE)
        ctrace_cli_print_json_pretty(json_object_get(reply, "state"));
    else
        ctrace_cli_print_json_pretty(reply);
    json_decref(reply);
    return CTRACE_CLI_OK;
}

int ctrace_cli_info(struct ctrace_cli *cli, int argc, char **argv)
{
    return show_proc(cli, "info", argc, argv, "", SHOW_KEYS);
}

int ctrace_cli_state(struct ctrace_cli *cli, int argc, char **argv)
{
    return show_proc(cli, "state", argc, argv, "/state", SHOW_STATE);
}

int ctrace_cli_status(struct ctrace_cli *cli, int argc, char **argv)
{
    return show_proc(cli, "status", argc, argv, "/status", SHOW_PRETTY);
}

/* ---- replace-state ---- */

/* Reads all of `f` into a new string; NULL on error (errno set). */
static char *read_all(FILE *f)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    if (m == NULL)
        return NULL;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    int failed = ferror(f);
    fclose(m);
    if (failed) {
        free(s);
        errno = EIO;
        return NULL;
    }
    return s;
}

int ctrace_cli_replace_state(struct ctrace_cli *cli, int argc, char **argv)
{
    const char *cmd = "replace-state";
    static const struct ctrace_cli_opt opts[] = {
        {"patch", 0, false, OPT_PATCH},
        {"if-version", 0, true, OPT_IF_VERSION},
        {NULL, 0, false, 0}};
    struct ctrace_cli_getopt g = {cmd, argc, argv, 0, false};
    const char *v;
    const char *operands[3] = {NULL, NULL, NULL};
    bool patch = false;
    char if_match[24] = "";
    int n = 0, id;
    while ((id = ctrace_cli_getopt_next(&g, opts, &v)) != -1) {
        if (id == -2)
            return CTRACE_CLI_USAGE;
        if (id == CTRACE_CLI_OPT_HELP) {
            ctrace_cli_help(stdout, cmd);
            return CTRACE_CLI_OK;
        }
        if (id == OPT_PATCH) {
            patch = true;
            continue;
        }
        if (id == OPT_IF_VERSION) {
            /* As `ctrace state --json` prints it, quotes of an ETag or not. */
            size_t len = strlen(v);
            const char *hex = v;
            if (len == 18 && v[0] == '"' && v[17] == '"') {
                hex++;
                len -= 2;
            }
            bool ok = len == 16;
            for (size_t i = 0; ok && i < len; i++)
                ok = isxdigit((unsigned char)hex[i]) != 0;
            if (!ok)
                return ctrace_cli_usage_error(
                    cmd,
                    "--if-version takes the 16 hex digits of a state's "
                    "version, as `ctrace state --json` prints it; got '%s'",
                    v);
            snprintf(if_match, sizeof(if_match), "\"%.16s\"", hex);
            continue;
        }
        if (n == 2)
            return ctrace_cli_usage_error(cmd, "unexpected argument '%s'", v);
        operands[n++] = v;
    }
    if (n < 2)
        return ctrace_cli_usage_error(
            cmd,
            patch ? "expected PROC and the patch (JSON, or @FILE)"
                  : "expected PROC and the new state (JSON, or @FILE)");
    const char *proc = operands[0];
    const char *arg = operands[1];
    char *text = NULL;
    const char *source = patch ? "the patch" : "the new state";
    if (arg[0] == '@') {
        source = arg + 1;
        FILE *f = strcmp(arg, "@-") == 0 ? stdin : fopen(arg + 1, "r");
        if (f == NULL)
            return ctrace_cli_usage_error(
                cmd, "cannot read %s: %s", arg + 1, ctrace_strerror(-errno));
        text = read_all(f);
        int e = errno;
        if (f != stdin)
            fclose(f);
        if (text == NULL)
            return ctrace_cli_usage_error(
                cmd, "cannot read %s: %s", arg + 1, ctrace_strerror(-e));
    }
    json_error_t jerr;
    json_t *state =
        json_loads(text != NULL ? text : arg, JSON_DECODE_ANY, &jerr);
    free(text);
    if (state == NULL)
        return ctrace_cli_usage_error(cmd,
                                      "%s is not JSON: line %d, column %d: %s",
                                      source,
                                      jerr.line,
                                      jerr.column,
                                      jerr.text);
    char *path = proc_path(proc, "/state");
    json_t *reply = NULL;
    int rc = path == NULL ? CTRACE_CLI_REMOTE
                          : ctrace_cli_request_with(
                                cli,
                                patch ? "PATCH" : "PUT",
                                path,
                                state,
                                patch ? "application/merge-patch+json" : NULL,
                                if_match[0] != '\0' ? if_match : NULL,
                                0,
                                &reply);
    free(path);
    json_decref(state);
    if (rc == CTRACE_CLI_OK) {
        if (cli->json)
            ctrace_cli_print_json_line(reply);
        else
            puts("ok");
    }
    json_decref(reply);
    return rc;
}

/* ---- system ---- */

int ctrace_cli_system(struct ctrace_cli *cli, int argc, char **argv)
{
    int rc = ctrace_cli_no_args("system", argc, argv);
    if (rc >= 0)
        return rc;
    json_t *reply;
    rc = ctrace_cli_request(cli, "GET", "/api/v1/system", NULL, 0, &reply);
    if (rc != CTRACE_CLI_OK)
        return rc;
    if (cli->json)
        ctrace_cli_print_json_line(reply);
    else
        ctrace_cli_print_keys(reply);
    json_decref(reply);
    return CTRACE_CLI_OK;
}

/* ---- top ---- */

/* "1:02:03" or "2d 1:02:03" from milliseconds. */
static void format_uptime(char *buf, size_t size, json_int_t ms)
{
    long long s = ms / 1000;
    long long d = s / 86400;
    if (d > 0)
        snprintf(buf,
                 size,
                 "%lldd %lld:%02lld:%02lld",
                 d,
                 s / 3600 % 24,
                 s / 60 % 60,
                 s % 60);
    else
        snprintf(
            buf, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

static void print_top_header(const json_t *sys,
                             const char *sort,
                             bool window,
                             uint64_t limit,
                             uint64_t interval_ms)
{
    char up[64];
    format_uptime(
        up, sizeof(up), json_integer_value(json_object_get(sys, "uptime_ms")));
    const char *program = json_string_value(json_object_get(sys, "program"));
    json_t *sessions = json_object_get(sys, "sessions");
    printf("%s (pid %" JSON_INTEGER_FORMAT ")  up %s  cpu %" JSON_INTEGER_FORMAT
           " ms  rss %.1f MiB  threads %" JSON_INTEGER_FORMAT "\n",
           program != NULL ? program : "?",
           json_integer_value(json_object_get(sys, "pid")),
           up,
           json_integer_value(json_object_get(sys, "cpu_ms")),
           (double)json_integer_value(json_object_get(sys, "rss_bytes")) /
               (1024.0 * 1024.0),
           json_integer_value(json_object_get(sys, "threads")));
    printf("processes %" JSON_INTEGER_FORMAT "  sessions %" JSON_INTEGER_FORMAT
           "/%" JSON_INTEGER_FORMAT "  events %" JSON_INTEGER_FORMAT
           "  dropped %" JSON_INTEGER_FORMAT,
           json_integer_value(json_object_get(sys, "processes")),
           json_integer_value(json_object_get(sessions, "running")),
           json_integer_value(json_object_get(sessions, "max")),
           json_integer_value(json_object_get(sys, "events")),
           json_integer_value(json_object_get(sys, "dropped")));
    if (window)
        printf("  (top %" PRIu64 " by %s over the last %" PRIu64 " ms)\n\n",
               limit,
               sort,
               interval_ms);
    else
        printf("  (top %" PRIu64 " by %s, totals, every %" PRIu64 " ms)\n\n",
               limit,
               sort,
               interval_ms);
}

/* A window round: the growth of `attr` over the interval, per process. */
static void print_top_window(const json_t *procs, const char *attr)
{
    char head[64];
    snprintf(head, sizeof(head), "%s/interval", attr);
    for (char *c = head; *c != '\0'; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    const char *heads[] = {"PID", "NAME", "CURRENT", head};
    static const bool right[] = {false, false, false, true};
    struct table t = {4, heads, right, NULL, 0};
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p)
    {
        char *row[4] = {str_field(p, "pid"),
                        label_of(p),
                        str_field(p, "current"),
                        str_field(p, "value")};
        table_add(&t, row);
    }
    table_print(&t);
    table_free(&t);
}

/*
 * observer_cli's keys, read between rounds: `r` `m` `mq` rank by the
 * totals of reductions, memory, message_queue_len; the doubled `rr` `mm`
 * rank by their growth over the refresh interval. Other bytes are ignored;
 * the last command typed wins. Returns whether one was found.
 */
static bool top_keys(const char *keys, const char **sort, bool *window)
{
    bool found = false;
    for (size_t i = 0; keys[i] != '\0'; i++) {
        char c = keys[i], n = keys[i + 1];
        if ((c == 'r' || c == 'm') && n == c) {
            *sort = c == 'r' ? "reductions" : "memory";
            *window = true;
            i++;
        } else if (c == 'm' && n == 'q') {
            *sort = "message_queue_len";
            *window = false;
            i++;
        } else if (c == 'r' || c == 'm') {
            *sort = c == 'r' ? "reductions" : "memory";
            *window = false;
        } else {
            continue;
        }
        found = true;
    }
    return found;
}

/* Reads what was typed (or piped) since the last round, without waiting. */
static void read_keys(char *buf, size_t size)
{
    size_t len = 0;
    struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
    while (len + 1 < size && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN)) {
        ssize_t n = read(STDIN_FILENO, buf + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
}

int ctrace_cli_top(struct ctrace_cli *cli, int argc, char **argv)
{
    static const struct ctrace_cli_opt opts[] = {
        {"sort", 's', true, OPT_SORT},
        {"n", 'n', true, OPT_N},
        {"interval", 'i', true, OPT_INTERVAL},
        {"iterations", 0, true, OPT_ITERATIONS},
        {"window", 'w', false, OPT_WINDOW},
        {"totals", 0, false, OPT_TOTALS},
        {NULL, 0, false, 0}};
    struct ctrace_cli_getopt g = {"top", argc, argv, 0, false};
    const char *v;
    const char *sort = "reductions";
    uint64_t limit = 15, interval = 1000, iterations = 0;
    /* -1: the default, a window for reductions and totals otherwise. */
    int window_opt = -1;
    int id;
    while ((id = ctrace_cli_getopt_next(&g, opts, &v)) != -1) {
        int rc;
        if (ranking_opt("top", id, v, 10000, &sort, &limit, &rc)) {
            if (rc >= 0)
                return rc;
            continue;
        }
        switch (id) {
        case OPT_INTERVAL:
            if (!ctrace_cli_parse_uint(
                    "top", "--interval", v, 10, 3600000, &interval))
                return CTRACE_CLI_USAGE;
            break;
        case OPT_ITERATIONS:
            if (!ctrace_cli_parse_uint(
                    "top", "--iterations", v, 1, UINT32_MAX, &iterations))
                return CTRACE_CLI_USAGE;
            break;
        case OPT_WINDOW:
            window_opt = 1;
            break;
        case OPT_TOTALS:
            window_opt = 0;
            break;
        }
    }
    bool window =
        window_opt >= 0 ? window_opt == 1 : strcmp(sort, "reductions") == 0;
    /* The service measures a window of at most a minute. */
    if (window && interval > 60000)
        return ctrace_cli_usage_error("top",
                                      "--interval: a window is at most 60000 "
                                      "ms; add --totals for longer rounds");
    bool tty = !cli->json && isatty(STDOUT_FILENO);
    /* Keys take effect without Enter and are not echoed on a terminal. */
    struct termios saved;
    bool raw = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
    }
    ctrace_cli_catch_signals();
    int status = CTRACE_CLI_OK;
    for (uint64_t k = 0; iterations == 0 || k < iterations; k++) {
        /* A window round waits on the service; a totals round here. */
        if (k > 0 && !window) {
            ctrace_cli_sleep_ms((long)interval);
            if (ctrace_cli_interrupted)
                break;
        }
        json_t *sys = NULL, *reply = NULL;
        int rc = CTRACE_CLI_OK;
        if (window) {
            char path[256];
            snprintf(path,
                     sizeof(path),
                     "/api/v1/procs/window?attr=%s&limit=%" PRIu64
                     "&ms=%" PRIu64,
                     sort,
                     limit,
                     interval);
            rc = ctrace_cli_request(
                cli, "GET", path, NULL, (long)interval + 30000, &reply);
        } else {
            rc = fetch_procs(cli, sort, limit, &reply);
        }
        if (rc == CTRACE_CLI_OK)
            rc =
                ctrace_cli_request(cli, "GET", "/api/v1/system", NULL, 0, &sys);
        if (rc != CTRACE_CLI_OK) {
            json_decref(sys);
            json_decref(reply);
            if (!ctrace_cli_interrupted)
                status = rc;
            break;
        }
        if (cli->json) {
            json_t *line = json_pack("{s:O, s:s, s:b, s:I, s:O?}",
                                     "system",
                                     sys,
                                     "sort",
                                     sort,
                                     "window",
                                     window,
                                     "interval_ms",
                                     (json_int_t)interval,
                                     "procs",
                                     json_object_get(reply, "procs"));
            ctrace_cli_print_json_line(line);
            json_decref(line);
        } else {
            if (tty)
                fputs("\033[H\033[2J", stdout);
            else if (k > 0)
                putchar('\n');
            print_top_header(sys, sort, window, limit, interval);
            if (window)
                print_top_window(json_object_get(reply, "procs"), sort);
            else
                print_procs(json_object_get(reply, "procs"));
        }
        fflush(stdout);
        json_decref(sys);
        json_decref(reply);
        if (ctrace_cli_interrupted)
            break;
        char keys[64];
        read_keys(keys, sizeof(keys));
        (void)top_keys(keys, &sort, &window);
        if (window && interval > 60000)
            window = false;
    }
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    return status;
}
