/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the value renderers: every kind in both formats, every
 * escape, the limits of struct ctrace_render_opts, and the snprintf-like
 * buffer contract of ctrace_value_format() and ctrace_value_format_json().
 * JSON output is also checked by parsing it back with jansson.
 */
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ctrace/value.h"

/* Large enough for every rendering here that is expected to fit. */
#define BIG 8192

static struct ctrace_render_opts opts_with(unsigned depth, size_t max_size)
{
    struct ctrace_render_opts o;
    ctrace_render_opts_init(&o);
    o.depth = depth;
    o.max_size = max_size;
    return o;
}

/*
 * Checks both the buffer form and the allocating form of the term renderer,
 * and that the returned length is the length of what was written.
 */
static void check_term(const struct ctrace_value *v,
                       const struct ctrace_render_opts *o,
                       const char *expected)
{
    char buf[BIG];
    size_t n = ctrace_value_format(v, o, buf, sizeof(buf));
    assert_string_equal(buf, expected);
    assert_int_equal(n, strlen(expected));

    char *s = ctrace_value_to_term(v, o);
    assert_non_null(s);
    assert_string_equal(s, expected);
    ctrace_free(s);
}

/*
 * As check_term() for JSON, and the output must parse with jansson (strict
 * UTF-8, any top-level value, NUL escapes allowed).
 */
