/* SPDX-License-Identifier: MIT */
/* An HTTP answer collected by libcurl: see http.h. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct curl_slist *answer_request_headers(const char *token)
{
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    if (token != NULL) {
        char auth[256];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    return headers;
}

void answer_free(struct answer *a)
{
    free(a->body);
    memset(a, 0, sizeof(*a));
}

size_t answer_on_body(char *data, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t bytes = size * n;
    char *p = realloc(a->body, a->len + bytes + 1);
    if (p == NULL)
        return 0;
    a->body = p;
    memcpy(a->body + a->len, data, bytes);
    a->len += bytes;
    a->body[a->len] = '\0';
    return bytes;
}

void answer_header_value(const char *data,
                         size_t bytes,
                         const char *name,
                         char *out,
                         size_t size)
{
    size_t n = strlen(name);
    if (bytes <= n || strncasecmp(data, name, n) != 0)
        return;
    data += n;
    bytes -= n;
    while (bytes > 0 && *data == ' ') {
        data++;
        bytes--;
    }
    while (bytes > 0 && (data[bytes - 1] == '\r' || data[bytes - 1] == '\n'))
        bytes--;
    if (bytes >= size)
        bytes = size - 1;
    memcpy(out, data, bytes);
    out[bytes] = '\0';
}

size_t answer_on_header(char *data, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t bytes = size * n;
    answer_header_value(data, bytes, "Allow:", a->allow, sizeof(a->allow));
    answer_header_value(
        data, bytes, "Content-Type:", a->content_type, sizeof(a->content_type));
    answer_header_value(
        data, bytes, "Location:", a->location, sizeof(a->location));
    answer_header_value(
        data, bytes, "Content-Security-Policy:", a->csp, sizeof(a->csp));
    answer_header_value(
        data, bytes, "Cache-Control:", a->cache, sizeof(a->cache));
    answer_header_value(data, bytes, "ETag:", a->etag, sizeof(a->etag));
    return bytes;
}
