/* SPDX-License-Identifier: MIT */
/*
 * Availability under slow and idle connections (issue 10): how many
 * ordinary requests a server answers, and how fast, while COUNT hostile
 * connections are held open against it, compared with the same requests
 * with none. Loopback only, bounded in count and time.
 *
 * Usage: slow_bench PORT PATH COUNT KIND NADDRS [PROBES [GAP_MS]]
 *   KIND    headers (slowloris), body (slow POST body) or idle
 *   NADDRS  the hostile connections come from 127.0.0.2 ... 127.0.0.(1+N),
 *           spread evenly; the ordinary client is 127.0.0.1
 *   PROBES  ordinary requests per phase (default 500)
 *   GAP_MS  pause between two of them (default 20: 500 take 10 s or more,
 *           so the loaded phase sees connections reach their deadline)
 *
 * Prints one line per phase: requests sent, answered 200 within 2 s, the
 * share answered, and p50, p99 and max latency of the answered ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/slow.h"

static void
print_phase(const char *name, const struct probe_result *r, unsigned open)
{
    printf("%-8s open=%-5u sent=%u ok=%u (%.2f%%) p50=%.2f ms p99=%.2f ms "
           "max=%.2f ms\n",
           name,
           open,
           r->sent,
           r->ok,
           r->sent ? 100.0 * r->ok / r->sent : 0.0,
           r->p50_ms,
           r->p99_ms,
           r->max_ms);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr,
                "usage: %s PORT PATH COUNT headers|body|idle NADDRS "
                "[PROBES]\n",
                argv[0]);
        return 2;
    }
    unsigned port = (unsigned)atoi(argv[1]);
    const char *path = argv[2];
    unsigned count = (unsigned)atoi(argv[3]);
    enum slow_kind kind = strcmp(argv[4], "body") == 0   ? SLOW_BODY
                          : strcmp(argv[4], "idle") == 0 ? SLOW_IDLE
                                                         : SLOW_HEADERS;
    unsigned naddrs = (unsigned)atoi(argv[5]);
    unsigned probes = argc > 6 ? (unsigned)atoi(argv[6]) : 500;
    int gap = argc > 7 ? atoi(argv[7]) : 20;
    if (port == 0 || count == 0 || count > 20000 || naddrs == 0 ||
        naddrs > 250 || probes == 0 || probes > 100000 || gap < 0 ||
        gap > 1000) {
        fprintf(stderr, "%s: an argument is out of range\n", argv[0]);
        return 2;
    }
    raise_fd_limit();
    struct probe_result r;
    probe_run(port, path, probes, 2000, gap, &r);
    print_phase("unloaded", &r, 0);
    struct slow_opts o = {.port = port,
                          .count = count,
                          .kind = kind,
                          .path = "/enter",
                          .first_addr = 2,
                          .naddrs = naddrs,
                          .interval_ms = 5000,
                          .reconnect = true};
    struct slow *s = slow_start(&o);
    if (s == NULL) {
        fprintf(stderr, "%s: cannot start the slow connections\n", argv[0]);
        return 1;
    }
    /* Let them connect and send their first bytes. */
    struct timespec ts = {3, 0};
    nanosleep(&ts, NULL);
    unsigned open = slow_open_now(s);
    probe_run(port, path, probes, 2000, gap, &r);
    print_phase("loaded", &r, open);
    printf("closed by the server meanwhile: %lu\n", slow_closed(s));
    slow_stop(s);
    return 0;
}
