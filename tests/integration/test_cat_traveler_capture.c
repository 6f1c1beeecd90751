/* SPDX-License-Identifier: MIT */
/*
 * The cat_traveler demo seen through a ctrace capture: proof that its trace
 * points are where its docs say they are. A capture sees only the calls of
 * its own process, so each test runs the service inside the test process
 * (cat_traveler_lib: the API module and the HTTP front, started with the
 * same functions main() uses) on 127.0.0.1 and an ephemeral port, sends it
 * real HTTP requests with libcurl, and asserts on what the capture saw: the
 * calls of cat_traveler:enter/2 and cat_traveler:leave/2 with their
 * arguments and results, the request/2 of the HTTP front around them, and
 * the C function that calls enter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include <ctrace/ctrace.h>

#include "api.h"
#include "http.h"

/* The service and the capture of one test; the teardown frees both. */
struct fixture {
    struct cat_traveler *app;
    struct cat_http *http;
    char url[64];
    struct ctrace_capture *cap;
};

static int setup_service(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    const struct cat_traveler_opts app_opts = {
        .scenario = CAT_SCENARIO_NONE, .seed = 1, .max_cats = 1000};
    f->app = cat_traveler_new(&app_opts);
    if (f->app == NULL) {
        free(f);
        return -1;
    }
    const struct cat_http_opts http_opts = {.bind = "127.0.0.1",
                                            .port = 0,
                                            .threads = 2,
                                            .timeout_s = 15,
                                            .max_connections = 64};
    char err[256];
    f->http = cat_http_start(&http_opts, f->app, err, sizeof(err));
    if (f->http == NULL) {
        print_error("cat_http_start: %s\n", err);
        cat_traveler_free(f->app);
        free(f);
        return -1;
    }
    snprintf(
        f->url, sizeof(f->url), "http://127.0.0.1:%u", cat_http_port(f->http));
    *state = f;
    return 0;
}

/* Runs after a failed assertion too, so nothing outlives its test. */
static int teardown_service(void **state)
{
    struct fixture *f = *state;
    ctrace_capture_free(f->cap);
    cat_http_stop(f->http);
    cat_traveler_free(f->app);
    free(f);
    return 0;
}

/* Starts the capture of `nspecs` specs into the fixture, or fails the test. */
static void capture(struct fixture *f, const char *const *specs, size_t nspecs)
{
    struct ctrace_error err = {0};
    f->cap = ctrace_capture_start_opts(specs, nspecs, NULL, &err);
    if (f->cap == NULL)
        fail_msg("cannot capture: %s (column %d)", err.text, err.column);
}

/* Stops the capture; a lost event fails the test. */
static void stop(struct fixture *f)
{
    int rc = ctrace_capture_stop(f->cap);
    if (rc != 0)
        fail_msg("capture stopped with %s, %llu events lost",
                 ctrace_err_name(rc),
                 (unsigned long long)ctrace_capture_lost(f->cap));
}

/* Asserts that the whole transcript of the capture is `expected`. */
static void assert_transcript(const struct fixture *f, const char *expected)
{
    char *t = ctrace_capture_transcript(f->cap);
    assert_non_null(t);
    bool same = strcmp(t, expected) == 0;
    if (!same)
        print_error("transcript:\n%s", t);
    ctrace_free(t);
    assert_true(same);
}

/* ---- HTTP. ---- */

struct answer {
    long status;
    char body[1024];
    size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t bytes = size * n;
    size_t room = sizeof(a->body) - 1 - a->len;
    size_t keep = bytes < room ? bytes : room;
    memcpy(a->body + a->len, data, keep);
    a->len += keep;
    a->body[a->len] = '\0';
    return bytes;
}

/*
 * POSTs {"cat": cat, "town": town} to `path` of the service, on a
 * connection of its own, and fills `a` with the answer. Fails the test
 * when no answer comes.
 */
static void travel(const struct fixture *f,
                   const char *path,
                   const char *cat,
                   const char *town,
                   struct answer *a)
{
    char url[128];
    snprintf(url, sizeof(url), "%s%s", f->url, path);
    char body[256];
    snprintf(body, sizeof(body), "{\"cat\":\"%s\",\"town\":\"%s\"}", cat, town);
    memset(a, 0, sizeof(*a));
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *headers =
        curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        fail_msg("POST %s: %s", url, curl_easy_strerror(rc));
}

