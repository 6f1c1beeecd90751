/* SPDX-License-Identifier: MIT */
/*
 * The admin endpoint's HTTP server: starting and stopping it, the access
 * handler, routing and authentication. Replies and request reading are in
 * reply.c, the worker threads for requests that may block in jobs.c; see
 * admin.h for the threads, the locks and which file may call which.
 *
 * A request goes through the access handler in three steps, as
 * libmicrohttpd calls it: the headers (route, token and size checks; a
 * refusal of a body is sent at once, which closes the connection), the body
 * (kept up to opts.max_body, counted beyond), and the end, where the
 * handler answers, queues a job, or starts an event stream. Answers wait
 * for the end of the request whenever they can, because libmicrohttpd
 * closes a connection whose request it has not read to the end.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/jobs.h"
#include "admin/page.h"
#include "admin/reply.h"

/* ---- Routing. ---- */

/* The methods each route takes, for 405 and its Allow header. */
static const char *route_methods(enum route_id r)
{
    switch (r) {
    case ROUTE_PATTERN:
    case ROUTE_SYS:
        return "POST";
    case ROUTE_SESSIONS:
        return "GET, HEAD, POST";
    case ROUTE_SESSION:
        return "GET, HEAD, DELETE";
    case ROUTE_EVENTS:
        return "GET";
    case ROUTE_STATE:
        return "GET, HEAD, PUT, PATCH";
    default:
        return "GET, HEAD";
    }
}

static bool method_in(const char *method, const char *list)
{
    size_t n = strlen(method);
    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, method, n) == 0)
            return true;
        p += len;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return false;
}

