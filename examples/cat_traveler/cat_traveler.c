/* SPDX-License-Identifier: MIT */
/*
 * cat_traveler: the demo service of ctrace. Cats enter and leave towns over
 * HTTP; one state server keeps track of who is where. The program parses its
 * flags, starts the state server and the HTTP front, prints the line
 * scripts wait for, and stops cleanly on SIGINT or SIGTERM.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "ctrace/ctrace.h"
#include "http.h"
#include "world.h"

#define PROG "cat_traveler"

static const char usage[] =
    "Usage: cat_traveler [OPTION]...\n"
    "The ctrace demo service: cats enter and leave towns over HTTP.\n"
    "\n"
    "  --port N             HTTP port (default 8080; 0 picks a free one)\n"
    "  --bind ADDR          address to listen on (default 127.0.0.1)\n"
    "  --threads N          HTTP threads, 1 to 64 (default: one per CPU)\n"
    "  --timeout SECONDS    close idle connections after this (default 15)\n"
    "  --max-connections N  connections at once (default 4096)\n"
    "  --max-per-ip N       connections at once from one client address\n"
    "                       (default 256; 0: no limit)\n"
    "  --max-cats N         cats in towns at once (default 100000)\n"
    "  --scenario NAME      a workshop scenario: hot-cat, slow-town, backlog,\n"
    "                       drift (default: none)\n"
    "  --seed N             seed for the scenarios' random choices\n"
    "  --admin-port N       ctrace admin endpoint port (default 8081; 0 picks\n"
    "                       a free one)\n"
    "  --admin-bind ADDR    admin endpoint address (default 127.0.0.1)\n"
    "  --token-file PATH    admin endpoint token file (default\n"
    "                       ~/.ctrace/token, created when missing)\n"
    "  --no-admin           no admin endpoint\n"
    "  --admin-read-only    the admin endpoint (and the observer page) only\n"
    "                       shows: no traces, no state changes, no sys\n"
    "  --trace SPEC         trace SPEC from the start, without limits, until\n"
    "                       the service stops (repeatable; needs "
    "--trace-file)\n"
    "  --trace-file PATH    append the --trace events to PATH (redbug text)\n"
    "  --exit-with-parent   stop (as on SIGTERM) when the parent process "
    "ends\n"
    "  --help, --version\n"
    "\n"
    "API: POST /enter and POST /leave with {\"cat\":\"Tihon\",\"town\":"
    "\"Barcelona\"};\n"
    "GET /cats, GET /towns, GET /health. See docs/demo.md.\n";

struct options {
    struct cat_http_opts http;
    struct cat_traveler_opts app;
    unsigned admin_port;
    const char *admin_bind;
    const char *token_file;
    bool no_admin;
    bool admin_read_only;
    /* An admin flag was given: failing to start the endpoint is fatal. */
    bool admin_asked;
    /* --trace specs, traced into trace_file from start to stop. */
    const char *trace[16];
    size_t ntrace;
    const char *trace_file;
    bool exit_with_parent;
};

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

