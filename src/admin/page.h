/* SPDX-License-Identifier: MIT */
/*
 * The observer page's files (docs/observer.md): static HTML, CSS and
 * JavaScript from src/admin/page/, compiled into the library as byte
 * arrays by src/admin/page/embed.cmake. A leaf of the admin endpoint: it
 * knows the files, not HTTP.
 *
 * Thread-safety: the table is constant; any thread.
 */
#ifndef CTRACE_ADMIN_PAGE_H
#define CTRACE_ADMIN_PAGE_H

#include <stddef.h>

struct ctrace__page_file {
    const char *path;          /* "/index.html" */
    const char *type;          /* its Content-Type */
    const char *etag;          /* a strong ETag, quoted */
    const unsigned char *data; /* NUL-terminated past `size` */
    size_t size;
};

/* Every file, ended by one whose path is NULL (generated). */
extern const struct ctrace__page_file ctrace__page_files[];

/*
 * The file served at `url`: "/" is "/index.html". NULL when there is none.
 */
const struct ctrace__page_file *ctrace__page_find(const char *url);

/* The bytes of every file together, for /api/v1/system and the docs. */
size_t ctrace__page_size(void);

#endif
