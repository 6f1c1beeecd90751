/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the event formatters of src/sink/format.c: every event kind
 * in the redbug, recon and JSON formats, timestamps in us and ms, process
 * labels, stacks and callers, results that are missing, the render limits,
 * the final line of a session, stop reasons, the `time`/`count` report and
 * human durations. Every JSON line is parsed back with jansson. The expected
 * strings here are the examples of docs/formats.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/base.h"
#include "ctrace/session.h"
#include "ctrace/value.h"
#include "sink/sink.h"

/* 2026-11-27T00:44:52.123456Z and the return 54.213 us later, rounded. */
#define T_CALL   1795740292123456LL
#define T_RETURN 1795740292177669LL

/* Values and names the events below point to; they outlive every test. */
static const struct ctrace_value murka_minsk[] = {
    {CTRACE_VALUE_STRING, {.str = {"Murka", 5}}},
    {CTRACE_VALUE_STRING, {.str = {"Minsk", 5}}},
};
static const struct ctrace_value ok_value = {CTRACE_VALUE_SYMBOL,
                                             {.str = {"ok", 2}}};
static const struct ctrace_value visit_items[] = {
    {CTRACE_VALUE_SYMBOL, {.str = {"visit", 5}}},
    {CTRACE_VALUE_STRING, {.str = {"Minsk", 5}}},
};
static const struct ctrace_value visit_msg = {CTRACE_VALUE_TUPLE,
                                              {.seq = {visit_items, 2}}};
static const char *const stack_frames[] = {
    "cat_traveler_http:request/2",
    "cat_traveler_http:dispatch/3",
};

/* What a session with `time` on two points and `count` on one reports. */
static const struct ctrace__point_stats mixed_stats[] = {
    {"cat_traveler", "enter", 2, 10, 1234567, 456789, true},
    {"cat_traveler", "leave", 1, 3, 0, 0, false},
    {"cat_api", "get_cat", 1, 0, 0, 0, true},
};

/* A call of cat_traveler:enter("Murka", "Minsk") in a labelled process. */
static struct ctrace_event call_event(void)
{
    struct ctrace_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.struct_size = sizeof(ev);
    ev.kind = CTRACE_EVENT_CALL;
    ev.seq = 1;
    ev.time_us = T_CALL;
    ev.pid = 1297;
    ev.process = "cat_traveler_http:request/2";
    ev.module = "cat_traveler";
    ev.function = "enter";
    ev.arity = 2;
    ev.args = murka_minsk;
    ev.nargs = 2;
    return ev;
}

/* Its return, `ok` after 54213 ns, when the process has already ended. */
static struct ctrace_event return_event(void)
{
    struct ctrace_event ev = call_event();
    ev.kind = CTRACE_EVENT_RETURN;
    ev.seq = 2;
    ev.time_us = T_RETURN;
    ev.process = NULL;
    ev.dead = true;
    ev.args = NULL;
    ev.nargs = 0;
    ev.result = &ok_value;
    ev.duration_ns = 54213;
    return ev;
}

/* Any other kind, from the same labelled process at the time of the call. */
static struct ctrace_event other_event(enum ctrace_event_kind kind)
{
    struct ctrace_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.struct_size = sizeof(ev);
    ev.kind = kind;
    ev.seq = 3;
    ev.time_us = T_CALL;
    ev.pid = 1297;
    ev.process = "cat_traveler_http:request/2";
    switch (kind) {
    case CTRACE_EVENT_SEND:
        ev.message = &visit_msg;
        ev.peer_pid = 186;
        ev.peer = "cat_registry";
        break;
    case CTRACE_EVENT_RECEIVE:
        ev.message = &visit_msg;
        break;
    case CTRACE_EVENT_SPAWN:
        ev.peer_pid = 1300;
        ev.peer = "cat_traveler:worker/1";
        break;
    case CTRACE_EVENT_EXIT:
        ev.reason = "normal";
        break;
    case CTRACE_EVENT_REGISTER:
    case CTRACE_EVENT_UNREGISTER:
        ev.name = "cat_registry";
        break;
    case CTRACE_EVENT_LINK:
    case CTRACE_EVENT_UNLINK:
        ev.peer_pid = 1300;
        break;
    default:
        break;
    }
    return ev;
}

static struct ctrace__format_opts opts_for(enum ctrace_format format, bool ms)
{
    struct ctrace__format_opts o;
    ctrace__format_opts_init(&o);
    o.format = format;
    o.timestamps_ms = ms;
    return o;
}

/* The text of `ev`, as a string the caller frees. */
static char *format_with(const struct ctrace__format_opts *o,
                         const struct ctrace_event *ev)
{
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_event(o, ev, &out);
    assert_false(out.failed);
    char *s = ctrace__sbuf_take(&out);
    assert_non_null(s);
    return s;
}

/*
 * Parses each line of `text` as one JSON object and returns the object of
 * the last line (the caller decrefs it). Every line must end in "\n".
 */
static json_t *parse_json_lines(const char *text)
{
    json_t *last = NULL;
    const char *line = text;
    assert_true(*line != '\0');
    while (*line != '\0') {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        json_error_t error;
        json_t *obj =
            json_loadb(line, (size_t)(nl - line), JSON_ALLOW_NUL, &error);
        if (obj == NULL)
            fail_msg("invalid JSON line %.*s: %s",
                     (int)(nl - line),
                     line,
                     error.text);
        assert_true(json_is_object(obj));
        json_decref(last);
        last = obj;
        line = nl + 1;
    }
    return last;
}

static void check_with(const struct ctrace__format_opts *o,
                       const struct ctrace_event *ev,
                       const char *expected)
{
    char *s = format_with(o, ev);
    assert_string_equal(s, expected);
    if (o->format == CTRACE_FORMAT_JSON)
        json_decref(parse_json_lines(s));
    ctrace_free(s);
}

static void check(enum ctrace_format format,
                  bool ms,
                  const struct ctrace_event *ev,
                  const char *expected)
{
    struct ctrace__format_opts o = opts_for(format, ms);
    check_with(&o, ev, expected);
}

/* The JSON object of `ev` in the JSON format, parsed back. */
static json_t *json_of(const struct ctrace_event *ev)
{
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_JSON, false);
    char *s = format_with(&o, ev);
    /* One line, ending in its only newline. */
    assert_ptr_equal(strchr(s, '\n'), s + strlen(s) - 1);
    json_t *obj = parse_json_lines(s);
    ctrace_free(s);
    return obj;
}

static void assert_json_string(json_t *obj, const char *key, const char *want)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || !json_is_string(v))
        fail_msg("field %s is not a string", key);
    assert_string_equal(json_string_value(v), want);
}

static void assert_json_int(json_t *obj, const char *key, json_int_t want)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || !json_is_integer(v))
        fail_msg("field %s is not an integer", key);
    assert_int_equal(json_integer_value(v), want);
}

static void assert_json_null(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || !json_is_null(v))
        fail_msg("field %s is not null", key);
}

static void assert_json_absent(json_t *obj, const char *key)
{
    if (json_object_get(obj, key) != NULL)
        fail_msg("field %s should be absent", key);
}

