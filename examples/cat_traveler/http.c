/* SPDX-License-Identifier: MIT */
/*
 * The HTTP front of cat_traveler. See http.h.
 *
 * libmicrohttpd runs one poll() thread, or a pool of them (--threads), each
 * serving many connections (not epoll: see docs/architecture.md,
 * "Connections"); handlers never block on I/O, so that suits many small
 * requests. The drift scenario has a thread per connection instead: its
 * requests sleep in the handler, and two connections that landed on one
 * pool thread would take turns, never overlap. A request body is read into
 * a buffer of at most CAT_BODY_MAX bytes: a Content-Length above that is
 * answered with 413 before any byte of the body is read, and a body
 * without one (chunked) is counted while it arrives, dropped once over the
 * cap, and answered with 413 at its end. Bodies are parsed with jansson,
 * duplicate keys rejected; names must be valid UTF-8 without NUL or
 * control characters.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "admin/deadline.h"
#include "ctrace/ctrace.h"

/* libmicrohttpd's per-connection memory: request headers and I/O buffers. */
#define CONNECTION_MEMORY ((size_t)32 * 1024)

/* The answers that never change, built once and queued many times. */
struct canned {
    struct MHD_Response *ok;
    struct MHD_Response *not_in_town;
    struct MHD_Response *health;
    struct MHD_Response *not_found;
    struct MHD_Response *post_only; /* 405 with Allow: POST */
    struct MHD_Response *get_only;  /* 405 with Allow: GET, HEAD */
    struct MHD_Response *too_large;
    struct MHD_Response *no_memory;
};

struct cat_http {
    struct MHD_Daemon *daemon;
    struct ctrace__deadline deadline;
    struct cat_traveler *app;
    unsigned port;
    struct canned canned;
};

/* A POST body being read; lives in *con_cls until the request completes. */
struct upload {
    size_t len;
    bool too_large;
    char data[CAT_BODY_MAX];
};

/* What request/2 answers from. */
struct body {
    const char *data; /* NULL when the request has no body to read */
    size_t len;
    bool too_large;
};

/* An answer: a canned response, or one built for this request. */
struct reply {
    struct MHD_Response *response;
    bool owned;
};

enum route {
    ROUTE_NONE,
    ROUTE_ENTER,
    ROUTE_LEAVE,
    ROUTE_CATS,
    ROUTE_TOWNS,
    ROUTE_HEALTH
};

static enum route route_of(const char *path)
{
    if (strcmp(path, "/enter") == 0)
        return ROUTE_ENTER;
    if (strcmp(path, "/leave") == 0)
        return ROUTE_LEAVE;
    if (strcmp(path, "/cats") == 0)
        return ROUTE_CATS;
    if (strcmp(path, "/towns") == 0)
        return ROUTE_TOWNS;
    if (strcmp(path, "/health") == 0)
        return ROUTE_HEALTH;
    return ROUTE_NONE;
}

static bool route_takes_body(enum route r)
{
    return r == ROUTE_ENTER || r == ROUTE_LEAVE;
}

static bool method_allowed(enum route r, const char *method)
{
    if (route_takes_body(r))
        return strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
           strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* ---- Building responses. ---- */

static struct MHD_Response *with_json_type(struct MHD_Response *r)
{
    if (r != NULL && MHD_add_response_header(r,
                                             MHD_HTTP_HEADER_CONTENT_TYPE,
                                             "application/json") != MHD_YES) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

/* A response over a static string, for the canned answers. */
static struct MHD_Response *static_json(const char *text)
{
    return with_json_type(MHD_create_response_from_buffer(
        strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT));
}

/* A response with `v` as compact JSON; takes `v`. NULL when out of memory. */
static struct MHD_Response *json_response(json_t *v, size_t flags)
{
    if (v == NULL)
        return NULL;
    char *text = json_dumps(v, JSON_COMPACT | flags);
    json_decref(v);
    if (text == NULL)
        return NULL;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return NULL;
    }
    return with_json_type(r);
}

/*
 * Copies `text` into `out` keeping printable ASCII and writing every other
 * byte as '?', cut to fit: details quote what the client sent, which can be
 * anything.
 */
static void printable(char *out, size_t size, const char *text, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < size; i++) {
        unsigned char c = (unsigned char)text[i];
        out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n + 1 == size && size > 4 && len > n)
        memcpy(out + n - 3, "...", 3);
    out[n] = '\0';
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

/* ---- Reading {"cat": ..., "town": ...}. ---- */

/* Takes the name field `key` of `root`; false with `detail` filled if bad. */
static bool name_field(json_t *root,
                       const char *key,
                       const char **out,
                       char *detail,
                       size_t size)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL) {
        snprintf(detail, size, "missing field \"%s\"", key);
        return false;
    }
    if (!json_is_string(v)) {
        snprintf(detail,
                 size,
                 "field \"%s\" must be a string, got %s",
                 key,
                 type_name(v));
        return false;
    }
    size_t chars = 0;
    switch (
        cat_name_check(json_string_value(v), json_string_length(v), &chars)) {
    case CAT_NAME_OK:
        *out = json_string_value(v);
        return true;
    case CAT_NAME_NOT_UTF8:
        snprintf(detail, size, "field \"%s\" is not valid UTF-8", key);
        return false;
    case CAT_NAME_NUL:
        snprintf(detail, size, "field \"%s\" contains a NUL character", key);
        return false;
    case CAT_NAME_CONTROL:
        snprintf(
            detail, size, "field \"%s\" contains a control character", key);
        return false;
    case CAT_NAME_LENGTH:
        break;
    }
    snprintf(detail,
             size,
             "field \"%s\" must have 1 to %d characters, got %zu",
             key,
             CAT_NAME_MAX_CHARS,
             chars);
    return false;
}

