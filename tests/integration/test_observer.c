/* SPDX-License-Identifier: MIT */
/*
 * The admin endpoint's side of the observer page (docs/observer.md), on an
 * endpoint started in this process on an ephemeral port and asked over
 * HTTP with libcurl: the page's files and their headers, the refusal of
 * other origins and of DNS-rebound names, the history the charts draw, and
 * the page's address. The page itself runs in a browser in
 * tests/browser/observer.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctrace/admin.h"
#include "ctrace/ctrace.h"
#include "ctrace/proc.h"
#include "ctrace/server.h"
#include "support/http.h"

static char scratch[64];

/*
 * One request to the endpoint on `port`, with the token when not NULL,
 * `body` when not NULL and the extra header lines `h1` and `h2` when not
 * NULL. Fails the test when no answer comes.
 */
static struct answer request(unsigned port,
                             const char *token,
                             const char *method,
                             const char *path,
                             const char *body,
                             const char *h1,
                             const char *h2)
{
    struct answer a = {0};
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    struct curl_slist *headers = answer_request_headers(token);
    if (h1 != NULL)
        headers = curl_slist_append(headers, h1);
    if (h2 != NULL)
        headers = curl_slist_append(headers, h2);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, answer_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, answer_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (a.body == NULL)
        a.body = calloc(1, 1);
    return a;
}

struct endpoint {
    struct ctrace_admin *admin;
    unsigned port;
    char token[128];
};

/* Starts an endpoint with `token_text` in a new token file (NULL: made
 * by the endpoint), loopback reads allowed or not, read-only or not. */
static void endpoint_start_with(struct endpoint *e,
                                const char *token_text,
                                bool loopback_reads,
                                bool read_only)
{
    static unsigned n;
    char file[128];
    snprintf(file, sizeof(file), "%s/token%u", scratch, n++);
    if (token_text != NULL) {
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fprintf(f, "%s\n", token_text);
        fclose(f);
        assert_int_equal(chmod(file, 0600), 0);
    }
    struct ctrace_admin_opts o;
    ctrace_admin_opts_init(&o);
    o.port = 0;
    o.token_file = file;
    o.allow_loopback_reads = loopback_reads;
    o.read_only = read_only;
    struct ctrace_error err = {0};
    e->admin = ctrace_admin_start(&o, &err);
    if (e->admin == NULL)
        fail_msg("start: %s", err.text);
    e->port = ctrace_admin_port(e->admin);
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    assert_non_null(fgets(e->token, sizeof(e->token), f));
    fclose(f);
    e->token[strcspn(e->token, "\n")] = '\0';
}

static void
endpoint_start(struct endpoint *e, const char *token_text, bool loopback_reads)
{
    endpoint_start_with(e, token_text, loopback_reads, false);
}

/* ---- The page's files. ---- */

static void page_is_served_without_a_token_with_its_policy(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, NULL, false);
    struct answer a = request(e.port, NULL, "GET", "/", NULL, NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr(a.body, "<title>ctrace observer</title>"));
    assert_non_null(strstr(a.body, "src=\"observer.js\""));
    /* Its own files only: no inline script, no other origin, no frames. */
    assert_non_null(strstr(a.csp, "default-src 'none'"));
    assert_non_null(strstr(a.csp, "script-src 'self'"));
    assert_non_null(strstr(a.csp, "connect-src 'self'"));
    assert_non_null(strstr(a.csp, "frame-ancestors 'none'"));
    assert_null(strstr(a.csp, "unsafe-inline"));
    assert_string_equal(a.cache, "no-cache");
    assert_true(strlen(a.etag) > 2);
    char match[96];
    snprintf(match, sizeof(match), "If-None-Match: %s", a.etag);
    answer_free(&a);
    /* Revalidation: 304 and no body. */
    a = request(e.port, NULL, "GET", "/", NULL, match, NULL);
    assert_int_equal(a.status, 304);
    assert_int_equal(a.len, 0);
    answer_free(&a);
    a = request(e.port, NULL, "GET", "/index.html", NULL, match, NULL);
    assert_int_equal(a.status, 304);
    answer_free(&a);

    a = request(e.port, NULL, "GET", "/observer.js", NULL, NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.content_type, "text/javascript; charset=utf-8");
    assert_non_null(strstr(a.body, "Authorization"));
    size_t total = a.len;
    answer_free(&a);
    a = request(e.port, NULL, "GET", "/observer.css", NULL, NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.content_type, "text/css; charset=utf-8");
    total += a.len;
    answer_free(&a);
    assert_true(total < 200 * 1024);

    /* What the page shows still needs the token; so does any other path. */
    a = request(e.port, NULL, "GET", "/api/v1/system", NULL, NULL, NULL);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    a = request(e.port, NULL, "GET", "/observer.map", NULL, NULL, NULL);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    a = request(e.port, e.token, "GET", "/observer.map", NULL, NULL, NULL);
    assert_int_equal(a.status, 404);
    answer_free(&a);
    a = request(e.port, e.token, "POST", "/", "{}", NULL, NULL);
    assert_int_equal(a.status, 405);
    answer_free(&a);
    ctrace_admin_stop(e.admin);
}

