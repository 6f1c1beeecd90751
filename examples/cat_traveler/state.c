/* SPDX-License-Identifier: MIT */
/*
 * cat_traveler_srv: the state server. See state.h for the contract.
 *
 * Today the "server" is a mutex: a caller takes it and runs the callback
 * itself, so requests are handled one at a time, in lock order. The
 * callbacks below already have the shape of a ctrace_server's (init,
 * handle_call, handle_cast, format_state, terminate), and only
 * cat_srv_start(), cat_srv_stop(), cat_srv_call() and cat_srv_cast() know
 * how they are run.
 */
#include "state.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrace/ctrace.h"

/* ---- A string-keyed hash map with chained buckets. ---- */

struct map_entry {
    struct map_entry *next;
    uint64_t hash;
    void *value;
    char key[]; /* NUL-terminated */
};

struct map {
    struct map_entry **buckets;
    size_t mask; /* bucket count - 1; the count is a power of two */
    size_t len;
    uint64_t seed; /* per state, so bucket order differs between runs */
};

#define MAP_INITIAL_BUCKETS 8

/* FNV-1a, seeded, with a final mix so that the low bits depend on all. */
static uint64_t map_hash(const struct map *m, const char *key)
{
    uint64_t h = 0xcbf29ce484222325u ^ m->seed;
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3u;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93u;
    return h ^ (h >> 32);
}

static int map_init(struct map *m, uint64_t seed)
{
    m->buckets = calloc(MAP_INITIAL_BUCKETS, sizeof(m->buckets[0]));
    if (m->buckets == NULL)
        return -1;
    m->mask = MAP_INITIAL_BUCKETS - 1;
    m->len = 0;
    m->seed = seed;
    return 0;
}

