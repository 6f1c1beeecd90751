/* SPDX-License-Identifier: MIT */
/*
 * The command line's HTTP client of the admin endpoint (docs/admin-api.md),
 * on libcurl: plain JSON requests, and the Server-Sent Events reader that
 * `ctrace trace` prints from. Every failure is reported here, once, in the
 * words a person needs to fix it, and mapped to the exit status a script
 * relies on: 3 when the service cannot be reached or refuses the token, 1
 * when it answers with an error. Signal handling lives here too, since the
 * event stream is what Ctrl-C has to interrupt.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "ctrace/error.h"
#include "ctrace/version.h"

#define CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_TIMEOUT_MS 30000L
/* Answers bigger than this are a broken service, not data to keep. */
#define MAX_BODY (64u << 20)
/* The stream sends a keepalive every 5 s; silence this long means it died. */
#define STREAM_SILENCE_S 30L

/* ---- Signals. ---- */

volatile sig_atomic_t ctrace_cli_interrupted;

static void on_signal(int sig)
{
    /* A second Ctrl-C means "now": the first one is still being handled. */
    if (ctrace_cli_interrupted)
        _exit(128 + sig);
    ctrace_cli_interrupted = sig;
}

void ctrace_cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a sleep or a poll must wake up to see the flag. */
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void ctrace_cli_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        if (ctrace_cli_interrupted)
            return;
}

/* ---- Token. ---- */

