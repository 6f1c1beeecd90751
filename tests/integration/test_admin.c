/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of the admin endpoint (docs/admin-api.md).
 *
 * Most tests start the real cat_traveler as a child process with its HTTP
 * port and its admin port ephemeral and its token file in a scratch
 * directory, read the two ports from its start-up lines, and drive the
 * endpoint with libcurl: authentication, every endpoint, the errors, trace
 * sessions under load that stop at their limits, event streams whose
 * reader goes away, processes and the state server. Then they send SIGTERM
 * and check that the service exits 0 (which, under AddressSanitizer, also
 * means it leaked nothing).
 *
 * The last tests run an endpoint inside this process, for what the demo
 * has no flag for (loopback reads, the default token file) and for
 * ctrace_admin_stop() with a stream open.
 *
 * Usage: test_admin CAT_TRAVELER [TEST-NAME-GLOB]
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/child.h"
#include "support/http.h"
#include "support/service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctrace/ctrace.h"

extern char **environ;

static const char *traveler_bin;
static char scratch[64]; /* a directory for token files */

/* ---- Child processes. ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* What cat_traveler prints once it listens. */
#define LISTENING "cat_traveler listening on http://127.0.0.1:"

/*
 * Starts cat_traveler (support/service.c) with the token file `token` in
 * the scratch directory and `extra` flags (NULL-terminated, may be NULL).
 */
static int service_start_with(struct service *s,
                              const char *token,
                              const char *const *extra)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", scratch, token);
    return service_start_token(s, traveler_bin, path, extra);
}

