/* SPDX-License-Identifier: MIT */
/*
 * Captures: what a unit test sees of the calls it traced, in order, with
 * arguments and return values that outlive the traced calls; globs,
 * transcripts, thread filtering, limits, allocation failures, and many
 * captures in a row or at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctrace/ctrace.h"
#include "session/session.h"
#include "sink/sink.h"

/* ---- The traced code. ---- */

__attribute__((noinline)) static int add(const char *cat, int n)
{
    CTRACE_CALL(cap_counter, add, cat, n);
    if (n < 0)
        return -1; /* leaves without CTRACE_RETURN: `?` */
    CTRACE_RETURN(n + 1);
}

__attribute__((noinline)) static void reset(void)
{
    CTRACE_CALL(cap_counter, reset);
    CTRACE_RETURN_VOID();
}

/* Calls two other traced functions: the order must show the nesting. */
__attribute__((noinline)) static int add_pair(const char *a, const char *b)
{
    CTRACE_CALL(cap_counter, add_pair, a, b);
    int total = add(a, 1) + add(b, 2);
    CTRACE_EVENT(cap_counter, added, total);
    CTRACE_RETURN(total);
}

__attribute__((noinline)) static void other_module(int x)
{
    CTRACE_CALL(cap_other, add, x);
}

/* Every kind of value, nested ones included. */
__attribute__((noinline)) static void all_kinds(int64_t i,
                                                uint64_t u,
                                                double d,
                                                bool b,
                                                const char *s,
                                                const void *bytes,
                                                size_t len,
                                                const char *none)
{
    const struct ctrace_value cat[] = {ctrace_value_symbol("cat"),
                                       ctrace_value_string(s)};
    const struct ctrace_value items[] = {ctrace_value_int(1),
                                         ctrace_value_tuple(cat, 2),
                                         ctrace_value_list(NULL, 0)};
    CTRACE_CALL(cap_kinds,
                all,
                i,
                u,
                d,
                b,
                s,
                ctrace_value_bytes(bytes, len),
                ctrace_value_symbol("ok"),
                none,
                ctrace_value_list(items, 3),
                (const void *)NULL);
}

/* ---- Fixtures and helpers. ---- */

static int setup_nothing(void **state)
{
    (void)state;
    return 0;
}

static int teardown_no_session(void **state)
{
    (void)state;
    atomic_store(&ctrace__capture_fail_countdown, 0);
    /* Every test must leave no session behind. */
    return ctrace__engine_sessions() == 0 ? 0 : -1;
}

static struct ctrace_capture *start(const char *spec)
{
    struct ctrace_error err = {0};
    struct ctrace_capture *c = ctrace_capture_start(spec, &err);
    if (c == NULL)
        fail_msg("start '%s': %s", spec, err.text);
    return c;
}

static struct ctrace_capture *start_opts(const char *spec,
                                         const struct ctrace_capture_opts *o)
{
    struct ctrace_error err = {0};
    struct ctrace_capture *c = ctrace_capture_start_opts(&spec, 1, o, &err);
    if (c == NULL)
        fail_msg("start '%s': %s", spec, err.text);
    return c;
}

static void assert_transcript(const struct ctrace_capture *c,
                              const char *expected)
{
    char *t = ctrace_capture_transcript(c);
    assert_non_null(t);
    assert_string_equal(t, expected);
    ctrace_free(t);
}

/* ---- Tests. ---- */