static bool parse_id(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/*
 * Finds the route of `url` and its parameters. Returns false, with a 404
 * reply, when there is none.
 */
static bool route(struct request *rq, const char *url)
{
    static const char api[] = "/api/v1/";
    if (strcmp(url, "/health") == 0) {
        rq->route = ROUTE_HEALTH;
        return true;
    }
    if (strcmp(url, "/metrics") == 0) {
        rq->route = ROUTE_METRICS;
        return true;
    }
    if (strncmp(url, api, sizeof(api) - 1) != 0) {
        rq->reply.file = ctrace__page_find(url);
        if (rq->reply.file == NULL)
            goto none;
        rq->route = ROUTE_PAGE;
        return true;
    }
    const char *rest = url + sizeof(api) - 1;
    if (strcmp(rest, "system") == 0)
        rq->route = ROUTE_SYSTEM;
    else if (strcmp(rest, "system/history") == 0)
        rq->route = ROUTE_HISTORY;
    else if (strcmp(rest, "memory") == 0)
        rq->route = ROUTE_MEMORY;
    else if (strcmp(rest, "fds") == 0)
        rq->route = ROUTE_FDS;
    else if (strcmp(rest, "points") == 0)
        rq->route = ROUTE_POINTS;
    else if (strcmp(rest, "points/history") == 0)
        rq->route = ROUTE_POINT_HISTORY;
    else if (strcmp(rest, "pattern") == 0)
        rq->route = ROUTE_PATTERN;
    else if (strcmp(rest, "sessions") == 0)
        rq->route = ROUTE_SESSIONS;
    else if (strcmp(rest, "procs") == 0)
        rq->route = ROUTE_PROCS;
    else if (strcmp(rest, "procs/window") == 0)
        rq->route = ROUTE_WINDOW;
    if (rq->route != ROUTE_NONE)
        return true;

    if (strncmp(rest, "sessions/", 9) == 0) {
        const char *id = rest + 9;
        size_t len = strcspn(id, "/");
        if (!parse_id(id, len, &rq->session_id)) {
            ctrace__admin_reply_error(rq,
                                      MHD_HTTP_NOT_FOUND,
                                      "not_found",
                                      "no session '%.*s': session ids are "
                                      "numbers",
                                      (int)(len < 40 ? len : 40),
                                      id);
            return false;
        }
        if (id[len] == '\0') {
            rq->route = ROUTE_SESSION;
            return true;
        }
        if (strcmp(id + len, "/events") == 0) {
            rq->route = ROUTE_EVENTS;
            return true;
        }
        goto none;
    }
    if (strncmp(rest, "procs/", 6) == 0) {
        const char *proc = rest + 6;
        size_t len = strcspn(proc, "/");
        if (len == 0 || len > ADMIN_SEGMENT_MAX)
            goto none;
        memcpy(rq->segment, proc, len);
        rq->segment[len] = '\0';
        const char *tail = proc + len;
        if (*tail == '\0')
            rq->route = ROUTE_PROC;
        else if (strcmp(tail, "/state") == 0)
            rq->route = ROUTE_STATE;
        else if (strcmp(tail, "/status") == 0)
            rq->route = ROUTE_STATUS;
        else if (strcmp(tail, "/sys") == 0)
            rq->route = ROUTE_SYS;
        else
            goto none;
        return true;
    }
none:
    ctrace__admin_reply_error(rq,
                              MHD_HTTP_NOT_FOUND,
                              "not_found",
                              "no such path: %.200s (see docs/admin-api.md)",
                              url);
    return false;
}

/*
 * Whether the Host header names this machine by a loopback name: an
 * address literal of 127.0.0.0/8 or ::1, or "localhost", with any port.
 * Token-less loopback reads need it, so that a web page whose name was
 * made to resolve to 127.0.0.1 (DNS rebinding) cannot read through the
 * user's browser what the endpoint gives local programs.
 */
static bool host_is_loopback(struct MHD_Connection *conn)
{
    const char *host = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (host == NULL)
        return true; /* HTTP/1.0 clients: not a browser */
    char name[64];
    size_t len;
    if (host[0] == '[') {
        len = strcspn(host + 1, "]");
        if (host[1 + len] != ']' || len >= sizeof(name))
            return false;
        memcpy(name, host + 1, len);
    } else {
        len = strcspn(host, ":");
        if (len >= sizeof(name))
            return false;
        memcpy(name, host, len);
    }
    name[len] = '\0';
    if (strcasecmp(name, "localhost") == 0 || strcmp(name, "::1") == 0)
        return true;
    struct in_addr in4;
    return inet_pton(AF_INET, name, &in4) == 1 &&
           (ntohl(in4.s_addr) >> 24) == 127;
}

/*
 * Whether the request comes from a page of another origin: an Origin
 * header other than this endpoint's own, "http://" and the Host header
 * (browsers send Origin with every write and with cross-origin reads).
 * A page on another site must not drive the API through the user's
 * browser, token or not.
 */
static bool foreign_origin(struct MHD_Connection *conn)
{
    const char *origin = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
    if (origin == NULL)
        return false;
    const char *host = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    static const char scheme[] = "http://";
    return host == NULL || strncmp(origin, scheme, sizeof(scheme) - 1) != 0 ||
           strcasecmp(origin + sizeof(scheme) - 1, host) != 0;
}

/* Whether the request may go on; otherwise a 401 reply is set. */
static bool authorized(struct request *rq)
{
    struct admin *a = rq->admin;
    bool read =
        strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
    /* The page's files are public; what they show needs the token. */
    if ((rq->route == ROUTE_HEALTH || rq->route == ROUTE_PAGE) && read)
        return true;
    const char *h = MHD_lookup_connection_value(
        rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL && read && a->opts.allow_loopback_reads &&
        ctrace__admin_from_loopback(rq->conn) && host_is_loopback(rq->conn))
        return true;
    const char *why = NULL;
    if (h == NULL) {
        why = "missing Authorization: Bearer header";
    } else {
        while (*h == ' ')
            h++;
        if (strncasecmp(h, "Bearer ", 7) != 0) {
            why = "the Authorization header must be 'Bearer <token>'";
        } else {
            h += 7;
            while (*h == ' ')
                h++;
            size_t len = strlen(h);
            while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
                len--;
            if (!ctrace__admin_token_equal(a, h, len))
                why = "wrong token";
        }
    }
    if (why == NULL)
        return true;
    ctrace__admin_reply_error(
        rq, MHD_HTTP_UNAUTHORIZED, "unauthorized", "%s", why);
    rq->reply.www_authenticate = true;
    return false;
}

/* ---- The access handler. ---- */

/* Whether the request announces a body (a length above 0, or chunks). */
static bool announces_body(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl != NULL && strspn(cl, "0") != strlen(cl)) ||
           MHD_lookup_connection_value(
               conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) !=
               NULL;
}

