/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the pattern language parser and its JSON form: every
 * grammar rule and action, the AST the matcher relies on (variable
 * numbering, actions, glob flags, which literal kind a pattern becomes),
 * the error messages with their columns, the data-driven cases of
 * tests/data/pattern/{valid,invalid}/, a replay of the fuzz corpus, and a
 * chaos test that fails each allocation in turn.
 */
#include <dirent.h>
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
#include "pattern/parse_internal.h"
#include "pattern/pattern.h"

#define PATTERN_DATA_DIR CTRACE_TEST_DATA_DIR "/pattern"
#define FUZZ_CORPUS_DIR  CTRACE_TEST_DATA_DIR "/../fuzz/corpus"

/* ---- helpers ------------------------------------------------------------ */

static struct ctrace__spec *parse_len(const char *text, size_t len)
{
    struct ctrace_error err = {0};
    struct ctrace__spec *spec = ctrace__spec_parse(text, len, &err);
    if (spec == NULL) {
        print_error("unexpected error for '%s': column %d: %s\n",
                    text,
                    err.column,
                    err.text);
    }
    assert_non_null(spec);
    assert_int_equal(err.code, 0);
    return spec;
}

static struct ctrace__spec *parse(const char *text)
{
    return parse_len(text, strlen(text));
}

/* Parses `text` and checks its JSON. */
static void check_json(const char *text, const char *expected)
{
    struct ctrace__spec *spec = parse(text);
    char *json = ctrace__spec_to_json(spec);
    assert_non_null(json);
    if (strcmp(json, expected) != 0)
        print_error(
            "spec:     %s\ngot:      %s\nexpected: %s\n", text, json, expected);
    assert_string_equal(json, expected);
    ctrace_free(json);
    ctrace__spec_free(spec);
}

/* The JSON of the first argument pattern of `text`. */
static void check_arg_json(const char *args, const char *expected)
{
    char text[256];
    snprintf(text, sizeof(text), "m:f(%s)", args);
    struct ctrace__spec *spec = parse(text);
    char *json = ctrace__spec_to_json(spec);
    assert_non_null(json);
    const char *start = strstr(json, "\"args\":[");
    assert_non_null(start);
    start += strlen("\"args\":[");
    const char *end = strstr(json, "],\"guard\":");
    assert_non_null(end);
    char got[1024];
    snprintf(got, sizeof(got), "%.*s", (int)(end - start), start);
    if (strcmp(got, expected) != 0)
        print_error("args: %s\n", args);
    assert_string_equal(got, expected);
    ctrace_free(json);
    ctrace__spec_free(spec);
}

/* The JSON of the guard of `text`. */
static void check_guard_json(const char *text, const char *expected)
{
    struct ctrace__spec *spec = parse(text);
    char *json = ctrace__spec_to_json(spec);
    assert_non_null(json);
    const char *start = strstr(json, ",\"guard\":");
    assert_non_null(start);
    start += strlen(",\"guard\":");
    const char *end = strstr(json, ",\"actions\":");
    assert_non_null(end);
    char got[4096];
    snprintf(got, sizeof(got), "%.*s", (int)(end - start), start);
    if (strcmp(got, expected) != 0)
        print_error("spec: %s\n", text);
    assert_string_equal(got, expected);
    ctrace_free(json);
    ctrace__spec_free(spec);
}

static void check_error_len(const char *text,
                            size_t len,
                            int code,
                            int column,
                            const char *message)
{
    struct ctrace_error err = {0};
    struct ctrace__spec *spec = ctrace__spec_parse(text, len, &err);
    if (spec != NULL || err.code != code || err.column != column ||
        strcmp(err.text, message) != 0)
        print_error("spec: %.200s\ngot: %s column %d: %s\n",
                    text,
                    ctrace_err_name(err.code),
                    err.column,
                    err.text);
    assert_null(spec);
    assert_int_equal(err.code, code);
    assert_int_equal(err.column, column);
    assert_string_equal(err.text, message);
}

static void
check_error(const char *text, int code, int column, const char *message)
{
    check_error_len(text, strlen(text), code, column, message);
}

static int error_code(const char *text)
{
    struct ctrace_error err = {0};
    struct ctrace__spec *spec = ctrace__spec_parse(text, strlen(text), &err);
    assert_null(spec);
    assert_true(err.text[0] != '\0');
    return err.code;
}

/* The height of a guard tree, to check that long chains stay shallow. */
static int expr_height(const struct ctrace__expr *e)
{
    if (e == NULL || e->kind == CTRACE__EXPR_TERM)
        return 1;
    int h = 0;
    if (e->kind == CTRACE__EXPR_OP) {
        int l = expr_height(e->u.op.lhs);
        int r = e->u.op.rhs ? expr_height(e->u.op.rhs) : 0;
        h = l > r ? l : r;
    } else {
        for (unsigned i = 0; i < e->u.call.nargs; i++) {
            int a = expr_height(e->u.call.args[i]);
            h = a > h ? a : h;
        }
    }
    return h + 1;
}

/* ---- targets ------------------------------------------------------------ */

static void module_alone_selects_every_function(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("cat_traveler");
    assert_int_equal(spec->kind, CTRACE__SPEC_CALL);
    assert_string_equal(spec->module, "cat_traveler");
    assert_false(spec->module_glob);
    assert_null(spec->function);
    assert_int_equal(spec->arity, -1);
    assert_null(spec->args);
    assert_null(spec->guard);
    assert_int_equal(spec->nactions, 0);
    assert_int_equal(spec->action_mask, 0);
    ctrace__spec_free(spec);
    check_json("cat_traveler",
               "{\"kind\":\"call\",\"module\":\"cat_traveler\","
               "\"function\":null,\"arity\":null,\"args\":null,"
               "\"guard\":null,\"actions\":[]}");
}

static void function_without_arity_takes_any_arity(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("cat_traveler:enter");
    assert_string_equal(spec->function, "enter");
    assert_false(spec->function_glob);
    assert_int_equal(spec->arity, -1);
    assert_null(spec->args);
    ctrace__spec_free(spec);
    check_json("cat_traveler:enter",
               "{\"kind\":\"call\",\"module\":\"cat_traveler\","
               "\"function\":\"enter\",\"arity\":null,\"args\":null,"
               "\"guard\":null,\"actions\":[]}");
}

static void slash_arity_sets_arity_without_patterns(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("cat_traveler:enter/2");
    assert_int_equal(spec->arity, 2);
    assert_null(spec->args);
    assert_int_equal(spec->nargs, 0);
    ctrace__spec_free(spec);
    check_json("a:b/2",
               "{\"kind\":\"call\",\"module\":\"a\",\"function\":\"b\","
               "\"arity\":2,\"args\":null,\"guard\":null,\"actions\":[]}");
    check_json("a:b/0",
               "{\"kind\":\"call\",\"module\":\"a\",\"function\":\"b\","
               "\"arity\":0,\"args\":null,\"guard\":null,\"actions\":[]}");
    check_json("a:b/255",
               "{\"kind\":\"call\",\"module\":\"a\",\"function\":\"b\","
               "\"arity\":255,\"args\":null,\"guard\":null,\"actions\":[]}");
}

static void argument_list_fixes_the_arity(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("a:b(X, Y)");
    assert_int_equal(spec->arity, 2);
    assert_int_equal(spec->nargs, 2);
    assert_non_null(spec->args);
    assert_int_equal(spec->args[0].kind, CTRACE__PAT_VAR);
    assert_int_equal(spec->args[1].kind, CTRACE__PAT_VAR);
    ctrace__spec_free(spec);
    check_json("a:b(X,Y)",
               "{\"kind\":\"call\",\"module\":\"a\",\"function\":\"b\","
               "\"arity\":2,\"args\":[{\"var\":\"X\"},{\"var\":\"Y\"}],"
               "\"guard\":null,\"actions\":[]}");
}

static void empty_argument_list_is_arity_zero_with_no_patterns(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("a:b()");
    assert_int_equal(spec->arity, 0);
    assert_int_equal(spec->nargs, 0);
    assert_non_null(spec->args);
    ctrace__spec_free(spec);
    check_json("a:b()",
               "{\"kind\":\"call\",\"module\":\"a\",\"function\":\"b\","
               "\"arity\":0,\"args\":[],\"guard\":null,\"actions\":[]}");
}

static void process_event_words_alone_are_process_specs(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum ctrace__spec_kind kind;
        const char *json;
    } cases[] = {
        {"send", CTRACE__SPEC_SEND, "{\"kind\":\"send\"}"},
        {"receive", CTRACE__SPEC_RECEIVE, "{\"kind\":\"receive\"}"},
        {"'receive'", CTRACE__SPEC_RECEIVE, "{\"kind\":\"receive\"}"},
        {" procs\n", CTRACE__SPEC_PROCS, "{\"kind\":\"procs\"}"},
        {"'send'", CTRACE__SPEC_SEND, "{\"kind\":\"send\"}"},
    };
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(cases); i++) {
        struct ctrace__spec *spec = parse(cases[i].text);
        assert_int_equal(spec->kind, cases[i].kind);
        assert_null(spec->module);
        ctrace__spec_free(spec);
        check_json(cases[i].text, cases[i].json);
    }
}

static void process_event_words_before_a_colon_are_modules(void **state)
{
    (void)state;
    check_json("send:message/2",
               "{\"kind\":\"call\",\"module\":\"send\","
               "\"function\":\"message\",\"arity\":2,\"args\":null,"
               "\"guard\":null,\"actions\":[]}");
    check_json("'receive':loop",
               "{\"kind\":\"call\",\"module\":\"receive\","
               "\"function\":\"loop\",\"arity\":null,\"args\":null,"
               "\"guard\":null,\"actions\":[]}");
    check_json("procs:list(_) -> return",
               "{\"kind\":\"call\",\"module\":\"procs\","
               "\"function\":\"list\",\"arity\":1,\"args\":[{\"any\":true}],"
               "\"guard\":null,\"actions\":[\"return\"]}");
}

