/* SPDX-License-Identifier: MIT */
/*
 * cat_traveler_srv: the state server. See state.h for the contract.
 *
 * A ctrace_server (include/ctrace/server.h) registered as cat_traveler_srv:
 * one thread owns the state and handles one message at a time from its
 * bounded mailbox. A request travels as bytes (the wire format below), so
 * a caller that gave up waiting leaves nothing dangling; replies carry the
 * result, and for the listing calls, which wait as long as it takes, a
 * pointer to what the server built for the caller.
 */
#include "state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrace/ctrace.h"
#include "ctrace/server.h"

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
    struct ctrace_server *server;
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
    case CAT_OVERLOADED:
        return "overloaded";
    case CAT_TIMEOUT:
        return "timeout";
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
 * cats, {members,"Minsk"}, {put_members,"Minsk",["Marfa","Tihon"]}. The
 * parts go into `items` (TERM_ITEMS of them), which must live as long as
 * the result; member lists longer than TERM_MEMBERS_MAX end in '...'.
 */
#define TERM_MEMBERS_MAX 8
#define TERM_ITEMS       (3 + TERM_MEMBERS_MAX + 1)
_Static_assert(TERM_ITEMS <= CTRACE_MSG_ITEMS,
               "a request term fits in the items format_msg gets");

static const char *request_op_name(enum cat_srv_op op)
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
    return ops[op];
}

/* `total`: how many members the request has (req->members may hold only
 * the first of them). */
static struct ctrace_value request_term(const struct cat_srv_request *req,
                                        size_t total,
                                        struct ctrace_value *items)
{
    struct ctrace_value *members = items + 3;
    items[0] = ctrace_value_symbol(request_op_name(req->op));
    switch (req->op) {
    case CAT_SRV_CATS:
    case CAT_SRV_TOWNS:
    case CAT_SRV_STATE:
        return items[0];
    case CAT_SRV_MEMBERS:
        items[1] = ctrace_value_string(req->town);
        return ctrace_value_tuple(items, 2);
    case CAT_SRV_PUT_MEMBERS: {
        size_t n = req->members.len;
        if (n > TERM_MEMBERS_MAX)
            n = TERM_MEMBERS_MAX;
        for (size_t i = 0; i < n; i++)
            members[i] = ctrace_value_string(req->members.names[i]);
        if (n < total)
            members[n++] = ctrace_value_symbol("...");
        items[1] = ctrace_value_string(req->town);
        items[2] = ctrace_value_list(members, n);
        return ctrace_value_tuple(items, 3);
    }
    default:
        items[1] = ctrace_value_string(req->cat);
        items[2] = ctrace_value_string(req->town);
        return ctrace_value_tuple(items, 3);
    }
}

/*
 * handle_call(Request, From, State): runs one request against the state.
 * `from` is the caller's pid.
 */
static enum cat_result handle_call(const struct cat_srv_request *req,
                                   uint64_t from_pid,
                                   struct cat_state *state,
                                   struct cat_srv_reply *reply)
{
    struct ctrace_value term[TERM_ITEMS];
    struct ctrace_value request = request_term(req, req->members.len, term);
    /* From is a pid, and prints as one: <0.335.0>. */
    struct ctrace_value from = ctrace_value_pid(from_pid);
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
    struct ctrace_value term[TERM_ITEMS];
    struct ctrace_value request = request_term(req, req->members.len, term);
    CTRACE_CALL(cat_traveler_srv, handle_cast, request, state);
    uint64_t delay = backlog_delay_ns(state);
    if (delay > 0)
        cat_sleep_ns(delay);
    state->visits++;
    CTRACE_RETURN_VOID();
}

/* ---- The wire format of requests and replies. ---- */

/*
 * A request in the mailbox: the header, then `cat`, `town` and each member
 * as NUL-terminated strings. Members that do not fit in CAT_SRV_MSG_MAX
 * make the call fail with CAT_NO_MEMORY before it is sent.
 */
#define CAT_SRV_MSG_MAX 8192
#define CAT_SRV_MAILBOX 512
/* How long enter and leave wait for the server before giving up. */
#define CAT_SRV_CALL_TIMEOUT_MS 5000

struct wire_req {
    uint64_t from; /* the caller's pid, for handle_call's From */
    uint32_t op;
    uint32_t nmembers;
    char data[];
};

