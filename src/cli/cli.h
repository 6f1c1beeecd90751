/* SPDX-License-Identifier: MIT */
/*
 * The `ctrace` command line: one function per command, each returning the
 * process exit code, plus the helpers they share: the command-line option
 * reader (opts.c), the HTTP client of the admin endpoint (http.c, which
 * prints every failure the way a script can rely on), and small output
 * helpers. The command line is single-threaded.
 */
#ifndef CTRACE_CLI_H
#define CTRACE_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes a script can rely on. */
enum {
    CTRACE_CLI_OK = 0,     /* success */
    CTRACE_CLI_REMOTE = 1, /* the service answered with an error */
    CTRACE_CLI_USAGE = 2,  /* bad command line or bad pattern */
    CTRACE_CLI_CONNECT = 3 /* cannot connect, or not authorized */
};

#define CTRACE_CLI_DEFAULT_URL "http://127.0.0.1:8081"

/* What every command that talks to a service needs: the global options. */
struct ctrace_cli {
    /* The endpoint, without a trailing '/'. */
    char url[512];
    /* The token file as given, and as shown in messages ("~/..."). */
    char token_file[1024];
    char token_file_shown[1024];
    /* The token, or "" when the file could not be read (token_error says
     * why); requests then go without one, which loopback reads allow. */
    char token[256];
    char token_error[256];
    /* --json: JSON lines instead of output for people. */
    bool json;
    /* Set around a request whose failure is not worth a message. */
    bool quiet;
};

/* ---- Commands (argv holds the arguments after the command's name). ---- */

int ctrace_cli_pattern(int argc, char **argv);
int ctrace_cli_points(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_trace(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_sessions(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_stop(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_system(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_procs(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_window(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_info(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_state(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_replace_state(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_status(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_sys(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_top(struct ctrace_cli *cli, int argc, char **argv);
int ctrace_cli_fds(struct ctrace_cli *cli, int argc, char **argv);

/*
 * Prints the help of `command` (NULL: the overview) on `out`. Returns false
 * when there is no such command.
 */
bool ctrace_cli_help(FILE *out, const char *command);

/*
 * Parses every spec with the library's own parser. Prints the first error
 * as `ctrace pattern` does (message, column, caret) and returns false.
 */
bool ctrace_cli_specs_check(int count, char **specs);

/* Prints a pattern error for `text` (spec `index` of `count`) with a caret. */
void ctrace_cli_pattern_report(const char *text,
                               int index,
                               int count,
                               int column,
                               const char *message);

/* ---- Options (opts.c). ---- */

struct ctrace_cli_opt {
    const char *name; /* long name without "--" */
    char short_name;  /* or 0 */
    bool has_arg;
    int id; /* > 0 */
};

/* Reads one command's arguments: options and operands in any order. */
struct ctrace_cli_getopt {
    const char *command; /* for messages: "ctrace trace: ..." */
    int argc;
    char **argv;
    int i;
    bool operands_only; /* after "--" */
};

/*
 * Returns the id of the next option (its value in *value when it takes
 * one), 0 for an operand (in *value), -1 at the end, or -2 after printing
 * a usage error that names the bad flag. "-h" and "--help" return
 * CTRACE_CLI_OPT_HELP.
 */
int ctrace_cli_getopt_next(struct ctrace_cli_getopt *g,
                           const struct ctrace_cli_opt *opts,
                           const char **value);
#define CTRACE_CLI_OPT_HELP 1000

/*
 * Parses a decimal integer in [min, max] given to `what` (a flag or an
 * operand name). Prints a usage error and returns false when it is not.
 */
bool ctrace_cli_parse_uint(const char *command,
                           const char *what,
                           const char *text,
                           uint64_t min,
                           uint64_t max,
                           uint64_t *out);

/*
 * The arguments of a command that takes no option and no operand: returns
 * -1 when there are none (go on), or the exit status once it has printed
 * the help (--help) or a usage error.
 */
int ctrace_cli_no_args(const char *command, int argc, char **argv);

/* Prints "ctrace CMD: MESSAGE" and the pointer to the help; returns 2. */
int ctrace_cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- HTTP (http.c). ---- */

/*
 * Reads the token file into cli->token (or the reason into token_error).
 * Never fails: a missing token only matters when the service asks for one.
 */
void ctrace_cli_load_token(struct ctrace_cli *cli);

/*
 * Sends METHOD url/PATH with `body` (NULL for none; borrowed) and waits for
 * the answer, at most `timeout_ms` (0: 30 s). On a 2xx answer returns 0 and
 * sets *out (may be NULL) to its JSON body, a new reference (NULL when the
 * body is empty). Otherwise prints the reason on standard error, returns
 * CTRACE_CLI_CONNECT (cannot connect, not authorized) or CTRACE_CLI_REMOTE
 * (the service's error, its `detail` printed as "ctrace: DETAIL"), or
 * CTRACE_CLI_USAGE for a pattern the service refused (printed with a caret,
 * as `ctrace pattern` does).
 */
int ctrace_cli_request(struct ctrace_cli *cli,
                       const char *method,
                       const char *path,
                       json_t *body,
                       long timeout_ms,
                       json_t **out);

/*
 * As ctrace_cli_request(), with the body's Content-Type (NULL:
 * application/json) and an If-Match header (NULL: none).
 */
int ctrace_cli_request_with(struct ctrace_cli *cli,
                            const char *method,
                            const char *path,
                            json_t *body,
                            const char *content_type,
                            const char *if_match,
                            long timeout_ms,
                            json_t **out);

/*
 * Returns a new string (free()) with `text` escaped for one path segment or
 * query value; NULL when memory runs out.
 */
char *ctrace_cli_escape(const char *text);

/* A Server-Sent Events reader. */
struct ctrace_cli_sse_ops {
    /* One event: its type ("message" when none) and data. Return true to
     * end the stream. */
    bool (*event)(const char *type, const char *data, void *arg);
    /* Called at least every 100 ms. Return true to end the stream. */
    bool (*tick)(void *arg);
};

/*
 * GETs url/PATH as an event stream and calls `ops` until one of them ends
 * it or the stream ends. Returns CTRACE_CLI_OK when a callback ended it, -1
 * when the service closed the stream, and otherwise the exit status of the
 * failure, already reported (as ctrace_cli_request() does).
 */
int ctrace_cli_sse(struct ctrace_cli *cli,
                   const char *path,
                   const struct ctrace_cli_sse_ops *ops,
                   void *arg);

/* ---- Signals (http.c). ---- */

/* Set by SIGINT and SIGTERM once ctrace_cli_catch_signals() was called. */
extern volatile sig_atomic_t ctrace_cli_interrupted;

/*
 * Catches SIGINT and SIGTERM: the first sets ctrace_cli_interrupted (and
 * interrupts sleeps), a second one ends the program with status 130.
 */
void ctrace_cli_catch_signals(void);

/* Sleeps `ms` milliseconds or until a signal is caught. */
void ctrace_cli_sleep_ms(long ms);

/* ---- Output helpers (procs.c). ---- */

/* Prints `value` as one compact JSON line on standard output. */
void ctrace_cli_print_json_line(const json_t *value);

/* Prints `value` indented for people. */
void ctrace_cli_print_json_pretty(const json_t *value);

/* Prints an object as aligned "key: value" lines. */
void ctrace_cli_print_keys(const json_t *object);

/* A value of an object as text for people: strings bare, null as "-". */
char *ctrace_cli_value_text(const json_t *value);

#endif /* CTRACE_CLI_H */