#define assert_answer(a, code, text)                               \
    do {                                                           \
        const struct answer *a_ = (a);                             \
        if (a_->status != (code) || strcmp(a_->body, (text)) != 0) \
            fail_msg("expected %d %s, got %ld %s",                 \
                     (code),                                       \
                     (text),                                       \
                     a_->status,                                   \
                     a_->body);                                    \
    } while (0)

/* ---- The tests. ---- */

static void post_enter_traces_enter_with_its_arguments_and_ok(void **state)
{
    struct fixture *f = *state;
    const char *specs[] = {"cat_traveler:enter/2 -> return"};
    capture(f, specs, 1);

    struct answer a;
    travel(f, "/enter", "Tihon", "Barcelona", &a);
    assert_answer(&a, 200, "{\"result\":\"ok\"}");

    stop(f);
    assert_transcript(f,
                      "cat_traveler:enter(\"Tihon\", \"Barcelona\")\n"
                      "cat_traveler:enter/2 -> ok\n");
    /* The values behind the text: two strings in, a symbol out. */
    const struct ctrace_value *cat = ctrace_capture_arg(f->cap, 0, 0);
    const struct ctrace_value *town = ctrace_capture_arg(f->cap, 0, 1);
    assert_int_equal(cat->kind, CTRACE_VALUE_STRING);
    assert_string_equal(cat->as.str.ptr, "Tihon");
    assert_int_equal(town->kind, CTRACE_VALUE_STRING);
    assert_string_equal(town->as.str.ptr, "Barcelona");
    const struct ctrace_value *result = ctrace_capture_result(f->cap, 1);
    assert_int_equal(result->kind, CTRACE_VALUE_SYMBOL);
    assert_string_equal(result->as.str.ptr, "ok");
}

static void handle_call_gets_the_callers_pid_as_a_pid(void **state)
{
    struct fixture *f = *state;
    const char *specs[] = {"cat_traveler_srv:handle_call/3",
                           "cat_traveler_http:request/2"};
    capture(f, specs, 2);

    struct answer a;
    travel(f, "/enter", "Tihon", "Barcelona", &a);
    assert_answer(&a, 200, "{\"result\":\"ok\"}");

    stop(f);
    /* From is the request process that called, and prints as a pid. */
    uint64_t request = 0;
    const struct ctrace_value *from = NULL;
    for (size_t i = 0; i < ctrace_capture_count(f->cap); i++) {
        const struct ctrace_event *ev = ctrace_capture_event(f->cap, i);
        if (strcmp(ev->function, "request") == 0)
            request = ev->pid;
        else if (strcmp(ev->function, "handle_call") == 0 && from == NULL)
            from = ctrace_capture_arg(f->cap, i, 1);
    }
    assert_non_null(from);
    assert_int_equal(from->kind, CTRACE_VALUE_PID);
    assert_int_equal(from->as.u, request);
    char text[32], want[32];
    ctrace_value_format(from, NULL, text, sizeof(text));
    snprintf(want, sizeof(want), "<0.%llu.0>", (unsigned long long)request);
    assert_string_equal(text, want);
}

static void post_enter_twice_traces_already_in_town(void **state)
{
    struct fixture *f = *state;
    const char *specs[] = {"cat_traveler:enter/2 -> return"};
    capture(f, specs, 1);

    struct answer a;
    travel(f, "/enter", "Tihon", "Barcelona", &a);
    assert_answer(&a, 200, "{\"result\":\"ok\"}");
    travel(f, "/enter", "Tihon", "Barcelona", &a);
    assert_answer(
        &a, 400, "{\"error\":\"already_in_town\",\"town\":\"Barcelona\"}");

    stop(f);
    assert_transcript(f,
                      "cat_traveler:enter(\"Tihon\", \"Barcelona\")\n"
                      "cat_traveler:enter/2 -> ok\n"
                      "cat_traveler:enter(\"Tihon\", \"Barcelona\")\n"
                      "cat_traveler:enter/2 -> already_in_town\n");
}