static int setup_service(void **state)
{
    struct service *s = malloc(sizeof(*s));
    if (s == NULL || service_start_with(s, "token", NULL) != 0) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* Stops the service; a non-zero exit status (printed) fails the test. */
static int teardown_service(void **state)
{
    struct service *s = *state;
    int status = service_stop(s);
    free(s);
    return status == 0 ? 0 : -1;
}

/* ---- HTTP. ---- */

enum auth { AUTH_TOKEN, AUTH_NONE, AUTH_WRONG };

struct upload {
    size_t left;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct upload *u = arg;
    size_t bytes = size * n < u->left ? size * n : u->left;
    memset(buf, ' ', bytes);
    u->left -= bytes;
    return bytes;
}

/*
 * One request to `port`. `body` is sent as is (NULL: none); with
 * `chunked`, `chunked` spaces are streamed without a Content-Length.
 * Returns 0 when an answer came; `a` must be freed with answer_free().
 */
static int request(CURL *curl,
                   unsigned port,
                   const char *token,
                   const char *method,
                   const char *path,
                   const char *body,
                   size_t chunked,
                   struct answer *a)
{
    CURL *own = curl == NULL ? curl_easy_init() : NULL;
    CURL *c = curl != NULL ? curl : own;
    if (c == NULL)
        return -1;
    memset(a, 0, sizeof(*a));
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    struct curl_slist *headers = answer_request_headers(token);
    struct upload up = {.left = chunked};
    if (chunked > 0)
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 70000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, answer_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, answer_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    if (chunked > 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(headers);
    if (own != NULL)
        curl_easy_cleanup(own);
    if (a->body == NULL)
        a->body = calloc(1, 1);
    return rc == CURLE_OK ? 0 : -1;
}

static const char *token_of(const struct service *s, enum auth auth)
{
    switch (auth) {
    case AUTH_TOKEN:
        return s->token;
    case AUTH_WRONG:
        return "000000000000000000000000000000000000000000000000000000000000000"
               "0";
    case AUTH_NONE:
        break;
    }
    return NULL;
}

/* A request to the admin endpoint. */
static struct answer admin(const struct service *s,
                           const char *method,
                           const char *path,
                           const char *body)
{
    struct answer a;
    if (request(NULL, s->admin_port, s->token, method, path, body, 0, &a) != 0)
        a.status = 0;
    return a;
}

/* A request to the admin endpoint parsed as JSON (new reference). */
static json_t *admin_json(const struct service *s,
                          const char *method,
                          const char *path,
                          const char *body,
                          long expect)
{
    struct answer a = admin(s, method, path, body);
    json_error_t e;
    json_t *v = json_loads(a.body, JSON_DECODE_ANY, &e);
    if (a.status != expect || v == NULL)
        fail_msg("%s %s: expected %ld with JSON, got %ld %s",
                 method,
                 path,
                 expect,
                 a.status,
                 a.body);
    answer_free(&a);
    return v;
}

/*
 * Checks that an answer is the documented error: `status`, {"error":
 * `code`, "detail": ...} with `part` in the detail.
 */
static void assert_error(const struct answer *a,
                         long status,
                         const char *code,
                         const char *part)
{
    json_t *doc = json_loads(a->body, 0, NULL);
    const char *error = json_string_value(json_object_get(doc, "error"));
    const char *detail = json_string_value(json_object_get(doc, "detail"));
    bool ok = a->status == status && error != NULL &&
              strcmp(error, code) == 0 && detail != NULL &&
              (part == NULL || strstr(detail, part) != NULL);
    json_decref(doc);
    if (!ok)
        fail_msg("expected %ld %s with \"%s\", got %ld %s",
                 status,
                 code,
                 part != NULL ? part : "",
                 a->status,
                 a->body);
}

static void expect_error(const struct service *s,
                         const char *method,
                         const char *path,
                         const char *body,
                         long status,
                         const char *code,
                         const char *part)
{
    struct answer a = admin(s, method, path, body);
    assert_error(&a, status, code, part);
    answer_free(&a);
}

/* The demo itself still serves. */
static void assert_service_serves(const struct service *s)
{
    struct answer a;
    assert_int_equal(
        request(NULL, s->port, NULL, "GET", "/health", NULL, 0, &a), 0);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    a = admin(s, "GET", "/health", NULL);
    assert_int_equal(a.status, 200);
    answer_free(&a);
}

/* ---- Load: cats entering and leaving from a thread. ---- */

struct load {
    const struct service *s;
    atomic_bool stop;
    atomic_long requests;
    pthread_t thread;
};

static void *load_run(void *arg)
{
    struct load *l = arg;
    CURL *c = curl_easy_init();
    unsigned i = 0;
    while (c != NULL && !atomic_load(&l->stop)) {
        char body[128];
        snprintf(body,
                 sizeof(body),
                 "{\"cat\":\"load%u\",\"town\":\"Riga\"}",
                 i++ % 16);
        struct answer a;
        if (request(c, l->s->port, NULL, "POST", "/enter", body, 0, &a) == 0)
            atomic_fetch_add(&l->requests, 1);
        answer_free(&a);
        if (request(c, l->s->port, NULL, "POST", "/leave", body, 0, &a) == 0)
            atomic_fetch_add(&l->requests, 1);
        answer_free(&a);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void load_start(struct load *l, const struct service *s)
{
    l->s = s;
    atomic_init(&l->stop, false);
    atomic_init(&l->requests, 0);
    assert_int_equal(pthread_create(&l->thread, NULL, load_run, l), 0);
}

static void load_stop(struct load *l)
{
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
}

/* ---- Event streams. ---- */

/* Starts a session; returns its id. */
static long long start_session(const struct service *s, const char *body)
{
    json_t *v = admin_json(s, "POST", "/api/v1/sessions", body, 201);
    long long id = json_integer_value(json_object_get(v, "id"));
    char events[64];
    snprintf(events, sizeof(events), "/api/v1/sessions/%lld/events", id);
    assert_string_equal(json_string_value(json_object_get(v, "events")),
                        events);
    json_decref(v);
    assert_true(id > 0);
    return id;
}

/* What an event stream said, read to its end. */
struct stream {
    long status;
    char content_type[128];
    size_t trace; /* `trace` events */
    size_t calls; /* ... whose event is a call */
    size_t comments;
    json_t *stopped; /* the `stopped` event's data, or NULL */
    bool bad;        /* a frame that is not what the API says */
    char bad_frame[512];
};

static void stream_free(struct stream *st)
{
    json_decref(st->stopped);
    memset(st, 0, sizeof(*st));
}

static void parse_frame(struct stream *st, const char *frame)
{
    if (frame[0] == ':') {
        st->comments++;
        return;
    }
    char type[32] = "";
    const char *data = NULL;
    if (sscanf(frame, "event: %31[a-z]\n", type) != 1 ||
        (data = strstr(frame, "\ndata: ")) == NULL) {
        st->bad = true;
        snprintf(st->bad_frame, sizeof(st->bad_frame), "%s", frame);
        return;
    }
    data += 7;
    json_t *v = json_loads(data, 0, NULL);
    if (v == NULL || strchr(data, '\n') != NULL) {
        st->bad = true;
        snprintf(st->bad_frame, sizeof(st->bad_frame), "%s", frame);
    } else if (strcmp(type, "trace") == 0) {
        st->trace++;
        json_t *ev = json_object_get(v, "event");
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        if (!json_is_string(json_object_get(v, "text")) || kind == NULL) {
            st->bad = true;
            snprintf(st->bad_frame, sizeof(st->bad_frame), "%s", frame);
        } else if (strcmp(kind, "call") == 0) {
            st->calls++;
        }
    } else if (strcmp(type, "stopped") == 0 && st->stopped == NULL) {
        st->stopped = json_incref(v);
    } else {
        st->bad = true;
        snprintf(st->bad_frame, sizeof(st->bad_frame), "%s", frame);
    }
    json_decref(v);
}

/* Splits what arrived into frames ("...\n\n") and parses the whole ones. */
struct stream_buf {
    struct stream *st;
    char *data;
    size_t len;
    size_t max_frames; /* stop after this many frames (0: never) */
    size_t frames;
};

static size_t on_stream(char *data, size_t size, size_t n, void *arg)
{
    struct stream_buf *b = arg;
    size_t bytes = size * n;
    char *p = realloc(b->data, b->len + bytes + 1);
    if (p == NULL)
        return 0;
    b->data = p;
    memcpy(b->data + b->len, data, bytes);
    b->len += bytes;
    b->data[b->len] = '\0';
    char *end;
    while ((end = strstr(b->data, "\n\n")) != NULL) {
        *end = '\0';
        parse_frame(b->st, b->data);
        b->frames++;
        size_t used = (size_t)(end + 2 - b->data);
        memmove(b->data, end + 2, b->len - used + 1);
        b->len -= used;
    }
    if (b->max_frames > 0 && b->frames >= b->max_frames)
        return 0; /* hang up */
    return bytes;
}

static size_t on_stream_header(char *data, size_t size, size_t n, void *arg)
{
    struct stream *st = arg;
    answer_header_value(data,
                        size * n,
                        "Content-Type:",
                        st->content_type,
                        sizeof(st->content_type));
    return size * n;
}

/*
 * Reads the events of session `id` until the stream ends (or `max_frames`
 * frames came, when not 0, and the reader hangs up), at most `timeout_ms`.
 */
static void read_stream(unsigned port,
                        const char *token,
                        long long id,
                        long timeout_ms,
                        size_t max_frames,
                        struct stream *st)
{
    memset(st, 0, sizeof(*st));
    /* No cmocka assertion here: a reader thread calls this too. */
    CURL *c = curl_easy_init();
    if (c == NULL)
        return;
    char url[128];
    snprintf(url,
             sizeof(url),
             "http://127.0.0.1:%u/api/v1/sessions/%lld/events",
             port,
             id);
    char auth[256];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    struct stream_buf b = {.st = st, .max_frames = max_frames};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_stream_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, st);
    (void)curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    free(b.data);
}

static void assert_stopped(const struct stream *st, const char *reason)
{
    if (st->bad)
        fail_msg("a frame is not as documented: %s", st->bad_frame);
    if (st->stopped == NULL)
        fail_msg("the stream ended without a stopped event (%zu events)",
                 st->trace);
    const char *r = json_string_value(json_object_get(st->stopped, "reason"));
    const char *text = json_string_value(json_object_get(st->stopped, "text"));
    if (r == NULL || strcmp(r, reason) != 0)
        fail_msg("stopped with \"%s\", expected \"%s\"", r ? r : "?", reason);
    assert_non_null(text);
    char line[256];
    snprintf(line, sizeof(line), "%% stopped: %s (", reason);
    if (strstr(text, line) == NULL)
        fail_msg("stopped text \"%s\" lacks \"%s\"", text, line);
    assert_int_equal(json_integer_value(json_object_get(st->stopped, "events")),
                     st->trace);
}

/* The session object of `id` (new reference). */
static json_t *session_of(const struct service *s, long long id)
{
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/sessions/%lld", id);
    return admin_json(s, "GET", path, NULL, 200);
}

/* Waits up to `ms` for session `id` to read as stopped; its reason. */
static bool wait_stopped(const struct service *s,
                         long long id,
                         long ms,
                         char *reason,
                         size_t size)
{
    long long end = child_now_ms() + ms;
    do {
        json_t *v = session_of(s, id);
        const char *state = json_string_value(json_object_get(v, "state"));
        bool stopped = state != NULL && strcmp(state, "stopped") == 0;
        if (stopped)
            snprintf(reason,
                     size,
                     "%s",
                     json_string_value(json_object_get(v, "reason")));
        json_decref(v);
        if (stopped)
            return true;
        sleep_ms(50);
    } while (child_now_ms() < end);
    return false;
}

/* ---- Authentication. ---- */

static void health_needs_no_token(void **state)
{
    struct service *s = *state;
    struct answer a;
    assert_int_equal(
        request(NULL, s->admin_port, NULL, "GET", "/health", NULL, 0, &a), 0);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "{\"status\":\"ok\"}");
    assert_string_equal(a.content_type, "application/json");
    answer_free(&a);
}

static void token_file_is_created_private_with_256_random_bits(void **state)
{
    struct service *s = *state;
    struct stat st;
    assert_int_equal(stat(s->token_file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(strlen(s->token), 64);
    assert_int_equal(strspn(s->token, "0123456789abcdef"), 64);
    assert_non_null(strstr(s->output, s->token_file));
}

static void requests_without_or_with_a_wrong_token_are_refused(void **state)
{
    struct service *s = *state;
    static const char *const paths[][2] = {
        {"GET", "/api/v1/system"},
        {"GET", "/api/v1/points"},
        {"POST", "/api/v1/pattern"},
        {"GET", "/api/v1/sessions"},
        {"POST", "/api/v1/sessions"},
        {"GET", "/api/v1/sessions/1"},
        {"DELETE", "/api/v1/sessions/1"},
        {"GET", "/api/v1/sessions/1/events"},
        {"GET", "/api/v1/procs"},
        {"GET", "/api/v1/procs/window?attr=memory"},
        {"GET", "/api/v1/procs/1"},
        {"GET", "/api/v1/procs/1/state"},
        {"PUT", "/api/v1/procs/1/state"},
        {"GET", "/api/v1/procs/1/status"},
        {"POST", "/api/v1/procs/1/sys"},
        {"GET", "/metrics"},
        {"GET", "/no/such/path"},
        {"POST", "/health"},
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        for (int k = 0; k < 2; k++) {
            enum auth auth = k == 0 ? AUTH_NONE : AUTH_WRONG;
            const char *body = strcmp(paths[i][0], "GET") == 0 ||
                                       strcmp(paths[i][0], "DELETE") == 0
                                   ? NULL
                                   : "{\"spec\":\"cat_traveler\"}";
            struct answer a;
            assert_int_equal(request(NULL,
                                     s->admin_port,
                                     token_of(s, auth),
                                     paths[i][0],
                                     paths[i][1],
                                     body,
                                     0,
                                     &a),
                             0);
            assert_error(&a,
                         401,
                         "unauthorized",
                         auth == AUTH_NONE
                             ? "missing Authorization: Bearer header"
                             : "wrong token");
            answer_free(&a);
        }
    }
    /* A token that is almost right, and one that is longer, are wrong. */
    char almost[128];
    snprintf(almost, sizeof(almost), "%s", s->token);
    almost[63] = almost[63] == '0' ? '1' : '0';
    char longer[160];
    snprintf(longer, sizeof(longer), "%sx", s->token);
    const char *wrong[] = {almost, longer, "", "x"};
    for (size_t i = 0; i < 4; i++) {
        struct answer a;
        assert_int_equal(request(NULL,
                                 s->admin_port,
                                 wrong[i],
                                 "GET",
                                 "/api/v1/system",
                                 NULL,
                                 0,
                                 &a),
                         0);
        assert_int_equal(a.status, 401);
        answer_free(&a);
    }
    /* Nothing was started meanwhile, and everything still serves. */
    json_t *v = admin_json(s, "GET", "/api/v1/sessions", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(v, "sessions")), 0);
    json_decref(v);
    assert_service_serves(s);
}

/* ---- Every endpoint. ---- */

static void system_reports_the_process_and_ctrace_counters(void **state)
{
    struct service *s = *state;
    json_t *v = admin_json(s, "GET", "/api/v1/system", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(v, "pid")), s->pid);
    assert_string_equal(json_string_value(json_object_get(v, "program")),
                        "cat_traveler");
    assert_string_equal(json_string_value(json_object_get(v, "version")),
                        ctrace_version_string());
    static const char *const numbers[] = {"uptime_ms",
                                          "cpu_ms",
                                          "rss_bytes",
                                          "threads",
                                          "processes",
                                          "events",
                                          "dropped",
                                          "points"};
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
        if (!json_is_integer(json_object_get(v, numbers[i])))
            fail_msg("system has no integer \"%s\"", numbers[i]);
    assert_true(json_integer_value(json_object_get(v, "rss_bytes")) > 0);
    assert_true(json_integer_value(json_object_get(v, "threads")) >= 3);
    assert_true(json_integer_value(json_object_get(v, "points")) >= 4);
    json_t *sessions = json_object_get(v, "sessions");
    assert_int_equal(json_integer_value(json_object_get(sessions, "max")), 4);
    assert_int_equal(json_integer_value(json_object_get(sessions, "running")),
                     0);
    json_decref(v);
}

static void points_are_listed_sorted_and_filtered(void **state)
{
    struct service *s = *state;
    json_t *v = admin_json(s, "GET", "/api/v1/points", NULL, 200);
    json_t *points = json_object_get(v, "points");
    assert_true(json_array_size(points) >= 4);
    char prev[256] = "";
    size_t i;
    json_t *p;
    bool enter = false;
    json_array_foreach(points, i, p)
    {
        char key[256];
        snprintf(key,
                 sizeof(key),
                 "%s:%s/%03lld",
                 json_string_value(json_object_get(p, "module")),
                 json_string_value(json_object_get(p, "function")),
                 json_integer_value(json_object_get(p, "arity")));
        assert_true(strcmp(prev, key) <= 0);
        snprintf(prev, sizeof(prev), "%s", key);
        if (strcmp(key, "cat_traveler:enter/002") == 0) {
            enter = true;
            assert_string_equal(json_string_value(json_object_get(p, "file")),
                                "api.c");
            assert_true(json_integer_value(json_object_get(p, "line")) > 0);
            assert_int_equal(json_integer_value(json_object_get(p, "armed")),
                             0);
        }
    }
    assert_true(enter);
    json_decref(v);
    v = admin_json(
        s, "GET", "/api/v1/points?match=cat_traveler:*e*", NULL, 200);
    json_array_foreach(json_object_get(v, "points"), i, p)
    {
        assert_string_equal(json_string_value(json_object_get(p, "module")),
                            "cat_traveler");
        assert_non_null(
            strchr(json_string_value(json_object_get(p, "function")), 'e'));
    }
    assert_true(json_array_size(json_object_get(v, "points")) >= 2);
    json_decref(v);
    v = admin_json(s, "GET", "/api/v1/points?match=nothing_*", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(v, "points")), 0);
    json_decref(v);
}

static void pattern_answers_the_specs_json_form(void **state)
{
    struct service *s = *state;
    json_t *v = admin_json(
        s,
        "POST",
        "/api/v1/pattern",
        "{\"spec\":\"cat_traveler:enter(\\\"Tihon\\\", _) -> return\"}",
        200);
    assert_string_equal(json_string_value(json_object_get(v, "module")),
                        "cat_traveler");
    assert_string_equal(json_string_value(json_object_get(v, "function")),
                        "enter");
    assert_int_equal(json_integer_value(json_object_get(v, "arity")), 2);
    json_decref(v);
}

static void bad_patterns_answer_with_their_column(void **state)
{
    struct service *s = *state;
    const char *spec = "cat_traveler:enter(\\\"Tihon\\\" _)";
    char body[256];
    snprintf(body, sizeof(body), "{\"spec\":\"%s\"}", spec);
    struct answer a = admin(s, "POST", "/api/v1/pattern", body);
    assert_error(&a, 400, "bad_pattern", "expected");
    json_t *v = json_loads(a.body, 0, NULL);
    /* The same column as `ctrace pattern`: the '_' after "Tihon". */
    assert_int_equal(json_integer_value(json_object_get(v, "column")), 28);
    assert_string_equal(json_string_value(json_object_get(v, "spec")),
                        "cat_traveler:enter(\"Tihon\" _)");
    json_decref(v);
    answer_free(&a);
    /* In a session's specs: which spec, where. */
    a = admin(s,
              "POST",
              "/api/v1/sessions",
              "{\"specs\":[\"cat_traveler:enter\",\"cat_traveler:leave(\"]}");
    assert_error(&a, 400, "bad_pattern", NULL);
    v = json_loads(a.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(v, "column")), 20);
    assert_int_equal(json_integer_value(json_object_get(v, "index")), 1);
    assert_string_equal(json_string_value(json_object_get(v, "spec")),
                        "cat_traveler:leave(");
    json_decref(v);
    answer_free(&a);
    /* A spec that selects nothing, and one too broad. */
    expect_error(s,
                 "POST",
                 "/api/v1/sessions",
                 "{\"specs\":[\"cat_travler:enter\"]}",
                 422,
                 "no_match",
                 "did you mean cat_traveler:enter");
    expect_error(s,
                 "POST",
                 "/api/v1/sessions",
                 "{\"specs\":[\"_:enter\"]}",
                 422,
                 "too_broad",
                 NULL);
    expect_error(s,
                 "POST",
                 "/api/v1/sessions",
                 "{\"specs\":[\"cat_traveler:enter\"],\"msgs\":0,"
                 "\"time_ms\":0}",
                 422,
                 "too_broad",
                 "no time, msgs or calls limit");
    assert_service_serves(s);
}

