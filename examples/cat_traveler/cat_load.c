/* SPDX-License-Identifier: MIT */
/*
 * cat_load: the load agent of the cat_traveler demo. Every cat is a thread
 * that travels, one request at a time: it enters a random town, leaves it,
 * and again. A dispatcher (the main thread) decides which resting cat moves
 * next, keeping to the request rate (spread like a Poisson process) and to
 * the number of requests in flight (--concurrency). The agent prints a
 * progress line each second and a summary at the end, logs every answer it
 * did not expect, and finally checks that the service's /cats and /towns
 * agree with each other and with where the agent knows its cats to be, as
 * they did at the quiet moments it checked during the run.
 *
 * Traced itself: each cat runs cat_load:cat/1, each request is
 * cat_load:request/3 (method, path, body -> status).
 *
 * Locking: one mutex (struct load.lock) guards the dispatcher's tables,
 * the pool of HTTP clients and the statistics. A cat's record (where it
 * is) is only touched by its own thread, and read by the main thread at a
 * checkpoint (when the lock showed no request in flight, and none is sent
 * until it is over) and after every cat thread has been joined.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctrace/ctrace.h"
#include "world.h"

#define PROG "cat_load"

/* Most cats; each is a thread. */
#define MAX_CATS 10000
/* Unexpected answers logged one by one; the rest are only counted. */
#define MAX_LOGGED_ERRORS 100
/* Largest answer read for a travel request, and for /cats or /towns. */
#define MAX_ANSWER  ((size_t)64 * 1024)
#define MAX_LISTING ((size_t)256 * 1024 * 1024)
/* How likely the next traveller is the hot cat, when it is resting. */
#define HOT_SHARE 0.75

static const char usage[] =
    "Usage: cat_load [OPTION]...\n"
    "Load agent for cat_traveler: cats enter and leave towns.\n"
    "\n"
    "  --url URL          the service (default http://127.0.0.1:8080)\n"
    "  --cats N           travelling cats, 1 to 10000 (default 4: Murka,\n"
    "                     Vasjka, Marfa, Tihon, then generated names)\n"
    "  --concurrency N    requests in flight at most (default 2)\n"
    "  --rate N           requests per second, 0 = as fast as possible\n"
    "                     (default 100)\n"
    "  --duration SECONDS how long to run, 0 = until Ctrl-C (default 10)\n"
    "  --timeout SECONDS  limit for one request (default 5)\n"
    "  --seed N           seed for the random choices (default: new each run)\n"
    "  --scenario NAME    a workshop scenario: hot-cat, slow-town, backlog,\n"
    "                     drift (default: none)\n"
    "  --admin-port N     start a ctrace admin endpoint on this port (0 picks\n"
    "                     a free one); off unless given\n"
    "  --admin-bind ADDR  admin endpoint address (default 127.0.0.1)\n"
    "  --token-file PATH  admin endpoint token file (default ~/.ctrace/token)\n"
    "  --no-admin         no admin endpoint (the default)\n"
    "  --exit-with-parent stop (as on SIGTERM) when the parent process ends\n"
    "  --help, --version\n"
    "\n"
    "Prints a progress line each second and a summary at the end, then checks\n"
    "that /cats and /towns agree with each other and with the agent's cats,\n"
    "as it also did every 200 requests (once a second at most) during the\n"
    "run, at a quiet moment.\n"
    "Exits 0 when that check holds and every answer was the expected one,\n"
    "1 otherwise, 2 for a usage error.\n";

struct options {
    const char *url;
    size_t cats;
    unsigned concurrency;
    double rate;
    double duration_s;
    double timeout_s;
    uint64_t seed;
    enum cat_scenario scenario;
    /* The ctrace admin endpoint, started when admin_port >= 0. */
    long admin_port;
    const char *admin_bind;
    const char *token_file;
    bool exit_with_parent;
};

/* An HTTP client: one curl handle, so one kept-alive connection. */
struct client {
    CURL *curl;
    struct curl_slist *headers;
    char base[512];
    char url[600];
    char error[CURL_ERROR_SIZE];
    char *answer; /* NUL-terminated */
    size_t len;
    size_t cap;
    size_t max;
};

/* Where a cat is, as far as the agent knows. */
enum where {
    AT_HOME, /* in no town */
    IN_TOWN, /* in `town` */
    UNSURE   /* a request about `town` failed: it may or may not be there */
};

struct load;

struct cat {
    char name[CAT_NAME_MAX_BYTES + 1];
    enum where where;
    char town[CAT_NAME_MAX_BYTES + 1];
    uint64_t rng;
    bool go; /* the dispatcher says: travel once */
    pthread_cond_t go_cond;
    pthread_t thread;
    struct load *load;
};

/*
 * Latency histogram in microseconds: exact below 16, then 16 buckets for
 * each power of two (6 % wide at most), up to 2^40 us.
 */
#define HIST_SUB     16
#define HIST_BUCKETS (HIST_SUB + 37 * HIST_SUB)
struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n;
    uint64_t max;
};

/* Problems shown for one look at the state; the rest are only counted. */
#define MAX_PROBLEMS_SHOWN 10
#define PROBLEM_MAX_BYTES  320
/*
 * A checkpoint after every 200 requests, once a second at most: the state
 * changes only with requests, and a look sends three. They stop the load,
 * for 1/20 of the run at most.
 */
#define CHECK_EVERY_REQUESTS 200u
#define CHECK_EVERY_NS       1000000000u
#define CHECK_COST_SHARE     20u
/* What one look at the state found: the count, and the first few. */
struct problems {
    size_t count;
    char shown[MAX_PROBLEMS_SHOWN][PROBLEM_MAX_BYTES];
};

