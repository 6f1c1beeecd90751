/* SPDX-License-Identifier: MIT */
/*
 * Uses the installed library through its public headers only: prints the
 * version and renders a value, so that a wrong install fails to build,
 * link or run.
 */
#include <stdio.h>
#include <string.h>

#include <ctrace/ctrace.h>

int main(void)
{
    struct ctrace_value items[2] = {ctrace_value_symbol("cat"),
                                    ctrace_value_string("Tihon")};
    struct ctrace_value v = ctrace_value_tuple(items, 2);
    char buf[64];
    ctrace_value_format(&v, NULL, buf, sizeof(buf));
    printf("ctrace %s %s\n", ctrace_version_string(), buf);
    return strcmp(buf, "{cat,\"Tihon\"}") == 0 ? 0 : 1;
}