/* ---- Origins and hosts. ---- */

static void requests_from_another_origin_are_refused(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, NULL, false);
    const char *spec = "{\"spec\":\"test_observer:x\"}";
    char own[96], host[96];
    snprintf(own, sizeof(own), "Origin: http://127.0.0.1:%u", e.port);
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%u", e.port);
    /* The page's own origin writes. */
    struct answer a =
        request(e.port, e.token, "POST", "/api/v1/pattern", spec, own, host);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    /* Another site's page does not, with the right token or not. */
    const char *foreign[] = {
        "Origin: http://evil.example",
        "Origin: null",
        "Origin: https://127.0.0.1",
        "Origin: http://127.0.0.1:1",
    };
    for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
        a = request(
            e.port, e.token, "POST", "/api/v1/pattern", spec, foreign[i], host);
        assert_int_equal(a.status, 403);
        assert_non_null(strstr(a.body, "\"forbidden_origin\""));
        assert_non_null(strstr(a.body, "another origin"));
        answer_free(&a);
        a = request(
            e.port, e.token, "GET", "/api/v1/system", NULL, foreign[i], host);
        assert_int_equal(a.status, 403);
        answer_free(&a);
    }
    ctrace_admin_stop(e.admin);
}

/*
 * With loopback reads allowed, a name that an attacker made resolve to
 * 127.0.0.1 (DNS rebinding) would let their page read the API through the
 * user's browser; such reads need a loopback Host.
 */
static void tokenless_loopback_reads_need_a_loopback_host(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, NULL, true);
    char h[96];
    const char *ok[] = {
        "127.0.0.1", "localhost", "LOCALHOST", "[::1]", "127.0.0.2"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(h, sizeof(h), "Host: %s:%u", ok[i], e.port);
        struct answer a =
            request(e.port, NULL, "GET", "/api/v1/system", NULL, h, NULL);
        if (a.status != 200)
            fail_msg("%s: %ld", h, a.status);
        answer_free(&a);
    }
    const char *bad[] = {"evil.example",
                         "127.0.0.1.evil.example",
                         "localhost.evil.example",
                         "10.0.0.1",
                         "[::2]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(h, sizeof(h), "Host: %s:%u", bad[i], e.port);
        struct answer a =
            request(e.port, NULL, "GET", "/api/v1/system", NULL, h, NULL);
        if (a.status != 401)
            fail_msg("%s: %ld", h, a.status);
        answer_free(&a);
        /* The token still opens it. */
        a = request(e.port, e.token, "GET", "/api/v1/system", NULL, h, NULL);
        assert_int_equal(a.status, 200);
        answer_free(&a);
    }
    ctrace_admin_stop(e.admin);
}

/* ---- Read-only. ---- */