struct load {
    struct options opts;
    struct cat *cats;
    size_t hot; /* the hot-cat scenario's cat, or SIZE_MAX */
    uint64_t rng;
    atomic_bool stop;

    pthread_mutex_t lock;
    pthread_cond_t wake;     /* dispatcher: a cat rests, or stop */
    pthread_cond_t progress; /* progress thread: time to go */
    size_t *idle;            /* resting cats, in no order */
    size_t *idle_pos;        /* cat -> index in idle, or SIZE_MAX */
    size_t n_idle;
    unsigned in_flight;
    struct client **clients; /* free clients */
    size_t n_clients;
    bool quit;      /* cats and the progress thread leave */
    uint64_t start; /* ns */
    uint64_t requests;
    uint64_t errors;
    unsigned logged;
    struct hist total;
    struct hist window;
    uint64_t window_requests;
    uint64_t window_errors;
    /* The checkpoints (see "The checks"): the dispatcher's thread only. */
    uint64_t checkpoints;
    uint64_t failed_checkpoints;
    uint64_t first_failed_ns; /* since start */
    struct problems first_failed;
};

/* ---- Histogram. ---- */

static size_t hist_index(uint64_t us)
{
    if (us < HIST_SUB)
        return (size_t)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us); /* >= 4 */
    size_t sub = (size_t)(us >> (e - 4)) & (HIST_SUB - 1);
    size_t i = HIST_SUB + (size_t)(e - 4) * HIST_SUB + sub;
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

/* The middle of bucket `i`, in microseconds. */
static double hist_value(size_t i)
{
    if (i < HIST_SUB)
        return (double)i;
    size_t e = (i - HIST_SUB) / HIST_SUB + 4;
    size_t sub = (i - HIST_SUB) % HIST_SUB;
    double width = (double)(1ull << (e - 4));
    return (double)(HIST_SUB + sub) * width + width / 2;
}

static void hist_add(struct hist *h, uint64_t us)
{
    h->counts[hist_index(us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

/* The p-th percentile (0 < p <= 100) in milliseconds; 0 when empty. */
static double hist_ms(const struct hist *h, double p)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)ceil((double)h->n * p / 100.0);
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want && h->counts[i] > 0) {
            double v = hist_value(i);
            return (v > (double)h->max ? (double)h->max : v) / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

/* ---- HTTP. ---- */

static size_t on_answer(char *data, size_t size, size_t n, void *arg)
{
    struct client *c = arg;
    size_t bytes = size * n;
    if (bytes > c->max - c->len)
        return 0; /* too long: curl fails the transfer */
    if (c->len + bytes + 1 > c->cap) {
        size_t cap = c->cap * 2;
        while (cap < c->len + bytes + 1)
            cap *= 2;
        char *p = realloc(c->answer, cap);
        if (p == NULL)
            return 0;
        c->answer = p;
        c->cap = cap;
    }
    memcpy(c->answer + c->len, data, bytes);
    c->len += bytes;
    c->answer[c->len] = '\0';
    return bytes;
}

static void client_free(struct client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->answer);
    free(c);
}

static struct client *client_new(const struct options *o, size_t max)
{
    struct client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->cap = 1024;
    c->max = max;
    c->answer = malloc(c->cap);
    c->curl = curl_easy_init();
    struct curl_slist *h =
        curl_slist_append(NULL, "Content-Type: application/json");
    if (h != NULL)
        c->headers = h;
    /* No "Expect: 100-continue" round trip for small bodies. */
    h = h != NULL ? curl_slist_append(h, "Expect:") : NULL;
    if (c->answer == NULL || c->curl == NULL || h == NULL) {
        client_free(c);
        return NULL;
    }
    c->headers = h;
    c->answer[0] = '\0';
    snprintf(c->base, sizeof(c->base), "%s", o->url);
    long timeout_ms = (long)(o->timeout_s * 1000.0);
    CURL *e = c->curl;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->error);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    return c;
}

/*
 * request(Method, Path, Body) -> Status: one HTTP request. Returns the
 * status, or 0 when no answer came (then c->error says why). The answer
 * is in c->answer.
 */
static long request(struct client *c,
                    const char *method,
                    const char *path,
                    const char *body)
{
    CTRACE_CALL(cat_load, request, method, path, body);
    snprintf(c->url, sizeof(c->url), "%s%s", c->base, path);
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    if (body != NULL) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    }
    c->len = 0;
    c->answer[0] = '\0';
    c->error[0] = '\0';
    long status = 0;
    CURLcode rc = curl_easy_perform(c->curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    else if (c->error[0] == '\0')
        snprintf(c->error, sizeof(c->error), "%s", curl_easy_strerror(rc));
    CTRACE_RETURN(status);
}

/* ---- Travelling. ---- */

