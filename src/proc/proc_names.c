/* SPDX-License-Identifier: MIT */
/*
 * Registered names of processes: ctrace_register, ctrace_unregister and
 * ctrace_whereis, as Erlang's register/2 and whereis/1. Table lock.
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

bool ctrace__procs_name_ok(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;
    /* A leading digit would read as a pid in ctrace_proc_parse(). */
    if (len == 0 || len > CTRACE_PROC_NAME_MAX ||
        (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
              c == '@'))
            return false;
    }
    return true;
}

/* The live process registered as `name`. Table lock held. */
static struct ctrace__proc *find_name(const char *name)
{
    for (struct ctrace__proc *p = ctrace__procs_live_head; p != NULL;
         p = p->next)
        if (p->name[0] != '\0' && strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

int ctrace_register(const char *name, uint64_t pid)
{
    if (!ctrace__procs_name_ok(name))
        return CTRACE_EINVAL;
    struct ctrace__thread *t = ctrace__thread_self();
    if (pid == 0) {
        pid = t != NULL ? atomic_load(&t->pid) : 0;
        if (pid == 0)
            return CTRACE_ENOMEM;
    }
    pthread_mutex_lock(&ctrace__procs_table_lock);
    struct ctrace__proc *p = ctrace__procs_find(pid);
    int rc = 0;
    if (p == NULL || p->dead)
        rc = CTRACE_ENOPROC;
    else if (p->name[0] != '\0' || find_name(name) != NULL)
        rc = -EEXIST;
    if (rc == 0) {
        snprintf(p->name, sizeof(p->name), "%s", name);
        if (p->thread != NULL && p->thread->proc == p)
            ctrace__procs_label_publish(p->thread);
        ctrace__procs_raise_text(CTRACE_EVENT_REGISTER, p->pid, 0, p->name);
    }
    pthread_mutex_unlock(&ctrace__procs_table_lock);
    return rc;
}

int ctrace_unregister(const char *name)
{
    if (name == NULL)
        return CTRACE_ENOTFOUND;
    (void)ctrace__thread_self();
    pthread_mutex_lock(&ctrace__procs_table_lock);
    struct ctrace__proc *p = find_name(name);
    if (p != NULL) {
        ctrace__procs_raise_text(CTRACE_EVENT_UNREGISTER, p->pid, 0, p->name);
        p->name[0] = '\0';
        /* As in ctrace_register(): the thread's events stop showing it. */
        if (p->thread != NULL && p->thread->proc == p)
            ctrace__procs_label_publish(p->thread);
    }
    pthread_mutex_unlock(&ctrace__procs_table_lock);
    return p != NULL ? 0 : CTRACE_ENOTFOUND;
}

uint64_t ctrace_whereis(const char *name)
{
    if (name == NULL)
        return 0;
    pthread_mutex_lock(&ctrace__procs_table_lock);
    struct ctrace__proc *p = find_name(name);
    uint64_t pid = p != NULL ? p->pid : 0;
    pthread_mutex_unlock(&ctrace__procs_table_lock);
    return pid;
}
