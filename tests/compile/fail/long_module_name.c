/* SPDX-License-Identifier: MIT */
/* Must not compile: names are at most 127 characters. */
/* expect: 1 to 127 characters */
#include "ctrace/point.h"

void f(void);

void f(void)
{
    CTRACE_EVENT(
        a123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789,
        f);
}