/* Options */

static void format_opts_init_sets_documented_defaults(void **state)
{
    (void)state;
    struct ctrace__format_opts o;
    memset(&o, 0xff, sizeof(o));
    ctrace__format_opts_init(&o);
    assert_int_equal(o.format, CTRACE_FORMAT_REDBUG);
    assert_false(o.timestamps_ms);
    assert_int_equal(o.render.depth, 0);
    assert_int_equal(o.render.max_size, 1024);
}

static void null_opts_print_the_redbug_default(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    char *s = format_with(NULL, &ev);
    assert_string_equal(
        s,
        "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
        "% cat_traveler:enter(\"Murka\", \"Minsk\")\n"
        "\n");
    ctrace_free(s);
}

static void null_event_appends_nothing(void **state)
{
    (void)state;
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__sbuf_puts(&out, "kept");
    ctrace__format_event(NULL, NULL, &out);
    assert_string_equal(out.data, "kept");
    ctrace__sbuf_free(&out);
}

static void event_is_appended_after_existing_text(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_RECON, false);
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__sbuf_puts(&out, "before\n");
    ctrace__format_event(&o, &ev, &out);
    assert_string_equal(out.data,
                        "before\n"
                        "00:44:52.123456 <0.1297.0> "
                        "cat_traveler:enter(\"Murka\", \"Minsk\")\n");
    ctrace__sbuf_free(&out);
}

static void buffer_that_already_failed_is_left_alone(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__sbuf_puts(&out, "kept");
    out.failed = true;
    for (int f = CTRACE_FORMAT_REDBUG; f <= CTRACE_FORMAT_JSON; f++) {
        struct ctrace__format_opts o = opts_for((enum ctrace_format)f, false);
        ctrace__format_event(&o, &ev, &out);
        ctrace__format_stopped(&o, "stopped by user", 1, 0, 0, &out);
        ctrace__format_point_stats(&o, mixed_stats, 3, &out);
    }
    assert_true(out.failed);
    assert_string_equal(out.data, "kept");
    assert_null(ctrace__sbuf_take(&out));
}

/* redbug */

static void redbug_call_prints_header_then_call(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% cat_traveler:enter(\"Murka\", \"Minsk\")\n"
          "\n");
}

static void redbug_call_in_ms_prints_three_decimals(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    check(CTRACE_FORMAT_REDBUG,
          true,
          &ev,
          "% 00:44:52.123 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% cat_traveler:enter(\"Murka\", \"Minsk\")\n"
          "\n");
}

static void redbug_return_prints_result_and_duration(void **state)
{
    (void)state;
    struct ctrace_event ev = return_event();
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.177669 <0.1297.0>(dead)\n"
          "% cat_traveler:enter/2 -> ok (54.2 us)\n"
          "\n");
}

static void redbug_return_without_result_prints_question_mark(void **state)
{
    (void)state;
    struct ctrace_event ev = return_event();
    ev.result = NULL;
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.177669 <0.1297.0>(dead)\n"
          "% cat_traveler:enter/2 -> ? (54.2 us)\n"
          "\n");
}

static void redbug_return_not_measured_prints_no_duration(void **state)
{
    (void)state;
    struct ctrace_event ev = return_event();
    ev.duration_ns = 0;
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.177669 <0.1297.0>(dead)\n"
          "% cat_traveler:enter/2 -> ok\n"
          "\n");
}

static void redbug_dead_label_wins_over_known_name(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.dead = true;
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(dead)\n"
          "% cat_traveler:enter(\"Murka\", \"Minsk\")\n"
          "\n");
}

static void redbug_unlabelled_process_prints_bare_pid(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.process = NULL;
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>\n"
          "% cat_traveler:enter(\"Murka\", \"Minsk\")\n"
          "\n");
}

static void redbug_call_prints_stack_then_caller(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.stack = stack_frames;
    ev.stack_len = 2;
    ev.caller = "cat_traveler_http:dispatch/3";
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% cat_traveler:enter(\"Murka\", \"Minsk\")\n"
          "  cat_traveler_http:request/2\n"
          "  cat_traveler_http:dispatch/3\n"
          "  called from cat_traveler_http:dispatch/3\n"
          "\n");
}

static void redbug_call_without_captured_args_prints_arity(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.args = NULL;
    ev.nargs = 0;
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% cat_traveler:enter/2\n"
          "\n");
}

static void redbug_call_of_arity_zero_prints_empty_parentheses(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.function = "towns";
    ev.arity = 0;
    ev.args = NULL;
    ev.nargs = 0;
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% cat_traveler:towns()\n"
          "\n");
}

static void redbug_send_prints_recipient_and_message(void **state)
{
    (void)state;
    struct ctrace_event ev = other_event(CTRACE_EVENT_SEND);
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% <0.186.0>(cat_registry) <<< {visit,\"Minsk\"}\n"
          "\n");
    ev.peer = NULL;
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% <0.186.0> <<< {visit,\"Minsk\"}\n"
          "\n");
}

static void redbug_receive_prints_message(void **state)
{
    (void)state;
    struct ctrace_event ev = other_event(CTRACE_EVENT_RECEIVE);
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% <<< {visit,\"Minsk\"}\n"
          "\n");
}

static void redbug_process_events_print_one_body_line_each(void **state)
{
    (void)state;
    static const struct {
        enum ctrace_event_kind kind;
        const char *body;
    } cases[] = {
        {CTRACE_EVENT_SPAWN, "% spawned <0.1300.0> as cat_traveler:worker/1\n"},
        {CTRACE_EVENT_EXIT, "% exit normal\n"},
        {CTRACE_EVENT_REGISTER, "% registered as cat_registry\n"},
        {CTRACE_EVENT_UNREGISTER, "% no longer registered as cat_registry\n"},
        {CTRACE_EVENT_LINK, "% link <0.1300.0>\n"},
        {CTRACE_EVENT_UNLINK, "% unlink <0.1300.0>\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctrace_event ev = other_event(cases[i].kind);
        char want[256];
        snprintf(want,
                 sizeof(want),
                 "%% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/"
                 "2)\n%s\n",
                 cases[i].body);
        check(CTRACE_FORMAT_REDBUG, false, &ev, want);
    }
}

static void redbug_spawn_without_initial_call_prints_pid_only(void **state)
{
    (void)state;
    struct ctrace_event ev = other_event(CTRACE_EVENT_SPAWN);
    ev.peer = NULL;
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% spawned <0.1300.0>\n"
          "\n");
}

static void redbug_two_events_are_separated_by_an_empty_line(void **state)
{
    (void)state;
    struct ctrace_event call = call_event();
    struct ctrace_event ret = return_event();
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_REDBUG, false);
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_event(&o, &call, &out);
    ctrace__format_event(&o, &ret, &out);
    ctrace__format_stopped(&o, "msgs limit 2 reached", 2, 0, 0, &out);
    assert_string_equal(
        out.data,
        "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
        "% cat_traveler:enter(\"Murka\", \"Minsk\")\n"
        "\n"
        "% 00:44:52.177669 <0.1297.0>(dead)\n"
        "% cat_traveler:enter/2 -> ok (54.2 us)\n"
        "\n"
        "% stopped: msgs limit 2 reached (2 events, 0 dropped)\n");
    ctrace__sbuf_free(&out);
}

