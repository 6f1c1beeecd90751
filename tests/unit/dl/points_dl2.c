/* SPDX-License-Identifier: MIT */
/*
 * The second translation unit of the dlopen() test library (see
 * points_dl.c): it registers the same module range a second time.
 */
#include <string.h>

#include "ctrace/point.h"

#define DL_EXPORT __attribute__((visibility("default")))

DL_EXPORT int dl_cat_leave(const char *cat);

int dl_cat_leave(const char *cat)
{
    CTRACE_CALL(dl_cat, leave, cat);
    CTRACE_RETURN((int)strlen(cat));
}