/* The reply: the result, and what the operation gives back. */
struct wire_reply {
    uint32_t result;
    char town[CAT_NAME_MAX_BYTES + 1];
    json_t *json;             /* CATS, TOWNS, STATE */
    struct cat_names members; /* MEMBERS */
};

/* Encodes `req` into `buf`; returns the length, or 0 when it does not fit. */
static size_t
wire_encode(const struct cat_srv_request *req, char *buf, size_t cap)
{
    struct wire_req *w = (struct wire_req *)buf;
    size_t len = sizeof(*w);
    if (len > cap)
        return 0;
    w->from = ctrace_self();
    w->op = (uint32_t)req->op;
    w->nmembers = (uint32_t)req->members.len;
    const char *parts[2] = {req->cat != NULL ? req->cat : "",
                            req->town != NULL ? req->town : ""};
    for (size_t i = 0; i < 2 + req->members.len; i++) {
        const char *p = i < 2 ? parts[i] : req->members.names[i - 2];
        size_t n = strlen(p) + 1;
        if (n > cap - len)
            return 0;
        memcpy(buf + len, p, n);
        len += n;
    }
    return len;
}

/*
 * Decodes a request in place: the strings point into `msg`, the first
 * `cap` members into `names`; `*total` is how many members it has.
 * Returns false for a malformed request.
 */
static bool wire_decode(const void *msg,
                        size_t len,
                        struct cat_srv_request *req,
                        uint64_t *from,
                        char **names,
                        size_t cap,
                        size_t *total)
{
    struct wire_req w;
    if (len < sizeof(w))
        return false;
    memcpy(&w, msg, sizeof(w));
    if (w.op > CAT_SRV_VISITED)
        return false;
    const char *p = (const char *)msg + sizeof(w);
    const char *end = (const char *)msg + len;
    const char *strings[2];
    for (size_t i = 0; i < 2 + (size_t)w.nmembers; i++) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        if (nul == NULL)
            return false;
        if (i < 2)
            strings[i] = p;
        else if (i - 2 < cap)
            names[i - 2] = (char *)p;
        p = nul + 1;
    }
    *req = (struct cat_srv_request){
        .op = (enum cat_srv_op)w.op,
        .cat = strings[0],
        .town = strings[1],
        .members = {names, w.nmembers < cap ? w.nmembers : cap}};
    *from = w.from;
    *total = w.nmembers;
    return true;
}

/* ---- The server's callbacks. ---- */

static int cb_init(void *arg, void **state, struct ctrace_error *err)
{
    struct cat_state *st = srv_init(arg);
    if (st == NULL) {
        err->code = CTRACE_ENOMEM;
        snprintf(err->text, sizeof(err->text), "no memory for the state");
        return CTRACE_ENOMEM;
    }
    *state = st;
    return CTRACE_SERVER_CONTINUE;
}

#define MEMBERS_MAX (CAT_SRV_MSG_MAX / 2)

static int cb_handle_call(void *state,
                          const void *msg,
                          size_t len,
                          struct ctrace_reply *reply)
{
    static char *names[MEMBERS_MAX]; /* the server's thread only */
    struct cat_srv_request req;
    uint64_t from;
    size_t total;
    struct wire_reply out;
    memset(&out, 0, sizeof(out));
    if (!wire_decode(msg, len, &req, &from, names, MEMBERS_MAX, &total) ||
        total > MEMBERS_MAX) {
        out.result = CAT_NO_MEMORY;
    } else {
        struct cat_srv_reply r = {0};
        out.result = handle_call(&req, from, state, &r);
        memcpy(out.town, r.town, sizeof(out.town));
        out.json = r.json;
        out.members = r.members;
    }
    (void)ctrace_reply_set(reply, &out, sizeof(out));
    return CTRACE_SERVER_CONTINUE;
}

static int cb_handle_cast(void *state, const void *msg, size_t len)
{
    struct cat_srv_request req;
    uint64_t from;
    size_t total;
    if (wire_decode(msg, len, &req, &from, NULL, 0, &total))
        handle_cast(&req, state);
    return CTRACE_SERVER_CONTINUE;
}

static void cb_terminate(void *state, const char *reason)
{
    (void)reason;
    srv_terminate(state);
}

static char *cb_format_state(const void *state)
{
    json_t *j = srv_format_state(state);
    char *text =
        j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return text;
}

