/* SPDX-License-Identifier: MIT */
/*
 * The entry points that armed trace points call: ctrace__enter() at a
 * function's entry, ctrace__return() from CTRACE_RETURN*, ctrace__exit()
 * from the frame's scope cleanup when the function left another way, and
 * ctrace__event() for instantaneous events.
 *
 * This file is the seam between the macros and the session engine. It
 * does the work every engine needs (finding the probe, taking the call's
 * timestamp, keeping the frame's `active` flag right so that each call
 * that asked for its return gets exactly one) and hands the rest to the
 * hooks in struct ctrace__engine_hooks.
 *
 * Process events of the process layer (send, receive, procs) reach the
 * engine through this seam too, so that the layer below sessions never
 * calls up into them.
 *
 * Everything here runs on traced threads, only when a point is on: no
 * lock, no allocation. The only shared state is the hook table pointer and
 * the mask of wanted process events.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "point/point.h"

/*
 * The public entry points are declared cold (ctrace/point_impl.h), for the
 * traced functions' sake: their callers lay the calls out of line. gcc
 * then optimizes them for size and calls the helpers below instead of
 * inlining them, which costs an armed call tens of instructions: the
 * helpers are inlined by force.
 */
#define ENTRY_INLINE static inline __attribute__((always_inline))

/*
 * The installed hook table. Written under the registry lock (so that a
 * registry hook never sees the table change under it), read lock-free.
 */
static _Atomic(const struct ctrace__engine_hooks *) engine_hooks;

void ctrace__engine_set_hooks(const struct ctrace__engine_hooks *hooks)
{
    ctrace__registry_lock();
    atomic_store_explicit(&engine_hooks, hooks, memory_order_release);
    ctrace__registry_unlock();
}

const struct ctrace__engine_hooks *ctrace__engine_hooks(void)
{
    return atomic_load_explicit(&engine_hooks, memory_order_acquire);
}

/*
 * Which process events some session wants. Relaxed: a raiser that misses
 * a change by a moment only raises an event a session filters out, or
 * skips one for a session that was not yet running.
 */
static _Atomic unsigned proc_wants;

unsigned ctrace__point_proc_wants(void)
{
    return atomic_load_explicit(&proc_wants, memory_order_relaxed);
}

void ctrace__point_set_proc_wants(unsigned wants)
{
    atomic_store(&proc_wants, wants);
}

void ctrace__point_proc_event(enum ctrace_event_kind kind,
                              uint64_t pid,
                              uint64_t peer,
                              const struct ctrace_value *value)
{
    const struct ctrace__engine_hooks *h = ctrace__engine_hooks();
    if (h != NULL && h->proc_event != NULL)
        h->proc_event(h->arg, kind, pid, peer, value);
}

/*
 * Timestamps come from the hooks' clock when they name one (tests inject a
 * clock), else from the ticks of base/clock.h, inline: the engine's clock,
 * which never steps back, so durations are never negative. Only armed
 * points get here.
 */
ENTRY_INLINE uint64_t now_ns(const struct ctrace__engine_hooks *h)
{
    if (CTRACE__UNLIKELY(h->now_ns != NULL))
        return h->now_ns(h->arg);
    return ctrace__clock_ticks();
}

/*
 * The work of ctrace__enter() and ctrace__enter_lazy(). `ra` is the
 * address this call returns to, inside the traced function: where a
 * captured stack starts to be the user's rather than ctrace's.
 */
ENTRY_INLINE void enter_at(struct ctrace_point *point,
                           struct ctrace__frame *frame,
                           size_t nargs,
                           const struct ctrace_value *args,
                           uintptr_t ra)
{
    const struct ctrace__engine_hooks *h = ctrace__engine_hooks();
    if (h == NULL || h->enter == NULL)
        return;
    /*
     * The macro saw `on` with a relaxed load, which orders nothing. The
     * probe is what the engine published before raising `on` (a release);
     * this acquire load is what makes the engine's data visible here.
     */
    void *probe =
        atomic_load_explicit(&point->ctrace__probe, memory_order_acquire);
    frame->point = point;
    /*
     * No timestamp yet: most armed calls are rejected by a pattern, and a
     * clock read would be most of their cost. The engine stamps the frame
     * when it takes the call (the `enter` hook's contract in core.h).
     */
    frame->start_ns = 0;
    frame->engine[3] = ra;
    if (h->enter(h->arg, point, probe, frame, nargs, args))
        frame->active = 1;
}

