/* SPDX-License-Identifier: MIT */
/*
 * `ctrace trace`, redbug's command line against a running service, and the
 * commands around it: `points` (what can be traced), `sessions` (what is
 * tracing) and `stop` (end a session).
 *
 * `trace` checks its specs locally first, starts a session (POST
 * /api/v1/sessions), then reads its event stream and prints each event as
 * it arrives, flushing every one, so that `ctrace trace ... | grep` works.
 * The last line is the session's `% stopped: REASON (N events, M dropped)`.
 * Ctrl-C stops the remote session with DELETE, then keeps reading until the
 * stream brings the stopped event (or a short deadline passes), so the user
 * sees how it ended and the service is left as it was.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "ctrace/error.h"

/* How long to wait for the stopped event after Ctrl-C. */
#define STOP_DEADLINE_MS 3000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- points ---- */

int ctrace_cli_points(struct ctrace_cli *cli, int argc, char **argv)
{
    static const struct ctrace_cli_opt opts[] = {{NULL, 0, false, 0}};
    struct ctrace_cli_getopt g = {"points", argc, argv, 0, false};
    const char *glob = NULL;
    const char *v;
    int id;
    while ((id = ctrace_cli_getopt_next(&g, opts, &v)) != -1) {
        if (id == -2)
            return CTRACE_CLI_USAGE;
        if (id == CTRACE_CLI_OPT_HELP) {
            ctrace_cli_help(stdout, "points");
            return CTRACE_CLI_OK;
        }
        if (glob != NULL)
            return ctrace_cli_usage_error(
                "points", "one GLOB at most; got '%s' and '%s'", glob, v);
        glob = v;
    }
    char path[1024] = "/api/v1/points";
    if (glob != NULL) {
        char *e = ctrace_cli_escape(glob);
        if (e == NULL || strlen(e) > 900) {
            free(e);
            return ctrace_cli_usage_error("points", "GLOB is too long");
        }
        snprintf(path, sizeof(path), "/api/v1/points?match=%s", e);
        free(e);
    }
    json_t *reply;
    int rc = ctrace_cli_request(cli, "GET", path, NULL, 0, &reply);
    if (rc != CTRACE_CLI_OK)
        return rc;
    json_t *points = json_object_get(reply, "points");
    size_t i;
    json_t *p;
    if (!cli->json) {
        /* Column widths first, for a table a person can read. */
        int w = (int)strlen("POINT");
        json_array_foreach(points, i, p)
        {
            int len =
                snprintf(NULL,
                         0,
                         "%s:%s/%" JSON_INTEGER_FORMAT,
                         json_string_value(json_object_get(p, "module")),
                         json_string_value(json_object_get(p, "function")),
                         json_integer_value(json_object_get(p, "arity")));
            if (len > w)
                w = len;
        }
        printf("%-*s  %5s  %s\n", w, "POINT", "ARMED", "LOCATION");
        json_array_foreach(points, i, p)
        {
            char name[512];
            snprintf(name,
                     sizeof(name),
                     "%s:%s/%" JSON_INTEGER_FORMAT,
                     json_string_value(json_object_get(p, "module")),
                     json_string_value(json_object_get(p, "function")),
                     json_integer_value(json_object_get(p, "arity")));
            const char *file = json_string_value(json_object_get(p, "file"));
            printf("%-*s  %5" JSON_INTEGER_FORMAT "  %s:%" JSON_INTEGER_FORMAT
                   "\n",
                   w,
                   name,
                   json_integer_value(json_object_get(p, "armed")),
                   file != NULL ? file : "?",
                   json_integer_value(json_object_get(p, "line")));
        }
    } else {
        json_array_foreach(points, i, p)
        {
            ctrace_cli_print_json_line(p);
        }
    }
    int status = CTRACE_CLI_OK;
    if (json_array_size(points) == 0 && glob != NULL && !cli->json) {
        fprintf(stderr, "ctrace: no trace point matches '%s'\n", glob);
        status = CTRACE_CLI_REMOTE;
    }
    json_decref(reply);
    return status;
}

