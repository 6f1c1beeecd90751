/* SPDX-License-Identifier: MIT */
/*
 * The cat_traveler API module: enter, leave, cats and towns, each a trace
 * point, each a short sequence of calls to the state server. See api.h.
 */
#include "api.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctrace/ctrace.h"

struct cat_traveler {
    struct cat_srv *srv;
    enum cat_scenario scenario;
    uint64_t seed;
    const char *slow_town;      /* slow-town: the town whose calls drag */
    atomic_uint_fast64_t ticks; /* varies the scenarios' delays */
};

struct cat_traveler *cat_traveler_new(const struct cat_traveler_opts *opts)
{
    struct cat_traveler *app = calloc(1, sizeof(*app));
    if (app == NULL)
        return NULL;
    struct cat_srv_opts so = {.max_cats = opts->max_cats,
                              .scenario = opts->scenario};
    app->srv = cat_srv_start(&so);
    if (app->srv == NULL) {
        free(app);
        return NULL;
    }
    app->scenario = opts->scenario;
    app->seed = opts->seed;
    uint64_t pick = opts->seed;
    app->slow_town =
        cat_world_towns[cat_rand_below(&pick, cat_world_town_count)];
    atomic_init(&app->ticks, 0);
    return app;
}

void cat_traveler_free(struct cat_traveler *app)
{
    if (app == NULL)
        return;
    cat_srv_stop(app->srv);
    free(app);
}

/* A number in [lo, hi) that differs from call to call. */
static uint64_t jitter(struct cat_traveler *app, uint64_t lo, uint64_t hi)
{
    uint64_t s = app->seed ^ atomic_fetch_add_explicit(
                                 &app->ticks, 1, memory_order_relaxed);
    return lo + cat_rand_below(&s, hi - lo);
}

/* The slow-town scenario: calls for one town take 20 to 40 ms more. */
static void maybe_drag(struct cat_traveler *app, const char *town)
{
    if (app->scenario == CAT_SCENARIO_SLOW_TOWN &&
        strcmp(town, app->slow_town) == 0)
        cat_sleep_ns(jitter(app, 20000000u, 40000000u));
}

/*
 * The drift scenario's way of keeping the town map: read the town's cats,
 * change the list, write it back, in three calls. Anything another request
 * does to the same town between the read and the write is lost.
 */
static enum cat_result rewrite_members(struct cat_traveler *app,
                                       const char *town,
                                       const char *cat,
                                       bool add)
{
    struct cat_srv_request req = {.op = CAT_SRV_MEMBERS, .town = town};
    struct cat_srv_reply reply = {0};
    enum cat_result rc = cat_srv_call(app->srv, &req, &reply);
    if (rc != CAT_OK)
        return rc;
    struct cat_names list = reply.members;
    size_t at = list.len;
    for (size_t i = 0; i < list.len; i++)
        if (strcmp(list.names[i], cat) == 0)
            at = i;
    if (add && at == list.len) {
        char **grown = realloc(list.names, (list.len + 1) * sizeof(*grown));
        char *copy = strdup(cat);
        if (grown == NULL || copy == NULL) {
            free(copy);
            if (grown != NULL)
                list.names = grown;
            cat_names_free(&list);
            return CAT_NO_MEMORY;
        }
        list.names = grown;
        list.names[list.len++] = copy;
    } else if (!add && at < list.len) {
        free(list.names[at]);
        list.names[at] = list.names[--list.len];
    }
    /* Writing the list back takes a moment. */
    cat_sleep_ns(jitter(app, 1000000u, 3000000u));
    req = (struct cat_srv_request){
        .op = CAT_SRV_PUT_MEMBERS, .town = town, .members = list};
    rc = cat_srv_call(app->srv, &req, &reply);
    cat_names_free(&list);
    return rc;
}

enum cat_result cat_traveler_enter(struct cat_traveler *app,
                                   const char *cat,
                                   const char *town,
                                   char where[CAT_NAME_MAX_BYTES + 1])
{
    CTRACE_CALL(cat_traveler, enter, cat, town);
    maybe_drag(app, town);
    bool drift = app->scenario == CAT_SCENARIO_DRIFT;
    struct cat_srv_request req = {.op = drift ? CAT_SRV_PUT_CAT : CAT_SRV_ENTER,
                                  .cat = cat,
                                  .town = town};
    struct cat_srv_reply reply = {0};
    enum cat_result rc = cat_srv_call(app->srv, &req, &reply);
    if (rc == CAT_ALREADY_IN_TOWN)
        memcpy(where, reply.town, sizeof(reply.town));
    if (rc == CAT_OK && drift)
        rc = rewrite_members(app, town, cat, true);
    if (rc == CAT_OK) {
        req.op = CAT_SRV_VISITED;
        cat_srv_cast(app->srv, &req);
    }
    CTRACE_RETURN_VALUE(rc, ctrace_value_symbol(cat_result_name(rc)));
}

enum cat_result
cat_traveler_leave(struct cat_traveler *app, const char *cat, const char *town)
{
    CTRACE_CALL(cat_traveler, leave, cat, town);
    maybe_drag(app, town);
    bool drift = app->scenario == CAT_SCENARIO_DRIFT;
    struct cat_srv_request req = {.op =
                                      drift ? CAT_SRV_DROP_CAT : CAT_SRV_LEAVE,
                                  .cat = cat,
                                  .town = town};
    struct cat_srv_reply reply = {0};
    enum cat_result rc = cat_srv_call(app->srv, &req, &reply);
    if (rc == CAT_OK && drift)
        rc = rewrite_members(app, town, cat, false);
    CTRACE_RETURN_VALUE(rc, ctrace_value_symbol(cat_result_name(rc)));
}

/* One of the listing calls; NULL when memory runs out. */
static json_t *listing(struct cat_traveler *app, enum cat_srv_op op)
{
    struct cat_srv_request req = {.op = op};
    struct cat_srv_reply reply = {0};
    if (cat_srv_call(app->srv, &req, &reply) != CAT_OK)
        return NULL;
    return reply.json;
}

json_t *cat_traveler_cats(struct cat_traveler *app)
{
    CTRACE_CALL(cat_traveler, cats);
    json_t *cats = listing(app, CAT_SRV_CATS);
    CTRACE_RETURN_VALUE(cats, ctrace_value_symbol(cats ? "ok" : "no_memory"));
}

json_t *cat_traveler_towns(struct cat_traveler *app)
{
    CTRACE_CALL(cat_traveler, towns);
    json_t *towns = listing(app, CAT_SRV_TOWNS);
    CTRACE_RETURN_VALUE(towns, ctrace_value_symbol(towns ? "ok" : "no_memory"));
}
