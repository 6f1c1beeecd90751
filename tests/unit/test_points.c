/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for trace points: the registry (listing before the first call,
 * globs, exact lookup, "did you mean", modules loaded and unloaded with
 * dlopen/dlclose, reference counts, a full table), the macros (what they
 * record statically, when arguments and return expressions are evaluated,
 * that every exit path reports once), the switches (arm/disarm counting,
 * concurrent arming under ThreadSanitizer), and a translation unit built
 * with CTRACE_DISABLE.
 *
 * The engine is stood in for by recording hooks installed through
 * ctrace__engine_set_hooks(), with an injected clock.
 *
 * Some trace arguments here have side effects (a counter): that is what
 * the tests measure. Real code must not do this.
 */
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctrace/point.h"
#include "point/point.h"

/* From tests/compile/disabled.c, built with CTRACE_DISABLE. */
int disabled_add(int *evaluations, int a, int b);
void disabled_touch(int *evaluations);
const char *disabled_file(void);

/* ---- Recording hooks. ---- */

#define MAX_ARGS 10
#define TEXT     64

/* What the hooks saw; only touched by the test's own thread. */
struct record {
    int enters;
    int rets;
    int events;
    bool want_return;
    struct ctrace_point *point;
    void *probe;
    size_t nargs;
    struct ctrace_value args[MAX_ARGS];
    char texts[MAX_ARGS][TEXT]; /* copies of string arguments */
    bool ret_has_value;         /* false: the return renders `?` */
    struct ctrace_value ret_value;
    char ret_text[TEXT];
    uint64_t duration_ns;
    uint64_t event_ns;
    uintptr_t ra;      /* frame->engine[3] at the last enter */
    int ra_depth;      /* where backtrace() from the hook found it, or -1 */
    uintptr_t ra_next; /* the return address after it: into the caller */
    uint64_t clock;
    int added;
    int removed;
};

static struct record rec;

/*
 * A hook's copy of a value: unmeasured C strings are measured first, as
 * the hook contract asks of every hook (point.h).
 */
static struct ctrace_value copy_value(const struct ctrace_value *in, char *text)
{
    struct ctrace_value m = *in;
    ctrace__value_measure(&m);
    const struct ctrace_value *v = &m;
    struct ctrace_value c = m;
    if (v->kind == CTRACE_VALUE_STRING || v->kind == CTRACE_VALUE_SYMBOL) {
        size_t n = v->as.str.len < TEXT - 1 ? v->as.str.len : TEXT - 1;
        memcpy(text, v->as.str.ptr, n);
        text[n] = '\0';
        c.as.str.ptr = text;
        c.as.str.len = n;
    }
    return c;
}

static void copy_args(size_t nargs, const struct ctrace_value *args)
{
    rec.nargs = nargs;
    for (size_t i = 0; i < nargs && i < MAX_ARGS; i++)
        rec.args[i] = copy_value(&args[i], rec.texts[i]);
}

static uint64_t rec_now(void *arg);

static bool rec_enter(void *arg,
                      struct ctrace_point *point,
                      void *probe,
                      struct ctrace__frame *frame,
                      size_t nargs,
                      const struct ctrace_value *args)
{
    (void)arg;
    rec.enters++;
    rec.point = point;
    rec.probe = probe;
    assert_ptr_equal(frame->point, point);
    /* The engine stamps the calls it takes, on its own clock. */
    assert_int_equal(frame->start_ns, 0);
    frame->start_ns = rec_now(arg);
    copy_args(nargs, args);
    /*
     * What a `stack` or `caller` capture does: unwind from here (through
     * the entry point and, on x86-64, its trampoline) and look for the
     * return address into the traced function.
     */
    void *raw[64];
    int n = backtrace(raw, 64);
    rec.ra = frame->engine[3];
    rec.ra_depth = -1;
    rec.ra_next = 0;
    for (int i = 0; i < n; i++) {
        if ((uintptr_t)raw[i] == rec.ra) {
            rec.ra_depth = i;
            rec.ra_next = i + 1 < n ? (uintptr_t)raw[i + 1] : 0;
            break;
        }
    }
    return rec.want_return;
}

static void rec_ret(void *arg,
                    struct ctrace__frame *frame,
                    const struct ctrace_value *value,
                    uint64_t duration_ns)
{
    (void)arg;
    assert_int_equal(frame->active, 0);
    rec.rets++;
    rec.ret_has_value = value != NULL;
    if (value != NULL)
        rec.ret_value = copy_value(value, rec.ret_text);
    rec.duration_ns = duration_ns;
}

static void rec_event(void *arg,
                      struct ctrace_point *point,
                      void *probe,
                      uint64_t now_ns,
                      size_t nargs,
                      const struct ctrace_value *args,
                      uintptr_t return_address)
{
    (void)arg;
    rec.events++;
    rec.point = point;
    rec.probe = probe;
    rec.event_ns = now_ns;
    (void)return_address;
    copy_args(nargs, args);
}

static void rec_added(void *arg,
                      struct ctrace_point *const *start,
                      struct ctrace_point *const *stop)
{
    (void)arg;
    (void)start;
    (void)stop;
    assert_true(ctrace__registry_locked());
    rec.added++;
}

static void rec_removed(void *arg,
                        struct ctrace_point *const *start,
                        struct ctrace_point *const *stop)
{
    (void)arg;
    (void)start;
    (void)stop;
    assert_true(ctrace__registry_locked());
    rec.removed++;
}

/* Every reading moves the clock 1000 ns on: durations are exact. */
static uint64_t rec_now(void *arg)
{
    (void)arg;
    rec.clock += 1000;
    return rec.clock;
}

static const struct ctrace__engine_hooks rec_hooks = {
    .enter = rec_enter,
    .ret = rec_ret,
    .event = rec_event,
    .module_added = rec_added,
    .module_removed = rec_removed,
    .now_ns = rec_now,
};

/* ---- Arming, with a list so that teardown can undo what a test did. ---- */