static void text_names_with_control_or_invalid_bytes_are_escaped(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.process = "evil\n% forged";
    ev.module = "caf\xe9";
    ev.function = "ok\xc3\xa9"; /* valid UTF-8 stays as it is */
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(evil\\x0a% forged)\n"
          "% caf\\xe9:ok\xc3\xa9(\"Murka\", \"Minsk\")\n"
          "\n");
}

/*
 * Names are checked eight and four bytes at a time, the shorter tails by
 * overlapping words: every length from 1 to 24, with one byte to escape at
 * every position (or none), must print what a byte-by-byte escaper would.
 */
static void every_length_and_position_of_an_escaped_byte(void **state)
{
    (void)state;
    static const unsigned char bad[] = {0x01, 0x1f, 0x7f, 0x80, 0xff};
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_RECON, false);
    for (size_t len = 1; len <= 24; len++) {
        for (size_t k = 0; k <= len; k++) {
            for (size_t b = 0; b < sizeof(bad); b++) {
                char name[32], want[64];
                memset(name, 'a' + (int)(len % 26), len);
                name[len] = '\0';
                size_t w = 0;
                for (size_t i = 0; i < len; i++) {
                    if (i == k) {
                        name[i] = (char)bad[b];
                        w += (size_t)snprintf(
                            want + w, sizeof(want) - w, "\\x%02x", bad[b]);
                    } else {
                        want[w++] = name[i];
                    }
                }
                memcpy(want + w, ":enter(", 8);
                struct ctrace_event ev = call_event();
                ev.module = name;
                char *text = format_with(&o, &ev);
                if (strstr(text, want) == NULL)
                    fail_msg("length %zu, byte 0x%02x at %zu: %s",
                             len,
                             bad[b],
                             k,
                             text);
                ctrace_free(text);
                if (k == len)
                    break; /* no bad byte: once is enough */
            }
        }
    }
}

static void text_truncated_utf8_sequence_in_name_is_escaped(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.module = "m\xe2\x82"; /* the first two bytes of a three-byte euro */
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:44:52.123456 <0.1297.0> m\\xe2\\x82:enter(\"Murka\", "
          "\"Minsk\")\n");
}

static void null_names_print_as_question_marks(void **state)
{
    (void)state;
    struct ctrace_event ev = return_event();
    ev.module = NULL;
    ev.function = NULL;
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:44:52.177669 <0.1297.0> ?:?/2 --> ok (54.2 us)\n");
    ev = other_event(CTRACE_EVENT_EXIT);
    ev.reason = NULL;
    check(
        CTRACE_FORMAT_RECON, false, &ev, "00:44:52.123456 <0.1297.0> EXIT ?\n");
}

/* recon */

static void recon_call_prints_one_line(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:44:52.123456 <0.1297.0> cat_traveler:enter(\"Murka\", "
          "\"Minsk\")\n");
}

static void recon_call_in_ms_prints_three_decimals(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    check(CTRACE_FORMAT_RECON,
          true,
          &ev,
          "00:44:52.123 <0.1297.0> cat_traveler:enter(\"Murka\", "
          "\"Minsk\")\n");
}

static void recon_return_prints_long_arrow_and_duration(void **state)
{
    (void)state;
    struct ctrace_event ev = return_event();
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:44:52.177669 <0.1297.0> cat_traveler:enter/2 --> ok (54.2 "
          "us)\n");
    ev.result = NULL;
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:44:52.177669 <0.1297.0> cat_traveler:enter/2 --> ? (54.2 "
          "us)\n");
}

static void recon_prints_no_process_label(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.dead = true;
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:44:52.123456 <0.1297.0> cat_traveler:enter(\"Murka\", "
          "\"Minsk\")\n");
}

/*
 * The formatters split times by arithmetic, not gmtime_r(): the JSON time
 * of instants around leap days, century years, the epoch and before it,
 * and a pseudo-random sweep, must be what gmtime_r() and the microseconds
 * make of them.
 */
static void json_time_agrees_with_gmtime_on_any_instant(void **state)
{
    (void)state;
    int64_t instants[64 + 10] = {
        0,
        -1,
        -86400000000LL,
        951782400000000LL,   /* 2000-02-29 */
        951868799999999LL,   /* 2000-02-29 23:59:59.999999 */
        -2203891200000000LL, /* 1900-03-01 */
        4107542400000000LL,  /* 2100-03-01 */
        1795741323000042LL,
        253402300799999999LL, /* 9999-12-31 23:59:59.999999 */
        -62135596800000000LL, /* 0001-01-01 */
    };
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 10; i < CTRACE__ARRAY_SIZE(instants); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Years 1 to 9999, in microseconds. */
        instants[i] =
            (int64_t)(x % 315537897600000000ULL) - 62135596800000000LL;
    }
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(instants); i++) {
        struct ctrace_event ev = call_event();
        ev.time_us = instants[i];
        int64_t sec = ev.time_us / 1000000, us = ev.time_us % 1000000;
        if (us < 0) {
            us += 1000000;
            sec--;
        }
        time_t t = (time_t)sec;
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        char want[64];
        snprintf(want,
                 sizeof(want),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                 tm.tm_year + 1900,
                 tm.tm_mon + 1,
                 tm.tm_mday,
                 tm.tm_hour,
                 tm.tm_min,
                 tm.tm_sec,
                 (int)us);
        json_t *obj = json_of(&ev);
        const char *got = json_string_value(json_object_get(obj, "time"));
        assert_non_null(got);
        if (strcmp(got, want) != 0)
            fail_msg("time_us %lld: %s, gmtime says %s",
                     (long long)instants[i],
                     got,
                     want);
        json_decref(obj);
    }
}

static void recon_pads_hour_and_minute_with_zeros(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.time_us = 1795741323000042LL; /* 01:02:03.000042 */
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "01:02:03.000042 <0.1297.0> cat_traveler:enter(\"Murka\", "
          "\"Minsk\")\n");
}

static void recon_call_prints_stack_and_caller_indented(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.stack = stack_frames;
    ev.stack_len = 2;
    ev.caller = "cat_traveler_http:dispatch/3";
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:44:52.123456 <0.1297.0> cat_traveler:enter(\"Murka\", "
          "\"Minsk\")\n"
          "  cat_traveler_http:request/2\n"
          "  cat_traveler_http:dispatch/3\n"
          "  called from cat_traveler_http:dispatch/3\n");
}

static void recon_send_and_receive_print_arrows(void **state)
{
    (void)state;
    struct ctrace_event ev = other_event(CTRACE_EVENT_SEND);
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:44:52.123456 <0.1297.0>  > <0.186.0>: {visit,\"Minsk\"}\n");
    ev = other_event(CTRACE_EVENT_RECEIVE);
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:44:52.123456 <0.1297.0> < {visit,\"Minsk\"}\n");
}