static void capture_keeps_calls_with_every_argument_kind(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_kinds:all");
    const unsigned char raw[] = {1, 2, 255};
    all_kinds(-7, 7, 3.5, true, "Tihon", raw, sizeof(raw), NULL);
    assert_int_equal(ctrace_capture_stop(c), 0);

    assert_int_equal(ctrace_capture_count(c), 1);
    assert_string_equal(ctrace_capture_text(c, 0),
                        "cap_kinds:all(-7, 7, 3.5, true, \"Tihon\", "
                        "<<1,2,255>>, ok, null, [1,{cat,\"Tihon\"},[]], "
                        "0x0)");
    const struct ctrace_event *ev = ctrace_capture_event(c, 0);
    assert_non_null(ev);
    assert_int_equal(ev->kind, CTRACE_EVENT_CALL);
    assert_string_equal(ev->module, "cap_kinds");
    assert_string_equal(ev->function, "all");
    assert_int_equal(ev->arity, 10);
    assert_int_equal(ev->nargs, 10);
    assert_int_equal(ev->pid, ctrace_self());
    assert_null(ev->result);

    assert_int_equal(ctrace_capture_arg(c, 0, 0)->kind, CTRACE_VALUE_INT);
    assert_int_equal(ctrace_capture_arg(c, 0, 0)->as.i, -7);
    assert_int_equal(ctrace_capture_arg(c, 0, 1)->as.u, 7);
    assert_true(ctrace_capture_arg(c, 0, 2)->as.d == 3.5);
    assert_true(ctrace_capture_arg(c, 0, 3)->as.b);
    const struct ctrace_value *s = ctrace_capture_arg(c, 0, 4);
    assert_int_equal(s->kind, CTRACE_VALUE_STRING);
    assert_int_equal(s->as.str.len, 5);
    /* Kept strings end in a NUL, so tests may compare them as C strings. */
    assert_string_equal(s->as.str.ptr, "Tihon");
    const struct ctrace_value *bytes = ctrace_capture_arg(c, 0, 5);
    assert_int_equal(bytes->kind, CTRACE_VALUE_BYTES);
    assert_memory_equal(bytes->as.str.ptr, raw, sizeof(raw));
    assert_int_equal(ctrace_capture_arg(c, 0, 6)->kind, CTRACE_VALUE_SYMBOL);
    assert_int_equal(ctrace_capture_arg(c, 0, 7)->kind, CTRACE_VALUE_NULL);
    const struct ctrace_value *list = ctrace_capture_arg(c, 0, 8);
    assert_int_equal(list->kind, CTRACE_VALUE_LIST);
    assert_int_equal(list->as.seq.len, 3);
    const struct ctrace_value *tuple = &list->as.seq.items[1];
    assert_int_equal(tuple->kind, CTRACE_VALUE_TUPLE);
    assert_string_equal(tuple->as.seq.items[1].as.str.ptr, "Tihon");
    assert_int_equal(ctrace_capture_arg(c, 0, 9)->kind, CTRACE_VALUE_POINTER);

    assert_null(ctrace_capture_arg(c, 0, 10));
    assert_null(ctrace_capture_arg(c, 1, 0));
    assert_null(ctrace_capture_event(c, 1));
    assert_null(ctrace_capture_text(c, 1));
    assert_null(ctrace_capture_result(c, 0));
    ctrace_capture_free(c);
}

static void returns_show_their_value_or_a_question_mark(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_counter -> return");
    add("Tihon", 2);
    add("Murka", -1);
    reset();
    assert_int_equal(ctrace_capture_stop(c), 0);
    assert_transcript(c,
                      "cap_counter:add(\"Tihon\", 2)\n"
                      "cap_counter:add/2 -> 3\n"
                      "cap_counter:add(\"Murka\", -1)\n"
                      "cap_counter:add/2 -> ?\n"
                      "cap_counter:reset()\n"
                      "cap_counter:reset/0 -> ok\n");
    assert_int_equal(ctrace_capture_result(c, 1)->kind, CTRACE_VALUE_INT);
    assert_int_equal(ctrace_capture_result(c, 1)->as.i, 3);
    assert_null(ctrace_capture_result(c, 3));
    assert_int_equal(ctrace_capture_event(c, 3)->kind, CTRACE_EVENT_RETURN);
    assert_null(ctrace_capture_result(c, 0));
    assert_null(ctrace_capture_arg(c, 1, 0));
    ctrace_capture_free(c);
}

static void without_return_action_only_calls_are_kept(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_counter:add/2");
    add("Tihon", 2);
    assert_int_equal(ctrace_capture_stop(c), 0);
    assert_transcript(c, "cap_counter:add(\"Tihon\", 2)\n");
    ctrace_capture_free(c);
}