#define MAX_ARMED 16
static struct ctrace_point *armed[MAX_ARMED];
static size_t narmed;

static struct ctrace_point *find(const char *module, const char *fn, int ar)
{
    ctrace__registry_lock();
    struct ctrace_point *pt = ctrace__registry_find(module, fn, ar);
    ctrace__registry_unlock();
    return pt;
}

/* Arms module:function/arity (a cmocka failure must not hold the lock). */
static struct ctrace_point *arm(const char *module, const char *fn, int ar)
{
    ctrace__registry_lock();
    struct ctrace_point *pt = ctrace__registry_find(module, fn, ar);
    int on = pt != NULL ? ctrace__point_arm(pt) : -1;
    ctrace__registry_unlock();
    assert_non_null(pt);
    assert_true(on >= 1);
    assert_true(narmed < MAX_ARMED);
    armed[narmed++] = pt;
    return pt;
}

static int disarm(struct ctrace_point *pt)
{
    ctrace__registry_lock();
    int on = ctrace__point_disarm(pt);
    ctrace__registry_unlock();
    for (size_t i = narmed; i-- > 0;) {
        if (armed[i] == pt) {
            armed[i] = armed[--narmed];
            break;
        }
    }
    return on;
}

static int setup_hooks(void **state)
{
    (void)state;
    memset(&rec, 0, sizeof(rec));
    rec.want_return = true;
    narmed = 0;
    ctrace__engine_set_hooks(&rec_hooks);
    return 0;
}

static int teardown_hooks(void **state)
{
    (void)state;
    while (narmed > 0)
        disarm(armed[narmed - 1]);
    ctrace__engine_set_hooks(NULL);
    return 0;
}

/* ---- Traced functions. ---- */

static int arg_evaluations;
static int return_evaluations;

static int counted(int x)
{
    arg_evaluations++;
    return x;
}

static int counted_return(int x)
{
    return_evaluations++;
    return x;
}

static int cat_enter(const char *cat, const char *town)
{
    CTRACE_CALL(cat_traveler, enter, cat, town);
    CTRACE_RETURN((int)(strlen(cat) + strlen(town)));
}

/* Two strings, either of which may be NULL: the point filter's cases. */
static void pair(const char *cat, const char *town)
{
    CTRACE_CALL(test_points, pair, cat, town);
}

static int cat_leave(const char *cat)
{
    CTRACE_CALL(cat_traveler, leave, cat);
    return (int)strlen(cat);
}

/* Listed before the test calls it (and called at the end, so it exists). */
static long never_called_yet(long x, unsigned char y)
{
    CTRACE_CALL(test_points, never_called_yet, x, y);
    CTRACE_RETURN(x + y);
}

/*
 * Every argument register in use, two more in vector registers, and all of
 * them live after the point: the entry points must give them all back.
 * Not inlined, and its result used, so that it has a frame and a caller.
 */
static uintptr_t wide_return_address;

__attribute__((noinline)) static double wide(const char *a,
                                             long b,
                                             const char *c,
                                             long d,
                                             long e,
                                             long f,
                                             double g,
                                             double h)
{
    CTRACE_CALL(test_points, wide, a, b, c, d, e, f, g, h);
    wide_return_address = (uintptr_t)__builtin_return_address(0);
    CTRACE_RETURN((double)(strlen(a) + strlen(c)) + (double)(b + d + e + f) +
                  g * h);
}

static int add(int a, int b)
{
    CTRACE_CALL(test_points, add, counted(a), b);
    CTRACE_RETURN(counted_return(a + b));
}

static int kinds(bool b,
                 char c,
                 unsigned u,
                 double d,
                 float f,
                 const char *s,
                 const int *p,
                 struct ctrace_value v)
{
    CTRACE_CALL(test_points, kinds, b, c, u, d, f, s, p, v);
    CTRACE_RETURN_VALUE(0, ctrace_value_symbol("ok"));
}

static int nothing(void)
{
    CTRACE_CALL(test_points, nothing);
    CTRACE_RETURN(7);
}

/*
 * Every way out of a function: 0 via CTRACE_RETURN, 1 via a plain return,
 * 2 via a plain return from inside a loop, 3 via CTRACE_RETURN_VALUE from
 * inside a loop.
 */
static int exits(int mode)
{
    CTRACE_CALL(test_points, exits, mode);
    if (mode == 0)
        CTRACE_RETURN(100);
    if (mode == 1)
        return 101;
    for (int i = 0;; i++) {
        if (i == 3 && mode == 2)
            return i;
        if (i == 3)
            CTRACE_RETURN_VALUE(i, ctrace_value_symbol("three"));
    }
}

static int void_ends;

/* 0: CTRACE_RETURN_VOID; 1: plain `return;`; 2: falls off the end. */
static void exits_void(int mode)
{
    CTRACE_CALL(test_points, exits_void, mode);
    if (mode == 0)
        CTRACE_RETURN_VOID();
    if (mode == 1)
        return;
    void_ends++;
}

static const char *greet(const char *cat)
{
    CTRACE_CALL(test_points, greet, cat);
    if (cat == NULL)
        CTRACE_RETURN("nobody");
    CTRACE_RETURN(cat);
}

static void tick(int n)
{
    CTRACE_EVENT(test_points, tick, counted(n), "tock");
    CTRACE_EVENT(test_points, tock);
}

/* ---- Helpers. ---- */

struct collected {
    const struct ctrace_point *points[64];
    int n;
};

static int collect(const struct ctrace_point *pt, void *arg)
{
    struct collected *c = arg;
    if (c->n < 64)
        c->points[c->n++] = pt;
    return 0;
}

static const struct ctrace_point *
collected_find(const struct collected *c, const char *module, const char *fn)
{
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->points[i]->module, module) == 0 &&
            strcmp(c->points[i]->function, fn) == 0)
            return c->points[i];
    }
    return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s);
    size_t lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* ---- Registry. ---- */

