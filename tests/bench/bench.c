/* SPDX-License-Identifier: MIT */
/*
 * ctrace_bench: what a trace point costs the traced function.
 *
 *     ctrace_bench --variant baseline|disabled --iters N [--threads T]
 *                  [--warmup N]
 *
 * prints one line, `variant=V iters=N ns_per_call=X threads=T`, where X is
 * the wall time per call averaged over the threads (each thread makes N
 * calls). The function under test is the demo's hot call,
 * enter(cat, town), doing a small realistic amount of work (hashing both
 * strings). `baseline` calls an identical function without a trace point;
 * `disabled` calls the traced one (CTRACE_CALL + CTRACE_RETURN) while no
 * session selects it. The enabled_* variants come with the session engine.
 * Both functions are noinline and each result goes through a compiler
 * barrier, so neither the calls nor the hashing can be optimised away.
 * For instruction counts, which are steadier than time on a shared
 * machine, run tests/bench/callgrind.sh.
 *
 * Exit status: 0 on success, 2 on a usage error or an unknown variant.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctrace/point.h"

#define NOINLINE __attribute__((noinline))

/* Makes the compiler believe `x` is used and memory may have changed. */
#define BARRIER(x) __asm__ __volatile__("" : : "r"(x) : "memory")

/* FNV-1a, 64 bits: a byte loop as small as a real lookup key's hash. */
static inline uint64_t hash(const char *s, uint64_t h)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

#define SEED UINT64_C(0xcbf29ce484222325)

/*
 * External, so the symbol keeps its name (no .isra/.constprop clones):
 * callgrind.sh finds the functions by name.
 */
uint64_t enter_baseline(const char *cat, const char *town);
uint64_t enter(const char *cat, const char *town);

NOINLINE uint64_t enter_baseline(const char *cat, const char *town)
{
    return hash(town, hash(cat, SEED));
}

NOINLINE uint64_t enter(const char *cat, const char *town)
{
    CTRACE_CALL(cat_traveler, enter, cat, town);
    CTRACE_RETURN(hash(town, hash(cat, SEED)));
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

enum variant { BASELINE, DISABLED };

static const char *const variant_names[] = {"baseline", "disabled"};

struct run {
    enum variant variant;
    uint64_t iters;
    uint64_t warmup;
    uint64_t elapsed_ns;
    pthread_t thread;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One loop per function, so that both are direct calls. */
#define LOOP(fn, n)                                        \
    for (uint64_t i = 0; i < (n); i++) {                   \
        uint64_t r = fn(cats[i & 7], towns[(i >> 3) & 7]); \
        BARRIER(r);                                        \
    }

static void calls(enum variant v, uint64_t n)
{
    if (v == BASELINE) {
        LOOP(enter_baseline, n);
    } else {
        LOOP(enter, n);
    }
}

static void *run_thread(void *arg)
{
    struct run *r = arg;
    calls(r->variant, r->warmup);
    uint64_t start = now_ns();
    calls(r->variant, r->iters);
    r->elapsed_ns = now_ns() - start;
    return NULL;
}

static int usage(const char *why)
{
    fprintf(stderr,
            "ctrace_bench: %s\n"
            "usage: ctrace_bench --variant baseline|disabled --iters N "
            "[--threads T] [--warmup N]\n",
            why);
    return 2;
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

int main(int argc, char **argv)
{
    const char *variant = NULL;
    uint64_t iters = 0;
    uint64_t threads = 1;
    uint64_t warmup = 10000;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (i + 1 >= argc)
            return usage("every option takes a value");
        const char *val = argv[++i];
        if (strcmp(opt, "--variant") == 0) {
            variant = val;
        } else if (strcmp(opt, "--iters") == 0) {
            if (parse_count(val, &iters) != 0 || iters == 0)
                return usage("--iters wants a positive integer");
        } else if (strcmp(opt, "--threads") == 0) {
            if (parse_count(val, &threads) != 0 || threads == 0 ||
                threads > 1024)
                return usage("--threads wants an integer from 1 to 1024");
        } else if (strcmp(opt, "--warmup") == 0) {
            if (parse_count(val, &warmup) != 0)
                return usage("--warmup wants an integer");
        } else {
            return usage("unknown option");
        }
    }
    if (variant == NULL || iters == 0)
        return usage("--variant and --iters are required");

    enum variant v;
    if (strcmp(variant, "baseline") == 0) {
        v = BASELINE;
    } else if (strcmp(variant, "disabled") == 0) {
        v = DISABLED;
    } else {
        fprintf(stderr,
                "ctrace_bench: unknown variant '%s' (known: baseline, "
                "disabled; the enabled_* variants need the session "
                "engine)\n",
                variant);
        return 2;
    }

    struct run *runs = calloc(threads, sizeof(*runs));
    if (runs == NULL) {
        fprintf(stderr, "ctrace_bench: out of memory\n");
        return 1;
    }
    for (uint64_t t = 0; t < threads; t++) {
        runs[t].variant = v;
        runs[t].iters = iters;
        runs[t].warmup = warmup;
    }
    if (threads == 1) {
        run_thread(&runs[0]);
    } else {
        for (uint64_t t = 0; t < threads; t++) {
            int rc =
                pthread_create(&runs[t].thread, NULL, run_thread, &runs[t]);
            if (rc != 0) {
                fprintf(
                    stderr, "ctrace_bench: pthread_create: %s\n", strerror(rc));
                return 1;
            }
        }
        for (uint64_t t = 0; t < threads; t++)
            pthread_join(runs[t].thread, NULL);
    }
    double ns = 0;
    for (uint64_t t = 0; t < threads; t++)
        ns += (double)runs[t].elapsed_ns / (double)iters;
    ns /= (double)threads;
    printf("variant=%s iters=%" PRIu64 " ns_per_call=%.2f threads=%" PRIu64
           "\n",
           variant_names[v],
           iters,
           ns,
           threads);
    free(runs);
    return 0;
}