static void order_follows_the_calls_across_functions(void **state)
{
    (void)state;
    const char *specs[] = {"cap_counter:add_pair -> return",
                           "cap_counter:add -> return",
                           "cap_counter:added"};
    struct ctrace_capture *c = ctrace_capture_start_opts(specs, 3, NULL, NULL);
    assert_non_null(c);
    add_pair("Tihon", "Murka");
    assert_int_equal(ctrace_capture_stop(c), 0);
    assert_transcript(c,
                      "cap_counter:add_pair(\"Tihon\", \"Murka\")\n"
                      "cap_counter:add(\"Tihon\", 1)\n"
                      "cap_counter:add/2 -> 2\n"
                      "cap_counter:add(\"Murka\", 2)\n"
                      "cap_counter:add/2 -> 3\n"
                      "cap_counter:added(5)\n"
                      "cap_counter:add_pair/2 -> 5\n");
    for (size_t i = 1; i < ctrace_capture_count(c); i++)
        assert_true(ctrace_capture_event(c, i)->seq >
                    ctrace_capture_event(c, i - 1)->seq);
    ctrace_capture_free(c);
}

static void calls_are_counted_by_glob(void **state)
{
    (void)state;
    const char *specs[] = {"cap_counter -> return", "cap_other"};
    struct ctrace_capture *c = ctrace_capture_start_opts(specs, 2, NULL, NULL);
    assert_non_null(c);
    add("Tihon", 1);
    add("Murka", 1);
    reset();
    other_module(1);
    assert_int_equal(ctrace_capture_stop(c), 0);

    assert_int_equal(ctrace_capture_count(c), 7);
    assert_int_equal(ctrace_capture_calls(c, "cap_counter:add"), 2);
    assert_int_equal(ctrace_capture_calls(c, "cap_counter:add/2"), 2);
    assert_int_equal(ctrace_capture_calls(c, "cap_counter:add/3"), 0);
    assert_int_equal(ctrace_capture_calls(c, "cap_*:add"), 3);
    assert_int_equal(ctrace_capture_calls(c, "*:reset"), 1);
    assert_int_equal(ctrace_capture_calls(c, "*:*/0"), 1);
    assert_int_equal(ctrace_capture_calls(c, "cap_counter"), 3);
    assert_int_equal(ctrace_capture_calls(c, "cap_*"), 4);
    assert_int_equal(ctrace_capture_calls(c, "cap_count"), 0);
    assert_int_equal(ctrace_capture_calls(c, "nobody:*"), 0);
    assert_int_equal(ctrace_capture_calls(c, NULL), 4);
    ctrace_capture_free(c);
}

static void find_locates_events_by_text_glob(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_counter:add -> return");
    add("Tihon", 1);
    add("Murka", 2);
    add("Tihon", 3);
    assert_int_equal(ctrace_capture_stop(c), 0);
    assert_int_equal(ctrace_capture_find(c, "cap_counter:add(\"Tihon\", *)", 0),
                     0);
    assert_int_equal(ctrace_capture_find(c, "cap_counter:add(\"Tihon\", *)", 1),
                     4);
    assert_int_equal(ctrace_capture_find(c, "*-> 3", 0), 3);
    assert_true(ctrace_capture_find(c, "*\"Murka\"*", 0) <
                ctrace_capture_find(c, "*-> 4", 0));
    assert_int_equal(ctrace_capture_find(c, "*Barsik*", 0), SIZE_MAX);
    assert_int_equal(ctrace_capture_find(c, "*", 6), SIZE_MAX);
    assert_int_equal(ctrace_capture_find(c, NULL, 0), SIZE_MAX);
    ctrace_capture_free(c);
}

static void empty_capture_has_an_empty_transcript(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_counter:add");
    assert_int_equal(ctrace_capture_stop(c), 0);
    assert_int_equal(ctrace_capture_count(c), 0);
    assert_transcript(c, "");
    assert_int_equal(ctrace_capture_calls(c, NULL), 0);
    assert_int_equal(ctrace_capture_lost(c), 0);
    ctrace_capture_free(c);
}

struct worker {
    pthread_barrier_t *ready;
    const char *cat;
};