/* ---- sessions and stop ---- */

/* "% stopped: REASON (N events, M dropped)" from a session object. */
static void print_stopped_line(FILE *out, const json_t *session)
{
    const char *reason = json_string_value(json_object_get(session, "reason"));
    fprintf(out,
            "%% stopped: %s (%" JSON_INTEGER_FORMAT
            " events, %" JSON_INTEGER_FORMAT " dropped)\n",
            reason != NULL ? reason : "?",
            json_integer_value(json_object_get(session, "events")),
            json_integer_value(json_object_get(session, "dropped")));
}

int ctrace_cli_sessions(struct ctrace_cli *cli, int argc, char **argv)
{
    int rc = ctrace_cli_no_args("sessions", argc, argv);
    if (rc >= 0)
        return rc;
    json_t *reply;
    rc = ctrace_cli_request(cli, "GET", "/api/v1/sessions", NULL, 0, &reply);
    if (rc != CTRACE_CLI_OK)
        return rc;
    json_t *sessions = json_object_get(reply, "sessions");
    size_t i;
    json_t *s;
    if (!cli->json)
        printf("%4s  %-8s  %8s  %8s  %-28s  %s\n",
               "ID",
               "STATE",
               "EVENTS",
               "DROPPED",
               "REASON",
               "SPECS");
    json_array_foreach(sessions, i, s)
    {
        if (cli->json) {
            ctrace_cli_print_json_line(s);
            continue;
        }
        char *specs = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&specs, &len);
        size_t j;
        json_t *spec;
        json_array_foreach(json_object_get(s, "specs"), j, spec)
        {
            if (f != NULL)
                fprintf(f, "%s%s", j > 0 ? "  " : "", json_string_value(spec));
        }
        if (f != NULL)
            fclose(f);
        const char *state = json_string_value(json_object_get(s, "state"));
        const char *reason = json_string_value(json_object_get(s, "reason"));
        printf("%4" JSON_INTEGER_FORMAT "  %-8s  %8" JSON_INTEGER_FORMAT
               "  %8" JSON_INTEGER_FORMAT "  %-28s  %s\n",
               json_integer_value(json_object_get(s, "id")),
               state != NULL ? state : "?",
               json_integer_value(json_object_get(s, "events")),
               json_integer_value(json_object_get(s, "dropped")),
               reason != NULL ? reason : "",
               specs != NULL ? specs : "");
        free(specs);
    }
    json_decref(reply);
    return CTRACE_CLI_OK;
}

int ctrace_cli_stop(struct ctrace_cli *cli, int argc, char **argv)
{
    static const struct ctrace_cli_opt opts[] = {{NULL, 0, false, 0}};
    struct ctrace_cli_getopt g = {"stop", argc, argv, 0, false};
    const char *v;
    const char *which = NULL;
    int id;
    while ((id = ctrace_cli_getopt_next(&g, opts, &v)) != -1) {
        if (id == -2)
            return CTRACE_CLI_USAGE;
        if (id == CTRACE_CLI_OPT_HELP) {
            ctrace_cli_help(stdout, "stop");
            return CTRACE_CLI_OK;
        }
        if (which != NULL)
            return ctrace_cli_usage_error(
                "stop", "unexpected argument '%s'", v);
        which = v;
    }
    uint64_t sid;
    if (which == NULL)
        return ctrace_cli_usage_error("stop", "no session ID given");
    if (!ctrace_cli_parse_uint("stop", "ID", which, 0, INT64_MAX, &sid))
        return CTRACE_CLI_USAGE;
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/sessions/%" PRIu64, sid);
    json_t *reply;
    int rc = ctrace_cli_request(cli, "DELETE", path, NULL, 0, &reply);
    if (rc != CTRACE_CLI_OK)
        return rc;
    if (cli->json)
        ctrace_cli_print_json_line(reply);
    else
        print_stopped_line(stdout, reply);
    json_decref(reply);
    return CTRACE_CLI_OK;
}

/* ---- trace ---- */

