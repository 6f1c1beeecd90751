/* SPDX-License-Identifier: MIT */
/*
 * The program of docs/getting-started.md: one instrumented function, traced
 * from C with a session that prints redbug-style lines on standard output.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ctrace/ctrace.h>

static int enter(const char *cat, const char *town)
{
    CTRACE_CALL(cat_traveler, enter, cat, town);
    if (strcmp(town, "Atlantis") == 0)
        CTRACE_RETURN_VALUE(-1, ctrace_value_symbol("no_such_town"));
    CTRACE_RETURN_VALUE(0, ctrace_value_symbol("ok"));
}

int main(void)
{
    /* The question: calls of enter/2 where the cat is Tihon, with return
     * values; at most 10 events and 15 seconds, the defaults. */
    const char *spec = "cat_traveler:enter(\"Tihon\", _) -> return";
    struct ctrace_session_opts opts;
    ctrace_session_opts_init(&opts);
    opts.fd = STDOUT_FILENO;

    struct ctrace_error err = {0};
    struct ctrace_session *s = ctrace_session_start(&spec, 1, &opts, &err);
    if (s == NULL) {
        fprintf(stderr, "cannot trace: %s\n", err.text);
        return 1;
    }
    enter("Murka", "Minsk");
    enter("Tihon", "Barcelona");
    enter("Tihon", "Atlantis");
    ctrace_session_free(s); /* stops, prints the last line, frees */
    return 0;
}
