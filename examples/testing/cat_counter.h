/* SPDX-License-Identifier: MIT */
/*
 * cat_counter: counts cats by name. A module small enough to read in one
 * go, traced with ctrace, for docs/testing-with-ctrace.md.
 *
 * Thread-safety: none; one thread at a time.
 */
#ifndef CAT_COUNTER_H
#define CAT_COUNTER_H

/* How many different cats the counter tells apart. */
#define CAT_COUNTER_MAX 4

/*
 * Counts `n` more of `cat` and returns how many of it were counted so far,
 * or -1 when `cat` is new and the counter already knows CAT_COUNTER_MAX
 * cats.
 */
int cat_counter_add(const char *cat, int n);

/* How many of `cat` were counted; 0 for a cat never added. */
int cat_counter_count(const char *cat);

/* Forgets every cat. */
void cat_counter_reset(void);

#endif /* CAT_COUNTER_H */
