/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: any byte string goes through the parser; what parses is
 * printed as JSON and matched against a few argument lists, so the
 * compiler, the printer and the matcher are all exercised. A crash, a leak,
 * undefined behaviour or a failed invariant below is a finding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "pattern/pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_spec(const struct ctrace__spec *spec)
{
    char *json = ctrace__spec_to_json(spec);
    if (json == NULL || json[0] != '{')
        abort();
    ctrace_free(json);

    struct ctrace_value inner[2] = {ctrace_value_symbol("cat"),
                                    ctrace_value_string("Tihon")};
    struct ctrace_value list[3] = {ctrace_value_int(1),
                                   ctrace_value_double(2.5),
                                   ctrace_value_bytes("\x01\xff", 2)};
    const struct ctrace_value args[] = {
        ctrace_value_string("Tihon"),
        ctrace_value_int(-3),
        ctrace_value_tuple(inner, 2),
        ctrace_value_list(list, 3),
        ctrace_value_symbol("ok"),
        ctrace_value_uint(UINT64_MAX),
        ctrace_value_bool(true),
        ctrace_value_null(),
    };
    for (size_t n = 0; n <= CTRACE__ARRAY_SIZE(args); n++)
        (void)ctrace__spec_match(spec, args, n);
    (void)ctrace__spec_selects(spec, "cat_traveler", "enter", 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctrace_error err = {0};
    struct ctrace__spec *spec =
        ctrace__spec_parse((const char *)data, size, &err);
    if (spec == NULL) {
        /* Every failure must say what went wrong. */
        if (err.code >= 0 || err.text[0] == '\0')
            abort();
        return 0;
    }
    if (err.code != 0)
        abort();
    check_spec(spec);
    ctrace__spec_free(spec);
    return 0;
}