/* Copies `text` for a log line: control bytes become '?', cut at `size`. */
static void loggable(char *out, size_t size, const char *text)
{
    size_t n = 0;
    for (; text[n] != '\0' && n + 1 < size; n++) {
        unsigned char ch = (unsigned char)text[n];
        out[n] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    out[n] = '\0';
    if (text[n] != '\0' && size > 4)
        memcpy(out + size - 4, "...", 4);
}

/* True when the JSON answer has the string member `key` equal to `value`. */
static bool answer_is(const char *answer, const char *key, const char *value)
{
    json_t *doc = json_loads(answer, 0, NULL);
    const char *v = json_string_value(json_object_get(doc, key));
    bool is = v != NULL && strcmp(v, value) == 0;
    json_decref(doc);
    return is;
}

/* Records one finished request; logs it when it was not expected. */
static void account(struct load *l,
                    uint64_t latency_ns,
                    bool expected,
                    const char *path,
                    const char *body,
                    long status,
                    const struct client *c)
{
    pthread_mutex_lock(&l->lock);
    l->requests++;
    l->window_requests++;
    hist_add(&l->total, latency_ns / 1000);
    hist_add(&l->window, latency_ns / 1000);
    if (!expected) {
        l->errors++;
        l->window_errors++;
        if (l->logged < MAX_LOGGED_ERRORS) {
            char shown[512];
            if (status != 0) {
                loggable(shown, sizeof(shown), c->answer);
                fprintf(stderr,
                        "ERROR: invalid request \"%s\" %s %ld %s\n",
                        path,
                        body,
                        status,
                        shown);
            } else {
                loggable(shown, sizeof(shown), c->error);
                fprintf(stderr,
                        "ERROR: request \"%s\" %s failed: %s\n",
                        path,
                        body,
                        shown);
            }
        } else if (l->logged == MAX_LOGGED_ERRORS) {
            fprintf(stderr,
                    "ERROR: more unexpected answers; they are counted, "
                    "not shown\n");
        }
        l->logged++;
    }
    pthread_mutex_unlock(&l->lock);
}

/*
 * One move of a cat: leave the town it is in, or enter a random one. The
 * agent knows where its cats are, so it knows the answer to expect: 200
 * {"result":"ok"}; only after a failed request may a leave also meet
 * not_in_town.
 */
static void travel(struct load *l, struct cat *self, struct client *c)
{
    bool entering = self->where == AT_HOME;
    bool unsure = self->where == UNSURE;
    if (entering)
        snprintf(
            self->town,
            sizeof(self->town),
            "%s",
            cat_world_towns[cat_rand_below(&self->rng, cat_world_town_count)]);
    const char *path = entering ? "/enter" : "/leave";
    char body[CAT_BODY_MAX];
    json_t *doc =
        json_pack("{s:s, s:s}", "cat", self->name, "town", self->town);
    size_t n =
        doc != NULL ? json_dumpb(doc, body, sizeof(body), JSON_COMPACT) : 0;
    json_decref(doc);
    if (n == 0 || n >= sizeof(body)) {
        fprintf(stderr, PROG ": out of memory\n");
        return;
    }
    body[n] = '\0';

    uint64_t t0 = cat_now_ns();
    long status = request(c, "POST", path, body);
    uint64_t latency = cat_now_ns() - t0;

    bool ok = status == 200 && answer_is(c->answer, "result", "ok");
    bool expected = ok;
    if (ok) {
        self->where = entering ? IN_TOWN : AT_HOME;
    } else if (entering && status == 400 &&
               answer_is(c->answer, "error", "already_in_town")) {
        /* Unexpected, but the answer says where the cat is: believe it. */
        json_t *a = json_loads(c->answer, 0, NULL);
        const char *t = json_string_value(json_object_get(a, "town"));
        self->where = t != NULL ? IN_TOWN : UNSURE;
        if (t != NULL)
            snprintf(self->town, sizeof(self->town), "%s", t);
        json_decref(a);
    } else if (!entering && status == 400 &&
               answer_is(c->answer, "error", "not_in_town")) {
        self->where = AT_HOME;
        expected = unsure;
    } else {
        self->where = UNSURE;
    }
    account(l, latency, expected, path, body, status, c);
}

/*
 * cat(Name): the life of one cat, from the start of the run to its end.
 * It rests until the dispatcher picks it, travels once, and rests again.
 */
static void cat(struct cat *self)
{
    const char *name = self->name;
    CTRACE_CALL(cat_load, cat, name);
    struct load *l = self->load;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!self->go && !l->quit)
            pthread_cond_wait(&self->go_cond, &l->lock);
        if (!self->go)
            break;
        self->go = false;
        struct client *c = l->clients[--l->n_clients];
        pthread_mutex_unlock(&l->lock);

        travel(l, self, c);

        pthread_mutex_lock(&l->lock);
        l->clients[l->n_clients++] = c;
        l->in_flight--;
        size_t me = (size_t)(self - l->cats);
        l->idle_pos[me] = l->n_idle;
        l->idle[l->n_idle++] = me;
        pthread_cond_signal(&l->wake);
    }
    pthread_mutex_unlock(&l->lock);
    CTRACE_RETURN_VOID();
}

/*
 * Each travelling cat is a process with initial call cat_load:cat/1,
 * registered as cat_<name> while it travels, so that the same tools that
 * look into the service look into its load too.
 */
static void *cat_thread(void *arg)
{
    struct cat *self = arg;
    ctrace_proc_begin("cat_load:cat/1");
    char reg[CTRACE_PROC_NAME_MAX + 1];
    snprintf(reg, sizeof(reg), "cat_%.59s", self->name);
    (void)ctrace_register(reg, 0); /* a name it cannot take stays off */
    cat(self);
    ctrace_proc_end(NULL);
    return NULL;
}

/* ---- Dispatching, progress, signals. ---- */

/* An absolute CLOCK_MONOTONIC time for pthread_cond_timedwait(). */
static struct timespec deadline(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000u),
                             .tv_nsec = (long)(ns % 1000000000u)};
}

