/* SPDX-License-Identifier: MIT */
/* Must not compile: CTRACE_RETURN_VALUE's value must be a ctrace value. */
/* expect: incompatible type */
#include "ctrace/point.h"

int f(int x);

int f(int x)
{
    CTRACE_CALL(compile, f, x);
    CTRACE_RETURN_VALUE(x, x);
}
