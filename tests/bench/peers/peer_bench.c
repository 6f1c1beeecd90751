/* SPDX-License-Identifier: MIT */
/*
 * peer_bench: ctrace_bench's function under test, enter(cat, town), with
 * the peers' instrumentation instead of a ctrace trace point, for
 * tests/bench/compare.sh (which builds it; CMake does not, since the
 * project does not depend on LTTng or uftrace).
 *
 *     peer_bench --variant V --iters N [--warmup N]
 *
 * prints `variant=V iters=N ns_per_call=X threads=1`, like ctrace_bench.
 *
 *   baseline        the same function, no instrumentation
 *   lttng_disabled  an LTTng-UST tracepoint (two ctf_string fields) that
 *                   no session enabled
 *   lttng_enabled   the same tracepoint with the event enabled (compare.sh
 *                   runs it inside an LTTng session)
 *   uftrace         the function compiled with -pg (peer_enter_pg.c), to
 *                   be run under `uftrace record`
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../proto.h"
#include "tp.h"

#define NOINLINE   __attribute__((noinline))
#define BARRIER(x) __asm__ __volatile__("" : : "r"(x) : "memory")

/* External, so that callgrind finds them by name. */
uint64_t enter_baseline(const char *cat, const char *town);
uint64_t enter_lttng(const char *cat, const char *town);
uint64_t enter_lttng_off(const char *cat, const char *town);
uint64_t enter_pg(const char *cat, const char *town);

NOINLINE uint64_t enter_baseline(const char *cat, const char *town)
{
    return bench_hash(town, bench_hash(cat, BENCH_SEED));
}

NOINLINE uint64_t enter_lttng(const char *cat, const char *town)
{
    tracepoint(ctrace_bench_peer, enter, cat, town);
    return bench_hash(town, bench_hash(cat, BENCH_SEED));
}

NOINLINE uint64_t enter_lttng_off(const char *cat, const char *town)
{
    tracepoint(ctrace_bench_peer, enter_off, cat, town);
    return bench_hash(town, bench_hash(cat, BENCH_SEED));
}

static const char *const cats[8] = {"Tihon",
                                    "Murka",
                                    "Barsik",
                                    "Vaska",
                                    "Pushok",
                                    "Ryzhik",
                                    "Snezhok",
                                    "Marusya"};
static const char *const towns[8] = {"Barcelona",
                                     "Minsk",
                                     "Paris",
                                     "Berlin",
                                     "Lisbon",
                                     "Oslo",
                                     "Riga",
                                     "Vilnius"};

#define LOOP(fn, n)                                        \
    for (uint64_t i = 0; i < (n); i++) {                   \
        uint64_t r = fn(cats[i & 7], towns[(i >> 3) & 7]); \
        BARRIER(r);                                        \
    }

static void loop_baseline(uint64_t n)
{
    LOOP(enter_baseline, n);
}

static void loop_lttng(uint64_t n)
{
    LOOP(enter_lttng, n);
}

static void loop_lttng_off(uint64_t n)
{
    LOOP(enter_lttng_off, n);
}

static void loop_pg(uint64_t n)
{
    LOOP(enter_pg, n);
}

static const struct {
    const char *name;
    void (*loop)(uint64_t n);
    const char *function;
} variants[] = {
    {"baseline", loop_baseline, "enter_baseline"},
    {"lttng_disabled", loop_lttng_off, "enter_lttng_off"},
    {"lttng_enabled", loop_lttng, "enter_lttng"},
    {"uftrace", loop_pg, "enter_pg"},
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int parse_count(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int usage(const char *why)
{
    fprintf(stderr,
            "peer_bench: %s\n"
            "usage: peer_bench --variant "
            "baseline|lttng_disabled|lttng_enabled|uftrace --iters N "
            "[--warmup N]\n"
            "       peer_bench --list\n",
            why);
    return 2;
}

int main(int argc, char **argv)
{
    const char *name = NULL;
    uint64_t iters = 0, warmup = 10000;
    size_t nvariants = sizeof(variants) / sizeof(variants[0]);
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < nvariants; i++)
            printf("%s %s\n", variants[i].name, variants[i].function);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return usage("every option takes a value");
        const char *opt = argv[i], *val = argv[++i];
        if (strcmp(opt, "--variant") == 0) {
            name = val;
        } else if (strcmp(opt, "--iters") == 0) {
            if (parse_count(val, &iters) != 0 || iters == 0)
                return usage("--iters wants a positive integer");
        } else if (strcmp(opt, "--warmup") == 0) {
            if (parse_count(val, &warmup) != 0)
                return usage("--warmup wants an integer");
        } else {
            return usage("unknown option");
        }
    }
    if (name == NULL || iters == 0)
        return usage("--variant and --iters are required");
    for (size_t i = 0; i < nvariants; i++) {
        if (strcmp(name, variants[i].name) != 0)
            continue;
        variants[i].loop(warmup);
        uint64_t start = now_ns();
        variants[i].loop(iters);
        double ns = (double)(now_ns() - start) / (double)iters;
        printf("variant=%s iters=%" PRIu64 " ns_per_call=%.2f threads=1\n",
               name,
               iters,
               ns);
        return 0;
    }
    return usage("unknown variant");
}
