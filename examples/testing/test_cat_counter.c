/* SPDX-License-Identifier: MIT */
/*
 * Tests of cat_counter that check what it calls, not only what it returns:
 * a ctrace capture records the traced calls, and the test asserts on their
 * text, count, arguments and results.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctrace/ctrace.h>

#include "cat_counter.h"

static int setup_counter(void **state)
{
    (void)state;
    cat_counter_reset();
    return 0;
}

static void adding_a_cat_returns_its_new_count(void **state)
{
    (void)state;
    struct ctrace_error err = {0};
    struct ctrace_capture *cap =
        ctrace_capture_start("cat_counter:add -> return", &err);
    if (cap == NULL)
        fail_msg("cannot capture: %s (column %d)", err.text, err.column);

    cat_counter_add("Tihon", 2);
    cat_counter_add("Tihon", 1);

    assert_int_equal(ctrace_capture_stop(cap), 0);
    char *transcript = ctrace_capture_transcript(cap);
    assert_string_equal(transcript,
                        "cat_counter:add(\"Tihon\", 2)\n"
                        "cat_counter:add/2 -> 2\n"
                        "cat_counter:add(\"Tihon\", 1)\n"
                        "cat_counter:add/2 -> 3\n");
    ctrace_free(transcript);
    ctrace_capture_free(cap);
}

static void a_cat_is_remembered_only_the_first_time(void **state)
{
    (void)state;
    struct ctrace_capture *cap =
        ctrace_capture_start("cat_counter:remember", NULL);
    assert_non_null(cap);

    cat_counter_add("Tihon", 1);
    cat_counter_add("Murka", 1);
    cat_counter_add("Tihon", 5);

    assert_int_equal(ctrace_capture_stop(cap), 0);
    assert_int_equal(ctrace_capture_calls(cap, "cat_counter:remember"), 2);
    assert_string_equal(ctrace_capture_text(cap, 0),
                        "cat_counter:remember(\"Tihon\")");
    assert_string_equal(ctrace_capture_text(cap, 1),
                        "cat_counter:remember(\"Murka\")");
    ctrace_capture_free(cap);
}

static void a_full_counter_answers_full(void **state)
{
    (void)state;
    const char *cats[CAT_COUNTER_MAX] = {"Tihon", "Murka", "Barsik", "Vaska"};
    for (int i = 0; i < CAT_COUNTER_MAX; i++)
        cat_counter_add(cats[i], 1);
    const char *specs[] = {"cat_counter:add -> return",
                           "cat_counter:remember -> return"};
    struct ctrace_capture *cap =
        ctrace_capture_start_opts(specs, 2, NULL, NULL);
    assert_non_null(cap);

    assert_int_equal(cat_counter_add("Pushok", 1), -1);

    assert_int_equal(ctrace_capture_stop(cap), 0);
    char *transcript = ctrace_capture_transcript(cap);
    assert_string_equal(transcript,
                        "cat_counter:add(\"Pushok\", 1)\n"
                        "cat_counter:remember(\"Pushok\")\n"
                        "cat_counter:remember/1 -> false\n"
                        "cat_counter:add/2 -> full\n");
    ctrace_free(transcript);
    /* The values themselves, for checks a text cannot say well. */
    const struct ctrace_value *cat = ctrace_capture_arg(cap, 0, 0);
    assert_int_equal(cat->kind, CTRACE_VALUE_STRING);
    assert_string_equal(cat->as.str.ptr, "Pushok");
    const struct ctrace_value *result = ctrace_capture_result(cap, 3);
    assert_int_equal(result->kind, CTRACE_VALUE_SYMBOL);
    assert_string_equal(result->as.str.ptr, "full");
    ctrace_capture_free(cap);
}

static void counting_changes_nothing(void **state)
{
    (void)state;
    cat_counter_add("Tihon", 3);
    struct ctrace_capture *cap = ctrace_capture_start("cat_counter", NULL);
    assert_non_null(cap);

    assert_int_equal(cat_counter_count("Tihon"), 3);
    assert_int_equal(cat_counter_count("Murka"), 0);

    assert_int_equal(ctrace_capture_stop(cap), 0);
    assert_int_equal(ctrace_capture_calls(cap, "cat_counter:count"), 2);
    assert_int_equal(ctrace_capture_calls(cap, "cat_counter:add"), 0);
    assert_int_equal(ctrace_capture_calls(cap, "cat_counter:remember"), 0);
    ctrace_capture_free(cap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(adding_a_cat_returns_its_new_count,
                               setup_counter),
        cmocka_unit_test_setup(a_cat_is_remembered_only_the_first_time,
                               setup_counter),
        cmocka_unit_test_setup(a_full_counter_answers_full, setup_counter),
        cmocka_unit_test_setup(counting_changes_nothing, setup_counter),
    };
    return cmocka_run_group_tests_name("cat_counter", tests, NULL, NULL);
}