void ctrace_cli_load_token(struct ctrace_cli *cli)
{
    cli->token[0] = '\0';
    cli->token_error[0] = '\0';
    /*
     * Non-blocking, so that a FIFO cannot hang the command: it is refused,
     * like anything else that is not a regular file.
     */
    int fd = open(cli->token_file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(cli->token_error,
                 sizeof(cli->token_error),
                 "%s",
                 ctrace_strerror(-errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(cli->token_error,
                 sizeof(cli->token_error),
                 "it is %s, not a regular file",
                 S_ISDIR(st.st_mode)    ? "a directory"
                 : S_ISFIFO(st.st_mode) ? "a FIFO"
                                        : "a device");
        close(fd);
        return;
    }
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        snprintf(cli->token_error,
                 sizeof(cli->token_error),
                 "%s",
                 ctrace_strerror(-errno));
        close(fd);
        return;
    }
    size_t n = fread(cli->token, 1, sizeof(cli->token) - 1, f);
    int read_errno = ferror(f) ? errno : 0;
    bool more = n == sizeof(cli->token) - 1 && fgetc(f) != EOF;
    fclose(f);
    cli->token[n] = '\0';
    /* The token is one word; the file may end with a newline. */
    char *p = cli->token + strspn(cli->token, " \t\r\n");
    memmove(cli->token, p, strlen(p) + 1);
    size_t len = strlen(cli->token);
    while (len > 0 && strchr(" \t\r\n", cli->token[len - 1]) != NULL)
        cli->token[--len] = '\0';
    const char *why = NULL;
    if (read_errno != 0)
        why = ctrace_strerror(-read_errno);
    else if (more)
        why = "it is too long";
    else if (len == 0)
        why = "it is empty";
    else if (strcspn(cli->token, " \t\r\n") != len)
        why = "it holds more than one word";
    if (why != NULL) {
        snprintf(cli->token_error, sizeof(cli->token_error), "%s", why);
        cli->token[0] = '\0';
    }
}

/* ---- Requests. ---- */

struct buf {
    char *data;
    size_t len;
    size_t cap;
    bool overflow;
};

static bool buf_add(struct buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        if (b->len + n + 1 > MAX_BODY) {
            b->overflow = true;
            return false;
        }
        size_t cap = b->cap == 0 ? 1024 : b->cap;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->overflow = true;
            return false;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    return buf_add(arg, p, size * n) ? size * n : 0;
}

char *ctrace_cli_escape(const char *text)
{
    char *e = curl_easy_escape(NULL, text, 0);
    if (e == NULL)
        return NULL;
    char *copy = strdup(e);
    curl_free(e);
    return copy;
}

/* An easy handle for url/PATH with the headers every request carries. */
static CURL *easy_new(struct ctrace_cli *cli,
                      const char *path,
                      const char *accept,
                      struct curl_slist **headers,
                      char *errbuf)
{
    CURL *h = curl_easy_init();
    if (h == NULL)
        return NULL;
    size_t len = strlen(cli->url) + strlen(path) + 1;
    char *url = malloc(len);
    if (url == NULL) {
        curl_easy_cleanup(h);
        return NULL;
    }
    snprintf(url, len, "%s%s", cli->url, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    free(url);
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    /* The endpoint is reached directly, never through a proxy from the
     * environment. */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    char line[sizeof(cli->token) + 32];
    snprintf(line, sizeof(line), "ctrace/%s", ctrace_version_string());
    curl_easy_setopt(h, CURLOPT_USERAGENT, line);
    *headers = NULL;
    if (cli->token[0] != '\0') {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", cli->token);
        *headers = curl_slist_append(*headers, line);
    }
    snprintf(line, sizeof(line), "Accept: %s", accept);
    *headers = curl_slist_append(*headers, line);
    return h;
}

/* Prints an error unless the caller asked for quiet. */
__attribute__((format(printf, 2, 3))) static void
say(const struct ctrace_cli *cli, const char *fmt, ...)
{
    if (cli->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* Reports a transfer that failed below HTTP. Returns the exit status. */
static int report_curl(struct ctrace_cli *cli,
                       CURL *h,
                       CURLcode rc,
                       const char *errbuf,
                       long timeout_ms)
{
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    curl_off_t connected_us = 0;
    curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connected_us);
    const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        if (connected_us > 0) {
            say(cli,
                "ctrace: %s did not answer within %ld s\n",
                cli->url,
                timeout_ms / 1000);
            return CTRACE_CLI_REMOTE;
        }
        why = "timed out";
        break;
    case CURLE_COULDNT_CONNECT:
        if (os_errno != 0)
            why = ctrace_strerror(-((int)os_errno));
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_SSL_CONNECT_ERROR:
        break;
    default:
        say(cli, "ctrace: request to %s failed: %s\n", cli->url, why);
        return CTRACE_CLI_REMOTE;
    }
    say(cli,
        "ctrace: cannot connect to %s: %s; is the service running with "
        "its admin endpoint? set --url or CTRACE_URL\n",
        cli->url,
        why);
    return CTRACE_CLI_CONNECT;
}

/* Reports an HTTP error answer. Returns the exit status. */
static int report_http(struct ctrace_cli *cli, long status, struct buf *body)
{
    if (status == 401) {
        if (cli->token[0] == '\0')
            say(cli,
                "ctrace: not authorized: cannot read token file %s (%s); "
                "use the token file of the service (--token-file or "
                "CTRACE_TOKEN_FILE)\n",
                cli->token_file_shown,
                cli->token_error);
        else
            say(cli,
                "ctrace: not authorized: the token in %s was refused; use "
                "the token file of the service (--token-file or "
                "CTRACE_TOKEN_FILE)\n",
                cli->token_file_shown);
        return CTRACE_CLI_CONNECT;
    }
    json_t *e =
        body->len > 0 ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(e, "error"));
    const char *detail = json_string_value(json_object_get(e, "detail"));
    const char *spec = json_string_value(json_object_get(e, "spec"));
    json_int_t column = json_integer_value(json_object_get(e, "column"));
    int rc = CTRACE_CLI_REMOTE;
    if (code != NULL && strcmp(code, "bad_pattern") == 0 && spec != NULL) {
        if (!cli->quiet)
            ctrace_cli_pattern_report(spec,
                                      0,
                                      1,
                                      (int)column,
                                      detail != NULL ? detail : "bad pattern");
        rc = CTRACE_CLI_USAGE;
    } else if (code != NULL && strcmp(code, "too_broad") == 0 &&
               detail != NULL && strstr(detail, "set force") != NULL) {
        /*
         * The service names its C option ("set force"); here the remedy is
         * the command line's flag.
         */
        const char *at = strstr(detail, "set force");
        say(cli,
            "ctrace: %.*sadd --force%s\n",
            (int)(at - detail),
            detail,
            at + strlen("set force"));
    } else if (detail != NULL && detail[0] != '\0') {
        say(cli, "ctrace: %s\n", detail);
    } else if (code != NULL) {
        say(cli, "ctrace: %s (HTTP %ld)\n", code, status);
    } else {
        say(cli,
            "ctrace: %s answered HTTP %ld; is it a ctrace admin "
            "endpoint?\n",
            cli->url,
            status);
    }
    json_decref(e);
    return rc;
}

int ctrace_cli_request(struct ctrace_cli *cli,
                       const char *method,
                       const char *path,
                       json_t *body,
                       long timeout_ms,
                       json_t **out)
{
    return ctrace_cli_request_with(
        cli, method, path, body, NULL, NULL, timeout_ms, out);
}

int ctrace_cli_request_with(struct ctrace_cli *cli,
                            const char *method,
                            const char *path,
                            json_t *body,
                            const char *content_type,
                            const char *if_match,
                            long timeout_ms,
                            json_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (timeout_ms <= 0)
        timeout_ms = DEFAULT_TIMEOUT_MS;
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL;
    CURL *h = easy_new(cli, path, "application/json", &headers, errbuf);
    char *text = NULL;
    if (h == NULL)
        goto oom;
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL)
            goto oom;
        char type[128];
        snprintf(type,
                 sizeof(type),
                 "Content-Type: %s",
                 content_type != NULL ? content_type : "application/json");
        headers = curl_slist_append(headers, type);
        /* Bodies are small: no "Expect: 100-continue" round trip. */
        headers = curl_slist_append(headers, "Expect:");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    }
    if (if_match != NULL) {
        char line[96];
        snprintf(line, sizeof(line), "If-Match: %s", if_match);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    struct buf reply = {0};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);

    int status;
    CURLcode rc = curl_easy_perform(h);
    long http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
    if (reply.overflow) {
        fprintf(stderr,
                "ctrace: the answer of %s%s is too large\n",
                cli->url,
                path);
        status = CTRACE_CLI_REMOTE;
    } else if (rc != CURLE_OK) {
        status = report_curl(cli, h, rc, errbuf, timeout_ms);
    } else if (http < 200 || http > 299) {
        status = report_http(cli, http, &reply);
    } else {
        status = CTRACE_CLI_OK;
        if (out != NULL && reply.len > 0) {
            json_error_t jerr;
            *out = json_loadb(reply.data, reply.len, JSON_DECODE_ANY, &jerr);
            if (*out == NULL) {
                fprintf(stderr,
                        "ctrace: %s%s answered with a body that is not JSON: "
                        "%s\n",
                        cli->url,
                        path,
                        jerr.text);
                status = CTRACE_CLI_REMOTE;
            }
        }
    }
    free(reply.data);
    free(text);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return status;