static bool announced_too_large(struct request *rq)
{
    const char *cl = MHD_lookup_connection_value(
        rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl == NULL)
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno != 0 || end == cl || n > rq->admin->opts.max_body;
}

static void reply_too_large(struct request *rq)
{
    ctrace__admin_reply_error(rq,
                              MHD_HTTP_CONTENT_TOO_LARGE,
                              "too_large",
                              "the body is limited to %zu bytes",
                              rq->admin->opts.max_body);
}

/*
 * What libmicrohttpd lets through about how a request's body is framed:
 * a transfer coding other than chunked (it would read such a body until
 * the connection closes), Transfer-Encoding with Content-Length (a request
 * smuggling pattern), and two different Content-Length values (it keeps
 * the first). Returns NULL when the framing is sound, else the reason.
 */
struct lengths {
    const char *first;
    bool differ;
};

static enum MHD_Result each_length(void *cls,
                                   enum MHD_ValueKind kind,
                                   const char *key,
                                   const char *value)
{
    struct lengths *l = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0 || value == NULL)
        return MHD_YES;
    if (l->first == NULL)
        l->first = value;
    else if (strcmp(l->first, value) != 0)
        l->differ = true;
    return MHD_YES;
}

static const char *bad_framing(struct MHD_Connection *conn)
{
    const char *te = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    struct lengths l = {NULL, false};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, each_length, &l);
    if (te != NULL && strcasecmp(te, "chunked") != 0)
        return "Transfer-Encoding must be chunked, or absent with "
               "Content-Length";
    if (te != NULL && l.first != NULL)
        return "Transfer-Encoding and Content-Length together";
    if (l.differ)
        return "two different Content-Length headers";
    return NULL;
}

/*
 * Whether a request changes the service or costs it a trace, which a
 * read-only endpoint refuses: every method but GET and HEAD, except the
 * pattern check, which only parses.
 */
static bool changes_the_service(const struct request *rq)
{
    bool read =
        strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
    return !read && rq->route != ROUTE_PATTERN;
}

/* The checks on the headers: route, token, method, announced size. */
static void check_headers(struct request *rq, const char *url)
{
    const char *framing = bad_framing(rq->conn);
    if (framing != NULL) {
        ctrace__admin_reply_error(
            rq, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", framing);
        return;
    }
    if (atomic_load(&rq->admin->stopping)) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_SERVICE_UNAVAILABLE,
                                  "unavailable",
                                  "the admin endpoint is stopping");
        return;
    }
    if (foreign_origin(rq->conn)) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_FORBIDDEN,
                                  "forbidden_origin",
                                  "requests from a page of another origin "
                                  "are refused (Origin is not http:// and "
                                  "this endpoint's Host)");
        return;
    }
    /* The token first: without it, nothing is learnt, not even a path. */
    bool known = route(rq, url);
    if (!authorized(rq) || !known)
        return;
    const char *allowed = route_methods(rq->route);
    if (!method_in(rq->method, allowed)) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_METHOD_NOT_ALLOWED,
                                  "method_not_allowed",
                                  "%s is not allowed here; use %s",
                                  rq->method,
                                  allowed);
        rq->reply.allow = allowed;
        return;
    }
    if (rq->admin->opts.read_only && changes_the_service(rq)) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_FORBIDDEN,
                                  "read_only",
                                  "this endpoint is read-only: it shows the "
                                  "service but starts, stops and changes "
                                  "nothing (%s %s)",
                                  rq->method,
                                  url);
        return;
    }
    if (announced_too_large(rq))
        reply_too_large(rq);
}