static void *call_add(void *arg)
{
    struct worker *w = arg;
    add(w->cat, 1);
    return NULL;
}

static void only_this_thread_leaves_out_other_threads(void **state)
{
    (void)state;
    struct ctrace_capture_opts o;
    ctrace_capture_opts_init(&o);
    o.only_this_thread = true;
    struct ctrace_capture *mine = start_opts("cap_counter:add", &o);
    struct ctrace_capture *all = start("cap_counter:add");
    add("Tihon", 1);
    pthread_t t;
    struct worker w = {NULL, "Murka"};
    assert_int_equal(pthread_create(&t, NULL, call_add, &w), 0);
    pthread_join(t, NULL);
    add("Barsik", 1);
    assert_int_equal(ctrace_capture_stop(mine), 0);
    assert_int_equal(ctrace_capture_stop(all), 0);
    assert_transcript(mine,
                      "cap_counter:add(\"Tihon\", 1)\n"
                      "cap_counter:add(\"Barsik\", 1)\n");
    assert_int_equal(ctrace_capture_calls(all, "cap_counter:add"), 3);
    assert_int_not_equal(ctrace_capture_find(all, "*Murka*", 0), SIZE_MAX);
    ctrace_capture_free(mine);
    ctrace_capture_free(all);
}

static void arguments_outlive_the_buffers_of_the_traced_call(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_kinds:all");
    char name[] = "Tihon";
    unsigned char raw[] = {1, 2, 3};
    all_kinds(1, 2, 0.5, false, name, raw, sizeof(raw), "x");
    memcpy(name, "XXXXX", 5);
    memset(raw, 0xee, sizeof(raw));
    assert_int_equal(ctrace_capture_stop(c), 0);
    /* The session's queue is gone too, since stop: only the copy is left. */
    memset(name, 0, sizeof(name));
    assert_string_equal(ctrace_capture_arg(c, 0, 4)->as.str.ptr, "Tihon");
    const unsigned char expect[] = {1, 2, 3};
    assert_memory_equal(ctrace_capture_arg(c, 0, 5)->as.str.ptr, expect, 3);
    const struct ctrace_value *list = ctrace_capture_arg(c, 0, 8);
    assert_string_equal(list->as.seq.items[1].as.seq.items[1].as.str.ptr,
                        "Tihon");
    assert_string_equal(ctrace_capture_text(c, 0),
                        "cap_kinds:all(1, 2, 0.5, false, \"Tihon\", "
                        "<<1,2,3>>, ok, \"x\", [1,{cat,\"Tihon\"},[]], 0x0)");
    ctrace_capture_free(c);
}

static void stack_frames_are_copied_too(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_counter:add -> stack");
    add("Tihon", 1);
    assert_int_equal(ctrace_capture_stop(c), 0);
    const struct ctrace_event *ev = ctrace_capture_event(c, 0);
    assert_non_null(ev);
    assert_true(ev->stack_len > 0);
    assert_non_null(ev->stack);
    for (size_t i = 0; i < ev->stack_len; i++)
        assert_true(strlen(ev->stack[i]) > 0);
    /* The text stays free of frames: they differ between builds. */
    assert_string_equal(ctrace_capture_text(c, 0),
                        "cap_counter:add(\"Tihon\", 1)");
    ctrace_capture_free(c);
}

static void captures_can_be_made_many_times_in_a_row(void **state)
{
    (void)state;
    for (int round = 0; round < 200; round++) {
        struct ctrace_capture *c = start("cap_counter:add -> return");
        add("Tihon", round);
        assert_int_equal(ctrace_capture_stop(c), 0);
        char expect[128];
        snprintf(expect,
                 sizeof(expect),
                 "cap_counter:add(\"Tihon\", %d)\ncap_counter:add/2 -> %d\n",
                 round,
                 round + 1);
        assert_transcript(c, expect);
        ctrace_capture_free(c);
        assert_int_equal(ctrace__engine_sessions(), 0);
    }
}

