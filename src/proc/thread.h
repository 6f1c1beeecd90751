/* SPDX-License-Identifier: MIT */
/*
 * Per-thread records: the implicit process of a thread, its name, whether
 * ctrace may trace it, and the marker that lets a stopping session know
 * when no traced thread can still be writing into it.
 *
 * A record is claimed the first time a thread reaches an armed trace point
 * (never on the disabled path) or calls a thread function of the API, and
 * given back when the thread exits; records are kept on one list and reused,
 * never freed, so a reader walking the list needs no lock.
 *
 * Reclamation. A traced thread brackets every use of session memory with
 * ctrace__thread_enter()/ctrace__thread_leave(), which make its counter odd
 * and then even again. A session that was unpublished (its slot cleared)
 * calls ctrace__thread_synchronize(): once every counter that was odd has
 * changed, no thread can still hold a pointer into the session, because a
 * thread that entered after the slot was cleared cannot have seen it (the
 * counter store, the slot load, the slot store and the counter load are all
 * sequentially consistent).
 *
 * Thread-safety: the functions on "self" act on the calling thread's own
 * record; the others may be called from any thread.
 */
#ifndef CTRACE_CORE_THREAD_H
#define CTRACE_CORE_THREAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctrace_point;
struct ctrace__proc;

struct ctrace__thread {
    struct ctrace__thread *next; /* immutable once on the list */
    atomic_bool claimed;
    atomic_uint_fast64_t cs; /* odd while inside a critical section */
    /* Owned by the thread that claimed the record, read by consumers. */
    _Atomic uint64_t pid; /* N of <0.N.0>; new on every claim */
    atomic_bool no_trace; /* ctrace's own threads raise no events */
    /* The first trace point the thread passed: its initial call. */
    const struct ctrace_point *_Atomic first_point;
    char name[32];    /* ctrace's name; under the name lock of thread.c */
    char os_name[16]; /* the system's name when claimed; same lock */
    char initial[64]; /* "module:function/arity" of first_point; same lock */
    int tid;
    /* The thread's current process entry; proc.c's, under its lock. */
    struct ctrace__proc *proc;
    /*
     * The last armed trace point the thread passed (session/traced.c),
     * but for calls the point's own filter rejected (point/point.h).
     */
    const struct ctrace_point *_Atomic current;
    /*
     * The label of the current process, interned (never freed) so that an
     * event can record it with one load; NULL when unknown. Written by
     * proc.c under its table lock whenever the process or its label
     * changes, loaded with acquire by the thread itself.
     */
    const char *_Atomic label;
    /*
     * Events this thread recorded, for sampling their cost into the
     * overhead budget (session/traced.c). The thread's own; never shared.
     */
    uint32_t recorded;
};

/*
 * The calling thread's record (initial-exec TLS: one load, no call into
 * the dynamic linker, which could allocate); NULL until it is claimed.
 * Hidden: only the library reads it.
 */
__attribute__((visibility(
    "hidden"))) extern _Thread_local struct ctrace__thread *ctrace__thread_me
    __attribute__((tls_model("initial-exec")));

/* Claims the calling thread's record: ctrace__thread_self()'s slow path. */
struct ctrace__thread *ctrace__thread_claim_self(void);

/*
 * The calling thread's record, claimed on first use; NULL only when memory
 * runs out (the caller then raises no event). Inline: an armed trace point
 * pays one thread-local load for it.
 */
static inline struct ctrace__thread *ctrace__thread_self(void)
{
    struct ctrace__thread *t = ctrace__thread_me;
    if (__builtin_expect(t != NULL, 1))
        return t;
    return ctrace__thread_claim_self();
}

static inline void ctrace__thread_enter(struct ctrace__thread *t)
{
    uint_fast64_t v = atomic_load_explicit(&t->cs, memory_order_relaxed);
    atomic_store_explicit(&t->cs, v + 1, memory_order_seq_cst);
}

static inline void ctrace__thread_leave(struct ctrace__thread *t)
{
    uint_fast64_t v = atomic_load_explicit(&t->cs, memory_order_relaxed);
    atomic_store_explicit(&t->cs, v + 1, memory_order_release);
}

/* Waits until no thread is inside a critical section it entered before. */
void ctrace__thread_synchronize(void);

/*
 * Marks the calling thread as ctrace's own: it is never traced, and if it
 * calls this before anything else of ctrace, it gets no process either.
 */
void ctrace__thread_set_no_trace(void);

/*
 * The label of the thread's implicit process, as Erlang tools show a
 * registered name or an initial call: a name given with
 * ctrace_thread_set_name(); else the system's name of the thread when it
 * is the main thread (the program's name) or was named on its own
 * (pthread_setname_np); else the first trace point the thread passed.
 * Takes the name lock.
 */
void ctrace__thread_label(struct ctrace__thread *t, char *label, size_t size);

/* The initial call of the thread's implicit process, or "". Name lock. */
void ctrace__thread_initial(struct ctrace__thread *t, char *buf, size_t size);

/*
 * Records `pt` as the initial call of the calling thread's record `t`
 * (once), copying its name: the point's module may be unloaded later.
 * Takes the name lock, once per thread.
 */
void ctrace__thread_set_initial(struct ctrace__thread *t,
                                const struct ctrace_point *pt);

/* Forgets every other thread's record; for the child after fork(). */
void ctrace__thread_after_fork_child(void);

#endif /* CTRACE_CORE_THREAD_H */