static void read_only_endpoint_shows_and_changes_nothing(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start_with(&e, NULL, false, true);
    struct answer a =
        request(e.port, e.token, "GET", "/api/v1/system", NULL, NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "\"read_only\":true"));
    answer_free(&a);
    static const char *const reads[] = {"/api/v1/points",
                                        "/api/v1/procs",
                                        "/api/v1/sessions",
                                        "/api/v1/system/history",
                                        "/metrics",
                                        "/"};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        a = request(e.port, e.token, "GET", reads[i], NULL, NULL, NULL);
        if (a.status != 200)
            fail_msg("GET %s: %ld %s", reads[i], a.status, a.body);
        answer_free(&a);
    }
    /* A pattern check only parses. */
    a = request(e.port,
                e.token,
                "POST",
                "/api/v1/pattern",
                "{\"spec\":\"m:f/1 -> return\"}",
                NULL,
                NULL);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    static const char *const writes[][3] = {
        {"POST", "/api/v1/sessions", "{\"specs\":[\"test_observer:x\"]}"},
        {"DELETE", "/api/v1/sessions/1", NULL},
        {"PUT", "/api/v1/procs/1/state", "{}"},
        {"PATCH", "/api/v1/procs/1/state", "{}"},
        {"POST", "/api/v1/procs/1/sys", "{\"command\":\"suspend\"}"},
    };
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        a = request(e.port,
                    e.token,
                    writes[i][0],
                    writes[i][1],
                    writes[i][2],
                    NULL,
                    NULL);
        if (a.status != 403 || strstr(a.body, "\"read_only\"") == NULL ||
            strstr(a.body, writes[i][1]) == NULL)
            fail_msg(
                "%s %s: %ld %s", writes[i][0], writes[i][1], a.status, a.body);
        answer_free(&a);
    }
    /* Still the token first: without it, 401, not 403. */
    a = request(e.port, NULL, "POST", "/api/v1/sessions", "{}", NULL, NULL);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    ctrace_admin_stop(e.admin);

    /* And the default is not read-only. */
    endpoint_start(&e, NULL, false);
    a = request(e.port, e.token, "GET", "/api/v1/system", NULL, NULL, NULL);
    assert_non_null(strstr(a.body, "\"read_only\":false"));
    answer_free(&a);
    ctrace_admin_stop(e.admin);
}

/* ---- What the table and the tree are drawn from. ---- */

/* A process that ended, with the parent that began it: the listing gives
 * both, and with dead=1 the ended one and its exit reason. */
static void procs_listing_has_parents_and_with_dead_the_ended(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, NULL, false);
    uint64_t parent = ctrace_proc_begin("test_observer:parent/0");
    uint64_t child = ctrace_proc_begin("test_observer:child/1");
    assert_int_equal(ctrace_proc_end("{shutdown,tired}"), 0);
    char want_parent[64], want_child[64];
    snprintf(want_parent,
             sizeof(want_parent),
             "\"parent\":\"<0.%llu.0>\"",
             (unsigned long long)parent);
    snprintf(want_child,
             sizeof(want_child),
             "\"pid\":\"<0.%llu.0>\"",
             (unsigned long long)child);
    struct answer a = request(
        e.port, e.token, "GET", "/api/v1/procs?limit=100000", NULL, NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_null(strstr(a.body, want_child)); /* live ones only */
    assert_non_null(strstr(a.body, "\"kind\":\"explicit\""));
    answer_free(&a);
    a = request(e.port,
                e.token,
                "GET",
                "/api/v1/procs?limit=100000&dead=1",
                NULL,
                NULL,
                NULL);
    assert_int_equal(a.status, 200);
    json_error_t err;
    json_t *v = json_loads(a.body, 0, &err);
    assert_non_null(v);
    json_t *row = NULL, *p;
    size_t i;
    json_array_foreach(json_object_get(v, "procs"), i, p)
    {
        if (strstr(json_string_value(json_object_get(p, "initial_call")),
                   "test_observer:child/1") != NULL)
            row = p;
    }
    assert_non_null(row);
    assert_string_equal(json_string_value(json_object_get(row, "status")),
                        "dead");
    assert_string_equal(json_string_value(json_object_get(row, "exit_reason")),
                        "{shutdown,tired}");
    assert_non_null(strstr(a.body, want_parent));
    json_decref(v);
    answer_free(&a);
    a = request(
        e.port, e.token, "GET", "/api/v1/procs?dead=2", NULL, NULL, NULL);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(a.body, "dead=2"));
    answer_free(&a);
    assert_int_equal(ctrace_proc_end(NULL), 0);
    ctrace_admin_stop(e.admin);
}

