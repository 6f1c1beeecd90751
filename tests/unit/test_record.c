/* SPDX-License-Identifier: MIT */
/*
 * Copying argument values into fixed-size event records, as traced threads
 * do: bounded, without allocation, with cuts the renderer can show.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "session/record.h"

struct fixture {
    struct ctrace__record_layout layout;
    struct ctrace__record *rec;
};

static struct ctrace__record *new_record(struct ctrace__record_layout *l)
{
    struct ctrace__record *r = malloc(l->slot_size);
    assert_non_null(r);
    /* Poison, so that a value pointing outside what was copied shows. */
    memset(r, 0xa5, l->slot_size);
    return r;
}

static char *render(const struct ctrace_value *v,
                    const struct ctrace__record_layout *l)
{
    struct ctrace_render_opts o;
    ctrace_render_opts_init(&o);
    o.depth = l->depth;
    o.max_size = l->max_bytes;
    return ctrace_value_to_term(v, &o);
}

static bool inside(const struct ctrace__record_layout *l,
                   const struct ctrace__record *r,
                   const void *p)
{
    const char *base = (const char *)r;
    return (const char *)p >= base && (const char *)p < base + l->slot_size;
}

static void copied_strings_live_in_the_record(void **state)
{
    struct ctrace__record_layout l;
    ctrace__record_layout_init(&l, 64, 0, 2);
    struct ctrace__record *r = new_record(&l);
    char cat[] = "Tihon";
    struct ctrace_value args[2] = {ctrace_value_string(cat),
                                   ctrace_value_int(42)};
    ctrace__record_copy(&l, r, args, 2);
    /* The caller's buffer may change or die once the call returns. */
    strcpy(cat, "XXXXX");
    struct ctrace_value *v = ctrace__record_values(r);
    assert_true(inside(&l, r, v[0].as.str.ptr));
    char *s = render(&v[0], &l);
    assert_string_equal(s, "\"Tihon\"");
    ctrace_free(s);
    assert_int_equal(v[1].as.i, 42);
    free(r);
}

static void long_string_is_kept_up_to_max_msg_size_and_marked(void **state)
{
    struct ctrace__record_layout l;
    ctrace__record_layout_init(&l, 8, 0, 1);
    struct ctrace__record *r = new_record(&l);
    struct ctrace_value arg = ctrace_value_string("abcdefghijklmnop");
    ctrace__record_copy(&l, r, &arg, 1);
    char *s = render(ctrace__record_values(r), &l);
    assert_string_equal(s, "\"abcdefgh...\"");
    ctrace_free(s);
    free(r);
}

/* A C string as the trace-point macros pass it: not measured. */
static struct ctrace_value unmeasured(const char *s)
{
    struct ctrace_value v = ctrace_value_string("");
    v.as.str.ptr = s;
    v.as.str.len = CTRACE__LEN_LAZY;
    return v;
}

static void unmeasured_strings_are_read_only_as_far_as_they_are_kept(void **s)
{
    (void)s;
    struct ctrace__record_layout l;
    ctrace__record_layout_init(&l, 8, 0, 3);
    struct ctrace__record *r = new_record(&l);
    /*
     * Nine bytes and no NUL: one byte past max_msg_size is all the copy may
     * read (ASan catches a strlen() of it).
     */
    char *raw = malloc(9);
    assert_non_null(raw);
    memset(raw, 'x', 9);
    struct ctrace_value args[3] = {
        unmeasured(raw), unmeasured("Tihon"), unmeasured(NULL)};
    ctrace__record_copy(&l, r, args, 3);
    free(raw);
    struct ctrace_value *v = ctrace__record_values(r);
    char *t = render(&v[0], &l);
    assert_string_equal(t, "\"xxxxxxxx...\"");
    ctrace_free(t);
    assert_int_equal(v[1].as.str.len, 5);
    assert_true(inside(&l, r, v[1].as.str.ptr));
    t = render(&v[1], &l);
    assert_string_equal(t, "\"Tihon\"");
    ctrace_free(t);
    /* A NULL C string is the null value, as everywhere else. */
    assert_int_equal(v[2].kind, CTRACE_VALUE_NULL);
    free(r);
}

