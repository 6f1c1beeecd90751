/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for matching: the term order of ctrace__value_cmp(), glob
 * matching of names, which trace points a spec selects, and whether the
 * argument values of a call fire a spec (argument patterns and guards).
 * Specs are parsed from text with the real parser; the argument values are
 * built by hand.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"
#include "pattern/pattern.h"

/* Value shorthands. */

#define I(x)   ctrace_value_int(x)
#define U(x)   ctrace_value_uint(x)
#define D(x)   ctrace_value_double(x)
#define S(s)   ctrace_value_string(s)
#define B(s)   ctrace_value_bytes(s, sizeof(s) - 1)
#define SYM(s) ctrace_value_symbol(s)
#define BOOL_T ctrace_value_bool(true)
#define BOOL_F ctrace_value_bool(false)
#define NUL    ctrace_value_null()
#define PTR(p) ctrace_value_pointer((const void *)(p))

/* An array of values as a compound literal, and its length. */
#define VALUES(...) ((const struct ctrace_value[]){__VA_ARGS__})
#define COUNT(...)                                        \
    (sizeof((const struct ctrace_value[]){__VA_ARGS__}) / \
     sizeof(struct ctrace_value))
#define TUP(...)    ctrace_value_tuple(VALUES(__VA_ARGS__), COUNT(__VA_ARGS__))
#define LST(...)    ctrace_value_list(VALUES(__VA_ARGS__), COUNT(__VA_ARGS__))
#define EMPTY_LIST  ctrace_value_list(NULL, 0)
#define EMPTY_TUPLE ctrace_value_tuple(NULL, 0)

static int sign(int c)
{
    return (c > 0) - (c < 0);
}

static int cmp(struct ctrace_value a, struct ctrace_value b)
{
    return sign(ctrace__value_cmp(&a, &b, false));
}

static int cmp_exact(struct ctrace_value a, struct ctrace_value b)
{
    return sign(ctrace__value_cmp(&a, &b, true));
}

/* ctrace__value_cmp. */

static void
cmp_orders_numbers_atoms_pointers_tuples_lists_binaries(void **state)
{
    (void)state;
    int x = 0;
    /* One value of each class, in ascending order. */
    const struct ctrace_value order[] = {
        I(INT64_MAX),
        SYM("a"),
        PTR(&x),
        ctrace_value_pid(1),
        TUP(I(1)),
        LST(I(1)),
        S("a"),
    };
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(order); i++)
        for (size_t j = 0; j < CTRACE__ARRAY_SIZE(order); j++) {
            int expected = (i > j) - (i < j);
            assert_int_equal(cmp(order[i], order[j]), expected);
            assert_int_equal(cmp_exact(order[i], order[j]), expected);
        }
    /* The class decides before the contents. */
    assert_int_equal(cmp(D(1e300), BOOL_F), -1);
    assert_int_equal(cmp(D(NAN), NUL), -1);
    assert_int_equal(cmp(SYM("zzz"), PTR(NULL)), -1);
    assert_int_equal(cmp(PTR(UINTPTR_MAX), EMPTY_TUPLE), -1);
    assert_int_equal(cmp(TUP(I(1), I(2), I(3)), EMPTY_LIST), -1);
    assert_int_equal(cmp(LST(S("z")), S("")), -1);
    assert_int_equal(cmp(LST(S("z")), B("")), -1);
}

static void pid_equals_only_the_same_pid_never_an_integer(void **state)
{
    (void)state;
    assert_int_equal(cmp(ctrace_value_pid(335), ctrace_value_pid(335)), 0);
    assert_int_equal(cmp(ctrace_value_pid(3), ctrace_value_pid(335)), -1);
    assert_int_equal(cmp(U(335), ctrace_value_pid(335)), -1);
    assert_int_equal(cmp(ctrace_value_pid(UINT64_MAX), EMPTY_TUPLE), -1);
}

static void cmp_compares_int_and_uint_exactly(void **state)
{
    (void)state;
    assert_int_equal(cmp(I(5), U(5)), 0);
    assert_int_equal(cmp_exact(I(5), U(5)), 0);
    assert_int_equal(cmp(I(-1), U(0)), -1);
    assert_int_equal(cmp(U(0), I(-1)), 1);
    assert_int_equal(cmp(I(-1), U(UINT64_MAX)), -1);
    assert_int_equal(cmp(I(INT64_MAX), U((uint64_t)INT64_MAX + 1)), -1);
    assert_int_equal(cmp(U((uint64_t)INT64_MAX + 1), I(INT64_MAX)), 1);
    assert_int_equal(cmp(I(INT64_MIN), I(INT64_MAX)), -1);
    assert_int_equal(cmp(U(UINT64_MAX), U(UINT64_MAX - 1)), 1);
    assert_int_equal(cmp(I(INT64_MIN), U(0)), -1);
}

static void cmp_compares_integers_with_doubles_without_rounding(void **state)
{
    (void)state;
    const int64_t p53 = INT64_C(1) << 53;
    /* 2^53 + 1 has no double; a naive conversion would call them equal. */
    assert_int_equal(cmp(I(p53 + 1), D(9007199254740992.0)), 1);
    assert_int_equal(cmp(D(9007199254740992.0), I(p53 + 1)), -1);
    assert_int_equal(cmp(I(p53), D(9007199254740992.0)), 0);
    assert_int_equal(cmp(U((uint64_t)p53 + 1), D(9007199254740992.0)), 1);
    /* INT64_MAX converts to 2^63 as a double, yet it is smaller. */
    assert_int_equal(cmp(I(INT64_MAX), D(9223372036854775808.0)), -1);
    assert_int_equal(cmp(U((uint64_t)INT64_MAX + 1), D(9223372036854775808.0)),
                     0);
    assert_int_equal(cmp(I(INT64_MIN), D(-9223372036854775808.0)), 0);
    assert_int_equal(cmp(I(INT64_MIN), D(-9223372036854777856.0)), 1);
    /* UINT64_MAX converts to 2^64 as a double, yet it is smaller. */
    assert_int_equal(cmp(U(UINT64_MAX), D(18446744073709551616.0)), -1);
    assert_int_equal(cmp(U(UINT64_MAX), D(1e300)), -1);
    assert_int_equal(cmp(I(INT64_MIN), D(-1e300)), 1);
    /* Fractions. */
    assert_int_equal(cmp(I(1), D(1.5)), -1);
    assert_int_equal(cmp(I(2), D(1.5)), 1);
    assert_int_equal(cmp(I(-1), D(-1.5)), 1);
    assert_int_equal(cmp(I(-2), D(-1.5)), -1);
    assert_int_equal(cmp(I(0), D(-0.5)), 1);
    assert_int_equal(cmp(U(0), D(-0.5)), 1);
    assert_int_equal(cmp(U(0), D(0.5)), -1);
    assert_int_equal(cmp(I(0), D(-0.0)), 0);
    assert_int_equal(cmp(U(0), D(-0.0)), 0);
    /* Infinities. */
    assert_int_equal(cmp(I(INT64_MAX), D(INFINITY)), -1);
    assert_int_equal(cmp(U(UINT64_MAX), D(INFINITY)), -1);
    assert_int_equal(cmp(I(INT64_MIN), D(-INFINITY)), 1);
    assert_int_equal(cmp(U(0), D(-INFINITY)), 1);
}

static void cmp_exact_keeps_integers_and_doubles_apart(void **state)
{
    (void)state;
    assert_int_equal(cmp(I(1), D(1.0)), 0);
    assert_int_equal(cmp_exact(I(1), D(1.0)), -1);
    assert_int_equal(cmp_exact(D(1.0), I(1)), 1);
    assert_int_equal(cmp_exact(U(1), D(1.0)), -1);
    assert_int_equal(cmp_exact(D(1.0), U(1)), 1);
    /* Unequal numbers keep their order under =:=. */
    assert_int_equal(cmp_exact(I(2), D(1.0)), 1);
    assert_int_equal(cmp_exact(D(0.5), I(1)), -1);
    /* Inside tuples and lists too. */
    assert_int_equal(cmp(TUP(I(1)), TUP(D(1.0))), 0);
    assert_int_equal(cmp_exact(TUP(I(1)), TUP(D(1.0))), -1);
    assert_int_equal(cmp_exact(LST(D(2.0)), LST(I(2))), 1);
}

static void cmp_orders_nan_after_every_number_and_equal_to_itself(void **state)
{
    (void)state;
    assert_int_equal(cmp(D(NAN), D(NAN)), 0);
    assert_int_equal(cmp_exact(D(NAN), D(NAN)), 0);
    assert_int_equal(cmp(D(NAN), D(INFINITY)), 1);
    assert_int_equal(cmp(D(INFINITY), D(NAN)), -1);
    assert_int_equal(cmp(D(-NAN), D(-INFINITY)), 1);
    assert_int_equal(cmp(D(NAN), I(INT64_MAX)), 1);
    assert_int_equal(cmp(I(INT64_MIN), D(NAN)), -1);
    assert_int_equal(cmp(U(UINT64_MAX), D(NAN)), -1);
    assert_int_equal(cmp_exact(D(NAN), U(0)), 1);
    assert_int_equal(cmp(D(NAN), SYM("a")), -1);
}

static void cmp_treats_zero_and_negative_zero_as_equal(void **state)
{
    (void)state;
    assert_int_equal(cmp(D(0.0), D(-0.0)), 0);
    assert_int_equal(cmp_exact(D(0.0), D(-0.0)), 0);
}

static void cmp_compares_atoms_by_name_with_bool_and_null_as_atoms(void **state)
{
    (void)state;
    assert_int_equal(cmp(BOOL_T, SYM("true")), 0);
    assert_int_equal(cmp_exact(SYM("false"), BOOL_F), 0);
    assert_int_equal(cmp(NUL, SYM("null")), 0);
    assert_int_equal(cmp(BOOL_F, BOOL_T), -1);
    assert_int_equal(cmp(NUL, BOOL_T), -1);
    assert_int_equal(cmp(BOOL_F, NUL), -1);
    assert_int_equal(cmp(SYM("abc"), SYM("abd")), -1);
    assert_int_equal(cmp(SYM("ab"), SYM("abc")), -1);
    assert_int_equal(cmp(SYM("b"), SYM("abc")), 1);
    assert_int_equal(cmp(SYM("ok"), SYM("ok")), 0);
    assert_int_equal(cmp(SYM("truex"), BOOL_T), 1);
}

static void cmp_compares_pointers_by_address(void **state)
{
    (void)state;
    const char buf[2] = {0, 0};
    assert_int_equal(cmp(PTR(&buf[0]), PTR(&buf[1])), -1);
    assert_int_equal(cmp(PTR(&buf[1]), PTR(&buf[0])), 1);
    assert_int_equal(cmp_exact(PTR(&buf[1]), PTR(&buf[1])), 0);
    assert_int_equal(cmp(PTR(NULL), PTR(buf)), -1);
}

