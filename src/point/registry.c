/* SPDX-License-Identifier: MIT */
/*
 * The trace-point registry: which modules have trace points, and the
 * lookups over them (listing, globbing, exact lookup, "did you mean").
 *
 * Each module (the program, each shared library) registers the range of
 * its `ctrace_points` section from a constructor that point.h puts in every
 * translation unit including it, and unregisters it from the matching
 * destructor. So one module registers the same range once per translation
 * unit: the registry keeps one entry per range with a reference count, and
 * forgets the range when the count drops to zero, which happens at exit or
 * when dlclose() unloads the module. From then on nothing here reads those
 * descriptors again (their memory may be gone).
 *
 * Storage is a fixed table of CTRACE__REGISTRY_MAX_MODULES ranges: the
 * constructors run before main(), often before anything could report an
 * error, so they take a mutex that needs no initialisation and write into
 * static memory; nothing allocates, nothing can fail halfway. When the
 * table is full a further module is refused and counted (its points never
 * show up; ctrace__registry_stats() says so). A process with more than 256
 * instrumented libraries is not one we expect.
 *
 * The registry does not copy descriptors: every lookup walks the ranges
 * (pointers, kernel-style), which keeps registration O(points) once and
 * avoids an allocation per point.
 *
 * Thread-safety: one mutex guards the table and every change of a point's
 * `on` counter or probe (see core.h for the rules and the lock order with
 * the dynamic loader).
 */
#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "pattern/pattern.h"
#include "point/point.h"

struct module {
    struct ctrace_point *const *start;
    struct ctrace_point *const *stop;
    size_t refs; /* translation units of the module that registered */
};

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct module modules[CTRACE__REGISTRY_MAX_MODULES];
static size_t nmodules;
static size_t refused;
static uint32_t next_id = 1;

/*
 * The thread holding the lock, or 0: lets the public listing refuse to
 * deadlock when called from a callback that already holds the lock. Not a
 * thread-local variable, because constructors of dlopen()ed libraries run
 * through here, and touching thread-local storage there may allocate.
 */
static atomic_uintptr_t lock_owner;

static uintptr_t self_id(void)
{
    /*
     * glibc's pthread_t is an unsigned long holding the thread's descriptor
     * address: never 0 and unique among live threads.
     */
    _Static_assert(sizeof(pthread_t) <= sizeof(uintptr_t),
                   "pthread_t must fit an uintptr_t");
    uintptr_t id = 0;
    pthread_t self = pthread_self();
    memcpy(&id, &self, sizeof(self));
    return id;
}

void ctrace__registry_lock(void)
{
    assert(!ctrace__registry_locked());
    pthread_mutex_lock(&registry_mutex);
    atomic_store_explicit(&lock_owner, self_id(), memory_order_relaxed);
}

void ctrace__registry_unlock(void)
{
    atomic_store_explicit(&lock_owner, 0, memory_order_relaxed);
    pthread_mutex_unlock(&registry_mutex);
}

bool ctrace__registry_locked(void)
{
    return atomic_load_explicit(&lock_owner, memory_order_relaxed) == self_id();
}

/*
 * Whether a slot of a section holds a descriptor we can read: the slot may
 * be a hole (some toolchains pad between input sections), or the
 * descriptor may come from a header too old to have every field we use.
 */
static bool usable(const struct ctrace_point *pt)
{
    return pt != NULL && pt->struct_size >= CTRACE__POINT_MIN_SIZE &&
           pt->module != NULL && pt->function != NULL;
}

/* Called with registry lock held. */
static struct module *find_module(struct ctrace_point *const *start,
                                  struct ctrace_point *const *stop)
{
    for (size_t i = 0; i < nmodules; i++) {
        if (modules[i].start == start && modules[i].stop == stop)
            return &modules[i];
    }
    return NULL;
}