static void process_event_specs_take_no_actions(void **state)
{
    (void)state;
    check_error("send -> return",
                CTRACE_ESYNTAX,
                6,
                "send takes no actions; actions apply to function calls "
                "only");
    check_error("procs -> stack",
                CTRACE_ESYNTAX,
                7,
                "procs takes no actions; actions apply to function calls "
                "only");
    check_error("receive X",
                CTRACE_ESYNTAX,
                9,
                "expected ':' or end of input after receive, got 'X'");
}

static void wildcards_in_name_position_become_a_star(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *module;
        const char *function;
    } cases[] = {
        {"_", "*", NULL},
        {"*", "*", NULL},
        {"A:b", "*", "b"},
        {"a:_", "a", "*"},
        {"a:*", "a", "*"},
        {"'_':'_'", "*", "*"},
        {"_Mod:F/2", "*", "*"},
        {"*:enter", "*", "enter"},
    };
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(cases); i++) {
        struct ctrace__spec *spec = parse(cases[i].text);
        assert_string_equal(spec->module, cases[i].module);
        assert_false(spec->module_glob);
        if (cases[i].function == NULL) {
            assert_null(spec->function);
        } else {
            assert_string_equal(spec->function, cases[i].function);
            assert_false(spec->function_glob);
        }
        ctrace__spec_free(spec);
    }
    check_json("a:_/2",
               "{\"kind\":\"call\",\"module\":\"a\",\"function\":\"*\","
               "\"arity\":2,\"args\":null,\"guard\":null,\"actions\":[]}");
    check_json("a:X([]) -> return,stack",
               "{\"kind\":\"call\",\"module\":\"a\",\"function\":\"*\","
               "\"arity\":1,\"args\":[{\"list\":[],\"tail\":null}],"
               "\"guard\":null,\"actions\":[\"return\",\"stack\"]}");
}

static void a_variable_in_name_position_binds_nothing(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("a:X(X)");
    assert_string_equal(spec->function, "*");
    assert_int_equal(spec->nvars, 1);
    assert_int_equal(spec->args[0].u.var, 0);
    ctrace__spec_free(spec);
}

static void globs_in_names_set_the_glob_flags(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("cat_*:enter");
    assert_string_equal(spec->module, "cat_*");
    assert_true(spec->module_glob);
    assert_false(spec->function_glob);
    ctrace__spec_free(spec);

    spec = parse("cat_traveler:*_town/2");
    assert_false(spec->module_glob);
    assert_string_equal(spec->function, "*_town");
    assert_true(spec->function_glob);
    assert_int_equal(spec->arity, 2);
    ctrace__spec_free(spec);

    spec = parse("*_srv:handle_*");
    assert_true(spec->module_glob);
    assert_true(spec->function_glob);
    ctrace__spec_free(spec);

    check_json("cat_*:enter",
               "{\"kind\":\"call\",\"module\":\"cat_*\","
               "\"function\":\"enter\",\"arity\":null,\"args\":null,"
               "\"guard\":null,\"actions\":[]}");
}

static void quoted_names_are_literal(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("'cat_*':'my fun'/1");
    assert_string_equal(spec->module, "cat_*");
    assert_false(spec->module_glob);
    assert_string_equal(spec->function, "my fun");
    assert_false(spec->function_glob);
    ctrace__spec_free(spec);
    check_json("'Elixir.IO':puts",
               "{\"kind\":\"call\",\"module\":\"Elixir.IO\","
               "\"function\":\"puts\",\"arity\":null,\"args\":null,"
               "\"guard\":null,\"actions\":[]}");
    check_json("'my mod':'my fun'/1",
               "{\"kind\":\"call\",\"module\":\"my mod\","
               "\"function\":\"my fun\",\"arity\":1,\"args\":null,"
               "\"guard\":null,\"actions\":[]}");
    check_error("a:'*'",
                CTRACE_ESYNTAX,
                3,
                "'*' in quotes is not a wildcard, and no function is named "
                "*; write * or _ for any function");
    check_error("'':f", CTRACE_ESYNTAX, 1, "a module name cannot be empty");
}

/* ---- actions ------------------------------------------------------------ */

static void every_action_is_kept_in_order_with_duplicates(void **state)
{
    (void)state;
    struct ctrace__spec *spec =
        parse("a:b -> return, stack; caller, dump;time,count,return");
    static const enum ctrace__action want[] = {
        CTRACE__ACTION_RETURN,
        CTRACE__ACTION_STACK,
        CTRACE__ACTION_CALLER,
        CTRACE__ACTION_DUMP,
        CTRACE__ACTION_TIME,
        CTRACE__ACTION_COUNT,
        CTRACE__ACTION_RETURN,
    };
    assert_int_equal(spec->nactions, CTRACE__ARRAY_SIZE(want));
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(want); i++)
        assert_int_equal(spec->actions[i], want[i]);
    assert_int_equal(spec->action_mask, 0x3f);
    ctrace__spec_free(spec);
    check_json("a:b/1 -> stack;return;'return'",
               "{\"kind\":\"call\",\"module\":\"a\",\"function\":\"b\","
               "\"arity\":1,\"args\":null,\"guard\":null,"
               "\"actions\":[\"stack\",\"return\",\"return\"]}");
}

static void action_mask_is_the_union_of_the_actions(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("a -> stack,stack,count");
    assert_int_equal(spec->nactions, 3);
    assert_int_equal(spec->action_mask,
                     CTRACE__ACTION_STACK | CTRACE__ACTION_COUNT);
    ctrace__spec_free(spec);
}

static void sixteen_actions_fit_and_seventeen_do_not(void **state)
{
    (void)state;
    char text[256] = "a:b ->";
    for (int i = 0; i < CTRACE__SPEC_MAX_ACTIONS; i++)
        strcat(text, i ? ",time" : " time");
    struct ctrace__spec *spec = parse(text);
    assert_int_equal(spec->nactions, CTRACE__SPEC_MAX_ACTIONS);
    ctrace__spec_free(spec);
    strcat(text, ",dump");
    check_error(text,
                CTRACE_ESYNTAX,
                (int)strlen(text) - 3,
                "too many actions; a spec can have at most 16");
}

static void unknown_action_names_the_choices(void **state)
{
    (void)state;
    check_error("a:b -> bla",
                CTRACE_ESYNTAX,
                8,
                "unknown action 'bla'; expected return, stack, caller, dump, "
                "time or count");
    check_error("a:b -> return,",
                CTRACE_ESYNTAX,
                15,
                "expected an action (return, stack, caller, dump, time or "
                "count), got end of input");
    check_error("a:b -> return stack",
                CTRACE_ESYNTAX,
                15,
                "expected ',', ';' or end of input after action, got "
                "'stack'");
}

/* ---- argument patterns -------------------------------------------------- */

static void variables_are_numbered_by_first_appearance(void **state)
{
    (void)state;
    struct ctrace__spec *spec =
        parse("a:b(Y, {X, _Z, [Y | T]}, _, X) when T == [] -> return");
    assert_int_equal(spec->nvars, 4);
    assert_string_equal(spec->vars[0], "Y");
    assert_string_equal(spec->vars[1], "X");
    assert_string_equal(spec->vars[2], "_Z");
    assert_string_equal(spec->vars[3], "T");
    assert_int_equal(spec->args[0].u.var, 0);
    const struct ctrace__pat *tuple = &spec->args[1];
    assert_int_equal(tuple->kind, CTRACE__PAT_TUPLE);
    assert_int_equal(tuple->u.seq.len, 3);
    assert_null(tuple->u.seq.tail);
    assert_int_equal(tuple->u.seq.items[0].u.var, 1);
    assert_int_equal(tuple->u.seq.items[1].kind, CTRACE__PAT_VAR);
    assert_int_equal(tuple->u.seq.items[1].u.var, 2);
    const struct ctrace__pat *list = &tuple->u.seq.items[2];
    assert_int_equal(list->kind, CTRACE__PAT_LIST);
    assert_int_equal(list->u.seq.items[0].u.var, 0);
    assert_int_equal(list->u.seq.tail->kind, CTRACE__PAT_VAR);
    assert_int_equal(list->u.seq.tail->u.var, 3);
    assert_int_equal(spec->args[2].kind, CTRACE__PAT_ANY);
    assert_int_equal(spec->args[3].u.var, 1);
    assert_int_equal(spec->guard->u.op.lhs->u.term->u.var, 3);
    ctrace__spec_free(spec);
}

static void thirty_two_variables_fit_and_thirty_three_do_not(void **state)
{
    (void)state;
    char text[512] = "a:b(";
    for (int i = 0; i < CTRACE__SPEC_MAX_VARS; i++) {
        char v[8];
        snprintf(v, sizeof(v), "%sV%d", i ? "," : "", i);
        strcat(text, v);
    }
    size_t len = strlen(text);
    strcat(text, ")");
    struct ctrace__spec *spec = parse(text);
    assert_int_equal(spec->nvars, CTRACE__SPEC_MAX_VARS);
    ctrace__spec_free(spec);
    text[len] = '\0';
    strcat(text, ",V0,Extra)");
    check_error(text,
                CTRACE_ESYNTAX,
                (int)len + 5,
                "too many variables; a spec can bind at most 32");
}