static void check_json(const struct ctrace_value *v,
                       const struct ctrace_render_opts *o,
                       const char *expected)
{
    char buf[BIG];
    size_t n = ctrace_value_format_json(v, o, buf, sizeof(buf));
    assert_string_equal(buf, expected);
    assert_int_equal(n, strlen(expected));

    char *s = ctrace_value_to_json(v, o);
    assert_non_null(s);
    assert_string_equal(s, expected);
    ctrace_free(s);

    json_error_t error;
    json_t *parsed =
        json_loads(expected, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (parsed == NULL)
        fail_msg("invalid JSON %s: %s", expected, error.text);
    json_decref(parsed);
}

/* Options */

static void render_opts_init_sets_documented_defaults(void **state)
{
    (void)state;
    struct ctrace_render_opts o = {99, 99};
    ctrace_render_opts_init(&o);
    assert_int_equal(o.depth, 0);
    assert_int_equal(o.max_size, 1024);
}

/* Integers */

static void int_prints_in_decimal(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_int(42);
    check_term(&v, NULL, "42");
    check_json(&v, NULL, "42");
    v = ctrace_value_int(-7);
    check_term(&v, NULL, "-7");
    check_json(&v, NULL, "-7");
    v = ctrace_value_int(0);
    check_term(&v, NULL, "0");
    check_json(&v, NULL, "0");
}

static void int64_min_and_max_print_exactly(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_int(INT64_MIN);
    check_term(&v, NULL, "-9223372036854775808");
    check_json(&v, NULL, "-9223372036854775808");
    v = ctrace_value_int(INT64_MAX);
    check_term(&v, NULL, "9223372036854775807");
    check_json(&v, NULL, "9223372036854775807");
}

static void uint64_max_prints_exactly(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_uint(UINT64_MAX);
    check_term(&v, NULL, "18446744073709551615");
    /* Beyond jansson's integers, so compared as text only. */
    char buf[64];
    assert_int_equal(ctrace_value_format_json(&v, NULL, buf, sizeof(buf)), 20);
    assert_string_equal(buf, "18446744073709551615");
    v = ctrace_value_uint(0);
    check_term(&v, NULL, "0");
    check_json(&v, NULL, "0");
}

/* Doubles */

static void double_prints_shortest_text_that_round_trips(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *text;
    } cases[] = {
        {3.5, "3.5"},
        {0.1, "0.1"},
        {-2.25, "-2.25"},
        {1.0 / 3.0, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.5e-7, "1.5e-07"},
        {123456.789, "123456.789"},
        {5e-324, "4.94065645841247e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctrace_value v = ctrace_value_double(cases[i].d);
        check_term(&v, NULL, cases[i].text);
        check_json(&v, NULL, cases[i].text);
        assert_true(strtod(cases[i].text, NULL) == cases[i].d);
    }
}

static void double_with_integral_value_keeps_a_point(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_double(1.0);
    check_term(&v, NULL, "1.0");
    check_json(&v, NULL, "1.0");
    v = ctrace_value_double(100.0);
    check_term(&v, NULL, "100.0");
    v = ctrace_value_double(-0.0);
    check_term(&v, NULL, "-0.0");
    check_json(&v, NULL, "-0.0");
    v = ctrace_value_double(1e20);
    check_term(&v, NULL, "1.0e+20");
    check_json(&v, NULL, "1.0e+20");
    v = ctrace_value_double(-1e-20);
    check_term(&v, NULL, "-1.0e-20");
}

static void double_non_finite_prints_as_words(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_double(NAN);
    check_term(&v, NULL, "nan");
    check_json(&v, NULL, "\"nan\"");
    v = ctrace_value_double(-NAN);
    check_term(&v, NULL, "nan");
    v = ctrace_value_double(INFINITY);
    check_term(&v, NULL, "inf");
    check_json(&v, NULL, "\"inf\"");
    v = ctrace_value_double(-INFINITY);
    check_term(&v, NULL, "-inf");
    check_json(&v, NULL, "\"-inf\"");
}

static void double_uses_a_point_whatever_the_locale(void **state)
{
    (void)state;
    static const char *const comma_locales[] = {
        "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8"};
    const char *found = NULL;
    for (size_t i = 0; i < 4 && found == NULL; i++)
        found = setlocale(LC_NUMERIC, comma_locales[i]);
    if (found == NULL)
        skip();
    struct ctrace_value v = ctrace_value_double(3.5);
    char buf[32];
    ctrace_value_format(&v, NULL, buf, sizeof(buf));
    setlocale(LC_NUMERIC, "C");
    assert_string_equal(buf, "3.5");
}

/* Booleans, null, pointers */

static void bool_prints_as_atom_or_json_boolean(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_bool(true);
    check_term(&v, NULL, "true");
    check_json(&v, NULL, "true");
    v = ctrace_value_bool(false);
    check_term(&v, NULL, "false");
    check_json(&v, NULL, "false");
}

static void null_prints_null(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_null();
    check_term(&v, NULL, "null");
    check_json(&v, NULL, "null");
    /* The C-string constructors turn NULL into the null value. */
    v = ctrace_value_string(NULL);
    check_term(&v, NULL, "null");
    v = ctrace_value_symbol(NULL);
    check_json(&v, NULL, "null");
}

static void null_value_pointer_prints_null(void **state)
{
    (void)state;
    check_term(NULL, NULL, "null");
    check_json(NULL, NULL, "null");
}

static void pointer_prints_lowercase_hex(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_pointer((const void *)0x7ffd5e1cUL);
    check_term(&v, NULL, "0x7ffd5e1c");
    check_json(&v, NULL, "{\"pointer\":\"0x7ffd5e1c\"}");
    v = ctrace_value_pointer((const void *)0xABCDEFUL);
    check_term(&v, NULL, "0xabcdef");
}

static void null_pointer_prints_0x0(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_pointer(NULL);
    check_term(&v, NULL, "0x0");
    check_json(&v, NULL, "{\"pointer\":\"0x0\"}");
}

static void pid_prints_as_a_pid_wherever_it_appears(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_pid(335);
    check_term(&v, NULL, "<0.335.0>");
    check_json(&v, NULL, "{\"pid\":335,\"text\":\"<0.335.0>\"}");
    /* A server's From inside a term, as handle_call's arguments are. */
    struct ctrace_value items[2] = {ctrace_value_symbol("EXIT"),
                                    ctrace_value_pid(7)};
    v = ctrace_value_tuple(items, 2);
    check_term(&v, NULL, "{'EXIT',<0.7.0>}");
    check_json(&v,
               NULL,
               "{\"tuple\":[{\"atom\":\"EXIT\"},{\"pid\":7,\"text\":"
               "\"<0.7.0>\"}]}");
}

/* Strings */

static void string_prints_in_double_quotes(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("Tihon");
    check_term(&v, NULL, "\"Tihon\"");
    check_json(&v, NULL, "\"Tihon\"");
    v = ctrace_value_string("");
    check_term(&v, NULL, "\"\"");
    check_json(&v, NULL, "\"\"");
    v = ctrace_value_stringn(NULL, 0);
    check_term(&v, NULL, "\"\"");
}

static void string_with_quote_is_escaped(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("say \"hi\"");
    check_term(&v, NULL, "\"say \\\"hi\\\"\"");
    check_json(&v, NULL, "\"say \\\"hi\\\"\"");
    /* A single quote needs no escape inside double quotes. */
    v = ctrace_value_string("it's");
    check_term(&v, NULL, "\"it's\"");
    check_json(&v, NULL, "\"it's\"");
}

static void string_with_backslash_is_escaped(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("C:\\cats");
    check_term(&v, NULL, "\"C:\\\\cats\"");
    check_json(&v, NULL, "\"C:\\\\cats\"");
}

static void string_newline_tab_return_use_short_escapes(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("a\nb\tc\rd");
    check_term(&v, NULL, "\"a\\nb\\tc\\rd\"");
    check_json(&v, NULL, "\"a\\nb\\tc\\rd\"");
}

static void string_other_control_bytes_are_hex_escaped(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("\x01\b\f\x1b\x1f\x7f");
    check_term(&v, NULL, "\"\\x01\\x08\\x0c\\x1b\\x1f\\x7f\"");
    check_json(&v, NULL, "\"\\u0001\\b\\f\\u001b\\u001f\\u007f\"");
}

static void string_with_nul_byte_prints_all_bytes(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_stringn("a\0b", 3);
    check_term(&v, NULL, "\"a\\x00b\"");
    check_json(&v, NULL, "\"a\\u0000b\"");
}

static void string_valid_utf8_is_copied(void **state)
{
    (void)state;
    /* é (2 bytes), € (3 bytes), U+1F431 cat face (4 bytes). */
    struct ctrace_value v =
        ctrace_value_string("Tih\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb1");
    check_term(&v, NULL, "\"Tih\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb1\"");
    check_json(&v, NULL, "\"Tih\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb1\"");
}

static void string_invalid_utf8_bytes_are_escaped(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *term;
        const char *json;
    } cases[] = {
        /* A byte that never occurs in UTF-8. */
        {"a\xff"
         "b",
         "\"a\\xffb\"",
         "\"a\\u00ffb\""},
        /* A lone continuation byte. */
        {"\x80z", "\"\\x80z\"", "\"\\u0080z\""},
        /* A sequence cut short by the end of the string. */
        {"x\xe2\x82", "\"x\\xe2\\x82\"", "\"x\\u00e2\\u0082\""},
        /* An overlong encoding of '/'. */
        {"\xc0\xaf", "\"\\xc0\\xaf\"", "\"\\u00c0\\u00af\""},
        /* A UTF-16 surrogate. */
        {"\xed\xa0\x80", "\"\\xed\\xa0\\x80\"", "\"\\u00ed\\u00a0\\u0080\""},
        /* Beyond U+10FFFF. */
        {"\xf4\x90\x80\x80",
         "\"\\xf4\\x90\\x80\\x80\"",
         "\"\\u00f4\\u0090\\u0080\\u0080\""},
        /* A lead byte followed by ASCII, then a valid sequence. */
        {"\xc3"
         "a\xc3\xa9",
         "\"\\xc3a\xc3\xa9\"",
         "\"\\u00c3a\xc3\xa9\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctrace_value v = ctrace_value_string(cases[i].in);
        check_term(&v, NULL, cases[i].term);
        check_json(&v, NULL, cases[i].json);
    }
}

/* Bytes */

static void bytes_print_as_binary_of_numbers(void **state)
{
    (void)state;
    static const unsigned char b[] = {1, 2, 255};
    struct ctrace_value v = ctrace_value_bytes(b, sizeof(b));
    check_term(&v, NULL, "<<1,2,255>>");
    check_json(&v, NULL, "{\"bytes\":[1,2,255]}");
    static const unsigned char z[] = {0};
    v = ctrace_value_bytes(z, 1);
    check_term(&v, NULL, "<<0>>");
}

static void bytes_all_printable_print_as_quoted_binary(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_bytes("abc", 3);
    check_term(&v, NULL, "<<\"abc\">>");
    /* JSON keeps bytes as numbers, printable or not. */
    check_json(&v, NULL, "{\"bytes\":[97,98,99]}");
    v = ctrace_value_bytes(" ~", 2);
    check_term(&v, NULL, "<<\" ~\">>");
}

static void bytes_printable_with_quote_and_backslash_are_escaped(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_bytes("a\"b\\", 4);
    check_term(&v, NULL, "<<\"a\\\"b\\\\\">>");
}

static void bytes_with_one_unprintable_byte_print_as_numbers(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_bytes("ab\n", 3);
    check_term(&v, NULL, "<<97,98,10>>");
    v = ctrace_value_bytes("ab\x7f", 3);
    check_term(&v, NULL, "<<97,98,127>>");
    v = ctrace_value_bytes("\xc3\xa9", 2);
    check_term(&v, NULL, "<<195,169>>");
}

static void bytes_empty_prints_empty_binary(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_bytes(NULL, 0);
    check_term(&v, NULL, "<<>>");
    check_json(&v, NULL, "{\"bytes\":[]}");
}

/* Symbols */

static void symbol_prints_bare_when_it_reads_as_atom(void **state)
{
    (void)state;
    static const char *const bare[] = {
        "ok", "not_in_town", "a", "node@host", "cat2", "aB_9@x", "ands"};
    for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++) {
        struct ctrace_value v = ctrace_value_symbol(bare[i]);
        check_term(&v, NULL, bare[i]);
    }
}

