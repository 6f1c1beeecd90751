/* SPDX-License-Identifier: MIT */
/*
 * Hostile and ordinary HTTP clients on loopback; see slow.h.
 */
#include "slow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOW 20000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_ms_f(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* A non-blocking connection to 127.0.0.1:port from `from` (port 0). */
static int connect_from(unsigned port, const struct in_addr *from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (from != NULL) {
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = *from};
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 &&
        errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

struct slow_conn {
    int fd;
    long long next_ms; /* next byte, or next reconnect */
    bool started;      /* the opening bytes are sent */
};

struct slow {
    struct slow_opts o;
    struct slow_conn *c;
    pthread_t thread;
    atomic_bool quit;
    atomic_uint open;
    atomic_ulong closed;
};

static void slow_open_one(struct slow *s, size_t i, long long now)
{
    struct in_addr from;
    unsigned n = s->o.naddrs != 0 ? s->o.naddrs : 1;
    from.s_addr = htonl((127u << 24) | (s->o.first_addr + (unsigned)(i % n)));
    s->c[i].fd = connect_from(s->o.port, &from);
    s->c[i].started = false;
    /* Spread the first bytes over the interval. */
    s->c[i].next_ms = now + (long long)(i % 97) * s->o.interval_ms / 97;
}

/* Sends what the connection sends next; false when the server closed it. */
static bool slow_step(struct slow *s, struct slow_conn *c)
{
    char head[256];
    const char *data;
    size_t len;
    if (s->o.kind == SLOW_IDLE) {
        return true;
    } else if (!c->started && s->o.kind == SLOW_HEADERS) {
        data = "GET /health HTTP/1.1\r\nHost: x\r\n";
        len = strlen(data);
    } else if (!c->started) {
        len = (size_t)snprintf(head,
                               sizeof(head),
                               "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: "
                               "application/json\r\nContent-Length: 4000\r\n"
                               "\r\n",
                               s->o.path != NULL ? s->o.path : "/enter");
        data = head;
    } else {
        data = s->o.kind == SLOW_HEADERS ? "X" : " ";
        len = 1;
    }
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN))
        return true; /* still connecting, or buffers full: later */
    if (n < 0)
        return false;
    c->started = true;
    return true;
}

/* Whether the server closed the connection (or refused it). */
static bool slow_gone(struct slow_conn *c)
{
    char buf[512];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
            continue; /* an answer: the close follows */
        if (n == 0)
            return true;
        return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
}

static void *slow_main(void *arg)
{
    struct slow *s = arg;
    size_t n = s->o.count;
    struct pollfd *pf = calloc(n, sizeof(*pf));
    if (pf == NULL)
        return NULL;
    long long now = now_ms();
    for (size_t i = 0; i < n; i++)
        slow_open_one(s, i, now);
    while (!atomic_load(&s->quit)) {
        unsigned open = 0;
        for (size_t i = 0; i < n; i++) {
            pf[i].fd = s->c[i].fd;
            pf[i].events = POLLIN;
            pf[i].revents = 0;
        }
        poll(pf, n, 50);
        now = now_ms();
        for (size_t i = 0; i < n; i++) {
            struct slow_conn *c = &s->c[i];
            if (c->fd < 0) {
                if (s->o.reconnect && now >= c->next_ms)
                    slow_open_one(s, i, now);
                continue;
            }
            bool gone = (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
                        slow_gone(c);
            if (!gone && now >= c->next_ms) {
                gone = !slow_step(s, c);
                c->next_ms = now + s->o.interval_ms;
            }
            if (gone) {
                close(c->fd);
                c->fd = -1;
                atomic_fetch_add(&s->closed, 1);
                /* No reconnect storm: at most one per connection a tick. */
                c->next_ms = now + 100;
                continue;
            }
            open++;
        }
        atomic_store(&s->open, open);
    }
    free(pf);
    return NULL;
}

struct slow *slow_start(const struct slow_opts *opts)
{
    if (opts->count == 0 || opts->count > MAX_SLOW || opts->first_addr == 0 ||
        opts->first_addr + (opts->naddrs ? opts->naddrs : 1) > 255)
        return NULL;
    raise_fd_limit();
    struct slow *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->o = *opts;
    if (s->o.interval_ms == 0)
        s->o.interval_ms = 1000;
    s->c = calloc(opts->count, sizeof(*s->c));
    if (s->c == NULL) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < opts->count; i++)
        s->c[i].fd = -1;
    atomic_init(&s->quit, false);
    atomic_init(&s->open, 0);
    atomic_init(&s->closed, 0);
    if (pthread_create(&s->thread, NULL, slow_main, s) != 0) {
        free(s->c);
        free(s);
        return NULL;
    }
    return s;
}

unsigned slow_open_now(struct slow *s)
{
    return atomic_load(&s->open);
}

unsigned long slow_closed(struct slow *s)
{
    return atomic_load(&s->closed);
}

void slow_stop(struct slow *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->quit, true);
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->o.count; i++)
        if (s->c[i].fd >= 0)
            close(s->c[i].fd);
    free(s->c);
    free(s);
}

long raw_exchange(unsigned port,
                  const char *addr,
                  const char *req,
                  size_t len,
                  char *out,
                  size_t size,
                  int timeout_ms)
{
    struct in_addr from;
    if (inet_pton(AF_INET, addr != NULL ? addr : "127.0.0.1", &from) != 1)
        return -1;
    int fd = connect_from(port, &from);
    if (fd < 0)
        return -1;
    long long end = now_ms() + timeout_ms;
    size_t sent = 0, got = 0;
    out[0] = '\0';
    bool eof = false;
    while (!eof) {
        long long left = end - now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd,
                           .events = POLLIN | (sent < len ? POLLOUT : 0)};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        if ((p.revents & POLLOUT) && sent < len) {
            ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = len; /* the server closed; read what it said */
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[4096];
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n <= 0) {
                if (n < 0 && errno == EAGAIN)
                    continue;
                if (n < 0 && got == 0) {
                    close(fd);
                    return -1; /* reset before any answer */
                }
                eof = true;
            } else {
                size_t keep =
                    (size_t)n < size - 1 - got ? (size_t)n : size - 1 - got;
                memcpy(out + got, buf, keep);
                got += keep;
                out[got] = '\0';
            }
        }
    }
    close(fd);
    return (long)got;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void probe_run(unsigned port,
               const char *path,
               unsigned n,
               int timeout_ms,
               int gap_ms,
               struct probe_result *r)
{
    memset(r, 0, sizeof(*r));
    double *lat = calloc(n > 0 ? n : 1, sizeof(*lat));
    char req[256];
    int len =
        snprintf(req,
                 sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 path);
    for (unsigned i = 0; i < n; i++) {
        char out[2048];
        double t0 = now_ms_f();
        long got = raw_exchange(
            port, NULL, req, (size_t)len, out, sizeof(out), timeout_ms);
        double took = now_ms_f() - t0;
        r->sent++;
        if (got > 0 && strncmp(out, "HTTP/1.1 200 ", 13) == 0 && lat != NULL)
            lat[r->ok++] = took;
        if (gap_ms > 0) {
            struct timespec ts = {gap_ms / 1000, (gap_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (lat != NULL && r->ok > 0) {
        qsort(lat, r->ok, sizeof(*lat), cmp_double);
        r->p50_ms = lat[(r->ok - 1) / 2];
        r->p99_ms = lat[(size_t)((r->ok - 1) * 0.99)];
        r->max_ms = lat[r->ok - 1];
    }
    free(lat);
}