static void underscore_and_quoted_underscore_match_anything(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("a:b(_, '_')");
    assert_int_equal(spec->args[0].kind, CTRACE__PAT_ANY);
    assert_int_equal(spec->args[1].kind, CTRACE__PAT_ANY);
    assert_int_equal(spec->nvars, 0);
    ctrace__spec_free(spec);
    check_arg_json("_, '_'", "{\"any\":true},{\"any\":true}");
}

static void integers_are_read_in_every_notation(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t value;
    } cases[] = {
        {"42", 42},
        {"-42", -42},
        {"- 7", -7},
        {"0", 0},
        {"$a", 97},
        {"$\\n", 10},
        {"$\\s", 32},
        {"$ ", 32},
        {"$\\x{1F600}", 0x1f600},
        {"$\\101", 65},
        {"$é", 233},
        {"-$a", -97},
        {"2#101", 5},
        {"16#ff", 255},
        {"16#FF", 255},
        {"36#z", 35},
        {"36#Z", 35},
        {"0xff", 255},
        {"0XFF", 255},
        {"0x7fffffffffffffff", INT64_MAX},
        {"-16#10", -16},
        {"8#777", 511},
        {"$\\'", 39},
    };
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(cases); i++) {
        char text[64];
        snprintf(text, sizeof(text), "a:b(%s)", cases[i].text);
        struct ctrace__spec *spec = parse(text);
        assert_int_equal(spec->args[0].kind, CTRACE__PAT_LIT);
        assert_int_equal(spec->args[0].u.lit.kind, CTRACE_VALUE_INT);
        if (spec->args[0].u.lit.as.i != cases[i].value)
            print_error("case %s\n", cases[i].text);
        assert_true(spec->args[0].u.lit.as.i == cases[i].value);
        ctrace__spec_free(spec);
    }
    check_arg_json("42, -42, $a, 16#ff, 0xff",
                   "{\"int\":42},{\"int\":-42},{\"int\":97},{\"int\":255},"
                   "{\"int\":255}");
}

static void integers_above_int64_max_become_uint_literals(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse(
        "a:b(9223372036854775807, 9223372036854775808, 18446744073709551615, "
        "-9223372036854775808, 16#ffffffffffffffff)");
    assert_int_equal(spec->args[0].u.lit.kind, CTRACE_VALUE_INT);
    assert_true(spec->args[0].u.lit.as.i == INT64_MAX);
    assert_int_equal(spec->args[1].u.lit.kind, CTRACE_VALUE_UINT);
    assert_true(spec->args[1].u.lit.as.u == (uint64_t)INT64_MAX + 1);
    assert_int_equal(spec->args[2].u.lit.kind, CTRACE_VALUE_UINT);
    assert_true(spec->args[2].u.lit.as.u == UINT64_MAX);
    assert_int_equal(spec->args[3].u.lit.kind, CTRACE_VALUE_INT);
    assert_true(spec->args[3].u.lit.as.i == INT64_MIN);
    assert_int_equal(spec->args[4].u.lit.kind, CTRACE_VALUE_UINT);
    ctrace__spec_free(spec);
    check_arg_json("18446744073709551615, -9223372036854775808",
                   "{\"int\":18446744073709551615},"
                   "{\"int\":-9223372036854775808}");
}

static void integers_beyond_64_bits_are_errors(void **state)
{
    (void)state;
    check_error("a:b(18446744073709551616)",
                CTRACE_ESYNTAX,
                5,
                "integer 18446744073709551616 does not fit in 64 bits");
    check_error("a:b(-9223372036854775809)",
                CTRACE_ESYNTAX,
                5,
                "integer -9223372036854775809 does not fit in 64 bits");
    check_error("a:b(123456789012345678901234567890)",
                CTRACE_ESYNTAX,
                5,
                "integer 12345678901234567890... does not fit in 64 bits");
    check_error("a:b(16#10000000000000000)",
                CTRACE_ESYNTAX,
                5,
                "integer 16#10000000000000000 does not fit in 64 bits");
}

static void radix_and_digit_errors_name_the_problem(void **state)
{
    (void)state;
    check_error(
        "a:b(37#1)", CTRACE_ESYNTAX, 5, "radix 37 is out of range 2..36");
    check_error("a:b(1#1)", CTRACE_ESYNTAX, 5, "radix 1 is out of range 2..36");
    check_error(
        "a:b(16#fg)", CTRACE_ESYNTAX, 9, "digit 'g' is not valid in base 16");
    check_error(
        "a:b(2#2)", CTRACE_ESYNTAX, 7, "digit '2' is not valid in base 2");
    check_error(
        "a:b(0xfz)", CTRACE_ESYNTAX, 8, "digit 'z' is not valid in base 16");
    check_error("a:b(16#)", CTRACE_ESYNTAX, 5, "expected digits after '16#'");
    check_error("a:b(12abc)", CTRACE_ESYNTAX, 5, "invalid number '12abc'");
}

static void floats_need_digits_on_both_sides_of_the_dot(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("a:b(1.5, -0.5, 1.0e3, 2.5E-3, 1.0e+2)");
    assert_int_equal(spec->args[0].u.lit.kind, CTRACE_VALUE_DOUBLE);
    assert_true(spec->args[0].u.lit.as.d == 1.5);
    assert_true(spec->args[1].u.lit.as.d == -0.5);
    assert_true(spec->args[2].u.lit.as.d == 1000.0);
    assert_true(spec->args[3].u.lit.as.d == 2.5e-3);
    assert_true(spec->args[4].u.lit.as.d == 100.0);
    ctrace__spec_free(spec);
    check_error("a:b(1.)",
                CTRACE_ESYNTAX,
                6,
                "a float needs digits on both sides of the dot, as in 1.0");
    check_error("a:b(.5)",
                CTRACE_ESYNTAX,
                5,
                "a float needs a digit before the dot, as in 0.5");
    check_error("a:b(1e3)",
                CTRACE_ESYNTAX,
                5,
                "invalid number '1e3'; a float needs digits on both sides of "
                "a dot, as in 1.0e3");
    check_error("a:b(1.5e)",
                CTRACE_ESYNTAX,
                5,
                "expected digits in the exponent of '1.5e'");
    check_error(
        "a:b(1.0e400)", CTRACE_ESYNTAX, 5, "float '1.0e400' is out of range");
}

static void floats_print_in_their_shortest_form(void **state)
{
    (void)state;
    check_arg_json("1.5, -0.5, 1.0e3, 2.5E-3, 0.1, 0.30000000000000004",
                   "{\"float\":1.5},{\"float\":-0.5},{\"float\":1000.0},"
                   "{\"float\":0.0025},{\"float\":0.1},"
                   "{\"float\":0.30000000000000004}");
    check_arg_json("0.0, -0.0, 1.0e21, 1.0e20, 2.5e-7, 2.5e-8",
                   "{\"float\":0.0},{\"float\":-0.0},{\"float\":1.0e21},"
                   "{\"float\":100000000000000000000.0},"
                   "{\"float\":0.00000025},{\"float\":2.5e-8}");
    check_arg_json("1.7976931348623157e308, 4.9e-324, 123.456",
                   "{\"float\":1.7976931348623157e308},"
                   "{\"float\":5.0e-324},{\"float\":123.456}");
}

static void strings_decode_escapes(void **state)
{
    (void)state;
    struct ctrace__spec *spec =
        parse("a:b(\"\\\"\\\\\\n\\t\\r\\e\\s\\d\\0\\b\\f\\v\\'\", "
              "\"\\x41\\101\\x{e9}\\x{1F600}\\7\\77\")");
    const struct ctrace_value *s = &spec->args[0].u.lit;
    assert_int_equal(s->kind, CTRACE_VALUE_STRING);
    assert_int_equal(s->as.str.len, 13);
    assert_memory_equal(s->as.str.ptr, "\"\\\n\t\r\033 \177\0\b\f\v'", 13);
    s = &spec->args[1].u.lit;
    assert_int_equal(s->as.str.len, 10);
    assert_memory_equal(s->as.str.ptr, "AA\xc3\xa9\xf0\x9f\x98\x80\a?", 10);
    ctrace__spec_free(spec);
    check_arg_json("\"q\\\"t\\n\", \"Тихон\"",
                   "{\"string\":\"q\\\"t\\n\"},{\"string\":\"Тихон\"}");
    check_arg_json("\"Ti\" \"hon\"", "{\"string\":\"Tihon\"}");
}

static void escape_errors_point_at_the_backslash(void **state)
{
    (void)state;
    check_error("a:b(\"ab\\q\")",
                CTRACE_ESYNTAX,
                8,
                "unknown escape '\\q'; expected one of \\b \\d \\e \\f \\n "
                "\\r \\s \\t \\v \\' \\\" \\\\ \\NNN \\xHH \\x{H...}");
    check_error("a:b(\"\\x4\")",
                CTRACE_ESYNTAX,
                6,
                "expected two hex digits or {...} after '\\x' in escape");
    check_error("a:b(\"\\x{}\")",
                CTRACE_ESYNTAX,
                6,
                "expected hex digits and '}' after '\\x{' in escape");
    check_error("a:b(\"\\x{110000}\")",
                CTRACE_ESYNTAX,
                6,
                "escape '\\x{110000}' is not a Unicode code point");
    check_error("a:b(\"\\400\")",
                CTRACE_ESYNTAX,
                6,
                "octal escape '\\400' is out of range; the largest byte is "
                "\\377");
    check_error("a:b(\"abc)",
                CTRACE_ESYNTAX,
                5,
                "unterminated string: no closing '\"'");
    check_error("a:b(\"abc\\\")",
                CTRACE_ESYNTAX,
                5,
                "unterminated string: no closing '\"'");
    check_error("a:b('abc)",
                CTRACE_ESYNTAX,
                5,
                "unterminated quoted atom: no closing quote");
    check_error("a:b($\\",
                CTRACE_ESYNTAX,
                5,
                "expected an escape after '$\\', got end of input");
}

