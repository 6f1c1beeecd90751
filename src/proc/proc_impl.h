/* SPDX-License-Identifier: MIT */
/*
 * The process table's own header, shared by its files and private to
 * src/proc/ (the rest of the library uses proc.h, users ctrace/proc.h):
 *
 *   proc.c        the table: the hash and lists, attributes, the labels
 *                 recorded with events, process events, life and death,
 *                 and ctrace_self / ctrace_proc_begin / ctrace_proc_end
 *   proc_names.c  registered names (ctrace_register, whereis)
 *   proc_links.c  links and the exit notices they deliver
 *   proc_info.c   what one process or all of them look like (info, list,
 *                 parse) and accounting
 *   proc_rank.c   ranking: the top-n heap of proc_count and proc_window
 *
 * One lock, the table lock, guards every entry and list (proc.h).
 */
#ifndef CTRACE_PROC_PROC_IMPL_H
#define CTRACE_PROC_PROC_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "ctrace/proc.h"
#include "proc/proc.h"

#pragma GCC visibility push(hidden)

struct ctrace__thread;
struct ctrace_point;

struct ctrace__proc {
    uint64_t pid;
    uint64_t parent;
    enum ctrace_proc_kind kind;
    _Atomic int status; /* enum ctrace_proc_status; DEAD once `dead` */
    bool dead;
    /* The thread running it, while alive; NULL once dead. */
    struct ctrace__thread *thread;
    /* EXPLICIT: the thread's current process before this one began. */
    struct ctrace__proc *outer;
    char name[CTRACE_PROC_NAME_MAX + 1];
    char initial[CTRACE_PROC_TEXT_MAX + 1];
    char label[CTRACE_PROC_TEXT_MAX + 1]; /* frozen at death */
    char exit_reason[CTRACE_PROC_TEXT_MAX + 1];
    char pending_reason[CTRACE_PROC_TEXT_MAX + 1]; /* THREAD/SERVER */
    int64_t start_us;
    int64_t end_us;
    uint64_t end_mono_ns;
    int tid;
    /*
     * Reductions: CPU nanoseconds of the thread. `cpu_mark` is the thread
     * clock when the process last became the thread's current one,
     * `cpu_done` what it used before that; a dead process keeps its total
     * in `cpu_done`. A thread's own process is current except while an
     * explicit process runs on the thread, which then gets the CPU.
     */
    clockid_t cpu_clock;
    bool has_cpu_clock;
    bool current; /* the thread's current process now */
    uint64_t cpu_mark;
    uint64_t cpu_done;
    /* Owner-updated attributes. */
    _Atomic uint64_t queue_len;
    _Atomic uint64_t queue_bytes;
    _Atomic int64_t accounted;
    size_t nlinks;
    uint64_t links[CTRACE_PROC_LINKS_MAX];
    /* Exit notices for ctrace_proc_exits(): a ring, allocated on first. */
    struct ctrace_exit_notice *notices;
    unsigned notice_first;
    unsigned notice_count;
    struct ctrace__proc *hash_next;
    struct ctrace__proc *prev, *next; /* live list, or the dead FIFO */
};

/* ---- Shared between the files of this part. ---- */

struct ctrace__proc *ctrace__procs_find(uint64_t pid);
void ctrace__procs_prune_dead(void);
uint64_t ctrace__procs_cpu_used(const struct ctrace__proc *p);
uint64_t ctrace__procs_memory_of(const struct ctrace__proc *p);
uint64_t ctrace__procs_attr_of(const struct ctrace__proc *p,
                               enum ctrace_proc_attr a);
bool ctrace__procs_hidden(const struct ctrace__proc *p);
void ctrace__procs_label_of(const struct ctrace__proc *p,
                            char *buf,
                            size_t size);
void ctrace__procs_initial_of(const struct ctrace__proc *p,
                              char *buf,
                              size_t size);
void ctrace__procs_label_publish(struct ctrace__thread *t);
void ctrace__procs_raise_text(enum ctrace_event_kind kind,
                              uint64_t pid,
                              uint64_t peer,
                              const char *text);
bool ctrace__procs_has_link(const struct ctrace__proc *p, uint64_t pid);
void ctrace__procs_drop_link(struct ctrace__proc *p, uint64_t pid);
extern pthread_mutex_t ctrace__procs_table_lock;
extern struct ctrace__proc *ctrace__procs_live_head;
extern struct ctrace__proc *ctrace__procs_dead_head;
bool ctrace__procs_name_ok(const char *name);
const struct ctrace_point *
ctrace__procs_current_point(const struct ctrace__proc *p);
void ctrace__procs_name_point(const struct ctrace_point *pt,
                              char *buf,
                              size_t size);

/* ---- Small helpers. ---- */

#pragma GCC visibility pop

#endif /* CTRACE_PROC_PROC_IMPL_H */
