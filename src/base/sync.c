/* SPDX-License-Identifier: MIT */
/*
 * The library's synchronisation plumbing: monotonic condition variables
 * and the one fork() handler that takes every part's locks in the
 * documented order (base.h).
 *
 * Before this file, each part called pthread_atfork() itself, so the
 * order in which fork() took their locks was the order in which the parts
 * happened to be used first. Now the order is the rank's, fixed in base.h
 * and written down in docs/architecture.md.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "base/base.h"

void ctrace__cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

/*
 * The registered steps, by rank. Written before the handler can run for
 * them (a part registers before it first takes the locks it names), read
 * by the handlers on the forking thread.
 */
static const struct ctrace__fork_steps *_Atomic parts[CTRACE__FORK_RANKS];
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
    for (int r = 0; r < CTRACE__FORK_RANKS; r++) {
        const struct ctrace__fork_steps *p = atomic_load(&parts[r]);
        if (p != NULL && p->prepare != NULL)
            p->prepare();
    }
}

static void fork_parent(void)
{
    for (int r = CTRACE__FORK_RANKS - 1; r >= 0; r--) {
        const struct ctrace__fork_steps *p = atomic_load(&parts[r]);
        if (p != NULL && p->parent != NULL)
            p->parent();
    }
}

static void fork_child(void)
{
    for (int r = CTRACE__FORK_RANKS - 1; r >= 0; r--) {
        const struct ctrace__fork_steps *p = atomic_load(&parts[r]);
        if (p != NULL && p->child != NULL)
            p->child();
    }
}

static void install(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void ctrace__fork_register(enum ctrace__fork_rank rank,
                           const struct ctrace__fork_steps *steps)
{
    if ((unsigned)rank >= CTRACE__FORK_RANKS)
        return;
    atomic_store(&parts[rank], steps);
    pthread_once(&install_once, install);
}
