/* SPDX-License-Identifier: MIT */
/*
 * `ctrace help [COMMAND]`: every command, every option, the global options
 * and the exit codes. The texts are kept next to each other so that one
 * look shows whether they agree.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char global_text[] =
    "global options (before or after the command):\n"
    "  --url URL          the service's admin endpoint (env CTRACE_URL,\n"
    "                     default " CTRACE_CLI_DEFAULT_URL ")\n"
    "  --token-file FILE  its token (env CTRACE_TOKEN_FILE, default\n"
    "                     ~/.ctrace/token, the file the service creates)\n"
    "  --json             JSON lines instead of text for people\n"
    "\n"
    "exit codes: 0 success, 1 the service answered with an error, 2 usage\n"
    "or pattern error, 3 cannot connect or not authorized\n";

static const struct {
    const char *name;
    const char *summary;
    const char *text;
} topics[] = {
    {"pattern",
     "check trace specs offline; print each as JSON",
     "usage: ctrace pattern SPEC...\n"
     "\n"
     "Parses each SPEC with ctrace's own parser, without a service, and\n"
     "prints its meaning as one JSON line. A bad spec prints the column and\n"
     "a caret under it, and exits 2. See docs/patterns.md.\n"},
    {"points",
     "list the trace points of the service",
     "usage: ctrace points [GLOB]\n"
     "\n"
     "Lists the trace points, sorted, with the number of sessions that arm\n"
     "each and where it is in the source. GLOB matches module:function with\n"
     "'*', e.g. 'cat_traveler:*'. Exits 1 when GLOB matches nothing.\n"},
    {"trace",
     "trace calls live, as redbug does",
     "usage: ctrace trace SPEC... [OPTION]...\n"
     "\n"
     "Starts a trace session on the service and prints its events as they\n"
     "come. The last line says why it stopped:\n"
     "  % stopped: msgs limit 10 reached (10 events, 0 dropped)\n"
     "Ctrl-C stops the session on the service and prints that line too.\n"
     "The specs are checked here first; a bad one exits 2 with a caret.\n"
     "\n"
     "  SPEC                 e.g. 'cat_traveler:enter(\"Tihon\", _) -> "
     "return'\n"
     "                       (docs/patterns.md); several are allowed\n"
     "  -t, --time MS        stop after MS milliseconds (default 15000;\n"
     "                       0: none)\n"
     "  -m, --msgs N         stop after N events: every line counts, a call\n"
     "                       and its return are two, as in redbug (default\n"
     "                       10; 0: none)\n"
     "      --calls N        stop after N calls or process events; their\n"
     "                       returns still come (default: none)\n"
     "                       The first limit reached stops the session and\n"
     "                       the last line names it. A session with no\n"
     "                       limit at all (--time 0 --msgs 0, no --calls)\n"
     "                       needs --force.\n"
     "      --rate N/MS      stop when more than N events come in MS ms\n"
     "  -p, --procs WHICH    all (default), new, existing, or a comma list\n"
     "                       of pids, process numbers and registered names\n"
     "      --ms             timestamps in milliseconds, not microseconds\n"
     "  -f, --format F       redbug (default), recon or json (JSON lines)\n"
     "      --max-msg-size B cut values larger than B\n"
     "      --print-depth N  print values N levels deep\n"
     "      --max-queue N    events waiting for this reader at most\n"
     "      --max-overhead P shed calls while tracing costs more than P%\n"
     "                       of the service's CPUs (1-100, default 20;\n"
     "                       100 never sheds)\n"
     "      --overhead-trip MS stop the session once it has had to shed\n"
     "                       for MS ms on end (default 1000; 0 sheds for\n"
     "                       as long as it runs)\n"
     "  -o, --output FILE    write the events to FILE; the stopped line also\n"
     "                       goes to standard output\n"
     "      --force          allow a session with no limit, or a '_' module\n"
     "                       for every process\n"
     "\n"
     "With --json (or --format json) each event is one JSON line\n"
     "(docs/formats.md) and the last is {\"kind\":\"stopped\",...}.\n"},
    {"sessions",
     "list the trace sessions of the service",
     "usage: ctrace sessions\n"
     "\n"
     "Lists the running sessions and those stopped in the last minute.\n"},
    {"stop",
     "stop a trace session",
     "usage: ctrace stop ID\n"
     "\n"
     "Stops session ID (see ctrace sessions) and prints its stopped line.\n"},
    {"system",
     "show the service: uptime, memory, processes, sessions",
     "usage: ctrace system\n"},
    {"fds",
     "list the service's file descriptors: files, pipes, sockets",
     "usage: ctrace fds\n"
     "\n"
     "One line per open file descriptor of the service, in fd order: its\n"
     "type (file, pipe, socket, other) and what it is; for a socket the\n"
     "protocol, local and remote address, TCP state and the bytes waiting\n"
     "to be sent and read (SEND-Q, RECV-Q). Then a count by type. The same\n"
     "as the observer's Ports tab (docs/observer.md).\n"},
    {"procs",
     "list processes, or the top N by an attribute (recon:proc_count)",
     "usage: ctrace procs [--sort ATTR] [-n N]\n"
     "\n"
     "Without --sort: every live process in pid order. With it, the top N\n"
     "(default 10) by ATTR: memory, reductions or message_queue_len.\n"
     "\n"
     "  -s, --sort ATTR  memory, reductions or message_queue_len\n"
     "  -n N             how many\n"},
    {"window",
     "the top N by growth over a time window (recon:proc_window)",
     "usage: ctrace window ATTR [-n N] [--ms MS]\n"
     "\n"
     "Reads ATTR (memory, reductions or message_queue_len) for every\n"
     "process, waits MS milliseconds (default 1000, at most 10000), reads\n"
     "again, and shows the top N (default 10) by the difference.\n"},
    {"top",
     "a live process table that refreshes",
     "usage: ctrace top [--sort ATTR] [--window|--totals] [-n N]\n"
     "                  [--interval MS] [--iterations K]\n"
     "\n"
     "Shows the service and its top N processes (default 15) by ATTR\n"
     "(default reductions), every MS milliseconds (default 1000). By\n"
     "reductions it ranks the growth over each interval (a window, as\n"
     "observer_cli's rr and recon's proc_window); by memory and\n"
     "message_queue_len the totals. On a terminal the screen is redrawn;\n"
     "otherwise tables follow each other. Keys, read between rounds: rr and\n"
     "mm rank reductions or memory over the interval, r, m and mq by\n"
     "totals. Stops after K rounds when --iterations is given, or on Ctrl-C\n"
     "(exit status 0).\n"
     "\n"
     "  -s, --sort ATTR     memory, reductions or message_queue_len\n"
     "  -w, --window        rank by the growth over the interval (at most\n"
     "                      60000 ms)\n"
     "      --totals        rank by totals\n"
     "  -n N                how many processes\n"
     "  -i, --interval MS   time between rounds\n"
     "      --iterations K  rounds to show, then exit\n"},
    {"info",
     "everything about one process (process_info)",
     "usage: ctrace info PROC\n"
     "\n"
     "PROC is <0.N.0>, N, or a registered name. Prints key: value lines.\n"},
    {"state",
     "the state of a server process (sys:get_state)",
     "usage: ctrace state PROC\n"
     "\n"
     "Prints the server's state as indented JSON.\n"},
    {"replace-state",
     "replace the state of a server process (sys:replace_state)",
     "usage: ctrace replace-state [--patch] [--if-version V] PROC "
     "JSON|@FILE\n"
     "\n"
     "Sends the new state, given as JSON text, or read from FILE (@- reads\n"
     "standard input). It is checked here to be JSON; the server may still\n"
     "reject it (exit 1, with its reason), and then keeps the old state.\n"
     "\n"
     "  --patch          send a JSON merge patch (RFC 7386) instead: its\n"
     "                   members replace the state's, null removes one; the\n"
     "                   server applies it between two messages, so no\n"
     "                   update made meanwhile is lost\n"
     "  --if-version V   only if the state is still at version V, as\n"
     "                   `ctrace state --json` printed it; otherwise exit 1\n"
     "                   and change nothing\n"},
    {"status",
     "the status of a server process (sys:get_status)",
     "usage: ctrace status PROC\n"},
    {"sys",
     "OTP sys debugging of a server: trace, log, statistics, suspend",
     "usage: ctrace sys PROC COMMAND\n"
     "\n"
     "  trace on|off             print each message the server handles, on\n"
     "                           the service's standard error\n"
     "  log on [N]|off           keep the last N (default 10) events\n"
     "  log get|print            show the kept events here, one line each\n"
     "  statistics on|off|get    count messages and reductions; get shows\n"
     "                           them\n"
     "  suspend|resume           stop and restart handling messages\n"},
    {"version", "print the version", "usage: ctrace version\n"},
    {"help",
     "print this text, or the help of one command",
     "usage: ctrace help [COMMAND]\n"},
};

bool ctrace_cli_help(FILE *out, const char *command)
{
    size_t count = sizeof(topics) / sizeof(topics[0]);
    if (command == NULL) {
        fputs("usage: ctrace [--url URL] [--token-file FILE] [--json] "
              "COMMAND [ARGS...]\n"
              "\n"
              "Live tracing and introspection of a service that runs ctrace's\n"
              "admin endpoint, in the manner of redbug, recon and sys.\n"
              "\n"
              "commands:\n",
              out);
        for (size_t i = 0; i < count; i++)
            fprintf(out, "  %-14s %s\n", topics[i].name, topics[i].summary);
        fputs("\n", out);
        fputs(global_text, out);
        fputs("\n'ctrace help COMMAND' shows a command's options.\n", out);
        return true;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(topics[i].name, command) == 0) {
            fputs(topics[i].text, out);
            fputs("\n", out);
            fputs(global_text, out);
            return true;
        }
    }
    return false;
}
