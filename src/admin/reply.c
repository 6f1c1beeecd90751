/* SPDX-License-Identifier: MIT */
/*
 * The bottom of the admin endpoint: replies (how a handler or a job says
 * what a request gets, and how that is queued on libmicrohttpd), reading a
 * request (query, body, client address), JSON helpers and the clock. See
 * reply.h; it calls nothing else of the endpoint.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "admin/page.h"
#include "admin/reply.h"
#include "proc/thread.h"

/* ---- Small helpers. ---- */

uint64_t ctrace__admin_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ctrace__admin_thread_mark(void)
{
    static _Thread_local bool marked;
    if (marked)
        return;
    marked = true;
    ctrace__thread_set_no_trace();
    ctrace_thread_set_name("ctrace_admin");
}

/* Length of the UTF-8 sequence at `s` (at most `len` bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void ctrace__admin_put_json_string(struct ctrace__sbuf *b,
                                   const char *s,
                                   size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    ctrace__sbuf_putc(b, '"');
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            ctrace__sbuf_append(b, esc, 2);
            i++;
        } else if (c == '\n') {
            ctrace__sbuf_append(b, "\\n", 2);
            i++;
        } else if (c == '\t') {
            ctrace__sbuf_append(b, "\\t", 2);
            i++;
        } else if (c == '\r') {
            ctrace__sbuf_append(b, "\\r", 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ctrace__sbuf_append(b, esc, 6);
            i++;
        } else {
            size_t n = utf8_seq(p + i, len - i);
            if (n == 0) {
                ctrace__sbuf_append(b, "\\ufffd", 6);
                i++;
            } else {
                ctrace__sbuf_append(b, s + i, n);
                i += n;
            }
        }
    }
    ctrace__sbuf_putc(b, '"');
}

json_t *ctrace__admin_jstr(const char *s)
{
    if (s == NULL)
        return json_null();
    size_t len = strlen(s);
    if (ctrace__utf8_valid(s, len))
        return json_stringn(s, len);
    /* Rare: replace what is not UTF-8, byte by byte. */
    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0) {
            ctrace__sbuf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        } else {
            ctrace__sbuf_append(&b, s + i, n);
            i += n;
        }
    }
    char *clean = ctrace__sbuf_take(&b);
    json_t *v = clean != NULL ? json_string(clean) : NULL;
    ctrace_free(clean);
    return v != NULL ? v : json_string("?");
}

json_t *ctrace__admin_jpid(uint64_t pid)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "<0.%" PRIu64 ".0>", pid);
    return json_string(buf);
}

/* ---- Replies. ---- */

static void reply_reset(struct reply *r)
{
    ctrace__free(r->body);
    *r = (struct reply){0};
}

void ctrace__admin_reply_text(struct request *rq,
                              unsigned status,
                              const char *content_type,
                              char *text,
                              size_t len)
{
    reply_reset(&rq->reply);
    rq->reply.status = status;
    rq->reply.content_type = content_type;
    rq->reply.body = text;
    rq->reply.len = len;
    rq->answered = true;
}