static void unmeasured_strings_are_copied_as_measured_ones_are(void **state)
{
    (void)state;
    /* Long strings that run the byte pool out (272 bytes for 64 each). */
    struct ctrace__record_layout l;
    ctrace__record_layout_init(&l, 64, 0, 6);
    char text[6][101];
    struct ctrace_value lazy[6], measured[6];
    for (int i = 0; i < 6; i++) {
        memset(text[i], 'a' + i, 100);
        text[i][100] = '\0';
        lazy[i] = unmeasured(text[i]);
        measured[i] = ctrace_value_string(text[i]);
    }
    struct ctrace__record *a = new_record(&l), *b = new_record(&l);
    ctrace__record_copy(&l, a, lazy, 6);
    ctrace__record_copy(&l, b, measured, 6);
    for (int i = 0; i < 6; i++) {
        char *x = render(&ctrace__record_values(a)[i], &l);
        char *y = render(&ctrace__record_values(b)[i], &l);
        assert_string_equal(x, y);
        ctrace_free(x);
        ctrace_free(y);
    }
    /* Four fit (65 bytes each: one past the limit); the fifth is cut. */
    char *last = render(&ctrace__record_values(a)[4], &l);
    assert_string_equal(last, "\"eeeeeeeee...\"");
    ctrace_free(last);
    free(a);
    free(b);
}

static void symbols_are_never_cut_into_another_name(void **state)
{
    /* max_msg_size 2, as in `--max-msg-size 2`: {leave,"Marfa","Riga"}. */
    struct ctrace__record_layout l;
    ctrace__record_layout_init(&l, 2, 0, 1);
    struct ctrace__record *r = new_record(&l);
    struct ctrace_value items[3] = {ctrace_value_symbol("leave"),
                                    ctrace_value_string("Marfa"),
                                    ctrace_value_string("Riga")};
    struct ctrace_value arg = ctrace_value_tuple(items, 3);
    ctrace__record_copy(&l, r, &arg, 1);
    char *s = render(ctrace__record_values(r), &l);
    /* The atom is whole; the string and the tuple are cut, and marked. */
    assert_string_equal(s, "{leave,\"Ma...\",...}");
    ctrace_free(s);
    free(r);
}