static void non_utf8_string_prints_as_bytes(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("a:b(\"\\xff\\xfe\")");
    assert_int_equal(spec->args[0].u.lit.kind, CTRACE_VALUE_STRING);
    assert_int_equal(spec->args[0].u.lit.as.str.len, 2);
    ctrace__spec_free(spec);
    check_arg_json("\"\\xff\\xfe\"", "{\"bytes\":[255,254]}");
    check_arg_json("\"a\\0b\"", "{\"string\":\"a\\u0000b\"}");
}

static void atoms_are_symbol_literals(void **state)
{
    (void)state;
    struct ctrace__spec *spec =
        parse("a:b(ok, true, false, null, 'not an atom', node@host)");
    for (size_t i = 0; i < spec->nargs; i++) {
        assert_int_equal(spec->args[i].kind, CTRACE__PAT_LIT);
        assert_int_equal(spec->args[i].u.lit.kind, CTRACE_VALUE_SYMBOL);
    }
    assert_string_equal(spec->args[1].u.lit.as.str.ptr, "true");
    assert_int_equal(spec->args[4].u.lit.as.str.len, 11);
    ctrace__spec_free(spec);
    check_arg_json("ok, true, 'it\\'s', 'кот'",
                   "{\"atom\":\"ok\"},{\"atom\":\"true\"},"
                   "{\"atom\":\"it's\"},{\"atom\":\"кот\"}");
    check_error("a:b(when)",
                CTRACE_ESYNTAX,
                5,
                "'when' is a reserved word; write it in quotes to mean the "
                "atom");
    check_arg_json("'when'", "{\"atom\":\"when\"}");
    check_error(
        "a:b('a\\0b')", CTRACE_ESYNTAX, 5, "an atom cannot contain a NUL byte");
    check_error("a:b('\\xff')",
                CTRACE_ESYNTAX,
                5,
                "an atom must be valid UTF-8; its escapes make it invalid");
}

static void tuples_and_lists_nest(void **state)
{
    (void)state;
    check_arg_json("{}, {cat, \"Tihon\"}, {a, {b, [c, [d]]}}",
                   "{\"tuple\":[]},"
                   "{\"tuple\":[{\"atom\":\"cat\"},{\"string\":\"Tihon\"}]},"
                   "{\"tuple\":[{\"atom\":\"a\"},{\"tuple\":[{\"atom\":\"b\"},"
                   "{\"list\":[{\"atom\":\"c\"},{\"list\":[{\"atom\":\"d\"}],"
                   "\"tail\":null}],\"tail\":null}]}]}");
    check_arg_json("[], [H | T]",
                   "{\"list\":[],\"tail\":null},"
                   "{\"list\":[{\"var\":\"H\"}],\"tail\":{\"var\":\"T\"}}");
}

static void list_tails_that_are_lists_are_flattened(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("a:b([1 | [2 | [3 | T]]], [1 | []])");
    const struct ctrace__pat *l = &spec->args[0];
    assert_int_equal(l->kind, CTRACE__PAT_LIST);
    assert_int_equal(l->u.seq.len, 3);
    assert_int_equal(l->u.seq.tail->kind, CTRACE__PAT_VAR);
    l = &spec->args[1];
    assert_int_equal(l->u.seq.len, 1);
    assert_null(l->u.seq.tail);
    ctrace__spec_free(spec);
}

static void char_list_with_a_tail_stays_a_list(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("a:b([$a, $b | T])");
    assert_int_equal(spec->args[0].kind, CTRACE__PAT_LIST);
    assert_int_equal(spec->args[0].u.seq.len, 2);
    ctrace__spec_free(spec);
    check_arg_json("[$a, $b | T]",
                   "{\"list\":[{\"int\":97},{\"int\":98}],"
                   "\"tail\":{\"var\":\"T\"}}");
}

static void binaries_become_string_or_bytes_literals(void **state)
{
    (void)state;
    struct ctrace__spec *spec =
        parse("a:b(<<\"abc\">>, <<1, \"abc\", 255>>, <<>>, <<\"\">>, <<$a>>)");
    assert_int_equal(spec->args[0].u.lit.kind, CTRACE_VALUE_STRING);
    assert_int_equal(spec->args[1].u.lit.kind, CTRACE_VALUE_BYTES);
    assert_int_equal(spec->args[1].u.lit.as.str.len, 5);
    assert_int_equal(spec->args[2].u.lit.kind, CTRACE_VALUE_BYTES);
    assert_int_equal(spec->args[2].u.lit.as.str.len, 0);
    assert_int_equal(spec->args[3].u.lit.kind, CTRACE_VALUE_STRING);
    assert_int_equal(spec->args[3].u.lit.as.str.len, 0);
    assert_int_equal(spec->args[4].u.lit.kind, CTRACE_VALUE_BYTES);
    ctrace__spec_free(spec);
    check_arg_json("<<\"abc\">>, <<1, \"abc\", 255>>, <<>>",
                   "{\"string\":\"abc\"},{\"bytes\":[1,97,98,99,255]},"
                   "{\"bytes\":[]}");
}

static void string_prefixes_become_prefix_patterns(void **state)
{
    (void)state;
    struct ctrace__spec *spec =
        parse("a:b(\"ab\" ++ T, \"ab\" ++ _, \"ab\" ++ \"cd\", \"\" ++ R)");
    const struct ctrace__pat *p = &spec->args[0];
    assert_int_equal(p->kind, CTRACE__PAT_PREFIX);
    assert_int_equal(p->u.prefix.len, 2);
    assert_memory_equal(p->u.prefix.ptr, "ab", 2);
    assert_int_equal(p->u.prefix.tail->kind, CTRACE__PAT_VAR);
    assert_int_equal(spec->args[1].u.prefix.tail->kind, CTRACE__PAT_ANY);
    assert_int_equal(spec->args[2].kind, CTRACE__PAT_LIT);
    assert_int_equal(spec->args[2].u.lit.kind, CTRACE_VALUE_STRING);
    assert_int_equal(spec->args[2].u.lit.as.str.len, 4);
    /* ""++R is R, as in Erlang. */
    assert_int_equal(spec->args[3].kind, CTRACE__PAT_VAR);
    ctrace__spec_free(spec);
    check_arg_json("\"ab\"++T, \"ab\"++_, \"ab\"++\"cd\", \"a\"++\"b\"++R",
                   "{\"prefix\":\"ab\",\"tail\":{\"var\":\"T\"}},"
                   "{\"prefix\":\"ab\",\"tail\":{\"any\":true}},"
                   "{\"string\":\"abcd\"},"
                   "{\"prefix\":\"ab\",\"tail\":{\"var\":\"R\"}}");
    check_error("a:b(T ++ \"a\")",
                CTRACE_ESYNTAX,
                5,
                "the left side of '++' must be a string or a proper list "
                "literal, got 'T'");
    check_error("a:b(\"a\" ++ T ++ \"b\")",
                CTRACE_ESYNTAX,
                12,
                "the left side of '++' must be a string or a proper list "
                "literal, got 'T'");
    check_error("a:b([$a | T] ++ R)",
                CTRACE_ESYNTAX,
                5,
                "the left side of '++' must be a string or a proper list "
                "literal, got '[$a | T]'");
    check_error("a:b(\"a\" ++ 1)",
                CTRACE_ESYNTAX,
                12,
                "expected a string, a variable or '_' after '++', got '1'");
}

static void appending_to_a_list_literal_gives_its_tail(void **state)
{
    (void)state;
    struct ctrace__spec *spec =
        parse("a:b([$a, $b] ++ T, [1] ++ [2] ++ [3 | R], [] ++ X)");
    const struct ctrace__pat *l = &spec->args[0];
    assert_int_equal(l->kind, CTRACE__PAT_LIST);
    assert_int_equal(l->u.seq.len, 2);
    assert_int_equal(l->u.seq.tail->kind, CTRACE__PAT_VAR);
    l = &spec->args[1];
    assert_int_equal(l->u.seq.len, 3);
    assert_int_equal(l->u.seq.tail->kind, CTRACE__PAT_VAR);
    /* []++X is X itself. */
    assert_int_equal(spec->args[2].kind, CTRACE__PAT_VAR);
    assert_int_equal(spec->args[2].column, 43);
    ctrace__spec_free(spec);
    check_arg_json("[$a] ++ _",
                   "{\"list\":[{\"int\":97}],\"tail\":{\"any\":true}}");
}

static void binary_prefixes_become_prefix_patterns(void **state)
{
    (void)state;
    struct ctrace__spec *spec = parse("a:b(<<\"Ti\", _/binary>>, <<\"Ti\", "
                                      "Rest/binary>>, <<1, 2, _/bytes>>)");
    assert_int_equal(spec->args[0].kind, CTRACE__PAT_PREFIX);
    assert_int_equal(spec->args[0].u.prefix.tail->kind, CTRACE__PAT_ANY);
    assert_int_equal(spec->args[1].u.prefix.tail->kind, CTRACE__PAT_VAR);
    assert_int_equal(spec->args[1].u.prefix.tail->u.var, 0);
    assert_int_equal(spec->args[2].u.prefix.len, 2);
    ctrace__spec_free(spec);
    check_arg_json("<<\"Ti\",_/binary>>, <<1,255,R/binary>>",
                   "{\"prefix\":\"Ti\",\"tail\":{\"any\":true}},"
                   "{\"prefix\":[1,255],\"tail\":{\"var\":\"R\"}}");
}