static void recon_process_events_print_as_recon_does(void **state)
{
    (void)state;
    static const struct {
        enum ctrace_event_kind kind;
        const char *body;
    } cases[] = {
        {CTRACE_EVENT_SPAWN, "spawned <0.1300.0> as cat_traveler:worker/1"},
        {CTRACE_EVENT_EXIT, "EXIT normal"},
        {CTRACE_EVENT_REGISTER, "registered as cat_registry"},
        {CTRACE_EVENT_UNREGISTER, "no longer registered as cat_registry"},
        {CTRACE_EVENT_LINK, "link(<0.1300.0>)"},
        {CTRACE_EVENT_UNLINK, "unlink(<0.1300.0>)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctrace_event ev = other_event(cases[i].kind);
        char want[256];
        snprintf(want,
                 sizeof(want),
                 "00:44:52.123456 <0.1297.0> %s\n",
                 cases[i].body);
        check(CTRACE_FORMAT_RECON, false, &ev, want);
    }
}

/* Timestamps */

static void timestamps_are_utc_at_midnight_and_end_of_day(void **state)
{
    (void)state;
    struct ctrace_event ev = other_event(CTRACE_EVENT_EXIT);
    ev.time_us = 1795737600000000LL; /* 2026-11-27T00:00:00Z */
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:00:00.000000 <0.1297.0> EXIT normal\n");
    ev.time_us = 1795737600000000LL - 1;
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "23:59:59.999999 <0.1297.0> EXIT normal\n");
}

static void ms_timestamps_truncate_rather_than_round(void **state)
{
    (void)state;
    struct ctrace_event ev = other_event(CTRACE_EVENT_EXIT);
    ev.time_us = 1795737600999999LL;
    check(CTRACE_FORMAT_RECON,
          true,
          &ev,
          "00:00:00.999 <0.1297.0> EXIT normal\n");
}

static void time_before_the_epoch_prints_a_positive_fraction(void **state)
{
    (void)state;
    struct ctrace_event ev = other_event(CTRACE_EVENT_EXIT);
    ev.time_us = -1; /* 1969-12-31T23:59:59.999999Z */
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "23:59:59.999999 <0.1297.0> EXIT normal\n");
    json_t *obj = json_of(&ev);
    assert_json_string(obj, "time", "1969-12-31T23:59:59.999999Z");
    json_decref(obj);
}

/* JSON */

static void json_call_prints_documented_fields(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    check(CTRACE_FORMAT_JSON,
          false,
          &ev,
          "{\"seq\":1,\"time\":\"2026-11-27T00:44:52.123456Z\","
          "\"kind\":\"call\",\"pid\":\"<0.1297.0>\","
          "\"process\":\"cat_traveler_http:request/2\",\"dead\":false,"
          "\"module\":\"cat_traveler\",\"function\":\"enter\",\"arity\":2,"
          "\"args\":[\"Murka\",\"Minsk\"],"
          "\"text\":\"cat_traveler:enter(\\\"Murka\\\", \\\"Minsk\\\")\"}\n");
}

static void json_call_parses_back_with_typed_fields(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    json_t *obj = json_of(&ev);
    assert_json_int(obj, "seq", 1);
    assert_json_string(obj, "time", "2026-11-27T00:44:52.123456Z");
    assert_json_string(obj, "kind", "call");
    assert_json_string(obj, "pid", "<0.1297.0>");
    assert_json_string(obj, "process", "cat_traveler_http:request/2");
    assert_true(json_is_false(json_object_get(obj, "dead")));
    assert_json_string(obj, "module", "cat_traveler");
    assert_json_string(obj, "function", "enter");
    assert_json_int(obj, "arity", 2);
    json_t *args = json_object_get(obj, "args");
    assert_true(json_is_array(args));
    assert_int_equal(json_array_size(args), 2);
    assert_string_equal(json_string_value(json_array_get(args, 0)), "Murka");
    assert_string_equal(json_string_value(json_array_get(args, 1)), "Minsk");
    assert_json_string(obj, "text", "cat_traveler:enter(\"Murka\", \"Minsk\")");
    assert_json_absent(obj, "stack");
    assert_json_absent(obj, "caller");
    json_decref(obj);
}

static void json_call_in_ms_prints_three_decimals(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_JSON, true);
    char *s = format_with(&o, &ev);
    json_t *obj = parse_json_lines(s);
    assert_json_string(obj, "time", "2026-11-27T00:44:52.123Z");
    json_decref(obj);
    ctrace_free(s);
}

static void json_call_with_stack_and_caller_adds_them(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.stack = stack_frames;
    ev.stack_len = 2;
    ev.caller = "cat_traveler_http:dispatch/3";
    check(CTRACE_FORMAT_JSON,
          false,
          &ev,
          "{\"seq\":1,\"time\":\"2026-11-27T00:44:52.123456Z\","
          "\"kind\":\"call\",\"pid\":\"<0.1297.0>\","
          "\"process\":\"cat_traveler_http:request/2\",\"dead\":false,"
          "\"module\":\"cat_traveler\",\"function\":\"enter\",\"arity\":2,"
          "\"args\":[\"Murka\",\"Minsk\"],"
          "\"text\":\"cat_traveler:enter(\\\"Murka\\\", \\\"Minsk\\\")\","
          "\"stack\":[\"cat_traveler_http:request/2\","
          "\"cat_traveler_http:dispatch/3\"],"
          "\"caller\":\"cat_traveler_http:dispatch/3\"}\n");
    json_t *obj = json_of(&ev);
    json_t *stack = json_object_get(obj, "stack");
    assert_true(json_is_array(stack));
    assert_int_equal(json_array_size(stack), 2);
    assert_string_equal(json_string_value(json_array_get(stack, 0)),
                        "cat_traveler_http:request/2");
    assert_string_equal(json_string_value(json_array_get(stack, 1)),
                        "cat_traveler_http:dispatch/3");
    assert_json_string(obj, "caller", "cat_traveler_http:dispatch/3");
    json_decref(obj);
}

static void json_call_without_captured_args_has_null_args(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.args = NULL;
    ev.nargs = 0;
    json_t *obj = json_of(&ev);
    assert_json_null(obj, "args");
    assert_json_string(obj, "text", "cat_traveler:enter/2");
    json_decref(obj);
}

static void json_return_prints_documented_fields(void **state)
{
    (void)state;
    struct ctrace_event ev = return_event();
    check(CTRACE_FORMAT_JSON,
          false,
          &ev,
          "{\"seq\":2,\"time\":\"2026-11-27T00:44:52.177669Z\","
          "\"kind\":\"return\",\"pid\":\"<0.1297.0>\",\"process\":null,"
          "\"dead\":true,\"module\":\"cat_traveler\",\"function\":\"enter\","
          "\"arity\":2,\"result\":{\"atom\":\"ok\"},\"result_text\":\"ok\","
          "\"duration_ns\":54213}\n");
}

static void json_return_without_result_has_null_and_question_mark(void **state)
{
    (void)state;
    struct ctrace_event ev = return_event();
    ev.result = NULL;
    json_t *obj = json_of(&ev);
    assert_json_null(obj, "result");
    assert_json_string(obj, "result_text", "?");
    assert_json_int(obj, "duration_ns", 54213);
    assert_json_null(obj, "process");
    assert_true(json_is_true(json_object_get(obj, "dead")));
    json_decref(obj);
}

