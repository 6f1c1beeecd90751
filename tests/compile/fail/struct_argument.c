/* SPDX-License-Identifier: MIT */
/* Must not compile: a struct is no trace argument (use a value.h value). */
/* expect: incompatible type */
#include "ctrace/point.h"

struct pos {
    int x;
};

void f(struct pos p);

void f(struct pos p)
{
    CTRACE_CALL(compile, f, p);
}