static void binaries_reject_bit_syntax(void **state)
{
    (void)state;
    static const char msg_bits[] =
        "bit syntax has no meaning for C values; a binary holds bytes 0..255 "
        "and strings, and may end with _/binary";
    check_error("a:b(<<\"a\"/utf8>>)", CTRACE_EUNSUPPORTED, 10, msg_bits);
    check_error("a:b(<<1:3>>)", CTRACE_EUNSUPPORTED, 8, msg_bits);
    check_error("a:b(<<\"a\", _/bits>>)", CTRACE_EUNSUPPORTED, 14, msg_bits);
    check_error("a:b(<<_/binary-unit:8>>)", CTRACE_EUNSUPPORTED, 15, msg_bits);
    check_error("a:b(<<X:8>>)",
                CTRACE_EUNSUPPORTED,
                7,
                "a variable in a binary must be the final Var/binary tail; "
                "other bit syntax has no meaning for C values");
    check_error("a:b(<<_/binary, 1>>)",
                CTRACE_ESYNTAX,
                7,
                "the Var/binary tail must be the last segment of a binary");
    check_error("a:b(<<256>>)",
                CTRACE_ESYNTAX,
                7,
                "a byte in a binary must be 0..255, got '256'");
    check_error("a:b(<<-1>>)",
                CTRACE_ESYNTAX,
                7,
                "a byte in a binary must be 0..255, got '-1'");
}

static void erlang_only_terms_have_no_meaning_for_c_values(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int column;
        const char *message;
    } cases[] = {
        {"a:b(#{a => 1})",
         5,
         "maps have no meaning for C values; match a struct as a tuple"},
        {"a:b(M#{a := 1})",
         5,
         "maps have no meaning for C values; match a struct as a tuple"},
        {"a:b(file#file_info{size = 1})",
         5,
         "records have no meaning for C values; match a struct as a tuple"},
        {"a:b(#rec{})",
         5,
         "records have no meaning for C values; match a struct as a tuple"},
        {"a:b(<0.1.0>)",
         5,
         "pids, ports and references have no meaning for C values"},
        {"a:b(#Ref<0.1.2.3>)",
         5,
         "pids, ports and references have no meaning for C values"},
        {"a:b(#Port<0.1>)",
         5,
         "pids, ports and references have no meaning for C values"},
        {"a:b(fun m:f/1)", 5, "funs have no meaning for C values"},
        {"a:b(X) when X == #{}",
         18,
         "maps have no meaning for C values; match a struct as a tuple"},
    };
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(cases); i++) {
        check_error(cases[i].text,
                    CTRACE_EUNSUPPORTED,
                    cases[i].column,
                    cases[i].message);
    }
}

static void nesting_is_limited_to_64_levels(void **state)
{
    (void)state;
    char text[512];
    for (int depth = 64; depth <= 65; depth++) {
        strcpy(text, "a:b(");
        for (int i = 0; i < depth; i++)
            strcat(text, i % 2 ? "[" : "{");
        for (int i = depth - 1; i >= 0; i--)
            strcat(text, i % 2 ? "]" : "}");
        strcat(text, ")");
        if (depth == 64) {
            ctrace__spec_free(parse(text));
        } else {
            check_error(
                text, CTRACE_ETOODEEP, 5 + 64, "nesting deeper than 64 levels");
        }
    }
    /* Parentheses, unary operators and calls in guards count too. */
    strcpy(text, "a:b(X) when ");
    for (int i = 0; i < 70; i++)
        strcat(text, "(");
    strcat(text, "X");
    for (int i = 0; i < 70; i++)
        strcat(text, ")");
    assert_int_equal(error_code(text), CTRACE_ETOODEEP);
    strcpy(text, "a:b(X) when ");
    for (int i = 0; i < 70; i++)
        strcat(text, "not ");
    strcat(text, "X");
    assert_int_equal(error_code(text), CTRACE_ETOODEEP);
    strcpy(text, "a:b(X) when ");
    for (int i = 0; i < 70; i++)
        strcat(text, "abs(");
    strcat(text, "X");
    for (int i = 0; i < 70; i++)
        strcat(text, ")");
    assert_int_equal(error_code(text), CTRACE_ETOODEEP);
}

static void deep_input_never_overflows_the_stack(void **state)
{
    (void)state;
    /* 60000 open brackets: the depth limit stops the descent early. */
    size_t n = 60000;
    char *text = malloc(n + 8);
    assert_non_null(text);
    memcpy(text, "a:b(", 4);
    memset(text + 4, '[', n);
    assert_int_equal(ctrace__spec_parse(text, n + 4, NULL) == NULL, 1);
    memset(text + 4, '(', n);
    memcpy(text, "a:b(X) when ", 12);
    assert_null(ctrace__spec_parse(text, n + 4, NULL));
    free(text);
}

/* ---- guards ------------------------------------------------------------- */

static void guard_precedence_follows_erlang(void **state)
{
    (void)state;
    /* `and` binds like `*` and `or` like `+`, both tighter than `==`. */
    check_guard_json(
        "a:b(X, Y) when not X == Y or Y and X",
        "{\"op\":\"==\",\"args\":[{\"op\":\"not\",\"args\":[{\"var\":\"X\"}]},"
        "{\"op\":\"or\",\"args\":[{\"var\":\"Y\"},{\"op\":\"and\",\"args\":["
        "{\"var\":\"Y\"},{\"var\":\"X\"}]}]}]}");
    check_guard_json(
        "a:b(X) when X + 2 * 3 - 4 div 2 rem 3 > -X",
        "{\"op\":\">\",\"args\":[{\"op\":\"-\",\"args\":[{\"op\":\"+\","
        "\"args\":[{\"var\":\"X\"},{\"op\":\"*\",\"args\":[{\"int\":2},"
        "{\"int\":3}]}]},{\"op\":\"rem\",\"args\":[{\"op\":\"div\",\"args\":["
        "{\"int\":4},{\"int\":2}]},{\"int\":3}]}]},{\"op\":\"-\",\"args\":["
        "{\"var\":\"X\"}]}]}");
    check_guard_json(
        "a:b(X, Y) when X > 1 andalso Y < 2 orelse X xor Y",
        "{\"op\":\"orelse\",\"args\":[{\"op\":\"andalso\",\"args\":[{\"op\":"
        "\">\",\"args\":[{\"var\":\"X\"},{\"int\":1}]},{\"op\":\"<\",\"args\":"
        "[{\"var\":\"Y\"},{\"int\":2}]}]},{\"op\":\"xor\",\"args\":["
        "{\"var\":\"X\"},{\"var\":\"Y\"}]}]}");
    check_guard_json("a:b(X) when (X > 1) and (X < 5)",
                     "{\"op\":\"and\",\"args\":[{\"op\":\">\",\"args\":["
                     "{\"var\":\"X\"},{\"int\":1}]},{\"op\":\"<\",\"args\":["
                     "{\"var\":\"X\"},{\"int\":5}]}]}");
    check_guard_json("a:b(X) when X - 1 - 1",
                     "{\"op\":\"-\",\"args\":[{\"op\":\"-\",\"args\":["
                     "{\"var\":\"X\"},{\"int\":1}]},{\"int\":1}]}");
    check_guard_json("a:b(X) when - - 1",
                     "{\"op\":\"-\",\"args\":[{\"int\":-1}]}");
}

static void comparisons_do_not_chain(void **state)
{
    (void)state;
    static const char msg[] =
        "comparisons do not chain: add parentheses before '<' (note that "
        "'and' and 'or' bind tighter than comparisons; andalso and orelse do "
        "not)";
    check_error("a:b(X) when X > 1 and X < 5", CTRACE_ESYNTAX, 25, msg);
    check_error("a:b(X) when 1 < X < 5", CTRACE_ESYNTAX, 19, msg);
}

static void every_comparison_operator_is_recognised(void **state)
{
    (void)state;
    static const char *const ops[] = {
        "==", "/=", "=:=", "=/=", "<", ">", "=<", ">="};
    static const enum ctrace__op want[] = {
        CTRACE__OP_EQ,
        CTRACE__OP_NE,
        CTRACE__OP_EXACT_EQ,
        CTRACE__OP_EXACT_NE,
        CTRACE__OP_LT,
        CTRACE__OP_GT,
        CTRACE__OP_LE,
        CTRACE__OP_GE,
    };
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(ops); i++) {
        char text[64];
        snprintf(text, sizeof(text), "a:b(X)when X%s1", ops[i]);
        struct ctrace__spec *spec = parse(text);
        assert_int_equal(spec->guard->kind, CTRACE__EXPR_OP);
        assert_int_equal(spec->guard->u.op.op, want[i]);
        assert_int_equal(spec->guard->column, 13);
        ctrace__spec_free(spec);
    }
}

static void comma_is_andalso_and_semicolon_is_orelse(void **state)
{
    (void)state;
    check_guard_json(
        "a:b(X) when is_integer(X), X > 1; is_float(X)",
        "{\"op\":\"orelse\",\"args\":[{\"op\":\"andalso\",\"args\":[{\"call\":"
        "\"is_integer\",\"args\":[{\"var\":\"X\"}]},{\"op\":\">\",\"args\":["
        "{\"var\":\"X\"},{\"int\":1}]}]},{\"call\":\"is_float\",\"args\":["
        "{\"var\":\"X\"}]}]}");
    /* As in redbug, they may also appear inside parentheses. */
    check_guard_json("a:b(X) when (X, X; X)",
                     "{\"op\":\"orelse\",\"args\":[{\"op\":\"andalso\","
                     "\"args\":[{\"var\":\"X\"},{\"var\":\"X\"}]},"
                     "{\"var\":\"X\"}]}");
}