static void bad_json_and_bad_fields_are_bad_requests(void **state)
{
    struct service *s = *state;
    static const char *const cases[][2] = {
        {"{", "not valid JSON"},
        {"[1,2]", "must be a JSON object"},
        {"{\"specs\":[\"cat_traveler\"],\"specs\":[\"x\"]}", "duplicate"},
        {"{\"specs\":[\"cat_traveler\\u0000\"]}", "not valid JSON"},
        {"{\"specs\":\"cat_traveler\"}", "\"specs\" must be"},
        {"{\"specs\":[]}", "\"specs\" must be"},
        {"{\"specs\":[42]}", "must be a string"},
        {"{\"specs\":[\"cat_traveler\"],\"max_event\":1}",
         "unknown field \"max_event\""},
        {"{\"specs\":[\"cat_traveler\"],\"msgs\":-1}", "\"msgs\""},
        {"{\"specs\":[\"cat_traveler\"],\"msgs\":\"ten\"}", "\"msgs\""},
        {"{\"specs\":[\"cat_traveler\"],\"time_ms\":5000000000}",
         "\"time_ms\""},
        {"{\"specs\":[\"cat_traveler\"],\"rate\":\"10\"}", "\"rate\""},
        {"{\"specs\":[\"cat_traveler\"],\"rate\":\"0/100\"}", "\"rate\""},
        {"{\"specs\":[\"cat_traveler\"],\"format\":\"xml\"}", "\"format\""},
        {"{\"specs\":[\"cat_traveler\"],\"force\":1}", "\"force\""},
        {"{\"specs\":[\"cat_traveler\"],\"procs\":{}}", "\"procs\""},
        {"{\"specs\":[\"cat_traveler\"],\"max_queue\":0}", "max_queue"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(s,
                     "POST",
                     "/api/v1/sessions",
                     cases[i][0],
                     400,
                     "bad_request",
                     cases[i][1]);
    /* Invalid UTF-8 in a body. */
    expect_error(s,
                 "POST",
                 "/api/v1/pattern",
                 "{\"spec\":\"cat\xff\"}",
                 400,
                 "bad_request",
                 "not valid JSON");
    expect_error(s,
                 "POST",
                 "/api/v1/pattern",
                 NULL,
                 400,
                 "bad_request",
                 "needs a JSON body");
    expect_error(s,
                 "POST",
                 "/api/v1/pattern",
                 "{\"specs\":\"x\"}",
                 400,
                 "bad_request",
                 "unknown field");
    expect_error(s,
                 "GET",
                 "/api/v1/procs?sort=size",
                 NULL,
                 400,
                 "bad_request",
                 "sort=size");
    expect_error(
        s, "GET", "/api/v1/procs?limit=0", NULL, 400, "bad_request", "limit=0");
    expect_error(
        s, "GET", "/api/v1/procs/window", NULL, 400, "bad_request", "attr=");
    expect_error(s,
                 "GET",
                 "/api/v1/procs/window?attr=memory&ms=60001",
                 NULL,
                 400,
                 "bad_request",
                 "ms=60001");
    /* Nothing started, everything serves. */
    json_t *v = admin_json(s, "GET", "/api/v1/sessions", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(v, "sessions")), 0);
    json_decref(v);
    assert_service_serves(s);
}

static void unknown_processes_sessions_and_paths_are_not_found(void **state)
{
    struct service *s = *state;
    expect_error(s,
                 "GET",
                 "/api/v1/procs/%3C0.99999.0%3E",
                 NULL,
                 404,
                 "no_such_process",
                 "<0.99999.0>");
    expect_error(s,
                 "GET",
                 "/api/v1/procs/no_such_name",
                 NULL,
                 404,
                 "no_such_process",
                 "no process is registered as 'no_such_name'");
    expect_error(s,
                 "GET",
                 "/api/v1/procs/99999/state",
                 NULL,
                 404,
                 "no_such_process",
                 NULL);
    expect_error(s,
                 "POST",
                 "/api/v1/procs/nobody/sys",
                 "{\"command\":\"suspend\"}",
                 404,
                 "no_such_process",
                 NULL);
    expect_error(s,
                 "POST",
                 "/api/v1/sessions",
                 "{\"specs\":[\"cat_traveler\"],\"procs\":[\"nobody\"]}",
                 404,
                 "no_such_process",
                 "nobody");
    expect_error(s,
                 "POST",
                 "/api/v1/sessions",
                 "{\"specs\":[\"cat_traveler\"],\"procs\":[99999]}",
                 404,
                 "no_such_process",
                 "<0.99999.0>");
    expect_error(s,
                 "GET",
                 "/api/v1/sessions/77",
                 NULL,
                 404,
                 "not_found",
                 "no session 77");
    expect_error(s,
                 "DELETE",
                 "/api/v1/sessions/77",
                 NULL,
                 404,
                 "not_found",
                 "no session 77");
    expect_error(s,
                 "GET",
                 "/api/v1/sessions/77/events",
                 NULL,
                 404,
                 "not_found",
                 "no session 77");
    expect_error(s,
                 "GET",
                 "/api/v1/sessions/abc",
                 NULL,
                 404,
                 "not_found",
                 "session ids are numbers");
    expect_error(s, "GET", "/api/v1/nothing", NULL, 404, "not_found", NULL);
    /* "/" is the observer page (test_observer.c); other paths are not. */
    expect_error(s, "GET", "/index.htm", NULL, 404, "not_found", NULL);
    expect_error(s, "GET", "/api", NULL, 404, "not_found", NULL);
    expect_error(
        s, "GET", "/api/v1/procs/1/nothing", NULL, 404, "not_found", NULL);
    /*
     * A process that is not a server has no state: the implicit process of
     * an HTTP thread of the demo, which a request gives one.
     */
    struct answer a;
    assert_int_equal(request(NULL, s->port, NULL, "GET", "/towns", NULL, 0, &a),
                     0);
    answer_free(&a);
    json_t *v = admin_json(s, "GET", "/api/v1/procs", NULL, 200);
    size_t i;
    json_t *p;
    const char *thread = NULL;
    json_array_foreach(json_object_get(v, "procs"), i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "name")),
                   "cat_traveler_srv") != 0)
            thread = json_string_value(json_object_get(p, "pid"));
    }
    assert_non_null(thread);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/procs/%s/state", thread);
    expect_error(s, "GET", path, NULL, 409, "conflict", "is not a server");
    json_decref(v);
    assert_service_serves(s);
}