static void wait_until(pthread_cond_t *cond, pthread_mutex_t *m, uint64_t ns)
{
    struct timespec ts = deadline(ns);
    pthread_cond_timedwait(cond, m, &ts);
}

/* Takes a resting cat out of the idle set; called with the lock held. */
static size_t take_idle(struct load *l)
{
    size_t pick;
    if (l->hot != SIZE_MAX && l->idle_pos[l->hot] != SIZE_MAX &&
        cat_rand_unit(&l->rng) < HOT_SHARE)
        pick = l->idle_pos[l->hot];
    else
        pick = (size_t)cat_rand_below(&l->rng, l->n_idle);
    size_t cat = l->idle[pick];
    l->idle[pick] = l->idle[--l->n_idle];
    l->idle_pos[l->idle[pick]] = pick;
    l->idle_pos[cat] = SIZE_MAX;
    return cat;
}

static void checkpoint(struct load *l, struct client *c);

/*
 * Sends cats travelling until the duration is over or a signal came, then
 * waits for the requests in flight. Between, it holds checkpoints with
 * `checker` (see "The checks"). Called with the lock held.
 */
static void dispatch(struct load *l, struct client *checker)
{
    const struct options *o = &l->opts;
    uint64_t end = o->duration_s > 0
                       ? l->start + (uint64_t)(o->duration_s * 1e9)
                       : UINT64_MAX;
    uint64_t next = l->start;
    uint64_t next_check = l->start + CHECK_EVERY_NS;
    uint64_t paused = 0; /* when the load stopped for a checkpoint, or 0 */
    uint64_t sent = 0;
    uint64_t check_after = CHECK_EVERY_REQUESTS; /* sent */
    while (!atomic_load(&l->stop)) {
        uint64_t now = cat_now_ns();
        if (now >= end)
            break;
        if (now >= next_check && sent >= check_after) {
            if (paused == 0)
                paused = now;
            if (l->in_flight > 0) {
                wait_until(&l->wake, &l->lock, end);
                continue;
            }
            /* No cat travels and none is sent until the look is over. */
            pthread_mutex_unlock(&l->lock);
            checkpoint(l, checker);
            pthread_mutex_lock(&l->lock);
            uint64_t after = cat_now_ns();
            uint64_t cost = (after - paused) * CHECK_COST_SHARE;
            paused = 0;
            check_after = sent + CHECK_EVERY_REQUESTS;
            next_check =
                after + (cost > CHECK_EVERY_NS ? cost : CHECK_EVERY_NS);
            continue;
        }
        if (o->rate > 0 && next > now) {
            wait_until(&l->wake, &l->lock, next < end ? next : end);
            continue;
        }
        if (l->in_flight >= o->concurrency || l->n_idle == 0) {
            wait_until(&l->wake,
                       &l->lock,
                       now + 1000000000u < end ? now + 1000000000u : end);
            continue;
        }
        struct cat *c = &l->cats[take_idle(l)];
        l->in_flight++;
        sent++;
        c->go = true;
        pthread_cond_signal(&c->go_cond);
        if (o->rate > 0) {
            /* Exponential gaps make a Poisson process of mean `rate`. */
            double gap = -log(1.0 - cat_rand_unit(&l->rng)) / o->rate;
            next += (uint64_t)(gap * 1e9);
            /* After a stall, catch up one second at most. */
            if (next + 1000000000u < now)
                next = now - 1000000000u;
        }
    }
    while (l->in_flight > 0)
        pthread_cond_wait(&l->wake, &l->lock);
}

static void *progress_thread(void *arg)
{
    struct load *l = arg;
    pthread_mutex_lock(&l->lock);
    uint64_t tick = l->start;
    while (!l->quit) {
        tick += 1000000000u;
        while (!l->quit && cat_now_ns() < tick)
            wait_until(&l->progress, &l->lock, tick);
        if (l->quit)
            break;
        printf(PROG ": %6.0f s: %5llu req/s, %llu errors, p50 %.2f ms, p99 "
                    "%.2f ms\n",
               (double)(tick - l->start) / 1e9,
               (unsigned long long)l->window_requests,
               (unsigned long long)l->window_errors,
               hist_ms(&l->window, 50),
               hist_ms(&l->window, 99));
        if (fflush(stdout) != 0 || ferror(stdout)) {
            /*
             * Nobody reads the progress any more (a closed pipe or
             * terminal): stop as on SIGINT rather than run unseen.
             */
            int e = errno;
            if (!atomic_exchange(&l->stop, true))
                fprintf(stderr,
                        PROG ": cannot write the progress (%s); stopping\n",
                        strerror(e));
            pthread_cond_broadcast(&l->wake);
            break;
        }
        memset(&l->window, 0, sizeof(l->window));
        l->window_requests = 0;
        l->window_errors = 0;
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

/*
 * Waits for SIGINT or SIGTERM (which every thread blocks): the first stops
 * the run, which still ends with its summary and check; a second one ends
 * the program at once. SIGUSR1 from main() ends the thread.
 */
static void *signal_thread(void *arg)
{
    struct load *l = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR1)
            return NULL;
        if (atomic_exchange(&l->stop, true)) {
            static const char msg[] =
                PROG ": interrupted again; exiting without the check\n";
            ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
            (void)w;
            _exit(1);
        }
        pthread_mutex_lock(&l->lock);
        pthread_cond_broadcast(&l->wake);
        pthread_mutex_unlock(&l->lock);
    }
}

/* ---- The checks. ---- */