static void symbol_needing_quotes_prints_quoted(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"not an atom", "'not an atom'"},
        {"Elixir.IO", "'Elixir.IO'"},
        {"", "''"},
        {"Ok", "'Ok'"},
        {"_x", "'_x'"},
        {"1a", "'1a'"},
        {"a-b", "'a-b'"},
        {"a.b", "'a.b'"},
        {"caf\xc3\xa9", "'caf\xc3\xa9'"},
        {"say \"hi\"", "'say \"hi\"'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctrace_value v = ctrace_value_symbol(cases[i].in);
        check_term(&v, NULL, cases[i].out);
    }
}

static void symbol_that_is_reserved_word_prints_quoted(void **state)
{
    (void)state;
    static const char *const words[] = {
        "after",  "and",     "andalso", "band", "begin", "bnot", "bor",
        "bsl",    "bsr",     "bxor",    "case", "catch", "cond", "div",
        "end",    "fun",     "if",      "let",  "not",   "of",   "or",
        "orelse", "receive", "rem",     "try",  "when",  "xor"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        char expected[32];
        snprintf(expected, sizeof(expected), "'%s'", words[i]);
        struct ctrace_value v = ctrace_value_symbol(words[i]);
        check_term(&v, NULL, expected);
    }
}

static void symbol_with_quote_or_backslash_is_escaped(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_symbol("it's");
    check_term(&v, NULL, "'it\\'s'");
    check_json(&v, NULL, "{\"atom\":\"it's\"}");
    v = ctrace_value_symbol("a\\b");
    check_term(&v, NULL, "'a\\\\b'");
    check_json(&v, NULL, "{\"atom\":\"a\\\\b\"}");
    v = ctrace_value_symbol("new\nline");
    check_term(&v, NULL, "'new\\nline'");
}

static void symbol_prints_as_atom_object_in_json(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_symbol("ok");
    check_json(&v, NULL, "{\"atom\":\"ok\"}");
    v = ctrace_value_symbol("say \"hi\"");
    check_json(&v, NULL, "{\"atom\":\"say \\\"hi\\\"\"}");
    v = ctrace_value_symbol("");
    check_json(&v, NULL, "{\"atom\":\"\"}");
    v = ctrace_value_stringn("a\xff", 2);
    v.kind = CTRACE_VALUE_SYMBOL;
    check_term(&v, NULL, "'a\\xff'");
    check_json(&v, NULL, "{\"atom\":\"a\\u00ff\"}");
}

