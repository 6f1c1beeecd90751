/* SPDX-License-Identifier: MIT */
/*
 * ctrace_bench: what a trace point costs the traced function.
 *
 *     ctrace_bench --variant V --iters N [--threads T] [--warmup N]
 *                  [--max-queue N] [--msg-size N] [--pace 0|1] [--print 0|1]
 *     ctrace_bench --list
 *
 * prints one line, `variant=V iters=N ns_per_call=X threads=T`, where X is
 * the wall time per call averaged over the threads (each thread makes N
 * timed calls after its warm-up calls, all threads starting together).
 * The function under test is the demo's hot call, enter(cat, town), doing
 * a small realistic amount of work (hashing both strings). Variants:
 *
 *   baseline              an identical function without a trace point
 *   disabled              CTRACE_CALL + CTRACE_RETURN, no session
 *   enabled_nomatch       a session whose argument pattern rejects every
 *                         call: cat_traveler:enter("Nobody", _)
 *   enabled_match         every call recorded: cat_traveler:enter/2
 *   enabled_match_return  the same with `-> return`
 *   enabled_count_by      every call counted by its first argument, none
 *                         queued: cat_traveler:enter/2 -> count(1)
 *   enabled_match_text    enabled_match into a text sink: the consumer
 *                         renders each event as redbug does and writes it
 *                         to /dev/null
 *   proto_*               prototypes of other trace-point macro shapes
 *                         (proto.c; docs/performance.md)
 *
 * `--list` prints each variant with the function it calls, for scripts.
 *
 * The sessions have the public API's defaults except: msgs UINT32_MAX and
 * time 49 days (with `force`), so no limit stops them during the run; a
 * callback sink that discards every event (the text variant's excepted)
 * (--print 1 also renders them to stdout, to check what a prototype records);
 * and a queue of --max-queue events (default 4096) with --msg-size bytes kept
 * per string (default 256, the library's default). The session's consumer
 * thread drains the queue concurrently, on the other core when there is one.
 *
 * The consumer renders events and is slower than a traced thread that only
 * copies them, so any queue fills in a long enough run; a full queue drops
 * events and stops the session, after which the run would time a disarmed
 * point. The recording variants therefore pace themselves (see struct
 * pacer): the queue stays at most half full and the pauses are not timed.
 * They also warm up over two laps of the queue, so that its pages are
 * mapped before timing starts. If events were dropped all the same, the
 * line ends with `dropped=D stopped="reason"` and the exit status is 3.
 *
 * Both functions are noinline and each result goes through a compiler
 * barrier, so neither the calls nor the hashing can be optimised away.
 * For instruction counts, which are steadier than time on a shared
 * machine, run tests/bench/callgrind.sh; tests/bench/compare.sh runs the
 * same function with an LTTng-UST tracepoint next to these.
 *
 * Exit status: 0 on success, 2 on a usage error or an unknown variant, 1
 * when a session or a thread cannot start, 3 when events were dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctrace/ctrace.h"
#include "proto.h"

#define NOINLINE __attribute__((noinline))

/* Makes the compiler believe `x` is used and memory may have changed. */
#define BARRIER(x) __asm__ __volatile__("" : : "r"(x) : "memory")

/*
 * External, so the symbols keep their names (no .isra/.constprop clones):
 * callgrind.sh finds the functions by name.
 */
uint64_t enter_baseline(const char *cat, const char *town);
uint64_t enter(const char *cat, const char *town);

NOINLINE uint64_t enter_baseline(const char *cat, const char *town)
{
    return bench_hash(town, bench_hash(cat, BENCH_SEED));
}