/*
 * The state is checked at the end of the run, and also at quiet moments
 * during it: every 200 requests (once a second at most) the dispatcher
 * lets the requests in flight finish, sends none, and looks (a
 * checkpoint). A fault that spoils the state and heals itself again a
 * moment later (the drift scenario's lost updates last until the cat's
 * next visit, half a second at 200 requests per second) is often gone
 * again at the one moment the run ends, but it is there at some of the
 * checkpoints. The end summary reports both.
 */

static void problem(struct problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct problems *p, const char *fmt, ...)
{
    if (p->count < MAX_PROBLEMS_SHOWN) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->shown[p->count], PROBLEM_MAX_BYTES, fmt, ap);
        va_end(ap);
    }
    p->count++;
}

static void print_problems(const struct problems *p)
{
    for (size_t i = 0; i < p->count && i < MAX_PROBLEMS_SHOWN; i++)
        printf("  - %s\n", p->shown[i]);
    if (p->count > MAX_PROBLEMS_SHOWN)
        printf("  - and %zu more\n", p->count - MAX_PROBLEMS_SHOWN);
}

/*
 * GET `path` and return its member `key` as a new reference, or NULL; says
 * why on stdout unless `quiet`.
 */
static json_t *
fetch(struct client *c, const char *path, const char *key, bool quiet)
{
    long status = request(c, "GET", path, NULL);
    if (status != 200) {
        if (!quiet)
            printf(PROG ": check: GET %s failed: %s\n",
                   path,
                   status == 0 ? c->error : "unexpected status");
        return NULL;
    }
    json_error_t err;
    json_t *doc = json_loadb(c->answer, c->len, JSON_REJECT_DUPLICATES, &err);
    json_t *v = json_incref(json_object_get(doc, key));
    json_decref(doc);
    if (!json_is_object(v)) {
        if (!quiet)
            printf(PROG ": check: GET %s did not answer {\"%s\": {...}}\n",
                   path,
                   key);
        json_decref(v);
        return NULL;
    }
    return v;
}

/*
 * Reads /cats, /towns and /cats again, up to `attempts` times: if the two
 * /cats differ, someone else is moving cats right now, and the pair would
 * not be one state. Returns 0 with both set (new references), 1 when the
 * last attempt still saw cats move (both set all the same), -1 when the
 * state could not be read (both NULL).
 */
static int read_state(struct client *c,
                      int attempts,
                      bool quiet,
                      json_t **cats_out,
                      json_t **towns_out)
{
    json_t *cats = NULL;
    json_t *towns = NULL;
    bool same = false;
    for (int attempt = 0; attempt < attempts; attempt++) {
        if (attempt > 0)
            cat_sleep_ns(100000000u);
        json_decref(cats);
        json_decref(towns);
        cats = fetch(c, "/cats", "cats", quiet);
        towns = cats != NULL ? fetch(c, "/towns", "towns", quiet) : NULL;
        json_t *again = towns != NULL ? fetch(c, "/cats", "cats", quiet) : NULL;
        same = again != NULL && json_equal(cats, again);
        json_decref(again);
        if (cats == NULL || towns == NULL || same)
            break;
    }
    if (cats == NULL || towns == NULL) {
        json_decref(cats);
        json_decref(towns);
        *cats_out = *towns_out = NULL;
        return -1;
    }
    *cats_out = cats;
    *towns_out = towns;
    return same ? 0 : 1;
}

static bool list_has(const json_t *list, const char *name, size_t *times)
{
    size_t i;
    json_t *v;
    *times = 0;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (s != NULL && strcmp(s, name) == 0)
            (*times)++;
    }
    return *times > 0;
}

/*
 * Checks /cats and /towns against each other and against the agent's
 * cats, adding what disagrees to `p`; returns how many of the agent's cats
 * it could not check (their requests failed). Called while no cat travels.
 */
static size_t
inspect(const struct load *l, json_t *cats, json_t *towns, struct problems *p)
{
    const char *name;
    json_t *v;
    json_object_foreach(cats, name, v)
    {
        const char *town = json_string_value(v);
        size_t times;
        if (town == NULL)
            problem(p, "/cats gives \"%s\" something that is no town", name);
        else if (!list_has(json_object_get(towns, town), name, &times))
            problem(p,
                    "/cats says \"%s\" is in %s, but /towns does not list it "
                    "there",
                    name,
                    town);
    }
    const char *town;
    json_t *list;
    json_object_foreach(towns, town, list)
    {
        size_t i;
        json_array_foreach(list, i, v)
        {
            const char *member = json_string_value(v);
            if (member == NULL) {
                problem(p, "/towns lists something that is no cat in %s", town);
                continue;
            }
            size_t times;
            list_has(list, member, &times);
            const char *where =
                json_string_value(json_object_get(cats, member));
            if (where == NULL)
                problem(p,
                        "/towns lists \"%s\" in %s, but /cats has no town for "
                        "it",
                        member,
                        town);
            else if (strcmp(where, town) != 0)
                problem(p,
                        "/towns lists \"%s\" in %s, but /cats says %s",
                        member,
                        town,
                        where);
            else if (times > 1)
                problem(p,
                        "/towns lists \"%s\" %zu times in %s",
                        member,
                        times,
                        town);
        }
    }
    size_t unsure = 0;
    for (size_t i = 0; i < l->opts.cats; i++) {
        const struct cat *mine = &l->cats[i];
        const char *where =
            json_string_value(json_object_get(cats, mine->name));
        if (mine->where == UNSURE)
            unsure++;
        else if (mine->where == IN_TOWN && where == NULL)
            problem(p,
                    "this agent put \"%s\" in %s, but /cats has no town for "
                    "it",
                    mine->name,
                    mine->town);
        else if (mine->where == IN_TOWN && strcmp(where, mine->town) != 0)
            problem(p,
                    "this agent put \"%s\" in %s, but /cats says %s",
                    mine->name,
                    mine->town,
                    where);
        else if (mine->where == AT_HOME && where != NULL)
            problem(p,
                    "this agent took \"%s\" out of its last town, but /cats "
                    "says it is in %s",
                    mine->name,
                    where);
    }
    return unsure;
}