enum {
    OPT_TIME = 1,
    OPT_MSGS,
    OPT_CALLS,
    OPT_RATE,
    OPT_PROCS,
    OPT_MS,
    OPT_FORMAT,
    OPT_MAX_MSG_SIZE,
    OPT_PRINT_DEPTH,
    OPT_MAX_QUEUE,
    OPT_OUTPUT,
    OPT_FORCE,
    OPT_MAX_OVERHEAD,
    OPT_OVERHEAD_TRIP
};

static const struct ctrace_cli_opt trace_opts[] = {
    {"time", 't', true, OPT_TIME},
    {"msgs", 'm', true, OPT_MSGS},
    {"calls", 0, true, OPT_CALLS},
    {"rate", 0, true, OPT_RATE},
    {"procs", 'p', true, OPT_PROCS},
    {"ms", 0, false, OPT_MS},
    {"format", 'f', true, OPT_FORMAT},
    {"max-msg-size", 0, true, OPT_MAX_MSG_SIZE},
    {"print-depth", 0, true, OPT_PRINT_DEPTH},
    {"max-queue", 0, true, OPT_MAX_QUEUE},
    {"output", 'o', true, OPT_OUTPUT},
    {"force", 0, false, OPT_FORCE},
    {"max-overhead", 0, true, OPT_MAX_OVERHEAD},
    {"overhead-trip", 0, true, OPT_OVERHEAD_TRIP},
    {NULL, 0, false, 0}};

/* What the event stream's callbacks need. */
struct trace_run {
    struct ctrace_cli *cli;
    FILE *out;
    bool to_file;
    bool json_lines;
    long long session;
    bool stopped;       /* the stopped event came */
    bool stop_sent;     /* DELETE was sent (Ctrl-C or a write error) */
    long long deadline; /* after DELETE, when to give up on the stream */
    json_t *deleted;    /* the DELETE answer, for a stopped line of our own */
    bool write_failed;
    int write_errno;
};

/* Stops the remote session; keeps its answer for the stopped line. */
static void stop_remote(struct trace_run *r)
{
    if (r->stop_sent)
        return;
    r->stop_sent = true;
    r->deadline = now_ms() + STOP_DEADLINE_MS;
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/sessions/%lld", r->session);
    /*
     * A session that just stopped on its own may answer that it is stopped
     * already or gone; either way the stream brings the stopped event, and
     * a service that cannot be reached shows as the stream failing, so the
     * answer is only kept, never reported.
     */
    json_t *reply = NULL;
    r->cli->quiet = true;
    ctrace_cli_request(r->cli, "DELETE", path, NULL, 5000, &reply);
    r->cli->quiet = false;
    r->deleted = reply;
}

static bool output(struct trace_run *r, const char *text, size_t len)
{
    if (r->write_failed)
        return false;
    if (fwrite(text, 1, len, r->out) != len || fflush(r->out) != 0) {
        r->write_failed = true;
        r->write_errno = errno;
        return false;
    }
    return true;
}

/*
 * Prints the end of the session from the stopped event (or, after Ctrl-C
 * when the stream did not bring it in time, from the DELETE answer): its
 * text, or one JSON line in the JSON formats. With --output it goes to the
 * file and to standard output, so the terminal shows how the trace ended.
 */
static void print_stopped(struct trace_run *r, const json_t *d)
{
    char *s = NULL;
    if (r->json_lines) {
        json_t *line = json_pack("{s:s, s:O?, s:O?, s:O?}",
                                 "kind",
                                 "stopped",
                                 "reason",
                                 json_object_get(d, "reason"),
                                 "events",
                                 json_object_get(d, "events"),
                                 "dropped",
                                 json_object_get(d, "dropped"));
        char *compact = line != NULL ? json_dumps(line, JSON_COMPACT) : NULL;
        json_decref(line);
        if (compact != NULL && asprintf(&s, "%s\n", compact) < 0)
            s = NULL;
        free(compact);
    } else {
        const char *text = json_string_value(json_object_get(d, "text"));
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        if (f != NULL) {
            if (text != NULL)
                fputs(text, f);
            else
                print_stopped_line(f, d);
            if (text != NULL && text[0] != '\0' &&
                text[strlen(text) - 1] != '\n')
                fputc('\n', f);
            fclose(f);
        }
    }
    if (s == NULL)
        return;
    output(r, s, strlen(s));
    if (r->to_file) {
        fputs(s, stdout);
        fflush(stdout);
    }
    free(s);
}