static void long_alternative_chains_are_balanced(void **state)
{
    (void)state;
    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    ctrace__sbuf_puts(&b, "a:b(X) when X == 0");
    for (int i = 1; i < 500; i++)
        ctrace__sbuf_printf(&b, "; X == %d", i);
    struct ctrace__spec *spec = parse(b.data);
    assert_true(expr_height(spec->guard) <= CTRACE__SPEC_MAX_DEPTH);
    ctrace__spec_free(spec);
    ctrace__sbuf_free(&b);

    /* A short chain keeps Erlang's left-leaning shape. */
    spec = parse("a:b(X) when X, X, X");
    assert_int_equal(spec->guard->u.op.op, CTRACE__OP_ANDALSO);
    assert_int_equal(spec->guard->u.op.lhs->kind, CTRACE__EXPR_OP);
    assert_int_equal(spec->guard->u.op.rhs->kind, CTRACE__EXPR_TERM);
    ctrace__spec_free(spec);

    /* Arithmetic does not reassociate, so its chains are limited. */
    ctrace__sbuf_puts(&b, "a:b(X) when X");
    for (int i = 0; i < 70; i++)
        ctrace__sbuf_puts(&b, " + 1");
    assert_int_equal(error_code(b.data), CTRACE_ETOODEEP);
    ctrace__sbuf_free(&b);
}

static void every_guard_function_is_known_with_its_arity(void **state)
{
    (void)state;
    for (size_t i = 0; i < CTRACE__GF_COUNT__; i++) {
        const struct ctrace__gfun_info *f = &ctrace__gfun_table[i];
        char text[128];
        snprintf(text,
                 sizeof(text),
                 "m:f(A, B, C) when %s(%s)",
                 f->name,
                 f->arity == 1   ? "A"
                 : f->arity == 2 ? "A, B"
                                 : "A, B, C");
        struct ctrace__spec *spec = parse(text);
        assert_int_equal(spec->guard->kind, CTRACE__EXPR_CALL);
        assert_int_equal(spec->guard->u.call.fn, i);
        assert_int_equal(spec->guard->u.call.nargs, f->arity);
        for (unsigned k = 0; k < f->arity; k++)
            assert_int_equal(spec->guard->u.call.args[k]->u.term->u.var, k);
        ctrace__spec_free(spec);
        /* With the erlang: prefix too. */
        snprintf(text,
                 sizeof(text),
                 "m:f(A, B, C) when erlang:%s(%s)",
                 f->name,
                 f->arity == 1   ? "A"
                 : f->arity == 2 ? "A, B"
                                 : "A, B, C");
        ctrace__spec_free(parse(text));
    }
    check_guard_json("m:f(T) when element(1, T) == hd(tl(T))",
                     "{\"op\":\"==\",\"args\":[{\"call\":\"element\","
                     "\"args\":[{\"int\":1},{\"var\":\"T\"}]},{\"call\":"
                     "\"hd\",\"args\":[{\"call\":\"tl\",\"args\":["
                     "{\"var\":\"T\"}]}]}]}");
}

static void unknown_guard_functions_are_named_with_their_arity(void **state)
{
    (void)state;
    check_error("a:b(X) when is_map_key(a, X)",
                CTRACE_ENOFUNC,
                13,
                "unknown guard function is_map_key/2");
    check_error("a:b(X) when element(1, X, 2)",
                CTRACE_ENOFUNC,
                13,
                "unknown guard function element/3; element takes 2 "
                "arguments");
    check_error("a:b(X) when is_integer()",
                CTRACE_ENOFUNC,
                13,
                "unknown guard function is_integer/0; is_integer takes 1 "
                "argument");
    check_error("a:b(X) when lists:member(X, [])",
                CTRACE_ENOFUNC,
                13,
                "unknown guard function lists:member/2");
    check_error("a:b(X) when self()",
                CTRACE_ENOFUNC,
                13,
                "unknown guard function self/0");
    /* The name is the leftmost problem even if the arguments are bad. */
    check_error("a:b(X) when foo(Y, ",
                CTRACE_ENOFUNC,
                13,
                "unknown guard function foo");
}

static void guard_variables_must_be_bound_by_the_arguments(void **state)
{
    (void)state;
    check_error(
        "a:b(X) when Y == 1", CTRACE_EUNBOUND, 13, "unbound variable Y");
    check_error("a:b(X) when X == {ok, [Y]}",
                CTRACE_EUNBOUND,
                24,
                "unbound variable Y");
    check_error(
        "a:b(X) when is_atom(_X)", CTRACE_EUNBOUND, 21, "unbound variable _X");
    check_error("a:b(_) when _ == 1",
                CTRACE_ESYNTAX,
                13,
                "'_' cannot be used in a guard; name the argument with a "
                "variable");
    ctrace__spec_free(parse("a:b(_X) when is_atom(_X)"));
}

static void guard_terms_are_variables_and_literals(void **state)
{
    (void)state;
    check_guard_json(
        "a:b(X) when X =:= {ok, [1, 2.5, \"s\", 'q', <<1>>, <<\"t\">>]}",
        "{\"op\":\"=:=\",\"args\":[{\"var\":\"X\"},{\"tuple\":[{\"atom\":"
        "\"ok\"},{\"list\":[{\"int\":1},{\"float\":2.5},{\"string\":\"s\"},"
        "{\"atom\":\"q\"},{\"bytes\":[1]},{\"string\":\"t\"}],\"tail\":null}"
        "]}]}");
    check_error("a:b(X) when {X + 1} == {2}",
                CTRACE_ESYNTAX,
                16,
                "a tuple or list in a guard can hold only variables and "
                "literals, got '+'");
    check_error("a:b(X) when X == \"a\" ++ X",
                CTRACE_ESYNTAX,
                22,
                "'++' is not supported in guards");
    check_error("a:b(X) when X == <<Y/binary>>",
                CTRACE_ESYNTAX,
                20,
                "a guard cannot match part of a binary; use an argument "
                "pattern such as <<\"ab\",_/binary>>");
}

static void a_bare_term_is_accepted_as_a_whole_guard(void **state)
{
    (void)state;
    check_guard_json("a:b(X) when X", "{\"var\":\"X\"}");
    check_guard_json("a:b(X) when true", "{\"atom\":\"true\"}");
    check_guard_json("a:b(X) when 1", "{\"int\":1}");
}

static void operators_of_other_languages_are_explained(void **state)
{
    (void)state;
    check_error("a:b(X) when X <= 1",
                CTRACE_ESYNTAX,
                15,
                "'<=' is not an Erlang operator; use '=<' for less than or "
                "equal");
    check_error("a:b(X) when X != 1",
                CTRACE_ESYNTAX,
                15,
                "'!=' is not an Erlang operator; use '/=' or '=/='");
    check_error("a:b(X) when X = 1",
                CTRACE_ESYNTAX,
                15,
                "'=' is a match, not a comparison; use '==' or '=:='");
    check_error("a:b(X) when X && X",
                CTRACE_ESYNTAX,
                15,
                "'&&' is not an Erlang operator; use andalso");
    check_error("a:b(X) when (X || X)",
                CTRACE_ESYNTAX,
                16,
                "'||' is not an Erlang operator; use orelse");
    check_error("a:b(X) when X / 2 > 1",
                CTRACE_ESYNTAX,
                15,
                "'/' (float division) is not supported in guards; use div");
    check_error("a:b(X) when abs(X bsl 1)",
                CTRACE_ESYNTAX,
                19,
                "bitwise operator 'bsl' is not supported in guards");
}

static void a_guard_needs_an_argument_list(void **state)
{
    (void)state;
    check_error("a:b/2 when X == 1",
                CTRACE_ESYNTAX,
                7,
                "a guard needs an argument list: write a:b(_,_) when ... "
                "instead of a:b/2 when ...");
    check_error("a:b/0 when true",
                CTRACE_ESYNTAX,
                7,
                "a guard needs an argument list: write a:b() when ... "
                "instead of a:b/0 when ...");
    check_error("a:b/9 when true",
                CTRACE_ESYNTAX,
                7,
                "a guard needs an argument list: write a:b with 9 argument "
                "patterns, then when ...");
    check_error("a:b when X == 1",
                CTRACE_ESYNTAX,
                5,
                "a guard needs an argument list, as in a:b(X) when ...");
    check_error("a when X == 1",
                CTRACE_ESYNTAX,
                3,
                "a guard needs a function and an argument list, as in "
                "a:f(X) when ...");
}

/* ---- the error report --------------------------------------------------- */

static void the_first_error_is_reported_with_its_column(void **state)
{
    (void)state;
    check_error("cat_traveler:enter(X when X == 1",
                CTRACE_ESYNTAX,
                22,
                "expected ')' or ',' after argument pattern, got 'when'");
    struct ctrace_error err = {0};
    const char *text = "cat_traveler:enter(X when X == 1";
    assert_null(ctrace__spec_parse(text, strlen(text), &err));
    assert_int_equal(err.position, 21);
}

static void columns_count_characters_not_bytes(void **state)
{
    (void)state;
    /* "Тихон" is 5 characters and 10 bytes. */
    const char *text = "a:b(\"Тихон\", ))";
    struct ctrace_error err = {0};
    assert_null(ctrace__spec_parse(text, strlen(text), &err));
    assert_int_equal(err.column, 14);
    assert_int_equal(err.position, 18);
    assert_string_equal(err.text, "expected a pattern, got ')'");
}