static void oversized_bodies_are_refused_with_413(void **state)
{
    struct service *s = *state;
    size_t big = 64 * 1024 + 1;
    char *body = malloc(big + 1);
    assert_non_null(body);
    memset(body, ' ', big);
    body[big] = '\0';
    /* From the Content-Length, before the body is read. */
    expect_error(
        s, "POST", "/api/v1/sessions", body, 413, "too_large", "65536 bytes");
    /* Chunked: counted while reading. */
    struct answer a;
    assert_int_equal(request(NULL,
                             s->admin_port,
                             s->token,
                             "POST",
                             "/api/v1/pattern",
                             NULL,
                             big,
                             &a),
                     0);
    assert_error(&a, 413, "too_large", "65536 bytes");
    answer_free(&a);
    /* Exactly the limit is read (and then is not JSON). */
    body[64 * 1024] = '\0';
    expect_error(s,
                 "POST",
                 "/api/v1/sessions",
                 body,
                 400,
                 "bad_request",
                 "not valid JSON");
    free(body);
    assert_service_serves(s);
}

static void wrong_methods_answer_405_with_allow(void **state)
{
    struct service *s = *state;
    static const char *const cases[][3] = {
        {"DELETE", "/api/v1/system", "GET, HEAD"},
        {"POST", "/metrics", "GET, HEAD"},
        {"GET", "/api/v1/pattern", "POST"},
        {"PUT", "/api/v1/sessions", "GET, HEAD, POST"},
        {"POST", "/api/v1/sessions/1", "GET, HEAD, DELETE"},
        {"DELETE", "/api/v1/sessions/1/events", "GET"},
        {"POST", "/api/v1/procs", "GET, HEAD"},
        {"DELETE", "/api/v1/procs/1/state", "GET, HEAD, PUT, PATCH"},
        {"GET", "/api/v1/procs/1/sys", "POST"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct answer a = admin(s, cases[i][0], cases[i][1], NULL);
        assert_error(&a, 405, "method_not_allowed", cases[i][2]);
        assert_string_equal(a.allow, cases[i][2]);
        answer_free(&a);
    }
    assert_service_serves(s);
}

static void metrics_parse_as_prometheus_text(void **state)
{
    struct service *s = *state;
    /* A running session arms a point: its count shows. */
    long long id =
        start_session(s, "{\"specs\":[\"cat_traveler:enter\"],\"msgs\":1000}");
    struct answer a;
    char body[] = "{\"cat\":\"Metric\",\"town\":\"Riga\"}";
    assert_int_equal(
        request(NULL, s->port, NULL, "POST", "/enter", body, 0, &a), 0);
    answer_free(&a);
    sleep_ms(200);
    a = admin(s, "GET", "/metrics", NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.content_type,
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_true(a.len > 0 && a.body[a.len - 1] == '\n');
    bool seen_running = false, seen_events = false, seen_point = false;
    bool seen_queue = false, seen_procs = false;
    char *save = NULL;
    for (char *line = strtok_r(a.body, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            if (strncmp(line, "# HELP ", 7) != 0 &&
                strncmp(line, "# TYPE ", 7) != 0)
                fail_msg("bad comment line: %s", line);
            continue;
        }
        /* name{labels} value */
        size_t name = strspn(line,
                             "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
        const char *p = line + name;
        if (name == 0)
            fail_msg("no metric name: %s", line);
        if (*p == '{') {
            const char *close = strstr(p, "} ");
            if (close == NULL)
                fail_msg("labels not closed: %s", line);
            /* label="value" pairs separated by commas. */
            for (const char *q = p + 1; q < close;) {
                size_t ln = strspn(q,
                                   "abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
                if (ln == 0 || q[ln] != '=' || q[ln + 1] != '"')
                    fail_msg("bad label: %s", line);
                q += ln + 2;
                while (*q != '"') {
                    if (*q == '\\')
                        q++;
                    q++;
                }
                q++;
                if (*q == ',')
                    q++;
            }
            p = close + 1;
        }
        if (*p != ' ')
            fail_msg("no value: %s", line);
        char *end = NULL;
        strtod(p + 1, &end);
        if (end == p + 1 || *end != '\0')
            fail_msg("bad value: %s", line);
        seen_running |= strncmp(line, "ctrace_sessions_running ", 24) == 0;
        seen_events |= strncmp(line, "ctrace_events_total ", 20) == 0;
        seen_procs |=
            strncmp(line, "ctrace_processes{status=\"waiting\"} ", 35) == 0;
        seen_queue |=
            strncmp(line, "ctrace_message_queue_len{pid=\"<0.", 33) == 0 &&
            strstr(line, "name=\"cat_traveler_srv\"") != NULL;
        if (strncmp(
                line,
                "ctrace_point_events_total{point=\"cat_traveler:enter/2\"} ",
                56) == 0) {
            seen_point = true;
            assert_true(atoll(line + 56) >= 1);
        }
    }
    assert_true(seen_running);
    assert_true(seen_events);
    assert_true(seen_procs);
    assert_true(seen_queue);
    assert_true(seen_point);
    answer_free(&a);
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/sessions/%lld", id);
    json_decref(admin_json(s, "DELETE", path, NULL, 200));
}

/* ---- Sessions. ---- */

static void session_under_load_stops_at_its_msgs_limit(void **state)
{
    struct service *s = *state;
    long long id = start_session(s,
                                 "{\"specs\":[\"cat_traveler:enter -> "
                                 "return\",\"cat_traveler:leave\"],"
                                 "\"msgs\":25,\"time_ms\":30000}");
    struct load l;
    load_start(&l, s);
    struct stream st;
    read_stream(s->admin_port, s->token, id, 30000, 0, &st);
    load_stop(&l);
    assert_int_equal(st.status, 200);
    assert_string_equal(st.content_type, "text/event-stream");
    assert_stopped(&st, "msgs limit 25 reached");
    /* Every event counts, calls and returns alike, as in redbug. */
    assert_int_equal(st.trace, 25);
    assert_true(st.calls < 25);
    assert_true(st.comments >= 1);
    stream_free(&st);
    json_t *v = session_of(s, id);
    assert_string_equal(json_string_value(json_object_get(v, "state")),
                        "stopped");
    assert_string_equal(json_string_value(json_object_get(v, "reason")),
                        "msgs limit 25 reached");
    assert_int_equal(json_integer_value(json_object_get(v, "dropped")), 0);
    json_decref(v);
    /* The totals count them. */
    v = admin_json(s, "GET", "/api/v1/system", NULL, 200);
    assert_true(json_integer_value(json_object_get(v, "events")) >= 25);
    json_decref(v);
    assert_service_serves(s);
}

static void session_under_load_stops_at_its_calls_limit(void **state)
{
    struct service *s = *state;
    long long id = start_session(s,
                                 "{\"specs\":[\"cat_traveler:enter -> "
                                 "return\"],\"msgs\":0,\"calls\":7,"
                                 "\"time_ms\":30000}");
    struct load l;
    load_start(&l, s);
    struct stream st;
    read_stream(s->admin_port, s->token, id, 30000, 0, &st);
    load_stop(&l);
    assert_int_equal(st.status, 200);
    assert_stopped(&st, "calls limit 7 reached");
    /* Seven calls; their returns come too and do not count. */
    assert_int_equal(st.calls, 7);
    assert_true(st.trace > 7);
    stream_free(&st);
    assert_service_serves(s);
}

static void session_stops_at_its_time_limit(void **state)
{
    struct service *s = *state;
    long long t0 = child_now_ms();
    long long id = start_session(s,
                                 "{\"specs\":[\"cat_traveler:enter\"],"
                                 "\"msgs\":100000,\"time_ms\":700,"
                                 "\"format\":\"recon\"}");
    struct stream st;
    read_stream(s->admin_port, s->token, id, 20000, 0, &st);
    long long took = child_now_ms() - t0;
    assert_stopped(&st, "time limit 700 ms reached");
    assert_in_range(took, 600, 10000);
    stream_free(&st);
}

static void counting_sessions_end_with_their_report(void **state)
{
    struct service *s = *state;
    long long id = start_session(s,
                                 "{\"specs\":[\"cat_traveler:enter -> "
                                 "count\"],\"time_ms\":1000}");
    for (int i = 0; i < 3; i++) {
        char body[64];
        snprintf(
            body, sizeof(body), "{\"cat\":\"Count%d\",\"town\":\"Oslo\"}", i);
        struct answer a;
        assert_int_equal(
            request(NULL, s->port, NULL, "POST", "/enter", body, 0, &a), 0);
        answer_free(&a);
    }
    struct stream st;
    read_stream(s->admin_port, s->token, id, 20000, 0, &st);
    assert_stopped(&st, "time limit 1000 ms reached");
    assert_int_equal(st.trace, 0);
    const char *text = json_string_value(json_object_get(st.stopped, "text"));
    if (strstr(text, "cat_traveler:enter/2") == NULL)
        fail_msg("no count report in: %s", text);
    stream_free(&st);
}

static void session_trips_its_rate_limit(void **state)
{
    struct service *s = *state;
    long long id = start_session(s,
                                 "{\"specs\":[\"cat_traveler:enter\"],"
                                 "\"msgs\":100000,\"time_ms\":30000,"
                                 "\"rate\":\"5/10000\"}");
    struct load l;
    load_start(&l, s);
    struct stream st;
    read_stream(s->admin_port, s->token, id, 30000, 0, &st);
    load_stop(&l);
    assert_stopped(&st, "rate limit 5/10000 ms tripped");
    assert_int_equal(st.calls, 5);
    stream_free(&st);
}

static void events_nobody_reads_are_bounded_by_max_queue(void **state)
{
    struct service *s = *state;
    long long id = start_session(s,
                                 "{\"specs\":[\"cat_traveler:enter\",\"cat_"
                                 "traveler:leave\"],\"msgs\":100000,"
                                 "\"time_ms\":30000,\"max_queue\":5}");
    struct load l;
    load_start(&l, s);
    char reason[128] = "";
    bool stopped = wait_stopped(s, id, 10000, reason, sizeof(reason));
    load_stop(&l);
    assert_true(stopped);
    assert_string_equal(reason, "queue overflow: consumer too slow");
    struct stream st;
    read_stream(s->admin_port, s->token, id, 10000, 0, &st);
    assert_stopped(&st, "queue overflow: consumer too slow");
    assert_in_range(st.trace, 1, 5);
    assert_true(json_integer_value(json_object_get(st.stopped, "dropped")) >=
                1);
    stream_free(&st);
    assert_service_serves(s);
}

static void deleting_a_session_stops_it_by_user(void **state)
{
    struct service *s = *state;
    long long id = start_session(
        s, "{\"specs\":[\"cat_traveler\"],\"msgs\":1000,\"time_ms\":60000}");
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/sessions/%lld", id);
    json_t *v = admin_json(s, "DELETE", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(v, "state")),
                        "stopped");
    assert_string_equal(json_string_value(json_object_get(v, "reason")),
                        "stopped by user");
    json_decref(v);
    /* Its events are still there to read, ending with the reason. */
    struct stream st;
    read_stream(s->admin_port, s->token, id, 10000, 0, &st);
    assert_stopped(&st, "stopped by user");
    stream_free(&st);
    /* Deleting again answers the same. */
    v = admin_json(s, "DELETE", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(v, "reason")),
                        "stopped by user");
    json_decref(v);
}

/* Opens the event stream on a raw socket; returns the socket. */
static int raw_stream(const struct service *s, long long id)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)s->admin_port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    char req[512];
    int n = snprintf(req,
                     sizeof(req),
                     "GET /api/v1/sessions/%lld/events HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer %s\r\n\r\n",
                     id,
                     s->token);
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    return fd;
}