void ctrace__register_module(struct ctrace_point *const *start,
                             struct ctrace_point *const *stop)
{
    /* A module without a single point has no section: both are NULL. */
    if (start == NULL || stop == NULL || (uintptr_t)stop <= (uintptr_t)start)
        return;
    ctrace__registry_lock();
    struct module *m = find_module(start, stop);
    if (m != NULL) {
        m->refs++;
        ctrace__registry_unlock();
        return;
    }
    if (nmodules == CTRACE__REGISTRY_MAX_MODULES) {
        refused++;
        ctrace__registry_unlock();
        return;
    }
    m = &modules[nmodules++];
    m->start = start;
    m->stop = stop;
    m->refs = 1;
    /*
     * Ids are never reused, so an id the engine kept from an unloaded
     * library can never name a point of a library loaded later.
     */
    for (struct ctrace_point *const *p = start; p < stop; p++) {
        if (!usable(*p))
            continue;
        (*p)->ctrace__id = next_id++;
        if (next_id == 0)
            next_id = 1;
    }
    const struct ctrace__engine_hooks *h = ctrace__engine_hooks();
    if (h != NULL && h->module_added != NULL)
        h->module_added(h->arg, start, stop);
    ctrace__registry_unlock();
}

/* Modules removed; written under the registry lock. */
static _Atomic uint64_t generation;

uint64_t ctrace__registry_generation(void)
{
    return atomic_load_explicit(&generation, memory_order_acquire);
}

void ctrace__unregister_module(struct ctrace_point *const *start,
                               struct ctrace_point *const *stop)
{
    if (start == NULL || stop == NULL || (uintptr_t)stop <= (uintptr_t)start)
        return;
    ctrace__registry_lock();
    struct module *m = find_module(start, stop);
    if (m == NULL) {
        /* One of the refused registrations goes away. */
        if (refused > 0)
            refused--;
        ctrace__registry_unlock();
        return;
    }
    if (--m->refs == 0) {
        atomic_fetch_add_explicit(&generation, 1, memory_order_release);
        const struct ctrace__engine_hooks *h = ctrace__engine_hooks();
        if (h != NULL && h->module_removed != NULL)
            h->module_removed(h->arg, start, stop);
        /* Keep load order for listings: close the gap, don't swap. */
        size_t i = (size_t)(m - modules);
        memmove(&modules[i],
                &modules[i + 1],
                (nmodules - i - 1) * sizeof(modules[0]));
        nmodules--;
    }
    ctrace__registry_unlock();
}

size_t ctrace__registry_walk(const char *module_glob,
                             const char *function_glob,
                             int arity,
                             ctrace__point_fn fn,
                             void *arg)
{
    assert(ctrace__registry_locked());
    size_t count = 0;
    for (size_t i = 0; i < nmodules; i++) {
        for (struct ctrace_point *const *p = modules[i].start;
             p < modules[i].stop;
             p++) {
            struct ctrace_point *pt = *p;
            if (!usable(pt))
                continue;
            if (module_glob != NULL &&
                !ctrace__glob_match(module_glob, pt->module))
                continue;
            if (function_glob != NULL &&
                !ctrace__glob_match(function_glob, pt->function))
                continue;
            if (arity >= 0 && pt->arity != (uint32_t)arity)
                continue;
            count++;
            if (fn != NULL && fn(pt, arg) != 0)
                return count;
        }
    }
    return count;
}

struct find_ctx {
    const char *module;
    const char *function;
    struct ctrace_point *found;
};

static int find_exact(struct ctrace_point *pt, void *arg)
{
    struct find_ctx *ctx = arg;
    if (strcmp(pt->module, ctx->module) != 0 ||
        strcmp(pt->function, ctx->function) != 0)
        return 0;
    ctx->found = pt;
    return 1;
}

struct ctrace_point *
ctrace__registry_find(const char *module, const char *function, int arity)
{
    assert(ctrace__registry_locked());
    if (module == NULL || function == NULL)
        return NULL;
    struct find_ctx ctx = {module, function, NULL};
    ctrace__registry_walk(NULL, NULL, arity, find_exact, &ctx);
    return ctx.found;
}

size_t ctrace__registry_count(void)
{
    ctrace__registry_lock();
    size_t n = ctrace__registry_walk(NULL, NULL, -1, NULL, NULL);
    ctrace__registry_unlock();
    return n;
}