/* Returns 0 to run, 1 to exit 0 (help, version), -1 for a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
    enum {
        OPT_PORT = 256,
        OPT_BIND,
        OPT_THREADS,
        OPT_TIMEOUT,
        OPT_MAX_CONNECTIONS,
        OPT_MAX_PER_IP,
        OPT_MAX_CATS,
        OPT_SCENARIO,
        OPT_SEED,
        OPT_ADMIN_PORT,
        OPT_ADMIN_BIND,
        OPT_TOKEN_FILE,
        OPT_NO_ADMIN,
        OPT_ADMIN_READ_ONLY,
        OPT_TRACE,
        OPT_TRACE_FILE,
        OPT_EXIT_WITH_PARENT,
        OPT_HELP,
        OPT_VERSION
    };
    static const struct option longopts[] = {
        {"port", required_argument, NULL, OPT_PORT},
        {"bind", required_argument, NULL, OPT_BIND},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"max-per-ip", required_argument, NULL, OPT_MAX_PER_IP},
        {"max-cats", required_argument, NULL, OPT_MAX_CATS},
        {"scenario", required_argument, NULL, OPT_SCENARIO},
        {"seed", required_argument, NULL, OPT_SEED},
        {"admin-port", required_argument, NULL, OPT_ADMIN_PORT},
        {"admin-bind", required_argument, NULL, OPT_ADMIN_BIND},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"no-admin", no_argument, NULL, OPT_NO_ADMIN},
        {"admin-read-only", no_argument, NULL, OPT_ADMIN_READ_ONLY},
        {"trace", required_argument, NULL, OPT_TRACE},
        {"trace-file", required_argument, NULL, OPT_TRACE_FILE},
        {"exit-with-parent", no_argument, NULL, OPT_EXIT_WITH_PARENT},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    *o = (struct options){
        .http = {.bind = "127.0.0.1",
                 .port = 8080,
                 .threads = (unsigned)default_threads(),
                 .timeout_s = 15,
                 .max_connections = 4096,
                 .max_per_ip = 256},
        .app = {.scenario = CAT_SCENARIO_NONE,
                .seed = cat_rand_seed(),
                .max_cats = 100000},
        .admin_port = 8081,
        .admin_bind = "127.0.0.1",
    };
    opterr = 0;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        const char *flag = optind > 0 && optind <= argc ? argv[optind - 1] : "";
        switch (c) {
        case OPT_PORT:
            if (cat_parse_uint(PROG, "--port", optarg, 0, 65535, &v) != 0)
                return -1;
            o->http.port = (unsigned)v;
            break;
        case OPT_BIND:
            o->http.bind = optarg;
            break;
        case OPT_THREADS:
            if (cat_parse_uint(PROG, "--threads", optarg, 1, 64, &v) != 0)
                return -1;
            o->http.threads = (unsigned)v;
            break;
        case OPT_TIMEOUT:
            if (cat_parse_uint(PROG, "--timeout", optarg, 1, 3600, &v) != 0)
                return -1;
            o->http.timeout_s = (unsigned)v;
            break;
        case OPT_MAX_CONNECTIONS:
            if (cat_parse_uint(
                    PROG, "--max-connections", optarg, 1, 65536, &v) != 0)
                return -1;
            o->http.max_connections = (unsigned)v;
            break;
        case OPT_MAX_PER_IP:
            if (cat_parse_uint(PROG, "--max-per-ip", optarg, 0, 65536, &v) != 0)
                return -1;
            o->http.max_per_ip = (unsigned)v;
            break;
        case OPT_MAX_CATS:
            if (cat_parse_uint(PROG, "--max-cats", optarg, 1, 100000000, &v) !=
                0)
                return -1;
            o->app.max_cats = (size_t)v;
            break;
        case OPT_SCENARIO:
            if (cat_scenario_parse(optarg, &o->app.scenario) != 0) {
                fprintf(stderr,
                        PROG ": --scenario: unknown scenario \"%s\"; the "
                             "scenarios are %s\n",
                        optarg,
                        cat_scenario_list());
                return -1;
            }
            break;
        case OPT_SEED:
            if (cat_parse_uint(PROG, "--seed", optarg, 0, UINT64_MAX, &v) != 0)
                return -1;
            o->app.seed = v;
            break;
        case OPT_ADMIN_PORT:
            if (cat_parse_uint(PROG, "--admin-port", optarg, 0, 65535, &v) != 0)
                return -1;
            o->admin_port = (unsigned)v;
            o->admin_asked = true;
            break;
        case OPT_ADMIN_BIND:
            o->admin_bind = optarg;
            o->admin_asked = true;
            break;
        case OPT_TOKEN_FILE:
            o->token_file = optarg;
            o->admin_asked = true;
            break;
        case OPT_NO_ADMIN:
            o->no_admin = true;
            break;
        case OPT_ADMIN_READ_ONLY:
            o->admin_read_only = true;
            o->admin_asked = true;
            break;
        case OPT_EXIT_WITH_PARENT:
            o->exit_with_parent = true;
            break;
        case OPT_TRACE:
            if (o->ntrace == sizeof(o->trace) / sizeof(o->trace[0])) {
                fprintf(stderr, PROG ": at most 16 --trace specs\n");
                return -1;
            }
            o->trace[o->ntrace++] = optarg;
            break;
        case OPT_TRACE_FILE:
            o->trace_file = optarg;
            break;
        case OPT_HELP:
            fputs(usage, stdout);
            return 1;
        case OPT_VERSION:
            printf(PROG " (ctrace %s)\n", ctrace_version_string());
            return 1;
        case ':':
            fprintf(stderr, PROG ": %s needs a value\n", flag);
            return -1;
        default:
            fprintf(stderr,
                    PROG ": unknown option \"%s\"; see cat_traveler --help\n",
                    flag);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                PROG ": unexpected argument \"%s\"; see cat_traveler --help\n",
                argv[optind]);
        return -1;
    }
    if ((o->ntrace > 0) != (o->trace_file != NULL)) {
        fprintf(stderr,
                PROG ": --trace and --trace-file go together; see "
                     "cat_traveler --help\n");
        return -1;
    }
    return 0;
}

/*
 * A --trace session that stops on its own (its file failed: a full disk,
 * say) says so at once, on stderr, not only at shutdown.
 */
static void trace_stopped(struct ctrace_session *s, void *arg)
{
    (void)arg;
    struct ctrace_session_stats st;
    ctrace_session_stats(s, &st);
    if (st.reason == CTRACE_STOP_USER)
        return;
    fprintf(stderr,
            PROG ": --trace stopped: %s (%llu events, %llu dropped); the "
                 "service goes on untraced\n",
            ctrace_session_reason(s),
            (unsigned long long)st.events,
            (unsigned long long)st.dropped);
}

/*
 * The --trace session: every matching call from start to stop, into a
 * file, with no limit (hence `force`). Its queue is large, so that bursts
 * under full load are absorbed rather than tripping the session.
 */