/*
 * Parses a body that must be exactly {"cat": NAME, "town": NAME}. On
 * success returns the parsed document in *root (decref it) with *cat and
 * *town borrowed from it; otherwise returns false with a one-sentence
 * reason in `detail`.
 */
static bool parse_cat_town(const struct body *b,
                           json_t **root,
                           const char **cat,
                           const char **town,
                           char *detail,
                           size_t size)
{
    *root = NULL;
    if (b->len == 0) {
        snprintf(detail,
                 size,
                 "empty body: expected a JSON object such as "
                 "{\"cat\":\"Tihon\",\"town\":\"Barcelona\"}");
        return false;
    }
    json_error_t err;
    json_t *doc = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL && json_error_code(&err) == json_error_null_character) {
        snprintf(detail,
                 size,
                 "invalid JSON at line %d, column %d: strings must not "
                 "contain NUL characters (\\u0000)",
                 err.line,
                 err.column);
        return false;
    }
    if (doc == NULL) {
        char text[JSON_ERROR_TEXT_LENGTH];
        printable(text, sizeof(text), err.text, strlen(err.text));
        snprintf(detail,
                 size,
                 "invalid JSON at line %d, column %d: %s",
                 err.line,
                 err.column,
                 text);
        return false;
    }
    if (!json_is_object(doc)) {
        snprintf(detail,
                 size,
                 "expected a JSON object with \"cat\" and \"town\", got %s",
                 type_name(doc));
        json_decref(doc);
        return false;
    }
    if (!name_field(doc, "cat", cat, detail, size) ||
        !name_field(doc, "town", town, detail, size)) {
        json_decref(doc);
        return false;
    }
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        if (strcmp(key, "cat") != 0 && strcmp(key, "town") != 0) {
            char shown[72];
            printable(shown, sizeof(shown), key, strlen(key));
            snprintf(detail,
                     size,
                     "unknown field \"%s\": only \"cat\" and \"town\" are "
                     "allowed",
                     shown);
            json_decref(doc);
            return false;
        }
    }
    *root = doc;
    return true;
}

/* ---- The API answers. ---- */

static struct reply canned(struct MHD_Response *r)
{
    return (struct reply){.response = r, .owned = false};
}

static struct reply built(struct cat_http *h, struct MHD_Response *r)
{
    if (r == NULL)
        return canned(h->canned.no_memory);
    return (struct reply){.response = r, .owned = true};
}

static struct reply bad_request(struct cat_http *h, const char *detail)
{
    return built(
        h,
        json_response(
            json_pack("{s:s, s:s}", "error", "bad_request", "detail", detail),
            0));
}