static void json_send_and_receive_carry_the_message(void **state)
{
    (void)state;
    struct ctrace_event ev = other_event(CTRACE_EVENT_SEND);
    check(CTRACE_FORMAT_JSON,
          false,
          &ev,
          "{\"seq\":3,\"time\":\"2026-11-27T00:44:52.123456Z\","
          "\"kind\":\"send\",\"pid\":\"<0.1297.0>\","
          "\"process\":\"cat_traveler_http:request/2\",\"dead\":false,"
          "\"message\":{\"tuple\":[{\"atom\":\"visit\"},\"Minsk\"]},"
          "\"message_text\":\"{visit,\\\"Minsk\\\"}\","
          "\"to\":\"<0.186.0>\",\"to_process\":\"cat_registry\"}\n");

    ev = other_event(CTRACE_EVENT_RECEIVE);
    json_t *obj = json_of(&ev);
    assert_json_string(obj, "kind", "receive");
    assert_true(json_is_object(json_object_get(obj, "message")));
    assert_json_string(obj, "message_text", "{visit,\"Minsk\"}");
    assert_json_absent(obj, "to");
    json_decref(obj);
}

static void json_process_events_name_their_kind_and_fields(void **state)
{
    (void)state;
    static const struct {
        enum ctrace_event_kind kind;
        const char *json_kind;
        const char *key;
        const char *value;
    } cases[] = {
        {CTRACE_EVENT_SPAWN, "spawn", "peer", "<0.1300.0>"},
        {CTRACE_EVENT_EXIT, "exit", "reason", "normal"},
        {CTRACE_EVENT_REGISTER, "register", "name", "cat_registry"},
        {CTRACE_EVENT_UNREGISTER, "unregister", "name", "cat_registry"},
        {CTRACE_EVENT_LINK, "link", "peer", "<0.1300.0>"},
        {CTRACE_EVENT_UNLINK, "unlink", "peer", "<0.1300.0>"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctrace_event ev = other_event(cases[i].kind);
        json_t *obj = json_of(&ev);
        assert_json_string(obj, "kind", cases[i].json_kind);
        assert_json_string(obj, cases[i].key, cases[i].value);
        assert_json_absent(obj, "module");
        json_decref(obj);
    }
    struct ctrace_event ev = other_event(CTRACE_EVENT_SPAWN);
    check(CTRACE_FORMAT_JSON,
          false,
          &ev,
          "{\"seq\":3,\"time\":\"2026-11-27T00:44:52.123456Z\","
          "\"kind\":\"spawn\",\"pid\":\"<0.1297.0>\","
          "\"process\":\"cat_traveler_http:request/2\",\"dead\":false,"
          "\"peer\":\"<0.1300.0>\","
          "\"initial_call\":\"cat_traveler:worker/1\"}\n");
    ev.peer = NULL;
    json_t *obj = json_of(&ev);
    assert_json_null(obj, "initial_call");
    json_decref(obj);
}

static void json_escapes_non_utf8_and_control_bytes_in_names(void **state)
{
    (void)state;
    static const char *const frames[] = {"\xff\xfe", "tab\there"};
    struct ctrace_event ev = call_event();
    ev.process = "caf\xe9 \"quoted\"";
    ev.module = "m\x01";
    ev.stack = frames;
    ev.stack_len = 2;
    ev.caller = "\xc3";
    char *s = format_with(
        &(struct ctrace__format_opts){CTRACE_FORMAT_JSON, false, {0, 1024}},
        &ev);
    /* Only ASCII and valid UTF-8 leave the formatter. */
    assert_true(ctrace__utf8_valid(s, strlen(s)));
    assert_non_null(strstr(s, "\"process\":\"caf\\u00e9 \\\"quoted\\\"\""));
    ctrace_free(s);

    json_t *obj = json_of(&ev);
    assert_json_string(obj, "process", "caf\xc3\xa9 \"quoted\"");
    assert_json_string(obj, "module", "m\x01");
    json_t *stack = json_object_get(obj, "stack");
    assert_string_equal(json_string_value(json_array_get(stack, 0)),
                        "\xc3\xbf\xc3\xbe");
    assert_string_equal(json_string_value(json_array_get(stack, 1)),
                        "tab\there");
    assert_json_string(obj, "caller", "\xc3\x83");
    /* The text rendering escaped the module for terminals already. */
    assert_json_string(obj, "text", "m\\x01:enter(\"Murka\", \"Minsk\")");
    json_decref(obj);
}

static void
json_string_argument_with_nul_and_invalid_bytes_is_valid(void **state)
{
    (void)state;
    static const struct ctrace_value arg[] = {
        {CTRACE_VALUE_STRING, {.str = {"a\0b\xff", 4}}},
    };
    struct ctrace_event ev = call_event();
    ev.args = arg;
    ev.nargs = 1;
    ev.arity = 1;
    json_t *obj = json_of(&ev);
    json_t *a = json_array_get(json_object_get(obj, "args"), 0);
    /* Each invalid byte became the code point of its value, U+00FF. */
    assert_int_equal(json_string_length(a), 5);
    assert_memory_equal(json_string_value(a), "a\0b\xc3\xbf", 5);
    assert_json_string(obj, "text", "cat_traveler:enter(\"a\\x00b\\xff\")");
    json_decref(obj);
}

static void json_every_event_kind_is_one_valid_line(void **state)
{
    (void)state;
    for (int k = CTRACE_EVENT_CALL; k <= CTRACE_EVENT_UNLINK; k++) {
        struct ctrace_event ev = other_event((enum ctrace_event_kind)k);
        if (k == CTRACE_EVENT_CALL)
            ev = call_event();
        else if (k == CTRACE_EVENT_RETURN)
            ev = return_event();
        json_t *obj = json_of(&ev);
        assert_true(json_is_integer(json_object_get(obj, "seq")));
        assert_true(json_is_string(json_object_get(obj, "time")));
        assert_true(json_is_string(json_object_get(obj, "kind")));
        assert_true(json_is_string(json_object_get(obj, "pid")));
        assert_true(json_is_boolean(json_object_get(obj, "dead")));
        json_decref(obj);
    }
}

/* Unknown kinds and short structs */

static void unknown_event_kind_still_prints_in_every_format(void **state)
{
    (void)state;
    struct ctrace_event ev = other_event((enum ctrace_event_kind)42);
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% unknown event kind 42\n"
          "\n");
    check(CTRACE_FORMAT_RECON,
          false,
          &ev,
          "00:44:52.123456 <0.1297.0> unknown event kind 42\n");
    json_t *obj = json_of(&ev);
    assert_json_string(obj, "kind", "unknown");
    assert_json_int(obj, "kind_code", 42);
    json_decref(obj);
}

static void fields_past_a_short_struct_size_read_as_zero(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.stack = stack_frames;
    ev.stack_len = 2;
    ev.caller = "cat_traveler_http:dispatch/3";
    /* As if built against a struct that ended before `stack`. */
    ev.struct_size = (uint32_t)offsetof(struct ctrace_event, stack);
    check(CTRACE_FORMAT_REDBUG,
          false,
          &ev,
          "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
          "% cat_traveler:enter(\"Murka\", \"Minsk\")\n"
          "\n");
}