static void two_captures_at_once_see_their_own_selections(void **state)
{
    (void)state;
    struct ctrace_capture *adds = start("cap_counter:add -> return");
    struct ctrace_capture *resets = start("cap_counter:reset");
    struct ctrace_capture *both = start("cap_counter");
    add("Tihon", 1);
    reset();
    assert_int_equal(ctrace_capture_stop(resets), 0);
    add("Murka", 1);
    assert_int_equal(ctrace_capture_stop(adds), 0);
    assert_int_equal(ctrace_capture_stop(both), 0);
    assert_transcript(adds,
                      "cap_counter:add(\"Tihon\", 1)\n"
                      "cap_counter:add/2 -> 2\n"
                      "cap_counter:add(\"Murka\", 1)\n"
                      "cap_counter:add/2 -> 2\n");
    assert_transcript(resets, "cap_counter:reset()\n");
    assert_transcript(both,
                      "cap_counter:add(\"Tihon\", 1)\n"
                      "cap_counter:reset()\n"
                      "cap_counter:add(\"Murka\", 1)\n");
    ctrace_capture_free(adds);
    ctrace_capture_free(resets);
    ctrace_capture_free(both);
}

static void bad_spec_is_refused_with_the_session_error(void **state)
{
    (void)state;
    const char *spec = "cap_counter:add(\"Tihon\", ) -> return";
    struct ctrace_error cerr = {0}, serr = {0};
    assert_null(ctrace_capture_start(spec, &cerr));
    struct ctrace_session *s = ctrace_session_start(&spec, 1, NULL, &serr);
    assert_null(s);
    assert_int_equal(cerr.code, CTRACE_ESYNTAX);
    assert_int_equal(cerr.column, 26);
    assert_int_equal(cerr.code, serr.code);
    assert_int_equal(cerr.column, serr.column);
    assert_string_equal(cerr.text, serr.text);
    /* NULL err is allowed. */
    assert_null(ctrace_capture_start(spec, NULL));
}

static void spec_that_selects_nothing_is_refused(void **state)
{
    (void)state;
    struct ctrace_error err = {0};
    assert_null(ctrace_capture_start("cap_countr:add", &err));
    assert_int_equal(err.code, CTRACE_ENOMATCH);
    assert_non_null(strstr(err.text, "did you mean cap_counter:add"));
}

static void several_specs_name_the_bad_one(void **state)
{
    (void)state;
    const char *specs[] = {"cap_counter:add", "cap_counter:("};
    struct ctrace_error err = {0};
    assert_null(ctrace_capture_start_opts(specs, 2, NULL, &err));
    assert_int_equal(err.code, CTRACE_ESYNTAX);
    assert_int_equal(strncmp(err.text, "spec 2: ", 8), 0);
}

