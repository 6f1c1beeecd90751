/* SPDX-License-Identifier: MIT */
/* Must not compile: module and function are identifiers, not strings. */
/* expect: pasting */
#include "ctrace/point.h"

void f(void);

void f(void)
{
    CTRACE_CALL("cat_traveler", f);
}
