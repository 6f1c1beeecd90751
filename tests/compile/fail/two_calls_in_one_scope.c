/* SPDX-License-Identifier: MIT */
/* Must not compile: one CTRACE_CALL per function (one frame per scope). */
/* expect: (redefinition|redeclaration) of .ctrace__ */
#include "ctrace/point.h"

void f(int a);

void f(int a)
{
    CTRACE_CALL(compile, f, a);
    CTRACE_CALL(compile, g, a);
}