/* Fills `err` and returns CTRACE_EINVAL: why a new state was refused. */
static int refuse(struct ctrace_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int refuse(struct ctrace_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->code = CTRACE_EINVAL;
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    return CTRACE_EINVAL;
}

static bool name_ok(const char *s)
{
    size_t chars;
    return cat_name_check(s, strlen(s), &chars) == CAT_NAME_OK;
}

/*
 * replace_state: {"cats": {Cat: Town}, "towns": {Town: [Cat]}, "visits": N}
 * (visits optional: kept; towns optional: made from cats, so that a merge
 * patch can move a cat with {"cats":{...},"towns":null}). Everything is
 * checked before anything changes: valid names, both maps telling the same
 * story, at most max_cats cats. Then a new state is built and swapped in,
 * and the old one freed.
 */
static int cb_replace_state(void **state,
                            const char *text,
                            size_t len,
                            struct ctrace_error *err)
{
    struct cat_state *old = *state;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return refuse(err,
                      "not JSON: %s at line %d column %d",
                      jerr.text,
                      jerr.line,
                      jerr.column);
    int rc = 0;
    json_t *cats = json_object_get(root, "cats");
    json_t *towns = json_object_get(root, "towns");
    json_t *visits = json_object_get(root, "visits");
    const char *key;
    json_t *v;
    if (!json_is_object(root) || !json_is_object(cats) ||
        (towns != NULL && !json_is_object(towns))) {
        rc = refuse(err,
                    "expected {\"cats\": {CAT: TOWN}, \"towns\": {TOWN: "
                    "[CAT]}, \"visits\": N}");
        goto done;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "cats") != 0 && strcmp(key, "towns") != 0 &&
            strcmp(key, "visits") != 0) {
            rc = refuse(err, "unknown key \"%s\"", key);
            goto done;
        }
    }
    if (visits != NULL &&
        (!json_is_integer(visits) || json_integer_value(visits) < 0)) {
        rc = refuse(err, "visits must be a number of 0 or more");
        goto done;
    }
    if (json_object_size(cats) > old->max_cats) {
        rc = refuse(err,
                    "%zu cats; at most %zu may be in towns",
                    json_object_size(cats),
                    old->max_cats);
        goto done;
    }
    /* Every cat: a valid name in a valid town that lists it. */
    json_object_foreach(cats, key, v)
    {
        if (!name_ok(key) || !json_is_string(v) ||
            !name_ok(json_string_value(v))) {
            rc = refuse(err, "cats: \"%s\" needs a valid cat and town", key);
            goto done;
        }
        if (towns == NULL)
            continue;
        json_t *list = json_object_get(towns, json_string_value(v));
        bool listed = false;
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c)
        {
            listed = listed || (json_is_string(c) &&
                                strcmp(json_string_value(c), key) == 0);
        }
        if (!listed) {
            rc = refuse(err,
                        "cats says %s is in %s, but towns does not list "
                        "%s there",
                        key,
                        json_string_value(v),
                        key);
            goto done;
        }
    }
    /* Every town: a list of cats that the cat map puts there, once. */
    size_t listed_total = 0;
    json_object_foreach(towns, key, v)
    {
        if (!name_ok(key) || !json_is_array(v) || json_array_size(v) == 0) {
            rc = refuse(err,
                        "towns: \"%s\" needs a valid town and a non-empty "
                        "list of cats",
                        key);
            goto done;
        }
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            const char *cat = json_string_value(c);
            json_t *where = cat != NULL ? json_object_get(cats, cat) : NULL;
            if (where == NULL || strcmp(json_string_value(where), key) != 0) {
                rc = refuse(err,
                            "towns lists %s in %s, but cats does not put "
                            "it there",
                            cat != NULL ? cat : "a non-string",
                            key);
                goto done;
            }
            listed_total++;
        }
    }
    if (towns != NULL && listed_total != json_object_size(cats)) {
        rc = refuse(err, "towns lists a cat more than once");
        goto done;
    }

    struct cat_srv_opts opts = {.max_cats = old->max_cats,
                                .scenario = old->scenario};
    struct cat_state *fresh = srv_init(&opts);
    if (fresh == NULL) {
        rc = refuse(err, "no memory for the new state");
        goto done;
    }
    fresh->started_ns = old->started_ns;
    fresh->visits =
        visits != NULL ? (uint64_t)json_integer_value(visits) : old->visits;
    json_object_foreach(cats, key, v)
    {
        struct cat_srv_reply r = {0};
        if (enter(fresh, key, json_string_value(v), &r) != CAT_OK) {
            srv_terminate(fresh);
            rc = refuse(err, "no memory for the new state");
            goto done;
        }
    }
    srv_terminate(old);
    *state = fresh;
