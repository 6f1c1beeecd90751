/* SPDX-License-Identifier: MIT */
/*
 * An HTTP answer collected by libcurl, for the integration tests written
 * in C: the status, the body (NUL-terminated) and the headers the tests
 * look at. Give answer_on_body() and answer_on_header() to
 * CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION with the answer as
 * their data; free it with answer_free().
 */
#ifndef CTRACE_TEST_HTTP_H
#define CTRACE_TEST_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

struct answer {
    long status;
    char *body; /* NUL-terminated, allocated; NULL until a byte came */
    size_t len;
    char allow[128];
    char content_type[128];
    char location[128];
    char csp[512];  /* Content-Security-Policy */
    char cache[64]; /* Cache-Control */
    char etag[64];
};

/*
 * The headers every test request sends: "Expect:" (no 100-continue) and,
 * when `token` is not NULL, "Authorization: Bearer TOKEN". Append more
 * with curl_slist_append(); free with curl_slist_free_all().
 */
struct curl_slist *answer_request_headers(const char *token);

/* Frees the body and clears the answer. */
void answer_free(struct answer *a);

/* libcurl's write callback: appends to `arg`'s body. */
size_t answer_on_body(char *data, size_t size, size_t n, void *arg);

/*
 * Copies the value of header `name` (written "Name:") into `out` (cut to
 * `size`), when the header line `data` of `bytes` bytes is that header.
 */
void answer_header_value(const char *data,
                         size_t bytes,
                         const char *name,
                         char *out,
                         size_t size);

/* libcurl's header callback: keeps the headers struct answer names. */
size_t answer_on_header(char *data, size_t size, size_t n, void *arg);

#endif /* CTRACE_TEST_HTTP_H */