static void symbol_is_not_cut_by_max_size(void **state)
{
    (void)state;
    struct ctrace_render_opts o = opts_with(0, 2);
    struct ctrace_value v = ctrace_value_symbol("not_in_town");
    check_term(&v, &o, "not_in_town");
    check_json(&v, &o, "{\"atom\":\"not_in_town\"}");
    v = ctrace_value_symbol("not an atom");
    check_term(&v, &o, "'not an atom'");
}

/* Tuples and lists */

static void tuple_prints_in_braces(void **state)
{
    (void)state;
    struct ctrace_value items[] = {ctrace_value_symbol("cat"),
                                   ctrace_value_string("Tihon")};
    struct ctrace_value v = ctrace_value_tuple(items, 2);
    check_term(&v, NULL, "{cat,\"Tihon\"}");
    check_json(&v, NULL, "{\"tuple\":[{\"atom\":\"cat\"},\"Tihon\"]}");
}

static void list_prints_in_brackets(void **state)
{
    (void)state;
    struct ctrace_value items[] = {
        ctrace_value_int(1), ctrace_value_int(2), ctrace_value_int(3)};
    struct ctrace_value v = ctrace_value_list(items, 3);
    check_term(&v, NULL, "[1,2,3]");
    check_json(&v, NULL, "[1,2,3]");
}

static void empty_tuple_and_list_print_empty(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_tuple(NULL, 0);
    check_term(&v, NULL, "{}");
    check_json(&v, NULL, "{\"tuple\":[]}");
    v = ctrace_value_list(NULL, 0);
    check_term(&v, NULL, "[]");
    check_json(&v, NULL, "[]");
}

static void nested_values_of_every_kind_print(void **state)
{
    (void)state;
    static const unsigned char b[] = {1, 255};
    struct ctrace_value inner[] = {ctrace_value_double(1.5),
                                   ctrace_value_bool(false),
                                   ctrace_value_null()};
    struct ctrace_value items[] = {
        ctrace_value_int(-1),
        ctrace_value_uint(2),
        ctrace_value_string("s"),
        ctrace_value_bytes(b, 2),
        ctrace_value_symbol("ok"),
        ctrace_value_pointer(NULL),
        ctrace_value_list(inner, 3),
        ctrace_value_tuple(NULL, 0),
    };
    struct ctrace_value v = ctrace_value_tuple(items, 8);
    check_term(&v, NULL, "{-1,2,\"s\",<<1,255>>,ok,0x0,[1.5,false,null],{}}");
    check_json(&v,
               NULL,
               "{\"tuple\":[-1,2,\"s\",{\"bytes\":[1,255]},{\"atom\":\"ok\"},"
               "{\"pointer\":\"0x0\"},[1.5,false,null],{\"tuple\":[]}]}");
}

/* Depth limit */

static void depth_limit_cuts_nested_tuple(void **state)
{
    (void)state;
    struct ctrace_value bc[] = {ctrace_value_symbol("b"),
                                ctrace_value_symbol("c")};
    struct ctrace_value items[] = {ctrace_value_symbol("a"),
                                   ctrace_value_tuple(bc, 2)};
    struct ctrace_value v = ctrace_value_tuple(items, 2);
    struct ctrace_render_opts o = opts_with(1, 0);
    check_term(&v, &o, "{a,...}");
    check_json(&v, &o, "{\"tuple\":[{\"atom\":\"a\"},\"...\"]}");
    o.depth = 2;
    check_term(&v, &o, "{a,{b,c}}");
}

static void depth_limit_cuts_nested_list(void **state)
{
    (void)state;
    struct ctrace_value two[] = {ctrace_value_int(2)};
    struct ctrace_value items[] = {ctrace_value_int(1),
                                   ctrace_value_list(two, 1)};
    struct ctrace_value v = ctrace_value_list(items, 2);
    struct ctrace_render_opts o = opts_with(1, 0);
    check_term(&v, &o, "[1,...]");
    check_json(&v, &o, "[1,\"...\"]");
}

static void depth_limit_two_keeps_two_levels(void **state)
{
    (void)state;
    struct ctrace_value c[] = {ctrace_value_symbol("c")};
    struct ctrace_value bc[] = {ctrace_value_symbol("b"),
                                ctrace_value_tuple(c, 1)};
    struct ctrace_value items[] = {ctrace_value_symbol("a"),
                                   ctrace_value_tuple(bc, 2)};
    struct ctrace_value v = ctrace_value_tuple(items, 2);
    struct ctrace_render_opts o = opts_with(2, 0);
    check_term(&v, &o, "{a,{b,...}}");
    check_json(&v,
               &o,
               "{\"tuple\":[{\"atom\":\"a\"},{\"tuple\":[{\"atom\":\"b\"},"
               "\"...\"]}]}");
}

static void depth_limit_never_cuts_scalars(void **state)
{
    (void)state;
    struct ctrace_render_opts o = opts_with(1, 0);
    static const unsigned char b[] = {7};
    struct ctrace_value items[] = {ctrace_value_string("s"),
                                   ctrace_value_bytes(b, 1),
                                   ctrace_value_symbol("ok"),
                                   ctrace_value_pointer(NULL)};
    struct ctrace_value v = ctrace_value_list(items, 4);
    check_term(&v, &o, "[\"s\",<<7>>,ok,0x0]");
    check_json(
        &v,
        &o,
        "[\"s\",{\"bytes\":[7]},{\"atom\":\"ok\"},{\"pointer\":\"0x0\"}]");
    v = ctrace_value_int(5);
    check_term(&v, &o, "5");
}