done:
    json_decref(root);
    return rc;
}

/* Messages as Erlang-looking terms: {enter,"Tihon","Minsk"}, ok. */
static struct ctrace_value cb_format_msg(enum ctrace_msg_kind kind,
                                         const void *msg,
                                         size_t len,
                                         struct ctrace_value *items)
{
    if (kind == CTRACE_MSG_REPLY) {
        const struct wire_reply *r = msg;
        if (len < sizeof(*r))
            return ctrace_value_bytes(msg, len);
        return ctrace_value_symbol(cat_result_name(r->result));
    }
    if (kind != CTRACE_MSG_CALL && kind != CTRACE_MSG_CAST)
        return ctrace_value_bytes(msg, len);
    char *names[TERM_MEMBERS_MAX];
    struct cat_srv_request req;
    uint64_t from;
    size_t total;
    if (!wire_decode(msg, len, &req, &from, names, TERM_MEMBERS_MAX, &total))
        return ctrace_value_bytes(msg, len);
    return request_term(&req, total, items);
}

static const struct ctrace_server_callbacks callbacks = {
    .init = cb_init,
    .handle_call = cb_handle_call,
    .handle_cast = cb_handle_cast,
    .terminate = cb_terminate,
    .format_state = cb_format_state,
    .replace_state = cb_replace_state,
    .format_msg = cb_format_msg,
};

/* ---- Running the server. ---- */

struct cat_srv *cat_srv_start(const struct cat_srv_opts *opts)
{
    struct cat_srv *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    struct ctrace_server_opts so;
    ctrace_server_opts_init(&so);
    so.name = "cat_traveler_srv";
    so.initial_call = "cat_traveler_srv:init/1";
    so.mailbox = CAT_SRV_MAILBOX;
    so.max_msg = CAT_SRV_MSG_MAX;
    so.arg = (void *)opts;
    struct ctrace_error err = {0};
    srv->server = ctrace_server_start(&callbacks, &so, &err);
    if (srv->server == NULL) {
        fprintf(stderr, "cat_traveler: state server: %s\n", err.text);
        free(srv);
        return NULL;
    }
    return srv;
}

void cat_srv_stop(struct cat_srv *srv)
{
    if (srv == NULL)
        return;
    ctrace_server_stop(srv->server, "shutdown");
    free(srv);
}

/* What a failed send or wait means to the caller. */
static enum cat_result send_failed(int rc)
{
    if (rc == CTRACE_EFULL)
        return CAT_OVERLOADED;
    if (rc == -ETIMEDOUT || rc == CTRACE_ESTOPPED)
        return CAT_TIMEOUT;
    return CAT_NO_MEMORY;
}

enum cat_result cat_srv_call(struct cat_srv *srv,
                             const struct cat_srv_request *req,
                             struct cat_srv_reply *reply)
{
    char buf[CAT_SRV_MSG_MAX];
    size_t len = wire_encode(req, buf, sizeof(buf));
    if (len == 0)
        return CAT_NO_MEMORY;
    /*
     * A listing hands over memory the server allocated for the caller, so
     * the caller waits for it however long it takes: a reply thrown away
     * after a timeout would leak it. Enter and leave give up after a while.
     */
    bool owns = req->op == CAT_SRV_CATS || req->op == CAT_SRV_TOWNS ||
                req->op == CAT_SRV_STATE || req->op == CAT_SRV_MEMBERS;
    struct wire_reply out;
    size_t out_len = 0;
    int rc = ctrace_server_call(srv->server,
                                buf,
                                len,
                                &out,
                                sizeof(out),
                                &out_len,
                                owns ? 0 : CAT_SRV_CALL_TIMEOUT_MS);
    if (rc < 0)
        return send_failed(rc);
    if (out_len != sizeof(out))
        return CAT_NO_MEMORY;
    memcpy(reply->town, out.town, sizeof(reply->town));
    reply->json = out.json;
    reply->members = out.members;
    return (enum cat_result)out.result;
}

void cat_srv_cast(struct cat_srv *srv, const struct cat_srv_request *req)
{
    char buf[CAT_SRV_MSG_MAX];
    size_t len = wire_encode(req, buf, sizeof(buf));
    /* A cast is fire-and-forget: a full mailbox loses the visit count. */
    if (len > 0)
        (void)ctrace_server_cast(srv->server, buf, len);
}