static void cmp_compares_strings_and_bytes_by_bytes_then_length(void **state)
{
    (void)state;
    assert_int_equal(cmp(S("abc"), B("abc")), 0);
    assert_int_equal(cmp_exact(B("abc"), S("abc")), 0);
    assert_int_equal(cmp(S("abc"), S("abd")), -1);
    assert_int_equal(cmp(S("ab"), B("abc")), -1);
    assert_int_equal(cmp(B("b"), S("abc")), 1);
    assert_int_equal(cmp(S(""), B("")), 0);
    assert_int_equal(cmp(S(""), S("a")), -1);
    /* Bytes compare unsigned, and NUL bytes count. */
    assert_int_equal(cmp(B("\xff"), B("\x01")), 1);
    assert_int_equal(cmp(ctrace_value_stringn("a\0b", 3), S("a")), 1);
    assert_int_equal(cmp(ctrace_value_stringn("a\0b", 3), B("a\0b")), 0);
    assert_int_equal(cmp(ctrace_value_bytes(NULL, 0), S("")), 0);
}

static void cmp_compares_tuples_by_size_then_elements(void **state)
{
    (void)state;
    assert_int_equal(cmp(TUP(SYM("z")), TUP(SYM("a"), SYM("a"))), -1);
    assert_int_equal(cmp(EMPTY_TUPLE, TUP(I(0))), -1);
    assert_int_equal(cmp(TUP(I(1), I(2)), TUP(I(1), I(3))), -1);
    assert_int_equal(cmp(TUP(I(1), TUP(I(2))), TUP(I(1), TUP(I(2)))), 0);
    assert_int_equal(cmp(TUP(I(1), TUP(I(3))), TUP(I(1), TUP(I(2)))), 1);
    assert_int_equal(cmp(TUP(S("a"), I(1)), TUP(B("a"), U(1))), 0);
}

static void cmp_compares_lists_elementwise_then_by_length(void **state)
{
    (void)state;
    assert_int_equal(cmp(LST(I(1), I(2)), LST(I(1), I(3))), -1);
    assert_int_equal(cmp(LST(I(1), I(2)), LST(I(1), I(2), I(0))), -1);
    assert_int_equal(cmp(LST(I(2)), LST(I(1), I(9), I(9))), 1);
    assert_int_equal(cmp(EMPTY_LIST, LST(I(0))), -1);
    assert_int_equal(cmp(EMPTY_LIST, ctrace_value_list(NULL, 0)), 0);
    assert_int_equal(cmp(LST(LST(I(1)), I(5)), LST(LST(I(1), I(0)), I(1))), -1);
    assert_int_equal(cmp(LST(TUP(I(1), I(2))), LST(TUP(I(1), I(2)))), 0);
}

/*
 * A chain of `n` one-element lists, each holding the next, ending in `leaf`:
 * [[[...[leaf]...]]]. `cells` must hold n values.
 */
static struct ctrace_value
chain(struct ctrace_value *cells, size_t n, struct ctrace_value leaf)
{
    struct ctrace_value v = leaf;
    for (size_t i = 0; i < n; i++) {
        cells[i] = v;
        v = ctrace_value_list(&cells[i], 1);
    }
    return v;
}

static void cmp_walks_deep_values_without_recursing(void **state)
{
    (void)state;
    /* Deep enough to overflow the stack if compared recursively. */
    enum { DEEP = 1000000 };
    struct ctrace_value *a = calloc(DEEP, sizeof(*a));
    struct ctrace_value *b = calloc(DEEP, sizeof(*b));
    assert_non_null(a);
    assert_non_null(b);
    struct ctrace_value x = chain(a, DEEP, I(1));
    struct ctrace_value y = chain(b, DEEP, I(2));
    /* Past 256 levels the leaves are not looked at: equal so far. */
    assert_int_equal(cmp(x, y), 0);
    /* A difference near the top is found. */
    struct ctrace_value x10 = chain(a, 10, I(1));
    struct ctrace_value y10 = chain(b, 10, I(2));
    assert_int_equal(cmp(x10, y10), -1);
    struct ctrace_value x250 = chain(a, 250, I(3));
    struct ctrace_value y250 = chain(b, 250, I(2));
    assert_int_equal(cmp(x250, y250), 1);
    /* Siblings after a deep subtree still count. */
    struct ctrace_value deep1 = chain(a, DEEP, I(1));
    struct ctrace_value deep2 = chain(b, DEEP, I(1));
    assert_int_equal(cmp(LST(deep1, I(1)), LST(deep2, I(2))), -1);
    free(a);
    free(b);
}

static void cmp_is_antisymmetric_and_transitive_over_samples(void **state)
{
    (void)state;
    int x = 0;
    const struct ctrace_value samples[] = {
        I(INT64_MIN),
        D(-INFINITY),
        D(-1.5),
        I(-1),
        D(-0.0),
        I(0),
        U(0),
        D(0.5),
        I(1),
        D(1.0),
        U(1),
        I(INT64_MAX),
        U((uint64_t)INT64_MAX + 1),
        D(9223372036854775808.0),
        U(UINT64_MAX),
        D(INFINITY),
        D(NAN),
        BOOL_F,
        NUL,
        SYM("ok"),
        BOOL_T,
        SYM("true"),
        PTR(NULL),
        PTR(&x),
        EMPTY_TUPLE,
        TUP(I(1)),
        TUP(D(1.0)),
        TUP(I(0), I(0)),
        EMPTY_LIST,
        LST(I(1)),
        LST(D(1.0)),
        LST(I(1), I(0)),
        S(""),
        B(""),
        S("a"),
        B("a"),
        B("a\xff"),
    };
    const size_t n = CTRACE__ARRAY_SIZE(samples);
    for (int exact = 0; exact <= 1; exact++)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                int ij =
                    sign(ctrace__value_cmp(&samples[i], &samples[j], exact));
                int ji =
                    sign(ctrace__value_cmp(&samples[j], &samples[i], exact));
                assert_int_equal(ij, -ji);
                if (i == j)
                    assert_int_equal(ij, 0);
                for (size_t k = 0; k < n; k++) {
                    int jk = sign(
                        ctrace__value_cmp(&samples[j], &samples[k], exact));
                    int ik = sign(
                        ctrace__value_cmp(&samples[i], &samples[k], exact));
                    if (ij <= 0 && jk <= 0)
                        assert_true(ik <= 0);
                    if (ij == 0 && jk == 0)
                        assert_int_equal(ik, 0);
                }
            }
}

/* ctrace__glob_match. */

static void glob_star_matches_any_run_including_none(void **state)
{
    (void)state;
    assert_true(ctrace__glob_match("*", ""));
    assert_true(ctrace__glob_match("*", "cat_traveler"));
    assert_true(ctrace__glob_match("cat_*", "cat_"));
    assert_true(ctrace__glob_match("cat_*", "cat_traveler"));
    assert_true(ctrace__glob_match("*_traveler", "cat_traveler"));
    assert_true(ctrace__glob_match("c*r", "cr"));
    assert_true(ctrace__glob_match("**", "x"));
    assert_false(ctrace__glob_match("cat_*", "cat"));
    assert_false(ctrace__glob_match("cat_*", "dog_traveler"));
    assert_false(ctrace__glob_match("*_traveler", "cat_travelers"));
}

static void glob_without_star_matches_exactly(void **state)
{
    (void)state;
    assert_true(ctrace__glob_match("enter", "enter"));
    assert_true(ctrace__glob_match("", ""));
    assert_false(ctrace__glob_match("enter", "ente"));
    assert_false(ctrace__glob_match("enter", "enterx"));
    assert_false(ctrace__glob_match("enter", "Enter"));
    assert_false(ctrace__glob_match("", "x"));
    /* Only `*` is special. */
    assert_false(ctrace__glob_match("a?c", "abc"));
    assert_true(ctrace__glob_match("a?c", "a?c"));
    assert_false(ctrace__glob_match("[a]", "a"));
}

static void glob_backtracks_over_several_stars(void **state)
{
    (void)state;
    assert_true(ctrace__glob_match("a*b*c", "axxbyyc"));
    assert_true(ctrace__glob_match("a*b*c", "abc"));
    assert_true(ctrace__glob_match("a*b*c", "abcbc"));
    assert_false(ctrace__glob_match("a*b*c", "axxbyy"));
    assert_true(ctrace__glob_match("a*b", "abab"));
    assert_true(ctrace__glob_match("*ab", "aab"));
    assert_true(ctrace__glob_match("*ab", "aaab"));
    assert_true(ctrace__glob_match("*aab", "aaaab"));
    assert_true(ctrace__glob_match("x*abc", "xababcabc"));
    assert_false(ctrace__glob_match("*ab", "aaaa"));
    assert_true(ctrace__glob_match("*a*a*", "banana"));
    assert_false(ctrace__glob_match("*a*a*a*a*", "banana"));
    assert_true(ctrace__glob_match("*x*", "x"));
    assert_false(ctrace__glob_match("a*", ""));
}

static void glob_is_fast_on_pathological_names(void **state)
{
    (void)state;
    /* Exponential for naive backtracking; linear-ish for two pointers. */
    enum { N = 100000 };
    char *name = malloc(N + 1);
    assert_non_null(name);
    memset(name, 'a', N);
    name[N] = '\0';
    assert_false(ctrace__glob_match("*a*a*a*a*a*a*a*a*a*a*b", name));
    assert_true(ctrace__glob_match("*a*a*a*a*a*a*a*a*a*a*", name));
    free(name);
}

static void glob_rejects_null(void **state)
{
    (void)state;
    assert_false(ctrace__glob_match(NULL, "x"));
    assert_false(ctrace__glob_match("*", NULL));
}

/* Spec helpers. */

static struct ctrace__spec *parse(const char *text)
{
    struct ctrace_error err;
    memset(&err, 0, sizeof(err));
    struct ctrace__spec *spec = ctrace__spec_parse(text, strlen(text), &err);
    if (spec == NULL)
        fail_msg("cannot parse %s: column %d: %s", text, err.column, err.text);
    return spec;
}

/* Whether a call with these arguments fires the spec written as `text`. */
static bool
fires_n(const char *text, const struct ctrace_value *args, size_t nargs)
{
    struct ctrace__spec *spec = parse(text);
    bool fired = ctrace__spec_match(spec, args, nargs);
    ctrace__spec_free(spec);
    return fired;
}

#define FIRES(text, ...) fires_n(text, VALUES(__VA_ARGS__), COUNT(__VA_ARGS__))

/* Whether `head when guard` fires for these arguments. */
static bool guard_fires_n(const char *head,
                          const char *guard,
                          const struct ctrace_value *args,
                          size_t nargs)
{
    char text[4096];
    int n = snprintf(text, sizeof(text), "%s when %s", head, guard);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    return fires_n(text, args, nargs);
}