/* Render limits */

static const struct ctrace_value town_items[] = {
    {CTRACE_VALUE_SYMBOL, {.str = {"town", 4}}},
    {CTRACE_VALUE_STRING, {.str = {"Amsterdam", 9}}},
};
static const struct ctrace_value cat_items[] = {
    {CTRACE_VALUE_SYMBOL, {.str = {"cat", 3}}},
    {CTRACE_VALUE_TUPLE, {.seq = {town_items, 2}}},
};
static const struct ctrace_value nested_arg[] = {
    {CTRACE_VALUE_TUPLE, {.seq = {cat_items, 2}}},
};

static void depth_limit_applies_to_arguments_in_every_format(void **state)
{
    (void)state;
    struct ctrace_event ev = call_event();
    ev.arity = 1;
    ev.args = nested_arg;
    ev.nargs = 1;
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_RECON, false);
    check_with(&o,
               &ev,
               "00:44:52.123456 <0.1297.0> "
               "cat_traveler:enter({cat,{town,\"Amsterdam\"}})\n");
    o.render.depth = 1;
    check_with(
        &o, &ev, "00:44:52.123456 <0.1297.0> cat_traveler:enter({cat,...})\n");
    o.format = CTRACE_FORMAT_JSON;
    char *s = format_with(&o, &ev);
    assert_non_null(
        strstr(s, "\"args\":[{\"tuple\":[{\"atom\":\"cat\"},\"...\"]}]"));
    json_decref(parse_json_lines(s));
    ctrace_free(s);
}

static void max_size_applies_to_arguments_results_and_messages(void **state)
{
    (void)state;
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_REDBUG, false);
    o.render.max_size = 3;
    struct ctrace_event ev = call_event();
    check_with(&o,
               &ev,
               "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
               "% cat_traveler:enter(\"Mur...\", \"Min...\")\n"
               "\n");
    ev = return_event();
    struct ctrace_value long_result = ctrace_value_string("Amsterdam");
    ev.result = &long_result;
    check_with(&o,
               &ev,
               "% 00:44:52.177669 <0.1297.0>(dead)\n"
               "% cat_traveler:enter/2 -> \"Ams...\" (54.2 us)\n"
               "\n");
    ev = other_event(CTRACE_EVENT_RECEIVE);
    check_with(&o,
               &ev,
               "% 00:44:52.123456 <0.1297.0>(cat_traveler_http:request/2)\n"
               "% <<< {visit,\"Min...\"}\n"
               "\n");
    o.format = CTRACE_FORMAT_JSON;
    char *s = format_with(&o, &ev);
    json_t *obj = parse_json_lines(s);
    assert_json_string(obj, "message_text", "{visit,\"Min...\"}");
    json_t *items = json_object_get(json_object_get(obj, "message"), "tuple");
    assert_string_equal(json_string_value(json_array_get(items, 1)), "Min...");
    json_decref(obj);
    ctrace_free(s);
}

static void value_longer_than_stack_buffer_prints_whole(void **state)
{
    (void)state;
    char *text = malloc(5001);
    assert_non_null(text);
    memset(text, 'x', 5000);
    text[5000] = '\0';
    struct ctrace_value arg = ctrace_value_string(text);
    struct ctrace_event ev = call_event();
    ev.arity = 1;
    ev.args = &arg;
    ev.nargs = 1;
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_RECON, false);
    o.render.max_size = 0;
    char *s = format_with(&o, &ev);
    const char *open = strchr(s, '"');
    assert_non_null(open);
    assert_int_equal(strspn(open + 1, "x"), 5000);
    assert_string_equal(open + 1 + 5000, "\")\n");
    ctrace_free(s);

    o.format = CTRACE_FORMAT_JSON;
    s = format_with(&o, &ev);
    json_t *obj = parse_json_lines(s);
    assert_int_equal(
        json_string_length(json_array_get(json_object_get(obj, "args"), 0)),
        5000);
    json_decref(obj);
    ctrace_free(s);
    free(text);
}

/* The last line */

static void stopped_line_in_text_formats(void **state)
{
    (void)state;
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_RECON, false);
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_stopped(&o, "time limit 15000 ms reached", 4, 1, 0, &out);
    assert_string_equal(
        out.data,
        "% stopped: time limit 15000 ms reached (4 events, 1 dropped)\n");
    ctrace__sbuf_free(&out);
    ctrace__format_stopped(NULL, NULL, 0, 0, 0, &out);
    assert_string_equal(out.data, "% stopped: ? (0 events, 0 dropped)\n");
    ctrace__sbuf_free(&out);
    ctrace__format_stopped(&o, "stopped by user", 9, 7, 5, &out);
    assert_string_equal(out.data,
                        "% stopped: stopped by user (9 events, 7 dropped, 5 "
                        "of them shed for overhead)\n");
    ctrace__sbuf_free(&out);
}

static void stopped_line_in_json(void **state)
{
    (void)state;
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_JSON, false);
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_stopped(&o, "msgs limit 10 reached", 10, 3, 0, &out);
    assert_string_equal(out.data,
                        "{\"kind\":\"stopped\",\"reason\":\"msgs limit 10 "
                        "reached\",\"events\":10,\"dropped\":3}\n");
    json_t *obj = parse_json_lines(out.data);
    assert_json_string(obj, "reason", "msgs limit 10 reached");
    assert_json_int(obj, "events", 10);
    assert_json_int(obj, "dropped", 3);
    json_decref(obj);
    ctrace__sbuf_free(&out);

    ctrace__format_stopped(&o, "sink failed: \"x\"\n", UINT32_MAX, 0, 0, &out);
    obj = parse_json_lines(out.data);
    assert_json_string(obj, "reason", "sink failed: \"x\"\n");
    assert_json_int(obj, "events", UINT32_MAX);
    assert_null(json_object_get(obj, "shed"));
    json_decref(obj);
    ctrace__sbuf_free(&out);

    ctrace__format_stopped(&o, "stopped by user", 9, 7, 5, &out);
    obj = parse_json_lines(out.data);
    assert_json_int(obj, "dropped", 7);
    assert_json_int(obj, "shed", 5);
    json_decref(obj);
    ctrace__sbuf_free(&out);
}

/* Stop reasons */

static void check_reason(enum ctrace_stop_reason r,
                         uint64_t a,
                         uint64_t b,
                         int err,
                         const char *expected)
{
    char buf[128];
    memset(buf, 'z', sizeof(buf));
    ctrace__format_stop_reason(r, a, b, err, buf, sizeof(buf));
    assert_string_equal(buf, expected);
}

