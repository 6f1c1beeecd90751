/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of the cat_traveler demo service. Each test starts the
 * real program as a child process on an ephemeral port, reads the line
 * "cat_traveler listening on http://127.0.0.1:PORT" from its standard
 * output, drives it over HTTP with libcurl (or over a raw socket, for what
 * curl would refuse to send), then sends SIGTERM and checks that it exits
 * with status 0. Under AddressSanitizer a leak makes that status non-zero,
 * so every test also checks that the service frees what it allocated.
 *
 * Usage: test_cat_traveler CAT_TRAVELER CAT_LOAD [TEST-NAME-GLOB]
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/child.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
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

extern char **environ;

static const char *traveler_bin;
static const char *load_bin;

/* ---- Child processes. ---- */

/* A running cat_traveler. */
struct service {
    pid_t pid;
    int out;
    unsigned port;
    char url[64];
    char output[8192];
    size_t len;
};

#define LISTENING "cat_traveler listening on http://127.0.0.1:"

/*
 * Starts cat_traveler on an ephemeral port with the extra flags `extra`
 * (NULL-terminated, may be NULL). Returns 0 once it listens.
 */
static int service_start(struct service *s, const char *const *extra)
{
    char *argv[32] = {(char *)traveler_bin, "--port", "0", "--threads", "2"};
    size_t n = 5;
    /*
     * No admin endpoint unless a test asks for one: it would take port
     * 8081 and create ~/.ctrace/token on the test machine.
     */
    bool admin = false;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 30; i++) {
        admin = admin || strncmp(extra[i], "--admin", 7) == 0 ||
                strcmp(extra[i], "--token-file") == 0;
        argv[n++] = (char *)extra[i];
    }
    if (!admin)
        argv[n++] = "--no-admin";
    argv[n] = NULL;
    memset(s, 0, sizeof(*s));
    s->pid = child_spawn(argv, &s->out, false);
    if (s->pid < 0)
        return -1;
    s->len = child_read_until(
        s->out, s->output, sizeof(s->output), 0, LISTENING, 20000);
    const char *line = strstr(s->output, LISTENING);
    /* The port follows; wait for the end of the line too. */
    while (line != NULL && strchr(line, '\n') == NULL) {
        size_t before = s->len;
        s->len = child_read_until(
            s->out, s->output, sizeof(s->output), s->len, "\n", 2000);
        line = strstr(s->output, LISTENING);
        if (s->len == before)
            break;
    }
    if (line == NULL || sscanf(line + strlen(LISTENING), "%u", &s->port) != 1) {
        print_error("cat_traveler did not start; it printed:\n%s\n", s->output);
        kill(s->pid, SIGKILL);
        child_wait_exit(s->pid, 5000);
        close(s->out);
        return -1;
    }
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", s->port);
    return 0;
}

/* Sends `sig` and returns the exit status (see child_wait_exit()). */
static int service_stop_with(struct service *s, int sig)
{
    kill(s->pid, sig);
    /* Drain stdout so that the service can never block on a full pipe. */
    s->len = child_read_until(
        s->out, s->output, sizeof(s->output), s->len, NULL, 20000);
    close(s->out);
    return child_wait_exit(s->pid, 20000);
}

static int setup_service(void **state)
{
    struct service *s = malloc(sizeof(*s));
    if (s == NULL || service_start(s, NULL) != 0) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* Stops the service; a non-zero exit status fails the test. */
static int teardown_service(void **state)
{
    struct service *s = *state;
    int status = service_stop_with(s, SIGTERM);
    if (status != 0)
        print_error("cat_traveler exited with %d; it printed:\n%s\n",
                    status,
                    s->output);
    free(s);
    return status == 0 ? 0 : -1;
}

/* Runs a program to its end; returns its exit status and its output. */
static int run(char *const argv[], char *out, size_t size, long long timeout_ms)
{
    int fd;
    pid_t pid = child_spawn(argv, &fd, true);
    if (pid < 0)
        return -1;
    child_read_until(fd, out, size, 0, NULL, timeout_ms);
    close(fd);
    return child_wait_exit(pid, 5000);
}

/* ---- HTTP. ---- */

struct answer {
    long status;
    char body[65536];
    size_t len;
    char allow[128];
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t bytes = size * n;
    size_t keep = bytes < sizeof(a->body) - 1 - a->len
                      ? bytes
                      : sizeof(a->body) - 1 - a->len;
    memcpy(a->body + a->len, data, keep);
    a->len += keep;
    a->body[a->len] = '\0';
    return bytes;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t bytes = size * n;
    if (bytes > 6 && strncasecmp(data, "Allow:", 6) == 0) {
        size_t len =
            bytes - 6 < sizeof(a->allow) - 1 ? bytes - 6 : sizeof(a->allow) - 1;
        memcpy(a->allow, data + 6, len);
        a->allow[len] = '\0';
        /* Trim the blanks and the CRLF. */
        char *p = a->allow;
        while (*p == ' ')
            memmove(p, p + 1, strlen(p));
        len = strlen(a->allow);
        while (len > 0 &&
               (a->allow[len - 1] == '\r' || a->allow[len - 1] == '\n' ||
                a->allow[len - 1] == ' '))
            a->allow[--len] = '\0';
    }
    return bytes;
}

/* A chunked upload of `left` bytes of `fill`. */
struct upload {
    size_t left;
    char fill;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct upload *u = arg;
    size_t bytes = size * n < u->left ? size * n : u->left;
    memset(buf, u->fill, bytes);
    u->left -= bytes;
    return bytes;
}

/*
 * One request with `curl` (or a fresh handle when NULL). `body` of `len`
 * bytes is sent as is; with `chunked`, `len` bytes of spaces are streamed
 * without a Content-Length instead. Returns 0 when an answer came.
 */
static int http_with(CURL *curl,
                     const struct service *s,
                     const char *method,
                     const char *path,
                     const char *body,
                     size_t len,
                     bool chunked,
                     struct answer *a)
{
    CURL *own = curl == NULL ? curl_easy_init() : NULL;
    CURL *c = curl != NULL ? curl : own;
    if (c == NULL)
        return -1;
    char url[256];
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    a->status = 0;
    a->len = 0;
    a->body[0] = '\0';
    a->allow[0] = '\0';
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    struct upload up = {.left = len, .fill = ' '};
    if (chunked)
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (chunked) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(headers);
    if (own != NULL)
        curl_easy_cleanup(own);
    return rc == CURLE_OK ? 0 : -1;
}

static struct answer *http(const struct service *s,
                           const char *method,
                           const char *path,
                           const char *body)
{
    static struct answer a;
    size_t len = body != NULL ? strlen(body) : 0;
    if (http_with(NULL, s, method, path, body, len, false, &a) != 0)
        a.status = 0;
    return &a;
}

/* POSTs {"cat": cat, "town": town} to `path`. */
static struct answer *travel(const struct service *s,
                             const char *path,
                             const char *cat,
                             const char *town)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"cat\":\"%s\",\"town\":\"%s\"}", cat, town);
    return http(s, "POST", path, body);
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