/* ---- The history the charts draw. ---- */

static void history_holds_a_sample_a_second(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, NULL, false);
    struct timespec wait = {2, 700 * 1000000L};
    nanosleep(&wait, NULL);
    struct answer a = request(
        e.port, e.token, "GET", "/api/v1/system/history", NULL, NULL, NULL);
    assert_int_equal(a.status, 200);
    json_error_t err;
    json_t *v = json_loads(a.body, 0, &err);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "interval_ms")),
                     1000);
    assert_int_equal(json_integer_value(json_object_get(v, "max")), 600);
    json_t *samples = json_object_get(v, "samples");
    size_t n = json_array_size(samples);
    if (n < 2 || n > 4)
        fail_msg("%zu samples after 2.7 s", n);
    json_int_t t = 0, cpu = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(samples, i);
        const char *fields[] = {"t_ms",
                                "cpu_ms",
                                "rss_bytes",
                                "vm_bytes",
                                "processes",
                                "mailbox",
                                "events",
                                "dropped"};
        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
            if (!json_is_integer(json_object_get(s, fields[f])))
                fail_msg("sample %zu has no %s: %s", i, fields[f], a.body);
        json_int_t ti = json_integer_value(json_object_get(s, "t_ms"));
        json_int_t ci = json_integer_value(json_object_get(s, "cpu_ms"));
        /* Oldest first, about a second apart; CPU time only grows. */
        if (i > 0 && (ti - t < 900 || ti - t > 1700))
            fail_msg("samples %zu and %zu are %lld ms apart",
                     i - 1,
                     i,
                     (long long)(ti - t));
        assert_true(ci >= cpu);
        assert_true(json_integer_value(json_object_get(s, "rss_bytes")) > 0);
        t = ti;
        cpu = ci;
    }
    json_decref(v);
    answer_free(&a);
    ctrace_admin_stop(e.admin);
}