oom:
    fputs("ctrace: out of memory\n", stderr);
    free(text);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return CTRACE_CLI_REMOTE;
}

/* ---- Server-Sent Events. ---- */

struct sse {
    const struct ctrace_cli_sse_ops *ops;
    void *arg;
    CURL *h;
    long status; /* 0 until the first byte */
    struct buf error_body;
    struct buf line;
    struct buf data;
    char type[64];
    bool has_data;
    bool ended;
    bool overflow;
};

/* One line of the stream, without its end of line. */
static void sse_line(struct sse *s, char *line, size_t len)
{
    if (len == 0) {
        if (s->has_data && s->ops->event != NULL &&
            s->ops->event(s->type[0] != '\0' ? s->type : "message",
                          s->data.data != NULL ? s->data.data : "",
                          s->arg))
            s->ended = true;
        s->type[0] = '\0';
        s->data.len = 0;
        if (s->data.data != NULL)
            s->data.data[0] = '\0';
        s->has_data = false;
        return;
    }
    if (line[0] == ':')
        return; /* a comment: the keepalive */
    char *colon = memchr(line, ':', len);
    size_t name_len = colon != NULL ? (size_t)(colon - line) : len;
    const char *value = colon != NULL ? colon + 1 : "";
    if (colon != NULL && *value == ' ')
        value++;
    size_t value_len = line + len - value;
    if (colon == NULL)
        value_len = 0;
    if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        size_t n =
            value_len < sizeof(s->type) - 1 ? value_len : sizeof(s->type) - 1;
        memcpy(s->type, value, n);
        s->type[n] = '\0';
    } else if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        if ((s->has_data && !buf_add(&s->data, "\n", 1)) ||
            !buf_add(&s->data, value, value_len))
            s->overflow = true;
        s->has_data = true;
    }
}