/* Whether the point's filter rejects the call (point.h). */
ENTRY_INLINE bool rejected(struct ctrace_point *point,
                           size_t nargs,
                           const struct ctrace_value *args)
{
    const struct ctrace__point_filter *f =
        atomic_load_explicit(&point->ctrace__probe, memory_order_acquire);
    return f != NULL && ctrace__point_filter_rejects(f, nargs, args);
}

void ctrace__point_filter_set(struct ctrace__point_filter *f,
                              uint32_t word,
                              const uint64_t lit[2])
{
    uint32_t seq = atomic_load_explicit(&f->seq, memory_order_relaxed);
    atomic_store_explicit(&f->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&f->word, word, memory_order_relaxed);
    atomic_store_explicit(&f->lit[0], lit[0], memory_order_relaxed);
    atomic_store_explicit(&f->lit[1], lit[1], memory_order_relaxed);
    atomic_store_explicit(&f->seq, seq + 2, memory_order_release);
}

void ctrace__enter(struct ctrace_point *point,
                   struct ctrace__frame *frame,
                   size_t nargs,
                   const struct ctrace_value *args)
{
    if (rejected(point, nargs, args))
        return;
    enter_at(point, frame, nargs, args, (uintptr_t)__builtin_return_address(0));
}

/* The macros never pass more; a hand-made descriptor is cut, not overrun. */
ENTRY_INLINE size_t arity_of(const struct ctrace_point *point)
{
    return point->arity < CTRACE_POINT_ARGS_MAX ? point->arity
                                                : CTRACE_POINT_ARGS_MAX;
}

void ctrace__enter_lazy(struct ctrace_point *point,
                        struct ctrace__frame *frame,
                        const struct ctrace_value *args,
                        uintptr_t ra)
{
    size_t nargs = arity_of(point);
    /* Strings stay unmeasured: the hook measures what it reads. */
    if (rejected(point, nargs, args))
        return;
    enter_at(point, frame, nargs, nargs > 0 ? args : NULL, ra);
}

void ctrace__enter_checked(struct ctrace_point *point,
                           struct ctrace__frame *frame,
                           const struct ctrace_value *args,
                           uintptr_t ra)
{
    /* The filter passed (point_impl.h); strings are the hook's to measure. */
    size_t nargs = arity_of(point);
    enter_at(point, frame, nargs, nargs > 0 ? args : NULL, ra);
}

/*
 * Ends an active frame. `active` drops first, so that the scope cleanup
 * that follows CTRACE_RETURN finds nothing left to report, and a hook that
 * somehow re-enters cannot report the same call twice.
 */
ENTRY_INLINE void finish(struct ctrace__frame *frame,
                         const struct ctrace_value *v)
{
    frame->active = 0;
    const struct ctrace__engine_hooks *h = ctrace__engine_hooks();
    if (h == NULL || h->ret == NULL)
        return;
    uint64_t now = now_ns(h);
    uint64_t duration = now >= frame->start_ns ? now - frame->start_ns : 0;
    h->ret(h->arg, frame, v, duration);
}

void ctrace__return(struct ctrace__frame *frame, struct ctrace_value value)
{
    finish(frame, &value);
}

void ctrace__return_lazy(struct ctrace__frame *frame,
                         const struct ctrace_value *value)
{
    finish(frame, value); /* a string stays unmeasured: the hook's to do */
}

void ctrace__exit(struct ctrace__frame *frame)
{
    finish(frame, NULL);
}

void ctrace__event(struct ctrace_point *point,
                   size_t nargs,
                   const struct ctrace_value *args)
{
    const struct ctrace__engine_hooks *h = ctrace__engine_hooks();
    if (h == NULL || h->event == NULL)
        return;
    void *probe =
        atomic_load_explicit(&point->ctrace__probe, memory_order_acquire);
    h->event(h->arg,
             point,
             probe,
             now_ns(h),
             nargs,
             args,
             (uintptr_t)__builtin_return_address(0));
}