/* Answers a complete request: by a handler, a job or a stream. */
static enum MHD_Result dispatch(struct request *rq)
{
    if (rq->too_large) {
        reply_too_large(rq);
        return ctrace__admin_send_reply(rq);
    }
    bool get =
        strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
    switch (rq->route) {
    case ROUTE_HEALTH: {
        char *ok = ctrace__strdup("{\"status\":\"ok\"}");
        ctrace__admin_reply_text(rq,
                                 MHD_HTTP_OK,
                                 "application/json",
                                 ok,
                                 ok != NULL ? strlen(ok) : 0);
        break;
    }
    case ROUTE_METRICS:
        ctrace__admin_metrics(rq);
        break;
    case ROUTE_SYSTEM:
        ctrace__admin_system(rq);
        break;
    case ROUTE_HISTORY:
        ctrace__admin_history(rq);
        break;
    case ROUTE_MEMORY:
        ctrace__admin_memory(rq);
        break;
    case ROUTE_FDS:
        ctrace__admin_fds(rq);
        break;
    case ROUTE_POINTS:
        ctrace__admin_points(rq);
        break;
    case ROUTE_POINT_HISTORY:
        ctrace__admin_point_history(rq);
        break;
    case ROUTE_PATTERN:
        ctrace__admin_pattern(rq);
        break;
    case ROUTE_SESSIONS:
        if (get)
            ctrace__admin_sessions_list(rq);
        else
            ctrace__admin_sessions_start(rq);
        break;
    case ROUTE_SESSION:
        if (get)
            ctrace__admin_session_get(rq);
        else
            ctrace__admin_session_delete(rq);
        break;
    case ROUTE_EVENTS: {
        struct MHD_Response *resp = ctrace__admin_session_events(rq);
        if (resp == NULL)
            break;
        /*
         * The only connections without an inactivity timeout: a quiet
         * stream is normal, and heartbeats reveal a reader that is gone.
         */
        MHD_set_connection_option(
            rq->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)0);
        enum MHD_Result ok = MHD_queue_response(rq->conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    case ROUTE_PROCS:
        ctrace__admin_procs(rq);
        break;
    case ROUTE_WINDOW:
        ctrace__admin_window(rq);
        break;
    case ROUTE_PROC:
        ctrace__admin_proc(rq);
        break;
    case ROUTE_STATE:
        ctrace__admin_state(rq);
        break;
    case ROUTE_STATUS:
        ctrace__admin_status(rq);
        break;
    case ROUTE_SYS:
        ctrace__admin_sys(rq);
        break;
    case ROUTE_PAGE:
        ctrace__admin_reply_file(rq, rq->reply.file);
        break;
    case ROUTE_NONE:
        break;
    }
    if (rq->suspended)
        return MHD_YES; /* a worker answers */
    if (!rq->answered)
        ctrace__admin_reply_error(
            rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "no answer");
    return ctrace__admin_send_reply(rq);
}

/*
 * What the URI log callback returns for a request whose raw URI holds
 * "%00": libmicrohttpd decodes it into a NUL, which would cut the path
 * ("/health%00x" read as "/health") and the query arguments short.
 */
static char nul_in_uri;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    return uri != NULL && strstr(uri, "%00") != NULL ? &nul_in_uri : NULL;
}

