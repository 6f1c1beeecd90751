/* SPDX-License-Identifier: MIT */
/*
 * Private interface of the process table (proc.c) for the rest of the
 * library: thread records, the engine, servers.
 *
 * The table maps pids to entries. Live entries are kept on a list in pid
 * order (pids only grow, and an entry is appended when its pid is handed
 * out), dead ones on a FIFO that keeps the CTRACE_PROC_DEAD_KEEP most
 * recent for at most CTRACE_PROC_DEAD_MS. One mutex, the table lock,
 * guards it all except the attribute counters, which are atomics that the
 * owner updates without it. Lock order: the table lock is taken before
 * the name lock of thread.c and never while holding the engine or
 * registry lock; the engine's process-event hook takes no lock, so events
 * may be raised with the table lock held.
 *
 * Traced threads never touch the table on the hot path: a thread record
 * carries its current pid (thread.h).
 */
#ifndef CTRACE_CORE_PROC_H
#define CTRACE_CORE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrace/proc.h"

struct ctrace__thread;
struct ctrace__proc;

/*
 * Gives thread record `t`, just claimed by the calling thread, its
 * implicit process and stores the pid in t->pid. Allocates one entry.
 */
void ctrace__proc_thread_claimed(struct ctrace__thread *t);

/*
 * The calling thread is exiting: ends the processes it began that are
 * still running ("thread exited") and then its implicit process
 * ("normal"). Called before `t` is given back.
 */
void ctrace__proc_thread_released(struct ctrace__thread *t);

/* In the child after fork(): only the calling thread's processes live. */
void ctrace__proc_after_fork_child(struct ctrace__thread *self);

/*
 * The highest pid handed out so far: sessions started now see pids above
 * it as `new` and the others as `existing`.
 */
uint64_t ctrace__proc_watermark(void);

/*
 * Copies the label of `pid` (registered name, thread name or initial call)
 * into `label` (may be empty) and returns true while the process is alive,
 * false once it is dead or unknown (label then still filled if known).
 */
bool ctrace__proc_label(uint64_t pid, char *label, size_t size);

/*
 * The label of thread `t`'s current process changed outside proc.c (its
 * thread name, its first trace point): t->label is brought up to date.
 * Takes the table lock (and then the name lock).
 */
void ctrace__proc_label_changed(struct ctrace__thread *t);

/* The `dump` action's text: "key: value" lines about `pid`. */
void ctrace__proc_describe(uint64_t pid, char *buf, size_t size);

/*
 * The calling thread's current process entry, claiming the thread's
 * record if needed; NULL when memory ran out. The entry stays valid while
 * that process lives: a server may keep the one of its own thread.
 */
struct ctrace__proc *ctrace__proc_self(void);

/* Its pid. */
uint64_t ctrace__proc_pid(const struct ctrace__proc *p);

/* Attribute updates by the process's owner; no lock. */
void ctrace__proc_set_status(struct ctrace__proc *p,
                             enum ctrace_proc_status status);
void ctrace__proc_set_queue(struct ctrace__proc *p,
                            uint64_t len,
                            uint64_t bytes);
/* Marks the entry as a server's (kind CTRACE_PROC_SERVER) and sets its
 * initial call. */
void ctrace__proc_make_server(struct ctrace__proc *p, const char *initial_call);

/*
 * How a server learns that a linked process ended: proc.c calls the hook
 * (outside its lock) for every live process linked to one that ended; the
 * hook returns true when `target` is a server and took the notice,
 * otherwise the notice is kept for ctrace_proc_exits(). Set once.
 */
typedef bool (*ctrace__exit_hook)(uint64_t target,
                                  const struct ctrace_exit_notice *notice);
void ctrace__proc_set_exit_hook(ctrace__exit_hook hook);

/*
 * The reason the calling thread's implicit process will end with when the
 * thread exits, in place of "normal": a server sets the reason it was
 * stopped with.
 */
void ctrace__proc_set_exit_reason(struct ctrace__proc *p, const char *reason);

#endif /* CTRACE_CORE_PROC_H */