static void registry_lists_points_before_their_first_call(void **state)
{
    (void)state;
    struct collected c = {0};
    int n = ctrace_points_foreach("test_points:never_called_yet", collect, &c);
    assert_int_equal(n, 1);
    assert_int_equal(c.n, 1);
    const struct ctrace_point *pt = c.points[0];
    assert_int_equal(pt->struct_size, sizeof(struct ctrace_point));
    assert_string_equal(pt->module, "test_points");
    assert_string_equal(pt->function, "never_called_yet");
    assert_int_equal(pt->arity, 2);
    assert_int_equal(pt->flags, 0);
    assert_true(ends_with(pt->file, "test_points.c"));
    assert_true(pt->line > 0);
    assert_int_not_equal(pt->ctrace__id, 0);
    assert_int_equal(atomic_load(&pt->on), 0);
    assert_int_equal(never_called_yet(40, 2), 42);
}

static void points_record_argument_names_and_kinds_statically(void **state)
{
    (void)state;
    struct ctrace_point *pt = find("test_points", "kinds", 8);
    assert_non_null(pt);
    static const char *const names[] = {"b", "c", "u", "d", "f", "s", "p", "v"};
    static const enum ctrace_value_kind expected[] = {CTRACE_VALUE_BOOL,
                                                      CTRACE_VALUE_INT,
                                                      CTRACE_VALUE_UINT,
                                                      CTRACE_VALUE_DOUBLE,
                                                      CTRACE_VALUE_DOUBLE,
                                                      CTRACE_VALUE_STRING,
                                                      CTRACE_VALUE_POINTER,
                                                      CTRACE_VALUE_NULL};
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(pt->arg_names[i], names[i]);
        assert_int_equal(pt->arg_kinds[i], expected[i]);
    }

    /* Argument expressions are recorded as written. */
    struct ctrace_point *add_pt = find("test_points", "add", 2);
    assert_non_null(add_pt);
    assert_string_equal(add_pt->arg_names[0], "counted(a)");
    assert_string_equal(add_pt->arg_names[1], "b");

    /* No arguments: no arrays. */
    struct ctrace_point *none = find("test_points", "nothing", 0);
    assert_non_null(none);
    assert_null(none->arg_names);
    assert_null(none->arg_kinds);
}

static void points_have_distinct_ids(void **state)
{
    (void)state;
    struct collected c = {0};
    int n = ctrace_points_foreach("test_points", collect, &c);
    assert_int_equal(n, 11);
    for (int i = 0; i < c.n; i++) {
        assert_int_not_equal(c.points[i]->ctrace__id, 0);
        for (int j = i + 1; j < c.n; j++)
            assert_int_not_equal(c.points[i]->ctrace__id,
                                 c.points[j]->ctrace__id);
    }
}

static void globs_select_by_module_and_by_module_function(void **state)
{
    (void)state;
    struct collected c = {0};
    assert_int_equal(ctrace_points_foreach("cat_traveler", collect, &c), 2);
    assert_non_null(collected_find(&c, "cat_traveler", "enter"));
    assert_non_null(collected_find(&c, "cat_traveler", "leave"));

    assert_int_equal(ctrace_points_foreach("cat_*:enter", NULL, NULL), 1);
    assert_int_equal(ctrace_points_foreach("cat_*:*", NULL, NULL), 2);
    assert_int_equal(ctrace_points_foreach("*:leave", NULL, NULL), 1);
    assert_int_equal(ctrace_points_foreach("cat_traveler:enter", NULL, NULL),
                     1);
    /* Without ':' the glob names modules: "enter" is no module. */
    assert_int_equal(ctrace_points_foreach("enter", NULL, NULL), 0);
    assert_int_equal(ctrace_points_foreach("cat_", NULL, NULL), 0);
    assert_int_equal(ctrace_points_foreach("", NULL, NULL), 0);
    /* Events are points too. */
    assert_int_equal(ctrace_points_foreach("test_points:t*", NULL, NULL), 2);

    /* NULL lists every point: at least ours, and agrees with count. */
    int all = ctrace_points_foreach(NULL, NULL, NULL);
    assert_true(all >= 11);
    assert_int_equal((size_t)all, ctrace__registry_count());
    ctrace__registry_lock();
    size_t walked = ctrace__registry_walk("test_points", "exit*", 1, NULL, 0);
    ctrace__registry_unlock();
    assert_int_equal(walked, 2);
}

static int stop_at_second(const struct ctrace_point *pt, void *arg)
{
    (void)pt;
    int *seen = arg;
    return ++*seen == 2;
}

static void listing_stops_when_the_callback_says_so(void **state)
{
    (void)state;
    int seen = 0;
    assert_int_equal(ctrace_points_foreach(NULL, stop_at_second, &seen), 2);
    assert_int_equal(seen, 2);
}

static int nested_listing(const struct ctrace_point *pt, void *arg)
{
    (void)pt;
    *(int *)arg = ctrace_points_foreach(NULL, NULL, NULL);
    return 1;
}

static void listing_from_a_listing_callback_is_busy_not_a_deadlock(void **s)
{
    (void)s;
    int inner = 0;
    assert_int_equal(ctrace_points_foreach(NULL, nested_listing, &inner), 1);
    assert_int_equal(inner, CTRACE_EBUSY);
}

static void find_matches_exact_names_and_arity(void **state)
{
    (void)state;
    assert_non_null(find("cat_traveler", "enter", 2));
    assert_non_null(find("cat_traveler", "enter", -1));
    assert_null(find("cat_traveler", "enter", 3));
    assert_null(find("cat_traveler", "ent*", -1));
    assert_null(find("cat_travler", "enter", 2));
}