/*
 * Builds `levels` lists, each holding the next; the innermost is empty.
 * Returns the outermost; free `*storage` afterwards.
 */
static struct ctrace_value nested_lists(size_t levels,
                                        struct ctrace_value **storage)
{
    struct ctrace_value *chain = calloc(levels, sizeof(*chain));
    assert_non_null(chain);
    for (size_t i = 0; i < levels; i++) {
        if (i + 1 < levels)
            chain[i] = ctrace_value_list(&chain[i + 1], 1);
        else
            chain[i] = ctrace_value_list(NULL, 0);
    }
    *storage = chain;
    return chain[0];
}

/* The expected rendering of nested_lists() cut at `levels` lists. */
static char *cut_lists_text(size_t levels, bool json)
{
    const char *dots = json ? "\"...\"" : "...";
    char *s = malloc(2 * levels + strlen(dots) + 1);
    assert_non_null(s);
    memset(s, '[', levels);
    strcpy(s + levels, dots);
    memset(s + levels + strlen(dots), ']', levels);
    s[2 * levels + strlen(dots)] = '\0';
    return s;
}

static void unlimited_depth_is_capped_at_256_levels(void **state)
{
    (void)state;
    struct ctrace_value *chain;
    struct ctrace_value v = nested_lists(300, &chain);
    struct ctrace_render_opts o = opts_with(0, 0);
    char *term = cut_lists_text(256, false);
    char *json = cut_lists_text(256, true);
    check_term(&v, &o, term);
    check_json(&v, &o, json);
    /* A larger explicit depth is capped the same way. */
    o.depth = 1000;
    check_term(&v, &o, term);
    free(term);
    free(json);
    free(chain);
}

static void nesting_of_exactly_256_levels_prints_whole(void **state)
{
    (void)state;
    struct ctrace_value *chain;
    struct ctrace_value v = nested_lists(256, &chain);
    char *s = ctrace_value_to_term(&v, NULL);
    assert_non_null(s);
    assert_int_equal(strlen(s), 512);
    assert_null(strchr(s, '.'));
    ctrace_free(s);
    free(chain);
}

static void very_deep_value_does_not_overflow_the_stack(void **state)
{
    (void)state;
    struct ctrace_value *chain;
    struct ctrace_value v = nested_lists(100000, &chain);
    char buf[16];
    size_t n = ctrace_value_format(&v, NULL, buf, sizeof(buf));
    assert_int_equal(n, 2 * 256 + 3);
    assert_string_equal(buf, "[[[[[[[[[[[[...");
    free(chain);
}

static void cyclic_value_stops_at_the_nesting_cap(void **state)
{
    (void)state;
    struct ctrace_value self[1] = {ctrace_value_null()};
    self[0] = ctrace_value_tuple(self, 1);
    size_t n = ctrace_value_format(&self[0], NULL, NULL, 0);
    assert_int_equal(n, 2 * 256 + 3);
}

/* Size limit */

static void max_size_cuts_long_string(void **state)
{
    (void)state;
    struct ctrace_render_opts o = opts_with(0, 4);
    struct ctrace_value v = ctrace_value_string("Tihon");
    check_term(&v, &o, "\"Tiho...\"");
    check_json(&v, &o, "\"Tiho...\"");
}

static void max_size_keeps_string_of_exactly_max_size(void **state)
{
    (void)state;
    struct ctrace_render_opts o = opts_with(0, 5);
    struct ctrace_value v = ctrace_value_string("Tihon");
    check_term(&v, &o, "\"Tihon\"");
    check_json(&v, &o, "\"Tihon\"");
}

static void max_size_counts_bytes_not_escapes(void **state)
{
    (void)state;
    struct ctrace_render_opts o = opts_with(0, 2);
    struct ctrace_value v = ctrace_value_string("\n\"x");
    check_term(&v, &o, "\"\\n\\\"...\"");
    check_json(&v, &o, "\"\\n\\\"...\"");
}

static void max_size_never_cuts_inside_utf8_sequence(void **state)
{
    (void)state;
    /* "a€b": the euro sign is bytes 1..3. */
    struct ctrace_value v = ctrace_value_string("a\xe2\x82\xac"
                                                "b");
    struct ctrace_render_opts o = opts_with(0, 2);
    check_term(&v, &o, "\"a...\"");
    check_json(&v, &o, "\"a...\"");
    o.max_size = 3;
    check_term(&v, &o, "\"a...\"");
    o.max_size = 4;
    check_term(&v, &o, "\"a\xe2\x82\xac...\"");
    check_json(&v, &o, "\"a\xe2\x82\xac...\"");
    /* Invalid bytes stand alone and may be cut between. */
    v = ctrace_value_string("\xff\xff\xff");
    o.max_size = 2;
    check_term(&v, &o, "\"\\xff\\xff...\"");
    check_json(&v, &o, "\"\\u00ff\\u00ff...\"");
}

static void max_size_cuts_bytes_with_final_dots(void **state)
{
    (void)state;
    static const unsigned char b[] = {1, 2, 3, 4};
    struct ctrace_value v = ctrace_value_bytes(b, 4);
    struct ctrace_render_opts o = opts_with(0, 2);
    check_term(&v, &o, "<<1,2,...>>");
    check_json(&v, &o, "{\"bytes\":[1,2,\"...\"]}");
    o.max_size = 4;
    check_term(&v, &o, "<<1,2,3,4>>");
}