static void stop_reason_text_for_every_reason(void **state)
{
    (void)state;
    check_reason(CTRACE_STOP_RUNNING, 0, 0, 0, "running");
    check_reason(CTRACE_STOP_MSGS, 10, 0, 0, "msgs limit 10 reached");
    check_reason(CTRACE_STOP_TIME, 15000, 0, 0, "time limit 15000 ms reached");
    check_reason(
        CTRACE_STOP_RATE, 100, 1000, 0, "rate limit 100/1000 ms tripped");
    check_reason(
        CTRACE_STOP_QUEUE, 0, 0, 0, "queue overflow: consumer too slow");
    check_reason(CTRACE_STOP_USER, 0, 0, 0, "stopped by user");
    check_reason(CTRACE_STOP_OVERHEAD,
                 20,
                 1000,
                 0,
                 "overhead budget 20% exceeded for 1000 ms");
    check_reason(CTRACE_STOP_SINK, 0, 0, 32, "sink failed: Broken pipe");
    check_reason((enum ctrace_stop_reason)99, 0, 0, 0, "unknown reason 99");
}

static void stop_reason_sink_accepts_errno_of_either_sign(void **state)
{
    (void)state;
    check_reason(
        CTRACE_STOP_SINK, 0, 0, 28, "sink failed: No space left on device");
    check_reason(
        CTRACE_STOP_SINK, 0, 0, -28, "sink failed: No space left on device");
    check_reason(
        CTRACE_STOP_SINK, 0, 0, CTRACE_ENOMEM, "sink failed: out of memory");
    check_reason(CTRACE_STOP_SINK, 0, 0, 0, "sink failed: unknown error");
}

static void stop_reason_is_cut_like_snprintf(void **state)
{
    (void)state;
    char buf[6];
    ctrace__format_stop_reason(CTRACE_STOP_USER, 0, 0, 0, buf, sizeof(buf));
    assert_string_equal(buf, "stopp");
    /* Size 0 touches nothing, not even with a NULL buffer. */
    ctrace__format_stop_reason(CTRACE_STOP_USER, 0, 0, 0, NULL, 0);
    buf[0] = 'q';
    ctrace__format_stop_reason(CTRACE_STOP_USER, 0, 0, 0, buf, 0);
    assert_int_equal(buf[0], 'q');
}

/* Durations */

static void check_duration(uint64_t ns, const char *expected)
{
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_duration(ns, &out);
    assert_non_null(out.data);
    if (strcmp(out.data, expected) != 0)
        fail_msg("%llu ns printed \"%s\", expected \"%s\"",
                 (unsigned long long)ns,
                 out.data,
                 expected);
    ctrace__sbuf_free(&out);
}

static void decimal_numbers_are_printed_whole_and_padded(void **state)
{
    (void)state;
    static const struct {
        uint64_t v;
        unsigned width;
        const char *want;
    } cases[] = {
        {0, 0, "0"},
        {7, 0, "7"},
        {10, 0, "10"},
        {99, 0, "99"},
        {100, 0, "100"},
        {1297, 0, "1297"},
        {42, 6, "000042"},
        {123456, 6, "123456"},
        {1234567, 6, "1234567"},
        {0, 2, "00"},
        {5, 30, "00000000000000000005"}, /* width is capped at 20 */
        {UINT64_MAX, 0, "18446744073709551615"},
    };
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(cases); i++) {
        struct ctrace__sbuf out = CTRACE__SBUF_INIT;
        ctrace__sbuf_puts(&out, "=");
        ctrace__sbuf_put_u64(&out, cases[i].v, cases[i].width);
        assert_false(out.failed);
        assert_string_equal(out.data + 1, cases[i].want);
        ctrace__sbuf_free(&out);
    }
}

static void duration_below_one_us_prints_whole_ns(void **state)
{
    (void)state;
    check_duration(0, "0 ns");
    check_duration(1, "1 ns");
    check_duration(812, "812 ns");
    check_duration(999, "999 ns");
}

static void duration_prints_three_significant_digits(void **state)
{
    (void)state;
    check_duration(1000, "1.00 us");
    check_duration(1004, "1.00 us");
    check_duration(1005, "1.01 us"); /* half rounds up */
    check_duration(9994, "9.99 us");
    check_duration(9995, "10.0 us");
    check_duration(54213, "54.2 us");
    check_duration(99949, "99.9 us");
    check_duration(99950, "100 us");
    check_duration(123456, "123 us");
    check_duration(999499, "999 us");
    check_duration(1230000, "1.23 ms");
    check_duration(12345678, "12.3 ms");
    check_duration(123456789, "123 ms");
    check_duration(1520000000, "1.52 s");
    check_duration(15000000000ULL, "15.0 s");
    check_duration(999499999999ULL, "999 s");
}

static void duration_rounding_carries_into_the_next_unit(void **state)
{
    (void)state;
    check_duration(999500, "1.00 ms");
    check_duration(999999, "1.00 ms");
    check_duration(999500000, "1.00 s");
    check_duration(999999999, "1.00 s");
}

static void duration_of_1000_s_and_more_prints_whole_seconds(void **state)
{
    (void)state;
    check_duration(999500000000ULL, "1000 s");
    check_duration(1234400000000ULL, "1234 s");
    check_duration(UINT64_MAX, "18446744074 s");
}

/* The time/count report */

static void count_by_report_lists_keys_then_other(void **state)
{
    (void)state;
    static const struct ctrace__count_key keys[] = {{"\"Marfa\"", 1041},
                                                    {"\"Tihon\"", 5}};
    static const unsigned by[] = {1};
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_REDBUG, false);
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_count_by(
        &o, "cat_traveler", "enter", 2, by, 1, keys, 2, 12, &out);
    assert_string_equal(out.data,
                        "% calls  cat_traveler:enter/2 by argument 1\n"
                        "%  1041  \"Marfa\"\n"
                        "%     5  \"Tihon\"\n"
                        "%    12  other\n");
    ctrace__sbuf_free(&out);
    o = opts_for(CTRACE_FORMAT_JSON, false);
    ctrace__format_count_by(
        &o, "cat_traveler", "enter", 2, by, 1, keys, 2, 0, &out);
    assert_string_equal(
        out.data,
        "{\"kind\":\"count_by\",\"module\":\"cat_traveler\",\"function\":"
        "\"enter\",\"arity\":2,\"by\":[1],\"counts\":[{\"key\":"
        "\"\\\"Marfa\\\"\",\"calls\":1041},{\"key\":\"\\\"Tihon\\\"\","
        "\"calls\":5}],\"other\":0}\n");
    ctrace__sbuf_free(&out);
}

static void point_stats_table_aligns_columns(void **state)
{
    (void)state;
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_REDBUG, false);
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_point_stats(&o, mixed_stats, 3, &out);
    assert_string_equal(
        out.data,
        "% calls    total     mean      max  function\n"
        "%    10  1.23 ms   123 us   457 us  cat_traveler:enter/2\n"
        "%     3                             cat_traveler:leave/1\n"
        "%     0     0 ns        -     0 ns  cat_api:get_cat/1\n");
    ctrace__sbuf_free(&out);
}

static void point_stats_columns_widen_for_large_values(void **state)
{
    (void)state;
    static const struct ctrace__point_stats stats[] = {
        {"m", "f", 0, 12345678, 2000000000000ULL, 1000000000, true},
        {"m", "g", 1, 1, 5, 5, true},
    };
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_RECON, false);
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_point_stats(&o, stats, 2, &out);
    assert_string_equal(out.data,
                        "%    calls   total    mean     max  function\n"
                        "% 12345678  2000 s  162 us  1.00 s  m:f/0\n"
                        "%        1    5 ns    5 ns    5 ns  m:g/1\n");
    ctrace__sbuf_free(&out);
}

