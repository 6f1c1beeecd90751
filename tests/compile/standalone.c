/* SPDX-License-Identifier: MIT */
/*
 * Compile test: ctrace/point.h compiles on its own, first and alone, and
 * through the umbrella header; a translation unit with no trace point
 * (only the module constructor) is fine.
 */
#include "ctrace/point.h"

#include "ctrace/ctrace.h"

int compile_standalone(void);

static int count(const struct ctrace_point *pt, void *arg)
{
    (void)pt;
    (void)arg;
    return 0;
}

int compile_standalone(void)
{
    return ctrace_points_foreach("cat_*:enter", count, NULL);
}