static void suggest_finds_cat_traveler_enter_for_a_misspelling(void **state)
{
    (void)state;
    struct ctrace__suggestion s[3];
    size_t n = ctrace__registry_suggest("cat_travler", "enter", 2, s, 3);
    assert_true(n >= 1);
    assert_string_equal(s[0].text, "cat_traveler:enter/2");
    assert_int_equal(s[0].distance, 1);

    /* A swap of two letters is one slip. */
    n = ctrace__registry_suggest("cat_traveler", "etner", -1, s, 3);
    assert_true(n >= 1);
    assert_string_equal(s[0].text, "cat_traveler:enter");

    /* Module only, and a wrong arity alone. */
    n = ctrace__registry_suggest("cat_travelr", NULL, -1, s, 3);
    assert_int_equal(n, 1);
    assert_string_equal(s[0].text, "cat_traveler");
    n = ctrace__registry_suggest("cat_traveler", "enter", 3, s, 3);
    assert_true(n >= 1);
    assert_string_equal(s[0].text, "cat_traveler:enter/2");

    /* Globs are kept as written and must match. */
    n = ctrace__registry_suggest("cat_travler", "*", -1, s, 3);
    assert_int_equal(n, 1);
    assert_string_equal(s[0].text, "cat_traveler:*");
    n = ctrace__registry_suggest("cat_*", "entr", -1, s, 3);
    assert_true(n >= 1);
    assert_string_equal(s[0].text, "cat_*:enter");

    /* A wild guess suggests nothing. */
    assert_int_equal(ctrace__registry_suggest("dog", "bark", -1, s, 3), 0);
    /* Closest first, without duplicates, at most n. */
    n = ctrace__registry_suggest("test_points", "exit", -1, s, 2);
    assert_int_equal(n, 2);
    assert_string_equal(s[0].text, "test_points:exits");
    assert_true(s[0].distance <= s[1].distance);
    assert_string_not_equal(s[0].text, s[1].text);
}

/* Fake modules: ranges of descriptor pointers registered by hand. */
static struct ctrace_point fake_points[CTRACE__REGISTRY_MAX_MODULES + 2];
static struct ctrace_point *fake_refs[CTRACE__REGISTRY_MAX_MODULES + 2];

static void init_fakes(void)
{
    for (size_t i = 0; i < CTRACE__REGISTRY_MAX_MODULES + 2; i++) {
        struct ctrace_point pt = {.struct_size = sizeof(pt),
                                  .module = "fake",
                                  .function = "f",
                                  .file = __FILE__};
        fake_points[i] = pt;
        fake_refs[i] = &fake_points[i];
    }
}

static void repeated_registrations_of_a_module_are_counted(void **state)
{
    (void)state;
    init_fakes();
    struct ctrace_point *const *start = &fake_refs[0];
    ctrace__register_module(start, start + 1);
    ctrace__register_module(start, start + 1);
    assert_int_equal(rec.added, 1);
    assert_int_equal(ctrace_points_foreach("fake", NULL, NULL), 1);
    assert_int_not_equal(fake_points[0].ctrace__id, 0);
    ctrace__unregister_module(start, start + 1);
    assert_int_equal(ctrace_points_foreach("fake", NULL, NULL), 1);
    assert_int_equal(rec.removed, 0);
    ctrace__unregister_module(start, start + 1);
    assert_int_equal(ctrace_points_foreach("fake", NULL, NULL), 0);
    assert_int_equal(rec.removed, 1);

    /* Empty and absent ranges are ignored. */
    ctrace__register_module(NULL, NULL);
    ctrace__register_module(start, start);
    assert_int_equal(rec.added, 1);
}

static void a_full_registry_refuses_modules_and_says_so(void **state)
{
    (void)state;
    init_fakes();
    size_t before = 0;
    size_t refused = 0;
    ctrace__registry_stats(&before, &refused);
    assert_int_equal(refused, 0);
    size_t room = CTRACE__REGISTRY_MAX_MODULES - before;
    for (size_t i = 0; i < room + 2; i++)
        ctrace__register_module(&fake_refs[i], &fake_refs[i + 1]);
    size_t now = 0;
    ctrace__registry_stats(&now, &refused);
    assert_int_equal(now, CTRACE__REGISTRY_MAX_MODULES);
    assert_int_equal(refused, 2);
    assert_int_equal(ctrace_points_foreach("fake", NULL, NULL), (int)room);
    for (size_t i = 0; i < room + 2; i++)
        ctrace__unregister_module(&fake_refs[i], &fake_refs[i + 1]);
    ctrace__registry_stats(&now, &refused);
    assert_int_equal(now, before);
    assert_int_equal(refused, 0);
    assert_int_equal(ctrace_points_foreach("fake", NULL, NULL), 0);
    /* Our own points were never disturbed. */
    assert_int_equal(ctrace_points_foreach("cat_traveler", NULL, NULL), 2);
}

