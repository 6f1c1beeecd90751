/* SPDX-License-Identifier: MIT */
/*
 * Compile test: CTRACE_EVENT where statements go. Two points on one line
 * (each keeps its own descriptor), a brace-less if/else, loops, a switch,
 * and 0 to 10 arguments; CTRACE_EVENT inside a function that has a
 * CTRACE_CALL (no -Wshadow clash between their locals).
 */
#include <stddef.h>

#include "ctrace/point.h"

int compile_statements(int n, const char *cat);

int compile_statements(int n, const char *cat)
{
    CTRACE_CALL(compile, statements, n, cat);
    CTRACE_EVENT(compile, one, n);
    CTRACE_EVENT(compile, two, n, cat);

    if (n > 0)
        CTRACE_EVENT(compile, positive, n);
    else
        CTRACE_EVENT(compile, not_positive);

    if (n > 10)
        CTRACE_EVENT(compile, big);
    else if (n > 5)
        CTRACE_EVENT(compile, medium, n);
    else
        CTRACE_EVENT(compile, small, n, cat);

    for (int i = 0; i < n; i++)
        CTRACE_EVENT(compile, loop, i);

    while (n-- > 20)
        CTRACE_EVENT(compile, countdown, n);

    switch (n) {
    case 1:
        CTRACE_EVENT(compile, one_case);
        break;
    default:
        CTRACE_EVENT(compile, default_case, n);
        break;
    }

    CTRACE_EVENT(compile, ten, n, n, n, n, n, cat, cat, cat, cat, cat);
    CTRACE_RETURN(n);
}