static void max_size_cuts_printable_bytes_after_the_quotes(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_bytes("Tihon", 5);
    struct ctrace_render_opts o = opts_with(0, 4);
    check_term(&v, &o, "<<\"Tiho\"...>>");
    check_json(&v, &o, "{\"bytes\":[84,105,104,111,\"...\"]}");
    /* Only the bytes shown decide whether the binary prints as text. */
    v = ctrace_value_bytes("ab\x01", 3);
    o.max_size = 2;
    check_term(&v, &o, "<<\"ab\"...>>");
}

static void max_size_cuts_list_with_final_dots(void **state)
{
    (void)state;
    struct ctrace_value items[] = {
        ctrace_value_int(1), ctrace_value_int(2), ctrace_value_int(3)};
    struct ctrace_value v = ctrace_value_list(items, 3);
    struct ctrace_render_opts o = opts_with(0, 2);
    check_term(&v, &o, "[1,2,...]");
    check_json(&v, &o, "[1,2,\"...\"]");
    o.max_size = 3;
    check_term(&v, &o, "[1,2,3]");
}

static void max_size_cuts_tuple_with_final_dots(void **state)
{
    (void)state;
    struct ctrace_value items[] = {ctrace_value_symbol("a"),
                                   ctrace_value_symbol("b"),
                                   ctrace_value_symbol("c")};
    struct ctrace_value v = ctrace_value_tuple(items, 3);
    struct ctrace_render_opts o = opts_with(0, 1);
    check_term(&v, &o, "{a,...}");
    check_json(&v, &o, "{\"tuple\":[{\"atom\":\"a\"},\"...\"]}");
}

static void max_size_applies_to_every_nested_value(void **state)
{
    (void)state;
    struct ctrace_value inner[] = {ctrace_value_string("abcdef"),
                                   ctrace_value_int(9),
                                   ctrace_value_int(9)};
    struct ctrace_value items[] = {
        ctrace_value_list(inner, 3), ctrace_value_int(0), ctrace_value_int(0)};
    struct ctrace_value v = ctrace_value_tuple(items, 3);
    struct ctrace_render_opts o = opts_with(0, 2);
    check_term(&v, &o, "{[\"ab...\",9,...],0,...}");
    check_json(&v, &o, "{\"tuple\":[[\"ab...\",9,\"...\"],0,\"...\"]}");
}

static void default_options_cut_strings_at_1024_bytes(void **state)
{
    (void)state;
    char *s = malloc(2000);
    assert_non_null(s);
    memset(s, 'x', 1999);
    s[1999] = '\0';
    struct ctrace_value v = ctrace_value_string(s);
    char *out = ctrace_value_to_term(&v, NULL);
    assert_non_null(out);
    assert_int_equal(strlen(out), 1 + 1024 + 3 + 1);
    assert_memory_equal(out + 1 + 1024, "...\"", 4);
    ctrace_free(out);
    free(s);
}

static void max_size_zero_means_no_limit(void **state)
{
    (void)state;
    char s[3000];
    memset(s, 'y', sizeof(s));
    struct ctrace_value v = ctrace_value_stringn(s, sizeof(s));
    struct ctrace_render_opts o = opts_with(0, 0);
    assert_int_equal(ctrace_value_format(&v, &o, NULL, 0), sizeof(s) + 2);
    assert_int_equal(ctrace_value_format_json(&v, &o, NULL, 0), sizeof(s) + 2);
}

/* The snprintf-like buffer contract */

static void buffer_of_size_zero_is_not_touched(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("Tihon");
    char buf[4] = {'z', 'z', 'z', 'z'};
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 0), 7);
    assert_int_equal(ctrace_value_format_json(&v, NULL, buf, 0), 7);
    assert_memory_equal(buf, "zzzz", 4);
    assert_int_equal(ctrace_value_format(&v, NULL, NULL, 0), 7);
    assert_int_equal(ctrace_value_format_json(&v, NULL, NULL, 0), 7);
}

static void buffer_of_size_one_holds_empty_string(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("Tihon");
    char buf[4] = {'z', 'z', 'z', 'z'};
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 1), 7);
    assert_string_equal(buf, "");
    assert_int_equal(buf[1], 'z');
}

static void buffer_of_size_three_holds_prefix_without_dots(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("Tihon");
    char buf[4] = {'z', 'z', 'z', 'z'};
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 3), 7);
    assert_string_equal(buf, "\"T");
    assert_int_equal(buf[3], 'z');
}

static void buffer_of_size_four_holds_only_dots(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("Tihon");
    char buf[5] = {'z', 'z', 'z', 'z', 'z'};
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 4), 7);
    assert_string_equal(buf, "...");
    assert_int_equal(buf[4], 'z');
}

static void buffer_of_exact_fit_holds_everything(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("Tihon");
    char buf[9];
    memset(buf, 'z', sizeof(buf));
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 8), 7);
    assert_string_equal(buf, "\"Tihon\"");
    assert_int_equal(buf[8], 'z');
    assert_int_equal(ctrace_value_format_json(&v, NULL, buf, 8), 7);
    assert_string_equal(buf, "\"Tihon\"");
}

static void buffer_one_byte_short_ends_with_dots(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_string("Tihon");
    char buf[8];
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 7), 7);
    assert_string_equal(buf, "\"Ti...");
}

