/* SPDX-License-Identifier: MIT */
/*
 * cat_traveler_srv: the one owner of which cat is in which town.
 *
 * The state is a pair of maps, cat -> town and town -> set of cats, that must
 * always tell the same story. Callers never touch it: they send a request
 * (struct cat_srv_request) with cat_srv_call() and get a result and a reply
 * back, or send one without waiting for an answer with cat_srv_cast(), the
 * way an Erlang gen_server is used through gen_server:call/cast. The module
 * runs as a ctrace_server registered as cat_traveler_srv, with its own
 * thread and bounded mailbox, so the ctrace tools can look into it:
 * message_queue_len, send and receive traces, get_state and replace_state,
 * and the sys debug switches.
 *
 * Thread-safety: cat_srv_call() and cat_srv_cast() may run on any number of
 * threads at once; cat_srv_start() and cat_srv_stop()
 * on one thread, with no call in progress.
 */
#ifndef CAT_STATE_H
#define CAT_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "world.h"

/* What a request comes to; cat_result_name() spells each as an atom. */
enum cat_result {
    CAT_OK = 0,
    CAT_ALREADY_IN_TOWN, /* enter: the cat is in a town already */
    CAT_NOT_IN_TOWN,     /* leave: the cat is not in that town */
    CAT_FULL,            /* enter: max_cats cats are in towns already */
    CAT_NO_MEMORY,       /* an allocation failed; nothing changed */
    CAT_OVERLOADED,      /* the server's mailbox is full; nothing sent */
    CAT_TIMEOUT          /* the server did not answer in time */
};

/* "ok", "already_in_town", "not_in_town", "full", "no_memory",
 * "overloaded" or "timeout". */
const char *cat_result_name(enum cat_result r);

/* The requests the server handles. */
enum cat_srv_op {
    CAT_SRV_ENTER,       /* {enter, Cat, Town}: move a cat into a town */
    CAT_SRV_LEAVE,       /* {leave, Cat, Town}: take it out again */
    CAT_SRV_CATS,        /* cats: reply.json = {"Cat": "Town", ...} */
    CAT_SRV_TOWNS,       /* towns: reply.json = {"Town": ["Cat", ...], ...} */
    CAT_SRV_STATE,       /* state: reply.json = {"cats": ..., "towns": ...} */
    CAT_SRV_PUT_CAT,     /* {put_cat, Cat, Town}: the cat map only */
    CAT_SRV_DROP_CAT,    /* {drop_cat, Cat, Town}: the cat map only */
    CAT_SRV_MEMBERS,     /* {members, Town}: reply.members */
    CAT_SRV_PUT_MEMBERS, /* {put_members, Town, Cats}: the town map only */
    CAT_SRV_VISITED      /* {visited, Cat, Town}: a cast, counts a visit */
};

/* A list of names; owned by whoever holds it, freed by cat_names_free(). */
struct cat_names {
    char **names;
    size_t len;
};

/* Frees the names and the array, and empties `n`. */
void cat_names_free(struct cat_names *n);

/*
 * One request. The strings are borrowed for the duration of the call only;
 * `cat` and `town` must be valid names (cat_name_check()) where the
 * operation uses them.
 */
struct cat_srv_request {
    enum cat_srv_op op;
    const char *cat;
    const char *town;
    struct cat_names members; /* CAT_SRV_PUT_MEMBERS only */
};

/*
 * What a call gives back besides its result. Zero it before the call.
 * `town`: for CAT_ALREADY_IN_TOWN, where the cat is. `json`: for CATS, TOWNS
 * and STATE, a new reference (json_decref() it). `members`: for MEMBERS,
 * sorted, owned by the caller (cat_names_free()).
 */
struct cat_srv_reply {
    char town[CAT_NAME_MAX_BYTES + 1];
    json_t *json;
    struct cat_names members;
};

/* How the server is set up. */
struct cat_srv_opts {
    /* Most cats in towns at once; beyond it enter answers CAT_FULL. */
    size_t max_cats;
    /* The workshop scenario (only CAT_SCENARIO_BACKLOG concerns it). */
    enum cat_scenario scenario;
};

struct cat_srv;

/*
 * Starts a server with empty maps. Returns it, or NULL when memory runs
 * out. Stop it with cat_srv_stop().
 */
struct cat_srv *cat_srv_start(const struct cat_srv_opts *opts);

/* Stops the server and frees its state. NULL is a no-op. */
void cat_srv_stop(struct cat_srv *srv);

/*
 * Sends `req` and waits for the answer: the result, and in `reply` what
 * the operation gives back (see struct cat_srv_reply). The server handles
 * one request at a time, in arrival order.
 */
enum cat_result cat_srv_call(struct cat_srv *srv,
                             const struct cat_srv_request *req,
                             struct cat_srv_reply *reply);

/*
 * Sends `req` without waiting for an answer. The only cast is
 * {visited, Cat, Town} (CAT_SRV_VISITED), which keeps the visit count.
 */
void cat_srv_cast(struct cat_srv *srv, const struct cat_srv_request *req);

#endif /* CAT_STATE_H */