static enum MHD_Result on_request(void *cls,
                                  struct MHD_Connection *conn,
                                  const char *url,
                                  const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size,
                                  void **con_cls)
{
    struct admin *a = cls;
    ctrace__admin_thread_mark();
    struct request *rq = *con_cls;
    if (rq == NULL || rq == (void *)&nul_in_uri) {
        /* The headers are in; no byte of the body yet. */
        bool nul = rq != NULL;
        rq = ctrace__calloc(1, sizeof(*rq));
        if (rq == NULL)
            return MHD_NO;
        rq->admin = a;
        rq->conn = conn;
        snprintf(rq->method, sizeof(rq->method), "%s", method);
        *con_cls = rq;
        if (nul)
            ctrace__admin_reply_error(rq,
                                      MHD_HTTP_BAD_REQUEST,
                                      "bad_request",
                                      "the path or query holds an encoded "
                                      "NUL (%%00)");
        else
            check_headers(rq, url);
        /* Refuse a body before reading it; this closes the connection. */
        if (rq->answered && announces_body(conn))
            return ctrace__admin_send_reply(rq);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!rq->answered)
            ctrace__admin_body_append(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    /* The request is in: no deadline while it is answered. */
    if (!rq->suspended)
        ctrace__deadline_mark(conn, true);
    if (rq->suspended) {
        /* Resumed by the worker that ran the job: its answer is ready. */
        rq->suspended = false;
        atomic_fetch_sub(&a->suspended, 1);
        return ctrace__admin_send_reply(rq);
    }
    if (rq->answered)
        return ctrace__admin_send_reply(rq);
    return dispatch(rq);
}

static void on_completed(void *cls,
                         struct MHD_Connection *conn,
                         void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct request *rq = *con_cls;
    /* The next request on this connection has its deadline from now. */
    ctrace__deadline_mark(conn, false);
    if (rq == NULL || rq == (void *)&nul_in_uri)
        return;
    ctrace__free(rq->body);
    ctrace__free(rq->reply.body);
    json_decref(rq->args);
    ctrace__free(rq);
    *con_cls = NULL;
}

/* ---- Start and stop. ---- */

void ctrace_admin_opts_init(struct ctrace_admin_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->bind = "127.0.0.1";
    opts->port = CTRACE_ADMIN_DEFAULT_PORT;
    opts->token_file = NULL;
    opts->allow_loopback_reads = false;
    opts->read_only = false;
    opts->max_sessions = 4;
    opts->max_streams = 4;
    opts->max_body = (size_t)64 * 1024;
    opts->keep_ms = ADMIN_KEEP_MS;
}

/* Opens the listening socket ourselves, for a precise error on failure. */
static int listen_on(struct admin *a, bool *ipv6, struct ctrace_error *err)
{
    struct sockaddr_in in4 = {.sin_family = AF_INET,
                              .sin_port = htons(a->opts.port)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6,
                               .sin6_port = htons(a->opts.port)};
    struct sockaddr *addr;
    socklen_t addr_len;
    if (inet_pton(AF_INET, a->bind, &in4.sin_addr) == 1) {
        addr = (struct sockaddr *)&in4;
        addr_len = sizeof(in4);
        *ipv6 = false;
    } else if (inet_pton(AF_INET6, a->bind, &in6.sin6_addr) == 1) {
        addr = (struct sockaddr *)&in6;
        addr_len = sizeof(in6);
        *ipv6 = true;
    } else {
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "bind address \"%s\" is not an IPv4 or IPv6 "
                                 "address",
                                 a->bind);
    }
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ctrace__error_set(err,
                                 -errno,
                                 0,
                                 0,
                                 "cannot make a socket: %s",
                                 ctrace_strerror(-errno));
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, addr, addr_len) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return ctrace__error_set(err,
                                 -e,
                                 0,
                                 0,
                                 "cannot listen on %s%s%s port %u: %s",
                                 *ipv6 ? "[" : "",
                                 a->bind,
                                 *ipv6 ? "]" : "",
                                 (unsigned)a->opts.port,
                                 ctrace_strerror(-e));
    }
    struct sockaddr_storage got;
    socklen_t got_len = sizeof(got);
    a->port = a->opts.port;
    if (getsockname(fd, (struct sockaddr *)&got, &got_len) == 0)
        a->port = ntohs(got.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)&got)->sin6_port
                            : ((struct sockaddr_in *)&got)->sin_port);
    a->listen_fd = fd;
    return 0;
}

static int check_opts(const struct ctrace_admin_opts *o,
                      struct ctrace_error *err)
{
    if (o->bind == NULL)
        return ctrace__error_set(
            err, CTRACE_EINVAL, 0, 0, "the bind address is missing");
    if (o->max_sessions == 0 || o->max_sessions > 64)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "max_sessions %u is out of range 1..64",
                                 o->max_sessions);
    if (o->max_streams == 0 || o->max_streams > 32)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "max_streams %u is out of range 1..32",
                                 o->max_streams);
    if (o->max_body < 256 || o->max_body > (size_t)16 * 1024 * 1024)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "max_body %zu is out of range 256..16777216",
                                 o->max_body);
    return 0;
}