static void points_of_a_dlopened_library_come_and_go(void **state)
{
    (void)state;
    assert_int_equal(ctrace_points_foreach("dl_cat", NULL, NULL), 0);
    int added = rec.added;

    void *lib = dlopen(CTRACE_TEST_DL_PATH, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(lib);
    /* Two translation units, one module: registered once. */
    assert_int_equal(rec.added, added + 1);
    assert_int_equal(ctrace_points_foreach("dl_cat", NULL, NULL), 3);
    struct collected c = {0};
    ctrace_points_foreach("dl_cat:*", collect, &c);
    const struct ctrace_point *enter = collected_find(&c, "dl_cat", "enter");
    assert_non_null(enter);
    assert_int_equal(enter->arity, 2);
    assert_true(ends_with(enter->file, "points_dl.c"));
    assert_non_null(collected_find(&c, "dl_cat", "leave"));
    const struct ctrace_point *ev = collected_find(&c, "dl_cat", "moved");
    assert_non_null(ev);
    assert_int_equal(ev->flags, CTRACE_POINT_EVENT);

    /* The library's points fire into the same engine. */
    int (*dl_enter)(const char *, const char *) = NULL;
    *(void **)&dl_enter = dlsym(lib, "dl_cat_enter");
    assert_non_null(dl_enter);
    struct ctrace_point *pt = arm("dl_cat", "enter", 2);
    assert_int_equal(dl_enter("Tihon", "Minsk"), 10);
    assert_int_equal(rec.enters, 1);
    assert_ptr_equal(rec.point, pt);
    assert_string_equal(rec.texts[0], "Tihon");
    assert_string_equal(rec.texts[1], "Minsk");
    assert_int_equal(rec.rets, 1);
    assert_true(rec.ret_has_value);
    assert_int_equal(rec.ret_value.as.i, 10);
    assert_int_equal(disarm(pt), 0);

    int removed = rec.removed;
    assert_int_equal(dlclose(lib), 0);
    assert_int_equal(rec.removed, removed + 1);
    assert_int_equal(ctrace_points_foreach("dl_cat", NULL, NULL), 0);
    assert_null(find("dl_cat", "enter", 2));
    struct ctrace__suggestion s[1];
    assert_int_equal(ctrace__registry_suggest("dl_cat", NULL, -1, s, 1), 0);
}

/* ---- Macros and switches. ---- */

static void disarmed_points_never_evaluate_arguments(void **state)
{
    (void)state;
    arg_evaluations = 0;
    assert_int_equal(add(1, 2), 3);
    tick(5);
    assert_int_equal(arg_evaluations, 0);
    assert_int_equal(rec.enters, 0);
    assert_int_equal(rec.events, 0);
    assert_int_equal(rec.rets, 0);
}

static void armed_points_evaluate_arguments_exactly_once(void **state)
{
    (void)state;
    arm("test_points", "add", 2);
    arg_evaluations = 0;
    assert_int_equal(add(20, 22), 42);
    assert_int_equal(arg_evaluations, 1);
    assert_int_equal(rec.enters, 1);
    assert_int_equal(rec.nargs, 2);
    assert_int_equal(rec.args[0].kind, CTRACE_VALUE_INT);
    assert_int_equal(rec.args[0].as.i, 20);
    assert_int_equal(rec.args[1].as.i, 22);
    assert_int_equal(rec.rets, 1);
    assert_int_equal(rec.ret_value.as.i, 42);

    arm("test_points", "tick", 2);
    arg_evaluations = 0;
    tick(9);
    assert_int_equal(arg_evaluations, 1);
    assert_int_equal(rec.events, 1);
    assert_int_equal(rec.args[0].as.i, 9);
    assert_string_equal(rec.texts[1], "tock");
    assert_int_equal(rec.point->flags, CTRACE_POINT_EVENT);
    assert_int_equal(rec.event_ns, rec.clock);
}

static void armed_points_keep_registers_measure_strings_and_unwind(void **s)
{
    (void)s;
    const char *town = "Tihon-the-long-named";
    assert_true(wide("Murka", 1, town, 2, 3, 4, 0.5, 8.0) == 39.0);
    assert_int_equal(rec.enters, 0);

    arm("test_points", "wide", 8);
    volatile double got = wide("Murka", 1, town, 2, 3, 4, 0.5, 8.0);
    assert_true(got == 39.0);
    assert_int_equal(rec.enters, 1);
    assert_int_equal(rec.nargs, 8);
    assert_int_equal(rec.args[0].kind, CTRACE_VALUE_STRING);
    assert_int_equal(rec.args[0].as.str.len, 5);
    assert_string_equal(rec.texts[0], "Murka");
    assert_int_equal(rec.args[2].as.str.len, strlen(town));
    assert_string_equal(rec.texts[2], town);
    assert_int_equal(rec.args[5].as.i, 4);
    assert_true(rec.args[7].as.d == 8.0);
    assert_int_equal(rec.rets, 1);
    assert_true(rec.ret_value.as.d == 39.0);

    /* The stack starts in wide(), and the next frame is its caller. */
    assert_true(rec.ra_depth >= 0);
    assert_true(rec.ra_next == wide_return_address);
}

static void return_macro_evaluates_its_expression_once_on_or_off(void **s)
{
    (void)s;
    return_evaluations = 0;
    assert_int_equal(add(1, 1), 2);
    assert_int_equal(return_evaluations, 1);

    arm("test_points", "add", 2);
    return_evaluations = 0;
    assert_int_equal(add(2, 2), 4);
    assert_int_equal(return_evaluations, 1);
    assert_int_equal(rec.rets, 1);

    /* Also when the engine does not want the return. */
    rec.want_return = false;
    return_evaluations = 0;
    assert_int_equal(add(3, 3), 6);
    assert_int_equal(return_evaluations, 1);
    assert_int_equal(rec.rets, 1);
}

static void every_exit_path_reaches_the_hook_once(void **state)
{
    (void)state;
    arm("test_points", "exits", 1);

    assert_int_equal(exits(0), 100);
    assert_int_equal(rec.rets, 1);
    assert_true(rec.ret_has_value);
    assert_int_equal(rec.ret_value.kind, CTRACE_VALUE_INT);
    assert_int_equal(rec.ret_value.as.i, 100);

    assert_int_equal(exits(1), 101);
    assert_int_equal(rec.rets, 2);
    assert_false(rec.ret_has_value);

    assert_int_equal(exits(2), 3);
    assert_int_equal(rec.rets, 3);
    assert_false(rec.ret_has_value);

    assert_int_equal(exits(3), 3);
    assert_int_equal(rec.rets, 4);
    assert_true(rec.ret_has_value);
    assert_int_equal(rec.ret_value.kind, CTRACE_VALUE_SYMBOL);
    assert_string_equal(rec.ret_text, "three");
    assert_int_equal(rec.enters, 4);

    arm("test_points", "exits_void", 1);
    void_ends = 0;
    exits_void(0);
    assert_int_equal(rec.rets, 5);
    assert_true(rec.ret_has_value);
    assert_int_equal(rec.ret_value.kind, CTRACE_VALUE_SYMBOL);
    assert_string_equal(rec.ret_text, "ok");
    exits_void(1);
    assert_int_equal(rec.rets, 6);
    assert_false(rec.ret_has_value);
    exits_void(2);
    assert_int_equal(rec.rets, 7);
    assert_false(rec.ret_has_value);
    assert_int_equal(void_ends, 1);
    assert_int_equal(rec.enters, 7);
}

static void returned_values_keep_their_c_type(void **state)
{
    (void)state;
    arm("test_points", "greet", 1);
    assert_string_equal(greet("Murka"), "Murka");
    assert_int_equal(rec.ret_value.kind, CTRACE_VALUE_STRING);
    assert_string_equal(rec.ret_text, "Murka");
    /* A string literal decays to a pointer to its characters. */
    assert_string_equal(greet(NULL), "nobody");
    assert_string_equal(rec.ret_text, "nobody");
    assert_int_equal(rec.args[0].kind, CTRACE_VALUE_NULL);

    arm("test_points", "nothing", 0);
    assert_int_equal(nothing(), 7);
    assert_int_equal(rec.nargs, 0);
    assert_int_equal(rec.ret_value.as.i, 7);
}

static void arguments_convert_by_their_c_type(void **state)
{
    (void)state;
    arm("test_points", "kinds", 8);
    int x = 5;
    struct ctrace_value items[2] = {ctrace_value_symbol("cat"),
                                    ctrace_value_string("Tihon")};
    assert_int_equal(kinds(true,
                           'A',
                           7u,
                           2.5,
                           0.5f,
                           "Barsik",
                           &x,
                           ctrace_value_tuple(items, 2)),
                     0);
    assert_int_equal(rec.nargs, 8);
    assert_int_equal(rec.args[0].kind, CTRACE_VALUE_BOOL);
    assert_true(rec.args[0].as.b);
    assert_int_equal(rec.args[1].kind, CTRACE_VALUE_INT);
    assert_int_equal(rec.args[1].as.i, 'A');
    assert_int_equal(rec.args[2].kind, CTRACE_VALUE_UINT);
    assert_int_equal(rec.args[2].as.u, 7);
    assert_int_equal(rec.args[3].kind, CTRACE_VALUE_DOUBLE);
    assert_true(rec.args[3].as.d == 2.5);
    assert_true(rec.args[4].as.d == 0.5);
    assert_int_equal(rec.args[5].kind, CTRACE_VALUE_STRING);
    assert_string_equal(rec.texts[5], "Barsik");
    assert_int_equal(rec.args[6].kind, CTRACE_VALUE_POINTER);
    assert_ptr_equal(rec.args[6].as.ptr, &x);
    assert_int_equal(rec.args[7].kind, CTRACE_VALUE_TUPLE);
    assert_int_equal(rec.args[7].as.seq.len, 2);
    assert_int_equal(rec.ret_value.kind, CTRACE_VALUE_SYMBOL);
}

static void durations_run_from_entry_to_return_on_the_engine_clock(void **s)
{
    (void)s;
    arm("cat_traveler", "enter", 2);
    assert_int_equal(cat_enter("Tihon", "Barcelona"), 14);
    /* One clock reading at entry, one at return: 1000 ns apart. */
    assert_int_equal(rec.duration_ns, 1000);
    assert_int_equal(rec.ret_value.as.i, 14);

    arm("cat_traveler", "leave", 1);
    assert_int_equal(cat_leave("Tihon"), 5);
    assert_int_equal(rec.duration_ns, 1000);
    assert_false(rec.ret_has_value);
}

static void a_declined_return_is_never_reported(void **state)
{
    (void)state;
    rec.want_return = false;
    arm("test_points", "exits", 1);
    for (int mode = 0; mode < 4; mode++)
        exits(mode);
    assert_int_equal(rec.enters, 4);
    assert_int_equal(rec.rets, 0);
}

static void points_without_an_engine_do_nothing(void **state)
{
    (void)state;
    arm("test_points", "exits", 1);
    ctrace__engine_set_hooks(NULL);
    assert_int_equal(exits(0), 100);
    assert_int_equal(exits(1), 101);
    assert_int_equal(rec.enters, 0);
    assert_int_equal(rec.rets, 0);
}

static void arming_counts_sessions(void **state)
{
    (void)state;
    struct ctrace_point *pt = arm("test_points", "exits", 1);
    arm("test_points", "exits", 1);
    assert_int_equal(atomic_load(&pt->on), 2);
    assert_int_equal(disarm(pt), 1);
    exits(0);
    assert_int_equal(rec.enters, 1);
    assert_int_equal(disarm(pt), 0);
    exits(0);
    assert_int_equal(rec.enters, 1);

    /* One disarm too many is refused, not wrapped around. */
    ctrace__registry_lock();
    int rc = ctrace__point_disarm(pt);
    ctrace__registry_unlock();
    assert_int_equal(rc, CTRACE_EINVAL);
    assert_int_equal(atomic_load(&pt->on), 0);
}

static void the_slow_path_sees_the_published_probe(void **state)
{
    (void)state;
    /* A probe begins with the point's filter (point.h); zero: no filter. */
    static struct {
        struct ctrace__point_filter filter;
        int data;
    } probe_data = {.data = 42};
    struct ctrace_point *pt = find("test_points", "exits", 1);
    assert_non_null(pt);
    ctrace__registry_lock();
    ctrace__point_set_probe(pt, &probe_data);
    ctrace__registry_unlock();
    arm("test_points", "exits", 1);
    exits(0);
    assert_ptr_equal(rec.probe, &probe_data);
    ctrace__registry_lock();
    ctrace__point_set_probe(pt, NULL);
    ctrace__registry_unlock();
}

/*
 * Arms test_points:pair/2 with `probe`, a probe that begins with the
 * point's filter, as the engine's do (point.h). The caller sets the probe
 * back to NULL when done.
 */
static struct ctrace_point *arm_pair_with(void *probe)
{
    struct ctrace_point *pt = find("test_points", "pair", 2);
    assert_non_null(pt);
    ctrace__registry_lock();
    ctrace__point_set_probe(pt, probe);
    ctrace__registry_unlock();
    arm("test_points", "pair", 2);
    return pt;
}

/*
 * The point's filter, as the entry trampoline runs it on x86-64 and the C
 * entry point elsewhere, against ctrace__point_filter_rejects() on the
 * measured arguments: every case must reach the engine exactly when the
 * reference says the filter lets it through.
 */
struct filter_case {
    unsigned op, arg, nargs_plus_one;
    const char *lit;
    const char *cat, *town;
};

static void the_point_filter_rejects_exactly_what_its_contract_says(void **s)
{
    (void)s;
    static const char sixteen[] = "Abcdefghijklmnop";
    const struct filter_case cases[] = {
        {CTRACE__FILTER_OP_BYTES, 0, 3, "Tihon", "Tihon", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 3, "Tihon", "Nobody", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 3, "Tihon", "Tihonov", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 3, "Tihon", "Tiho", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 3, "Tihon", "Tihom", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 3, "Tihon", "", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 3, "", "", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 3, "", "Tihon", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 1, 3, "Riga", "Tihon", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 1, 3, "Riga", "Tihon", "Rigas"},
        {CTRACE__FILTER_OP_BYTES, 0, 3, sixteen, sixteen, "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 3, sixteen, "Abcdefghijklmnoq", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 3, sixteen, "Abcdefghijklmnopq", "Riga"},
        {CTRACE__FILTER_OP_PREFIX, 0, 3, "Ti", "Tihon", "Riga"},
        {CTRACE__FILTER_OP_PREFIX, 0, 3, "Ti", "T", "Riga"},
        {CTRACE__FILTER_OP_PREFIX, 0, 3, "Ti", "Ti", "Riga"},
        {CTRACE__FILTER_OP_PREFIX, 0, 3, "Ti", "Murzik", "Riga"},
        {CTRACE__FILTER_OP_PREFIX, 1, 3, "", "Murzik", "Riga"},
        {CTRACE__FILTER_OP_NONE, 0, 3, "", "Murzik", "Riga"},
        {CTRACE__FILTER_OP_NONE, 0, 2, "", "Murzik", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 4, "Tihon", "Tihon", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 0, "Tihon", "Tihon", "Riga"},
        {CTRACE__FILTER_OP_BYTES, 0, 0, "Tihon", "Murzik", "Riga"},
        /* Not strings: NULL passes as a null value; integers go to C. */
        {CTRACE__FILTER_OP_BYTES, 0, 3, "Tihon", NULL, "Riga"},
        {CTRACE__FILTER_OP_INT, 0, 3, "", "Tihon", "Riga"},
    };
    static struct {
        struct ctrace__point_filter filter;
    } probe;
    struct ctrace_point *pt = arm_pair_with(&probe);
    /*
     * Each case twice: as the C entry point decides it, and marked
     * CTRACE__FILTER_LAZY where the library would mark it, so that the
     * trampoline decides it in asm.
     */
    for (size_t i = 0; i < 2 * CTRACE__ARRAY_SIZE(cases); i++) {
        const struct filter_case *c = &cases[i / 2];
        uint64_t lit[2] = {0, 0};
        size_t len = strlen(c->lit);
        for (size_t b = 0; b < len; b++)
            lit[b / 8] |= (uint64_t)(unsigned char)c->lit[b] << (8 * (b % 8));
        uint32_t word = ctrace__filter_word(
            c->op, c->arg, (unsigned)len, c->nargs_plus_one);
        bool lazy = (i & 1) != 0;
        if (lazy) {
            if ((c->op != CTRACE__FILTER_OP_BYTES &&
                 c->op != CTRACE__FILTER_OP_PREFIX) ||
                len == 0 || c->nargs_plus_one != 3)
                continue; /* never marked (engine.c) */
            word |= CTRACE__FILTER_LAZY;
        }
        ctrace__registry_lock();
        ctrace__point_filter_set(&probe.filter, word, lit);
        ctrace__registry_unlock();
        struct ctrace_value measured[2] = {
            c->cat ? ctrace_value_string(c->cat) : ctrace_value_null(),
            ctrace_value_string(c->town),
        };
        bool reject = ctrace__point_filter_rejects(&probe.filter, 2, measured);
        int before = rec.enters;
        pair(c->cat, c->town);
        if (rec.enters - before != (reject ? 0 : 1))
            fail_msg("case %zu%s (lit \"%s\", cat \"%s\", town \"%s\"): %s",
                     i / 2,
                     lazy ? " marked lazy" : "",
                     c->lit,
                     c->cat ? c->cat : "(null)",
                     c->town,
                     reject ? "reached the engine" : "was rejected");
    }
    /* While the filter is being rewritten (odd seq), nothing is rejected. */
    atomic_fetch_add(&probe.filter.seq, 1);
    int before = rec.enters;
    pair("Nobody", "Riga");
    assert_int_equal(rec.enters, before + 1);
    atomic_fetch_add(&probe.filter.seq, 1);
    ctrace__registry_lock();
    ctrace__point_set_probe(pt, NULL);
    ctrace__registry_unlock();
}

/*
 * A literal read while the library rewrites the filter may hold NUL bytes
 * (a cleared literal is zeros): the trampoline must stop at the string's
 * end all the same. The string ends a page, and the next page is not
 * mapped, so a read past its NUL is a crash.
 */
static void the_trampoline_never_reads_a_string_past_its_end(void **s)
{
    (void)s;
    long page = sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL,
                     (size_t)page * 2,
                     PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS,
                     -1,
                     0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + page, (size_t)page, PROT_NONE), 0);
    char *cat = map + page - 6;
    memcpy(cat, "Tihon", 6);
    static struct {
        struct ctrace__point_filter filter;
    } probe;
    struct ctrace_point *pt = arm_pair_with(&probe);
    /* "Tihon" and three NUL bytes, as a torn read could see it. */
    const uint64_t lit[2] = {UINT64_C(0x6e6f686954), 0};
    const unsigned ops[] = {CTRACE__FILTER_OP_BYTES, CTRACE__FILTER_OP_PREFIX};
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(ops); i++) {
        uint32_t word =
            ctrace__filter_word(ops[i], 0, 8, 3) | CTRACE__FILTER_LAZY;
        ctrace__registry_lock();
        ctrace__point_filter_set(&probe.filter, word, lit);
        ctrace__registry_unlock();
        int before = rec.enters;
        pair(cat, "Riga");
        /* Shorter than the literal's eight bytes: rejected, not read on. */
        assert_int_equal(rec.enters, before);
    }
    ctrace__registry_lock();
    ctrace__point_set_probe(pt, NULL);
    ctrace__registry_unlock();
    munmap(map, (size_t)page * 2);
}