/*
 * Whether the guard raises an exception: then neither it nor its negation
 * fires, whereas a guard that is merely false has a negation that does.
 */
static bool guard_raises_n(const char *head,
                           const char *guard,
                           const struct ctrace_value *args,
                           size_t nargs)
{
    char negated[4096];
    int n = snprintf(negated, sizeof(negated), "not (%s)", guard);
    assert_true(n > 0 && (size_t)n < sizeof(negated));
    return !guard_fires_n(head, guard, args, nargs) &&
           !guard_fires_n(head, negated, args, nargs);
}

#define WHEN(head, guard, ...) \
    guard_fires_n(head, guard, VALUES(__VA_ARGS__), COUNT(__VA_ARGS__))
#define RAISES(head, guard, ...) \
    guard_raises_n(head, guard, VALUES(__VA_ARGS__), COUNT(__VA_ARGS__))

/* The usual heads: one argument X, two arguments X and Y. */
#define F1 "m:f(X)"
#define F2 "m:f(X, Y)"

/* Argument patterns. */

static void any_pattern_matches_every_kind_of_value(void **state)
{
    (void)state;
    int x = 0;
    const struct ctrace_value all[] = {
        NUL,
        I(-1),
        U(UINT64_MAX),
        D(NAN),
        BOOL_T,
        S("a"),
        B("\x00"),
        SYM("ok"),
        PTR(&x),
        TUP(I(1)),
        LST(I(1)),
        EMPTY_LIST,
        EMPTY_TUPLE,
    };
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(all); i++) {
        assert_true(fires_n("m:f(_)", &all[i], 1));
        assert_true(fires_n("m:f('_')", &all[i], 1));
        assert_true(fires_n("m:f(X)", &all[i], 1));
        assert_true(fires_n("m:f(_X)", &all[i], 1));
    }
}

static void repeated_variable_requires_exactly_equal_values(void **state)
{
    (void)state;
    int x = 0, y = 0;
    assert_true(FIRES("m:f(X, X)", I(1), I(1)));
    assert_true(FIRES("m:f(X, X)", I(1), U(1)));
    assert_false(FIRES("m:f(X, X)", I(1), D(1.0)));
    assert_false(FIRES("m:f(X, X)", I(1), I(2)));
    assert_true(FIRES("m:f(X, X)", S("ab"), B("ab")));
    assert_false(FIRES("m:f(X, X)", S("ab"), S("abc")));
    assert_true(FIRES("m:f(X, X)", BOOL_T, SYM("true")));
    assert_true(FIRES("m:f(X, X)", NUL, SYM("null")));
    assert_true(FIRES("m:f(X, X)", TUP(I(1), S("a")), TUP(U(1), B("a"))));
    assert_false(FIRES("m:f(X, X)", TUP(I(1), I(2)), TUP(I(1), I(3))));
    assert_false(FIRES("m:f(X, X)", TUP(I(1)), LST(I(1))));
    assert_true(FIRES("m:f(X, X)", PTR(&x), PTR(&x)));
    assert_false(FIRES("m:f(X, X)", PTR(&x), PTR(&y)));
    assert_true(FIRES("m:f(X, X)", D(NAN), D(NAN)));
    /* Three occurrences, and variables that differ from each other. */
    assert_true(FIRES("m:f(X, Y, X)", I(1), I(2), I(1)));
    assert_false(FIRES("m:f(X, Y, X)", I(1), I(2), I(2)));
    assert_true(FIRES("m:f(X, Y)", I(1), I(1)));
    /* `_` never binds. */
    assert_true(FIRES("m:f(_, _)", I(1), I(2)));
}

static void repeated_variable_binds_through_nested_patterns(void **state)
{
    (void)state;
    const char *spec = "m:f({X, [X | _]}, {_, X})";
    assert_true(
        FIRES(spec, TUP(SYM("a"), LST(SYM("a"), I(1))), TUP(I(0), SYM("a"))));
    assert_false(
        FIRES(spec, TUP(SYM("a"), LST(SYM("b"), I(1))), TUP(I(0), SYM("a"))));
    assert_false(
        FIRES(spec, TUP(SYM("a"), LST(SYM("a"), I(1))), TUP(I(0), SYM("b"))));
}

static void integer_literal_matches_int_and_uint_of_the_same_value(void **state)
{
    (void)state;
    int x = 0;
    assert_true(FIRES("m:f(42)", I(42)));
    assert_true(FIRES("m:f(42)", U(42)));
    assert_false(FIRES("m:f(42)", I(43)));
    assert_false(FIRES("m:f(42)", D(42.0)));
    assert_false(FIRES("m:f(42)", S("42")));
    assert_false(FIRES("m:f(42)", SYM("42")));
    assert_false(FIRES("m:f(42)", TUP(I(42))));
    assert_false(FIRES("m:f(42)", LST(I(42))));
    assert_false(FIRES("m:f(0)", NUL));
    assert_false(FIRES("m:f(0)", BOOL_F));
    assert_false(FIRES("m:f(0)", PTR(NULL)));
    assert_false(FIRES("m:f(0)", PTR(&x)));
    assert_true(FIRES("m:f(-7)", I(-7)));
    assert_false(FIRES("m:f(-7)", U((uint64_t)-7)));
    assert_true(FIRES("m:f(9223372036854775807)", I(INT64_MAX)));
    assert_true(FIRES("m:f(-9223372036854775808)", I(INT64_MIN)));
    assert_true(FIRES("m:f(18446744073709551615)", U(UINT64_MAX)));
    assert_false(FIRES("m:f(18446744073709551615)", I(-1)));
    assert_true(FIRES("m:f($a)", I('a')));
}

static void float_literal_matches_only_an_equal_double(void **state)
{
    (void)state;
    assert_true(FIRES("m:f(1.5)", D(1.5)));
    assert_false(FIRES("m:f(1.5)", D(1.25)));
    assert_true(FIRES("m:f(2.0)", D(2.0)));
    assert_false(FIRES("m:f(2.0)", I(2)));
    assert_false(FIRES("m:f(2.0)", U(2)));
    assert_false(FIRES("m:f(2.0)", S("2.0")));
}

static void
string_literal_matches_string_or_bytes_with_the_same_bytes(void **state)
{
    (void)state;
    const char *specs[] = {"m:f(\"Tihon\")", "m:f(<<\"Tihon\">>)"};
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(specs); i++) {
        assert_true(FIRES(specs[i], S("Tihon")));
        assert_true(FIRES(specs[i], B("Tihon")));
        assert_false(FIRES(specs[i], S("Tiho")));
        assert_false(FIRES(specs[i], S("Tihonx")));
        assert_false(FIRES(specs[i], S("tihon")));
        assert_false(FIRES(specs[i], ctrace_value_stringn("Tihon\0", 6)));
        assert_false(FIRES(specs[i], SYM("Tihon")));
        assert_false(
            FIRES(specs[i], LST(I('T'), I('i'), I('h'), I('o'), I('n'))));
        assert_false(FIRES(specs[i], NUL));
    }
    assert_true(FIRES("m:f(<<1,2,255>>)", B("\x01\x02\xff")));
    assert_true(FIRES("m:f(<<1,2,255>>)", S("\x01\x02\xff")));
    assert_false(FIRES("m:f(<<1,2,255>>)", B("\x01\x02")));
    assert_true(FIRES("m:f(\"\")", S("")));
    assert_true(FIRES("m:f(<<>>)", B("")));
    assert_true(FIRES("m:f(<<>>)", ctrace_value_bytes(NULL, 0)));
    assert_false(FIRES("m:f(<<>>)", EMPTY_LIST));
}

static void atom_literal_matches_symbols_bools_and_null(void **state)
{
    (void)state;
    assert_true(FIRES("m:f(ok)", SYM("ok")));
    assert_false(FIRES("m:f(ok)", SYM("okay")));
    assert_false(FIRES("m:f(ok)", S("ok")));
    assert_false(FIRES("m:f(ok)", B("ok")));
    assert_true(FIRES("m:f('not in town')", SYM("not in town")));
    assert_true(FIRES("m:f(true)", BOOL_T));
    assert_true(FIRES("m:f(true)", SYM("true")));
    assert_false(FIRES("m:f(true)", BOOL_F));
    assert_false(FIRES("m:f(true)", I(1)));
    assert_true(FIRES("m:f(false)", BOOL_F));
    assert_false(FIRES("m:f(false)", I(0)));
    assert_false(FIRES("m:f(false)", NUL));
    assert_true(FIRES("m:f(null)", NUL));
    assert_true(FIRES("m:f(null)", SYM("null")));
    assert_false(FIRES("m:f(null)", PTR(NULL)));
    assert_false(FIRES("m:f(null)", I(0)));
    assert_false(FIRES("m:f(null)", S("")));
}

static void
tuple_pattern_matches_tuples_of_the_same_size_elementwise(void **state)
{
    (void)state;
    assert_true(FIRES("m:f({cat, _})", TUP(SYM("cat"), S("Tihon"))));
    assert_false(FIRES("m:f({cat, _})", TUP(SYM("dog"), S("Tihon"))));
    assert_false(FIRES("m:f({cat, _})", TUP(SYM("cat"))));
    assert_false(FIRES("m:f({cat, _})", TUP(SYM("cat"), I(1), I(2))));
    assert_false(FIRES("m:f({cat, _})", LST(SYM("cat"), I(1))));
    assert_false(FIRES("m:f({cat, _})", S("cat")));
    assert_true(FIRES("m:f({})", EMPTY_TUPLE));
    assert_false(FIRES("m:f({})", EMPTY_LIST));
    assert_true(FIRES("m:f({{1}, {}})", TUP(TUP(I(1)), EMPTY_TUPLE)));
}

static void list_pattern_matches_lists_elementwise(void **state)
{
    (void)state;
    assert_true(FIRES("m:f([1, 2])", LST(I(1), I(2))));
    assert_false(FIRES("m:f([1, 2])", LST(I(1), I(2), I(3))));
    assert_false(FIRES("m:f([1, 2])", LST(I(1))));
    assert_false(FIRES("m:f([1, 2])", LST(I(2), I(1))));
    assert_false(FIRES("m:f([1, 2])", TUP(I(1), I(2))));
    assert_true(FIRES("m:f([])", EMPTY_LIST));
    assert_false(FIRES("m:f([])", LST(I(1))));
    assert_false(FIRES("m:f([])", EMPTY_TUPLE));
    assert_false(FIRES("m:f([])", NUL));
}

