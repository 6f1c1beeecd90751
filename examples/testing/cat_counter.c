/* SPDX-License-Identifier: MIT */
/*
 * cat_counter: a fixed table of names and counts. Every function marks its
 * entry with CTRACE_CALL and its return with CTRACE_RETURN, so a test (or a
 * person debugging a live service) can see what was called, with what, and
 * what came back.
 */
#include <stdbool.h>
#include <string.h>

#include <ctrace/ctrace.h>

#include "cat_counter.h"

struct cat {
    char name[32];
    int count;
};

static struct cat cats[CAT_COUNTER_MAX];
static int ncats;

/* The cat called `name`, or NULL. */
static struct cat *find(const char *name)
{
    for (int i = 0; i < ncats; i++)
        if (strcmp(cats[i].name, name) == 0)
            return &cats[i];
    return NULL;
}

/* Gives a new cat a place in the table; false when it is full. */
static bool remember(const char *name)
{
    CTRACE_CALL(cat_counter, remember, name);
    bool room = ncats < CAT_COUNTER_MAX;
    if (room) {
        struct cat *c = &cats[ncats++];
        strncpy(c->name, name, sizeof(c->name) - 1);
        c->name[sizeof(c->name) - 1] = '\0';
        c->count = 0;
    }
    CTRACE_RETURN(room);
}

int cat_counter_add(const char *cat, int n)
{
    CTRACE_CALL(cat_counter, add, cat, n);
    struct cat *c = find(cat);
    if (c == NULL) {
        if (!remember(cat))
            CTRACE_RETURN_VALUE(-1, ctrace_value_symbol("full"));
        c = find(cat);
    }
    c->count += n;
    CTRACE_RETURN(c->count);
}

int cat_counter_count(const char *cat)
{
    CTRACE_CALL(cat_counter, count, cat);
    const struct cat *c = find(cat);
    CTRACE_RETURN(c != NULL ? c->count : 0);
}

void cat_counter_reset(void)
{
    CTRACE_CALL(cat_counter, reset);
    memset(cats, 0, sizeof(cats));
    ncats = 0;
}