static void bad_options_are_refused_by_name(void **state)
{
    (void)state;
    struct ctrace_capture_opts o;
    struct ctrace_error err = {0};
    const char *spec = "cap_counter:add";

    ctrace_capture_opts_init(&o);
    o.max_events = 0;
    assert_null(ctrace_capture_start_opts(&spec, 1, &o, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_non_null(strstr(err.text, "max_events"));

    memset(&err, 0, sizeof(err));
    ctrace_capture_opts_init(&o);
    o.max_queue = 0;
    assert_null(ctrace_capture_start_opts(&spec, 1, &o, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_non_null(strstr(err.text, "max_queue"));

    memset(&err, 0, sizeof(err));
    ctrace_capture_opts_init(&o);
    o.max_msg_size = 70000;
    assert_null(ctrace_capture_start_opts(&spec, 1, &o, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_non_null(strstr(err.text, "max_msg_size"));
}

static void
max_events_keeps_the_first_events_and_reports_the_limit(void **state)
{
    (void)state;
    struct ctrace_capture_opts o;
    ctrace_capture_opts_init(&o);
    o.max_events = 5;
    struct ctrace_capture *c = start_opts("cap_counter:add -> return", &o);
    for (int i = 0; i < 10; i++)
        add("Tihon", i);
    assert_int_equal(ctrace_capture_stop(c), CTRACE_ELIMIT);
    assert_int_equal(ctrace_capture_count(c), 5);
    assert_true(ctrace_capture_lost(c) >= 1);
    assert_string_equal(ctrace_capture_text(c, 4),
                        "cap_counter:add(\"Tihon\", 2)");
    /* Stopping again says the same. */
    assert_int_equal(ctrace_capture_stop(c), CTRACE_ELIMIT);
    ctrace_capture_free(c);
}

static void exactly_max_events_is_not_a_loss(void **state)
{
    (void)state;
    struct ctrace_capture_opts o;
    ctrace_capture_opts_init(&o);
    o.max_events = 4;
    struct ctrace_capture *c = start_opts("cap_counter:add -> return", &o);
    add("Tihon", 1);
    add("Murka", 1);
    assert_int_equal(ctrace_capture_stop(c), 0);
    assert_int_equal(ctrace_capture_count(c), 4);
    assert_int_equal(ctrace_capture_lost(c), 0);
    ctrace_capture_free(c);
}

static void long_strings_are_cut_visibly(void **state)
{
    (void)state;
    struct ctrace_capture_opts o;
    ctrace_capture_opts_init(&o);
    o.max_msg_size = 4;
    struct ctrace_capture *c = start_opts("cap_counter:add", &o);
    add("Tihonovich", 1);
    assert_int_equal(ctrace_capture_stop(c), 0);
    assert_string_equal(ctrace_capture_text(c, 0),
                        "cap_counter:add(\"Tiho...\", 1)");
    ctrace_capture_free(c);
}

static void failed_allocation_loses_the_event_and_reports_enomem(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_counter:add -> return");
    /*
     * The first allocation is the first event's block, the second the event
     * list: the third, the second event's block, fails.
     */
    atomic_store(&ctrace__capture_fail_countdown, 3);
    add("Tihon", 1);
    add("Murka", 1);
    assert_int_equal(ctrace_capture_stop(c), CTRACE_ENOMEM);
    assert_int_equal(ctrace_capture_lost(c), 1);
    assert_transcript(c,
                      "cap_counter:add(\"Tihon\", 1)\n"
                      "cap_counter:add(\"Murka\", 1)\n"
                      "cap_counter:add/2 -> 2\n");
    ctrace_capture_free(c);
}

static void every_failed_allocation_is_counted_never_crashes(void **state)
{
    (void)state;
    /*
     * Fail each allocation in turn, the growth of the event list included
     * (at 64 events): whatever fails, the capture keeps what it could,
     * counts the rest, and says ENOMEM.
     */
    unsigned long n = 1;
    for (;; n++) {
        struct ctrace_capture *c = start("cap_counter:add");
        atomic_store(&ctrace__capture_fail_countdown, n);
        for (int i = 0; i < 66; i++)
            add("Tihon", i);
        int rc = ctrace_capture_stop(c);
        bool injected = atomic_load(&ctrace__capture_fail_countdown) == 0;
        atomic_store(&ctrace__capture_fail_countdown, 0);
        assert_int_equal(ctrace_capture_count(c) + ctrace_capture_lost(c), 66);
        ctrace_capture_free(c);
        if (!injected) {
            assert_int_equal(rc, 0);
            break;
        }
        assert_int_equal(rc, CTRACE_ENOMEM);
    }
    assert_true(n > 66);
}

static void opts_init_of_null_does_nothing(void **state)
{
    (void)state;
    ctrace_capture_opts_init(NULL);
    struct ctrace_capture_opts o;
    memset(&o, 0xff, sizeof(o));
    ctrace_capture_opts_init(&o);
    assert_int_equal(o.max_events, 100000);
    assert_false(o.only_this_thread);
}

static void stop_is_idempotent_and_free_of_null_is_a_no_op(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_counter:add");
    add("Tihon", 1);
    assert_int_equal(ctrace_capture_stop(c), 0);
    add("Murka", 1);
    assert_int_equal(ctrace_capture_stop(c), 0);
    assert_int_equal(ctrace_capture_count(c), 1);
    ctrace_capture_free(c);
    ctrace_capture_free(NULL);
    /* Free stops a running capture. */
    c = start("cap_counter:add");
    add("Tihon", 1);
    ctrace_capture_free(c);
}

static void events_can_be_read_while_the_capture_runs(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_counter:add");
    add("Tihon", 1);
    /* Delivery trails the call; wait for it, up to 5 s. */
    for (int i = 0; i < 5000 && ctrace_capture_count(c) == 0; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(ctrace_capture_count(c), 1);
    const char *text = ctrace_capture_text(c, 0);
    assert_string_equal(text, "cap_counter:add(\"Tihon\", 1)");
    add("Murka", 1);
    assert_int_equal(ctrace_capture_stop(c), 0);
    /* A pointer handed out earlier is still the same, unchanged. */
    assert_ptr_equal(ctrace_capture_text(c, 0), text);
    assert_int_equal(ctrace_capture_count(c), 2);
    ctrace_capture_free(c);
}

#define THREADS 4
#define CALLS   500

static void *call_many(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(w->ready);
    for (int i = 0; i < CALLS; i++)
        add(w->cat, i);
    return NULL;
}

static void calls_of_many_threads_are_all_kept(void **state)
{
    (void)state;
    struct ctrace_capture *c = start("cap_counter:add -> return");
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, THREADS);
    pthread_t t[THREADS];
    struct worker w[THREADS];
    static const char *const cats[THREADS] = {"A", "B", "C", "D"};
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){&ready, cats[i]};
        assert_int_equal(pthread_create(&t[i], NULL, call_many, &w[i]), 0);
    }
    /* Read while the threads call. */
    size_t seen = 0;
    for (int wait = 0; wait < 50000 && seen < 10; wait++) {
        size_t n = ctrace_capture_count(c);
        for (size_t i = seen; i < n; i++)
            assert_non_null(ctrace_capture_text(c, i));
        seen = n;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&ready);
    assert_int_equal(ctrace_capture_stop(c), 0);
    assert_int_equal(ctrace_capture_count(c), 2 * THREADS * CALLS);
    assert_int_equal(ctrace_capture_calls(c, "cap_counter:add"),
                     THREADS * CALLS);
    /* Within one thread, calls keep their order. */
    for (int k = 0; k < THREADS; k++) {
        char glob[64];
        size_t at = 0;
        for (int i = 0; i < CALLS; i += 97) {
            snprintf(glob, sizeof(glob), "*(\"%s\", %d)", cats[k], i);
            size_t next = ctrace_capture_find(c, glob, at);
            assert_int_not_equal(next, SIZE_MAX);
            at = next;
        }
    }
    ctrace_capture_free(c);
}

int main(void)
{
#define T(name) \
    cmocka_unit_test_setup_teardown(name, setup_nothing, teardown_no_session)
    const struct CMUnitTest tests[] = {
        T(capture_keeps_calls_with_every_argument_kind),
        T(returns_show_their_value_or_a_question_mark),
        T(without_return_action_only_calls_are_kept),
        T(order_follows_the_calls_across_functions),
        T(calls_are_counted_by_glob),
        T(find_locates_events_by_text_glob),
        T(empty_capture_has_an_empty_transcript),
        T(only_this_thread_leaves_out_other_threads),
        T(arguments_outlive_the_buffers_of_the_traced_call),
        T(stack_frames_are_copied_too),
        T(captures_can_be_made_many_times_in_a_row),
        T(two_captures_at_once_see_their_own_selections),
        T(bad_spec_is_refused_with_the_session_error),
        T(spec_that_selects_nothing_is_refused),
        T(several_specs_name_the_bad_one),
        T(bad_options_are_refused_by_name),
        T(max_events_keeps_the_first_events_and_reports_the_limit),
        T(exactly_max_events_is_not_a_loss),
        T(long_strings_are_cut_visibly),
        T(failed_allocation_loses_the_event_and_reports_enomem),
        T(every_failed_allocation_is_counted_never_crashes),
        T(opts_init_of_null_does_nothing),
        T(stop_is_idempotent_and_free_of_null_is_a_no_op),
        T(events_can_be_read_while_the_capture_runs),
        T(calls_of_many_threads_are_all_kept),
    };
#undef T
    return cmocka_run_group_tests_name("capture", tests, NULL, NULL);
}