static void disabled_translation_units_register_and_call_nothing(void **s)
{
    (void)s;
    int evaluations = 0;
    assert_int_equal(disabled_add(&evaluations, 2, 3), 5);
    disabled_touch(&evaluations);
    assert_int_equal(evaluations, 0);
    assert_int_equal(ctrace_points_foreach("disabled_tu", NULL, NULL), 0);
    /* Nothing from that file is registered under any name either. */
    struct collected c = {0};
    ctrace_points_foreach(NULL, collect, &c);
    for (int i = 0; i < c.n; i++)
        assert_false(ends_with(c.points[i]->file, disabled_file()));
    assert_int_equal(rec.enters + rec.events + rec.rets, 0);
}

/* ---- Concurrency (meant for ThreadSanitizer). ---- */

struct probe {
    struct ctrace__point_filter filter; /* first, as point.h requires */
    int generation;
};

static atomic_int tsan_enters;
static atomic_int tsan_rets;
static atomic_int tsan_bad;
static atomic_bool tsan_stop;

static bool tsan_enter(void *arg,
                       struct ctrace_point *point,
                       void *probe,
                       struct ctrace__frame *frame,
                       size_t nargs,
                       const struct ctrace_value *args)
{
    (void)arg;
    (void)point;
    (void)frame;
    /* The probe's contents were written before it was published. */
    if (probe != NULL && ((struct probe *)probe)->generation <= 0)
        atomic_fetch_add(&tsan_bad, 1);
    if (nargs != 1 || args[0].kind != CTRACE_VALUE_INT)
        atomic_fetch_add(&tsan_bad, 1);
    atomic_fetch_add(&tsan_enters, 1);
    return true;
}