static void reader_that_goes_away_leaves_no_session_behind(void **state)
{
    struct service *s = *state;
    /* Mid-stream, while events flow. */
    long long id = start_session(
        s,
        "{\"specs\":[\"cat_traveler:enter\",\"cat_traveler:leave\"],"
        "\"msgs\":1000000,\"time_ms\":60000}");
    struct load l;
    load_start(&l, s);
    struct stream st;
    read_stream(s->admin_port, s->token, id, 20000, 20, &st);
    assert_true(st.trace >= 10);
    stream_free(&st);
    char reason[128] = "";
    bool stopped = wait_stopped(s, id, 5000, reason, sizeof(reason));
    load_stop(&l);
    assert_true(stopped);
    assert_string_equal(reason, "reader went away");
    /* Idle: the reader hangs up while its stream waits for events. */
    id = start_session(
        s,
        "{\"specs\":[\"cat_traveler:towns\"],\"msgs\":10,\"time_ms\":60000}");
    int fd = raw_stream(s, id);
    char buf[4096];
    size_t got =
        child_read_until(fd, buf, sizeof(buf), 0, ": ctrace session", 5000);
    assert_true(got > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    /* A quiet stream has a heartbeat every 5 s. */
    long long t0 = child_now_ms();
    child_read_until(fd, buf, sizeof(buf), got, ": keepalive", 9000);
    assert_non_null(strstr(buf, ": keepalive"));
    assert_in_range(child_now_ms() - t0, 3000, 9000);
    close(fd);
    stopped = wait_stopped(s, id, 5000, reason, sizeof(reason));
    assert_true(stopped);
    assert_string_equal(reason, "reader went away");
    json_t *v = admin_json(s, "GET", "/api/v1/system", NULL, 200);
    json_t *sessions = json_object_get(v, "sessions");
    assert_int_equal(json_integer_value(json_object_get(sessions, "running")),
                     0);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(v, "streams"), "open")),
                     0);
    json_decref(v);
    assert_service_serves(s);
}