static void list_pattern_with_tail_binds_the_rest_as_a_list(void **state)
{
    (void)state;
    const char *spec = "m:f([H | T], H, T)";
    assert_true(FIRES(spec, LST(I(1), I(2), I(3)), I(1), LST(I(2), I(3))));
    assert_false(FIRES(spec, LST(I(1), I(2), I(3)), I(1), LST(I(2))));
    assert_true(FIRES(spec, LST(I(1)), I(1), EMPTY_LIST));
    assert_false(FIRES(spec, EMPTY_LIST, I(1), EMPTY_LIST));
    assert_true(FIRES("m:f([_, _ | _])", LST(I(1), I(2))));
    assert_false(FIRES("m:f([_, _ | _])", LST(I(1))));
    assert_true(
        FIRES("m:f([1 | [2 | T]], T)", LST(I(1), I(2), I(3)), LST(I(3))));
    assert_false(FIRES("m:f([_ | _])", TUP(I(1), I(2))));
}

static void list_pattern_reads_strings_and_bytes_as_byte_codes(void **state)
{
    (void)state;
    /* The tail is a view of the same kind as the value. */
    assert_true(FIRES("m:f([$a, $b | T], T)", S("abc"), S("c")));
    assert_true(FIRES("m:f([$a, $b | T], T)", B("abc"), B("c")));
    assert_true(FIRES("m:f([$a, $b | T]) when is_list(T)", S("abc")));
    assert_false(FIRES("m:f([$a, $b | T]) when is_list(T)", B("abc")));
    assert_true(FIRES("m:f([$a, $b | T], T)", S("ab"), S("")));
    assert_false(FIRES("m:f([$a, $b | T], T)", S("abc"), LST(I('c'))));
    assert_false(FIRES("m:f([$a, $b | _])", S("a")));
    assert_false(FIRES("m:f([$a, $b | _])", S("acb")));
    assert_true(FIRES("m:f([$a, $b])", S("ab")));
    assert_false(FIRES("m:f([$a, $b])", S("abc")));
    assert_true(FIRES("m:f([97, _, X], X)", S("abc"), I('c')));
    /* Bytes above 127 read as 128..255, never negative. */
    assert_true(FIRES("m:f([255, 0])", B("\xff\x00")));
    /* [] matches the empty string and the empty bytes. */
    assert_true(FIRES("m:f([])", S("")));
    assert_true(FIRES("m:f([])", B("")));
    assert_false(FIRES("m:f([])", S("a")));
    /* Elements that can never be a byte do not match. */
    assert_false(FIRES("m:f([{X}])", S("a")));
    assert_false(FIRES("m:f([a])", S("a")));
    /* A string value is not a list of anything but its bytes. */
    assert_false(FIRES("m:f([\"a\"])", S("a")));
}

static void
prefix_pattern_matches_strings_and_bytes_that_start_with_it(void **state)
{
    (void)state;
    assert_true(FIRES("m:f(\"Ti\" ++ T, T)", S("Tihon"), S("hon")));
    assert_true(FIRES("m:f(\"Ti\" ++ T, T)", B("Tihon"), B("hon")));
    assert_true(FIRES("m:f(\"Ti\" ++ T, T)", S("Ti"), S("")));
    assert_false(FIRES("m:f(\"Ti\" ++ T, T)", S("Tihon"), S("ho")));
    assert_true(FIRES("m:f(\"Ti\" ++ _)", S("Tim")));
    assert_false(FIRES("m:f(\"Ti\" ++ _)", S("T")));
    assert_false(FIRES("m:f(\"Ti\" ++ _)", S("Xi")));
    assert_false(FIRES("m:f(\"Ti\" ++ _)", SYM("Tihon")));
    assert_false(FIRES("m:f(\"Ti\" ++ _)", LST(I('T'), I('i'))));
    assert_false(FIRES("m:f(\"Ti\" ++ _)", NUL));
    /* The tail keeps the kind of the value. */
    assert_true(FIRES("m:f(\"Ti\" ++ T) when is_list(T)", S("Tihon")));
    assert_false(FIRES("m:f(\"Ti\" ++ T) when is_list(T)", B("Tihon")));
    assert_true(FIRES("m:f(\"\" ++ T, T)", S("x"), S("x")));
    assert_true(FIRES("m:f(<<\"Ti\", T/binary>>, T)", B("Tihon"), B("hon")));
    assert_true(FIRES("m:f(<<\"Ti\", _/binary>>)", S("Tim")));
    assert_false(FIRES("m:f(<<\"Ti\", _/binary>>)", B("Xim")));
}

static void spec_without_argument_patterns_matches_any_arguments(void **state)
{
    (void)state;
    const char *specs[] = {"m", "m:f", "m:f/2", "m:_", "_:f", "m:f -> return"};
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(specs); i++) {
        assert_true(fires_n(specs[i], NULL, 0));
        assert_true(FIRES(specs[i], I(1), S("x")));
    }
}

static void argument_count_must_equal_the_number_of_patterns(void **state)
{
    (void)state;
    assert_false(FIRES("m:f(_, _)", I(1)));
    assert_false(FIRES("m:f(_, _)", I(1), I(2), I(3)));
    assert_true(FIRES("m:f(_, _)", I(1), I(2)));
    assert_true(fires_n("m:f()", NULL, 0));
    assert_false(FIRES("m:f()", I(1)));
    struct ctrace__spec *spec = parse("m:f(_)");
    assert_false(ctrace__spec_match(spec, NULL, 1));
    assert_false(ctrace__spec_match(spec, NULL, 0));
    ctrace__spec_free(spec);
}

static void matching_deep_values_does_not_recurse_into_them(void **state)
{
    (void)state;
    enum { DEEP = 1000000 };
    struct ctrace_value *a = calloc(DEEP, sizeof(*a));
    struct ctrace_value *b = calloc(DEEP, sizeof(*b));
    assert_non_null(a);
    assert_non_null(b);
    struct ctrace_value x = chain(a, DEEP, I(1));
    struct ctrace_value y = chain(b, DEEP, I(1));
    assert_true(FIRES("m:f(X, X)", x, y));
    assert_true(FIRES("m:f([[[_]]])", x));
    assert_true(FIRES("m:f(X) when X == X", x));
    assert_true(FIRES("m:f(X) when is_list(hd(hd(X)))", x));
    free(a);
    free(b);
}

/*
 * Writes head, `open` n times, mid, `close` n times and tail into `text`.
 */
static void
nest(char *text, size_t size, const char *const parts[5], unsigned n)
{
    size_t len = 0;
    for (int part = 0; part < 5; part++) {
        unsigned times = part == 1 || part == 3 ? n : 1;
        for (unsigned k = 0; k < times; k++) {
            size_t add = strlen(parts[part]);
            assert_true(len + add < size);
            memcpy(text + len, parts[part], add);
            len += add;
        }
    }
    text[len] = '\0';
}

/*
 * The largest n for which the spec nest(parts, n) parses, which must be at
 * least `min`; n + 1 must fail with CTRACE_ETOODEEP. Leaves the deepest
 * accepted spec in `text`.
 */
static unsigned
deepest(const char *const parts[5], unsigned min, char *text, size_t size)
{
    unsigned n = 0;
    for (unsigned i = 1; i < 1000; i++) {
        nest(text, size, parts, i);
        struct ctrace_error err;
        struct ctrace__spec *spec =
            ctrace__spec_parse(text, strlen(text), &err);
        if (spec == NULL) {
            assert_int_equal(err.code, CTRACE_ETOODEEP);
            break;
        }
        ctrace__spec_free(spec);
        n = i;
    }
    assert_true(n >= min);
    nest(text, size, parts, n);
    return n;
}

static void deepest_spec_the_parser_accepts_still_matches(void **state)
{
    (void)state;
    char text[4096];
    struct ctrace_value cells[256];
    /* Nested patterns. */
    const char *const pats[5] = {"m:f(", "[", "X", "]", ")"};
    unsigned n = deepest(pats, 32, text, sizeof(text));
    assert_true(FIRES(text, chain(cells, n, I(1))));
    assert_false(FIRES(text, chain(cells, n - 1, I(1))));
    /* A nested guard term. */
    const char *const terms[5] = {"m:f(X) when ", "[", "1", "]", " == X"};
    n = deepest(terms, 32, text, sizeof(text));
    assert_true(FIRES(text, chain(cells, n, I(1))));
    assert_false(FIRES(text, chain(cells, n, I(2))));
    /* A tall chain of operators. */
    const char *const ops[5] = {"m:f(X) when X", " + 1", "", " - 1", " == 0"};
    deepest(ops, 16, text, sizeof(text));
    assert_true(FIRES(text, I(0)));
    /* Both: a term as deep as allowed under a tall guard. */
    const char *const both[5] = {"m:f(X) when ",
                                 "not not (",
                                 "X == [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]",
                                 ")",
                                 ""};
    deepest(both, 8, text, sizeof(text));
    assert_true(FIRES(text, chain(cells, 16, I(1))));
}

/* Guards. */

static void guard_fires_only_on_the_atom_true(void **state)
{
    (void)state;
    assert_true(WHEN(F1, "X", BOOL_T));
    assert_true(WHEN(F1, "X", SYM("true")));
    assert_false(WHEN(F1, "X", BOOL_F));
    assert_false(WHEN(F1, "X", I(1)));
    assert_false(WHEN(F1, "X", S("true")));
    assert_false(WHEN(F1, "X", NUL));
    assert_true(WHEN(F1, "true", I(0)));
    assert_false(WHEN(F1, "false", I(0)));
    assert_false(WHEN(F1, "ok", I(0)));
    assert_false(WHEN(F1, "X + 1", I(0)));
}

static void comparison_operators_follow_the_term_order(void **state)
{
    (void)state;
    struct {
        const char *guard;
        struct ctrace_value x, y;
        bool expected;
    } cases[] = {
        {"X == Y", I(1), D(1.0), true},
        {"X /= Y", I(1), D(1.0), false},
        {"X =:= Y", I(1), D(1.0), false},
        {"X =/= Y", I(1), D(1.0), true},
        {"X =:= Y", I(1), U(1), true},
        {"X == Y", S("ab"), B("ab"), true},
        {"X =:= Y", S("ab"), B("ab"), true},
        {"X == Y", BOOL_T, SYM("true"), true},
        {"X < Y", I(1), I(2), true},
        {"X < Y", I(2), I(2), false},
        {"X =< Y", I(2), I(2), true},
        {"X =< Y", I(3), I(2), false},
        {"X > Y", D(2.5), I(2), true},
        {"X > Y", I(2), D(2.5), false},
        {"X >= Y", I(2), D(2.0), true},
        {"X >= Y", I(-1), U(0), false},
        {"X < Y", I(INT64_MAX), U(UINT64_MAX), true},
        /* Across kinds: number < atom < pointer < tuple < list < binary. */
        {"X < Y", D(1e300), SYM("a"), true},
        {"X < Y", SYM("zzz"), PTR(NULL), true},
        {"X < Y", PTR(NULL), EMPTY_TUPLE, true},
        {"X < Y", TUP(I(1), I(2)), EMPTY_LIST, true},
        {"X < Y", LST(I(1)), S(""), true},
        {"X > Y", S(""), LST(I(1)), true},
        {"X == Y", LST(I('a')), S("a"), false},
    };
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(cases); i++) {
        bool got = WHEN(F2, cases[i].guard, cases[i].x, cases[i].y);
        if (got != cases[i].expected)
            fail_msg("case %zu: %s gave %d", i, cases[i].guard, (int)got);
    }
    /* Literals on either side. */
    assert_true(WHEN(F1, "X =/= \"Minsk\"", S("Tihon")));
    assert_false(WHEN(F1, "X =/= \"Minsk\"", B("Minsk")));
    assert_true(WHEN(F1, "X == 2.0", I(2)));
    assert_false(WHEN(F1, "X =:= 2.0", I(2)));
    assert_true(WHEN(F1, "X < ok", I(5)));
    assert_true(WHEN(F1, "X > 1000", SYM("a")));
}