/* A 400 bad_request whose detail contains `part`. */
static void assert_bad_request(const struct answer *a, const char *part)
{
    json_t *doc = json_loads(a->body, 0, NULL);
    const char *error = json_string_value(json_object_get(doc, "error"));
    const char *detail = json_string_value(json_object_get(doc, "detail"));
    bool ok = a->status == 400 && error != NULL &&
              strcmp(error, "bad_request") == 0 && detail != NULL &&
              strstr(detail, part) != NULL && json_object_size(doc) == 2;
    json_decref(doc);
    if (!ok)
        fail_msg("expected 400 bad_request with \"%s\", got %ld %s",
                 part,
                 a->status,
                 a->body);
}

/* Raw bytes to the service; returns what came back before close/timeout. */
static size_t raw_exchange(const struct service *s,
                           const char *data,
                           size_t len,
                           char *out,
                           size_t size,
                           long long timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)s->port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    out[0] = '\0';
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    size_t got = child_read_until(fd, out, size, 0, NULL, timeout_ms);
    close(fd);
    return got;
}

/* ---- The tests. ---- */

static void service_prints_its_url_and_exits_zero_on_sigterm(void **state)
{
    struct service s;
    assert_int_equal(service_start(&s, NULL), 0);
    assert_int_not_equal(s.port, 0);
    assert_int_equal(http(&s, "GET", "/health", NULL)->status, 200);
    assert_int_equal(service_stop_with(&s, SIGTERM), 0);
    assert_non_null(strstr(s.output, "stopped"));
}

static void service_exits_zero_on_sigint(void **state)
{
    struct service s;
    assert_int_equal(service_start(&s, NULL), 0);
    assert_int_equal(service_stop_with(&s, SIGINT), 0);
}

static void health_answers_ok(void **state)
{
    assert_answer(
        http(*state, "GET", "/health", NULL), 200, "{\"status\":\"ok\"}");
    assert_int_equal(http(*state, "HEAD", "/health", NULL)->status, 200);
}

static void enter_then_leave_moves_a_cat_in_and_out(void **state)
{
    struct service *s = *state;
    assert_answer(
        travel(s, "/enter", "Tihon", "Barcelona"), 200, "{\"result\":\"ok\"}");
    assert_answer(http(s, "GET", "/cats", NULL),
                  200,
                  "{\"cats\":{\"Tihon\":\"Barcelona\"}}");
    assert_answer(http(s, "GET", "/towns", NULL),
                  200,
                  "{\"towns\":{\"Barcelona\":[\"Tihon\"]}}");
    assert_answer(
        travel(s, "/leave", "Tihon", "Barcelona"), 200, "{\"result\":\"ok\"}");
    assert_answer(http(s, "GET", "/cats", NULL), 200, "{\"cats\":{}}");
    assert_answer(http(s, "GET", "/towns", NULL), 200, "{\"towns\":{}}");
}

static void enter_while_in_a_town_answers_already_in_town(void **state)
{
    struct service *s = *state;
    assert_int_equal(travel(s, "/enter", "Murka", "Minsk")->status, 200);
    assert_answer(travel(s, "/enter", "Murka", "Paris"),
                  400,
                  "{\"error\":\"already_in_town\",\"town\":\"Minsk\"}");
    assert_answer(travel(s, "/enter", "Murka", "Minsk"),
                  400,
                  "{\"error\":\"already_in_town\",\"town\":\"Minsk\"}");
    assert_answer(
        http(s, "GET", "/cats", NULL), 200, "{\"cats\":{\"Murka\":\"Minsk\"}}");
}