static void count_only_report_has_no_duration_columns(void **state)
{
    (void)state;
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_REDBUG, false);
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_point_stats(&o, &mixed_stats[1], 1, &out);
    assert_string_equal(out.data,
                        "% calls  function\n"
                        "%     3  cat_traveler:leave/1\n");
    ctrace__sbuf_free(&out);
}

static void point_stats_in_json_print_one_object_per_point(void **state)
{
    (void)state;
    struct ctrace__format_opts o = opts_for(CTRACE_FORMAT_JSON, false);
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_point_stats(&o, mixed_stats, 3, &out);
    assert_string_equal(
        out.data,
        "{\"kind\":\"stats\",\"module\":\"cat_traveler\",\"function\":"
        "\"enter\",\"arity\":2,\"calls\":10,\"total_ns\":1234567,"
        "\"mean_ns\":123456,\"max_ns\":456789}\n"
        "{\"kind\":\"stats\",\"module\":\"cat_traveler\",\"function\":"
        "\"leave\",\"arity\":1,\"calls\":3}\n"
        "{\"kind\":\"stats\",\"module\":\"cat_api\",\"function\":"
        "\"get_cat\",\"arity\":1,\"calls\":0,\"total_ns\":0,"
        "\"mean_ns\":0,\"max_ns\":0}\n");
    json_t *last = parse_json_lines(out.data);
    assert_json_string(last, "function", "get_cat");
    json_decref(last);
    ctrace__sbuf_free(&out);
}

static void point_stats_of_no_points_append_nothing(void **state)
{
    (void)state;
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    ctrace__format_point_stats(NULL, mixed_stats, 0, &out);
    ctrace__format_point_stats(NULL, NULL, 3, &out);
    assert_int_equal(out.len, 0);
    ctrace__sbuf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_opts_init_sets_documented_defaults),
        cmocka_unit_test(null_opts_print_the_redbug_default),
        cmocka_unit_test(null_event_appends_nothing),
        cmocka_unit_test(event_is_appended_after_existing_text),
        cmocka_unit_test(buffer_that_already_failed_is_left_alone),
        cmocka_unit_test(redbug_call_prints_header_then_call),
        cmocka_unit_test(redbug_call_in_ms_prints_three_decimals),
        cmocka_unit_test(redbug_return_prints_result_and_duration),
        cmocka_unit_test(redbug_return_without_result_prints_question_mark),
        cmocka_unit_test(redbug_return_not_measured_prints_no_duration),
        cmocka_unit_test(redbug_dead_label_wins_over_known_name),
        cmocka_unit_test(redbug_unlabelled_process_prints_bare_pid),
        cmocka_unit_test(redbug_call_prints_stack_then_caller),
        cmocka_unit_test(redbug_call_without_captured_args_prints_arity),
        cmocka_unit_test(redbug_call_of_arity_zero_prints_empty_parentheses),
        cmocka_unit_test(redbug_send_prints_recipient_and_message),
        cmocka_unit_test(redbug_receive_prints_message),
        cmocka_unit_test(redbug_process_events_print_one_body_line_each),
        cmocka_unit_test(redbug_spawn_without_initial_call_prints_pid_only),
        cmocka_unit_test(redbug_two_events_are_separated_by_an_empty_line),
        cmocka_unit_test(text_names_with_control_or_invalid_bytes_are_escaped),
        cmocka_unit_test(every_length_and_position_of_an_escaped_byte),
        cmocka_unit_test(text_truncated_utf8_sequence_in_name_is_escaped),
        cmocka_unit_test(null_names_print_as_question_marks),
        cmocka_unit_test(recon_call_prints_one_line),
        cmocka_unit_test(recon_call_in_ms_prints_three_decimals),
        cmocka_unit_test(recon_return_prints_long_arrow_and_duration),
        cmocka_unit_test(recon_prints_no_process_label),
        cmocka_unit_test(recon_pads_hour_and_minute_with_zeros),
        cmocka_unit_test(json_time_agrees_with_gmtime_on_any_instant),
        cmocka_unit_test(recon_call_prints_stack_and_caller_indented),
        cmocka_unit_test(recon_send_and_receive_print_arrows),
        cmocka_unit_test(recon_process_events_print_as_recon_does),
        cmocka_unit_test(timestamps_are_utc_at_midnight_and_end_of_day),
        cmocka_unit_test(ms_timestamps_truncate_rather_than_round),
        cmocka_unit_test(time_before_the_epoch_prints_a_positive_fraction),
        cmocka_unit_test(json_call_prints_documented_fields),
        cmocka_unit_test(json_call_parses_back_with_typed_fields),
        cmocka_unit_test(json_call_in_ms_prints_three_decimals),
        cmocka_unit_test(json_call_with_stack_and_caller_adds_them),
        cmocka_unit_test(json_call_without_captured_args_has_null_args),
        cmocka_unit_test(json_return_prints_documented_fields),
        cmocka_unit_test(json_return_without_result_has_null_and_question_mark),
        cmocka_unit_test(json_send_and_receive_carry_the_message),
        cmocka_unit_test(json_process_events_name_their_kind_and_fields),
        cmocka_unit_test(json_escapes_non_utf8_and_control_bytes_in_names),
        cmocka_unit_test(
            json_string_argument_with_nul_and_invalid_bytes_is_valid),
        cmocka_unit_test(json_every_event_kind_is_one_valid_line),
        cmocka_unit_test(unknown_event_kind_still_prints_in_every_format),
        cmocka_unit_test(fields_past_a_short_struct_size_read_as_zero),
        cmocka_unit_test(depth_limit_applies_to_arguments_in_every_format),
        cmocka_unit_test(max_size_applies_to_arguments_results_and_messages),
        cmocka_unit_test(value_longer_than_stack_buffer_prints_whole),
        cmocka_unit_test(stopped_line_in_text_formats),
        cmocka_unit_test(stopped_line_in_json),
        cmocka_unit_test(stop_reason_text_for_every_reason),
        cmocka_unit_test(stop_reason_sink_accepts_errno_of_either_sign),
        cmocka_unit_test(stop_reason_is_cut_like_snprintf),
        cmocka_unit_test(decimal_numbers_are_printed_whole_and_padded),
        cmocka_unit_test(duration_below_one_us_prints_whole_ns),
        cmocka_unit_test(duration_prints_three_significant_digits),
        cmocka_unit_test(duration_rounding_carries_into_the_next_unit),
        cmocka_unit_test(duration_of_1000_s_and_more_prints_whole_seconds),
        cmocka_unit_test(point_stats_table_aligns_columns),
        cmocka_unit_test(count_by_report_lists_keys_then_other),
        cmocka_unit_test(point_stats_columns_widen_for_large_values),
        cmocka_unit_test(count_only_report_has_no_duration_columns),
        cmocka_unit_test(point_stats_in_json_print_one_object_per_point),
        cmocka_unit_test(point_stats_of_no_points_append_nothing),
    };
    return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