static void comparison_of_a_guard_list_with_a_string_is_false(void **state)
{
    (void)state;
    /* Patterns read strings as lists; the term order keeps them apart. */
    assert_true(FIRES("m:f([])", S("")));
    assert_false(WHEN(F1, "tl(X) == []", S("a")));
    assert_true(WHEN(F1, "tl(X) == \"\"", S("a")));
}

static void andalso_and_orelse_short_circuit(void **state)
{
    (void)state;
    /* hd(5) would raise; the left side decides first. */
    assert_true(WHEN(F1, "not (is_list(X) andalso hd(X) == 1)", I(5)));
    assert_true(WHEN(F1, "is_list(X) andalso hd(X) == 1", LST(I(1))));
    assert_false(WHEN(F1, "is_list(X) andalso hd(X) == 1", LST(I(2))));
    assert_true(WHEN(F1, "is_integer(X) orelse hd(X) == 1", I(5)));
    assert_true(WHEN(F1, "is_integer(X) orelse hd(X) == 1", LST(I(1))));
    assert_false(WHEN(F1, "is_integer(X) orelse hd(X) == 1", LST(I(2))));
    /* `,` and `;` are andalso and orelse. */
    assert_true(WHEN(F1, "is_integer(X), X > 1", I(5)));
    assert_false(WHEN(F1, "is_integer(X), X > 1", I(0)));
    assert_false(WHEN(F1, "is_integer(X), X > 1", S("x")));
    assert_true(WHEN(F1, "is_atom(X); X > 1", SYM("a")));
    assert_true(WHEN(F1, "is_atom(X); X > 1", I(5)));
    assert_false(WHEN(F1, "is_atom(X); X > 1", I(0)));
    assert_true(WHEN(F1, "is_integer(X), X > 1; X == a", SYM("a")));
}

static void andalso_and_orelse_need_a_boolean_on_the_left_only(void **state)
{
    (void)state;
    assert_true(RAISES(F1, "X andalso true", I(1)));
    assert_true(RAISES(F1, "X orelse true", I(1)));
    assert_true(RAISES(F1, "X andalso true", SYM("maybe")));
    /* The right side is the result as it is; only `true` fires. */
    assert_true(WHEN(F1, "true andalso X", SYM("true")));
    assert_false(WHEN(F1, "true andalso X", I(1)));
    assert_true(WHEN(F1, "false orelse X", BOOL_T));
    assert_true(RAISES(F1, "true andalso X", I(1)));
    assert_true(WHEN(F1, "false andalso X", I(1)) == false);
    assert_true(WHEN(F1, "not (false andalso X)", I(1)));
    assert_true(WHEN(F1, "true orelse X", I(1)));
}

static void and_or_xor_not_evaluate_both_sides_and_need_booleans(void **state)
{
    (void)state;
    const struct {
        bool x, y;
    } rows[] = {{false, false}, {false, true}, {true, false}, {true, true}};
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(rows); i++) {
        struct ctrace_value x = ctrace_value_bool(rows[i].x);
        struct ctrace_value y = ctrace_value_bool(rows[i].y);
        assert_int_equal(WHEN(F2, "X and Y", x, y), rows[i].x && rows[i].y);
        assert_int_equal(WHEN(F2, "X or Y", x, y), rows[i].x || rows[i].y);
        assert_int_equal(WHEN(F2, "X xor Y", x, y), rows[i].x != rows[i].y);
        assert_int_equal(WHEN(F2, "not X", x, y), !rows[i].x);
    }
    /* Both sides are evaluated: an exception on the right counts. */
    assert_true(RAISES(F1, "is_integer(X) or hd(X) == 1", I(5)));
    assert_true(RAISES(F1, "is_list(X) and hd(X) == 1", I(5)));
    assert_true(RAISES(F1, "false xor hd(X)", I(5)));
    /* Non-booleans raise. */
    assert_true(RAISES(F2, "X and Y", I(1), BOOL_T));
    assert_true(RAISES(F2, "X or Y", BOOL_F, S("true")));
    assert_true(RAISES(F2, "X xor Y", NUL, BOOL_T));
    assert_true(RAISES(F1, "not X", I(0)));
    assert_true(RAISES(F1, "not X", NUL));
    /* Atoms `true` and `false` work as well as BOOL values. */
    assert_true(WHEN(F2, "X and Y", SYM("true"), BOOL_T));
    assert_true(WHEN(F1, "not X", SYM("false")));
}

static void semicolon_does_not_catch_an_exception_on_its_left(void **state)
{
    (void)state;
    /* redbug turns `;` into orelse, so the exception fails everything. */
    assert_false(WHEN(F1, "hd(X) == 1; true", I(5)));
    assert_true(WHEN(F1, "hd(X) == 1; true", LST(I(2))));
}

static void arithmetic_follows_erlang_rules(void **state)
{
    (void)state;
    assert_true(WHEN(F1, "X + 1 == 3", I(2)));
    assert_true(WHEN(F1, "X - 5 =:= -3", I(2)));
    assert_true(WHEN(F1, "X * 3 =:= 6", I(2)));
    assert_true(WHEN(F1, "X * 3 =:= 6", U(2)));
    assert_true(WHEN(F1, "-X =:= -2", I(2)));
    assert_true(WHEN(F1, "- X + 1 =:= -1", I(2)));
    /* div truncates toward zero, rem takes the dividend's sign. */
    assert_true(WHEN(F1, "X div 2 =:= -3", I(-7)));
    assert_true(WHEN(F1, "X rem 3 =:= -1", I(-7)));
    assert_true(WHEN(F1, "X div -2 =:= -3", I(7)));
    assert_true(WHEN(F1, "X rem -3 =:= 1", I(7)));
    assert_true(WHEN(F1, "X div 7 =:= 0", I(6)));
    /* Any double makes a double. */
    assert_true(WHEN(F1, "X + 0.5 =:= 2.5", I(2)));
    assert_true(WHEN(F1, "X * 1.0 =:= 2.0", I(2)));
    assert_false(WHEN(F1, "X * 1.0 =:= 2", I(2)));
    assert_true(WHEN(F1, "X - 1 =:= 0.5", D(1.5)));
    assert_true(WHEN(F1, "-X =:= -1.5", D(1.5)));
    assert_true(WHEN(F2, "X * Y == 3", D(1.5), U(2)));
    /* Integers reach exactly from -2^63 to 2^64 - 1 across INT and UINT. */
    assert_true(WHEN(F1, "X + 1 =:= 9223372036854775808", I(INT64_MAX)));
    assert_true(
        WHEN(F1, "X - 1 =:= 9223372036854775807", U((uint64_t)INT64_MAX + 1)));
    assert_true(WHEN(F1, "X - 1 =:= 18446744073709551614", U(UINT64_MAX)));
    assert_true(WHEN(F1, "-X =:= 9223372036854775808", I(INT64_MIN)));
    assert_true(
        WHEN(F1, "-X =:= -9223372036854775808", U((uint64_t)INT64_MAX + 1)));
    assert_true(WHEN(F2, "X + Y =:= 0", U(UINT64_MAX), I(-INT64_MAX)) == false);
    assert_true(WHEN(
        F2, "X + Y =:= 9223372036854775808", U(UINT64_MAX), I(-INT64_MAX)));
    assert_true(WHEN(F2, "X - Y =:= 0", U(5), I(5)));
    assert_true(WHEN(F2, "X - Y =:= -1", U(5), U(6)));
    assert_true(WHEN(F2, "X div Y =:= -1", U(UINT64_MAX), I(INT64_MIN)));
    assert_true(
        WHEN(F2, "X * Y =:= -9223372036854775808", I(INT64_MIN / 2), I(2)));
}

static void arithmetic_on_non_numbers_raises(void **state)
{
    (void)state;
    assert_true(RAISES(F1, "X + 1 == 2", S("1")));
    assert_true(RAISES(F1, "X + 1 == 2", BOOL_T));
    assert_true(RAISES(F1, "1 - X == 2", SYM("a")));
    assert_true(RAISES(F1, "X * 2 == 2", NUL));
    assert_true(RAISES(F1, "X * 2 == 2", PTR(NULL)));
    assert_true(RAISES(F1, "X * 2 == 2", TUP(I(1))));
    assert_true(RAISES(F1, "-X == 2", LST(I(1))));
    /* div and rem take integers only. */
    assert_true(RAISES(F1, "X div 2 == 1", D(2.0)));
    assert_true(RAISES(F1, "4 rem X == 0", D(2.0)));
}

static void division_by_zero_raises(void **state)
{
    (void)state;
    assert_true(RAISES(F2, "X div Y == 0", I(1), I(0)));
    assert_true(RAISES(F2, "X rem Y == 0", I(1), U(0)));
    assert_true(RAISES(F1, "X div 0 == 0", I(0)));
    assert_true(RAISES(F1, "X rem 0 == 0", U(UINT64_MAX)));
}

static void integer_overflow_raises_instead_of_wrapping(void **state)
{
    (void)state;
    assert_true(RAISES(F1, "X + 1 > 0", U(UINT64_MAX)));
    assert_true(RAISES(F1, "X - 1 < 0", I(INT64_MIN)));
    assert_true(RAISES(F1, "X * X > 0", I(INT64_C(1) << 32)));
    assert_true(RAISES(F1, "X * -2 < 0", U((uint64_t)INT64_MAX + 2)));
    assert_true(RAISES(F1, "-X < 0", U(UINT64_MAX)));
    assert_true(RAISES(F2, "X - Y < 0", I(-2), U(UINT64_MAX)));
    assert_true(RAISES(F2, "X + Y > 0", U(UINT64_MAX), U(1)));
    /* Just inside the range does not raise. */
    assert_true(WHEN(F1, "X * X > 0", I(INT64_C(1) << 31)));
    assert_true(
        WHEN(F2, "X + Y =:= 18446744073709551615", U(UINT64_MAX - 1), I(1)));
}

