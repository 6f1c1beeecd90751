/* SPDX-License-Identifier: MIT */
/*
 * The version string of the library as built.
 */
#include "ctrace/version.h"

#define CTRACE__STR2(x) #x
#define CTRACE__STR(x)  CTRACE__STR2(x)

const char *ctrace_version_string(void)
{
    return CTRACE__STR(CTRACE_VERSION_MAJOR) "." CTRACE__STR(
        CTRACE_VERSION_MINOR) "." CTRACE__STR(CTRACE_VERSION_PATCH);
}
