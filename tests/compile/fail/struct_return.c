/* SPDX-License-Identifier: MIT */
/* Must not compile: CTRACE_RETURN of a struct (use CTRACE_RETURN_VALUE). */
/* expect: incompatible type */
#include "ctrace/point.h"

struct pos {
    int x;
};

struct pos f(int x);

struct pos f(int x)
{
    CTRACE_CALL(compile, f, x);
    struct pos p = {x};
    CTRACE_RETURN(p);
}
