/* SPDX-License-Identifier: MIT */
/*
 * Request deadlines for libmicrohttpd daemons. See deadline.h.
 */
#include "admin/deadline.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

/* How often the thread looks for connections over their deadline. */
#define SWEEP_MS 200

struct ctrace__deadline_conn {
    struct ctrace__deadline_conn *prev, *next;
    struct ctrace__deadline *owner;
    int fd;
    uint64_t since_ms; /* when the current request's clock started */
    bool answering;    /* the request is in; no deadline */
    bool shut;         /* shut already; libmicrohttpd closes it */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *sweeper(void *arg)
{
    struct ctrace__deadline *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->quit) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += SWEEP_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&d->wake, &d->lock, &until);
        uint64_t now = now_ms();
        for (struct ctrace__deadline_conn *c = d->list; c != NULL;
             c = c->next) {
            if (c->answering || c->shut || now - c->since_ms < d->limit_ms)
                continue;
            /*
             * Under the lock, so libmicrohttpd has not closed the socket
             * yet: it reports the connection closed, which takes the lock,
             * before closing it.
             */
            shutdown(c->fd, SHUT_RDWR);
            c->shut = true;
            atomic_fetch_add(&d->expired, 1);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

int ctrace__deadline_start(struct ctrace__deadline *d, unsigned limit_ms)
{
    d->list = NULL;
    d->limit_ms = limit_ms;
    d->quit = false;
    atomic_init(&d->expired, 0);
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&d->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&d->thread, NULL, sweeper, d);
    d->started = rc == 0;
    if (rc != 0) {
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        return -rc;
    }
    return 0;
}

void ctrace__deadline_stop(struct ctrace__deadline *d)
{
    if (!d->started)
        return;
    pthread_mutex_lock(&d->lock);
    d->quit = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    d->started = false;
    /* The daemon is stopped: it reported every connection closed. */
    while (d->list != NULL) {
        struct ctrace__deadline_conn *c = d->list;
        d->list = c->next;
        free(c);
    }
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
}

void ctrace__deadline_notify(void *cls,
                             struct MHD_Connection *conn,
                             void **socket_context,
                             enum MHD_ConnectionNotificationCode code)
{
    struct ctrace__deadline *d = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct ctrace__deadline_conn *c = malloc(sizeof(*c));
        if (ci == NULL || c == NULL) {
            /* Untracked: libmicrohttpd's inactivity timeout still holds. */
            free(c);
            *socket_context = NULL;
            return;
        }
        c->owner = d;
        c->fd = ci->connect_fd;
        c->since_ms = now_ms();
        c->answering = false;
        c->shut = false;
        c->prev = NULL;
        pthread_mutex_lock(&d->lock);
        c->next = d->list;
        if (d->list != NULL)
            d->list->prev = c;
        d->list = c;
        pthread_mutex_unlock(&d->lock);
        *socket_context = c;
        return;
    }
    struct ctrace__deadline_conn *c = *socket_context;
    if (c == NULL)
        return;
    pthread_mutex_lock(&d->lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        d->list = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&d->lock);
    free(c);
    *socket_context = NULL;
}

void ctrace__deadline_mark(struct MHD_Connection *conn, bool answering)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct ctrace__deadline_conn *c =
        ci != NULL ? (struct ctrace__deadline_conn *)ci->socket_context : NULL;
    if (c == NULL)
        return;
    struct ctrace__deadline *d = c->owner;
    pthread_mutex_lock(&d->lock);
    c->answering = answering;
    c->since_ms = now_ms();
    /*
     * Answered, and the client has already said all it will (it shut its
     * writing side after the request: `nc -N`, a health checker). Polling,
     * libmicrohttpd closes such a connection itself; in epoll mode 0.9.75
     * keeps it until the idle timeout, one slot of the client's address
     * each. End it as the deadline would: the answer is in the kernel's
     * send queue, which the shutdown still delivers before its FIN.
     */
    if (!answering && !c->shut) {
        char byte;
        if (recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
            shutdown(c->fd, SHUT_RDWR);
            c->shut = true;
        }
    }
    pthread_mutex_unlock(&d->lock);
}