static bool on_event(const char *type, const char *data, void *arg)
{
    struct trace_run *r = arg;
    bool trace = strcmp(type, "trace") == 0;
    bool stopped = strcmp(type, "stopped") == 0;
    if (!trace && !stopped)
        return false; /* a kind this version does not know */
    json_t *d = json_loads(data, 0, NULL);
    if (d == NULL)
        return false;
    if (stopped) {
        r->stopped = true;
        print_stopped(r, d);
        json_decref(d);
        return true;
    }
    if (r->json_lines) {
        json_t *event = json_object_get(d, "event");
        char *s = event != NULL ? json_dumps(event, JSON_COMPACT) : NULL;
        if (s != NULL) {
            output(r, s, strlen(s));
            output(r, "\n", 1);
        }
        free(s);
    } else {
        const char *text = json_string_value(json_object_get(d, "text"));
        if (text != NULL)
            output(r, text, strlen(text));
    }
    json_decref(d);
    /* Nobody reads our output any more: stop the session, then end. */
    if (r->write_failed) {
        stop_remote(r);
        return true;
    }
    return false;
}

static bool on_tick(void *arg)
{
    struct trace_run *r = arg;
    if (ctrace_cli_interrupted && !r->stop_sent)
        stop_remote(r);
    return r->stop_sent && now_ms() > r->deadline;
}

/*
 * "--procs": "all", "new" and "existing" go as they are; anything else is
 * a comma-separated list of pids, process numbers and names.
 */
