/* SPDX-License-Identifier: MIT */
/*
 * Per-thread records; see thread.h for the reclamation argument.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "ctrace/point.h"
#include "ctrace/proc.h"
#include "proc/proc.h"
#include "proc/thread.h"

/*
 * The list of records only grows at its head (compare-and-swap), so readers
 * walk it without a lock; `claimed` says which records a live thread owns.
 */
static struct ctrace__thread *_Atomic thread_list;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;
static bool thread_key_ok;
/* Guards every record's name, written by its thread, read by consumers. */
static pthread_mutex_t name_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * initial-exec: the record pointer is reached with one instruction and no
 * call into the dynamic linker, which could allocate. It is only touched on
 * the enabled path.
 */
_Thread_local struct ctrace__thread *ctrace__thread_me
    __attribute__((tls_model("initial-exec")));
/* Set on ctrace's own threads before their record is claimed. */
static _Thread_local bool own_thread;

static void thread_release(void *p)
{
    struct ctrace__thread *t = p;
    /* Its processes end first, while `ctrace__thread_me` still names the
     * record. */
    ctrace__proc_thread_released(t);
    atomic_store_explicit(&t->current, NULL, memory_order_relaxed);
    atomic_store_explicit(&t->label, NULL, memory_order_relaxed);
    atomic_store_explicit(&t->no_trace, false, memory_order_relaxed);
    atomic_store_explicit(&t->first_point, NULL, memory_order_relaxed);
    atomic_store_explicit(&t->pid, 0, memory_order_release);
    atomic_store_explicit(&t->claimed, false, memory_order_release);
    ctrace__thread_me = NULL;
}

static void thread_key_create(void)
{
    thread_key_ok = pthread_key_create(&thread_key, thread_release) == 0;
}

static struct ctrace__thread *thread_claim(void)
{
    struct ctrace__thread *t;
    for (t = atomic_load_explicit(&thread_list, memory_order_acquire);
         t != NULL;
         t = t->next) {
        bool expected = false;
        if (!atomic_load_explicit(&t->claimed, memory_order_relaxed) &&
            atomic_compare_exchange_strong_explicit(&t->claimed,
                                                    &expected,
                                                    true,
                                                    memory_order_acquire,
                                                    memory_order_relaxed))
            return t;
    }
    t = ctrace__calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    atomic_init(&t->claimed, true);
    atomic_init(&t->cs, 0);
    struct ctrace__thread *head =
        atomic_load_explicit(&thread_list, memory_order_relaxed);
    do {
        t->next = head;
    } while (!atomic_compare_exchange_weak_explicit(
        &thread_list, &head, t, memory_order_release, memory_order_relaxed));
    return t;
}

struct ctrace__thread *ctrace__thread_claim_self(void)
{
    if (ctrace__thread_me != NULL)
        return ctrace__thread_me;
    pthread_once(&thread_key_once, thread_key_create);
    struct ctrace__thread *t = thread_claim();
    if (t == NULL)
        return NULL;
    t->tid = (int)syscall(SYS_gettid);
    /*
     * The name the system knows the thread by (16 bytes with the NUL), read
     * once here, on the thread's first armed point: one cheap prctl().
     */
    char os_name[16] = "";
    (void)prctl(PR_GET_NAME, os_name, 0, 0, 0);
    pthread_mutex_lock(&name_lock);
    t->name[0] = '\0';
    memcpy(t->os_name, os_name, sizeof(os_name));
    t->os_name[sizeof(t->os_name) - 1] = '\0';
    pthread_mutex_unlock(&name_lock);
    /*
     * ctrace's own threads (consumers, the admin endpoint) are not
     * processes of the service: no pid, no entry in the table, so they
     * neither show in rankings nor shift the pids of the service's own.
     */
    if (own_thread) {
        t->proc = NULL;
        atomic_store_explicit(&t->pid, 0, memory_order_release);
        atomic_store_explicit(&t->no_trace, true, memory_order_relaxed);
    } else {
        ctrace__proc_thread_claimed(t);
    }
    if (thread_key_ok)
        pthread_setspecific(thread_key, t);
    ctrace__thread_me = t;
    return t;
}

