/* SPDX-License-Identifier: MIT */
/* The observer page's files: see page.h. */
#include "admin/page.h"

#include <string.h>

const struct ctrace__page_file *ctrace__page_find(const char *url)
{
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    for (const struct ctrace__page_file *f = ctrace__page_files;
         f->path != NULL;
         f++)
        if (strcmp(f->path, url) == 0)
            return f;
    return NULL;
}

size_t ctrace__page_size(void)
{
    size_t n = 0;
    for (const struct ctrace__page_file *f = ctrace__page_files;
         f->path != NULL;
         f++)
        n += f->size;
    return n;
}
