/* SPDX-License-Identifier: MIT */
/*
 * The admin endpoint's job queue: requests that may block wait in one of
 * three lanes (admin.h) for a worker thread of that lane, with their
 * connection suspended; the worker runs the job and resumes the
 * connection. See jobs.h; it calls down into reply.c only.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "admin/jobs.h"
#include "admin/reply.h"

/* ---- Jobs. ---- */

/* The lane of a request's job: by its route (admin.h). */
static enum admin_lane lane_of(const struct request *rq)
{
    if (rq->route == ROUTE_SESSION)
        return LANE_CONTROL;
    if (rq->route == ROUTE_WINDOW)
        return LANE_WINDOW;
    return LANE_OTHER;
}

_Static_assert(ADMIN_MAX_WINDOWS <= ADMIN_LANE_WORKERS_MAX &&
                   ADMIN_WORKERS <= ADMIN_LANE_WORKERS_MAX,
               "a lane has room for its workers");

/* Workers per lane, and jobs that may wait in it (admin.h). */
static const unsigned lane_workers[ADMIN_LANES] = {1,
                                                   ADMIN_MAX_WINDOWS,
                                                   ADMIN_WORKERS};
static const unsigned lane_waiting[ADMIN_LANES] = {ADMIN_MAX_STOPS,
                                                   0,
                                                   ADMIN_MAX_JOBS};

void ctrace__admin_run_job(struct request *rq, void (*run)(struct request *))
{
    struct admin *a = rq->admin;
    enum admin_lane lane = lane_of(rq);
    struct admin_lane_queue *q = &a->lanes[lane];
    pthread_mutex_lock(&a->lock);
    if (atomic_load(&a->stopping) || a->workers_quit) {
        pthread_mutex_unlock(&a->lock);
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_SERVICE_UNAVAILABLE,
                                  "unavailable",
                                  "the admin endpoint is stopping");
        return;
    }
    /* A lane takes as many jobs as it has idle workers, plus its queue. */
    if (q->njobs + q->running >= lane_workers[lane] + lane_waiting[lane]) {
        pthread_mutex_unlock(&a->lock);
        if (lane == LANE_WINDOW)
            ctrace__admin_reply_error(rq,
                                      MHD_HTTP_TOO_MANY_REQUESTS,
                                      "too_many",
                                      "%d process windows are running "
                                      "already; try again when one ends",
                                      ADMIN_MAX_WINDOWS);
        else
            ctrace__admin_reply_error(rq,
                                      MHD_HTTP_TOO_MANY_REQUESTS,
                                      "too_many",
                                      "%u %s requests are waiting already; "
                                      "try again later",
                                      lane_waiting[lane],
                                      lane == LANE_CONTROL ? "stop" : "slow");
        return;
    }
    /*
     * Suspend first, then queue: the worker resumes the connection only
     * after this, so the resume cannot come before the suspension.
     */
    MHD_suspend_connection(rq->conn);
    rq->suspended = true;
    atomic_fetch_add(&a->suspended, 1);
    rq->job.run = run;
    rq->job.next = NULL;
    if (q->tail != NULL)
        q->tail->next = &rq->job;
    else
        q->head = &rq->job;
    q->tail = &rq->job;
    q->njobs++;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&a->lock);
}

static struct request *job_request(struct job *j)
{
    return (struct request *)((char *)j - offsetof(struct request, job));
}

struct worker_arg {
    struct admin *a;
    enum admin_lane lane;
};

static void *worker_main(void *arg)
{
    struct worker_arg wa = *(struct worker_arg *)arg;
    ctrace__free(arg);
    struct admin *a = wa.a;
    struct admin_lane_queue *q = &a->lanes[wa.lane];
    ctrace__admin_thread_mark();
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (q->head == NULL && !a->workers_quit)
            pthread_cond_wait(&q->work, &a->lock);
        struct job *j = q->head;
        if (j == NULL)
            break;
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->njobs--;
        q->running++;
        bool quit = a->workers_quit;
        pthread_mutex_unlock(&a->lock);
        struct request *rq = job_request(j);
        if (quit)
            ctrace__admin_reply_error(rq,
                                      MHD_HTTP_SERVICE_UNAVAILABLE,
                                      "unavailable",
                                      "the admin endpoint is stopping");
        else
            j->run(rq);
        if (!rq->answered)
            ctrace__admin_reply_error(
                rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "no answer");
        pthread_mutex_lock(&a->lock);
        q->running--;
        pthread_mutex_unlock(&a->lock);
        /* The last touch of `rq`: the daemon's thread owns it again. */
        MHD_resume_connection(rq->conn);
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

int ctrace__admin_jobs_start(struct admin *a)
{
    int rc = 0;
    for (unsigned l = 0; l < ADMIN_LANES && rc == 0; l++) {
        struct admin_lane_queue *q = &a->lanes[l];
        for (unsigned i = 0; i < lane_workers[l] && rc == 0; i++) {
            struct worker_arg *wa = ctrace__malloc(sizeof(*wa));
            if (wa == NULL) {
                rc = ENOMEM;
                break;
            }
            *wa = (struct worker_arg){a, (enum admin_lane)l};
            rc = pthread_create(&q->workers[i], NULL, worker_main, wa);
            if (rc == 0)
                q->nworkers++;
            else
                ctrace__free(wa);
        }
    }
    return rc;
}

void ctrace__admin_jobs_stop(struct admin *a)
{
    pthread_mutex_lock(&a->lock);
    a->workers_quit = true;
    for (unsigned l = 0; l < ADMIN_LANES; l++)
        pthread_cond_broadcast(&a->lanes[l].work);
    pthread_mutex_unlock(&a->lock);
    for (unsigned l = 0; l < ADMIN_LANES; l++) {
        struct admin_lane_queue *q = &a->lanes[l];
        for (unsigned i = 0; i < q->nworkers; i++)
            pthread_join(q->workers[i], NULL);
        q->nworkers = 0;
    }
}