static void post_leave_of_a_cat_not_in_town_traces_not_in_town(void **state)
{
    struct fixture *f = *state;
    const char *specs[] = {"cat_traveler:leave/2 -> return"};
    capture(f, specs, 1);

    struct answer a;
    travel(f, "/leave", "Murka", "Barcelona", &a);
    assert_answer(&a, 400, "{\"error\":\"not_in_town\"}");

    stop(f);
    assert_transcript(f,
                      "cat_traveler:leave(\"Murka\", \"Barcelona\")\n"
                      "cat_traveler:leave/2 -> not_in_town\n");
}

static void post_enter_traces_the_http_request_around_enter(void **state)
{
    struct fixture *f = *state;
    const char *specs[] = {"cat_traveler_http:request/2 -> return",
                           "cat_traveler:enter/2 -> return"};
    capture(f, specs, 2);

    struct answer a;
    travel(f, "/enter", "Tihon", "Barcelona", &a);
    assert_answer(&a, 200, "{\"result\":\"ok\"}");

    stop(f);
    /* One request, handled on one server thread: its calls nest in order. */
    assert_transcript(f,
                      "cat_traveler_http:request(\"POST\", \"/enter\")\n"
                      "cat_traveler:enter(\"Tihon\", \"Barcelona\")\n"
                      "cat_traveler:enter/2 -> ok\n"
                      "cat_traveler_http:request/2 -> 200\n");
    assert_int_equal(ctrace_capture_event(f->cap, 0)->pid,
                     ctrace_capture_event(f->cap, 1)->pid);
}

/*
 * Each HTTP request runs as its own short-lived process: the calls carry
 * its pid and its initial call, a second request gets another pid, and by
 * the time the test looks, the first one is dead and says how it ended.
 */
static void each_request_is_a_short_lived_process(void **state)
{
    struct fixture *f = *state;
    const char *specs[] = {"cat_traveler:enter/2", "procs"};
    capture(f, specs, 2);

    struct answer a;
    travel(f, "/enter", "Tihon", "Barcelona", &a);
    assert_answer(&a, 200, "{\"result\":\"ok\"}");
    travel(f, "/enter", "Murka", "Minsk", &a);
    assert_answer(&a, 200, "{\"result\":\"ok\"}");
    stop(f);

    const struct ctrace_event *calls[2] = {NULL, NULL};
    size_t ncalls = 0, spawns = 0, exits = 0;
    for (size_t i = 0; i < ctrace_capture_count(f->cap); i++) {
        const struct ctrace_event *ev = ctrace_capture_event(f->cap, i);
        if (ev->kind == CTRACE_EVENT_CALL && ncalls < 2)
            calls[ncalls++] = ev;
        if (ev->kind == CTRACE_EVENT_SPAWN && ev->peer != NULL &&
            strcmp(ev->peer, "cat_traveler_http:request/2") == 0)
            spawns++;
        if (ev->kind == CTRACE_EVENT_EXIT && ev->reason != NULL &&
            strcmp(ev->reason, "normal") == 0)
            exits++;
    }
    assert_int_equal(ncalls, 2);
    assert_true(calls[0]->pid != calls[1]->pid);
    assert_true(spawns >= 2);
    assert_true(exits >= 2);
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(calls[0]->pid, &info), 0);
    assert_string_equal(info.initial_call, "cat_traveler_http:request/2");
    assert_int_equal(info.kind, CTRACE_PROC_EXPLICIT);
    assert_int_equal(info.status, CTRACE_PROC_DEAD);
    assert_string_equal(info.exit_reason, "normal");
}

/*
 * The request process talks to the state server through its mailbox: a
 * send of {call,{enter,...}} to cat_traveler_srv, the server's receive,
 * and the reply sent back, all rendered by the server's format_msg.
 */