static json_t *procs_value(const char *text)
{
    if (strcmp(text, "all") == 0 || strcmp(text, "new") == 0 ||
        strcmp(text, "existing") == 0)
        return json_string(text);
    json_t *list = json_array();
    const char *p = text;
    while (list != NULL) {
        size_t n = strcspn(p, ",");
        if (n == 0) {
            json_decref(list);
            return NULL;
        }
        char item[256];
        if (n >= sizeof(item) - 8) {
            json_decref(list);
            return NULL;
        }
        if (strspn(p, "0123456789") == n)
            snprintf(item, sizeof(item), "<0.%.*s.0>", (int)n, p);
        else
            snprintf(item, sizeof(item), "%.*s", (int)n, p);
        json_array_append_new(list, json_string(item));
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    return list;
}

static bool rate_valid(const char *text)
{
    size_t a = strspn(text, "0123456789");
    if (a == 0 || text[a] != '/')
        return false;
    size_t b = strspn(text + a + 1, "0123456789");
    return b > 0 && text[a + 1 + b] == '\0';
}

int ctrace_cli_trace(struct ctrace_cli *cli, int argc, char **argv)
{
    const char *cmd = "trace";
    json_t *body = json_object();
    json_t *specs = json_array();
    char **spec_text = calloc((size_t)argc + 1, sizeof(*spec_text));
    int nspecs = 0;
    const char *output_file = NULL;
    const char *format = "redbug";
    int status = CTRACE_CLI_USAGE;
    struct trace_run r = {.cli = cli, .out = stdout, .session = -1};
    if (body == NULL || specs == NULL || spec_text == NULL) {
        fputs("ctrace: out of memory\n", stderr);
        status = CTRACE_CLI_REMOTE;
        goto done;
    }

    struct ctrace_cli_getopt g = {cmd, argc, argv, 0, false};
    const char *v;
    int id;
    uint64_t n;
    /* The limits, to refuse a session nothing would end before sending. */
    uint64_t time_ms = 15000, msgs = 10, calls = 0;
    bool force = false;
    while ((id = ctrace_cli_getopt_next(&g, trace_opts, &v)) != -1) {
        switch (id) {
        case -2:
            goto done;
        case CTRACE_CLI_OPT_HELP:
            ctrace_cli_help(stdout, cmd);
            status = CTRACE_CLI_OK;
            goto done;
        case 0:
            spec_text[nspecs++] = (char *)v;
            json_array_append_new(specs, json_string(v));
            break;
        case OPT_TIME:
            if (!ctrace_cli_parse_uint(cmd, "--time", v, 0, INT32_MAX, &n))
                goto done;
            time_ms = n;
            json_object_set_new(body, "time_ms", json_integer((json_int_t)n));
            break;
        case OPT_MSGS:
            if (!ctrace_cli_parse_uint(cmd, "--msgs", v, 0, INT32_MAX, &n))
                goto done;
            msgs = n;
            json_object_set_new(body, "msgs", json_integer((json_int_t)n));
            break;
        case OPT_CALLS:
            if (!ctrace_cli_parse_uint(cmd, "--calls", v, 0, INT32_MAX, &n))
                goto done;
            calls = n;
            json_object_set_new(body, "calls", json_integer((json_int_t)n));
            break;
        case OPT_RATE:
            if (!rate_valid(v)) {
                ctrace_cli_usage_error(
                    cmd, "--rate: expected N/MS such as 100/1000, got '%s'", v);
                goto done;
            }
            json_object_set_new(body, "rate", json_string(v));
            break;
        case OPT_PROCS: {
            json_t *procs = procs_value(v);
            if (procs == NULL) {
                ctrace_cli_usage_error(cmd,
                                       "--procs: expected all, new, existing "
                                       "or a list of pids and names such as "
                                       "<0.7.0>,12,cat_registry; got '%s'",
                                       v);
                goto done;
            }
            json_object_set_new(body, "procs", procs);
            break;
        }
        case OPT_MS:
            json_object_set_new(body, "timestamps_ms", json_true());
            break;
        case OPT_FORMAT:
            if (strcmp(v, "redbug") != 0 && strcmp(v, "recon") != 0 &&
                strcmp(v, "json") != 0) {
                ctrace_cli_usage_error(
                    cmd,
                    "--format: expected redbug, recon or json, got '%s'",
                    v);
                goto done;
            }
            format = v;
            json_object_set_new(body, "format", json_string(v));
            break;
        case OPT_MAX_MSG_SIZE:
            if (!ctrace_cli_parse_uint(cmd, "--max-msg-size", v, 1, 65536, &n))
                goto done;
            json_object_set_new(
                body, "max_msg_size", json_integer((json_int_t)n));
            break;
        case OPT_PRINT_DEPTH:
            if (!ctrace_cli_parse_uint(
                    cmd, "--print-depth", v, 1, INT32_MAX, &n))
                goto done;
            json_object_set_new(
                body, "print_depth", json_integer((json_int_t)n));
            break;
        case OPT_MAX_QUEUE:
            if (!ctrace_cli_parse_uint(cmd, "--max-queue", v, 1, 1048576, &n))
                goto done;
            json_object_set_new(body, "max_queue", json_integer((json_int_t)n));
            break;
        case OPT_MAX_OVERHEAD:
            if (!ctrace_cli_parse_uint(cmd, "--max-overhead", v, 1, 100, &n))
                goto done;
            json_object_set_new(
                body, "max_overhead_pct", json_integer((json_int_t)n));
            break;
        case OPT_OVERHEAD_TRIP:
            if (!ctrace_cli_parse_uint(
                    cmd, "--overhead-trip", v, 0, INT32_MAX, &n))
                goto done;
            json_object_set_new(
                body, "overhead_trip_ms", json_integer((json_int_t)n));
            break;
        case OPT_OUTPUT:
            output_file = v;
            break;
        case OPT_FORCE:
            force = true;
            json_object_set_new(body, "force", json_true());
            break;
        }
    }
    if (time_ms == 0 && msgs == 0 && calls == 0 && !force) {
        ctrace_cli_usage_error(cmd,
                               "--time 0 and --msgs 0 leave the session no "
                               "limit that would end it; set --time, --msgs "
                               "or --calls, or add --force");
        goto done;
    }
    if (nspecs == 0) {
        ctrace_cli_usage_error(cmd,
                               "no spec given; e.g. ctrace trace "
                               "'cat_traveler:enter -> return'");
        goto done;
    }
    /* A bad pattern is the user's to fix, before any connection. */
    if (!ctrace_cli_specs_check(nspecs, spec_text))
        goto done;
    json_object_set(body, "specs", specs);
    r.json_lines = cli->json || strcmp(format, "json") == 0;

    if (output_file != NULL) {
        r.out = fopen(output_file, "w");
        if (r.out == NULL) {
            ctrace_cli_usage_error(cmd,
                                   "--output: cannot open %s: %s",
                                   output_file,
                                   ctrace_strerror(-errno));
            goto done;
        }
        r.to_file = true;
    }

    /* From here on Ctrl-C stops the remote session instead of us. */
    ctrace_cli_catch_signals();
    json_t *reply;
    status =
        ctrace_cli_request(cli, "POST", "/api/v1/sessions", body, 0, &reply);
    if (status != CTRACE_CLI_OK)
        goto done;
    json_t *sid = json_object_get(reply, "id");
    const char *events = json_string_value(json_object_get(reply, "events"));
    if (!json_is_integer(sid)) {
        fprintf(stderr,
                "ctrace: the service did not say which session it "
                "started\n");
        json_decref(reply);
        status = CTRACE_CLI_REMOTE;
        goto done;
    }
    r.session = json_integer_value(sid);
    char path[128];
    if (events != NULL && events[0] == '/' && strlen(events) < sizeof(path))
        snprintf(path, sizeof(path), "%s", events);
    else
        snprintf(path, sizeof(path), "/api/v1/sessions/%lld/events", r.session);
    json_decref(reply);

    static const struct ctrace_cli_sse_ops ops = {on_event, on_tick};
    int rc = ctrace_cli_sse(cli, path, &ops, &r);
    if (r.write_failed) {
        fprintf(stderr,
                "ctrace: cannot write the events%s%s: %s; the session was "
                "stopped\n",
                r.to_file ? " to " : "",
                r.to_file ? output_file : "",
                ctrace_strerror(-r.write_errno));
        status = CTRACE_CLI_REMOTE;
    } else if (r.stopped) {
        status = CTRACE_CLI_OK;
    } else if (r.stop_sent && r.deleted != NULL) {
        /* Ctrl-C, and the stream did not bring the end in time. */
        print_stopped(&r, r.deleted);
        status = CTRACE_CLI_OK;
    } else if (r.stop_sent && rc == CTRACE_CLI_OK) {
        fprintf(stderr,
                "ctrace: session %lld may still be running: the service did "
                "not confirm the stop; see ctrace sessions, ctrace stop %lld\n",
                r.session,
                r.session);
        status = CTRACE_CLI_REMOTE;
    } else if (rc == -1) {
        fprintf(stderr,
                "ctrace: the event stream of session %lld ended before the "
                "session stopped\n",
                r.session);
        status = CTRACE_CLI_REMOTE;
    } else {
        /* A failure the reader reported; make sure nothing keeps running. */
        if (rc != CTRACE_CLI_CONNECT && !r.stop_sent)
            stop_remote(&r);
        status = rc == CTRACE_CLI_OK ? CTRACE_CLI_REMOTE : rc;
    }

done:
    if (r.to_file && r.out != NULL && fclose(r.out) != 0 &&
        status == CTRACE_CLI_OK) {
        fprintf(stderr,
                "ctrace: cannot write %s: %s\n",
                output_file,
                ctrace_strerror(-errno));
        status = CTRACE_CLI_REMOTE;
    }
    json_decref(r.deleted);
    json_decref(specs);
    json_decref(body);
    free(spec_text);
    return status;
}