/* POST /enter and POST /leave. */
static unsigned travel(struct cat_http *h,
                       enum route r,
                       const struct body *b,
                       struct reply *out)
{
    char detail[256];
    json_t *root;
    const char *cat;
    const char *town;
    if (!parse_cat_town(b, &root, &cat, &town, detail, sizeof(detail))) {
        *out = bad_request(h, detail);
        return MHD_HTTP_BAD_REQUEST;
    }
    char where[CAT_NAME_MAX_BYTES + 1];
    enum cat_result rc = r == ROUTE_ENTER
                             ? cat_traveler_enter(h->app, cat, town, where)
                             : cat_traveler_leave(h->app, cat, town);
    json_decref(root);
    switch (rc) {
    case CAT_OK:
        *out = canned(h->canned.ok);
        return MHD_HTTP_OK;
    case CAT_NOT_IN_TOWN:
        *out = canned(h->canned.not_in_town);
        return MHD_HTTP_BAD_REQUEST;
    case CAT_ALREADY_IN_TOWN:
        *out = built(
            h,
            json_response(
                json_pack(
                    "{s:s, s:s}", "error", "already_in_town", "town", where),
                0));
        return out->owned ? MHD_HTTP_BAD_REQUEST
                          : MHD_HTTP_INTERNAL_SERVER_ERROR;
    case CAT_FULL:
        *out = built(h,
                     json_response(json_pack("{s:s, s:s}",
                                             "error",
                                             "full",
                                             "detail",
                                             "too many cats are in towns"),
                                   0));
        return out->owned ? MHD_HTTP_SERVICE_UNAVAILABLE
                          : MHD_HTTP_INTERNAL_SERVER_ERROR;
    case CAT_OVERLOADED:
    case CAT_TIMEOUT:
        *out = built(
            h,
            json_response(
                json_pack("{s:s, s:s}",
                          "error",
                          cat_result_name(rc),
                          "detail",
                          rc == CAT_OVERLOADED
                              ? "the state server's mailbox is full"
                              : "the state server did not answer in time"),
                0));
        return out->owned ? MHD_HTTP_SERVICE_UNAVAILABLE
                          : MHD_HTTP_INTERNAL_SERVER_ERROR;
    case CAT_NO_MEMORY:
        break;
    }
    *out = canned(h->canned.no_memory);
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* GET /cats and GET /towns: {"cats": {...}} or {"towns": {...}}. */
static unsigned listing(struct cat_http *h, enum route r, struct reply *out)
{
    json_t *v = r == ROUTE_CATS ? cat_traveler_cats(h->app)
                                : cat_traveler_towns(h->app);
    json_t *doc =
        v != NULL ? json_pack("{s:o}", r == ROUTE_CATS ? "cats" : "towns", v)
                  : NULL;
    *out = built(h, json_response(doc, JSON_SORT_KEYS));
    return out->owned ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/*
 * request(Method, Path) -> Status: answers one complete request. `b` is the
 * body when one was read, or says that it was refused as too large.
 */
static unsigned request(struct cat_http *h,
                        const char *method,
                        const char *path,
                        const struct body *b,
                        struct reply *out)
{
    CTRACE_CALL(cat_traveler_http, request, method, path);
    enum route r = route_of(path);
    unsigned status;
    if (r == ROUTE_NONE) {
        *out = canned(h->canned.not_found);
        status = MHD_HTTP_NOT_FOUND;
    } else if (!method_allowed(r, method)) {
        *out = canned(route_takes_body(r) ? h->canned.post_only
                                          : h->canned.get_only);
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (b->too_large) {
        *out = canned(h->canned.too_large);
        status = MHD_HTTP_CONTENT_TOO_LARGE;
    } else if (route_takes_body(r)) {
        status = travel(h, r, b, out);
    } else if (r == ROUTE_HEALTH) {
        *out = canned(h->canned.health);
        status = MHD_HTTP_OK;
    } else {
        status = listing(h, r, out);
    }
    CTRACE_RETURN(status);
}

/* Runs request/2 and queues its answer. */
static enum MHD_Result answer(struct cat_http *h,
                              struct MHD_Connection *conn,
                              const char *method,
                              const char *path,
                              const struct body *b)
{
    struct reply reply;
    /*
     * Each request runs as a short-lived process, as a request handler
     * spawned per request in Erlang: a trace shows it by its initial call,
     * and `new` sessions see only requests that came after they started.
     */
    ctrace_proc_begin("cat_traveler_http:request/2");
    unsigned status = request(h, method, path, b, &reply);
    ctrace_proc_end(status >= 500 ? "internal_error" : "normal");
    enum MHD_Result ok = MHD_queue_response(conn, status, reply.response);
    if (reply.owned)
        MHD_destroy_response(reply.response);
    return ok;
}

/* True when a Content-Length header announces more than CAT_BODY_MAX. */
static bool announced_too_large(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl == NULL)
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long n = strtoull(cl, &end, 10);
    /* libmicrohttpd has refused a malformed value already; be safe anyway. */
    return errno != 0 || end == cl || n > CAT_BODY_MAX;
}

/* True when the request says a body follows (a length above 0, or chunks). */
static bool announces_body(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl != NULL && strspn(cl, "0") != strlen(cl)) ||
           MHD_lookup_connection_value(
               conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) !=
               NULL;
}

/*
 * What libmicrohttpd lets through about the framing of a body: a transfer
 * coding other than chunked (it would wait for the connection to close),
 * Transfer-Encoding with Content-Length, and two different Content-Length
 * values (it keeps the first). NULL when sound, else the reason.
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
 * What the URI log callback returns for a raw URI holding "%00", which
 * libmicrohttpd decodes into a NUL that cuts the path short ("/health%00x"
 * would be read as "/health").
 */
static char nul_in_uri;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    return uri != NULL && strstr(uri, "%00") != NULL ? &nul_in_uri : NULL;
}