static void errors_at_the_end_say_end_of_input(void **state)
{
    (void)state;
    check_error(
        "a:b(", CTRACE_ESYNTAX, 5, "expected a pattern, got end of input");
    check_error("a:",
                CTRACE_ESYNTAX,
                3,
                "expected a function name after ':', got end of input");
    check_error("a:b(X) when",
                CTRACE_ESYNTAX,
                12,
                "expected a guard expression, got end of input");
}

static void long_tokens_are_cut_in_messages(void **state)
{
    (void)state;
    check_error("a:b(X) -> abcdefghijklmnopqrstuvwxyz",
                CTRACE_ESYNTAX,
                11,
                "unknown action 'abcdefghijklmnopqrst...'; expected return, "
                "stack, caller, dump, time or count");
    check_error("a:b/2 \"a string that is long\"",
                CTRACE_ESYNTAX,
                7,
                "expected '->' or end of input after arity, got '\"a string "
                "that is lo...'");
    check_error("a:b/2 \"two\nlines\"",
                CTRACE_ESYNTAX,
                7,
                "expected '->' or end of input after arity, got '\"two...'");
}

static void unexpected_characters_are_quoted(void **state)
{
    (void)state;
    check_error("кот:enter", CTRACE_ESYNTAX, 1, "unexpected character 'к'");
    check_error(
        "a:b(X) % comment", CTRACE_ESYNTAX, 8, "unexpected character '%'");
    check_error_len(
        "a:b(\0)", 6, CTRACE_ESYNTAX, 5, "unexpected character '\\x00'");
    check_error("a:b\x01", CTRACE_ESYNTAX, 4, "unexpected character '\\x01'");
    check_error("a:b/2.",
                CTRACE_ESYNTAX,
                6,
                "unexpected '.' at the end; a spec needs no final dot");
}

static void invalid_utf8_is_rejected_with_its_column(void **state)
{
    (void)state;
    check_error(
        "a:b(\"\xff\")", CTRACE_ESYNTAX, 6, "invalid UTF-8 at byte 0xff");
    check_error("é:\xc3", CTRACE_ESYNTAX, 3, "invalid UTF-8 at byte 0xc3");
    check_error(
        "a(\xed\xa0\x80)", CTRACE_ESYNTAX, 3, "invalid UTF-8 at byte 0xed");
    check_error("a(\xc0\xaf)", CTRACE_ESYNTAX, 3, "invalid UTF-8 at byte 0xc0");
}

static void input_longer_than_64k_is_too_long_without_a_column(void **state)
{
    (void)state;
    size_t len = CTRACE__SPEC_MAX_LENGTH + 1;
    char *text = malloc(len);
    assert_non_null(text);
    memset(text, 'a', len);
    check_error_len(text,
                    len,
                    CTRACE_ETOOLONG,
                    0,
                    "pattern is 65537 bytes long; the limit is 65536 bytes");
    /* Exactly the limit is fine: one long module name. */
    struct ctrace__spec *spec = parse_len(text, len - 1);
    assert_int_equal(strlen(spec->module), len - 1);
    ctrace__spec_free(spec);
    free(text);
}

static void empty_and_blank_input_are_errors_without_a_column(void **state)
{
    (void)state;
    static const char msg[] =
        "empty pattern; expected a module name, send, receive or procs";
    check_error("", CTRACE_ESYNTAX, 0, msg);
    check_error(" \t\r\n ", CTRACE_ESYNTAX, 0, msg);
    check_error_len(NULL, 0, CTRACE_ESYNTAX, 0, msg);
    check_error_len(NULL, 3, CTRACE_EINVAL, 0, "no pattern text");
}

static void parse_reads_only_len_bytes(void **state)
{
    (void)state;
    const char *text = "a:b/2garbage";
    struct ctrace__spec *spec = parse_len(text, 5);
    assert_int_equal(spec->arity, 2);
    assert_string_equal(spec->text, "a:b/2");
    ctrace__spec_free(spec);
}

static void parse_accepts_a_null_error_and_clears_a_used_one(void **state)
{
    (void)state;
    assert_null(ctrace__spec_parse("a:b(", 4, NULL));
    struct ctrace_error err = {0};
    err.code = CTRACE_ENOMEM;
    err.column = 9;
    strcpy(err.text, "stale");
    struct ctrace__spec *spec = ctrace__spec_parse("a:b", 3, &err);
    assert_non_null(spec);
    assert_int_equal(err.code, 0);
    assert_string_equal(err.text, "");
    ctrace__spec_free(spec);
    assert_null(ctrace__spec_parse("a:b(", 4, &err));
    assert_int_equal(err.code, CTRACE_ESYNTAX);
    assert_int_equal(err.column, 5);
}

static void a_spec_keeps_a_copy_of_its_text(void **state)
{
    (void)state;
    char text[] = "a:b(\"Tihon\") -> return";
    struct ctrace__spec *spec = parse(text);
    memset(text, 'x', sizeof(text) - 1);
    assert_string_equal(spec->text, "a:b(\"Tihon\") -> return");
    assert_memory_equal(spec->args[0].u.lit.as.str.ptr, "Tihon", 5);
    ctrace__spec_free(spec);
}

static void patterns_and_guards_record_their_columns(void **state)
{
    (void)state;
    struct ctrace__spec *spec =
        parse("a:b(X, {1, [Y]}) when is_integer(X) andalso Y > -1");
    assert_int_equal(spec->args[0].column, 5);
    assert_int_equal(spec->args[1].column, 8);
    assert_int_equal(spec->args[1].u.seq.items[0].column, 9);
    assert_int_equal(spec->args[1].u.seq.items[1].column, 12);
    const struct ctrace__expr *g = spec->guard;
    assert_int_equal(g->column, 37);
    assert_int_equal(g->u.op.lhs->column, 23);
    assert_int_equal(g->u.op.rhs->column, 47);
    assert_int_equal(g->u.op.rhs->u.op.lhs->column, 45);
    assert_int_equal(g->u.op.rhs->u.op.rhs->column, 49);
    ctrace__spec_free(spec);
}

/* ---- tables ------------------------------------------------------------- */

static void name_tables_are_complete(void **state)
{
    (void)state;
    for (size_t i = 0; i < CTRACE__OP_COUNT__; i++)
        assert_non_null(ctrace__op_names[i]);
    assert_string_equal(ctrace__op_names[CTRACE__OP_NEG], "-");
    assert_string_equal(ctrace__op_names[CTRACE__OP_SUB], "-");
    assert_string_equal(ctrace__op_names[CTRACE__OP_EXACT_NE], "=/=");
    assert_string_equal(ctrace__op_names[CTRACE__OP_LE], "=<");
    for (size_t i = 0; i < CTRACE__GF_COUNT__; i++) {
        assert_non_null(ctrace__gfun_table[i].name);
        assert_in_range(ctrace__gfun_table[i].arity, 1, 3);
    }
    assert_string_equal(ctrace__gfun_table[CTRACE__GF_BINARY_PART].name,
                        "binary_part");
    assert_int_equal(ctrace__gfun_table[CTRACE__GF_BINARY_PART].arity, 3);
    assert_string_equal(ctrace__action_name(CTRACE__ACTION_RETURN), "return");
    assert_string_equal(ctrace__action_name(CTRACE__ACTION_STACK), "stack");
    assert_string_equal(ctrace__action_name(CTRACE__ACTION_CALLER), "caller");
    assert_string_equal(ctrace__action_name(CTRACE__ACTION_DUMP), "dump");
    assert_string_equal(ctrace__action_name(CTRACE__ACTION_TIME), "time");
    assert_string_equal(ctrace__action_name(CTRACE__ACTION_COUNT), "count");
    assert_string_equal(ctrace__action_name((enum ctrace__action)0), "unknown");
}

static void spec_free_of_null_does_nothing(void **state)
{
    (void)state;
    ctrace__spec_free(NULL);
    ctrace__arena_free(NULL);
}

static void arena_allocations_are_aligned_and_zeroed(void **state)
{
    (void)state;
    struct ctrace__arena *arena = ctrace__arena_new();
    assert_non_null(arena);
    for (size_t size = 0; size < 40000; size = size * 2 + 3) {
        unsigned char *p = ctrace__arena_alloc(arena, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        for (size_t i = 0; i < size; i++)
            assert_int_equal(p[i], 0);
        memset(p, 0xab, size);
    }
    char *s = ctrace__arena_strndup(arena, "ab\0cd", 5);
    assert_memory_equal(s, "ab\0cd", 6);
    ctrace__arena_free(arena);
}

/* ---- allocation failures ------------------------------------------------ */

static void failing_allocations_never_crash_or_leak(void **state)
{
    (void)state;
    /* Long enough to need several arena chunks. */
    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    ctrace__sbuf_puts(&b, "cat_*:enter(\"Tihon\" ++ T, {cat, [1, 2 | R]}, ");
    for (int i = 0; i < 30; i++)
        ctrace__sbuf_printf(&b, "<<\"segment %d\", %d>>, 'atom%d', ", i, i, i);
    ctrace__sbuf_puts(&b,
                      "X) when is_integer(X), X > 1.5; element(1, X) == "
                      "{a, \"b\"} -> return, stack");
    assert_false(b.failed);
    unsigned long n = 1;
    for (;; n++) {
        struct ctrace_error err = {0};
        ctrace__arena_fail_countdown = n;
        struct ctrace__spec *spec = ctrace__spec_parse(b.data, b.len, &err);
        bool injected = ctrace__arena_fail_countdown == 0;
        ctrace__arena_fail_countdown = 0;
        if (!injected) {
            assert_non_null(spec);
            ctrace__spec_free(spec);
            break;
        }
        assert_null(spec);
        assert_int_equal(err.code, CTRACE_ENOMEM);
        assert_int_equal(err.column, 0);
        assert_string_equal(err.text, "out of memory");
    }
    assert_true(n > 3);
    ctrace__sbuf_free(&b);
}

/* ---- data-driven cases -------------------------------------------------- */

/* Reads a whole file, without one final newline; NULL if it cannot. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ctrace__sbuf_append(&b, chunk, n);
    fclose(f);
    if (b.len > 0 && b.data[b.len - 1] == '\n')
        b.data[--b.len] = '\0';
    *len = b.len;
    return ctrace__sbuf_take(&b);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the entries of `dir` that do not start with '.'. */
static char **list_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        print_error("cannot open %s\n", dir);
        return NULL;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char **more = realloc(names, (n + 1) * sizeof(*names));
        assert_non_null(more);
        names = more;
        names[n] = strdup(e->d_name);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), compare_names);
    *count = n;
    return names;
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/*
 * Runs every case of tests/data/pattern/<kind>/: valid cases must print
 * their expected JSON, invalid ones their expected `column N: TEXT`.
 * Failures are all reported, by case name, before the test fails.
 */
