/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for both HTTP servers' request handling: the admin endpoint
 * and cat_traveler's own port, started once in this process on ephemeral
 * loopback ports. Each input is written, as it is, to a new connection
 * (the first byte picks the server: even the demo, odd the admin endpoint;
 * "@TOKEN@" in the rest becomes the endpoint's token, so that inputs reach
 * past authentication), the writing side is shut, and the answer is read
 * until the server closes or goes quiet. A finding is a crash, a leak or
 * undefined behaviour in either server (they run here, under the fuzzer's
 * sanitizers), an answer that does not start with an HTTP/1.1 status line,
 * a 500 (every refusal of ours is a 4xx), or a server that stops answering
 * /health. Corpus: tests/fuzz/corpus_http (make fuzz-http), replayed by
 * ctest in every build (fuzz.replay_http, replay.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "ctrace/ctrace.h"
#include "http.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned ports[2];
static char token[128];
static unsigned long execs;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The servers, kept in globals: they stay up until the process ends, and a
 * leak checker at exit (the corpus replay under ASan) sees them reachable.
 */
static struct cat_traveler *app;
static struct cat_http *http;
static struct ctrace_admin *admin;
static char dir[] = "/tmp/fuzz_http.XXXXXX";
static char token_file[64];

/* The token's file and its directory go at exit; the servers stay up. */
static void remove_token_dir(void)
{
    unlink(token_file);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(token_file, sizeof(token_file), "%s/token", dir);
    atexit(remove_token_dir);
    const struct cat_traveler_opts app_opts = {
        .scenario = CAT_SCENARIO_NONE, .seed = 1, .max_cats = 1000};
    app = cat_traveler_new(&app_opts);
    const struct cat_http_opts http_opts = {.bind = "127.0.0.1",
                                            .port = 0,
                                            .threads = 1,
                                            .timeout_s = 15,
                                            .max_connections = 256,
                                            .max_per_ip = 0};
    char err[256];
    http =
        app != NULL ? cat_http_start(&http_opts, app, err, sizeof(err)) : NULL;
    struct ctrace_admin_opts ao;
    ctrace_admin_opts_init(&ao);
    ao.port = 0;
    ao.token_file = token_file;
    struct ctrace_error e = {0};
    admin = ctrace_admin_start(&ao, &e);
    if (http == NULL || admin == NULL) {
        fprintf(stderr, "fuzz_http: cannot start the servers: %s\n", e.text);
        abort();
    }
    ports[0] = cat_http_port(http);
    ports[1] = ctrace_admin_port(admin);
    FILE *f = fopen(token_file, "r");
    if (f == NULL || fgets(token, sizeof(token), f) == NULL)
        abort();
    fclose(f);
    token[strcspn(token, "\r\n")] = '\0';
    /* Both stay up until the process ends. */
    return 0;
}

/* Sends `req` to `port`, shuts the writing side, reads the answer. */
static size_t exchange(unsigned port,
                       const char *req,
                       size_t len,
                       char *out,
                       size_t size,
                       bool *timed_out)
{
    *timed_out = false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        abort();
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /*
     * Closed with a reset, so that neither side keeps the pair of ports in
     * TIME-WAIT: at thousands of inputs a second, TIME-WAIT would take
     * every ephemeral port within seconds, and connect() would fail with
     * EADDRNOTAVAIL (a harness failure, not a finding). Should the ports
     * run out all the same, wait for them rather than report the servers.
     */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    long long give_up = now_ms() + 5000;
    while (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
        if (errno == EINTR) {
            /*
             * libFuzzer's timer interrupted it; the connection goes on
             * being made: wait for it, then ask how it went.
             */
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int soerr = ETIMEDOUT;
            socklen_t sl = sizeof(soerr);
            while (poll(&p, 1, 5000) < 0 && errno == EINTR) {
            }
            if (p.revents != 0)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (soerr == 0)
                break;
            errno = soerr;
        }
        if (errno != EADDRNOTAVAIL || now_ms() > give_up) {
            /* stdout: -close_fd_mask=2 hides the target's stderr. */
            printf("fuzz_http: connect to %u: %s\n", port, strerror(errno));
            fflush(stdout);
            abort();
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server closed early: read what it said */
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    /*
     * Until the server closes, 300 ms pass without an answer, or 5 ms pass
     * without a byte once answers come (libmicrohttpd keeps a keep-alive
     * connection open after its answer, even with our side shut).
     */
    size_t got = 0;
    long long end = now_ms() + 300;
    for (;;) {
        long long left = end - now_ms();
        if (left <= 0) {
            *timed_out = got == 0;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        end = now_ms() + 5;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        size_t keep = (size_t)n < size - 1 - got ? (size_t)n : size - 1 - got;
        memcpy(out + got, buf, keep);
        got += keep;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

/* The input with "@TOKEN@" replaced by the token. NULL if out of memory. */
static char *with_token(const uint8_t *data, size_t size, size_t *len)
{
    static const char mark[] = "@TOKEN@";
    size_t tl = strlen(token), ml = sizeof(mark) - 1;
    char *out = malloc(size * (tl > ml ? tl : ml) / ml + tl + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < size;) {
        if (size - i >= ml && memcmp(data + i, mark, ml) == 0) {
            memcpy(out + o, token, tl);
            o += tl;
            i += ml;
        } else {
            out[o++] = (char)data[i++];
        }
    }
    *len = o;
    return out;
}

static void check_health(unsigned port)
{
    static const char req[] =
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char out[1024];
    bool timed_out;
    exchange(port, req, sizeof(req) - 1, out, sizeof(out), &timed_out);
    if (strncmp(out, "HTTP/1.1 200 ", 13) != 0) {
        printf(
            "fuzz_http: port %u stopped answering /health:\n%s\n", port, out);
        fflush(stdout);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned port = ports[data[0] & 1];
    size_t len;
    char *req = with_token(data + 1, size - 1, &len);
    if (req == NULL)
        return 0;
    static char out[65536];
    bool timed_out;
    size_t got = exchange(port, req, len, out, sizeof(out), &timed_out);
    free(req);
    if (got > 0) {
        int status = 0;
        if (sscanf(out, "HTTP/1.1 %3d ", &status) != 1 || status < 100 ||
            status > 599) {
            printf("fuzz_http: not an HTTP answer:\n%.2000s\n", out);
            fflush(stdout);
            abort();
        }
        if (status == 500) {
            printf("fuzz_http: a 500:\n%.2000s\n", out);
            fflush(stdout);
            abort();
        }
    }
    if (++execs % 500 == 0) {
        check_health(ports[0]);
        check_health(ports[1]);
    }
    return 0;
}
