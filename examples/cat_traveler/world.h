/* SPDX-License-Identifier: MIT */
/*
 * What cat_traveler and cat_load share: the world the cats travel in (the
 * towns and the first cats' names), the workshop scenarios, the rule for
 * names, and small helpers for flags and clocks. Nothing here keeps state.
 *
 * Thread-safety: every function here is reentrant.
 */
#ifndef CAT_WORLD_H
#define CAT_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A cat's or a town's name has 1 to 64 characters (Unicode code points). */
#define CAT_NAME_MAX_CHARS 64
/* The most bytes such a name takes in UTF-8, without the NUL. */
#define CAT_NAME_MAX_BYTES (4 * CAT_NAME_MAX_CHARS)

/* Largest request body either side accepts or sends, in bytes. */
#define CAT_BODY_MAX 4096

/*
 * Workshop scenarios. Each plants one problem, off unless named with
 * --scenario; both programs accept every name and play their own part.
 */
enum cat_scenario {
    CAT_SCENARIO_NONE = 0,
    CAT_SCENARIO_HOT_CAT,
    CAT_SCENARIO_SLOW_TOWN,
    CAT_SCENARIO_BACKLOG,
    CAT_SCENARIO_DRIFT
};

/* The towns cat_load sends cats to, in a fixed order. */
extern const char *const cat_world_towns[];
extern const size_t cat_world_town_count;

/* The first four cats; cat_load generates names after these. */
extern const char *const cat_world_cats[];
extern const size_t cat_world_cat_count;

/*
 * Parses a scenario name ("hot-cat", "slow-town", "backlog", "drift" or
 * "none"). Returns 0 and sets *out, or -1 for an unknown name.
 */
int cat_scenario_parse(const char *name, enum cat_scenario *out);

/* The name of `s` as --scenario takes it. */
const char *cat_scenario_name(enum cat_scenario s);

/* The names --scenario accepts, for messages: "hot-cat, slow-town, ...". */
const char *cat_scenario_list(void);

/* What can be wrong with a name. */
enum cat_name_problem {
    CAT_NAME_OK = 0,
    CAT_NAME_NOT_UTF8, /* ill-formed UTF-8 */
    CAT_NAME_NUL,      /* contains U+0000 */
    CAT_NAME_CONTROL,  /* contains another control character */
    CAT_NAME_LENGTH    /* empty, or more than CAT_NAME_MAX_CHARS characters */
};

/*
 * Checks that the `len` bytes at `s` are a valid name: well-formed UTF-8
 * (no overlong forms, surrogates or code points above U+10FFFF), no NUL or
 * other control character, and 1 to CAT_NAME_MAX_CHARS code points.
 * `*chars` receives the number of code points (0 when the UTF-8 is
 * ill-formed).
 */
enum cat_name_problem cat_name_check(const char *s, size_t len, size_t *chars);

/*
 * Parses a decimal unsigned number in [min, max] for the flag `flag` of
 * program `prog`. Returns 0 and sets *out, or prints one line to stderr
 * and returns -1.
 */
int cat_parse_uint(const char *prog,
                   const char *flag,
                   const char *text,
                   uint64_t min,
                   uint64_t max,
                   uint64_t *out);

/* Parses a non-negative decimal number of seconds (may have a fraction). */
int cat_parse_seconds(const char *prog,
                      const char *flag,
                      const char *text,
                      double max,
                      double *out);

/*
 * --exit-with-parent: asks the kernel for SIGTERM when the parent process
 * ends (PR_SET_PDEATHSIG), so that a script that started the program and
 * died without its cleanup (SIGKILL, say) takes it along. `parent` is
 * getppid() as main() first saw it: when it differs now, the parent ended
 * before the request and the program should not start. Returns 0, or
 * prints one line to stderr and returns -1.
 */
int cat_exit_with_parent(const char *prog, int parent);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t cat_now_ns(void);

/* Sleeps for `ns` nanoseconds, resuming after signals. */
void cat_sleep_ns(uint64_t ns);

/*
 * A small, fast pseudo-random generator (splitmix64) for one thread: the
 * state is the caller's. cat_rand_below() returns a number in [0, n).
 */
uint64_t cat_rand_next(uint64_t *state);
uint64_t cat_rand_below(uint64_t *state, uint64_t n);
double cat_rand_unit(uint64_t *state);

/* A seed that differs between runs and between threads. */
uint64_t cat_rand_seed(void);

struct ctrace_admin;
struct ctrace_error;

/*
 * Starts the ctrace admin endpoint of program `prog` on `bind`:`port`
 * (0: a free port) with `token_file` (NULL: the default), read-only or
 * not (struct ctrace_admin_opts), and prints the
 * line scripts look for: "PROG: admin endpoint on http://ADDR:PORT (token
 * in FILE)", then "PROG: observer on http://ADDR:PORT/#token=TOKEN", the
 * observer page's address with the token in its fragment. Returns it, or
 * NULL with `err` filled.
 */
struct ctrace_admin *cat_admin_start(const char *prog,
                                     const char *bind,
                                     unsigned port,
                                     const char *token_file,
                                     bool read_only,
                                     struct ctrace_error *err);

#endif /* CAT_WORLD_H */