static void run_data_cases(const char *kind, size_t minimum)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", PATTERN_DATA_DIR, kind);
    size_t count = 0;
    char **names = list_dir(dir, &count);
    assert_non_null(names);
    size_t failures = 0;
    for (size_t i = 0; i < count; i++) {
        char path[1024];
        size_t input_len, expected_len;
        snprintf(path, sizeof(path), "%s/%s/input", dir, names[i]);
        char *input = read_file(path, &input_len);
        snprintf(path, sizeof(path), "%s/%s/expected", dir, names[i]);
        char *want = read_file(path, &expected_len);
        if (input == NULL || want == NULL) {
            print_error("%s/%s: missing input or expected\n", kind, names[i]);
            failures++;
            free(input);
            free(want);
            continue;
        }
        struct ctrace_error err = {0};
        struct ctrace__spec *spec = ctrace__spec_parse(input, input_len, &err);
        char got[1024];
        if (spec != NULL) {
            char *json = ctrace__spec_to_json(spec);
            snprintf(got, sizeof(got), "%s", json ? json : "(no memory)");
            ctrace_free(json);
            ctrace__spec_free(spec);
        } else if (err.column > 0) {
            snprintf(got, sizeof(got), "column %d: %s", err.column, err.text);
        } else {
            snprintf(got, sizeof(got), "%s", err.text);
        }
        bool ok = strcmp(kind, "valid") == 0 ? spec != NULL : spec == NULL;
        if (!ok || strcmp(got, want) != 0) {
            print_error("%s/%s:\n  got:      %s\n  expected: %s\n",
                        kind,
                        names[i],
                        got,
                        want);
            failures++;
        }
        free(input);
        free(want);
    }
    free_names(names, count);
    if (count < minimum)
        print_error(
            "only %zu %s cases; expected at least %zu\n", count, kind, minimum);
    assert_true(count >= minimum);
    assert_int_equal(failures, 0);
}

static void valid_data_cases_print_their_expected_json(void **state)
{
    (void)state;
    run_data_cases("valid", 30);
}

static void invalid_data_cases_report_their_expected_error(void **state)
{
    (void)state;
    run_data_cases("invalid", 45);
}

static void fuzz_corpus_replays_without_crashing(void **state)
{
    (void)state;
    size_t count = 0;
    char **names = list_dir(FUZZ_CORPUS_DIR, &count);
    assert_non_null(names);
    assert_true(count >= 30);
    for (size_t i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", FUZZ_CORPUS_DIR, names[i]);
        size_t len;
        char *input = read_file(path, &len);
        assert_non_null(input);
        struct ctrace_error err = {0};
        struct ctrace__spec *spec = ctrace__spec_parse(input, len, &err);
        if (spec != NULL) {
            assert_int_equal(err.code, 0);
            char *json = ctrace__spec_to_json(spec);
            assert_non_null(json);
            assert_int_equal(json[0], '{');
            ctrace_free(json);
            ctrace__spec_free(spec);
        } else {
            if (err.code >= 0 || err.text[0] == '\0')
                print_error("corpus file %s: error without text\n", names[i]);
            assert_true(err.code < 0);
            assert_true(err.text[0] != '\0');
        }
        free(input);
    }
    free_names(names, count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(module_alone_selects_every_function),
        cmocka_unit_test(function_without_arity_takes_any_arity),
        cmocka_unit_test(slash_arity_sets_arity_without_patterns),
        cmocka_unit_test(argument_list_fixes_the_arity),
        cmocka_unit_test(empty_argument_list_is_arity_zero_with_no_patterns),
        cmocka_unit_test(process_event_words_alone_are_process_specs),
        cmocka_unit_test(process_event_words_before_a_colon_are_modules),
        cmocka_unit_test(process_event_specs_take_no_actions),
        cmocka_unit_test(wildcards_in_name_position_become_a_star),
        cmocka_unit_test(a_variable_in_name_position_binds_nothing),
        cmocka_unit_test(globs_in_names_set_the_glob_flags),
        cmocka_unit_test(quoted_names_are_literal),
        cmocka_unit_test(every_action_is_kept_in_order_with_duplicates),
        cmocka_unit_test(action_mask_is_the_union_of_the_actions),
        cmocka_unit_test(sixteen_actions_fit_and_seventeen_do_not),
        cmocka_unit_test(unknown_action_names_the_choices),
        cmocka_unit_test(variables_are_numbered_by_first_appearance),
        cmocka_unit_test(thirty_two_variables_fit_and_thirty_three_do_not),
        cmocka_unit_test(underscore_and_quoted_underscore_match_anything),
        cmocka_unit_test(integers_are_read_in_every_notation),
        cmocka_unit_test(integers_above_int64_max_become_uint_literals),
        cmocka_unit_test(integers_beyond_64_bits_are_errors),
        cmocka_unit_test(radix_and_digit_errors_name_the_problem),
        cmocka_unit_test(floats_need_digits_on_both_sides_of_the_dot),
        cmocka_unit_test(floats_print_in_their_shortest_form),
        cmocka_unit_test(strings_decode_escapes),
        cmocka_unit_test(escape_errors_point_at_the_backslash),
        cmocka_unit_test(non_utf8_string_prints_as_bytes),
        cmocka_unit_test(atoms_are_symbol_literals),
        cmocka_unit_test(tuples_and_lists_nest),
        cmocka_unit_test(list_tails_that_are_lists_are_flattened),
        cmocka_unit_test(char_list_with_a_tail_stays_a_list),
        cmocka_unit_test(binaries_become_string_or_bytes_literals),
        cmocka_unit_test(string_prefixes_become_prefix_patterns),
        cmocka_unit_test(appending_to_a_list_literal_gives_its_tail),
        cmocka_unit_test(binary_prefixes_become_prefix_patterns),
        cmocka_unit_test(binaries_reject_bit_syntax),
        cmocka_unit_test(erlang_only_terms_have_no_meaning_for_c_values),
        cmocka_unit_test(nesting_is_limited_to_64_levels),
        cmocka_unit_test(deep_input_never_overflows_the_stack),
        cmocka_unit_test(guard_precedence_follows_erlang),
        cmocka_unit_test(comparisons_do_not_chain),
        cmocka_unit_test(every_comparison_operator_is_recognised),
        cmocka_unit_test(comma_is_andalso_and_semicolon_is_orelse),
        cmocka_unit_test(long_alternative_chains_are_balanced),
        cmocka_unit_test(every_guard_function_is_known_with_its_arity),
        cmocka_unit_test(unknown_guard_functions_are_named_with_their_arity),
        cmocka_unit_test(guard_variables_must_be_bound_by_the_arguments),
        cmocka_unit_test(guard_terms_are_variables_and_literals),
        cmocka_unit_test(a_bare_term_is_accepted_as_a_whole_guard),
        cmocka_unit_test(operators_of_other_languages_are_explained),
        cmocka_unit_test(a_guard_needs_an_argument_list),
        cmocka_unit_test(the_first_error_is_reported_with_its_column),
        cmocka_unit_test(columns_count_characters_not_bytes),
        cmocka_unit_test(errors_at_the_end_say_end_of_input),
        cmocka_unit_test(long_tokens_are_cut_in_messages),
        cmocka_unit_test(unexpected_characters_are_quoted),
        cmocka_unit_test(invalid_utf8_is_rejected_with_its_column),
        cmocka_unit_test(input_longer_than_64k_is_too_long_without_a_column),
        cmocka_unit_test(empty_and_blank_input_are_errors_without_a_column),
        cmocka_unit_test(parse_reads_only_len_bytes),
        cmocka_unit_test(parse_accepts_a_null_error_and_clears_a_used_one),
        cmocka_unit_test(a_spec_keeps_a_copy_of_its_text),
        cmocka_unit_test(patterns_and_guards_record_their_columns),
        cmocka_unit_test(name_tables_are_complete),
        cmocka_unit_test(spec_free_of_null_does_nothing),
        cmocka_unit_test(arena_allocations_are_aligned_and_zeroed),
        cmocka_unit_test(failing_allocations_never_crash_or_leak),
        cmocka_unit_test(valid_data_cases_print_their_expected_json),
        cmocka_unit_test(invalid_data_cases_report_their_expected_error),
        cmocka_unit_test(fuzz_corpus_replays_without_crashing),
    };
    return cmocka_run_group_tests_name("pattern", tests, NULL, NULL);
}