static void symbol_without_room_prints_as_the_cut_marker(void **state)
{
    struct ctrace__record_layout l;
    ctrace__record_layout_init(&l, 8, 0, 2);
    struct ctrace__record *r = new_record(&l);
    char longname[CTRACE__SYMBOL_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    struct ctrace_value args[2] = {ctrace_value_symbol(longname),
                                   ctrace_value_symbol("ok")};
    ctrace__record_copy(&l, r, args, 2);
    struct ctrace_value *v = ctrace__record_values(r);
    char *s = render(&v[0], &l);
    assert_string_equal(s, "...");
    ctrace_free(s);
    s = render(&v[1], &l);
    assert_string_equal(s, "ok");
    ctrace_free(s);
    free(r);
}

static void nested_values_are_copied_and_cut_at_depth(void **state)
{
    struct ctrace__record_layout l;
    ctrace__record_layout_init(&l, 64, 2, 1);
    struct ctrace__record *r = new_record(&l);
    struct ctrace_value deepest[1] = {ctrace_value_symbol("x")};
    struct ctrace_value inner[2] = {ctrace_value_symbol("town"),
                                    ctrace_value_tuple(deepest, 1)};
    struct ctrace_value outer[3] = {ctrace_value_symbol("cat"),
                                    ctrace_value_string("Tihon"),
                                    ctrace_value_tuple(inner, 2)};
    struct ctrace_value arg = ctrace_value_tuple(outer, 3);
    ctrace__record_copy(&l, r, &arg, 1);
    struct ctrace_value *v = ctrace__record_values(r);
    assert_true(inside(&l, r, v[0].as.seq.items));
    assert_true(inside(&l, r, v[0].as.seq.items[2].as.seq.items));
    char *s = render(v, &l);
    assert_string_equal(s, "{cat,\"Tihon\",{town,...}}");
    ctrace_free(s);
    free(r);
}

static void long_list_keeps_max_elements_and_marks_the_rest(void **state)
{
    struct ctrace__record_layout l;
    ctrace__record_layout_init(&l, 3, 0, 1);
    struct ctrace__record *r = new_record(&l);
    struct ctrace_value items[6];
    for (int i = 0; i < 6; i++)
        items[i] = ctrace_value_int(i + 1);
    struct ctrace_value arg = ctrace_value_list(items, 6);
    ctrace__record_copy(&l, r, &arg, 1);
    char *s = render(ctrace__record_values(r), &l);
    assert_string_equal(s, "[1,2,3,...]");
    ctrace_free(s);
    free(r);
}

static void byte_pool_exhaustion_cuts_with_visible_dots(void **state)
{
    struct ctrace__record_layout l;
    ctrace__record_layout_init(&l, 200, 0, 10);
    struct ctrace__record *r = new_record(&l);
    /* Ten strings of 200 bytes cannot all fit in the pool. */
    static char big[201];
    memset(big, 'a', 200);
    struct ctrace_value args[10];
    for (int i = 0; i < 10; i++)
        args[i] = ctrace_value_string(big);
    ctrace__record_copy(&l, r, args, 10);
    struct ctrace_value *v = ctrace__record_values(r);
    size_t total = 0;
    bool cut_seen = false;
    for (int i = 0; i < 10; i++) {
        assert_true(v[i].as.str.len == 0 || inside(&l, r, v[i].as.str.ptr));
        total += v[i].as.str.len;
        if (v[i].as.str.len >= 3 && v[i].as.str.len < 200 &&
            memcmp(v[i].as.str.ptr + v[i].as.str.len - 3, "...", 3) == 0)
            cut_seen = true;
    }
    assert_true(total <= l.nbytes);
    assert_true(cut_seen);
    free(r);
}

static void self_referencing_value_is_copied_in_bounded_work(void **state)
{
    struct ctrace__record_layout l;
    ctrace__record_layout_init(&l, 16, 0, 1);
    struct ctrace__record *r = new_record(&l);
    struct ctrace_value loop[2];
    loop[0] = ctrace_value_int(1);
    loop[1] = ctrace_value_tuple(loop, 2);
    struct ctrace_value arg = ctrace_value_tuple(loop, 2);
    ctrace__record_copy(&l, r, &arg, 1);
    /* Depth bounds the copy: {1,{1,{1,...}}} down to the default depth. */
    char *s = render(ctrace__record_values(r), &l);
    assert_non_null(s);
    assert_non_null(strstr(s, "..."));
    ctrace_free(s);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copied_strings_live_in_the_record),
        cmocka_unit_test(long_string_is_kept_up_to_max_msg_size_and_marked),
        cmocka_unit_test(symbols_are_never_cut_into_another_name),
        cmocka_unit_test(symbol_without_room_prints_as_the_cut_marker),
        cmocka_unit_test(nested_values_are_copied_and_cut_at_depth),
        cmocka_unit_test(long_list_keeps_max_elements_and_marks_the_rest),
        cmocka_unit_test(byte_pool_exhaustion_cuts_with_visible_dots),
        cmocka_unit_test(
            unmeasured_strings_are_read_only_as_far_as_they_are_kept),
        cmocka_unit_test(unmeasured_strings_are_copied_as_measured_ones_are),
        cmocka_unit_test(self_referencing_value_is_copied_in_bounded_work),
    };
    return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
