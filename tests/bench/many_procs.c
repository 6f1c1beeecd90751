/* SPDX-License-Identifier: MIT */
/*
 * A service with thousands of live processes, for measuring the observer's
 * Processes tab at that size (tests/bench/observer_procs.sh); not run by
 * ctest. It starts the admin endpoint on an ephemeral port, prints the
 * observer's address, begins N processes (nested, on the main thread), and
 * then keeps the table moving for SECONDS: ten times a second the
 * innermost CHURN processes end and as many begin, so rows die, grey and
 * leave while the page watches.
 *   many_procs N SECONDS TOKEN_FILE [CHURN]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctrace/admin.h"
#include "ctrace/ctrace.h"
#include "ctrace/proc.h"

/* A positive decimal number, or 0 for anything else. */
static unsigned long parse_count(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
        return 0;
    return v;
}

/* Begins the process of worker `i`; false when memory ran out. */
static bool begin_worker(unsigned long i)
{
    char call[64];
    snprintf(call, sizeof(call), "many_procs:worker_%lu/1", i);
    return ctrace_proc_begin(call) != 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: many_procs N SECONDS TOKEN_FILE [CHURN]\n");
        return 2;
    }
    unsigned long n = parse_count(argv[1]);
    unsigned long seconds = parse_count(argv[2]);
    unsigned long churn = argc == 5 ? parse_count(argv[4]) : 10;
    if (n == 0 || seconds == 0 || (argc == 5 && churn == 0) || churn > n) {
        fprintf(stderr,
                "many_procs: N, SECONDS and CHURN must be positive numbers, "
                "CHURN at most N\n");
        return 2;
    }

    struct ctrace_admin_opts o;
    ctrace_admin_opts_init(&o);
    o.port = 0;
    o.token_file = argv[3];
    struct ctrace_error err = {0};
    struct ctrace_admin *admin = ctrace_admin_start(&o, &err);
    if (admin == NULL) {
        fprintf(stderr, "many_procs: %s\n", err.text);
        return 1;
    }
    for (unsigned long i = 0; i < n; i++) {
        if (!begin_worker(i)) {
            fprintf(stderr, "many_procs: out of memory at process %lu\n", i);
            return 1;
        }
    }
    char url[256];
    ctrace_admin_observer_url(admin, url, sizeof(url));
    printf("many_procs: %lu processes\nobserver on %s\n", n, url);
    fflush(stdout);

    unsigned long next = n;
    struct timespec tick = {0, 100 * 1000000L};
    for (unsigned long t = 0; t < seconds * 10; t++) {
        nanosleep(&tick, NULL);
        for (unsigned long k = 0; k < churn; k++)
            (void)ctrace_proc_end("normal");
        for (unsigned long k = 0; k < churn; k++)
            (void)begin_worker(next++);
    }
    ctrace_admin_stop(admin);
    return 0;
}