static void tsan_ret(void *arg,
                     struct ctrace__frame *frame,
                     const struct ctrace_value *value,
                     uint64_t duration_ns)
{
    (void)arg;
    (void)frame;
    (void)duration_ns;
    if (value == NULL || value->as.i != 100)
        atomic_fetch_add(&tsan_bad, 1);
    atomic_fetch_add(&tsan_rets, 1);
}

static const struct ctrace__engine_hooks tsan_hooks = {
    .enter = tsan_enter,
    .ret = tsan_ret,
};

static void *call_in_a_loop(void *arg)
{
    (void)arg;
    long calls = 0;
    while (!atomic_load_explicit(&tsan_stop, memory_order_relaxed) ||
           calls < 1000) {
        if (exits(0) != 100)
            atomic_fetch_add(&tsan_bad, 1);
        calls++;
    }
    return NULL;
}

static void arming_while_threads_call_points_is_safe(void **state)
{
    (void)state;
    ctrace__engine_set_hooks(&tsan_hooks);
    atomic_store(&tsan_stop, false);
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            pthread_create(&threads[i], NULL, call_in_a_loop, NULL), 0);

    /* Probes stay alive until the threads are joined: no grace period here. */
    static struct probe probes[200];
    struct ctrace_point *pt = find("test_points", "exits", 1);
    assert_non_null(pt);
    for (int i = 0; i < 200; i++) {
        probes[i].generation = i + 1;
        ctrace__registry_lock();
        ctrace__point_set_probe(pt, &probes[i]);
        ctrace__point_arm(pt);
        ctrace__registry_unlock();
        ctrace__registry_lock();
        ctrace__point_disarm(pt);
        ctrace__registry_unlock();
    }
    ctrace__registry_lock();
    ctrace__point_arm(pt);
    ctrace__registry_unlock();
    assert_int_equal(exits(0), 100);
    atomic_store(&tsan_stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    ctrace__registry_lock();
    ctrace__point_disarm(pt);
    ctrace__point_set_probe(pt, NULL);
    ctrace__registry_unlock();

    assert_int_equal(atomic_load(&tsan_bad), 0);
    assert_true(atomic_load(&tsan_enters) >= 1);
    assert_int_equal(atomic_load(&tsan_enters), atomic_load(&tsan_rets));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) \
    cmocka_unit_test_setup_teardown(name, setup_hooks, teardown_hooks)
        T(registry_lists_points_before_their_first_call),
        T(points_record_argument_names_and_kinds_statically),
        T(points_have_distinct_ids),
        T(globs_select_by_module_and_by_module_function),
        T(listing_stops_when_the_callback_says_so),
        T(listing_from_a_listing_callback_is_busy_not_a_deadlock),
        T(find_matches_exact_names_and_arity),
        T(suggest_finds_cat_traveler_enter_for_a_misspelling),
        T(repeated_registrations_of_a_module_are_counted),
        T(a_full_registry_refuses_modules_and_says_so),
        T(points_of_a_dlopened_library_come_and_go),
        T(disarmed_points_never_evaluate_arguments),
        T(armed_points_evaluate_arguments_exactly_once),
        T(return_macro_evaluates_its_expression_once_on_or_off),
        T(every_exit_path_reaches_the_hook_once),
        T(armed_points_keep_registers_measure_strings_and_unwind),
        T(returned_values_keep_their_c_type),
        T(arguments_convert_by_their_c_type),
        T(durations_run_from_entry_to_return_on_the_engine_clock),
        T(a_declined_return_is_never_reported),
        T(points_without_an_engine_do_nothing),
        T(arming_counts_sessions),
        T(the_slow_path_sees_the_published_probe),
        T(the_point_filter_rejects_exactly_what_its_contract_says),
        T(the_trampoline_never_reads_a_string_past_its_end),
        T(disabled_translation_units_register_and_call_nothing),
        T(arming_while_threads_call_points_is_safe),
#undef T
    };
    return cmocka_run_group_tests_name("points", tests, NULL, NULL);
}