/* Refuses a request at its headers; this closes the connection. */
static enum MHD_Result
refuse(struct cat_http *h, struct MHD_Connection *conn, const char *detail)
{
    struct reply r = bad_request(h, detail);
    enum MHD_Result ok =
        MHD_queue_response(conn, MHD_HTTP_BAD_REQUEST, r.response);
    if (r.owned)
        MHD_destroy_response(r.response);
    return ok;
}

/*
 * The access handler. It answers at the latest possible moment, once the
 * whole request is in, because libmicrohttpd closes the connection after
 * an answer queued earlier (it cannot know what else the client sends):
 * keep-alive connections survive every ordinary request. It answers early
 * only to refuse a body it will not read (404, 405, 413), which indeed ends
 * the connection. *con_cls is NULL on the first call, then the struct
 * upload of a body being read, or `cls` for a request without one.
 */
static enum MHD_Result on_request(void *cls,
                                  struct MHD_Connection *conn,
                                  const char *url,
                                  const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size,
                                  void **con_cls)
{
    struct cat_http *h = cls;
    if (*con_cls == &nul_in_uri)
        return refuse(h, conn, "the path or query holds an encoded NUL (%00)");
    if (*con_cls == NULL) {
        /* First call: the headers are in, no byte of the body yet. */
        const char *framing = bad_framing(conn);
        if (framing != NULL)
            return refuse(h, conn, framing);
        enum route r = route_of(url);
        bool reads_body = route_takes_body(r) && method_allowed(r, method);
        if (!reads_body && announces_body(conn)) {
            struct body none = {0};
            return answer(h, conn, method, url, &none);
        }
        if (!reads_body) {
            *con_cls = h;
            return MHD_YES;
        }
        if (announced_too_large(conn)) {
            struct body refused = {.too_large = true};
            return answer(h, conn, method, url, &refused);
        }
        struct upload *up = malloc(sizeof(*up));
        if (up == NULL)
            return MHD_queue_response(
                conn, MHD_HTTP_INTERNAL_SERVER_ERROR, h->canned.no_memory);
        up->len = 0;
        up->too_large = false;
        *con_cls = up;
        return MHD_YES;
    }
    if (*con_cls == h) {
        /* No body was announced, so none arrives; drop any all the same. */
        if (*upload_data_size > 0) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        ctrace__deadline_mark(conn, true);
        struct body none = {0};
        return answer(h, conn, method, url, &none);
    }
    struct upload *up = *con_cls;
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (!up->too_large && n <= CAT_BODY_MAX - up->len) {
            memcpy(up->data + up->len, upload_data, n);
            up->len += n;
        } else {
            up->too_large = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    ctrace__deadline_mark(conn, true);
    struct body b = {
        .data = up->data, .len = up->len, .too_large = up->too_large};
    return answer(h, conn, method, url, &b);
}

static void on_completed(void *cls,
                         struct MHD_Connection *conn,
                         void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    /* The next request on this connection has its deadline from now. */
    ctrace__deadline_mark(conn, false);
    if (*con_cls != cls && *con_cls != &nul_in_uri)
        free(*con_cls);
    *con_cls = NULL;
}

/* libmicrohttpd passes printf formats; the attribute lets the compiler know. */
static void on_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_log(void *cls, const char *fmt, va_list ap)
{
    /* One write per message, so that messages of two threads do not mix. */
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    fprintf(stderr, "cat_traveler: http: %s\n", msg);
}

static void canned_free(struct canned *c)
{
    struct MHD_Response **all[] = {&c->ok,
                                   &c->not_in_town,
                                   &c->health,
                                   &c->not_found,
                                   &c->post_only,
                                   &c->get_only,
                                   &c->too_large,
                                   &c->no_memory};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (*all[i] != NULL)
            MHD_destroy_response(*all[i]);
        *all[i] = NULL;
    }
}