static void session_without_a_reader_is_stopped(void **state)
{
    struct service *s = *state;
    long long id = start_session(
        s, "{\"specs\":[\"cat_traveler\"],\"msgs\":10,\"time_ms\":60000}");
    char reason[128] = "";
    assert_true(wait_stopped(s, id, 20000, reason, sizeof(reason)));
    assert_string_equal(reason, "no reader");
}

static void sessions_and_streams_are_limited(void **state)
{
    struct service *s = *state;
    const char *body =
        "{\"specs\":[\"cat_traveler\"],\"msgs\":10,\"time_ms\":60000}";
    long long ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = start_session(s, body);
    expect_error(s,
                 "POST",
                 "/api/v1/sessions",
                 body,
                 429,
                 "too_many",
                 "4 sessions are running");
    /* A second reader of one session: 409. */
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = raw_stream(s, ids[i]);
        char buf[2048];
        child_read_until(fds[i], buf, sizeof(buf), 0, ": ctrace session", 5000);
        assert_non_null(strstr(buf, "HTTP/1.1 200"));
    }
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/sessions/%lld/events", ids[0]);
    expect_error(s, "GET", path, NULL, 429, "too_many", "event streams");
    json_t *v = admin_json(s, "GET", "/api/v1/sessions", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(v, "sessions")), 4);
    json_decref(v);
    close(fds[3]);
    char reason[128];
    assert_true(wait_stopped(s, ids[3], 5000, reason, sizeof(reason)));
    sleep_ms(100);
    expect_error(s, "GET", path, NULL, 409, "conflict", "have a reader");
    /* A slot is free again. */
    long long more = start_session(s, body);
    snprintf(path, sizeof(path), "/api/v1/sessions/%lld", more);
    json_decref(admin_json(s, "DELETE", path, NULL, 200));
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    assert_service_serves(s);
}

/* ---- Processes. ---- */

static void procs_are_listed_sorted_windowed_and_described(void **state)
{
    struct service *s = *state;
    /* The demo's HTTP threads become processes with their first request. */
    struct answer a;
    assert_int_equal(request(NULL, s->port, NULL, "GET", "/towns", NULL, 0, &a),
                     0);
    answer_free(&a);
    json_t *v = admin_json(s, "GET", "/api/v1/procs", NULL, 200);
    json_t *procs = json_object_get(v, "procs");
    assert_true(json_array_size(procs) >= 2);
    size_t i;
    json_t *p;
    const char *srv_pid = NULL;
    json_array_foreach(procs, i, p)
    {
        static const char *const fields[] = {"pid",
                                             "name",
                                             "label",
                                             "initial_call",
                                             "current",
                                             "status",
                                             "memory",
                                             "reductions",
                                             "message_queue_len"};
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
            if (json_object_get(p, fields[k]) == NULL)
                fail_msg("a process has no \"%s\"", fields[k]);
        if (strcmp(json_string_value(json_object_get(p, "name")),
                   "cat_traveler_srv") == 0)
            srv_pid = json_string_value(json_object_get(p, "pid"));
    }
    assert_non_null(srv_pid);
    char srv[32];
    snprintf(srv, sizeof(srv), "%s", srv_pid);
    json_decref(v);

    v = admin_json(s, "GET", "/api/v1/procs?limit=1", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(v, "procs")), 1);
    assert_true(json_integer_value(json_object_get(v, "total")) >= 2);
    json_decref(v);

    static const char *const attrs[] = {
        "memory", "reductions", "message_queue_len"};
    for (size_t k = 0; k < 3; k++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/procs?sort=%s&limit=3", attrs[k]);
        v = admin_json(s, "GET", path, NULL, 200);
        procs = json_object_get(v, "procs");
        assert_in_range(json_array_size(procs), 1, 3);
        json_int_t prev = INT64_MAX;
        json_array_foreach(procs, i, p)
        {
            json_int_t value = json_integer_value(json_object_get(p, "value"));
            assert_true(value <= prev);
            prev = value;
        }
        json_decref(v);
    }

    long long t0 = child_now_ms();
    v = admin_json(s,
                   "GET",
                   "/api/v1/procs/window?attr=reductions&limit=5&ms=300",
                   NULL,
                   200);
    assert_true(child_now_ms() - t0 >= 250);
    assert_string_equal(json_string_value(json_object_get(v, "attr")),
                        "reductions");
    assert_int_equal(json_integer_value(json_object_get(v, "ms")), 300);
    assert_in_range(json_array_size(json_object_get(v, "procs")), 1, 5);
    json_decref(v);

    /* Info by pid (both spellings) and by registered name. */
    char path[128];
    unsigned n = 0;
    assert_int_equal(sscanf(srv, "<0.%u.0>", &n), 1);
    const char *refs[3];
    char by_number[16], escaped[64];
    snprintf(by_number, sizeof(by_number), "%u", n);
    snprintf(escaped, sizeof(escaped), "%%3C0.%u.0%%3E", n);
    refs[0] = by_number;
    refs[1] = escaped;
    refs[2] = "cat_traveler_srv";
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof(path), "/api/v1/procs/%s", refs[k]);
        v = admin_json(s, "GET", path, NULL, 200);
        assert_string_equal(json_string_value(json_object_get(v, "pid")), srv);
        assert_string_equal(json_string_value(json_object_get(v, "kind")),
                            "server");
        assert_true(json_is_array(json_object_get(v, "links")));
        assert_true(json_is_integer(json_object_get(v, "tid")));
        assert_true(json_is_integer(json_object_get(v, "start_us")));
        json_decref(v);
    }
    /* A session for one process, by name. */
    long long id = start_session(s,
                                 "{\"specs\":[\"cat_traveler\"],\"procs\":"
                                 "[\"cat_traveler_srv\"],\"msgs\":5}");
    snprintf(path, sizeof(path), "/api/v1/sessions/%lld", id);
    json_decref(admin_json(s, "DELETE", path, NULL, 200));
}

/* ---- The state server. ---- */