/* Frees what ctrace_admin_start() made, in any state of completion. */
static void admin_free(struct admin *a)
{
    if (a->listen_fd >= 0)
        close(a->listen_fd);
    ctrace__free(a->bind);
    ctrace__free(a->token_file);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->tick);
    ctrace__history_destroy(&a->history);
    for (unsigned l = 0; l < ADMIN_LANES; l++)
        pthread_cond_destroy(&a->lanes[l].work);
    /* The token is a secret: do not leave it in freed memory. */
    memset(a->token, 0, sizeof(a->token));
    ctrace__free(a);
}

/* Stops the threads ctrace_admin_start() started, daemon excepted. */
static void stop_threads(struct admin *a)
{
    ctrace__admin_jobs_stop(a);
    pthread_mutex_lock(&a->lock);
    a->housekeeper_quit = true;
    pthread_cond_broadcast(&a->tick);
    pthread_mutex_unlock(&a->lock);
    if (a->housekeeper_started)
        pthread_join(a->housekeeper, NULL);
    a->housekeeper_started = false;
}

struct ctrace_admin *ctrace_admin_start(const struct ctrace_admin_opts *opts,
                                        struct ctrace_error *err)
{
    ctrace__error_clear(err);
    struct ctrace_admin_opts defaults;
    if (opts == NULL) {
        ctrace_admin_opts_init(&defaults);
        opts = &defaults;
    }
    if (check_opts(opts, err) < 0)
        return NULL;
    struct admin *a = ctrace__calloc(1, sizeof(*a));
    if (a == NULL) {
        ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    a->opts = *opts;
    a->listen_fd = -1;
    a->next_id = 1;
    atomic_init(&a->stopping, false);
    atomic_init(&a->suspended, 0);
    pthread_mutex_init(&a->lock, NULL);
    ctrace__cond_init_monotonic(&a->tick);
    ctrace__history_init(&a->history);
    for (unsigned l = 0; l < ADMIN_LANES; l++)
        ctrace__cond_init_monotonic(&a->lanes[l].work);
    a->bind = ctrace__strdup(opts->bind);
    if (a->bind == NULL) {
        ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
        admin_free(a);
        return NULL;
    }
    a->opts.bind = a->bind;
    bool ipv6 = false;
    if (ctrace__admin_token_load(a, opts->token_file, err) < 0 ||
        listen_on(a, &ipv6, err) < 0) {
        admin_free(a);
        return NULL;
    }
    a->opts.token_file = a->token_file;

    /*
     * The endpoint's threads take no signal meant for the service's own
     * threads (a sigwait() thread, say): they start with every signal
     * blocked, and inherit that.
     */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = ctrace__admin_jobs_start(a);
    if (rc == 0) {
        rc =
            pthread_create(&a->housekeeper, NULL, ctrace__admin_housekeeper, a);
        a->housekeeper_started = rc == 0;
    }
    if (rc == 0)
        rc = -ctrace__deadline_start(&a->deadline, ADMIN_REQUEST_DEADLINE_MS);
    unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD |
                         MHD_ALLOW_SUSPEND_RESUME | (ipv6 ? MHD_USE_IPv6 : 0);
    if (rc == 0) {
        /* Every option value has exactly the type the manual gives it. */
        a->daemon = MHD_start_daemon(flags,
                                     (uint16_t)0,
                                     NULL,
                                     NULL,
                                     on_request,
                                     a,
                                     MHD_OPTION_LISTEN_SOCKET,
                                     (MHD_socket)a->listen_fd,
                                     MHD_OPTION_CONNECTION_LIMIT,
                                     (unsigned int)ADMIN_MAX_CONNECTIONS,
                                     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                     (unsigned int)ADMIN_MAX_PER_IP,
                                     MHD_OPTION_NOTIFY_CONNECTION,
                                     ctrace__deadline_notify,
                                     (void *)&a->deadline,
                                     MHD_OPTION_URI_LOG_CALLBACK,
                                     on_uri,
                                     (void *)a,
                                     MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned int)ADMIN_TIMEOUT_S,
                                     MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                     (size_t)ADMIN_CONNECTION_MEMORY,
                                     MHD_OPTION_NOTIFY_COMPLETED,
                                     on_completed,
                                     (void *)a,
                                     MHD_OPTION_END);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0 || a->daemon == NULL) {
        if (rc != 0)
            ctrace__error_set(err,
                              -rc,
                              0,
                              0,
                              "cannot start a thread of the admin endpoint: "
                              "%s",
                              ctrace_strerror(-rc));
        else
            ctrace__error_set(err,
                              CTRACE_ENOMEM,
                              0,
                              0,
                              "libmicrohttpd could not start the admin "
                              "endpoint");
        stop_threads(a);
        ctrace__deadline_stop(&a->deadline);
        admin_free(a);
        return NULL;
    }
    return (struct ctrace_admin *)a;
}