/*
 * One checkpoint: a single quiet look at the state, counted unless it
 * could not be read or someone else moved cats meanwhile. The dispatcher
 * calls it without the lock, while no cat travels.
 */
static void checkpoint(struct load *l, struct client *c)
{
    json_t *cats;
    json_t *towns;
    if (read_state(c, 1, true, &cats, &towns) != 0) {
        json_decref(cats);
        json_decref(towns);
        return;
    }
    struct problems p = {0};
    inspect(l, cats, towns, &p);
    json_decref(cats);
    json_decref(towns);
    l->checkpoints++;
    if (p.count == 0)
        return;
    if (l->failed_checkpoints++ == 0) {
        l->first_failed = p;
        l->first_failed_ns = cat_now_ns() - l->start;
    }
}

/*
 * The final check: the state at the end, then what the checkpoints found.
 * Prints the outcome; returns true when both hold.
 */
static bool check(struct load *l, struct client *c)
{
    json_t *cats;
    json_t *towns;
    if (read_state(c, 5, false, &cats, &towns) < 0) {
        printf(PROG ": check FAILED: could not read the service's state\n");
        return false;
    }
    struct problems p = {0};
    size_t unsure = inspect(l, cats, towns, &p);
    if (p.count > 0) {
        printf(PROG ": check FAILED:\n");
        print_problems(&p);
    }
    if (l->failed_checkpoints > 0) {
        printf(PROG ": check FAILED at %llu of %llu quiet moments during the "
                    "run; the first, %.1f s in:\n",
               (unsigned long long)l->failed_checkpoints,
               (unsigned long long)l->checkpoints,
               (double)l->first_failed_ns / 1e9);
        print_problems(&l->first_failed);
    }
    if (p.count == 0 && l->failed_checkpoints == 0) {
        printf(PROG ": check passed: /cats and /towns agree (%zu cats in %zu "
                    "towns) and match this agent's %zu cats%s",
               json_object_size(cats),
               json_object_size(towns),
               l->opts.cats - unsure,
               unsure > 0 ? " (not counting those whose requests failed)" : "");
        if (l->checkpoints > 0)
            printf(", as at %llu quiet moments during the run",
                   (unsigned long long)l->checkpoints);
        printf("\n");
    }
    json_decref(cats);
    json_decref(towns);
    return p.count == 0 && l->failed_checkpoints == 0;
}

/* ---- Set-up. ---- */

/*
 * The name of cat `i`: the four first cats, then names made of two
 * syllables, with a number once those run out.
 */
static void cat_name(size_t i, char *out, size_t size)
{
    static const char *const first[] = {"Bar",
                                        "Mur",
                                        "Pu",
                                        "Ry",
                                        "Sne",
                                        "Ti",
                                        "Va",
                                        "Zha",
                                        "Ko",
                                        "Lu",
                                        "Ma",
                                        "Fe",
                                        "Ba",
                                        "Se",
                                        "Du",
                                        "Shu",
                                        "Pi",
                                        "Gri"};
    /* No first + second spells another pair, or one of the first cats. */
    static const char *const second[] = {
        "sik", "zik", "shok", "ska", "nya", "ra", "fey", "lya", "ffy", "mka"};
    const size_t nf = sizeof(first) / sizeof(first[0]);
    const size_t ns = sizeof(second) / sizeof(second[0]);
    if (i < cat_world_cat_count) {
        snprintf(out, size, "%s", cat_world_cats[i]);
        return;
    }
    size_t k = i - cat_world_cat_count;
    size_t round = k / (nf * ns);
    snprintf(out,
             size,
             "%s%s%.0zu",
             first[k % nf],
             second[(k / nf) % ns],
             round == 0 ? (size_t)0 : round + 1);
}