static void state_server_state_status_and_sys(void **state)
{
    struct service *s = *state;
    struct answer a;
    char body[] = "{\"cat\":\"Tihon\",\"town\":\"Riga\"}";
    assert_int_equal(
        request(NULL, s->port, NULL, "POST", "/enter", body, 0, &a), 0);
    answer_free(&a);

    json_t *v =
        admin_json(s, "GET", "/api/v1/procs/cat_traveler_srv/state", NULL, 200);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(v, "state"), "cats"), "Tihon")),
        "Riga");
    assert_non_null(
        strstr(json_string_value(json_object_get(v, "pid")), "<0."));
    json_decref(v);

    /* A replacement that does not hold together is rejected... */
    expect_error(s,
                 "PUT",
                 "/api/v1/procs/cat_traveler_srv/state",
                 "{\"cats\":{\"Tihon\":\"Paris\"},\"towns\":{}}",
                 422,
                 "rejected",
                 "Tihon");
    expect_error(s,
                 "PUT",
                 "/api/v1/procs/cat_traveler_srv/state",
                 "{\"cats\":",
                 400,
                 "bad_request",
                 "not valid JSON");
    v = admin_json(s, "GET", "/api/v1/procs/cat_traveler_srv/state", NULL, 200);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(v, "state"), "cats"), "Tihon")),
        "Riga");
    json_decref(v);
    /* ... and one that does replaces the state. */
    v = admin_json(s,
                   "PUT",
                   "/api/v1/procs/cat_traveler_srv/state",
                   "{\"cats\":{\"Tihon\":\"Paris\"},\"towns\":{\"Paris\":["
                   "\"Tihon\"]},\"visits\":7}",
                   200);
    assert_string_equal(json_string_value(json_object_get(v, "result")), "ok");
    json_decref(v);
    assert_int_equal(request(NULL, s->port, NULL, "GET", "/cats", NULL, 0, &a),
                     0);
    assert_string_equal(a.body, "{\"cats\":{\"Tihon\":\"Paris\"}}");
    answer_free(&a);

    v = admin_json(
        s, "GET", "/api/v1/procs/cat_traveler_srv/status", NULL, 200);
    assert_true(json_is_object(v));
    json_decref(v);

    static const char *const ok[] = {
        "{\"command\":\"statistics\",\"action\":\"on\"}",
        "{\"command\":\"log\",\"action\":\"on\",\"n\":5}",
        "{\"command\":\"trace\",\"on\":false}",
        "{\"command\":\"suspend\"}",
        "{\"command\":\"resume\"}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = admin_json(
            s, "POST", "/api/v1/procs/cat_traveler_srv/sys", ok[i], 200);
        assert_string_equal(json_string_value(json_object_get(v, "result")),
                            "ok");
        json_decref(v);
    }
    assert_int_equal(request(NULL, s->port, NULL, "GET", "/towns", NULL, 0, &a),
                     0);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    v = admin_json(s,
                   "POST",
                   "/api/v1/procs/cat_traveler_srv/sys",
                   "{\"command\":\"statistics\",\"action\":\"get\"}",
                   200);
    json_t *stats = json_object_get(v, "statistics");
    assert_true(json_integer_value(json_object_get(stats, "messages_in")) >= 1);
    assert_true(json_is_integer(json_object_get(stats, "queue_len")));
    json_decref(v);
    v = admin_json(s,
                   "POST",
                   "/api/v1/procs/cat_traveler_srv/sys",
                   "{\"command\":\"log\",\"action\":\"get\"}",
                   200);
    json_t *log = json_object_get(v, "log");
    assert_true(json_array_size(log) >= 1);
    assert_non_null(strstr(json_string_value(json_array_get(log, 0)), "*DBG*"));
    json_decref(v);
    json_decref(admin_json(s,
                           "POST",
                           "/api/v1/procs/cat_traveler_srv/sys",
                           "{\"command\":\"log\",\"action\":\"off\"}",
                           200));
    json_decref(admin_json(s,
                           "POST",
                           "/api/v1/procs/cat_traveler_srv/sys",
                           "{\"command\":\"statistics\",\"action\":\"off\"}",
                           200));
    expect_error(s,
                 "POST",
                 "/api/v1/procs/cat_traveler_srv/sys",
                 "{\"command\":\"statistics\",\"action\":\"get\"}",
                 409,
                 "conflict",
                 "statistics are off");
    static const char *const badsys[][2] = {
        {"{}", "\"command\""},
        {"{\"command\":\"dance\"}", "unknown command"},
        {"{\"command\":\"trace\"}", "\"on\""},
        {"{\"command\":\"log\",\"action\":\"sing\"}", "\"action\""},
        {"{\"command\":\"log\",\"action\":\"on\",\"n\":0}", "\"n\""},
        {"{\"command\":\"suspend\",\"now\":true}", "unknown field"},
    };
    for (size_t i = 0; i < sizeof(badsys) / sizeof(badsys[0]); i++)
        expect_error(s,
                     "POST",
                     "/api/v1/procs/cat_traveler_srv/sys",
                     badsys[i][0],
                     400,
                     "bad_request",
                     badsys[i][1]);
    assert_service_serves(s);
}

/* ---- Start-up of the demo. ---- */

static void group_readable_token_file_is_refused(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/open-token", scratch);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("abcdef\n", f);
    fclose(f);
    chmod(path, 0640);
    char *argv[] = {(char *)traveler_bin,
                    "--port",
                    "0",
                    "--admin-port",
                    "0",
                    "--token-file",
                    path,
                    NULL};
    int fd;
    pid_t pid = child_spawn(argv, &fd, true);
    assert_true(pid > 0);
    char out[4096];
    child_read_until(fd, out, sizeof(out), 0, NULL, 20000);
    close(fd);
    assert_int_equal(child_wait_exit(pid, 10000), 1);
    if (strstr(out, "is open to other users (mode 0640)") == NULL ||
        strstr(out, "chmod 600") == NULL)
        fail_msg("no clear message: %s", out);
}

static void existing_token_file_is_read_trimmed(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/own-token", scratch);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "  my-secret-token \n\n", 20), 20);
    close(fd);
    struct service s;
    assert_int_equal(service_start_with(&s, "own-token", NULL), 0);
    /* Checked after the service is stopped, so a failure leaves none. */
    bool trimmed = strcmp(s.token, "my-secret-token") == 0;
    struct answer a = admin(&s, "GET", "/api/v1/system", NULL);
    long status = a.status;
    answer_free(&a);
    assert_int_equal(service_stop(&s), 0);
    assert_true(trimmed);
    assert_int_equal(status, 200);
}

static void no_admin_flag_turns_the_endpoint_off(void **state)
{
    char *argv[] = {(char *)traveler_bin, "--port", "0", "--no-admin", NULL};
    int fd;
    pid_t pid = child_spawn(argv, &fd, true);
    assert_true(pid > 0);
    char out[4096];
    child_read_until(fd, out, sizeof(out), 0, LISTENING, 20000);
    assert_non_null(strstr(out, LISTENING));
    assert_null(strstr(out, "admin endpoint"));
    kill(pid, SIGTERM);
    child_read_until(fd, out, sizeof(out), 0, NULL, 20000);
    close(fd);
    assert_int_equal(child_wait_exit(pid, 20000), 0);
}

static void busy_admin_port_asked_for_exits_1(void **state)
{
    struct service *s = *state;
    char port[16];
    snprintf(port, sizeof(port), "%u", s->admin_port);
    char *argv[] = {(char *)traveler_bin,
                    "--port",
                    "0",
                    "--admin-port",
                    port,
                    "--token-file",
                    s->token_file,
                    NULL};
    int fd;
    pid_t pid = child_spawn(argv, &fd, true);
    assert_true(pid > 0);
    char out[4096];
    child_read_until(fd, out, sizeof(out), 0, NULL, 20000);
    close(fd);
    assert_int_equal(child_wait_exit(pid, 10000), 1);
    assert_non_null(strstr(out, "Address already in use"));
}

/* ---- An endpoint inside this process. ---- */

static int traced_add(int a, int b)
{
    CTRACE_CALL(test_admin, add, a, b);
    CTRACE_RETURN(a + b);
}

static void opts_init_sets_the_documented_defaults(void **state)
{
    struct ctrace_admin_opts o;
    memset(&o, 0xab, sizeof(o));
    ctrace_admin_opts_init(&o);
    assert_string_equal(o.bind, "127.0.0.1");
    assert_int_equal(o.port, 8081);
    assert_null(o.token_file);
    assert_false(o.allow_loopback_reads);
    assert_int_equal(o.max_sessions, 4);
    assert_int_equal(o.max_streams, 4);
    assert_int_equal(o.max_body, 64 * 1024);
}