void ctrace__registry_stats(size_t *nmod, size_t *nrefused)
{
    ctrace__registry_lock();
    if (nmod != NULL)
        *nmod = nmodules;
    if (nrefused != NULL)
        *nrefused = refused;
    ctrace__registry_unlock();
}

struct foreach_ctx {
    const char *glob;
    bool qualified; /* the glob has a ':' and names module:function */
    ctrace_point_cb cb;
    void *arg;
    size_t count;
};

static int foreach_one(struct ctrace_point *pt, void *arg)
{
    struct foreach_ctx *ctx = arg;
    if (ctx->glob != NULL) {
        bool match;
        if (ctx->qualified) {
            /* Names are at most 127 bytes each; longer ones can't match. */
            char name[2 * CTRACE_POINT_NAME_MAX + 2];
            int len =
                snprintf(name, sizeof(name), "%s:%s", pt->module, pt->function);
            match = len >= 0 && (size_t)len < sizeof(name) &&
                    ctrace__glob_match(ctx->glob, name);
        } else {
            match = ctrace__glob_match(ctx->glob, pt->module);
        }
        if (!match)
            return 0;
    }
    ctx->count++;
    return ctx->cb != NULL ? ctx->cb(pt, ctx->arg) : 0;
}

int ctrace_points_foreach(const char *glob, ctrace_point_cb cb, void *arg)
{
    if (ctrace__registry_locked())
        return CTRACE_EBUSY;
    struct foreach_ctx ctx = {
        glob, glob != NULL && strchr(glob, ':'), cb, arg, 0};
    ctrace__registry_lock();
    ctrace__registry_walk(NULL, NULL, -1, foreach_one, &ctx);
    ctrace__registry_unlock();
    return ctx.count > INT_MAX ? INT_MAX : (int)ctx.count;
}

void ctrace__point_set_probe(struct ctrace_point *point, void *probe)
{
    assert(ctrace__registry_locked());
    atomic_store_explicit(&point->ctrace__probe, probe, memory_order_release);
}

/*
 * `on` changes only under the registry lock, so a load and a store are
 * enough (no read-modify-write); the store is a release so that the probe
 * published before it is visible to whoever acquires the probe after
 * seeing the new count.
 */
int ctrace__point_arm(struct ctrace_point *point)
{
    assert(ctrace__registry_locked());
    uint32_t on = atomic_load_explicit(&point->on, memory_order_relaxed);
    if (on >= INT_MAX)
        return CTRACE_ELIMIT;
    atomic_store_explicit(&point->on, on + 1, memory_order_release);
    return (int)(on + 1);
}

int ctrace__point_disarm(struct ctrace_point *point)
{
    assert(ctrace__registry_locked());
    uint32_t on = atomic_load_explicit(&point->on, memory_order_relaxed);
    if (on == 0)
        return CTRACE_EINVAL;
    atomic_store_explicit(&point->on, on - 1, memory_order_release);
    return (int)(on - 1);
}

/* ---- "Did you mean": edit distance over names. ---- */

/* Longest name the distance is computed for; longer ones never suggest. */
#define SUGGEST_NAME_MAX 255

/*
 * The optimal-string-alignment distance between `a` and `b` (insertions,
 * deletions, substitutions and swaps of two neighbours each cost 1, so
 * "cat_trvaeler" is 1 away from "cat_traveler"), or `limit` + 1 when it is
 * larger than `limit`. Three rows on the stack; no allocation.
 */
static unsigned distance(const char *a, const char *b, unsigned limit)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    if (la > SUGGEST_NAME_MAX || lb > SUGGEST_NAME_MAX)
        return limit + 1;
    if ((la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    unsigned rows[3][SUGGEST_NAME_MAX + 1];
    unsigned *prev2 = rows[0];
    unsigned *prev = rows[1];
    unsigned *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (unsigned)i;
        unsigned best = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned d = prev[j - 1] + cost;
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;
            cur[j] = d;
            if (d < best)
                best = d;
        }
        if (best > limit)
            return limit + 1;
        unsigned *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb] <= limit ? prev[lb] : limit + 1;
}