/* A point of this test, for the per-point history. */
static int traced_add(int a, int b)
{
    CTRACE_CALL(test_observer, add, a, b);
    CTRACE_RETURN(a + b);
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* The series of `point` in a /api/v1/points/history answer, or NULL. */
static json_t *point_series(json_t *history, const char *point)
{
    json_t *points = json_object_get(history, "points");
    for (size_t i = 0; i < json_array_size(points); i++) {
        json_t *p = json_array_get(points, i);
        if (strcmp(json_string_value(json_object_get(p, "point")), point) == 0)
            return json_object_get(p, "events");
    }
    return NULL;
}

/*
 * What the Metrics tab charts: the service keeps each armed point's counter
 * once a second, whoever started the session; after the stop the point's
 * newest ticks are null, its older ones stay.
 */
static void point_history_counts_every_sessions_events(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, NULL, false);
    struct answer a = request(e.port,
                              e.token,
                              "POST",
                              "/api/v1/sessions",
                              "{\"specs\":[\"test_observer:add -> return\"],"
                              "\"msgs\":1000,\"time_ms\":60000}",
                              NULL,
                              NULL);
    assert_int_equal(a.status, 201);
    json_t *v = json_loads(a.body, 0, NULL);
    assert_non_null(v);
    char del[64];
    snprintf(del,
             sizeof(del),
             "/api/v1/sessions/%lld",
             (long long)json_integer_value(json_object_get(v, "id")));
    json_decref(v);
    answer_free(&a);
    int sum = 0;
    for (int i = 0; i < 5; i++)
        sum += traced_add(i, 1);
    assert_int_equal(sum, 15);

    /* Five calls and five returns, counted within a few ticks. */
    json_int_t last = 0;
    size_t ticks = 0;
    for (int tries = 0; tries < 50 && last < 10; tries++) {
        sleep_ms(200);
        a = request(
            e.port, e.token, "GET", "/api/v1/points/history", NULL, NULL, NULL);
        assert_int_equal(a.status, 200);
        v = json_loads(a.body, 0, NULL);
        assert_non_null(v);
        assert_int_equal(json_integer_value(json_object_get(v, "interval_ms")),
                         1000);
        assert_int_equal(json_integer_value(json_object_get(v, "max")), 120);
        ticks = json_array_size(json_object_get(v, "t_ms"));
        json_t *events = point_series(v, "test_observer:add/2");
        if (events != NULL) {
            assert_int_equal(json_array_size(events), ticks);
            last = json_integer_value(json_array_get(events, ticks - 1));
        }
        json_decref(v);
        answer_free(&a);
    }
    if (last != 10)
        fail_msg("test_observer:add/2 counted %lld events, not 10",
                 (long long)last);

    a = request(e.port, e.token, "DELETE", del, NULL, NULL, NULL);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    sleep_ms(2300);
    a = request(
        e.port, e.token, "GET", "/api/v1/points/history", NULL, NULL, NULL);
    v = json_loads(a.body, 0, NULL);
    assert_non_null(v);
    ticks = json_array_size(json_object_get(v, "t_ms"));
    json_t *events = point_series(v, "test_observer:add/2");
    if (events == NULL)
        fail_msg("the stopped point's ticks are gone: %s", a.body);
    assert_true(json_is_null(json_array_get(events, ticks - 1)));
    bool counted = false;
    for (size_t t = 0; t < ticks; t++)
        counted |= json_integer_value(json_array_get(events, t)) == 10;
    assert_true(counted);
    json_decref(v);
    answer_free(&a);
    ctrace_admin_stop(e.admin);
}

/* ---- Memory. ---- */

/* What the Memory tab shows: malloc's view, the process's sizes, ctrace's
 * own; 64 KiB malloc'd here shows in malloc's bytes in use. */
static void memory_has_malloc_process_and_ctrace(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, NULL, false);
    json_int_t in_use[2];
    for (int round = 0; round < 2; round++) {
        struct answer a =
            request(e.port, e.token, "GET", "/api/v1/memory", NULL, NULL, NULL);
        assert_int_equal(a.status, 200);
        json_error_t err;
        json_t *v = json_loads(a.body, 0, &err);
        assert_non_null(v);
        static const char *const want[][2] = {
            {"malloc", "arena_bytes"},
            {"malloc", "in_use_bytes"},
            {"malloc", "free_bytes"},
            {"malloc", "mmapped_bytes"},
            {"malloc", "mmapped_chunks"},
            {"malloc", "releasable_bytes"},
            {"process", "rss_bytes"},
            {"process", "rss_peak_bytes"},
            {"process", "vm_bytes"},
            {"process", "vm_peak_bytes"},
            {"process", "data_bytes"},
            {"ctrace", "queues_bytes"},
            {"ctrace", "queues_limit_bytes"},
            {"ctrace", "process_table_bytes"},
            {"ctrace", "processes_kept"},
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
            if (!json_is_integer(json_object_get(json_object_get(v, want[i][0]),
                                                 want[i][1])))
                fail_msg("no %s.%s in %s", want[i][0], want[i][1], a.body);
        json_t *proc = json_object_get(v, "process");
        assert_true(json_integer_value(json_object_get(proc, "rss_bytes")) > 0);
        assert_true(json_integer_value(json_object_get(proc, "vm_bytes")) >=
                    json_integer_value(json_object_get(proc, "rss_bytes")));
        in_use[round] = json_integer_value(
            json_object_get(json_object_get(v, "malloc"), "in_use_bytes"));
        json_decref(v);
        answer_free(&a);
        if (round == 0) {
            /* Below the mmap threshold: it stays in an arena. */
            static volatile char *keep;
            keep = malloc(64 * 1024 - 64);
            assert_non_null((void *)keep);
            keep[0] = 1;
        }
    }
    /*
     * Under ASan and TSan their allocator replaces glibc's, whose counters
     * then do not move; the fields are still there.
     */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    assert_true(in_use[1] >= in_use[0] + 60 * 1024);
#else
    (void)in_use;
#endif
    ctrace_admin_stop(e.admin);
}

