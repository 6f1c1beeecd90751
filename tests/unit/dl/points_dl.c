/* SPDX-License-Identifier: MIT */
/*
 * A tiny library that test_points loads with dlopen() after start-up: its
 * trace points must appear in the registry when it is loaded and disappear
 * when it is unloaded. It has two translation units, so that the module's
 * range is registered twice and must be counted, not listed twice.
 *
 * It does not link libctrace: the ctrace__ entry points resolve to the test
 * executable, which links the library statically and exports them.
 */
#include <string.h>

#include "ctrace/point.h"

#define DL_EXPORT __attribute__((visibility("default")))

DL_EXPORT int dl_cat_enter(const char *cat, const char *town);

int dl_cat_enter(const char *cat, const char *town)
{
    CTRACE_CALL(dl_cat, enter, cat, town);
    CTRACE_EVENT(dl_cat, moved, town);
    CTRACE_RETURN((int)(strlen(cat) + strlen(town)));
}