/* Frees every entry, passing each value to `free_value` unless NULL. */
static void map_destroy(struct map *m, void (*free_value)(void *))
{
    if (m->buckets == NULL)
        return;
    for (size_t i = 0; i <= m->mask; i++) {
        struct map_entry *e = m->buckets[i];
        while (e != NULL) {
            struct map_entry *next = e->next;
            if (free_value != NULL)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->len = 0;
}

static struct map_entry *map_find(const struct map *m, const char *key)
{
    uint64_t h = map_hash(m, key);
    for (struct map_entry *e = m->buckets[h & m->mask]; e != NULL; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Doubles the bucket array; on allocation failure the map stays as it is. */
static void map_grow(struct map *m)
{
    size_t n = (m->mask + 1) * 2;
    struct map_entry **b = calloc(n, sizeof(b[0]));
    if (b == NULL)
        return;
    for (size_t i = 0; i <= m->mask; i++) {
        struct map_entry *e = m->buckets[i];
        while (e != NULL) {
            struct map_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->mask = n - 1;
}

/*
 * Adds `key`, which must not be in the map, with a NULL value. Returns the
 * new entry, or NULL when memory runs out (the map is unchanged).
 */
static struct map_entry *map_insert(struct map *m, const char *key)
{
    size_t klen = strlen(key);
    struct map_entry *e = malloc(sizeof(*e) + klen + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->key, key, klen + 1);
    e->hash = map_hash(m, key);
    e->value = NULL;
    if (m->len >= m->mask + 1)
        map_grow(m);
    e->next = m->buckets[e->hash & m->mask];
    m->buckets[e->hash & m->mask] = e;
    m->len++;
    return e;
}

/*
 * Removes `key`. Returns true and its value in *value (when not NULL) if
 * it was there.
 */
static bool map_remove(struct map *m, const char *key, void **value)
{
    uint64_t h = map_hash(m, key);
    for (struct map_entry **pe = &m->buckets[h & m->mask]; *pe != NULL;
         pe = &(*pe)->next) {
        struct map_entry *e = *pe;
        if (e->hash == h && strcmp(e->key, key) == 0) {
            *pe = e->next;
            if (value != NULL)
                *value = e->value;
            free(e);
            m->len--;
            return true;
        }
    }
    return false;
}

/* Loops over every entry `e` of the map `m`, in bucket order. */
#define map_foreach(m, e)                                  \
    for (size_t map__i = 0; map__i <= (m)->mask; map__i++) \
        for (struct map_entry *e = (m)->buckets[map__i]; e != NULL; e = e->next)

/* ---- The state and its callbacks. ---- */

/*
 * cats: cat -> town (value: a malloc'd copy of the town's name).
 * towns: town -> set of cats (value: a malloc'd struct map with NULL values).
 */
struct cat_state {
    struct map cats;
    struct map towns;
    size_t max_cats;
    enum cat_scenario scenario;
    uint64_t started_ns;
    uint64_t visits; /* {visited, ...} casts handled */
};

struct cat_srv {
    pthread_mutex_t lock;
    /* Callers between asking for the lock and getting it. */
    atomic_size_t waiting;
    struct cat_state *state;
};

const char *cat_result_name(enum cat_result r)
{
    switch (r) {
    case CAT_OK:
        return "ok";
    case CAT_ALREADY_IN_TOWN:
        return "already_in_town";
    case CAT_NOT_IN_TOWN:
        return "not_in_town";
    case CAT_FULL:
        return "full";
    case CAT_NO_MEMORY:
        return "no_memory";
    }
    return "unknown";
}

void cat_names_free(struct cat_names *n)
{
    for (size_t i = 0; i < n->len; i++)
        free(n->names[i]);
    free(n->names);
    n->names = NULL;
    n->len = 0;
}

static void free_set(void *set)
{
    if (set != NULL) {
        map_destroy(set, NULL);
        free(set);
    }
}

static struct cat_state *srv_init(const struct cat_srv_opts *opts)
{
    struct cat_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    uint64_t seed = cat_rand_seed();
    if (map_init(&st->cats, seed) != 0 || map_init(&st->towns, seed) != 0) {
        map_destroy(&st->cats, NULL);
        free(st);
        return NULL;
    }
    st->max_cats = opts->max_cats;
    st->scenario = opts->scenario;
    st->started_ns = cat_now_ns();
    return st;
}

static void srv_terminate(struct cat_state *st)
{
    map_destroy(&st->cats, free);
    map_destroy(&st->towns, free_set);
    free(st);
}

/* The town's set of cats, created when `create` and missing. */
static struct map *town_set(struct cat_state *st, const char *town, bool create)
{
    struct map_entry *e = map_find(&st->towns, town);
    if (e != NULL || !create)
        return e != NULL ? e->value : NULL;
    struct map *set = malloc(sizeof(*set));
    if (set == NULL || map_init(set, st->towns.seed) != 0) {
        free(set);
        return NULL;
    }
    e = map_insert(&st->towns, town);
    if (e == NULL) {
        free_set(set);
        return NULL;
    }
    e->value = set;
    return set;
}

/* Removes `cat` from the town's set, and the town once it has no cat. */
static void town_drop(struct cat_state *st, const char *town, const char *cat)
{
    struct map *set = town_set(st, town, false);
    if (set == NULL)
        return;
    map_remove(set, cat, NULL);
    if (set->len == 0) {
        map_remove(&st->towns, town, NULL);
        free_set(set);
    }
}

/* The cat map half of enter: checks and records cat -> town. */
static enum cat_result put_cat(struct cat_state *st,
                               const char *cat,
                               const char *town,
                               struct cat_srv_reply *reply)
{
    struct map_entry *e = map_find(&st->cats, cat);
    if (e != NULL) {
        snprintf(reply->town, sizeof(reply->town), "%s", (char *)e->value);
        return CAT_ALREADY_IN_TOWN;
    }
    if (st->cats.len >= st->max_cats)
        return CAT_FULL;
    char *copy = strdup(town);
    if (copy == NULL)
        return CAT_NO_MEMORY;
    e = map_insert(&st->cats, cat);
    if (e == NULL) {
        free(copy);
        return CAT_NO_MEMORY;
    }
    e->value = copy;
    return CAT_OK;
}

/* The cat map half of leave. */
static enum cat_result
drop_cat(struct cat_state *st, const char *cat, const char *town)
{
    struct map_entry *e = map_find(&st->cats, cat);
    if (e == NULL || strcmp(e->value, town) != 0)
        return CAT_NOT_IN_TOWN;
    void *old = NULL;
    map_remove(&st->cats, cat, &old);
    free(old);
    return CAT_OK;
}

static enum cat_result enter(struct cat_state *st,
                             const char *cat,
                             const char *town,
                             struct cat_srv_reply *reply)
{
    enum cat_result rc = put_cat(st, cat, town, reply);
    if (rc != CAT_OK)
        return rc;
    struct map *set = town_set(st, town, true);
    if (set == NULL || map_insert(set, cat) == NULL) {
        /* Undo the first half, so that both maps stay as they were. */
        drop_cat(st, cat, town);
        if (set != NULL && set->len == 0)
            town_drop(st, town, cat);
        return CAT_NO_MEMORY;
    }
    return CAT_OK;
}

static enum cat_result
leave(struct cat_state *st, const char *cat, const char *town)
{
    enum cat_result rc = drop_cat(st, cat, town);
    if (rc == CAT_OK)
        town_drop(st, town, cat);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copies the names of a set, sorted. An absent set gives an empty list. */
static int set_names(const struct map *set, struct cat_names *out)
{
    out->names = NULL;
    out->len = 0;
    if (set == NULL || set->len == 0)
        return 0;
    out->names = calloc(set->len, sizeof(out->names[0]));
    if (out->names == NULL)
        return -1;
    map_foreach(set, e)
    {
        out->names[out->len] = strdup(e->key);
        if (out->names[out->len] == NULL) {
            cat_names_free(out);
            return -1;
        }
        out->len++;
    }
    qsort(out->names, out->len, sizeof(out->names[0]), cmp_names);
    return 0;
}

/* Replaces a town's set by `members`; an empty list removes the town. */
static enum cat_result put_members(struct cat_state *st,
                                   const char *town,
                                   const struct cat_names *members)
{
    struct map *fresh = malloc(sizeof(*fresh));
    if (fresh == NULL || map_init(fresh, st->towns.seed) != 0) {
        free(fresh);
        return CAT_NO_MEMORY;
    }
    for (size_t i = 0; i < members->len; i++) {
        if (map_find(fresh, members->names[i]) == NULL &&
            map_insert(fresh, members->names[i]) == NULL) {
            free_set(fresh);
            return CAT_NO_MEMORY;
        }
    }
    struct map_entry *e = map_find(&st->towns, town);
    if (fresh->len == 0) {
        free_set(fresh);
        if (e != NULL) {
            void *old = NULL;
            map_remove(&st->towns, town, &old);
            free_set(old);
        }
        return CAT_OK;
    }
    if (e == NULL) {
        e = map_insert(&st->towns, town);
        if (e == NULL) {
            free_set(fresh);
            return CAT_NO_MEMORY;
        }
    }
    free_set(e->value);
    e->value = fresh;
    return CAT_OK;
}

static json_t *format_cats(const struct cat_state *st)
{
    json_t *obj = json_object();
    if (obj == NULL)
        return NULL;
    map_foreach(&st->cats, e)
    {
        if (json_object_set_new(obj, e->key, json_string(e->value)) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *format_towns(const struct cat_state *st)
{
    json_t *obj = json_object();
    if (obj == NULL)
        return NULL;
    map_foreach(&st->towns, e)
    {
        struct cat_names names;
        json_t *list = json_array();
        if (list == NULL || set_names(e->value, &names) != 0) {
            json_decref(list);
            json_decref(obj);
            return NULL;
        }
        int failed = 0;
        for (size_t i = 0; i < names.len && !failed; i++)
            failed = json_array_append_new(list, json_string(names.names[i]));
        cat_names_free(&names);
        if (failed || json_object_set_new(obj, e->key, list) != 0) {
            if (failed)
                json_decref(list);
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/*
 * format_state: the whole state as JSON, as a get_state would show it:
 * {"cats": {...}, "towns": {...}, "visits": N}.
 */
static json_t *srv_format_state(const struct cat_state *st)
{
    return json_pack("{s:o?, s:o?, s:I}",
                     "cats",
                     format_cats(st),
                     "towns",
                     format_towns(st),
                     "visits",
                     (json_int_t)st->visits);
}

/*
 * The request as an Erlang-looking term for traces: {enter,"Tihon","Minsk"},
 * cats, {members,"Minsk"}, {put_members,"Minsk",["Marfa","Tihon"]}. `items`
 * holds the parts and must live as long as the result; member lists longer
 * than TERM_MEMBERS_MAX end in '...'.
 */
#define TERM_MEMBERS_MAX 8
struct request_term {
    struct ctrace_value items[3];
    struct ctrace_value members[TERM_MEMBERS_MAX + 1];
};

static struct ctrace_value request_term(const struct cat_srv_request *req,
                                        struct request_term *t)
{
    static const char *const ops[] = {
        [CAT_SRV_ENTER] = "enter",
        [CAT_SRV_LEAVE] = "leave",
        [CAT_SRV_CATS] = "cats",
        [CAT_SRV_TOWNS] = "towns",
        [CAT_SRV_STATE] = "state",
        [CAT_SRV_PUT_CAT] = "put_cat",
        [CAT_SRV_DROP_CAT] = "drop_cat",
        [CAT_SRV_MEMBERS] = "members",
        [CAT_SRV_PUT_MEMBERS] = "put_members",
        [CAT_SRV_VISITED] = "visited",
    };
    t->items[0] = ctrace_value_symbol(ops[req->op]);
    switch (req->op) {
    case CAT_SRV_CATS:
    case CAT_SRV_TOWNS:
    case CAT_SRV_STATE:
        return t->items[0];
    case CAT_SRV_MEMBERS:
        t->items[1] = ctrace_value_string(req->town);
        return ctrace_value_tuple(t->items, 2);
    case CAT_SRV_PUT_MEMBERS: {
        size_t n = req->members.len;
        if (n > TERM_MEMBERS_MAX)
            n = TERM_MEMBERS_MAX;
        for (size_t i = 0; i < n; i++)
            t->members[i] = ctrace_value_string(req->members.names[i]);
        if (n < req->members.len)
            t->members[n++] = ctrace_value_symbol("...");
        t->items[1] = ctrace_value_string(req->town);
        t->items[2] = ctrace_value_list(t->members, n);
        return ctrace_value_tuple(t->items, 3);
    }
    default:
        t->items[1] = ctrace_value_string(req->cat);
        t->items[2] = ctrace_value_string(req->town);
        return ctrace_value_tuple(t->items, 3);
    }
}

/*
 * handle_call(Request, From, State): runs one request against the state.
 * `from` is the caller (today its thread id).
 */
static enum cat_result handle_call(const struct cat_srv_request *req,
                                   unsigned long from,
                                   struct cat_state *state,
                                   struct cat_srv_reply *reply)
{
    struct request_term term;
    struct ctrace_value request = request_term(req, &term);
    CTRACE_CALL(cat_traveler_srv, handle_call, request, from, state);
    enum cat_result rc = CAT_OK;
    switch (req->op) {
    case CAT_SRV_ENTER:
        rc = enter(state, req->cat, req->town, reply);
        break;
    case CAT_SRV_LEAVE:
        rc = leave(state, req->cat, req->town);
        break;
    case CAT_SRV_CATS:
        reply->json = format_cats(state);
        rc = reply->json != NULL ? CAT_OK : CAT_NO_MEMORY;
        break;
    case CAT_SRV_TOWNS:
        reply->json = format_towns(state);
        rc = reply->json != NULL ? CAT_OK : CAT_NO_MEMORY;
        break;
    case CAT_SRV_STATE:
        reply->json = srv_format_state(state);
        rc = reply->json != NULL ? CAT_OK : CAT_NO_MEMORY;
        break;
    case CAT_SRV_PUT_CAT:
        rc = put_cat(state, req->cat, req->town, reply);
        break;
    case CAT_SRV_DROP_CAT:
        rc = drop_cat(state, req->cat, req->town);
        break;
    case CAT_SRV_MEMBERS:
        rc = set_names(town_set(state, req->town, false), &reply->members) == 0
                 ? CAT_OK
                 : CAT_NO_MEMORY;
        break;
    case CAT_SRV_PUT_MEMBERS:
        rc = put_members(state, req->town, &req->members);
        break;
    case CAT_SRV_VISITED:
        break; /* a cast, not a call */
    }
    CTRACE_RETURN_VALUE(rc, ctrace_value_symbol(cat_result_name(rc)));
}

/*
 * How long the bookkeeping of one cast takes in the backlog scenario: nothing
 * for the first 30 s, then 5 ms more for every further second, up to 1 s.
 */
static uint64_t backlog_delay_ns(const struct cat_state *st)
{
    const uint64_t grace_ns = 30000000000u;
    uint64_t age = cat_now_ns() - st->started_ns;
    if (st->scenario != CAT_SCENARIO_BACKLOG || age <= grace_ns)
        return 0;
    uint64_t delay = (age - grace_ns) / 200u; /* 5 ms per second */
    return delay < 1000000000u ? delay : 1000000000u;
}

/* handle_cast(Request, State): {visited, Cat, Town} counts a visit. */
static void handle_cast(const struct cat_srv_request *req,
                        struct cat_state *state)
{
    struct request_term term;
    struct ctrace_value request = request_term(req, &term);
    CTRACE_CALL(cat_traveler_srv, handle_cast, request, state);
    uint64_t delay = backlog_delay_ns(state);
    if (delay > 0)
        cat_sleep_ns(delay);
    state->visits++;
    CTRACE_RETURN_VOID();
}

/* ---- Running the callbacks. ---- */

struct cat_srv *cat_srv_start(const struct cat_srv_opts *opts)
{
    /* TODO(#4): ctrace_server_start() with these callbacks, registered as
     * cat_traveler_srv; init then runs on the server's own thread. */
    struct cat_srv *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    srv->state = srv_init(opts);
    if (srv->state == NULL || pthread_mutex_init(&srv->lock, NULL) != 0) {
        if (srv->state != NULL)
            srv_terminate(srv->state);
        free(srv);
        return NULL;
    }
    atomic_init(&srv->waiting, 0);
    return srv;
}

void cat_srv_stop(struct cat_srv *srv)
{
    if (srv == NULL)
        return;
    /* TODO(#4): ctrace_server_stop(), which calls terminate. */
    srv_terminate(srv->state);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

static void srv_lock(struct cat_srv *srv)
{
    atomic_fetch_add_explicit(&srv->waiting, 1, memory_order_relaxed);
    pthread_mutex_lock(&srv->lock);
    atomic_fetch_sub_explicit(&srv->waiting, 1, memory_order_relaxed);
}

enum cat_result cat_srv_call(struct cat_srv *srv,
                             const struct cat_srv_request *req,
                             struct cat_srv_reply *reply)
{
    /* TODO(#4): ctrace_server_call(): the request goes through the
     * server's mailbox, `from` becomes the caller's pid, and a send and a
     * receive event mark it. */
    srv_lock(srv);
    enum cat_result rc =
        handle_call(req, (unsigned long)pthread_self(), srv->state, reply);
    pthread_mutex_unlock(&srv->lock);
    return rc;
}

void cat_srv_cast(struct cat_srv *srv, const struct cat_srv_request *req)
{
    /* TODO(#4): ctrace_server_cast(): the caller no longer waits while the
     * server works through its mailbox. */
    srv_lock(srv);
    handle_cast(req, srv->state);
    pthread_mutex_unlock(&srv->lock);
}

size_t cat_srv_queue_len(struct cat_srv *srv)
{
    /* TODO(#4): the server's message_queue_len. */
    return atomic_load_explicit(&srv->waiting, memory_order_relaxed);
}