void ctrace__thread_synchronize(void)
{
    for (struct ctrace__thread *t =
             atomic_load_explicit(&thread_list, memory_order_acquire);
         t != NULL;
         t = t->next) {
        uint_fast64_t v = atomic_load_explicit(&t->cs, memory_order_seq_cst);
        if ((v & 1) == 0 || t == ctrace__thread_me)
            continue;
        /*
         * Critical sections are a few hundred nanoseconds long; spin
         * briefly, then sleep so a preempted thread can finish.
         */
        for (unsigned spins = 0;
             atomic_load_explicit(&t->cs, memory_order_acquire) == v;
             spins++) {
            if (spins < 100) {
                sched_yield();
            } else {
                struct timespec ts = {0, 50 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
}

void ctrace__thread_set_no_trace(void)
{
    own_thread = true;
    struct ctrace__thread *t = ctrace__thread_self();
    if (t != NULL)
        atomic_store_explicit(&t->no_trace, true, memory_order_relaxed);
}

void ctrace__thread_label(struct ctrace__thread *t, char *label, size_t size)
{
    if (size == 0)
        return;
    label[0] = '\0';
    const struct ctrace_point *pt =
        atomic_load_explicit(&t->first_point, memory_order_acquire);
    pthread_mutex_lock(&name_lock);
    if (t->name[0] != '\0') {
        snprintf(label, size, "%s", t->name);
    } else if (t->os_name[0] != '\0' &&
               (t->tid == (int)getpid() ||
                strncmp(t->os_name, program_invocation_short_name, 15) != 0)) {
        snprintf(label, size, "%s", t->os_name);
    } else if (pt != NULL) {
        snprintf(label, size, "%s", t->initial);
    }
    pthread_mutex_unlock(&name_lock);
}

void ctrace__thread_initial(struct ctrace__thread *t, char *buf, size_t size)
{
    if (size == 0)
        return;
    buf[0] = '\0';
    if (atomic_load_explicit(&t->first_point, memory_order_acquire) == NULL)
        return;
    pthread_mutex_lock(&name_lock);
    snprintf(buf, size, "%s", t->initial);
    pthread_mutex_unlock(&name_lock);
}

void ctrace__thread_set_initial(struct ctrace__thread *t,
                                const struct ctrace_point *pt)
{
    pthread_mutex_lock(&name_lock);
    snprintf(t->initial,
             sizeof(t->initial),
             "%s:%s/%u",
             pt->module,
             pt->function,
             (unsigned)pt->arity);
    pthread_mutex_unlock(&name_lock);
    atomic_store_explicit(&t->first_point, pt, memory_order_release);
    /* The initial call may be the label: its events record the new one. */
    ctrace__proc_label_changed(t);
}

void ctrace_thread_set_name(const char *name)
{
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL)
        return;
    pthread_mutex_lock(&name_lock);
    snprintf(t->name, sizeof(t->name), "%s", name != NULL ? name : "");
    pthread_mutex_unlock(&name_lock);
    ctrace__proc_label_changed(t);
}

void ctrace__thread_after_fork_child(void)
{
    pthread_mutex_init(&name_lock, NULL);
    /*
     * Only the forking thread survives in the child. Its record stays; all
     * others are released so the child's new threads can reuse them, and
     * their critical-section counters are reset since their owners are gone.
     */
    for (struct ctrace__thread *t =
             atomic_load_explicit(&thread_list, memory_order_acquire);
         t != NULL;
         t = t->next) {
        if (t == ctrace__thread_me)
            continue;
        atomic_store(&t->cs, 0);
        atomic_store(&t->pid, 0);
        atomic_store(&t->first_point, NULL);
        atomic_store(&t->no_trace, false);
        atomic_store(&t->current, NULL);
        atomic_store(&t->label, NULL);
        t->proc = NULL;
        atomic_store(&t->claimed, false);
    }
    if (ctrace__thread_me != NULL) {
        ctrace__thread_me->tid = (int)syscall(SYS_gettid);
        atomic_store(&ctrace__thread_me->cs, 0);
    }
    ctrace__proc_after_fork_child(ctrace__thread_me);
}