static struct ctrace_session *start_trace(const struct options *o)
{
    struct ctrace_session_opts so;
    ctrace_session_opts_init(&so);
    so.time_ms = 0;
    so.msgs = 0;
    so.force = true;
    so.max_queue = 16384;
    so.path = o->trace_file;
    so.on_stop = trace_stopped;
    struct ctrace_error err = {0};
    struct ctrace_session *s =
        ctrace_session_start(o->trace, o->ntrace, &so, &err);
    if (s == NULL)
        fprintf(stderr, PROG ": --trace: %s\n", err.text);
    return s;
}

/*
 * Each connection takes a file descriptor, and the usual soft limit (1024)
 * is below --max-connections: raise it to the hard limit, and say so when
 * even that is short, since connections beyond it are refused by accept().
 */
static void raise_fd_limit(const struct options *o)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* The admin endpoint's connections and a few files come on top. */
    rlim_t want = (rlim_t)o->http.max_connections + 2048 + 64;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        fprintf(stderr,
                PROG ": warning: the file descriptor limit (%llu) is below "
                     "the %llu that --max-connections %u and the admin "
                     "endpoint may need; raise it with ulimit -n\n",
                (unsigned long long)rl.rlim_cur,
                (unsigned long long)want,
                o->http.max_connections);
}

int main(int argc, char **argv)
{
    int parent = (int)getppid();
    struct options o;
    int parsed = parse_options(argc, argv, &o);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;

    /*
     * SIGINT and SIGTERM are taken with sigwait() below, so they are blocked
     * here, before any thread starts, and every thread inherits the mask.
     */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* After the mask: the SIGTERM it asks for is taken by sigwait(). */
    if (o.exit_with_parent && cat_exit_with_parent(PROG, parent) != 0)
        return 1;
    json_object_seed(0);
    raise_fd_limit(&o);

    struct cat_traveler *app = cat_traveler_new(&o.app);
    if (app == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    struct ctrace_session *trace = NULL;
    if (o.ntrace > 0 && (trace = start_trace(&o)) == NULL) {
        cat_traveler_free(app);
        return 1;
    }
    char err[256];
    /* drift's lost updates need requests that overlap in the service. */
    o.http.thread_per_connection = o.app.scenario == CAT_SCENARIO_DRIFT;
    struct cat_http *http = cat_http_start(&o.http, app, err, sizeof(err));
    if (http == NULL) {
        fprintf(stderr, PROG ": %s\n", err);
        ctrace_session_free(trace);
        cat_traveler_free(app);
        return 1;
    }

    /*
     * The ctrace admin endpoint, for `ctrace` and curl. Asked for with a
     * flag, it must start; by default, a busy port or an unusable token
     * file only costs a warning, so that a second demo still runs.
     */
    struct ctrace_admin *admin = NULL;
    if (!o.no_admin) {
        struct ctrace_error aerr = {0};
        admin = cat_admin_start(PROG,
                                o.admin_bind,
                                o.admin_port,
                                o.token_file,
                                o.admin_read_only,
                                &aerr);
        if (admin == NULL && o.admin_asked) {
            fprintf(stderr, PROG ": admin endpoint: %s\n", aerr.text);
            cat_http_stop(http);
            ctrace_session_free(trace);
            cat_traveler_free(app);
            return 1;
        }
        if (admin == NULL)
            fprintf(stderr,
                    PROG ": admin endpoint not started: %s (--no-admin "
                         "turns it off)\n",
                    aerr.text);
    }
    if (o.app.scenario == CAT_SCENARIO_HOT_CAT)
        printf(PROG ": scenario hot-cat is played by the load agent: run "
                    "cat_load --scenario hot-cat\n");
    else if (o.app.scenario != CAT_SCENARIO_NONE)
        printf(PROG ": workshop scenario %s is on\n",
               cat_scenario_name(o.app.scenario));
    const char *open = strchr(o.http.bind, ':') != NULL ? "[" : "";
    const char *close = *open != '\0' ? "]" : "";
    printf(PROG " listening on http://%s%s%s:%u\n",
           open,
           o.http.bind,
           close,
           cat_http_port(http));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    printf(PROG ": %s received, stopping\n",
           sig == SIGINT ? "SIGINT" : "SIGTERM");
    fflush(stdout);
    /* First the endpoint: its sessions trace the service. */
    ctrace_admin_stop(admin);
    cat_http_stop(http);
    if (trace != NULL) {
        ctrace_session_stop(trace);
        (void)ctrace_session_wait(trace, 10000);
        struct ctrace_session_stats st;
        ctrace_session_stats(trace, &st);
        printf(PROG ": --trace: %s (%llu events, %llu dropped)\n",
               ctrace_session_reason(trace),
               (unsigned long long)st.events,
               (unsigned long long)st.dropped);
        ctrace_session_free(trace);
    }
    cat_traveler_free(app);
    printf(PROG ": stopped\n");
    return 0;
}
