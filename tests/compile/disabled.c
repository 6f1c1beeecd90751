/* SPDX-License-Identifier: MIT */
/*
 * Compile test, and a helper of unit.points: every macro with
 * CTRACE_DISABLE. The arguments must still be type-checked, evaluated
 * never, and nothing of ctrace may be referenced: check.sh makes sure the
 * object has no undefined ctrace symbol and no ctrace_points section, and
 * test_points calls these functions with a counter that must stay 0.
 */
#ifndef CTRACE_DISABLE
#define CTRACE_DISABLE 1
#endif

#include <stdbool.h>
#include <stddef.h>

#include "ctrace/point.h"

int disabled_add(int *evaluations, int a, int b);
void disabled_touch(int *evaluations);
const char *disabled_file(void);

/* Used only in trace arguments: must not be "unused" or "unneeded". */
static int bump(int *n)
{
    return ++*n;
}

static const char *rc_name(int rc)
{
    return rc == 0 ? "ok" : "error";
}

int disabled_add(int *evaluations, int a, int b)
{
    CTRACE_CALL(disabled_tu, add, bump(evaluations), a, b);
    int only_traced = a * b;
    CTRACE_EVENT(disabled_tu, product, only_traced, bump(evaluations));
    CTRACE_EVENT(disabled_tu, nothing);
    if (a < 0)
        CTRACE_RETURN_VALUE(-1,
                            ctrace_value_symbol(rc_name(bump(evaluations))));
    CTRACE_RETURN(a + b);
}

void disabled_touch(int *evaluations)
{
    CTRACE_CALL(disabled_tu,
                touch,
                bump(evaluations),
                "text",
                1.5,
                true,
                (void *)evaluations);
    if (*evaluations > 100)
        CTRACE_RETURN_VOID();
    CTRACE_EVENT(disabled_tu, a, bump(evaluations));
    CTRACE_EVENT(disabled_tu, b);
}

static void no_arguments(void)
{
    CTRACE_CALL(disabled_tu, no_arguments);
}

const char *disabled_file(void)
{
    no_arguments();
    return "compile/disabled.c";
}
