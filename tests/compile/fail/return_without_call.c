/* SPDX-License-Identifier: MIT */
/* Must not compile: CTRACE_RETURN needs the frame of a CTRACE_CALL. */
/* expect: ctrace__frame */
#include "ctrace/point.h"

int f(int x);

int f(int x)
{
    CTRACE_RETURN(x);
}