NOINLINE uint64_t enter(const char *cat, const char *town)
{
    CTRACE_CALL(cat_traveler, enter, cat, town);
    CTRACE_RETURN(bench_hash(town, bench_hash(cat, BENCH_SEED)));
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

/* One loop per function, so that every call is a direct call. */
#define LOOP(fn, n)                                        \
    for (uint64_t i = 0; i < (n); i++) {                   \
        uint64_t r = fn(cats[i & 7], towns[(i >> 3) & 7]); \
        BARRIER(r);                                        \
    }

static void loop_baseline(uint64_t n)
{
    LOOP(enter_baseline, n);
}

static void loop_enter(uint64_t n)
{
    LOOP(enter, n);
}

/* The prototypes of proto.c: the same function, other macros. */
#define PROTO_LOOP(name, armable)       \
    static void loop_##name(uint64_t n) \
    {                                   \
        LOOP(name, n);                  \
    }
PROTO_FUNCTIONS(PROTO_LOOP)

/* Where a variant's session sends its events. */
enum sink {
    SINK_DISCARD, /* a callback that throws each event away */
    SINK_TEXT     /* redbug text, written to /dev/null by the consumer */
};

struct variant {
    const char *name;
    void (*loop)(uint64_t n);
    const char *spec; /* NULL: no session */
    const char *function;
    /* Events queued per call: 0 (rejected or only counted), 1, or 2. */
    unsigned events_per_call;
    enum sink sink;
};

#define PROTO_VARIANT(name, armable)                              \
    {"proto_" #name "_disabled", loop_##name, NULL, #name, 0, 0}, \
        PROTO_ARMED_##armable(name)
#define PROTO_ARMED_0(name)
#define PROTO_ARMED_1(name)                      \
    {"proto_" #name "_match_return",             \
     loop_##name,                                \
     "cat_traveler_proto:" #name "/2 -> return", \
     #name,                                      \
     2,                                          \
     SINK_DISCARD},

static const struct variant variants[] = {
    {"baseline", loop_baseline, NULL, "enter_baseline", 0, SINK_DISCARD},
    {"disabled", loop_enter, NULL, "enter", 0, SINK_DISCARD},
    {"enabled_nomatch",
     loop_enter,
     "cat_traveler:enter(\"Nobody\", _)",
     "enter",
     0,
     SINK_DISCARD},
    {"enabled_match",
     loop_enter,
     "cat_traveler:enter/2",
     "enter",
     1,
     SINK_DISCARD},
    {"enabled_match_return",
     loop_enter,
     "cat_traveler:enter/2 -> return",
     "enter",
     2,
     SINK_DISCARD},
    {"enabled_count_by",
     loop_enter,
     "cat_traveler:enter/2 -> count(1)",
     "enter",
     0,
     SINK_DISCARD},
    {"enabled_match_text",
     loop_enter,
     "cat_traveler:enter/2",
     "enter",
     1,
     SINK_TEXT},
    PROTO_FUNCTIONS(PROTO_VARIANT)};

#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

/*
 * Pacing. A consumer that renders events is slower than a traced thread
 * that only copies them, so a long enough run fills any queue. The timed
 * loop therefore runs in chunks; after each chunk (outside the timed part)
 * a thread waits while more than a quarter of the queue is still waiting
 * for the consumer. The queue then never holds more than half its
 * capacity, and what is timed is the traced thread's cost while the
 * consumer drains concurrently. --pace 0 turns this off.
 */
struct pacer {
    struct ctrace_session *session;
    uint64_t limit;           /* events allowed in the queue before waiting */
    uint64_t events_per_call; /* 1, or 2 with `-> return` */
    atomic_uint_fast64_t produced;
};

struct run {
    const struct variant *variant;
    uint64_t iters;
    uint64_t warmup;
    uint64_t chunk; /* calls between two pacing checks */
    struct pacer *pacer;
    uint64_t elapsed_ns;
    pthread_barrier_t *barrier;
    pthread_t thread;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pace(struct pacer *p, uint64_t calls)
{
    atomic_fetch_add(&p->produced, calls * p->events_per_call);
    for (;;) {
        struct ctrace_session_stats st;
        ctrace_session_stats(p->session, &st);
        /*
         * Signed: with several threads the consumer may already have
         * delivered events of a chunk another thread has not counted yet.
         */
        int64_t waiting =
            (int64_t)(atomic_load(&p->produced) - st.events - st.dropped);
        if (st.reason != CTRACE_STOP_RUNNING || waiting <= (int64_t)p->limit)
            return;
        struct timespec ts = {0, 20 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Makes n calls; returns the time they took, pauses excluded. */
static uint64_t calls(struct run *r, uint64_t n)
{
    uint64_t elapsed = 0;
    while (n > 0) {
        uint64_t k = n < r->chunk ? n : r->chunk;
        uint64_t start = now_ns();
        r->variant->loop(k);
        elapsed += now_ns() - start;
        n -= k;
        if (r->pacer != NULL)
            pace(r->pacer, k);
    }
    return elapsed;
}

static void *run_thread(void *arg)
{
    struct run *r = arg;
    calls(r, r->warmup);
    if (r->barrier != NULL)
        pthread_barrier_wait(r->barrier);
    r->elapsed_ns = calls(r, r->iters);
    return NULL;
}

/* The sink: events are delivered to it and dropped on the floor. */
static void discard(const struct ctrace_event *event, void *arg)
{
    (void)event;
    (void)arg;
}

static struct ctrace_session *start_session(const struct variant *v,
                                            uint64_t max_queue,
                                            uint64_t msg_size,
                                            bool print)
{
    const char *spec = v->spec;
    struct ctrace_session_opts o;
    ctrace_session_opts_init(&o);
    o.msgs = UINT32_MAX;
    o.time_ms = UINT32_MAX;
    o.force = true;
    o.max_queue = (uint32_t)max_queue;
    /* The bench measures the recording path itself: no overhead shedding,
     * which under valgrind would drop most calls. */
    o.max_overhead_pct = 100;
    o.max_msg_size = (uint32_t)msg_size;
    if (v->sink == SINK_TEXT) {
        o.path = "/dev/null";
        o.format = CTRACE_FORMAT_REDBUG;
    } else {
        o.on_event = discard;
        if (print)
            o.fd = 1; /* --print 1: also render each event to stdout */
    }
    struct ctrace_error err = {0};
    struct ctrace_session *s = ctrace_session_start(&spec, 1, &o, &err);
    if (s == NULL)
        fprintf(
            stderr, "ctrace_bench: cannot start '%s': %s\n", spec, err.text);
    return s;
}

static int usage(const char *why)
{
    fprintf(stderr,
            "ctrace_bench: %s\n"
            "usage: ctrace_bench --variant V --iters N [--threads T] "
            "[--warmup N] [--max-queue N] [--msg-size N] [--pace 0|1] [--print "
            "0|1]\n"
            "       ctrace_bench --list\n"
            "variants:",
            why);
    for (size_t i = 0; i < NVARIANTS; i++)
        fprintf(stderr, " %s", variants[i].name);
    fprintf(stderr, "\n");
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
    const char *name = NULL;
    uint64_t iters = 0;
    uint64_t threads = 1;
    uint64_t warmup = UINT64_MAX; /* default: see below */
    uint64_t max_queue = 4096;
    uint64_t msg_size = 256;
    uint64_t paced = 1;
    uint64_t print = 0;
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        /* For scripts: each variant and the function it calls. */
        for (size_t i = 0; i < NVARIANTS; i++)
            printf("%s %s\n", variants[i].name, variants[i].function);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (i + 1 >= argc)
            return usage("every option takes a value");
        const char *val = argv[++i];
        if (strcmp(opt, "--variant") == 0) {
            name = val;
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
        } else if (strcmp(opt, "--max-queue") == 0) {
            if (parse_count(val, &max_queue) != 0 || max_queue == 0 ||
                max_queue > UINT32_MAX)
                return usage("--max-queue wants a positive integer");
        } else if (strcmp(opt, "--msg-size") == 0) {
            if (parse_count(val, &msg_size) != 0 || msg_size == 0 ||
                msg_size > UINT32_MAX)
                return usage("--msg-size wants a positive integer");
        } else if (strcmp(opt, "--print") == 0) {
            if (parse_count(val, &print) != 0 || print > 1)
                return usage("--print wants 0 or 1");
        } else if (strcmp(opt, "--pace") == 0) {
            if (parse_count(val, &paced) != 0 || paced > 1)
                return usage("--pace wants 0 or 1");
        } else {
            return usage("unknown option");
        }
    }
    if (name == NULL || iters == 0)
        return usage("--variant and --iters are required");
    const struct variant *v = NULL;
    for (size_t i = 0; i < NVARIANTS; i++)
        if (strcmp(name, variants[i].name) == 0)
            v = &variants[i];
    if (v == NULL)
        return usage("unknown variant");

    struct ctrace_session *session = NULL;
    if (v->spec != NULL) {
        session = start_session(v, max_queue, msg_size, print != 0);
        if (session == NULL)
            return 1;
    }

    struct run *runs = calloc(threads, sizeof(*runs));
    if (runs == NULL) {
        fprintf(stderr, "ctrace_bench: out of memory\n");
        return 1;
    }
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    /*
     * Recording variants warm up over two laps of the queue, so that its
     * pages are mapped and the timed part pays no page fault for them.
     */
    struct pacer pacer = {.session = session};
    /* A rejected call and a counted one (count(...) alone) queue nothing. */
    bool recording = v->events_per_call > 0;
    if (warmup == UINT64_MAX)
        warmup = recording ? 2 * max_queue / threads + 10000 : 10000;
    uint64_t chunk = UINT64_MAX;
    if (recording && paced) {
        pacer.events_per_call = v->events_per_call;
        pacer.limit = max_queue / 4;
        chunk = max_queue / (4 * threads * pacer.events_per_call);
        if (chunk == 0)
            chunk = 1;
        atomic_init(&pacer.produced, 0);
    }
    for (uint64_t t = 0; t < threads; t++) {
        runs[t].variant = v;
        runs[t].iters = iters;
        runs[t].warmup = warmup;
        runs[t].chunk = chunk;
        runs[t].pacer = chunk != UINT64_MAX ? &pacer : NULL;
        runs[t].barrier = threads > 1 ? &barrier : NULL;
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
    pthread_barrier_destroy(&barrier);

    /* Whether the session was still running, before stopping it. */
    struct ctrace_session_stats st = {0};
    if (session != NULL) {
        ctrace_session_stats(session, &st);
        enum ctrace_stop_reason early = st.reason;
        ctrace_session_stop(session);
        ctrace_session_stats(session, &st);
        if (early == CTRACE_STOP_RUNNING)
            st.reason = CTRACE_STOP_RUNNING;
    }

    double ns = 0;
    for (uint64_t t = 0; t < threads; t++)
        ns += (double)runs[t].elapsed_ns / (double)iters;
    ns /= (double)threads;
    printf("variant=%s iters=%" PRIu64 " ns_per_call=%.2f threads=%" PRIu64,
           v->name,
           iters,
           ns,
           threads);
    int status = 0;
    if (st.dropped != 0 || st.reason != CTRACE_STOP_RUNNING) {
        printf(" dropped=%" PRIu64 " stopped=\"%s\"",
               st.dropped,
               ctrace_session_reason(session));
        status = 3;
    }
    printf("\n");
    free(runs);
    ctrace_session_free(session);
    return status;
}