/* ---- Ports: the file descriptors. ---- */

/* The row of `fd` in a /api/v1/fds answer, or NULL. */
static json_t *fd_row(json_t *v, int fd)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(v, "fds"), i, row)
    {
        if (json_integer_value(json_object_get(row, "fd")) == fd)
            return row;
    }
    return NULL;
}

static const char *str_at(json_t *row, const char *key)
{
    const char *s = json_string_value(json_object_get(row, key));
    return s != NULL ? s : "(none)";
}

/* A listening TCP socket, a connected one, a pipe and a file of this
 * process, each as the Ports tab shows it. */
static void fds_name_files_pipes_and_sockets(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, NULL, false);
    int lsn = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lsn >= 0);
    struct sockaddr_in in = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lsn, (struct sockaddr *)&in, sizeof(in)), 0);
    assert_int_equal(listen(lsn, 4), 0);
    socklen_t len = sizeof(in);
    assert_int_equal(getsockname(lsn, (struct sockaddr *)&in, &len), 0);
    unsigned port = ntohs(in.sin_port);
    int cli = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(cli, (struct sockaddr *)&in, sizeof(in)), 0);
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    char file[128];
    snprintf(file, sizeof(file), "%s/fd-file", scratch);
    int ffd = open(file, O_CREAT | O_WRONLY, 0600);
    assert_true(ffd >= 0);

    struct answer a =
        request(e.port, e.token, "GET", "/api/v1/fds", NULL, NULL, NULL);
    assert_int_equal(a.status, 200);
    json_error_t err;
    json_t *v = json_loads(a.body, 0, &err);
    assert_non_null(v);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%u", port);
    json_t *r = fd_row(v, lsn);
    assert_non_null(r);
    assert_string_equal(str_at(r, "type"), "socket");
    assert_string_equal(str_at(r, "proto"), "tcp");
    assert_string_equal(str_at(r, "local"), want);
    assert_string_equal(str_at(r, "state"), "LISTEN");
    r = fd_row(v, cli);
    assert_non_null(r);
    assert_string_equal(str_at(r, "remote"), want);
    assert_string_equal(str_at(r, "state"), "ESTABLISHED");
    assert_true(json_is_integer(json_object_get(r, "tx_queue")));
    r = fd_row(v, pipe_fds[0]);
    assert_non_null(r);
    assert_string_equal(str_at(r, "type"), "pipe");
    assert_non_null(strstr(str_at(r, "target"), "pipe:["));
    r = fd_row(v, ffd);
    assert_non_null(r);
    assert_string_equal(str_at(r, "type"), "file");
    assert_string_equal(str_at(r, "target"), file);
    json_int_t total = json_integer_value(json_object_get(v, "total"));
    json_t *by = json_object_get(v, "by_type");
    assert_int_equal(json_integer_value(json_object_get(by, "file")) +
                         json_integer_value(json_object_get(by, "pipe")) +
                         json_integer_value(json_object_get(by, "socket")) +
                         json_integer_value(json_object_get(by, "other")),
                     total);
    json_decref(v);
    answer_free(&a);

    /* The first `limit`, in fd order; the total is still all of them. */
    a = request(
        e.port, e.token, "GET", "/api/v1/fds?limit=2", NULL, NULL, NULL);
    v = json_loads(a.body, 0, &err);
    assert_non_null(v);
    assert_int_equal(json_array_size(json_object_get(v, "fds")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "total")), total);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(v, "fds"), 0), "fd")),
                     0);
    json_decref(v);
    answer_free(&a);
    a = request(
        e.port, e.token, "GET", "/api/v1/fds?limit=0", NULL, NULL, NULL);
    assert_int_equal(a.status, 400);
    answer_free(&a);
    close(ffd);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    close(cli);
    close(lsn);
    ctrace_admin_stop(e.admin);
}