static size_t sse_write(char *p, size_t size, size_t n, void *arg)
{
    struct sse *s = arg;
    size_t total = size * n;
    if (s->status == 0)
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status != 200)
        return buf_add(&s->error_body, p, total) ? total : 0;
    for (size_t i = 0; i < total && !s->ended; i++) {
        if (p[i] != '\n') {
            if (!buf_add(&s->line, p + i, 1)) {
                s->overflow = true;
                return 0;
            }
            continue;
        }
        size_t len = s->line.len;
        if (len > 0 && s->line.data[len - 1] == '\r')
            len--;
        sse_line(s, s->line.data, len);
        s->line.len = 0;
        if (s->overflow)
            return 0;
    }
    return s->ended ? 0 : total;
}

int ctrace_cli_sse(struct ctrace_cli *cli,
                   const char *path,
                   const struct ctrace_cli_sse_ops *ops,
                   void *arg)
{
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL;
    struct sse s = {.ops = ops, .arg = arg};
    s.h = easy_new(cli, path, "text/event-stream", &headers, errbuf);
    CURLM *m = curl_multi_init();
    if (s.h == NULL || m == NULL) {
        fputs("ctrace: out of memory\n", stderr);
        curl_multi_cleanup(m);
        curl_easy_cleanup(s.h);
        curl_slist_free_all(headers);
        return CTRACE_CLI_REMOTE;
    }
    curl_easy_setopt(s.h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(s.h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(s.h, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(s.h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(s.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(s.h, CURLOPT_LOW_SPEED_TIME, STREAM_SILENCE_S);
    curl_multi_add_handle(m, s.h);

    CURLcode result = CURLE_OK;
    int running = 1;
    while (!s.ended) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running == 0)
            break;
        if (ops->tick != NULL && ops->tick(arg)) {
            s.ended = true;
            break;
        }
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    int queued;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &queued)) != NULL)
        if (msg->msg == CURLMSG_DONE)
            result = msg->data.result;

    int status;
    if (s.ended) {
        status = CTRACE_CLI_OK;
    } else if (s.overflow) {
        fprintf(stderr, "ctrace: an event from %s is too large\n", cli->url);
        status = CTRACE_CLI_REMOTE;
    } else if (s.status != 0 && s.status != 200) {
        status = report_http(cli, s.status, &s.error_body);
    } else if (result != CURLE_OK) {
        status = report_curl(cli, s.h, result, errbuf, STREAM_SILENCE_S * 1000);
    } else {
        status = -1;
    }
    curl_multi_remove_handle(m, s.h);
    curl_multi_cleanup(m);
    curl_easy_cleanup(s.h);
    curl_slist_free_all(headers);
    free(s.error_body.data);
    free(s.line.data);
    free(s.data.data);
    return status;
}