struct suggest_ctx {
    const char *module;
    const char *function; /* NULL: module only */
    int arity;
    bool module_glob;
    bool function_glob;
    unsigned limit;
    struct ctrace__suggestion *out;
    size_t n;
    size_t filled;
};

/* Keeps `out` sorted by distance, then text, without duplicates. */
static void offer(struct suggest_ctx *ctx, const char *text, unsigned d)
{
    for (size_t i = 0; i < ctx->filled; i++) {
        if (strcmp(ctx->out[i].text, text) == 0)
            return;
    }
    size_t pos = ctx->filled;
    while (pos > 0 && (ctx->out[pos - 1].distance > d ||
                       (ctx->out[pos - 1].distance == d &&
                        strcmp(ctx->out[pos - 1].text, text) > 0)))
        pos--;
    if (pos >= ctx->n)
        return;
    size_t last = ctx->filled < ctx->n ? ctx->filled : ctx->n - 1;
    memmove(
        &ctx->out[pos + 1], &ctx->out[pos], (last - pos) * sizeof(ctx->out[0]));
    snprintf(ctx->out[pos].text, sizeof(ctx->out[pos].text), "%s", text);
    ctx->out[pos].distance = d;
    if (ctx->filled < ctx->n)
        ctx->filled++;
}

static int suggest_one(struct ctrace_point *pt, void *arg)
{
    struct suggest_ctx *ctx = arg;
    unsigned d = 0;
    if (ctx->module_glob) {
        if (!ctrace__glob_match(ctx->module, pt->module))
            return 0;
    } else {
        d += distance(ctx->module, pt->module, ctx->limit);
    }
    if (ctx->function != NULL) {
        if (ctx->function_glob) {
            if (!ctrace__glob_match(ctx->function, pt->function))
                return 0;
        } else if (d <= ctx->limit) {
            d += distance(ctx->function, pt->function, ctx->limit - d);
        }
        if (ctx->arity >= 0 && pt->arity != (uint32_t)ctx->arity)
            d++;
    }
    if (d > ctx->limit)
        return 0;

    char text[sizeof(ctx->out[0].text)];
    int len = snprintf(
        text, sizeof(text), "%s", ctx->module_glob ? ctx->module : pt->module);
    if (ctx->function != NULL && len >= 0 && (size_t)len < sizeof(text))
        len += snprintf(text + len,
                        sizeof(text) - (size_t)len,
                        ":%s",
                        ctx->function_glob ? ctx->function : pt->function);
    if (ctx->function != NULL && ctx->arity >= 0 && len >= 0 &&
        (size_t)len < sizeof(text))
        snprintf(
            text + len, sizeof(text) - (size_t)len, "/%u", (unsigned)pt->arity);
    offer(ctx, text, d);
    return 0;
}

size_t ctrace__registry_suggest(const char *module,
                                const char *function,
                                int arity,
                                struct ctrace__suggestion *out,
                                size_t n)
{
    if (module == NULL || out == NULL || n == 0)
        return 0;
    struct suggest_ctx ctx = {
        .module = module,
        .function = function,
        .arity = arity,
        .module_glob = strchr(module, '*') != NULL,
        .function_glob = function != NULL && strchr(function, '*') != NULL,
        .out = out,
        .n = n,
    };
    /* The budget grows with what was typed: one slip per three bytes. */
    size_t typed =
        (ctx.module_glob ? 0 : strlen(module)) +
        (function == NULL || ctx.function_glob ? 0 : strlen(function));
    ctx.limit = typed / 3 > 2 ? (unsigned)(typed / 3) : 2;
    if (ctx.limit > SUGGEST_NAME_MAX)
        ctx.limit = SUGGEST_NAME_MAX;
    ctrace__registry_lock();
    ctrace__registry_walk(NULL, NULL, -1, suggest_one, &ctx);
    ctrace__registry_unlock();
    return ctx.filled;
}