/* Returns 0 to run, 1 to exit 0 (help, version), -1 for a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
    enum {
        OPT_URL = 256,
        OPT_CATS,
        OPT_CONCURRENCY,
        OPT_RATE,
        OPT_DURATION,
        OPT_TIMEOUT,
        OPT_SEED,
        OPT_SCENARIO,
        OPT_ADMIN_PORT,
        OPT_ADMIN_BIND,
        OPT_TOKEN_FILE,
        OPT_NO_ADMIN,
        OPT_EXIT_WITH_PARENT,
        OPT_HELP,
        OPT_VERSION
    };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"cats", required_argument, NULL, OPT_CATS},
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"rate", required_argument, NULL, OPT_RATE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"seed", required_argument, NULL, OPT_SEED},
        {"scenario", required_argument, NULL, OPT_SCENARIO},
        {"admin-port", required_argument, NULL, OPT_ADMIN_PORT},
        {"admin-bind", required_argument, NULL, OPT_ADMIN_BIND},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"no-admin", no_argument, NULL, OPT_NO_ADMIN},
        {"exit-with-parent", no_argument, NULL, OPT_EXIT_WITH_PARENT},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    *o = (struct options){.url = "http://127.0.0.1:8080",
                          .cats = 4,
                          .concurrency = 2,
                          .rate = 100,
                          .duration_s = 10,
                          .timeout_s = 5,
                          .seed = cat_rand_seed(),
                          .scenario = CAT_SCENARIO_NONE,
                          .admin_port = -1,
                          .admin_bind = "127.0.0.1"};
    opterr = 0;
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        const char *flag = optind > 0 && optind <= argc ? argv[optind - 1] : "";
        switch (ch) {
        case OPT_URL:
            if (strncmp(optarg, "http://", 7) != 0 &&
                strncmp(optarg, "https://", 8) != 0) {
                fprintf(stderr,
                        PROG ": --url: expected http://HOST:PORT, got \"%s\"\n",
                        optarg);
                return -1;
            }
            if (strlen(optarg) > 400) {
                fprintf(stderr, PROG ": --url: too long\n");
                return -1;
            }
            o->url = optarg;
            break;
        case OPT_CATS:
            if (cat_parse_uint(PROG, "--cats", optarg, 1, MAX_CATS, &v) != 0)
                return -1;
            o->cats = (size_t)v;
            break;
        case OPT_CONCURRENCY:
            if (cat_parse_uint(PROG, "--concurrency", optarg, 1, 1024, &v) != 0)
                return -1;
            o->concurrency = (unsigned)v;
            break;
        case OPT_RATE:
            if (cat_parse_seconds(PROG, "--rate", optarg, 1e7, &o->rate) != 0)
                return -1;
            break;
        case OPT_DURATION:
            if (cat_parse_seconds(
                    PROG, "--duration", optarg, 1e7, &o->duration_s) != 0)
                return -1;
            break;
        case OPT_TIMEOUT:
            if (cat_parse_seconds(
                    PROG, "--timeout", optarg, 3600, &o->timeout_s) != 0 ||
                o->timeout_s < 0.001) {
                if (o->timeout_s < 0.001)
                    fprintf(stderr, PROG ": --timeout: must be above 0\n");
                return -1;
            }
            break;
        case OPT_SEED:
            if (cat_parse_uint(PROG, "--seed", optarg, 0, UINT64_MAX, &v) != 0)
                return -1;
            o->seed = v;
            break;
        case OPT_SCENARIO:
            if (cat_scenario_parse(optarg, &o->scenario) != 0) {
                fprintf(stderr,
                        PROG ": --scenario: unknown scenario \"%s\"; the "
                             "scenarios are %s\n",
                        optarg,
                        cat_scenario_list());
                return -1;
            }
            break;
        case OPT_ADMIN_PORT:
            if (cat_parse_uint(PROG, "--admin-port", optarg, 0, 65535, &v) != 0)
                return -1;
            o->admin_port = (long)v;
            break;
        case OPT_ADMIN_BIND:
            o->admin_bind = optarg;
            break;
        case OPT_TOKEN_FILE:
            o->token_file = optarg;
            break;
        case OPT_NO_ADMIN:
            o->admin_port = -1;
            break;
        case OPT_EXIT_WITH_PARENT:
            o->exit_with_parent = true;
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
                    PROG ": unknown option \"%s\"; see cat_load --help\n",
                    flag);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                PROG ": unexpected argument \"%s\"; see cat_load --help\n",
                argv[optind]);
        return -1;
    }
    return 0;
}

/*
 * Learns where the agent's cats are before it starts, so that a run after
 * an interrupted one goes on where that one stopped. Returns false when the
 * service cannot be read.
 */
static bool learn_positions(struct load *l, struct client *c)
{
    long status = request(c, "GET", "/cats", NULL);
    json_t *doc = status == 200 ? json_loadb(c->answer, c->len, 0, NULL) : NULL;
    json_t *cats = json_object_get(doc, "cats");
    if (!json_is_object(cats)) {
        fprintf(stderr,
                PROG ": cannot read %s/cats: %s\n",
                l->opts.url,
                status == 0 ? c->error : "unexpected answer");
        json_decref(doc);
        return false;
    }
    for (size_t i = 0; i < l->opts.cats; i++) {
        const char *t =
            json_string_value(json_object_get(cats, l->cats[i].name));
        if (t != NULL) {
            l->cats[i].where = IN_TOWN;
            snprintf(l->cats[i].town, sizeof(l->cats[i].town), "%s", t);
        }
    }
    json_decref(doc);
    return true;
}

static void load_free(struct load *l)
{
    if (l->clients != NULL)
        for (size_t i = 0; i < l->n_clients; i++)
            client_free(l->clients[i]);
    free(l->clients);
    free(l->idle);
    free(l->idle_pos);
    free(l->cats);
}

/* Allocates the cats, the idle set and the clients. */
static int load_init(struct load *l)
{
    const struct options *o = &l->opts;
    l->cats = calloc(o->cats, sizeof(l->cats[0]));
    l->idle = calloc(o->cats, sizeof(l->idle[0]));
    l->idle_pos = calloc(o->cats, sizeof(l->idle_pos[0]));
    l->clients = calloc(o->concurrency, sizeof(l->clients[0]));
    if (l->cats == NULL || l->idle == NULL || l->idle_pos == NULL ||
        l->clients == NULL)
        return -1;
    for (size_t i = 0; i < o->concurrency; i++) {
        l->clients[i] = client_new(o, MAX_ANSWER);
        if (l->clients[i] == NULL)
            return -1;
        l->n_clients++;
    }
    uint64_t seed = o->seed;
    for (size_t i = 0; i < o->cats; i++) {
        struct cat *c = &l->cats[i];
        cat_name(i, c->name, sizeof(c->name));
        c->where = AT_HOME;
        c->rng = cat_rand_next(&seed);
        c->load = l;
        l->idle[i] = i;
        l->idle_pos[i] = i;
    }
    l->n_idle = o->cats;
    l->rng = cat_rand_next(&seed);
    l->hot = o->scenario == CAT_SCENARIO_HOT_CAT
                 ? (size_t)cat_rand_below(&seed, o->cats)
                 : SIZE_MAX;
    atomic_init(&l->stop, false);
    return 0;
}

