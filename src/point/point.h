/* SPDX-License-Identifier: MIT */
/*
 * Private interface of src/core: the trace-point registry, the switches of
 * each point, and the seam between the macros' entry points (point.c) and
 * the session engine.
 *
 * The registry knows which modules (the program, each shared library) have
 * trace points, as ranges of the `ctrace_points` section that their
 * constructors registered; it never copies descriptors, it walks those
 * ranges. One mutex, the registry lock, guards the ranges and every change
 * of a point's `on` counter or probe.
 *
 * Lock order. Module constructors and destructors run with the dynamic
 * loader's lock held and then take the registry lock, so the loader's lock
 * comes first: code holding the registry lock must never call dlopen(),
 * dlclose(), dladdr(), dl_iterate_phdr() or anything that may (symbolizers,
 * first calls through lazily bound PLT entries of libraries not loaded
 * yet), or it can deadlock against a thread inside dlopen().
 *
 * Thread-safety: functions say "Called with registry lock held." when the
 * caller must hold it; the others take it themselves and may be called from
 * any thread.
 */
#ifndef CTRACE_CORE_CORE_H
#define CTRACE_CORE_CORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "ctrace/point.h"
#include "ctrace/session.h"

/* Most modules with trace points the registry tracks at once. */
#define CTRACE__REGISTRY_MAX_MODULES 256

/*
 * The smallest descriptor the registry accepts: one that has every field up
 * to ctrace__probe. Descriptors from a newer header are larger, and fine.
 */
#define CTRACE__POINT_MIN_SIZE \
    (offsetof(struct ctrace_point, ctrace__probe) + sizeof(void *))

/* ---- The engine seam. ---- */

/*
 * What the session engine plugs into the macros' entry points. Every member
 * may be NULL. `arg` is passed back to each function.
 */
struct ctrace__engine_hooks {
    /*
     * An armed call point fired, on the traced thread. `probe` is the
     * point's ctrace__probe as loaded with acquire ordering (NULL when the
     * point was disarmed meanwhile); `frame->point` is set and
     * `frame->start_ns` is 0: the hook sets it, with its clock, when it
     * takes the call, so that calls no session wants cost no clock read.
     * Returns true when some session wants this call's return: the frame
     * then becomes active and exactly one `ret` call follows for it, on
     * the same thread, with the duration since `frame->start_ns`.
     * A C string argument may come unmeasured (CTRACE__LEN_LAZY: the
     * trampolines pass them so), to be measured by what reads it, with
     * the bound it needs (ctrace__value_measure(), base.h): most armed calls
     * are rejected or cut before a whole string would be read.
     */
    bool (*enter)(void *arg,
                  struct ctrace_point *point,
                  void *probe,
                  struct ctrace__frame *frame,
                  size_t nargs,
                  const struct ctrace_value *args);
    /*
     * The call of an active frame ended. `value` is what CTRACE_RETURN*
     * reported, or NULL when the function left without it (rendered `?`);
     * it views the caller's memory and is valid during the call only,
     * and may be an unmeasured C string as in `enter`.
     * `duration_ns` runs from frame->start_ns.
     */
    void (*ret)(void *arg,
                struct ctrace__frame *frame,
                const struct ctrace_value *value,
                uint64_t duration_ns);
    /*
     * An armed event point fired; `now_ns` is its timestamp and
     * `return_address` the address ctrace__event() returns to, in the
     * function that raised the event (where a captured stack starts).
     */
    void (*event)(void *arg,
                  struct ctrace_point *point,
                  void *probe,
                  uint64_t now_ns,
                  size_t nargs,
                  const struct ctrace_value *args,
                  uintptr_t return_address);
    /*
     * A module's points became known (a constructor ran: at start-up, or in
     * dlopen()), or are about to be forgotten (last destructor: exit or
     * dlclose()). After module_removed returns, the engine must never touch
     * those descriptors again: their memory may be unmapped.
     * Called with registry lock held.
     */
    void (*module_added)(void *arg,
                         struct ctrace_point *const *start,
                         struct ctrace_point *const *stop);
    void (*module_removed)(void *arg,
                           struct ctrace_point *const *start,
                           struct ctrace_point *const *stop);
    /*
     * The clock of timestamps and durations; NULL for ctrace__clock_ticks()
     * (base/clock.h: the TSC when it is invariant, else CLOCK_MONOTONIC),
     * read inline, which is the engine's clock. Tests set their own.
     */
    uint64_t (*now_ns)(void *arg);
    /*
     * A process event (see ctrace__point_proc_event()), on the thread that
     * raised it. Takes no lock and does not allocate.
     */
    void (*proc_event)(void *arg,
                       enum ctrace_event_kind kind,
                       uint64_t pid,
                       uint64_t peer,
                       const struct ctrace_value *value);
    void *arg;
};

