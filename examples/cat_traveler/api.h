/* SPDX-License-Identifier: MIT */
/*
 * cat_traveler: the API module the HTTP handlers call. Its functions are the
 * trace points cat_traveler:enter/2, cat_traveler:leave/2,
 * cat_traveler:cats/0 and cat_traveler:towns/0; each turns one request into
 * calls of the state server, cat_traveler_srv (state.h).
 *
 * Thread-safety: every function may run on any number of threads at once,
 * except cat_traveler_new() and cat_traveler_free().
 */
#ifndef CAT_API_H
#define CAT_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "state.h"
#include "world.h"

struct cat_traveler_opts {
    enum cat_scenario scenario;
    uint64_t seed;   /* for the scenarios' random choices */
    size_t max_cats; /* passed on to the state server */
};

struct cat_traveler;

/*
 * Starts the state server and returns the API over it, or NULL when memory
 * runs out.
 */
struct cat_traveler *cat_traveler_new(const struct cat_traveler_opts *opts);

/* Stops the server and frees everything. NULL is a no-op. */
void cat_traveler_free(struct cat_traveler *app);

/*
 * Puts `cat` into `town` (both valid names, see cat_name_check()). Returns
 * CAT_OK, CAT_ALREADY_IN_TOWN with the cat's current town copied to
 * `where`, CAT_FULL or CAT_NO_MEMORY.
 */
enum cat_result cat_traveler_enter(struct cat_traveler *app,
                                   const char *cat,
                                   const char *town,
                                   char where[CAT_NAME_MAX_BYTES + 1]);

/*
 * Takes `cat` out of `town`. Returns CAT_OK, CAT_NOT_IN_TOWN when the cat
 * is not in that town (or in none), or CAT_NO_MEMORY.
 */
enum cat_result
cat_traveler_leave(struct cat_traveler *app, const char *cat, const char *town);

/*
 * {"Cat": "Town", ...} and {"Town": ["Cat", ...], ...}: new references, or
 * NULL when memory runs out.
 */
json_t *cat_traveler_cats(struct cat_traveler *app);
json_t *cat_traveler_towns(struct cat_traveler *app);

#endif /* CAT_API_H */