static int canned_init(struct canned *c)
{
    c->ok = static_json("{\"result\":\"ok\"}");
    c->not_in_town = static_json("{\"error\":\"not_in_town\"}");
    c->health = static_json("{\"status\":\"ok\"}");
    c->not_found = static_json("{\"error\":\"not_found\"}");
    c->post_only = static_json("{\"error\":\"method_not_allowed\"}");
    c->get_only = static_json("{\"error\":\"method_not_allowed\"}");
    c->too_large = static_json("{\"error\":\"too_large\",\"detail\":"
                               "\"the body is limited to 4096 bytes\"}");
    c->no_memory = static_json("{\"error\":\"internal\",\"detail\":"
                               "\"out of memory\"}");
    if (c->ok == NULL || c->not_in_town == NULL || c->health == NULL ||
        c->not_found == NULL || c->post_only == NULL || c->get_only == NULL ||
        c->too_large == NULL || c->no_memory == NULL ||
        MHD_add_response_header(c->post_only, MHD_HTTP_HEADER_ALLOW, "POST") !=
            MHD_YES ||
        MHD_add_response_header(
            c->get_only, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES) {
        canned_free(c);
        return -1;
    }
    return 0;
}

struct cat_http *cat_http_start(const struct cat_http_opts *opts,
                                struct cat_traveler *app,
                                char *err,
                                size_t err_size)
{
    struct sockaddr_in in4 = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)opts->port)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6,
                               .sin6_port = htons((uint16_t)opts->port)};
    struct sockaddr *addr;
    /*
     * epoll, so that a thread's cost does not grow with the connections it
     * holds open (hundreds of slow ones made poll() the whole cost); a
     * thread per connection (the drift scenario) can only poll.
     */
    unsigned int flags =
        (opts->thread_per_connection
             ? MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD
             : MHD_USE_EPOLL_INTERNAL_THREAD) |
        MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (inet_pton(AF_INET, opts->bind, &in4.sin_addr) == 1) {
        addr = (struct sockaddr *)&in4;
    } else if (inet_pton(AF_INET6, opts->bind, &in6.sin6_addr) == 1) {
        addr = (struct sockaddr *)&in6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err,
                 err_size,
                 "--bind: \"%s\" is not an IPv4 or IPv6 address",
                 opts->bind);
        return NULL;
    }

    struct cat_http *h = calloc(1, sizeof(*h));
    if (h == NULL || canned_init(&h->canned) != 0) {
        free(h);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    h->app = app;
    if (ctrace__deadline_start(&h->deadline, CAT_REQUEST_DEADLINE_MS) != 0) {
        canned_free(&h->canned);
        free(h);
        snprintf(err, err_size, "cannot start a thread");
        return NULL;
    }
    /*
     * A pool size with a thread per connection draws a warning: that
     * mode gets no pool option at all.
     */
    struct MHD_OptionItem pool[] = {
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)opts->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (opts->thread_per_connection)
        pool[0].option = MHD_OPTION_END;
    /* Every option value has exactly the type the manual gives it. */
    h->daemon = MHD_start_daemon(
        flags,
        (uint16_t)0, /* the port comes with MHD_OPTION_SOCK_ADDR */
        NULL,
        NULL,
        on_request,
        h,
        MHD_OPTION_EXTERNAL_LOGGER,
        on_log,
        (void *)h,
        MHD_OPTION_SOCK_ADDR,
        addr,
        MHD_OPTION_ARRAY,
        pool,
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)opts->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)opts->max_per_ip,
        MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned int)1024,
        MHD_OPTION_NOTIFY_CONNECTION,
        ctrace__deadline_notify,
        (void *)&h->deadline,
        MHD_OPTION_URI_LOG_CALLBACK,
        on_uri,
        (void *)h,
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)opts->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED,
        on_completed,
        (void *)h,
        MHD_OPTION_END);
    if (h->daemon == NULL) {
        snprintf(err,
                 err_size,
                 "cannot listen on %s port %u",
                 opts->bind,
                 opts->port);
        ctrace__deadline_stop(&h->deadline);
        canned_free(&h->canned);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL ? info->port : opts->port;
    return h;
}

unsigned cat_http_port(const struct cat_http *http)
{
    return http->port;
}

void cat_http_stop(struct cat_http *http)
{
    if (http == NULL)
        return;
    MHD_stop_daemon(http->daemon);
    ctrace__deadline_stop(&http->deadline);
    canned_free(&http->canned);
    free(http);
}