uint16_t ctrace_admin_port(const struct ctrace_admin *admin)
{
    return ((const struct admin *)admin)->port;
}

const char *ctrace_admin_token_file(const struct ctrace_admin *admin)
{
    return ((const struct admin *)admin)->token_file;
}

size_t ctrace_admin_observer_url(const struct ctrace_admin *admin,
                                 char *buf,
                                 size_t size)
{
    const struct admin *a = (const struct admin *)admin;
    /* A wildcard address is reached on loopback. */
    const char *host = a->bind;
    if (strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    bool v6 = strchr(host, ':') != NULL;
    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    ctrace__sbuf_printf(&b,
                        "http://%s%s%s:%u/#token=",
                        v6 ? "[" : "",
                        host,
                        v6 ? "]" : "",
                        (unsigned)a->port);
    /* Percent-encoded but for what a fragment keeps as it is. */
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < a->token_len; i++) {
        unsigned char c = (unsigned char)a->token[i];
        if (isalnum(c) || strchr("-._~", c) != NULL) {
            char one[2] = {(char)c, '\0'};
            ctrace__sbuf_puts(&b, one);
        } else {
            char three[4] = {'%', hex[c >> 4], hex[c & 15], '\0'};
            ctrace__sbuf_puts(&b, three);
        }
    }
    size_t n = b.failed ? 0 : b.len;
    if (size > 0) {
        size_t k = n < size - 1 ? n : size - 1;
        if (k > 0)
            memcpy(buf, b.data, k);
        buf[k] = '\0';
    }
    ctrace__sbuf_free(&b);
    return n;
}

void ctrace_admin_stop(struct ctrace_admin *admin)
{
    if (admin == NULL)
        return;
    struct admin *a = (struct admin *)admin;
    atomic_store(&a->stopping, true);
    /*
     * No new connection from here on. The listening socket is then ours to
     * close, after MHD_stop_daemon(); if quiescing failed, libmicrohttpd
     * still owns it and closes it itself.
     */
    if (MHD_quiesce_daemon(a->daemon) == MHD_INVALID_SOCKET)
        a->listen_fd = -1;
    /*
     * Jobs still queued are answered 503, the running ones finish (a
     * proc_window or a sys request; bounded), and each resumes its
     * connection.
     */
    stop_threads(a);
    ctrace__admin_sessions_stop_all(a);
    /*
     * libmicrohttpd must not be stopped while a connection is suspended:
     * wait until every resumed connection has run again (none suspends any
     * more, `stopping` being set). Bounded, in case one never does.
     */
    uint64_t until = ctrace__admin_now_ms() + 5000;
    while (atomic_load(&a->suspended) > 0 && ctrace__admin_now_ms() < until) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(a->daemon);
    ctrace__deadline_stop(&a->deadline);
    ctrace__admin_sessions_free_all(a);
    admin_free(a);
}