/* Condition variables that wait on CLOCK_MONOTONIC deadlines. */
static int cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0)
        return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static struct load load; /* large (histograms): not on the stack */
    struct load *l = &load;
    int parent = (int)getppid();
    int parsed = parse_options(argc, argv, &l->opts);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    const struct options *o = &l->opts;

    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* After the mask: the SIGTERM it asks for is taken by sigwait(). */
    if (o->exit_with_parent && cat_exit_with_parent(PROG, parent) != 0)
        return 1;
    json_object_seed(0);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, PROG ": cannot initialise libcurl\n");
        return 1;
    }
    int status = 1;
    struct client *checker = NULL;
    struct ctrace_admin *admin = NULL;
    pthread_mutex_init(&l->lock, NULL);
    if (cond_init(&l->wake) != 0 || cond_init(&l->progress) != 0 ||
        load_init(l) != 0 || (checker = client_new(o, MAX_LISTING)) == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
    }
    if (!learn_positions(l, checker))
        goto out;
    /* The ctrace admin endpoint, so that the travelling cats can be looked
     * into while they travel. */
    if (o->admin_port >= 0) {
        struct ctrace_error aerr = {0};
        admin = cat_admin_start(PROG,
                                o->admin_bind,
                                (unsigned)o->admin_port,
                                o->token_file,
                                false,
                                &aerr);
        if (admin == NULL) {
            fprintf(stderr, PROG ": admin endpoint: %s\n", aerr.text);
            goto out;
        }
    }

    printf(PROG ": %zu cats travel against %s: ", o->cats, o->url);
    if (o->rate > 0)
        printf("%g requests/s", o->rate);
    else
        printf("as fast as they can");
    printf(", %u at a time, ", o->concurrency);
    if (o->duration_s > 0)
        printf("for %g s", o->duration_s);
    else
        printf("until Ctrl-C");
    printf(" (seed %llu)\n", (unsigned long long)o->seed);
    if (o->scenario == CAT_SCENARIO_HOT_CAT)
        printf(PROG ": workshop scenario hot-cat is on\n");
    else if (o->scenario != CAT_SCENARIO_NONE)
        printf(PROG ": scenario %s is played by cat_traveler "
                    "(cat_traveler --scenario %s)\n",
               cat_scenario_name(o->scenario),
               cat_scenario_name(o->scenario));
    fflush(stdout);

    pthread_t sig_thread;
    pthread_t progress;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)256 * 1024);
    size_t started = 0;
    bool sig_started = pthread_create(&sig_thread, NULL, signal_thread, l) == 0;
    for (size_t i = 0; i < o->cats; i++) {
        if (cond_init(&l->cats[i].go_cond) != 0 ||
            pthread_create(
                &l->cats[i].thread, &attr, cat_thread, &l->cats[i]) != 0) {
            fprintf(stderr, PROG ": cannot start cat %zu\n", i + 1);
            atomic_store(&l->stop, true);
            break;
        }
        started++;
    }
    pthread_attr_destroy(&attr);

    pthread_mutex_lock(&l->lock);
    l->start = cat_now_ns();
    bool progress_started =
        pthread_create(&progress, NULL, progress_thread, l) == 0;
    if (started == o->cats)
        dispatch(l, checker);
    /* From now on a signal ends the program at once. */
    atomic_store(&l->stop, true);
    while (l->in_flight > 0)
        pthread_cond_wait(&l->wake, &l->lock);
    uint64_t elapsed = cat_now_ns() - l->start;
    l->quit = true;
    for (size_t i = 0; i < started; i++)
        pthread_cond_signal(&l->cats[i].go_cond);
    pthread_cond_broadcast(&l->progress);
    pthread_mutex_unlock(&l->lock);
    for (size_t i = 0; i < started; i++) {
        pthread_join(l->cats[i].thread, NULL);
        pthread_cond_destroy(&l->cats[i].go_cond);
    }
    if (progress_started)
        pthread_join(progress, NULL);

    double secs = (double)elapsed / 1e9;
    printf(PROG ": %llu requests in %.1f s: %.1f req/s, %llu unexpected "
                "answers; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max "
                "%.2f ms\n",
           (unsigned long long)l->requests,
           secs,
           secs > 0 ? (double)l->requests / secs : 0.0,
           (unsigned long long)l->errors,
           hist_ms(&l->total, 50),
           hist_ms(&l->total, 90),
           hist_ms(&l->total, 99),
           (double)l->total.max / 1000.0);
    fflush(stdout);
    bool held = started == o->cats && check(l, checker);
    fflush(stdout);
    status = held && l->errors == 0 ? 0 : 1;

    if (sig_started) {
        pthread_kill(sig_thread, SIGUSR1);
        pthread_join(sig_thread, NULL);
    }
out:
    ctrace_admin_stop(admin);
    client_free(checker);
    load_free(l);
    pthread_cond_destroy(&l->wake);
    pthread_cond_destroy(&l->progress);
    pthread_mutex_destroy(&l->lock);
    curl_global_cleanup();
    return status;
}