static void buffer_too_small_ends_with_dots(void **state)
{
    (void)state;
    struct ctrace_value items[] = {
        ctrace_value_int(1), ctrace_value_int(2), ctrace_value_int(3)};
    struct ctrace_value v = ctrace_value_list(items, 3);
    char buf[16];
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 5), 7);
    assert_string_equal(buf, "[...");
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 7), 7);
    assert_string_equal(buf, "[1,...");

    struct ctrace_value t[] = {ctrace_value_symbol("cat"),
                               ctrace_value_string("Tihon")};
    v = ctrace_value_tuple(t, 2);
    size_t full = ctrace_value_format_json(&v, NULL, NULL, 0);
    assert_int_equal(full,
                     strlen("{\"tuple\":[{\"atom\":\"cat\"},\"Tihon\"]}"));
    assert_int_equal(ctrace_value_format_json(&v, NULL, buf, sizeof(buf)),
                     full);
    assert_string_equal(buf, "{\"tuple\":[{\"...");
}

static void buffer_cut_never_splits_utf8_sequence(void **state)
{
    (void)state;
    /* `"ab€cd"`: the euro sign is bytes 3..5 of the 9-byte rendering. */
    struct ctrace_value v = ctrace_value_string("ab\xe2\x82\xac"
                                                "cd");
    char buf[16];
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 8), 9);
    assert_string_equal(buf, "\"ab...");
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 9), 9);
    assert_string_equal(buf, "\"ab...");
    assert_int_equal(ctrace_value_format_json(&v, NULL, buf, 9), 9);
    assert_string_equal(buf, "\"ab...");
    /* Cut right after the sequence: it stays. */
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 10), 9);
    assert_string_equal(buf,
                        "\"ab\xe2\x82\xac"
                        "cd\"");
    v = ctrace_value_string("ab\xe2\x82\xac"
                            "cdef");
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 10), 11);
    assert_string_equal(buf, "\"ab\xe2\x82\xac...");
    /* Too small for dots: the prefix still ends on a boundary. */
    v = ctrace_value_string("\xe2\x82\xac");
    assert_int_equal(ctrace_value_format(&v, NULL, buf, 3), 5);
    assert_string_equal(buf, "\"");
}

static void every_buffer_size_gives_prefix_of_full_rendering(void **state)
{
    (void)state;
    static const unsigned char b[] = {0, 200};
    struct ctrace_value inner[] = {ctrace_value_string("caf\xc3\xa9 \xff"),
                                   ctrace_value_bytes(b, 2),
                                   ctrace_value_double(2.5)};
    struct ctrace_value items[] = {ctrace_value_symbol("Tihon"),
                                   ctrace_value_list(inner, 3),
                                   ctrace_value_pointer(NULL)};
    struct ctrace_value v = ctrace_value_tuple(items, 3);
    for (int json = 0; json <= 1; json++) {
        char full[256];
        size_t (*fmt)(const struct ctrace_value *,
                      const struct ctrace_render_opts *,
                      char *,
                      size_t) =
            json ? ctrace_value_format_json : ctrace_value_format;
        size_t len = fmt(&v, NULL, full, sizeof(full));
        assert_true(len < sizeof(full));
        for (size_t size = 1; size <= len + 1; size++) {
            char buf[256];
            memset(buf, 'z', sizeof(buf));
            assert_int_equal(fmt(&v, NULL, buf, size), len);
            size_t got = strlen(buf);
            assert_true(got < size);
            assert_int_equal(buf[size], 'z');
            if (size > len) {
                assert_string_equal(buf, full);
                continue;
            }
            size_t kept = got;
            if (size >= 4) {
                assert_true(got >= 3);
                assert_memory_equal(buf + got - 3, "...", 3);
                kept = got - 3;
            }
            /* What is kept is a prefix, at most 3 bytes shorter (UTF-8). */
            assert_memory_equal(buf, full, kept);
            assert_true(kept + 3 >= size - 1 - (size >= 4 ? 3 : 0));
        }
    }
}

/* Allocating forms */

static void to_term_and_to_json_return_owned_strings(void **state)
{
    (void)state;
    struct ctrace_value items[] = {ctrace_value_symbol("cat"),
                                   ctrace_value_string("Tihon")};
    struct ctrace_value v = ctrace_value_tuple(items, 2);
    char *term = ctrace_value_to_term(&v, NULL);
    char *json = ctrace_value_to_json(&v, NULL);
    assert_non_null(term);
    assert_non_null(json);
    assert_string_equal(term, "{cat,\"Tihon\"}");
    assert_string_equal(json, "{\"tuple\":[{\"atom\":\"cat\"},\"Tihon\"]}");
    ctrace_free(term);
    ctrace_free(json);
    ctrace_free(NULL);
}

static void to_term_of_large_value_returns_whole_rendering(void **state)
{
    (void)state;
    enum { N = 5000 };
    struct ctrace_value *items = calloc(N, sizeof(*items));
    assert_non_null(items);
    for (size_t i = 0; i < N; i++)
        items[i] = ctrace_value_uint(UINT64_MAX);
    struct ctrace_value v = ctrace_value_list(items, N);
    struct ctrace_render_opts o = opts_with(0, 0);
    char *term = ctrace_value_to_term(&v, &o);
    char *json = ctrace_value_to_json(&v, &o);
    assert_non_null(term);
    assert_non_null(json);
    assert_int_equal(strlen(term), 2 + N * 20 + (N - 1));
    assert_string_equal(term, json);
    assert_int_equal(strlen(term), ctrace_value_format(&v, &o, NULL, 0));
    ctrace_free(term);
    ctrace_free(json);
    free(items);
}