static void float_overflow_raises(void **state)
{
    (void)state;
    assert_true(RAISES(F2, "X * Y > 0", D(1e308), D(10.0)));
    assert_true(RAISES(F2, "X + Y > 0", D(1e308), D(1e308)));
    assert_true(RAISES(F2, "X - Y < 0", D(-1e308), D(1e308)));
    assert_true(RAISES(F1, "X + 1 > 0", D(INFINITY)));
    assert_true(RAISES(F1, "X + 1 > 0", D(NAN)));
    assert_true(WHEN(F2, "X * Y > 0", D(1e300), D(10.0)));
}

static void type_tests_classify_every_kind(void **state)
{
    (void)state;
    static const char *const fns[] = {
        "is_integer",
        "is_float",
        "is_number",
        "is_atom",
        "is_boolean",
        "is_binary",
        "is_list",
        "is_tuple",
    };
    int x = 0;
    /* One letter per function above: 1 when the test is true. */
    const struct {
        struct ctrace_value v;
        const char *expected;
    } rows[] = {
        {I(-1), "10100000"},
        {U(UINT64_MAX), "10100000"},
        {D(0.5), "01100000"},
        {D(NAN), "01100000"},
        {BOOL_T, "00011000"},
        {BOOL_F, "00011000"},
        {SYM("ok"), "00010000"},
        {SYM("true"), "00011000"},
        {SYM("false"), "00011000"},
        {NUL, "00010000"},
        {S("ab"), "00000110"},
        {S(""), "00000110"},
        {B("ab"), "00000100"},
        {PTR(&x), "00000000"},
        {TUP(I(1)), "00000001"},
        {EMPTY_TUPLE, "00000001"},
        {LST(I(1)), "00000010"},
        {EMPTY_LIST, "00000010"},
    };
    for (size_t r = 0; r < CTRACE__ARRAY_SIZE(rows); r++)
        for (size_t f = 0; f < CTRACE__ARRAY_SIZE(fns); f++) {
            char guard[64];
            snprintf(guard, sizeof(guard), "%s(X)", fns[f]);
            bool got = guard_fires_n(F1, guard, &rows[r].v, 1);
            if (got != (rows[r].expected[f] == '1'))
                fail_msg("row %zu: %s gave %d", r, guard, (int)got);
            /* A type test never raises. */
            snprintf(guard, sizeof(guard), "not %s(X)", fns[f]);
            assert_int_equal(guard_fires_n(F1, guard, &rows[r].v, 1), !got);
        }
}

static void element_picks_from_a_tuple_counting_from_one(void **state)
{
    (void)state;
    struct ctrace_value t = TUP(SYM("a"), SYM("b"));
    assert_true(WHEN(F1, "element(1, X) == a", t));
    assert_true(WHEN(F1, "element(2, X) == b", t));
    assert_true(WHEN(F2, "element(Y, X) == b", t, U(2)));
    assert_true(RAISES(F1, "element(3, X) == b", t));
    assert_true(RAISES(F1, "element(0, X) == b", t));
    assert_true(RAISES(F1, "element(-1, X) == b", t));
    assert_true(RAISES(F2, "element(Y, X) == b", t, D(1.0)));
    assert_true(RAISES(F2, "element(Y, X) == b", t, U(UINT64_MAX)));
    assert_true(RAISES(F1, "element(1, X) == a", LST(SYM("a"))));
    assert_true(RAISES(F1, "element(1, X) == a", S("a")));
    assert_true(RAISES(F1, "element(1, X) == a", EMPTY_TUPLE));
    /* Nested. */
    assert_true(
        WHEN(F1, "element(1, element(2, X)) == 7", TUP(I(0), TUP(I(7)))));
}

static void hd_and_tl_work_on_lists_and_strings(void **state)
{
    (void)state;
    struct ctrace_value l = LST(I(1), I(2), I(3));
    assert_true(WHEN(F1, "hd(X) == 1", l));
    assert_true(WHEN(F1, "tl(X) == [2, 3]", l));
    assert_true(WHEN(F1, "hd(tl(tl(X))) == 3", l));
    assert_true(WHEN(F1, "tl(tl(tl(X))) == []", l));
    assert_true(RAISES(F1, "hd(tl(tl(tl(X)))) == 3", l));
    assert_true(RAISES(F1, "hd(X) == 1", EMPTY_LIST));
    assert_true(RAISES(F1, "tl(X) == []", EMPTY_LIST));
    /* Strings and bytes read as lists of byte codes. */
    assert_true(WHEN(F1, "hd(X) == $a", S("abc")));
    assert_true(WHEN(F1, "hd(X) =:= 255", B("\xff")));
    assert_true(WHEN(F1, "tl(X) == \"bc\"", S("abc")));
    assert_true(WHEN(F1, "is_list(tl(X))", S("abc")));
    assert_true(WHEN(F1, "is_binary(tl(X)), not is_list(tl(X))", B("abc")));
    assert_true(RAISES(F1, "hd(X) == 1", S("")));
    assert_true(RAISES(F1, "tl(X) == 1", B("")));
    /* Anything else raises. */
    assert_true(RAISES(F1, "hd(X) == 1", TUP(I(1))));
    assert_true(RAISES(F1, "tl(X) == 1", I(1)));
    assert_true(RAISES(F1, "hd(X) == 1", SYM("a")));
}

static void length_and_sizes_count_elements_and_bytes(void **state)
{
    (void)state;
    assert_true(WHEN(F1, "length(X) == 3", LST(I(1), I(2), I(3))));
    assert_true(WHEN(F1, "length(X) == 0", EMPTY_LIST));
    assert_true(WHEN(F1, "length(X) == 3", S("abc")));
    assert_true(WHEN(F1, "length(X) == 2", B("\x00\x01")));
    assert_true(RAISES(F1, "length(X) == 1", TUP(I(1))));
    assert_true(RAISES(F1, "length(X) == 1", I(1)));
    assert_true(WHEN(F1, "size(X) == 2", TUP(I(1), I(2))));
    assert_true(WHEN(F1, "size(X) == 3", S("abc")));
    assert_true(WHEN(F1, "size(X) == 3", B("abc")));
    assert_true(RAISES(F1, "size(X) == 1", LST(I(1))));
    assert_true(RAISES(F1, "size(X) == 1", SYM("a")));
    assert_true(WHEN(F1, "byte_size(X) == 5", S("Tihon")));
    assert_true(WHEN(F1, "byte_size(X) == 0", B("")));
    assert_true(RAISES(F1, "byte_size(X) == 1", LST(I(1))));
    assert_true(RAISES(F1, "byte_size(X) == 1", TUP(I(1))));
    assert_true(WHEN(F1, "tuple_size(X) == 0", EMPTY_TUPLE));
    assert_true(WHEN(F1, "tuple_size(X) == 2", TUP(I(1), I(2))));
    assert_true(RAISES(F1, "tuple_size(X) == 1", S("a")));
    assert_true(RAISES(F1, "tuple_size(X) == 1", LST(I(1))));
}

static void binary_part_takes_a_slice_of_a_string_or_bytes(void **state)
{
    (void)state;
    assert_true(WHEN(F1, "binary_part(X, 1, 2) == \"bc\"", S("abcd")));
    assert_true(WHEN(F1, "binary_part(X, 0, 4) == \"abcd\"", S("abcd")));
    assert_true(WHEN(F1, "binary_part(X, 4, 0) == \"\"", S("abcd")));
    /* A negative length counts back from the start. */
    assert_true(WHEN(F1, "binary_part(X, 3, -2) == \"bc\"", S("abcd")));
    assert_true(WHEN(F1, "binary_part(X, 4, -4) == \"abcd\"", S("abcd")));
    /* The slice keeps the kind. */
    assert_true(WHEN(F1, "is_list(binary_part(X, 0, 1))", S("ab")));
    assert_false(WHEN(F1, "is_list(binary_part(X, 0, 1))", B("ab")));
    /* Out of range, or not a binary, raises. */
    assert_true(RAISES(F1, "binary_part(X, 3, 2) == \"d\"", S("abcd")));
    assert_true(RAISES(F1, "binary_part(X, 5, 0) == \"\"", S("abcd")));
    assert_true(RAISES(F1, "binary_part(X, -1, 1) == \"a\"", S("abcd")));
    assert_true(RAISES(F1, "binary_part(X, 1, -2) == \"a\"", S("abcd")));
    assert_true(
        RAISES(F2, "binary_part(X, 0, Y) == \"a\"", S("abcd"), U(UINT64_MAX)));
    assert_true(RAISES(F2, "binary_part(X, Y, 1) == \"a\"", S("abcd"), D(0.0)));
    assert_true(RAISES(F1, "binary_part(X, 0, 1) == \"a\"", LST(I('a'))));
    assert_true(RAISES(F1, "binary_part(X, 0, 1) == \"a\"", SYM("a")));
}

static void abs_min_max_work_on_numbers_and_terms(void **state)
{
    (void)state;
    assert_true(WHEN(F1, "abs(X) =:= 5", I(-5)));
    assert_true(WHEN(F1, "abs(X) =:= 5", U(5)));
    assert_true(WHEN(F1, "abs(X) =:= 2.5", D(-2.5)));
    assert_true(WHEN(F1, "abs(X) =:= 9223372036854775808", I(INT64_MIN)));
    assert_true(RAISES(F1, "abs(X) == 1", SYM("a")));
    assert_true(WHEN(F2, "min(X, Y) =:= 1", I(1), I(2)));
    assert_true(WHEN(F2, "max(X, Y) =:= 2", I(1), I(2)));
    assert_true(WHEN(F2, "max(X, Y) == a", I(1), SYM("a")));
    assert_true(WHEN(F2, "min(X, Y) == {}", S("a"), EMPTY_TUPLE));
    /* Of two equal terms, the first wins. */
    assert_true(WHEN(F2, "min(X, Y) =:= 1", I(1), D(1.0)));
    assert_true(WHEN(F2, "min(X, Y) =:= 1.0", D(1.0), I(1)));
    assert_true(WHEN(F2, "max(X, Y) =:= 1", I(1), D(1.0)));
}

