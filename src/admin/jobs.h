/* SPDX-License-Identifier: MIT */
/*
 * The admin endpoint's job queue (jobs.c): the lanes and their worker
 * threads (admin.h says which request goes to which lane and how many may
 * wait). It calls down into reply.c only; handlers in routes.c and
 * sessions.c queue jobs, daemon.c starts and stops the workers.
 *
 * Invariant: a job's connection is suspended from the moment it is queued
 * until the worker that ran it resumes it, and that resume is the worker's
 * last touch of the request; in between, the request belongs to the
 * worker (or to the queue).
 */
#ifndef CTRACE_ADMIN_JOBS_H
#define CTRACE_ADMIN_JOBS_H

#include "admin/admin.h"

/*
 * Suspends the request's connection and queues `run` for a worker of the
 * request's lane, or replies 429 when the lane is full and 503 when the
 * endpoint is stopping. `run` fills the reply; a job that sets none is
 * answered 500.
 * Thread-safety: the daemon's thread, from a handler; takes admin.lock.
 */
void ctrace__admin_run_job(struct request *rq, void (*run)(struct request *));

/*
 * Starts every lane's workers. Returns 0, or an errno value (ENOMEM, or
 * pthread_create()'s) with the workers started so far left running, for
 * ctrace__admin_jobs_stop() to join.
 * Thread-safety: ctrace_admin_start() only, before the daemon runs.
 */
int ctrace__admin_jobs_start(struct admin *a);

/*
 * Makes the workers quit and joins them: jobs still queued are answered
 * 503, running ones finish, and each resumes its connection.
 * Thread-safety: ctrace_admin_start()'s failure path and
 * ctrace_admin_stop() only; takes admin.lock.
 */
void ctrace__admin_jobs_stop(struct admin *a);

#endif /* CTRACE_ADMIN_JOBS_H */