static void unknown_kind_prints_null(void **state)
{
    (void)state;
    struct ctrace_value v = ctrace_value_int(1);
    v.kind = (enum ctrace_value_kind)99;
    check_term(&v, NULL, "null");
    check_json(&v, NULL, "null");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(render_opts_init_sets_documented_defaults),
        cmocka_unit_test(int_prints_in_decimal),
        cmocka_unit_test(int64_min_and_max_print_exactly),
        cmocka_unit_test(uint64_max_prints_exactly),
        cmocka_unit_test(double_prints_shortest_text_that_round_trips),
        cmocka_unit_test(double_with_integral_value_keeps_a_point),
        cmocka_unit_test(double_non_finite_prints_as_words),
        cmocka_unit_test(double_uses_a_point_whatever_the_locale),
        cmocka_unit_test(bool_prints_as_atom_or_json_boolean),
        cmocka_unit_test(null_prints_null),
        cmocka_unit_test(null_value_pointer_prints_null),
        cmocka_unit_test(pointer_prints_lowercase_hex),
        cmocka_unit_test(null_pointer_prints_0x0),
        cmocka_unit_test(pid_prints_as_a_pid_wherever_it_appears),
        cmocka_unit_test(string_prints_in_double_quotes),
        cmocka_unit_test(string_with_quote_is_escaped),
        cmocka_unit_test(string_with_backslash_is_escaped),
        cmocka_unit_test(string_newline_tab_return_use_short_escapes),
        cmocka_unit_test(string_other_control_bytes_are_hex_escaped),
        cmocka_unit_test(string_with_nul_byte_prints_all_bytes),
        cmocka_unit_test(string_valid_utf8_is_copied),
        cmocka_unit_test(string_invalid_utf8_bytes_are_escaped),
        cmocka_unit_test(bytes_print_as_binary_of_numbers),
        cmocka_unit_test(bytes_all_printable_print_as_quoted_binary),
        cmocka_unit_test(bytes_printable_with_quote_and_backslash_are_escaped),
        cmocka_unit_test(bytes_with_one_unprintable_byte_print_as_numbers),
        cmocka_unit_test(bytes_empty_prints_empty_binary),
        cmocka_unit_test(symbol_prints_bare_when_it_reads_as_atom),
        cmocka_unit_test(symbol_needing_quotes_prints_quoted),
        cmocka_unit_test(symbol_that_is_reserved_word_prints_quoted),
        cmocka_unit_test(symbol_with_quote_or_backslash_is_escaped),
        cmocka_unit_test(symbol_prints_as_atom_object_in_json),
        cmocka_unit_test(symbol_is_not_cut_by_max_size),
        cmocka_unit_test(tuple_prints_in_braces),
        cmocka_unit_test(list_prints_in_brackets),
        cmocka_unit_test(empty_tuple_and_list_print_empty),
        cmocka_unit_test(nested_values_of_every_kind_print),
        cmocka_unit_test(depth_limit_cuts_nested_tuple),
        cmocka_unit_test(depth_limit_cuts_nested_list),
        cmocka_unit_test(depth_limit_two_keeps_two_levels),
        cmocka_unit_test(depth_limit_never_cuts_scalars),
        cmocka_unit_test(unlimited_depth_is_capped_at_256_levels),
        cmocka_unit_test(nesting_of_exactly_256_levels_prints_whole),
        cmocka_unit_test(very_deep_value_does_not_overflow_the_stack),
        cmocka_unit_test(cyclic_value_stops_at_the_nesting_cap),
        cmocka_unit_test(max_size_cuts_long_string),
        cmocka_unit_test(max_size_keeps_string_of_exactly_max_size),
        cmocka_unit_test(max_size_counts_bytes_not_escapes),
        cmocka_unit_test(max_size_never_cuts_inside_utf8_sequence),
        cmocka_unit_test(max_size_cuts_bytes_with_final_dots),
        cmocka_unit_test(max_size_cuts_printable_bytes_after_the_quotes),
        cmocka_unit_test(max_size_cuts_list_with_final_dots),
        cmocka_unit_test(max_size_cuts_tuple_with_final_dots),
        cmocka_unit_test(max_size_applies_to_every_nested_value),
        cmocka_unit_test(default_options_cut_strings_at_1024_bytes),
        cmocka_unit_test(max_size_zero_means_no_limit),
        cmocka_unit_test(buffer_of_size_zero_is_not_touched),
        cmocka_unit_test(buffer_of_size_one_holds_empty_string),
        cmocka_unit_test(buffer_of_size_three_holds_prefix_without_dots),
        cmocka_unit_test(buffer_of_size_four_holds_only_dots),
        cmocka_unit_test(buffer_of_exact_fit_holds_everything),
        cmocka_unit_test(buffer_one_byte_short_ends_with_dots),
        cmocka_unit_test(buffer_too_small_ends_with_dots),
        cmocka_unit_test(buffer_cut_never_splits_utf8_sequence),
        cmocka_unit_test(every_buffer_size_gives_prefix_of_full_rendering),
        cmocka_unit_test(to_term_and_to_json_return_owned_strings),
        cmocka_unit_test(to_term_of_large_value_returns_whole_rendering),
        cmocka_unit_test(unknown_kind_prints_null),
    };
    return cmocka_run_group_tests_name("value", tests, NULL, NULL);
}