static void trunc_round_and_float_convert_numbers(void **state)
{
    (void)state;
    assert_true(WHEN(F1, "trunc(X) =:= 2", D(2.7)));
    assert_true(WHEN(F1, "trunc(X) =:= -2", D(-2.7)));
    assert_true(WHEN(F1, "trunc(X) =:= 7", I(7)));
    assert_true(WHEN(F1, "trunc(X) =:= 7", U(7)));
    assert_true(WHEN(F1, "round(X) =:= 3", D(2.5)));
    assert_true(WHEN(F1, "round(X) =:= -3", D(-2.5)));
    assert_true(WHEN(F1, "round(X) =:= 2", D(2.49)));
    assert_true(WHEN(F1, "round(X) =:= 0", D(0.49999999999999994)));
    assert_true(
        WHEN(F1, "round(X) =:= 4503599627370497", D(4503599627370497.0)));
    assert_true(WHEN(F1, "trunc(X) =:= 10000000000000000000", D(1e19)));
    assert_true(WHEN(
        F1, "trunc(X) =:= -9223372036854775808", D(-9223372036854775808.0)));
    assert_true(RAISES(F1, "trunc(X) > 0", D(1e20)));
    assert_true(RAISES(F1, "trunc(X) < 0", D(-1e19)));
    assert_true(RAISES(F1, "round(X) > 0", D(INFINITY)));
    assert_true(RAISES(F1, "trunc(X) > 0", D(NAN)));
    assert_true(RAISES(F1, "trunc(X) > 0", S("1")));
    assert_true(RAISES(F1, "round(X) > 0", SYM("a")));
    assert_true(WHEN(F1, "float(X) =:= 3.0", I(3)));
    assert_true(WHEN(F1, "float(X) =:= 3.0", U(3)));
    assert_true(WHEN(F1, "float(X) =:= 3.5", D(3.5)));
    assert_true(RAISES(F1, "float(X) > 0", S("3")));
    assert_true(RAISES(F1, "float(X) > 0", BOOL_T));
}

static void guard_builds_tuples_and_lists_from_variables(void **state)
{
    (void)state;
    assert_true(WHEN(F2, "{X, 1} == Y", SYM("a"), TUP(SYM("a"), I(1))));
    assert_false(WHEN(F2, "{X, 1} == Y", SYM("a"), TUP(SYM("a"), I(2))));
    assert_true(WHEN(F2, "[X, 2] == Y", I(1), LST(I(1), I(2))));
    assert_true(WHEN(F2, "{X, [Y, {X}]} =:= {1, [2, {1}]}", I(1), I(2)));
    assert_true(WHEN(F2, "[X | Y] == [1, 2, 3]", I(1), LST(I(2), I(3))));
    assert_true(WHEN(F2, "[X | Y] == [1, $a]", I(1), S("a")));
    assert_true(RAISES(F2, "[X | Y] == [1]", I(1), I(2)));
    assert_true(WHEN(F1, "element(2, {a, X}) == 7", I(7)));
    assert_true(WHEN(F1, "hd([X]) == 7", I(7)));
    assert_true(WHEN(F1, "tuple_size({X, X, X}) == 3", I(7)));
    assert_true(WHEN(F1, "{} < [X]", I(7)));
}

/* A guard `length([X, X, ...]) == n` with `n` elements. */
static void list_length_guard(char *buf, size_t size, unsigned n)
{
    int len = snprintf(buf, size, "length([");
    for (unsigned i = 0; i < n; i++)
        len += snprintf(buf + len, size - (size_t)len, i ? ", X" : "X");
    snprintf(buf + len, size - (size_t)len, "]) == %u", n);
}

static void guard_terms_share_a_bounded_scratch_space(void **state)
{
    (void)state;
    char guard[1024], twice[2100];
    /* 64 values fit at once. */
    list_length_guard(guard, sizeof(guard), 64);
    assert_true(WHEN(F1, guard, I(1)));
    /* The space goes back after each comparison. */
    snprintf(twice, sizeof(twice), "%s, %s", guard, guard);
    assert_true(WHEN(F1, twice, I(1)));
    /* One more value is an exception. */
    list_length_guard(guard, sizeof(guard), 65);
    assert_true(RAISES(F1, guard, I(1)));
    /* A tail list counts as well: 63 + 2 elements. */
    list_length_guard(guard, sizeof(guard), 63);
    char *close = strstr(guard, "])");
    assert_non_null(close);
    snprintf(
        twice, sizeof(twice), "%.*s | Y]) == 65", (int)(close - guard), guard);
    assert_true(RAISES(F2, twice, I(1), LST(I(2), I(3))));
    snprintf(
        twice, sizeof(twice), "%.*s | Y]) == 64", (int)(close - guard), guard);
    assert_true(WHEN(F2, twice, I(1), LST(I(2))));
}

/* Selection. */

static bool selects(const char *text,
                    const char *module,
                    const char *function,
                    unsigned arity)
{
    struct ctrace__spec *spec = parse(text);
    bool selected = ctrace__spec_selects(spec, module, function, arity);
    ctrace__spec_free(spec);
    return selected;
}

static void selects_by_exact_module_function_and_arity(void **state)
{
    (void)state;
    assert_true(selects("cat_traveler:enter/2", "cat_traveler", "enter", 2));
    assert_false(selects("cat_traveler:enter/2", "cat_traveler", "enter", 3));
    assert_false(selects("cat_traveler:enter/2", "cat_traveler", "leave", 2));
    assert_false(selects("cat_traveler:enter/2", "cat_travele", "enter", 2));
    assert_false(selects("cat_traveler:enter/2", "cat_travelers", "enter", 2));
    /* Argument patterns fix the arity. */
    assert_true(
        selects("cat_traveler:enter(_, _)", "cat_traveler", "enter", 2));
    assert_false(
        selects("cat_traveler:enter(_, _)", "cat_traveler", "enter", 1));
    assert_true(selects("cat_traveler:enter()", "cat_traveler", "enter", 0));
    assert_false(selects("cat_traveler:enter()", "cat_traveler", "enter", 1));
}

static void selects_any_arity_or_function_when_left_out(void **state)
{
    (void)state;
    assert_true(selects("cat_traveler:enter", "cat_traveler", "enter", 0));
    assert_true(selects("cat_traveler:enter", "cat_traveler", "enter", 7));
    assert_false(selects("cat_traveler:enter", "cat_traveler", "leave", 7));
    assert_true(selects("cat_traveler", "cat_traveler", "enter", 2));
    assert_true(selects("cat_traveler", "cat_traveler", "leave", 0));
    assert_false(selects("cat_traveler", "dog_traveler", "leave", 0));
    assert_true(selects("cat_traveler:_", "cat_traveler", "leave", 0));
    assert_true(selects("cat_traveler:'_'", "cat_traveler", "leave", 0));
    assert_true(selects("cat_traveler:F", "cat_traveler", "leave", 0));
    assert_true(selects("cat_traveler:_/1", "cat_traveler", "leave", 1));
    assert_false(selects("cat_traveler:_/1", "cat_traveler", "leave", 2));
}

static void selects_wildcard_and_glob_names(void **state)
{
    (void)state;
    assert_true(selects("_:enter", "cat_traveler", "enter", 2));
    assert_true(selects("'_':enter", "dog", "enter", 2));
    assert_true(selects("M:enter", "dog", "enter", 2));
    assert_false(selects("_:enter", "dog", "leave", 2));
    assert_true(selects("cat_*:enter", "cat_traveler", "enter", 2));
    assert_true(selects("cat_*:enter", "cat_", "enter", 2));
    assert_false(selects("cat_*:enter", "dog_traveler", "enter", 2));
    assert_true(selects("*_traveler:en*", "cat_traveler", "enter", 2));
    assert_false(selects("*_traveler:en*", "cat_traveler", "leave", 2));
    assert_true(selects("cat_traveler:*", "cat_traveler", "leave", 2));
    assert_true(selects("cat_traveler:*ter/2", "cat_traveler", "enter", 2));
    assert_false(selects("cat_traveler:*ter/2", "cat_traveler", "enter", 3));
}

static void quoted_names_are_not_globs(void **state)
{
    (void)state;
    assert_true(selects("'cat*':enter", "cat*", "enter", 1));
    assert_false(selects("'cat*':enter", "cat_traveler", "enter", 1));
    assert_true(selects("cat:'en*'", "cat", "en*", 1));
    assert_false(selects("cat:'en*'", "cat", "enter", 1));
}

static void process_event_specs_select_no_trace_point(void **state)
{
    (void)state;
    const char *specs[] = {"send", "receive", "'receive'", "procs"};
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(specs); i++) {
        assert_false(selects(specs[i], "send", "send", 0));
        assert_false(selects(specs[i], "receive", "x", 1));
        assert_false(selects(specs[i], "procs", "procs", 0));
    }
}

static void selects_rejects_null_names(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("_:_");
    assert_true(ctrace__spec_selects(spec, "m", "f", 0));
    assert_false(ctrace__spec_selects(spec, NULL, "f", 0));
    assert_false(ctrace__spec_selects(spec, "m", NULL, 0));
    assert_false(ctrace__spec_selects(NULL, "m", "f", 0));
    ctrace__spec_free(spec);
}

/* Allocation. */

/*
 * Counts calls to malloc, calloc and realloc by replacing them (glibc
 * allows it and provides __libc_malloc and friends to forward to). Under
 * the sanitizers, which replace them themselves, the count is unavailable.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NO_MALLOC_COUNT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define NO_MALLOC_COUNT 1
#endif
#endif

#ifndef NO_MALLOC_COUNT
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

static bool counting;
static unsigned long alloc_calls;

void *malloc(size_t size)
{
    if (counting)
        alloc_calls++;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    if (counting)
        alloc_calls++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    if (counting)
        alloc_calls++;
    return __libc_realloc(p, size);
}
#endif

static void match_allocates_nothing(void **state)
{
    (void)state;
#ifdef NO_MALLOC_COUNT
    skip();
#else
    static const char *const specs[] = {
        "m:f(X, X, _)",
        "m:f({a, [H | T]}, \"Ti\" ++ R, [_ | S]) when H > 1",
        "m:f(X, Y, Z) when {X, [Y]} =/= Z andalso length(Z) > 1",
        "m:f(X, Y, Z) when hd(Z) + length(element(2, X)) * 2 > 0; tl(Y) == "
        "\"ihon\"",
        ("m:f(X, Y, Z) when binary_part(Y, 1, 2) == \"ih\", abs(-3) == 3, "
         "trunc(2.5) < round(2.5), max(X, Y) == Y, float(1) == 1"),
        "m:f(X, Y, Z) when X div 0 == 1",
    };
    const struct ctrace_value args[] = {
        TUP(SYM("a"), LST(I(2), I(3))),
        S("Tihon"),
        LST(I(1), I(2)),
    };
    struct ctrace__spec *parsed[CTRACE__ARRAY_SIZE(specs)];
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(specs); i++)
        parsed[i] = parse(specs[i]);
    unsigned fired = 0;
    alloc_calls = 0;
    counting = true;
    for (int round = 0; round < 100; round++)
        for (size_t i = 0; i < CTRACE__ARRAY_SIZE(specs); i++)
            fired += ctrace__spec_match(parsed[i], args, 3);
    counting = false;
    assert_int_equal(alloc_calls, 0);
    /* The specs did run: all but the first and the last fire. */
    assert_int_equal(fired, 100 * 4);
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(specs); i++)
        ctrace__spec_free(parsed[i]);
    /* And the counter does count. */
    counting = true;
    ctrace_free(ctrace_value_to_term(&args[0], NULL));
    counting = false;
    assert_true(alloc_calls > 0);