void ctrace__admin_reply_file(struct request *rq,
                              const struct ctrace__page_file *f)
{
    reply_reset(&rq->reply);
    rq->answered = true;
    rq->reply.content_type = f->type;
    snprintf(rq->reply.etag, sizeof(rq->reply.etag), "%s", f->etag);
    /* The page changes only with the library: revalidate, then 304. */
    const char *match = MHD_lookup_connection_value(
        rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (match != NULL && strstr(match, f->etag) != NULL) {
        rq->reply.status = MHD_HTTP_NOT_MODIFIED;
        return;
    }
    rq->reply.status = MHD_HTTP_OK;
    rq->reply.file = f;
}

static const char no_memory[] =
    "{\"error\":\"internal\",\"detail\":\"out of memory\"}";

void ctrace__admin_reply_json(struct request *rq, unsigned status, json_t *v)
{
    /*
     * Dumped into our own malloc'd buffer rather than with json_dumps(): a
     * service may have given jansson other allocation functions, and
     * libmicrohttpd frees the body with free().
     */
    size_t len = v != NULL ? json_dumpb(v, NULL, 0, JSON_COMPACT) : 0;
    char *text = len > 0 ? ctrace__malloc(len + 1) : NULL;
    if (text != NULL && json_dumpb(v, text, len, JSON_COMPACT) == len) {
        text[len] = '\0';
    } else {
        ctrace__free(text);
        text = ctrace__strdup(no_memory);
        len = text != NULL ? strlen(text) : 0;
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    json_decref(v);
    ctrace__admin_reply_text(rq, status, "application/json", text, len);
}

static void reply_errorv(struct request *rq,
                         unsigned status,
                         const char *code,
                         json_t *extra,
                         const char *fmt,
                         va_list ap) CTRACE__PRINTF(5, 0);

static void reply_errorv(struct request *rq,
                         unsigned status,
                         const char *code,
                         json_t *extra,
                         const char *fmt,
                         va_list ap)
{
    char detail[CTRACE_ERROR_TEXT_LENGTH + 128];
    vsnprintf(detail, sizeof(detail), fmt, ap);
    json_t *v = json_object();
    if (v != NULL) {
        json_object_set_new(v, "error", json_string(code));
        json_object_set_new(v, "detail", ctrace__admin_jstr(detail));
        if (extra != NULL)
            json_object_update(v, extra);
    }
    json_decref(extra);
    ctrace__admin_reply_json(rq, status, v);
}

void ctrace__admin_reply_error(struct request *rq,
                               unsigned status,
                               const char *code,
                               const char *fmt,
                               ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_errorv(rq, status, code, NULL, fmt, ap);
    va_end(ap);
}

void ctrace__admin_reply_error_with(struct request *rq,
                                    unsigned status,
                                    const char *code,
                                    json_t *extra,
                                    const char *fmt,
                                    ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_errorv(rq, status, code, extra, fmt, ap);
    va_end(ap);
}

void ctrace__admin_reply_ctrace_error(struct request *rq,
                                      int code,
                                      const struct ctrace_error *e)
{
    const char *text =
        e != NULL && e->text[0] != '\0' ? e->text : ctrace_strerror(code);
    unsigned status;
    const char *name;
    switch (code) {
    case CTRACE_ESYNTAX:
    case CTRACE_ETOOLONG:
    case CTRACE_ETOODEEP:
    case CTRACE_EUNBOUND:
    case CTRACE_ENOFUNC:
    case CTRACE_EUNSUPPORTED:
        status = MHD_HTTP_BAD_REQUEST;
        name = "bad_pattern";
        break;
    case CTRACE_EINVAL:
        status = MHD_HTTP_BAD_REQUEST;
        name = "bad_request";
        break;
    case CTRACE_ENOMATCH:
        status = MHD_HTTP_UNPROCESSABLE_CONTENT;
        name = "no_match";
        break;
    case CTRACE_ETOOBROAD:
        status = MHD_HTTP_UNPROCESSABLE_CONTENT;
        name = "too_broad";
        break;
    case CTRACE_ELIMIT:
    case CTRACE_EFULL:
        status = MHD_HTTP_TOO_MANY_REQUESTS;
        name = "too_many";
        break;
    case CTRACE_ENOPROC:
        status = MHD_HTTP_NOT_FOUND;
        name = "no_such_process";
        break;
    case CTRACE_ENOTFOUND:
        status = MHD_HTTP_NOT_FOUND;
        name = "not_found";
        break;
    case -ETIMEDOUT:
        status = MHD_HTTP_GATEWAY_TIMEOUT;
        name = "timeout";
        break;
    default:
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        name = "internal";
        break;
    }
    ctrace__admin_reply_error(rq, status, name, "%s", text);
}

enum MHD_Result ctrace__admin_send_reply(struct request *rq)
{
    struct reply *r = &rq->reply;
    struct MHD_Response *resp;
    if (r->file != NULL) {
        resp = MHD_create_response_from_buffer(
            r->file->size, (void *)r->file->data, MHD_RESPMEM_PERSISTENT);
    } else if (r->body != NULL) {
        resp = MHD_create_response_from_buffer(
            r->len, r->body, MHD_RESPMEM_MUST_FREE);
        if (resp != NULL)
            r->body = NULL; /* libmicrohttpd frees it now */
    } else {
        resp = MHD_create_response_from_buffer(
            0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (resp == NULL)
        return MHD_NO;
    if (r->content_type != NULL)
        MHD_add_response_header(
            resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    bool page = r->file != NULL || r->status == MHD_HTTP_NOT_MODIFIED;
    MHD_add_response_header(
        resp, MHD_HTTP_HEADER_CACHE_CONTROL, page ? "no-cache" : "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (page) {
        /*
         * The page's own files only: no inline script or style, no other
         * origin, no frames, no form posts; connections to this endpoint.
         */
        MHD_add_response_header(resp,
                                "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; "
                                "style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    }
    if (r->allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->location != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->www_authenticate)
        MHD_add_response_header(
            resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"ctrace\"");
    if (r->etag[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
    enum MHD_Result ok = MHD_queue_response(rq->conn, r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* ---- Requests. ---- */

const char *ctrace__admin_query(struct request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

json_t *ctrace__admin_body_json(struct request *rq, bool any)
{
    if (rq->len == 0) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_BAD_REQUEST,
                                  "bad_request",
                                  "the request needs a JSON body");
        return NULL;
    }
    json_error_t e;
    size_t flags = JSON_REJECT_DUPLICATES | (any ? JSON_DECODE_ANY : 0);
    json_t *v = json_loadb(rq->body, rq->len, flags, &e);
    if (v == NULL) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_BAD_REQUEST,
                                  "bad_request",
                                  "the body is not valid JSON: %s (line %d, "
                                  "column %d)",
                                  e.text,
                                  e.line,
                                  e.column);
        return NULL;
    }
    if (!any && !json_is_object(v)) {
        json_decref(v);
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_BAD_REQUEST,
                                  "bad_request",
                                  "the body must be a JSON object");
        return NULL;
    }
    return v;
}

void ctrace__admin_body_append(struct request *rq, const char *data, size_t n)
{
    size_t max = rq->admin->opts.max_body;
    if (rq->too_large || n > max - rq->len) {
        rq->too_large = true;
        return;
    }
    if (rq->len + n + 1 > rq->cap) {
        size_t cap = rq->cap != 0 ? rq->cap : 1024;
        while (cap < rq->len + n + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        char *p = ctrace__realloc(rq->body, cap);
        if (p == NULL) {
            rq->too_large = true; /* answered with 413: cannot keep it */
            return;
        }
        rq->body = p;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
}

/* ---- The client. ---- */

bool ctrace__admin_from_loopback(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
               in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}
