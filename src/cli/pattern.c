/* SPDX-License-Identifier: MIT */
/*
 * `ctrace pattern SPEC...`: parses each spec offline and prints its meaning
 * as one line of JSON, so a pattern can be checked before it is sent to a
 * service in production. `ctrace trace` checks its specs the same way
 * before it connects.
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"
#include "pattern/pattern.h"

/*
 * Prints the error on standard error, then the spec with a caret under the
 * offending column when the spec is short enough to show on one line.
 */
void ctrace_cli_pattern_report(const char *text,
                               int index,
                               int count,
                               int column,
                               const char *message)
{
    fputs("ctrace: pattern: ", stderr);
    if (column > 0)
        fprintf(stderr, "column %d: ", column);
    fprintf(stderr, "%s\n", message);
    if (count > 1)
        fprintf(stderr, "  (spec %d of %d)\n", index + 1, count);
    size_t len = strlen(text);
    if (column <= 0 || len > 160 || strchr(text, '\n') != NULL ||
        !ctrace__utf8_valid(text, len))
        return;
    /*
     * Columns count characters, so a tab is shown as one space and other
     * control characters as '?', which keeps the caret under the right one.
     */
    fputs("  ", stderr);
    for (const char *p = text; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        fputc(c == '\t' ? ' ' : c < 0x20 || c == 0x7f ? '?' : c, stderr);
    }
    fprintf(stderr, "\n  %*s^\n", column - 1, "");
}

bool ctrace_cli_specs_check(int count, char **specs)
{
    for (int i = 0; i < count; i++) {
        struct ctrace_error err = {0};
        struct ctrace__spec *spec =
            ctrace__spec_parse(specs[i], strlen(specs[i]), &err);
        if (spec == NULL) {
            ctrace_cli_pattern_report(specs[i], i, count, err.column, err.text);
            return false;
        }
        ctrace__spec_free(spec);
    }
    return true;
}

int ctrace_cli_pattern(int argc, char **argv)
{
    if (argc == 0) {
        fputs("ctrace: pattern: no spec given\n"
              "usage: ctrace pattern SPEC...\n",
              stderr);
        return CTRACE_CLI_USAGE;
    }
    int status = CTRACE_CLI_OK;
    for (int i = 0; i < argc; i++) {
        struct ctrace_error err = {0};
        struct ctrace__spec *spec =
            ctrace__spec_parse(argv[i], strlen(argv[i]), &err);
        if (spec == NULL) {
            ctrace_cli_pattern_report(argv[i], i, argc, err.column, err.text);
            status = CTRACE_CLI_USAGE;
            continue;
        }
        char *json = ctrace__spec_to_json(spec);
        ctrace__spec_free(spec);
        if (json == NULL) {
            fputs("ctrace: pattern: out of memory\n", stderr);
            return CTRACE_CLI_REMOTE;
        }
        puts(json);
        ctrace_free(json);
    }
    fflush(stdout);
    return status;
}
