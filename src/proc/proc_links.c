/* SPDX-License-Identifier: MIT */
/*
 * Links between processes and the exit notices a linked process gets when
 * the other ends (ctrace_link, ctrace_unlink, ctrace_proc_exits).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "base/clock.h"
#include "ctrace/point.h"
#include "point/point.h"
#include "proc/proc.h"
#include "proc/proc_impl.h"
#include "proc/thread.h"

/*
 * The opening link and unlink share: the calling thread's process and
 * `pid`'s entry, with the table lock taken (released by the caller unless
 * this fails with CTRACE_ENOMEM: no thread record, lock not taken).
 */
static int
link_ends(uint64_t pid, struct ctrace__proc **self, struct ctrace__proc **other)
{
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL)
        return CTRACE_ENOMEM;
    pthread_mutex_lock(&ctrace__procs_table_lock);
    *self = t->proc;
    *other = ctrace__procs_find(pid);
    return 0;
}

int ctrace_link(uint64_t pid)
{
    struct ctrace__proc *self, *other;
    if (link_ends(pid, &self, &other) < 0)
        return CTRACE_ENOMEM;
    int rc = 0;
    if (self == NULL)
        rc = CTRACE_ENOMEM;
    else if (other == NULL || other->dead)
        rc = CTRACE_ENOPROC;
    else if (other == self || ctrace__procs_has_link(self, pid))
        rc = 0;
    else if (self->nlinks == CTRACE_PROC_LINKS_MAX ||
             other->nlinks == CTRACE_PROC_LINKS_MAX)
        rc = CTRACE_ELIMIT;
    else {
        self->links[self->nlinks++] = pid;
        other->links[other->nlinks++] = self->pid;
        ctrace__procs_raise_text(CTRACE_EVENT_LINK, self->pid, pid, NULL);
    }
    pthread_mutex_unlock(&ctrace__procs_table_lock);
    return rc;
}

int ctrace_unlink(uint64_t pid)
{
    struct ctrace__proc *self, *other;
    if (link_ends(pid, &self, &other) < 0)
        return CTRACE_ENOMEM;
    if (self != NULL && ctrace__procs_has_link(self, pid)) {
        ctrace__procs_drop_link(self, pid);
        if (other != NULL)
            ctrace__procs_drop_link(other, self->pid);
        ctrace__procs_raise_text(CTRACE_EVENT_UNLINK, self->pid, pid, NULL);
    }
    pthread_mutex_unlock(&ctrace__procs_table_lock);
    return 0;
}

size_t ctrace_proc_exits(struct ctrace_exit_notice *out, size_t cap)
{
    struct ctrace__thread *t = ctrace__thread_self();
    if (t == NULL)
        return 0;
    size_t n = 0;
    if (out == NULL)
        return 0;
    pthread_mutex_lock(&ctrace__procs_table_lock);
    struct ctrace__proc *p = t->proc;
    while (p != NULL && p->notice_count > 0 && n < cap) {
        out[n++] = p->notices[p->notice_first];
        p->notice_first = (p->notice_first + 1) % CTRACE_PROC_NOTICES_MAX;
        p->notice_count--;
    }
    pthread_mutex_unlock(&ctrace__procs_table_lock);
    return n;
}