static void leave_outside_the_cats_town_answers_not_in_town(void **state)
{
    struct service *s = *state;
    assert_answer(travel(s, "/leave", "Marfa", "Minsk"),
                  400,
                  "{\"error\":\"not_in_town\"}");
    assert_int_equal(travel(s, "/enter", "Marfa", "Riga")->status, 200);
    assert_answer(travel(s, "/leave", "Marfa", "Minsk"),
                  400,
                  "{\"error\":\"not_in_town\"}");
    assert_int_equal(travel(s, "/leave", "Marfa", "Riga")->status, 200);
    assert_answer(travel(s, "/leave", "Marfa", "Riga"),
                  400,
                  "{\"error\":\"not_in_town\"}");
}

static void cats_and_towns_list_everyone_sorted(void **state)
{
    struct service *s = *state;
    assert_int_equal(travel(s, "/enter", "Vasjka", "Paris")->status, 200);
    assert_int_equal(travel(s, "/enter", "Tihon", "Kraków")->status, 200);
    assert_int_equal(travel(s, "/enter", "Murka", "Paris")->status, 200);
    assert_answer(http(s, "GET", "/cats", NULL),
                  200,
                  "{\"cats\":{\"Murka\":\"Paris\",\"Tihon\":\"Kraków\","
                  "\"Vasjka\":\"Paris\"}}");
    assert_answer(http(s, "GET", "/towns", NULL),
                  200,
                  "{\"towns\":{\"Kraków\":[\"Tihon\"],\"Paris\":[\"Murka\","
                  "\"Vasjka\"]}}");
}

static void connections_stay_open_between_requests(void **state)
{
    struct service *s = *state;
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct answer *a = malloc(sizeof(*a));
    assert_non_null(a);
    const char *body = "{\"cat\":\"Tihon\",\"town\":\"Riga\"}";
    struct {
        const char *method;
        const char *path;
        const char *body;
        long status;
    } steps[] = {
        {"GET", "/health", NULL, 200},
        {"POST", "/enter", body, 200},
        {"GET", "/cats", NULL, 200},
        {"POST", "/enter", body, 400},
        {"GET", "/towns", NULL, 200},
        {"POST", "/leave", body, 200},
        {"GET", "/nowhere", NULL, 404},
        {"GET", "/enter", NULL, 405},
        {"POST", "/enter", "{", 400},
        {"GET", "/health", NULL, 200},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const char *b = steps[i].body;
        assert_int_equal(http_with(c,
                                   s,
                                   steps[i].method,
                                   steps[i].path,
                                   b,
                                   b != NULL ? strlen(b) : 0,
                                   false,
                                   a),
                         0);
        assert_int_equal(a->status, steps[i].status);
        long connects = -1;
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        /* Only the first request opens a connection. */
        if (connects != (i == 0 ? 1 : 0))
            fail_msg("request %zu (%s %s) opened %ld connections",
                     i,
                     steps[i].method,
                     steps[i].path,
                     connects);
    }
    free(a);
    curl_easy_cleanup(c);
}

static void unknown_paths_answer_404(void **state)
{
    struct service *s = *state;
    const char *paths[] = {
        "/", "/cat", "/cats/", "/enter/x", "/ENTER", "/towns.json", "/admin"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        assert_answer(
            http(s, "GET", paths[i], NULL), 404, "{\"error\":\"not_found\"}");
        assert_int_equal(http(s, "POST", paths[i], "{}")->status, 404);
    }
}

static void wrong_methods_answer_405_with_allow(void **state)
{
    struct service *s = *state;
    struct answer *a = http(s, "GET", "/enter", NULL);
    assert_answer(a, 405, "{\"error\":\"method_not_allowed\"}");
    assert_string_equal(a->allow, "POST");
    assert_int_equal(http(s, "PUT", "/leave", "{}")->status, 405);
    assert_int_equal(http(s, "DELETE", "/enter", "")->status, 405);
    a = http(s, "POST", "/cats", "{}");
    assert_answer(a, 405, "{\"error\":\"method_not_allowed\"}");
    assert_string_equal(a->allow, "GET, HEAD");
    assert_int_equal(http(s, "DELETE", "/towns", "")->status, 405);
    assert_int_equal(http(s, "PATCH", "/health", "x")->status, 405);
}

static void body_over_4_kib_is_refused_from_content_length(void **state)
{
    struct service *s = *state;
    char *body = malloc(5000);
    assert_non_null(body);
    memset(body, ' ', 5000);
    struct answer a;
    assert_int_equal(
        http_with(NULL, s, "POST", "/enter", body, 4097, false, &a), 0);
    assert_int_equal(a.status, 413);
    assert_non_null(strstr(a.body, "\"too_large\""));
    free(body);
}

static void chunked_body_over_4_kib_is_refused_while_reading(void **state)
{
    struct service *s = *state;
    struct answer a;
    assert_int_equal(http_with(NULL, s, "POST", "/leave", NULL, 4097, true, &a),
                     0);
    assert_int_equal(a.status, 413);
    assert_non_null(strstr(a.body, "\"too_large\""));
}