/*
 * Installs `hooks` (NULL removes them). The table is not copied: it must
 * stay valid, unchanged, for as long as any traced thread may still use it
 * (in practice: a static table, or one retired only after a grace period).
 * Thread-safety: any thread; takes the registry lock.
 */
void ctrace__engine_set_hooks(const struct ctrace__engine_hooks *hooks);

/* The installed hooks, or NULL (acquire load). Thread-safety: any thread. */
const struct ctrace__engine_hooks *ctrace__engine_hooks(void);

/* ---- Process events. ---- */

/*
 * Process events (send, receive, procs) are raised by the process table
 * and by servers rather than by trace points, but travel the same seam:
 * the process layer calls down into it and the engine's hook takes them.
 * ctrace__point_proc_wants() says, with one relaxed load, which kinds some
 * running session traces, so that nothing is rendered for nobody: test the
 * CTRACE__WANT_ bit first. The engine keeps the mask current with
 * ctrace__point_set_proc_wants().
 */
#define CTRACE__WANT_SEND    (1u << 0)
#define CTRACE__WANT_RECEIVE (1u << 1)
#define CTRACE__WANT_PROCS   (1u << 2)
unsigned ctrace__point_proc_wants(void);
void ctrace__point_set_proc_wants(unsigned wants);

/*
 * Offers a process event to every session tracing its kind and passing
 * `pid` through its process filter. `value` is the message (SEND,
 * RECEIVE), the initial call (SPAWN), the exit reason (EXIT) or the name
 * (REGISTER, UNREGISTER) as a string, or NULL (LINK, UNLINK); it is copied
 * before the call returns. `peer` is the other process, or 0. Takes no
 * lock and does not allocate; may be called with the table lock held.
 * Thread-safety: any thread.
 */
void ctrace__point_proc_event(enum ctrace_event_kind kind,
                              uint64_t pid,
                              uint64_t peer,
                              const struct ctrace_value *value);

/* ---- The registry. ---- */

/*
 * Takes and releases the registry lock. Not recursive: taking it twice on
 * one thread is a bug (asserted in debug builds).
 * Thread-safety: any thread.
 */
void ctrace__registry_lock(void);
void ctrace__registry_unlock(void);

/*
 * Whether the calling thread holds the registry lock.
 * Thread-safety: any thread.
 */
bool ctrace__registry_locked(void);

/*
 * How many modules have been removed so far: a reader that copied a
 * point's names under the registry lock may use its copy without the lock
 * while this has not changed (the point's module is then still loaded, or
 * was removed after the copy, which the reader may ignore).
 * Thread-safety: any thread (an acquire load).
 */
uint64_t ctrace__registry_generation(void);

/*
 * Called for each point a walk selects; returns non-zero to stop the walk.
 * Called with registry lock held.
 */
typedef int (*ctrace__point_fn)(struct ctrace_point *point, void *arg);

/*
 * Walks every registered point whose module matches `module_glob`, function
 * matches `function_glob` (each NULL for any; `*` globs as in
 * ctrace__glob_match()) and arity equals `arity` (negative for any),
 * calling `fn` (may be NULL) for each. Returns how many were passed to `fn`
 * (or counted).
 * Called with registry lock held.
 */
size_t ctrace__registry_walk(const char *module_glob,
                             const char *function_glob,
                             int arity,
                             ctrace__point_fn fn,
                             void *arg);

/*
 * The first registered point named exactly module:function/arity (arity
 * negative for any), or NULL. Valid until the registry lock is released.
 * Called with registry lock held.
 */
struct ctrace_point *
ctrace__registry_find(const char *module, const char *function, int arity);

/* Number of registered points. Thread-safety: any thread. */
size_t ctrace__registry_count(void);