static void enter_goes_through_the_state_servers_mailbox(void **state)
{
    struct fixture *f = *state;
    const char *specs[] = {"send", "receive"};
    capture(f, specs, 2);

    struct answer a;
    travel(f, "/enter", "Tihon", "Barcelona", &a);
    assert_answer(&a, 200, "{\"result\":\"ok\"}");
    stop(f);

    uint64_t srv = ctrace_whereis("cat_traveler_srv");
    assert_true(srv != 0);
    bool sent = false, received = false, replied = false;
    for (size_t i = 0; i < ctrace_capture_count(f->cap); i++) {
        const struct ctrace_event *ev = ctrace_capture_event(f->cap, i);
        char *msg = ev->message != NULL
                        ? ctrace_value_to_term(ev->message, NULL)
                        : NULL;
        if (msg == NULL)
            continue;
        if (ev->kind == CTRACE_EVENT_SEND && ev->peer_pid == srv &&
            strcmp(msg, "{call,{enter,\"Tihon\",\"Barcelona\"}}") == 0)
            sent = true;
        if (ev->kind == CTRACE_EVENT_RECEIVE && ev->pid == srv &&
            strcmp(msg, "{call,{enter,\"Tihon\",\"Barcelona\"}}") == 0)
            received = true;
        if (ev->kind == CTRACE_EVENT_SEND && ev->pid == srv &&
            strcmp(msg, "{reply,ok}") == 0)
            replied = true;
        ctrace_free(msg);
    }
    assert_true(sent);
    assert_true(received);
    assert_true(replied);
}

/*
 * Whether frame text `frame` ("request (http.c:351)", "request.cold (...)",
 * "answer+0x6a2 (prog)") names the C function `fn`: the name ends at the
 * first ' ', '+' or '.', which also drops the suffixes of the parts gcc
 * splits off a function (".cold", ".constprop.0").
 */
static bool names_function(const char *frame, const char *fn)
{
    size_t len = strcspn(frame, " +.");
    return len == strlen(fn) && strncmp(frame, fn, len) == 0;
}

static void enter_is_called_from_the_http_request_handler(void **state)
{
    struct fixture *f = *state;
    const char *specs[] = {"cat_traveler:enter/2 -> caller, stack"};
    capture(f, specs, 1);

    struct answer a;
    travel(f, "/enter", "Tihon", "Barcelona", &a);
    assert_answer(&a, 200, "{\"result\":\"ok\"}");

    stop(f);
    assert_transcript(f, "cat_traveler:enter(\"Tihon\", \"Barcelona\")\n");
    const struct ctrace_event *ev = ctrace_capture_event(f->cap, 0);
    assert_non_null(ev->caller);
    assert_true(ev->stack_len >= 3);
    /* Frame 0 is the traced function, frame 1 the caller. */
    bool ok = names_function(ev->stack[0], "cat_traveler_enter") &&
              strcmp(ev->caller, ev->stack[1]) == 0;
    /*
     * The caller is the HTTP front's handler of the request: request() in
     * http.c (cat_traveler_http:request/2), which calls enter through its
     * static helper travel(). Which of these has a frame of its own is the
     * compiler's choice: gcc -O2 inlines travel() into request(), -O0
     * inlines nothing, and with ASan or clang request() is inlined into
     * answer(). The symbolizer names the function a frame is in, not the
     * inlined one, so the caller is whichever of them was kept.
     */
    ok = ok && (names_function(ev->caller, "request") ||
                names_function(ev->caller, "travel") ||
                names_function(ev->caller, "answer"));
    /*
     * Whatever was inlined, the request came in through on_request(), the
     * access handler libmicrohttpd calls through a pointer, above the
     * caller.
     */
    bool through_mhd = false;
    for (size_t i = 2; i < ev->stack_len; i++)
        through_mhd = through_mhd || names_function(ev->stack[i], "on_request");
    if (!ok || !through_mhd) {
        for (size_t i = 0; i < ev->stack_len; i++)
            print_error("stack[%zu]: %s\n", i, ev->stack[i]);
        fail_msg("enter was called from %s, not from the request handler "
                 "under on_request()",
                 ev->caller);
    }
}

int main(void)
{
    /* As in cat_traveler's main(): a client that hangs up is no signal. */
    signal(SIGPIPE, SIG_IGN);
    json_object_seed(0);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
#define T(name) \
    cmocka_unit_test_setup_teardown(name, setup_service, teardown_service)
    const struct CMUnitTest tests[] = {
        T(post_enter_traces_enter_with_its_arguments_and_ok),
        T(handle_call_gets_the_callers_pid_as_a_pid),
        T(post_enter_twice_traces_already_in_town),
        T(post_leave_of_a_cat_not_in_town_traces_not_in_town),
        T(post_enter_traces_the_http_request_around_enter),
        T(enter_is_called_from_the_http_request_handler),
        T(each_request_is_a_short_lived_process),
        T(enter_goes_through_the_state_servers_mailbox),
    };
#undef T
    int failed =
        cmocka_run_group_tests_name("cat_traveler_capture", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