/* ---- A server whose state is private. ---- */

static int secret_init(void *arg, void **state, struct ctrace_error *err)
{
    (void)arg;
    (void)err;
    *state = NULL;
    return 0;
}

static char *secret_format_state(const void *state)
{
    (void)state;
    return strdup("{\"password\":\"hunter2\"}");
}

/* The page shows the server's refusal: the endpoint's 409 names it. */
static void private_state_is_refused_with_why(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, NULL, false);
    struct ctrace_server_callbacks cb = {.init = secret_init,
                                         .format_state = secret_format_state};
    struct ctrace_server_opts o;
    ctrace_server_opts_init(&o);
    o.name = "secret_srv";
    o.private_state = true;
    struct ctrace_error err = {0};
    struct ctrace_server *srv = ctrace_server_start(&cb, &o, &err);
    if (srv == NULL)
        fail_msg("start: %s", err.text);
    struct answer a = request(e.port,
                              e.token,
                              "GET",
                              "/api/v1/procs/secret_srv/state",
                              NULL,
                              NULL,
                              NULL);
    assert_int_equal(a.status, 409);
    assert_non_null(strstr(a.body, "declares its state private"));
    assert_null(strstr(a.body, "hunter2"));
    answer_free(&a);
    a = request(e.port,
                e.token,
                "GET",
                "/api/v1/procs/secret_srv/status",
                NULL,
                NULL,
                NULL);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "\"state\":null"));
    assert_null(strstr(a.body, "hunter2"));
    answer_free(&a);
    ctrace_server_stop(srv, NULL);
    ctrace_admin_stop(e.admin);
}

/* ---- The page's address. ---- */

static void observer_url_carries_the_token_in_its_fragment(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, NULL, false);
    char want[256], got[256];
    snprintf(
        want, sizeof(want), "http://127.0.0.1:%u/#token=%s", e.port, e.token);
    size_t n = ctrace_admin_observer_url(e.admin, got, sizeof(got));
    assert_string_equal(got, want);
    assert_int_equal(n, strlen(want));
    /* Cut as snprintf cuts, and the whole length still returned. */
    char small[16];
    assert_int_equal(ctrace_admin_observer_url(e.admin, small, sizeof(small)),
                     strlen(want));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, want, sizeof(small) - 1);
    assert_int_equal(ctrace_admin_observer_url(e.admin, NULL, 0), strlen(want));
    ctrace_admin_stop(e.admin);

    /* A token of the service's own choosing is percent-encoded. */
    endpoint_start(&e, "ab/c+d=e#f%g&h", false);
    ctrace_admin_observer_url(e.admin, got, sizeof(got));
    snprintf(want,
             sizeof(want),
             "http://127.0.0.1:%u/#token=ab%%2Fc%%2Bd%%3De%%23f%%25g%%26h",
             e.port);
    assert_string_equal(got, want);
    ctrace_admin_stop(e.admin);
}

int main(void)
{
    snprintf(scratch, sizeof(scratch), "/tmp/ctrace-observer-XXXXXX");
    if (mkdtemp(scratch) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(page_is_served_without_a_token_with_its_policy),
        cmocka_unit_test(requests_from_another_origin_are_refused),
        cmocka_unit_test(tokenless_loopback_reads_need_a_loopback_host),
        cmocka_unit_test(read_only_endpoint_shows_and_changes_nothing),
        cmocka_unit_test(procs_listing_has_parents_and_with_dead_the_ended),
        cmocka_unit_test(history_holds_a_sample_a_second),
        cmocka_unit_test(point_history_counts_every_sessions_events),
        cmocka_unit_test(memory_has_malloc_process_and_ctrace),
        cmocka_unit_test(fds_name_files_pipes_and_sockets),
        cmocka_unit_test(private_state_is_refused_with_why),
        cmocka_unit_test(observer_url_carries_the_token_in_its_fragment),
    };
    int failed = cmocka_run_group_tests_name("observer", tests, NULL, NULL);
    curl_global_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", scratch);
    return failed;
}