#endif
}

/* The flat form (ctrace__spec_flat_match) against the full matcher. */

static struct ctrace__spec *parse_ok(const char *text)
{
    struct ctrace_error err;
    struct ctrace__spec *spec = ctrace__spec_parse(text, strlen(text), &err);
    if (spec == NULL)
        fail_msg("%s: %s", text, err.text);
    return spec;
}

/*
 * Every spec against every pair of argument values: a flat NO or YES must
 * be what ctrace__spec_match() says, and a MAYBE must stand for a case the
 * full matcher still has to decide.
 */
static void flat_match_agrees_with_the_full_matcher(void **state)
{
    (void)state;
    static const char *const specs[] = {
        "m:f",
        "m:f/2",
        "m:f()",
        "m:f(_, _)",
        "m:f(\"Tihon\", _)",
        "m:f(<<\"Tihon\">>, _)",
        "m:f(\"Ti\" ++ _, _)",
        "m:f(\"Ti\" ++ T, _)",
        "m:f(<<\"Ti\", T/binary>>, T)",
        "m:f(_, 1)",
        "m:f(_, -1)",
        "m:f(_, 0)",
        "m:f(_, 18446744073709551615)",
        "m:f(_, 9223372036854775807)",
        "m:f(_, 1.0)",
        "m:f(_, ok)",
        "m:f(_, true)",
        "m:f(_, false)",
        "m:f(_, null)",
        "m:f(_, '')",
        "m:f(X, X)",
        "m:f(X, _) when X == \"Tihon\"",
        "m:f(\"Tihon\", X) when X > 1",
        "m:f({A, _}, _)",
        "m:f([_ | _], _)",
        "m:f(\"\", _)",
    };
    int x = 0;
    const struct ctrace_value vals[] = {
        S("Tihon"),
        B("Tihon"),
        S("Tim"),
        S("Ti"),
        S("T"),
        S(""),
        SYM("Tihon"),
        SYM("ok"),
        SYM("true"),
        SYM(""),
        SYM("null"),
        BOOL_T,
        BOOL_F,
        NUL,
        I(1),
        I(-1),
        I(0),
        U(1),
        U(0),
        U(UINT64_MAX),
        I(INT64_MAX),
        U((uint64_t)INT64_MAX),
        D(1.0),
        D(-1.0),
        PTR(&x),
        ctrace_value_pid(1),
        TUP(I(1), I(2)),
        LST(I(1)),
        EMPTY_LIST,
    };
    size_t nv = CTRACE__ARRAY_SIZE(vals);
    unsigned decided = 0;
    for (size_t k = 0; k < CTRACE__ARRAY_SIZE(specs); k++) {
        struct ctrace__spec *spec = parse_ok(specs[k]);
        for (size_t n = 0; n <= 2; n++)
            for (size_t i = 0; i < nv; i++)
                for (size_t j = 0; j < nv; j++) {
                    const struct ctrace_value args[2] = {vals[i], vals[j]};
                    bool full = ctrace__spec_match(spec, args, n);
                    enum ctrace__flat_result flat =
                        ctrace__spec_flat_match(spec, args, n);
                    /* `always` stands for a YES the engine does not ask. */
                    if (spec->flat.always && !full)
                        fail_msg("%s with %zu args: always, yet no match",
                                 specs[k],
                                 n);
                    if (flat == CTRACE__FLAT_MAYBE)
                        continue;
                    decided++;
                    if ((flat == CTRACE__FLAT_YES) != full)
                        fail_msg("%s with %zu args (value %zu, %zu): flat "
                                 "says %s, full match says %s",
                                 specs[k],
                                 n,
                                 i,
                                 j,
                                 flat == CTRACE__FLAT_YES ? "yes" : "no",
                                 full ? "yes" : "no");
                }
        ctrace__spec_free(spec);
    }
    /* The flat form decided most cases, or this test checks nothing. */
    assert_true(decided > CTRACE__ARRAY_SIZE(specs) * nv * nv);
}

/* Which specs the flat form decides alone, and which it leaves open. */
static void
flat_form_decides_literals_and_leaves_guards_to_the_matcher(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool decides;
        unsigned nchecks;
        bool always;
    } cases[] = {
        {"m:f", true, 0, true},
        {"m:f/2", true, 0, true},
        {"m:f(_, _)", true, 0, false}, /* the count is still checked */
        {"m:f(\"Tihon\", _)", true, 1, false},
        {"m:f(\"Ti\" ++ T, 1)", true, 2, false},
        {"m:f(X, X)", false, 0, false},
        {"m:f(X, _) when X == 1", false, 0, false},
        {"m:f(_, _) when true", false, 0, false},
        {"m:f({A, _}, ok)", false, 1, false},
        {"m:f(_, 1.0)", false, 0, false},
    };
    for (size_t k = 0; k < CTRACE__ARRAY_SIZE(cases); k++) {
        struct ctrace__spec *spec = parse_ok(cases[k].text);
        if (spec->flat.decides != cases[k].decides ||
            spec->flat.nchecks != cases[k].nchecks ||
            spec->flat.always != cases[k].always)
            fail_msg("%s: decides %d with %u checks, always %d, expected %d "
                     "with %u, always %d",
                     cases[k].text,
                     spec->flat.decides,
                     spec->flat.nchecks,
                     spec->flat.always,
                     cases[k].decides,
                     cases[k].nchecks,
                     cases[k].always);
        ctrace__spec_free(spec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            cmp_orders_numbers_atoms_pointers_tuples_lists_binaries),
        cmocka_unit_test(cmp_compares_int_and_uint_exactly),
        cmocka_unit_test(cmp_compares_integers_with_doubles_without_rounding),
        cmocka_unit_test(cmp_exact_keeps_integers_and_doubles_apart),
        cmocka_unit_test(cmp_orders_nan_after_every_number_and_equal_to_itself),
        cmocka_unit_test(pid_equals_only_the_same_pid_never_an_integer),
        cmocka_unit_test(cmp_treats_zero_and_negative_zero_as_equal),
        cmocka_unit_test(
            cmp_compares_atoms_by_name_with_bool_and_null_as_atoms),
        cmocka_unit_test(cmp_compares_pointers_by_address),
        cmocka_unit_test(cmp_compares_strings_and_bytes_by_bytes_then_length),
        cmocka_unit_test(cmp_compares_tuples_by_size_then_elements),
        cmocka_unit_test(cmp_compares_lists_elementwise_then_by_length),
        cmocka_unit_test(cmp_walks_deep_values_without_recursing),
        cmocka_unit_test(cmp_is_antisymmetric_and_transitive_over_samples),
        cmocka_unit_test(glob_star_matches_any_run_including_none),
        cmocka_unit_test(glob_without_star_matches_exactly),
        cmocka_unit_test(glob_backtracks_over_several_stars),
        cmocka_unit_test(glob_is_fast_on_pathological_names),
        cmocka_unit_test(glob_rejects_null),
        cmocka_unit_test(any_pattern_matches_every_kind_of_value),
        cmocka_unit_test(repeated_variable_requires_exactly_equal_values),
        cmocka_unit_test(repeated_variable_binds_through_nested_patterns),
        cmocka_unit_test(
            integer_literal_matches_int_and_uint_of_the_same_value),
        cmocka_unit_test(float_literal_matches_only_an_equal_double),
        cmocka_unit_test(
            string_literal_matches_string_or_bytes_with_the_same_bytes),
        cmocka_unit_test(atom_literal_matches_symbols_bools_and_null),
        cmocka_unit_test(
            tuple_pattern_matches_tuples_of_the_same_size_elementwise),
        cmocka_unit_test(list_pattern_matches_lists_elementwise),
        cmocka_unit_test(list_pattern_with_tail_binds_the_rest_as_a_list),
        cmocka_unit_test(list_pattern_reads_strings_and_bytes_as_byte_codes),
        cmocka_unit_test(
            prefix_pattern_matches_strings_and_bytes_that_start_with_it),
        cmocka_unit_test(spec_without_argument_patterns_matches_any_arguments),
        cmocka_unit_test(argument_count_must_equal_the_number_of_patterns),
        cmocka_unit_test(matching_deep_values_does_not_recurse_into_them),
        cmocka_unit_test(deepest_spec_the_parser_accepts_still_matches),
        cmocka_unit_test(guard_fires_only_on_the_atom_true),
        cmocka_unit_test(comparison_operators_follow_the_term_order),
        cmocka_unit_test(comparison_of_a_guard_list_with_a_string_is_false),
        cmocka_unit_test(andalso_and_orelse_short_circuit),
        cmocka_unit_test(andalso_and_orelse_need_a_boolean_on_the_left_only),
        cmocka_unit_test(and_or_xor_not_evaluate_both_sides_and_need_booleans),
        cmocka_unit_test(semicolon_does_not_catch_an_exception_on_its_left),
        cmocka_unit_test(arithmetic_follows_erlang_rules),
        cmocka_unit_test(arithmetic_on_non_numbers_raises),
        cmocka_unit_test(division_by_zero_raises),
        cmocka_unit_test(integer_overflow_raises_instead_of_wrapping),
        cmocka_unit_test(float_overflow_raises),
        cmocka_unit_test(type_tests_classify_every_kind),
        cmocka_unit_test(element_picks_from_a_tuple_counting_from_one),
        cmocka_unit_test(hd_and_tl_work_on_lists_and_strings),
        cmocka_unit_test(length_and_sizes_count_elements_and_bytes),
        cmocka_unit_test(binary_part_takes_a_slice_of_a_string_or_bytes),
        cmocka_unit_test(abs_min_max_work_on_numbers_and_terms),
        cmocka_unit_test(trunc_round_and_float_convert_numbers),
        cmocka_unit_test(guard_builds_tuples_and_lists_from_variables),
        cmocka_unit_test(guard_terms_share_a_bounded_scratch_space),
        cmocka_unit_test(selects_by_exact_module_function_and_arity),
        cmocka_unit_test(selects_any_arity_or_function_when_left_out),
        cmocka_unit_test(selects_wildcard_and_glob_names),
        cmocka_unit_test(quoted_names_are_not_globs),
        cmocka_unit_test(process_event_specs_select_no_trace_point),
        cmocka_unit_test(selects_rejects_null_names),
        cmocka_unit_test(match_allocates_nothing),
        cmocka_unit_test(flat_match_agrees_with_the_full_matcher),
        cmocka_unit_test(
            flat_form_decides_literals_and_leaves_guards_to_the_matcher),
    };
    return cmocka_run_group_tests_name("match", tests, NULL, NULL);
}