/*
 * Registry health: modules tracked now, and registrations refused because
 * all CTRACE__REGISTRY_MAX_MODULES slots were taken (their points stay
 * invisible). Thread-safety: any thread.
 */
void ctrace__registry_stats(size_t *modules, size_t *refused);

/* One "did you mean" answer: a spec target and its edit distance. */
struct ctrace__suggestion {
    char text[2 * CTRACE_POINT_NAME_MAX + 16]; /* "cat_traveler:enter/2" */
    unsigned distance;
};

/*
 * Fills `out` with up to `n` names of registered points closest to the
 * target module[:function][/arity] that selected nothing, closest first,
 * and returns how many it filled. `function` NULL means "module only",
 * `arity` negative means "any arity". Parts containing `*` are kept as
 * written: a candidate must match them and is judged on the other parts.
 * Only names within an edit distance of max(2, length / 3) of what was
 * written count (a wrong arity costs 1), so a wild guess suggests nothing.
 * Copies the names, so the answer stays valid after modules unload.
 * Thread-safety: any thread; takes the registry lock.
 */
size_t ctrace__registry_suggest(const char *module,
                                const char *function,
                                int arity,
                                struct ctrace__suggestion *out,
                                size_t n);

/* ---- Switches of one point. ---- */

/*
 * Publishes what the engine wants traced threads to find for `point`, with
 * release ordering; the slow path loads it with acquire. A non-NULL
 * probe must begin with a struct ctrace__point_filter (below), which the
 * slow path reads before calling the engine. Called with registry lock
 * held.
 */
void ctrace__point_set_probe(struct ctrace_point *point, void *probe);

/*
 * Adds one to the number of sessions that selected `point`; it fires from
 * the first. Publish the probe first: a thread that sees `on` become
 * non-zero (a relaxed load) and then loads the probe with acquire finds it,
 * because this increment is a release that follows the probe's store.
 * Returns the new count, or CTRACE_ELIMIT when it would overflow.
 * Called with registry lock held.
 */
int ctrace__point_arm(struct ctrace_point *point);

/*
 * Takes one from the count; the point stops firing at 0. Threads that read
 * the old value may still be in the slow path with the old probe: the
 * engine must retire probe data only after a grace period.
 * Returns the new count, or CTRACE_EINVAL when the point was not armed.
 * Called with registry lock held.
 */
int ctrace__point_disarm(struct ctrace_point *point);

/* ---- The point's filter. ---- */

/*
 * A probe the engine publishes (ctrace__point_set_probe) begins with this
 * struct: a filter that the entry points run on a call's raw arguments
 * before anything else, lazy strings unmeasured. When one spec of one
 * session selects the point, the engine puts that spec's argument count
 * and first flat check in it (a string or prefix literal of up to 16
 * bytes and no NUL byte, or an integer; pattern.h's flat form), so that a
 * call it rejects
 * costs a few loads and compares and never reaches the engine.
 *
 * A sequence lock of relaxed atomics: the writer (under the registry lock)
 * makes `seq` odd, writes, makes it even; a reader that sees it odd or
 * changed ignores what it read. Part of the probe, never freed under a
 * reader. A call the filter rejects does not update the thread's current
 * point (what `procs` shows as `current`).
 */
struct ctrace__point_filter {
    _Atomic uint32_t seq;
    _Atomic uint32_t word; /* CTRACE__FILTER_ fields; 0: no filter */
    _Atomic uint64_t lit[2];
};
/* The entry trampoline (ctrace/point_impl.h) reads this layout in asm. */
_Static_assert(offsetof(struct ctrace__point_filter, word) == 4 &&
                   offsetof(struct ctrace__point_filter, lit) == 8,
               "the entry trampoline's filter offsets");

#define CTRACE__FILTER_ON        1u
#define CTRACE__FILTER_OP(w)     (((w) >> 1) & 7u)
#define CTRACE__FILTER_ARG(w)    (((w) >> 8) & 0xffu)
#define CTRACE__FILTER_LEN(w)    (((w) >> 16) & 0xffu)
#define CTRACE__FILTER_NARGS(w)  ((w) >> 24) /* argument count + 1; 0: any */
#define CTRACE__FILTER_OP_NONE   0u
#define CTRACE__FILTER_OP_BYTES  1u /* string or bytes equal to lit */
#define CTRACE__FILTER_OP_PREFIX 2u /* string or bytes starting with lit */
#define CTRACE__FILTER_OP_INT    3u /* an integer equal to (int64_t)lit[0] */
#define CTRACE__FILTER_OP_UINT   4u /* a UINT equal to lit[0] */
#define CTRACE__FILTER_BYTES_MAX 16u
#define CTRACE__FILTER_NARGS_MAX 254u

