/* SPDX-License-Identifier: MIT */
/* Must not compile: a trace point records at most 10 arguments. */
/* expect: at most 10 arguments */
#include "ctrace/point.h"

void f(int a);

void f(int a)
{
    CTRACE_CALL(compile, f, a, a, a, a, a, a, a, a, a, a, a);
}