static void start_fails_with_a_precise_error(void **state)
{
    struct ctrace_admin_opts o;
    ctrace_admin_opts_init(&o);
    char token[128];
    snprintf(token, sizeof(token), "%s/inproc-token", scratch);
    o.token_file = token;
    o.port = 0;
    struct ctrace_error err = {0};
    o.bind = "localhost";
    assert_null(ctrace_admin_start(&o, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_non_null(strstr(err.text, "not an IPv4 or IPv6 address"));
    o.bind = "127.0.0.1";
    o.max_sessions = 0;
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_admin_start(&o, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_non_null(strstr(err.text, "max_sessions"));
    o.max_sessions = 4;
    struct ctrace_admin *first = ctrace_admin_start(&o, &err);
    assert_non_null(first);
    o.port = ctrace_admin_port(first);
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_admin_start(&o, &err));
    assert_int_equal(err.code, -EADDRINUSE);
    assert_non_null(strstr(err.text, "cannot listen on 127.0.0.1 port"));
    ctrace_admin_stop(first);
    /* An empty token file, and a directory. */
    char empty[128];
    snprintf(empty, sizeof(empty), "%s/empty-token", scratch);
    int fd = open(empty, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    close(fd);
    o.port = 0;
    o.token_file = empty;
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_admin_start(&o, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_non_null(strstr(err.text, "is empty"));
    o.token_file = scratch;
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_admin_start(&o, &err));
    assert_non_null(strstr(err.text, "not a regular file"));
}

static void default_token_file_lives_in_home_dot_ctrace(void **state)
{
    char home[128];
    snprintf(home, sizeof(home), "%s/home", scratch);
    assert_int_equal(mkdir(home, 0755), 0);
    char *old = getenv("HOME") != NULL ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", home, 1);
    struct ctrace_admin_opts o;
    ctrace_admin_opts_init(&o);
    o.port = 0;
    struct ctrace_error err = {0};
    struct ctrace_admin *a = ctrace_admin_start(&o, &err);
    if (old != NULL)
        setenv("HOME", old, 1);
    else
        unsetenv("HOME");
    free(old);
    if (a == NULL)
        fail_msg("start: %s", err.text);
    char dir[160], file[192];
    snprintf(dir, sizeof(dir), "%s/.ctrace", home);
    snprintf(file, sizeof(file), "%s/.ctrace/token", home);
    assert_string_equal(ctrace_admin_token_file(a), file);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    ctrace_admin_stop(a);
}

static void loopback_reads_may_go_without_a_token(void **state)
{
    struct ctrace_admin_opts o;
    ctrace_admin_opts_init(&o);
    char token[128];
    snprintf(token, sizeof(token), "%s/inproc-token", scratch);
    o.token_file = token;
    o.port = 0;
    o.allow_loopback_reads = true;
    struct ctrace_error err = {0};
    struct ctrace_admin *a = ctrace_admin_start(&o, &err);
    if (a == NULL)
        fail_msg("start: %s", err.text);
    unsigned port = ctrace_admin_port(a);
    struct answer ans;
    assert_int_equal(
        request(NULL, port, NULL, "GET", "/api/v1/system", NULL, 0, &ans), 0);
    assert_int_equal(ans.status, 200);
    answer_free(&ans);
    assert_int_equal(
        request(NULL, port, NULL, "GET", "/api/v1/points", NULL, 0, &ans), 0);
    assert_int_equal(ans.status, 200);
    answer_free(&ans);
    /* Writes still need it, and a wrong token is still wrong. */
    assert_int_equal(request(NULL,
                             port,
                             NULL,
                             "POST",
                             "/api/v1/sessions",
                             "{\"specs\":[\"test_admin\"]}",
                             0,
                             &ans),
                     0);
    assert_int_equal(ans.status, 401);
    answer_free(&ans);
    assert_int_equal(
        request(NULL, port, "wrong", "GET", "/api/v1/system", NULL, 0, &ans),
        0);
    assert_int_equal(ans.status, 401);
    answer_free(&ans);
    ctrace_admin_stop(a);
}

struct inproc_reader {
    unsigned port;
    char token[128];
    long long id;
    struct stream st;
};

static void *inproc_read(void *arg)
{
    struct inproc_reader *r = arg;
    read_stream(r->port, r->token, r->id, 20000, 0, &r->st);
    return NULL;
}

static void stopping_the_endpoint_ends_its_sessions_and_streams(void **state)
{
    struct ctrace_admin_opts o;
    ctrace_admin_opts_init(&o);
    char token[128];
    snprintf(token, sizeof(token), "%s/inproc-token", scratch);
    o.token_file = token;
    o.port = 0;
    struct ctrace_error err = {0};
    struct ctrace_admin *a = ctrace_admin_start(&o, &err);
    if (a == NULL)
        fail_msg("start: %s", err.text);
    struct service s = {.admin_port = ctrace_admin_port(a)};
    FILE *f = fopen(token, "r");
    assert_non_null(f);
    assert_non_null(fgets(s.token, sizeof(s.token), f));
    fclose(f);
    s.token[strcspn(s.token, "\n")] = '\0';
    long long id = start_session(&s,
                                 "{\"specs\":[\"test_admin:add -> return\"],"
                                 "\"msgs\":100,\"time_ms\":60000}");
    /* A session nobody reads, too. */
    long long idle = start_session(
        &s, "{\"specs\":[\"test_admin\"],\"msgs\":100,\"time_ms\":60000}");
    (void)idle;
    struct inproc_reader r = {.port = s.admin_port, .id = id};
    snprintf(r.token, sizeof(r.token), "%s", s.token);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, inproc_read, &r), 0);
    sleep_ms(300);
    int sum = 0;
    for (int i = 0; i < 3; i++)
        sum += traced_add(i, 1);
    assert_int_equal(sum, 6);
    sleep_ms(300);
    long long t0 = child_now_ms();
    ctrace_admin_stop(a);
    assert_true(child_now_ms() - t0 < 5000);
    pthread_join(t, NULL);
    assert_stopped(&r.st, "admin endpoint stopped");
    assert_int_equal(r.st.calls, 3);
    assert_int_equal(r.st.trace, 6);
    stream_free(&r.st);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CAT_TRAVELER [TEST-NAME-GLOB]\n", argv[0]);
        return 2;
    }
    traveler_bin = argv[1];
    if (argc > 2)
        cmocka_set_test_filter(argv[2]);
    snprintf(scratch, sizeof(scratch), "/tmp/test_admin.XXXXXX");
    if (mkdtemp(scratch) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define WITH_SERVICE(t) \
    cmocka_unit_test_setup_teardown(t, setup_service, teardown_service)
    const struct CMUnitTest tests[] = {
        WITH_SERVICE(health_needs_no_token),
        WITH_SERVICE(token_file_is_created_private_with_256_random_bits),
        WITH_SERVICE(requests_without_or_with_a_wrong_token_are_refused),
        WITH_SERVICE(system_reports_the_process_and_ctrace_counters),
        WITH_SERVICE(points_are_listed_sorted_and_filtered),
        WITH_SERVICE(pattern_answers_the_specs_json_form),
        WITH_SERVICE(bad_patterns_answer_with_their_column),
        WITH_SERVICE(bad_json_and_bad_fields_are_bad_requests),
        WITH_SERVICE(unknown_processes_sessions_and_paths_are_not_found),
        WITH_SERVICE(oversized_bodies_are_refused_with_413),
        WITH_SERVICE(wrong_methods_answer_405_with_allow),
        WITH_SERVICE(metrics_parse_as_prometheus_text),
        WITH_SERVICE(session_under_load_stops_at_its_msgs_limit),
        WITH_SERVICE(session_under_load_stops_at_its_calls_limit),
        WITH_SERVICE(session_stops_at_its_time_limit),
        WITH_SERVICE(counting_sessions_end_with_their_report),
        WITH_SERVICE(session_trips_its_rate_limit),
        WITH_SERVICE(events_nobody_reads_are_bounded_by_max_queue),
        WITH_SERVICE(deleting_a_session_stops_it_by_user),
        WITH_SERVICE(reader_that_goes_away_leaves_no_session_behind),
        WITH_SERVICE(session_without_a_reader_is_stopped),
        WITH_SERVICE(sessions_and_streams_are_limited),
        WITH_SERVICE(procs_are_listed_sorted_windowed_and_described),
        WITH_SERVICE(state_server_state_status_and_sys),
        cmocka_unit_test(group_readable_token_file_is_refused),
        cmocka_unit_test(existing_token_file_is_read_trimmed),
        cmocka_unit_test(no_admin_flag_turns_the_endpoint_off),
        WITH_SERVICE(busy_admin_port_asked_for_exits_1),
        cmocka_unit_test(opts_init_sets_the_documented_defaults),
        cmocka_unit_test(start_fails_with_a_precise_error),
        cmocka_unit_test(default_token_file_lives_in_home_dot_ctrace),
        cmocka_unit_test(loopback_reads_may_go_without_a_token),
        cmocka_unit_test(stopping_the_endpoint_ends_its_sessions_and_streams),
    };
#undef WITH_SERVICE
    int failed = cmocka_run_group_tests_name("admin", tests, NULL, NULL);
    curl_global_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", scratch);
    return failed;
}