/*
 * The entry trampoline may decide this filter alone (ctrace/point_impl.h):
 * a BYTES or PREFIX literal of 1 to CTRACE__FILTER_BYTES_MAX bytes, on an
 * argument below the point's arity, and the spec's argument count is that
 * arity, so the trampoline checks no count.
 */
#define CTRACE__FILTER_LAZY (1u << 4)

/* Builds a filter word. */
static inline uint32_t ctrace__filter_word(unsigned op,
                                           unsigned arg,
                                           unsigned len,
                                           unsigned nargs_plus_one)
{
    return CTRACE__FILTER_ON | (uint32_t)op << 1 | (uint32_t)arg << 8 |
           (uint32_t)len << 16 | (uint32_t)nargs_plus_one << 24;
}

/*
 * Replaces the filter (word 0 clears it). Registry lock held, or the only
 * thread (a fork child).
 */
void ctrace__point_filter_set(struct ctrace__point_filter *f,
                              uint32_t word,
                              const uint64_t lit[2]);

/*
 * Whether the filter rejects a call with these arguments, whose strings
 * may still carry the length CTRACE__LEN_LAZY. False when there is no
 * filter or it changed while read. Thread-safety: any thread.
 */
static inline bool
ctrace__point_filter_rejects(const struct ctrace__point_filter *f,
                             size_t nargs,
                             const struct ctrace_value *args)
{
    uint32_t seq = atomic_load_explicit(&f->seq, memory_order_acquire);
    uint32_t w = atomic_load_explicit(&f->word, memory_order_relaxed);
    if ((w & CTRACE__FILTER_ON) == 0)
        return false;
    uint64_t lit0 = atomic_load_explicit(&f->lit[0], memory_order_relaxed);
    uint64_t lit1 = atomic_load_explicit(&f->lit[1], memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if ((seq & 1) != 0 ||
        atomic_load_explicit(&f->seq, memory_order_relaxed) != seq)
        return false;
    if (CTRACE__FILTER_NARGS(w) != 0 && CTRACE__FILTER_NARGS(w) - 1 != nargs)
        return true;
    unsigned op = CTRACE__FILTER_OP(w);
    const struct ctrace_value *v = &args[CTRACE__FILTER_ARG(w)];
    if (op == CTRACE__FILTER_OP_BYTES || op == CTRACE__FILTER_OP_PREFIX) {
        if (v->kind != CTRACE_VALUE_STRING && v->kind != CTRACE_VALUE_BYTES)
            return true;
        size_t len = CTRACE__FILTER_LEN(w);
        size_t have = v->as.str.len;
        bool lazy = have == CTRACE__LEN_LAZY;
        if (lazy && v->as.str.ptr == NULL)
            return true; /* a NULL C string: the null value */
        if (!lazy && (op == CTRACE__FILTER_OP_BYTES ? have != len : have < len))
            return true;
        /*
         * Byte by byte: for an unmeasured string the first mismatch comes
         * at its NUL at the latest, so nothing past it is read.
         */
        const unsigned char *b = (const unsigned char *)v->as.str.ptr;
        for (size_t k = 0; k < len; k++) {
            uint64_t word = k < 8 ? lit0 : lit1;
            if (b[k] != (unsigned char)(word >> (8 * (k % 8))))
                return true;
        }
        return lazy && op == CTRACE__FILTER_OP_BYTES && b[len] != '\0';
    }
    if (op == CTRACE__FILTER_OP_INT) {
        if (v->kind == CTRACE_VALUE_INT)
            return v->as.i != (int64_t)lit0;
        if (v->kind == CTRACE_VALUE_UINT)
            return (int64_t)lit0 < 0 || v->as.u != lit0;
        return true;
    }
    if (op == CTRACE__FILTER_OP_UINT)
        return v->kind != CTRACE_VALUE_UINT || v->as.u != lit0;
    return false;
}

#endif /* CTRACE_CORE_CORE_H */