static void huge_bodies_are_refused_and_the_service_keeps_serving(void **state)
{
    struct service *s = *state;
    struct answer a;
    /* 8 MiB, chunked: read and dropped, then refused. */
    assert_int_equal(
        http_with(NULL, s, "POST", "/enter", NULL, (size_t)8 << 20, true, &a),
        0);
    assert_int_equal(a.status, 413);
    /* An announced 1 GiB: refused from the header alone. */
    char req[] = "POST /enter HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 1073741824\r\n\r\n{\"cat\":";
    char out[4096];
    raw_exchange(s, req, sizeof(req) - 1, out, sizeof(out), 5000);
    assert_non_null(strstr(out, "HTTP/1.1 413"));
    assert_int_equal(http(s, "GET", "/health", NULL)->status, 200);
}

static void body_of_exactly_4_kib_is_accepted(void **state)
{
    struct service *s = *state;
    char body[4096];
    const char *json = "{\"cat\":\"Tihon\",\"town\":\"Porto\"}";
    memset(body, ' ', sizeof(body));
    memcpy(body, json, strlen(json));
    struct answer a;
    assert_int_equal(
        http_with(NULL, s, "POST", "/enter", body, sizeof(body), false, &a), 0);
    assert_answer(&a, 200, "{\"result\":\"ok\"}");
}

static void bodies_that_are_not_json_answer_bad_request(void **state)
{
    struct service *s = *state;
    struct {
        const char *body;
        const char *detail;
    } cases[] = {
        {"", "empty body"},
        {"hello", "invalid JSON at line 1"},
        {"{", "invalid JSON"},
        {"{\"cat\":\"Tihon\",\"town\":\"Riga\"", "invalid JSON"},
        {"{\"cat\":\"Tihon\",\"town\":\"Riga\"} x", "invalid JSON"},
        {"{\"cat\":\"Tihon\",\"town\":\"Riga\",}", "invalid JSON"},
        {"{'cat':'Tihon'}", "invalid JSON"},
        {"cat=Tihon&town=Riga", "invalid JSON"},
        {"42", "invalid JSON"},
        {"\"Tihon\"", "invalid JSON"},
        {"[]", "got an array"},
        {"[{\"cat\":\"Tihon\",\"town\":\"Riga\"}]", "got an array"},
        {"\xef\xbb\xbf{\"cat\":\"Tihon\",\"town\":\"Riga\"}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_bad_request(http(s, "POST", "/enter", cases[i].body),
                           cases[i].detail);
        assert_bad_request(http(s, "POST", "/leave", cases[i].body),
                           cases[i].detail);
    }
    assert_answer(http(s, "GET", "/cats", NULL), 200, "{\"cats\":{}}");
}

static void missing_and_wrong_fields_answer_bad_request(void **state)
{
    struct service *s = *state;
    struct {
        const char *body;
        const char *detail;
    } cases[] = {
        {"{}", "missing field \"cat\""},
        {"{\"cat\":\"Tihon\"}", "missing field \"town\""},
        {"{\"town\":\"Riga\"}", "missing field \"cat\""},
        {"{\"cat\":null,\"town\":\"Riga\"}",
         "\"cat\" must be a string, got null"},
        {"{\"cat\":7,\"town\":\"Riga\"}",
         "\"cat\" must be a string, got a number"},
        {"{\"cat\":\"Tihon\",\"town\":true}", "\"town\" must be a string"},
        {"{\"cat\":[\"Tihon\"],\"town\":\"Riga\"}", "got an array"},
        {"{\"cat\":{\"name\":\"Tihon\"},\"town\":\"Riga\"}", "got an object"},
        {"{\"cat\":\"\",\"town\":\"Riga\"}", "1 to 64 characters, got 0"},
        {"{\"cat\":\"Tihon\",\"town\":\"\"}", "\"town\" must have 1 to 64"},
        {"{\"cat\":\"Tihon\",\"town\":\"Riga\",\"age\":3}",
         "unknown field \"age\""},
        {"{\"Cat\":\"Tihon\",\"town\":\"Riga\"}", "missing field \"cat\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_bad_request(http(s, "POST", "/enter", cases[i].body),
                           cases[i].detail);
    assert_answer(http(s, "GET", "/cats", NULL), 200, "{\"cats\":{}}");
}

static void duplicate_keys_are_rejected(void **state)
{
    struct service *s = *state;
    assert_bad_request(
        http(s,
             "POST",
             "/enter",
             "{\"cat\":\"Tihon\",\"town\":\"Riga\",\"cat\":\"Murka\"}"),
        "duplicate");
    assert_bad_request(
        http(s,
             "POST",
             "/leave",
             "{\"cat\":\"Tihon\",\"town\":\"Riga\",\"town\":\"Riga\"}"),
        "duplicate");
    assert_answer(http(s, "GET", "/cats", NULL), 200, "{\"cats\":{}}");
}

static void invalid_utf8_nul_and_control_characters_are_rejected(void **state)
{
    struct service *s = *state;
    struct {
        const char *body;
        const char *detail;
    } cases[] = {
        {"{\"cat\":\"T\xff\",\"town\":\"Riga\"}", "invalid JSON"},
        {"{\"cat\":\"T\xc0\xaf\",\"town\":\"Riga\"}", "invalid JSON"},
        {"{\"cat\":\"T\xed\xa0\x80\",\"town\":\"Riga\"}", "invalid JSON"},
        {"{\"cat\":\"T\xf4\x90\x80\x80\",\"town\":\"Riga\"}", "invalid JSON"},
        {"{\"cat\":\"T\xe2\x82\",\"town\":\"Riga\"}", "invalid JSON"},
        {"{\"cat\":\"T\\u0000x\",\"town\":\"Riga\"}", "NUL"},
        {"{\"cat\":\"Tihon\",\"town\":\"R\\u0000\"}", "NUL"},
        {"{\"cat\":\"T\\ud800\",\"town\":\"Riga\"}", "invalid JSON"},
        {"{\"cat\":\"T\x01\",\"town\":\"Riga\"}", "invalid JSON"},
        {"{\"cat\":\"T\\u0007\",\"town\":\"Riga\"}", "control character"},
        {"{\"cat\":\"T\\u007f\",\"town\":\"Riga\"}", "control character"},
        {"{\"cat\":\"Tihon\",\"town\":\"Ri\\nga\"}", "control character"},
        {"{\"c\xff\":\"Tihon\",\"town\":\"Riga\"}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_bad_request(http(s, "POST", "/enter", cases[i].body),
                           cases[i].detail);
    /* A body with a raw NUL byte, sent with its real length. */
    const char nul[] = "{\"cat\":\"T\0x\",\"town\":\"Riga\"}";
    struct answer a;
    assert_int_equal(
        http_with(NULL, s, "POST", "/enter", nul, sizeof(nul) - 1, false, &a),
        0);
    assert_bad_request(&a, "invalid JSON");
    assert_answer(http(s, "GET", "/cats", NULL), 200, "{\"cats\":{}}");
}

static void names_are_counted_in_characters(void **state)
{
    struct service *s = *state;
    char name[512];
    /* 64 two-byte characters: 128 bytes, accepted. */
    name[0] = '\0';
    for (int i = 0; i < 64; i++)
        strcat(name, "\xc3\xb3");
    assert_int_equal(travel(s, "/enter", name, "Kraków")->status, 200);
    assert_int_equal(travel(s, "/leave", name, "Kraków")->status, 200);
    /* 64 four-byte characters (emoji): accepted. */
    name[0] = '\0';
    for (int i = 0; i < 64; i++)
        strcat(name, "\xf0\x9f\x90\x88");
    assert_int_equal(travel(s, "/enter", name, "Riga")->status, 200);
    /* 65 ASCII characters: refused; 64 accepted. */
    memset(name, 'a', 65);
    name[65] = '\0';
    assert_bad_request(travel(s, "/enter", name, "Riga"),
                       "\"cat\" must have 1 to 64 characters, got 65");
    assert_bad_request(travel(s, "/enter", "Tihon", name),
                       "\"town\" must have 1 to 64 characters, got 65");
    name[64] = '\0';
    assert_int_equal(travel(s, "/enter", name, "Riga")->status, 200);
}

static void idle_connections_are_closed_after_the_timeout(void **state)
{
    struct service s;
    const char *flags[] = {"--timeout", "1", NULL};
    assert_int_equal(service_start(&s, flags), 0);
    /* Half a request line, then silence: the service hangs up. */
    char out[1024];
    long long t0 = child_now_ms();
    raw_exchange(&s, "GET /hea", 8, out, sizeof(out), 10000);
    long long waited = child_now_ms() - t0;
    assert_in_range(waited, 500, 5000);
    assert_int_equal(http(&s, "GET", "/health", NULL)->status, 200);
    assert_int_equal(service_stop_with(&s, SIGTERM), 0);
}

static void
malformed_http_is_refused_and_the_service_keeps_serving(void **state)
{
    struct service *s = *state;
    const char *garbage[] = {
        "GARBAGE\r\n\r\n",
        "GET /health HTTP/9.9\r\n\r\n",
        "POST /enter HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "POST /enter HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        ("POST /enter HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "zz\r\n"),
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        char out[4096];
        raw_exchange(s, garbage[i], strlen(garbage[i]), out, sizeof(out), 3000);
        assert_int_equal(http(s, "GET", "/health", NULL)->status, 200);
    }
    /* Request headers beyond the connection's memory: refused. */
    size_t big = 100 * 1024;
    char *req = malloc(big + 128);
    assert_non_null(req);
    int n = snprintf(req, 128, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 4);
    char out[4096];
    raw_exchange(s, req, (size_t)n + big + 4, out, sizeof(out), 5000);
    free(req);
    assert_null(strstr(out, "HTTP/1.1 200"));
    assert_int_equal(http(s, "GET", "/health", NULL)->status, 200);
}

/* One traveller thread of the concurrency test. */
struct traveller {
    const struct service *s;
    char cat[32];
    int rounds;
    int unexpected;
    char last_town[32];
    bool in_town;
};

static void *traveller_run(void *arg)
{
    struct traveller *t = arg;
    static const char *const towns[] = {"Barcelona", "Minsk", "Paris", "Riga"};
    CURL *c = curl_easy_init();
    struct answer *a = malloc(sizeof(*a));
    if (c == NULL || a == NULL) {
        t->unexpected = -1;
        free(a);
        curl_easy_cleanup(c);
        return NULL;
    }
    for (int i = 0; i < t->rounds; i++) {
        const char *town = towns[(size_t)i % 4];
        char body[128];
        int n = snprintf(body,
                         sizeof(body),
                         "{\"cat\":\"%s\",\"town\":\"%s\"}",
                         t->cat,
                         town);
        bool entering = i % 2 == 0 || i == t->rounds - 1;
        if (!entering)
            n = snprintf(body,
                         sizeof(body),
                         "{\"cat\":\"%s\",\"town\":\"%s\"}",
                         t->cat,
                         t->last_town);
        if (http_with(c,
                      t->s,
                      "POST",
                      entering ? "/enter" : "/leave",
                      body,
                      (size_t)n,
                      false,
                      a) != 0 ||
            a->status != 200) {
            t->unexpected++;
            continue;
        }
        if (entering) {
            snprintf(t->last_town, sizeof(t->last_town), "%s", town);
            t->in_town = true;
            if (i == t->rounds - 1)
                break;
        } else {
            t->in_town = false;
        }
    }
    free(a);
    curl_easy_cleanup(c);
    return NULL;
}

static void concurrent_travellers_keep_cats_and_towns_consistent(void **state)
{
    struct service *s = *state;
    enum { THREADS = 8 };
    struct traveller t[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        t[i] = (struct traveller){.s = s, .rounds = 301};
        snprintf(t[i].cat, sizeof(t[i].cat), "cat%d", i);
        assert_int_equal(pthread_create(&th[i], NULL, traveller_run, &t[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(t[i].unexpected, 0);

    json_t *cats = json_loads(http(s, "GET", "/cats", NULL)->body, 0, NULL);
    json_t *towns = json_loads(http(s, "GET", "/towns", NULL)->body, 0, NULL);
    json_t *cm = json_object_get(cats, "cats");
    json_t *tm = json_object_get(towns, "towns");
    assert_true(json_is_object(cm));
    assert_true(json_is_object(tm));
    assert_int_equal(json_object_size(cm), THREADS);
    size_t listed = 0;
    const char *town;
    json_t *list;
    json_object_foreach(tm, town, list)
    {
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            const char *where =
                json_string_value(json_object_get(cm, json_string_value(v)));
            assert_non_null(where);
            assert_string_equal(where, town);
            listed++;
        }
    }
    assert_int_equal(listed, THREADS);
    for (int i = 0; i < THREADS; i++) {
        assert_true(t[i].in_town);
        assert_string_equal(json_string_value(json_object_get(cm, t[i].cat)),
                            t[i].last_town);
    }
    json_decref(cats);
    json_decref(towns);
}

static void cat_load_travels_and_its_check_passes(void **state)
{
    struct service *s = *state;
    char *argv[] = {(char *)load_bin,
                    "--url",
                    s->url,
                    "--cats",
                    "12",
                    "--concurrency",
                    "4",
                    "--rate",
                    "0",
                    "--duration",
                    "2",
                    "--seed",
                    "7",
                    NULL};
    static char out[65536];
    int status = run(argv, out, sizeof(out), 60000);
    if (status != 0 || strstr(out, "check passed") == NULL ||
        strstr(out, "ERROR") != NULL)
        fail_msg("cat_load exited with %d:\n%s", status, out);
    /* A second run starts from where the first left the cats. */
    status = run(argv, out, sizeof(out), 60000);
    if (status != 0 || strstr(out, "check passed") == NULL)
        fail_msg("second cat_load run exited with %d:\n%s", status, out);
}

/*
 * The drift scenario's planted lost updates heal within about half a second,
 * so the state at the end of a run often holds none; the checkpoints during
 * the run see them. At the scenario's own rate, two looks in three found
 * one in measured runs; a five-second run has five looks (four checkpoints
 * and the end), so a clean miss is about 1 in 250. (Before the scenario
 * served each connection on a thread of its own, one run in ten had no
 * overlapping requests at all, and nothing to find.)
 */
static void cat_load_check_fails_in_the_drift_scenario(void **state)
{
    (void)state;
    static char out[65536];
    int status = 0;
    /*
     * A clean run is a matter of chance (above), and it happened once in
     * CI: a run whose check passed is made again, up to three runs (a miss
     * in all three is about 1 in 15 million). Any other outcome is judged
     * at once.
     */
    for (int attempt = 0; attempt < 3; attempt++) {
        struct service s;
        const char *flags[] = {"--scenario", "drift", NULL};
        assert_int_equal(service_start(&s, flags), 0);
        char *argv[] = {(char *)load_bin,
                        "--url",
                        s.url,
                        "--rate",
                        "200",
                        "--duration",
                        "5",
                        "--scenario",
                        "drift",
                        NULL};
        status = run(argv, out, sizeof(out), 60000);
        assert_int_equal(service_stop_with(&s, SIGTERM), 0);
        if (!(status == 0 && strstr(out, "check passed") != NULL))
            break;
    }
    /* Every answer was the expected one: only the check sees the bug. */
    if (status != 1 || strstr(out, "cat_load: check FAILED") == NULL ||
        strstr(out, "ERROR") != NULL || strstr(out, "check passed") != NULL)
        fail_msg("cat_load exited with %d:\n%s", status, out);
    /* What it reports is a town map that disagrees with the cat map. */
    if (strstr(out, "/towns lists \"") == NULL &&
        strstr(out, "but /towns does not list it there") == NULL)
        fail_msg("no disagreement of /cats and /towns reported:\n%s", out);
}

static void cat_load_logs_unexpected_answers_and_exits_1(void **state)
{
    struct service *s = *state;
    static const char *const cats[] = {"Murka", "Vasjka", "Marfa", "Tihon"};
    static const char *const towns[] = {"Barcelona",
                                        "Minsk",
                                        "Paris",
                                        "Lisbon",
                                        "Vilnius",
                                        "Prague",
                                        "Vienna",
                                        "Kraków",
                                        "Tbilisi",
                                        "Helsinki",
                                        "Porto",
                                        "Riga"};
    char *argv[] = {(char *)load_bin,
                    "--url",
                    s->url,
                    "--rate",
                    "50",
                    "--duration",
                    "2",
                    NULL};
    int fd;
    pid_t pid = child_spawn(argv, &fd, true);
    assert_true(pid > 0);
    /* Meanwhile someone else takes the agent's cats out of their towns. */
    long long end = child_now_ms() + 1500;
    while (child_now_ms() < end)
        for (size_t c = 0; c < 4; c++)
            for (size_t t = 0; t < 12; t++)
                travel(s, "/leave", cats[c], towns[t]);
    static char out[65536];
    child_read_until(fd, out, sizeof(out), 0, NULL, 60000);
    close(fd);
    int status = child_wait_exit(pid, 5000);
    if (status != 1 ||
        strstr(out, "ERROR: invalid request \"/leave\" {\"cat\":") == NULL ||
        strstr(out, "400 {\"error\":\"not_in_town\"}") == NULL)
        fail_msg("cat_load exited with %d:\n%s", status, out);
}

static void cat_load_exits_1_when_the_service_is_unreachable(void **state)
{
    static char out[4096];
    char *argv[] = {(char *)load_bin,
                    "--url",
                    "http://127.0.0.1:1",
                    "--duration",
                    "1",
                    NULL};
    assert_int_equal(run(argv, out, sizeof(out), 60000), 1);
    assert_non_null(strstr(out, "cannot read http://127.0.0.1:1/cats"));
}

static void bad_flags_exit_2_with_a_message(void **state)
{
    static char out[4096];
    const char *cases[][3] = {
        {"--port", "abc", "--port"},
        {"--port", "70000", "--port"},
        {"--threads", "0", "--threads"},
        {"--scenario", "nope", "unknown scenario"},
        {"--timeout", "-1", "--timeout"},
        {"--frobnicate", "1", "unknown option"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[] = {(char *)traveler_bin,
                        (char *)cases[i][0],
                        (char *)cases[i][1],
                        NULL};
        assert_int_equal(run(argv, out, sizeof(out), 10000), 2);
        if (strstr(out, cases[i][2]) == NULL)
            fail_msg("no \"%s\" in: %s", cases[i][2], out);
    }
    char *port_only[] = {(char *)traveler_bin, "--port", NULL};
    assert_int_equal(run(port_only, out, sizeof(out), 10000), 2);
    assert_non_null(strstr(out, "needs a value"));
    char *load[] = {(char *)load_bin, "--cats", "0", NULL};
    assert_int_equal(run(load, out, sizeof(out), 10000), 2);
    assert_non_null(strstr(out, "--cats"));
    char *help[] = {(char *)traveler_bin, "--help", NULL};
    assert_int_equal(run(help, out, sizeof(out), 10000), 0);
    assert_non_null(strstr(out, "--scenario"));
}

static void bad_bind_or_busy_port_exits_1_with_a_message(void **state)
{
    struct service *s = *state;
    static char out[4096];
    char port[16];
    snprintf(port, sizeof(port), "%u", s->port);
    char *busy[] = {(char *)traveler_bin, "--port", port, NULL};
    assert_int_equal(run(busy, out, sizeof(out), 10000), 1);
    assert_non_null(strstr(out, "cannot listen"));
    char *bind[] = {(char *)traveler_bin, "--bind", "localhost", NULL};
    assert_int_equal(run(bind, out, sizeof(out), 10000), 1);
    assert_non_null(strstr(out, "not an IPv4 or IPv6 address"));
}

/*
 * The admin endpoint, asked for with its flags, starts on its own port
 * and creates the token file (mode 0600); a token file it cannot create is
 * an error that names it, and the service does not start.
 */
static void admin_flags_start_the_admin_endpoint(void **state)
{
    (void)state;
    char dir[] = "/tmp/cat_traveler_admin_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char token[sizeof(dir) + 16];
    snprintf(token, sizeof(token), "%s/token", dir);
    struct service s;
    const char *flags[] = {"--admin-port",
                           "0",
                           "--admin-bind",
                           "127.0.0.1",
                           "--token-file",
                           token,
                           NULL};
    assert_int_equal(service_start(&s, flags), 0);
    assert_non_null(strstr(s.output, "admin endpoint on http://127.0.0.1:"));
    struct stat st;
    assert_int_equal(stat(token, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(service_stop_with(&s, SIGTERM), 0);
    unlink(token);
    rmdir(dir);

    static char out[4096];
    char *argv[] = {(char *)traveler_bin,
                    "--port",
                    "0",
                    "--admin-port",
                    "0",
                    "--token-file",
                    "/nonexistent/token",
                    NULL};
    assert_int_equal(run(argv, out, sizeof(out), 10000), 1);
    assert_non_null(strstr(out, "/nonexistent/token"));
}

/*
 * --trace traces from the start into --trace-file, without limits, until
 * the service stops: the file holds the call and its return, in redbug's
 * text, and the service says how the session ended.
 */
static void trace_flag_records_calls_into_a_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/cat_traveler_trace_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[sizeof(dir) + 16];
    snprintf(file, sizeof(file), "%s/trace.txt", dir);
    struct service s;
    const char *flags[] = {"--trace",
                           "cat_traveler:enter/2 -> return",
                           "--trace-file",
                           file,
                           NULL};
    assert_int_equal(service_start(&s, flags), 0);
    assert_answer(
        travel(&s, "/enter", "Tihon", "Vienna"), 200, "{\"result\":\"ok\"}");
    assert_int_equal(service_stop_with(&s, SIGTERM), 0);
    assert_non_null(strstr(s.output,
                           "--trace: stopped by user (2 events, 0 "
                           "dropped)"));
    char text[4096] = "";
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(
        strstr(text, "% cat_traveler:enter(\"Tihon\", \"Vienna\")\n"));
    assert_non_null(strstr(text, "% cat_traveler:enter/2 -> ok ("));
    assert_non_null(strstr(text, "% stopped: stopped by user (2 events"));
    unlink(file);
    rmdir(dir);

    /* A bad spec is refused before the service starts. */
    static char out[4096];
    char *argv[] = {(char *)traveler_bin,
                    "--port",
                    "0",
                    "--no-admin",
                    "--trace",
                    "cat_traveler:enter(",
                    "--trace-file",
                    "/dev/null",
                    NULL};
    assert_int_equal(run(argv, out, sizeof(out), 10000), 1);
    assert_non_null(strstr(out, "--trace: "));
}

static void every_scenario_starts_and_serves(void **state)
{
    const char *names[] = {"hot-cat", "slow-town", "backlog", "drift"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct service s;
        const char *flags[] = {"--scenario", names[i], "--seed", "1", NULL};
        assert_int_equal(service_start(&s, flags), 0);
        assert_answer(travel(&s, "/enter", "Tihon", "Vienna"),
                      200,
                      "{\"result\":\"ok\"}");
        assert_answer(travel(&s, "/enter", "Tihon", "Riga"),
                      400,
                      "{\"error\":\"already_in_town\",\"town\":\"Vienna\"}");
        assert_answer(travel(&s, "/leave", "Tihon", "Vienna"),
                      200,
                      "{\"result\":\"ok\"}");
        assert_answer(travel(&s, "/leave", "Tihon", "Vienna"),
                      400,
                      "{\"error\":\"not_in_town\"}");
        assert_answer(http(&s, "GET", "/towns", NULL), 200, "{\"towns\":{}}");
        assert_int_equal(service_stop_with(&s, SIGTERM), 0);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: %s CAT_TRAVELER CAT_LOAD [TEST-NAME-GLOB]\n",
                argv[0]);
        return 2;
    }
    traveler_bin = argv[1];
    load_bin = argv[2];
    if (argc > 3)
        cmocka_set_test_filter(argv[3]);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define WITH_SERVICE(t) \
    cmocka_unit_test_setup_teardown(t, setup_service, teardown_service)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(service_prints_its_url_and_exits_zero_on_sigterm),
        cmocka_unit_test(service_exits_zero_on_sigint),
        WITH_SERVICE(health_answers_ok),
        WITH_SERVICE(enter_then_leave_moves_a_cat_in_and_out),
        WITH_SERVICE(enter_while_in_a_town_answers_already_in_town),
        WITH_SERVICE(leave_outside_the_cats_town_answers_not_in_town),
        WITH_SERVICE(cats_and_towns_list_everyone_sorted),
        WITH_SERVICE(connections_stay_open_between_requests),
        WITH_SERVICE(unknown_paths_answer_404),
        WITH_SERVICE(wrong_methods_answer_405_with_allow),
        WITH_SERVICE(body_over_4_kib_is_refused_from_content_length),
        WITH_SERVICE(chunked_body_over_4_kib_is_refused_while_reading),
        WITH_SERVICE(huge_bodies_are_refused_and_the_service_keeps_serving),
        WITH_SERVICE(body_of_exactly_4_kib_is_accepted),
        WITH_SERVICE(bodies_that_are_not_json_answer_bad_request),
        WITH_SERVICE(missing_and_wrong_fields_answer_bad_request),
        WITH_SERVICE(duplicate_keys_are_rejected),
        WITH_SERVICE(invalid_utf8_nul_and_control_characters_are_rejected),
        WITH_SERVICE(names_are_counted_in_characters),
        cmocka_unit_test(idle_connections_are_closed_after_the_timeout),
        WITH_SERVICE(malformed_http_is_refused_and_the_service_keeps_serving),
        WITH_SERVICE(concurrent_travellers_keep_cats_and_towns_consistent),
        WITH_SERVICE(cat_load_travels_and_its_check_passes),
        cmocka_unit_test(cat_load_check_fails_in_the_drift_scenario),
        WITH_SERVICE(cat_load_logs_unexpected_answers_and_exits_1),
        cmocka_unit_test(cat_load_exits_1_when_the_service_is_unreachable),
        cmocka_unit_test(bad_flags_exit_2_with_a_message),
        WITH_SERVICE(bad_bind_or_busy_port_exits_1_with_a_message),
        cmocka_unit_test(admin_flags_start_the_admin_endpoint),
        cmocka_unit_test(trace_flag_records_calls_into_a_file),
        cmocka_unit_test(every_scenario_starts_and_serves),
    };
#undef WITH_SERVICE
    int failed = cmocka_run_group_tests_name("cat_traveler", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
