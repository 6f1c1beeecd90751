/* SPDX-License-Identifier: MIT */
/*
 * The text of events: redbug's and recon_trace's formats, JSON lines, the
 * final line of a session, the `time`/`count` report and human durations.
 *
 * Everything is appended to a struct ctrace__sbuf. Values (arguments,
 * results, messages) are printed by the value renderers of src/base/value.c
 * under the caller's render options, and so are the strings of the event in
 * JSON: a string value rendered as JSON with no size limit is exactly a JSON
 * string literal, escapes and invalid UTF-8 included, so there is one JSON
 * string escaper in the library rather than two.
 *
 * The text formats print names (processes, modules, stack frames) as they
 * are, except for control bytes and bytes that are not valid UTF-8, which
 * print as \xHH: a newline inside a registered name must not start a line
 * that looks like another event.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sink/sink.h"

/* A value rendered into this much stack needs no heap copy. */

/* The longest text of ctrace__format_duration() is "18446744073 s". */
#define DURATION_TEXT 32

void ctrace__format_opts_init(struct ctrace__format_opts *o)
{
    o->format = CTRACE_FORMAT_REDBUG;
    o->timestamps_ms = false;
    ctrace_render_opts_init(&o->render);
}

/* The options to use when the caller passed NULL. */
static const struct ctrace__format_opts *
opts_or_default(const struct ctrace__format_opts *o,
                struct ctrace__format_opts *defaults)
{
    if (o != NULL)
        return o;
    ctrace__format_opts_init(defaults);
    return defaults;
}

static const char hex_digits[] = "0123456789abcdef";

/*
 * Appends a name or stack frame for the text formats: valid UTF-8 as it is,
 * control bytes and invalid bytes as \xHH. NULL prints as `?`.
 */
static void put_name(struct ctrace__sbuf *out, const char *s)
{
    if (s == NULL) {
        ctrace__sbuf_putc(out, '?');
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        /*
         * Eight bytes at a time while none of them is a control byte, DEL
         * or above ASCII: such a byte sets the top bit of its lane in one
         * of the three terms (a borrow or carry from a neighbour can only
         * set more bits, which sends plain text to the byte loop, never
         * the other way).
         */
        while (len - i >= 8) {
            uint64_t x;
            memcpy(&x, p + i, 8);
            uint64_t t = (x - UINT64_C(0x2020202020202020)) | x |
                         (x + UINT64_C(0x0101010101010101));
            if ((t & UINT64_C(0x8080808080808080)) != 0)
                break;
            i += 8;
        }
        while (i < len) {
            size_t seq = 1;
            if (p[i] < 0x20 || p[i] == 0x7f)
                break;
            if (CTRACE__UNLIKELY(p[i] >= 0x80)) {
                seq = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : 2;
                if (seq > len - i || !ctrace__utf8_valid(s + i, seq))
                    break;
            }
            i += seq;
        }
        ctrace__sbuf_append(out, s + start, i - start);
        if (i == len)
            break;
        char esc[4] = {'\\', 'x', hex_digits[p[i] >> 4], hex_digits[p[i] & 15]};
        ctrace__sbuf_append(out, esc, sizeof(esc));
        i++;
    }
}

/* Appends `v` as a term or as JSON; NULL prints as `?` (or null). */
static void put_value(struct ctrace__sbuf *out,
                      const struct ctrace_value *v,
                      const struct ctrace_render_opts *render,
                      bool json)
{
    ctrace__sbuf_put_value(out, v, render, json);
}

/* Appends `len` bytes at `s` as a JSON string literal; NULL as null. */
static void
put_json_stringn(struct ctrace__sbuf *out, const char *s, size_t len)
{
    if (s == NULL) {
        ctrace__sbuf_puts(out, "null");
        return;
    }
    /* No size limit: names and texts are printed whole. */
    static const struct ctrace_render_opts whole = {0, 0};
    struct ctrace_value v = ctrace_value_stringn(s, len);
    put_value(out, &v, &whole, true);
}

static void put_json_string(struct ctrace__sbuf *out, const char *s)
{
    put_json_stringn(out, s, s != NULL ? strlen(s) : 0);
}

/* Appends `,"key":` to a JSON object under construction. */
static void put_key(struct ctrace__sbuf *out, const char *key)
{
    ctrace__sbuf_putc(out, ',');
    ctrace__sbuf_putc(out, '"');
    ctrace__sbuf_puts(out, key);
    ctrace__sbuf_puts(out, "\":");
}

static void put_pid(struct ctrace__sbuf *out, uint64_t pid)
{
    ctrace__sbuf_append(out, "<0.", 3);
    ctrace__sbuf_put_u64(out, pid, 0);
    ctrace__sbuf_append(out, ".0>", 3);
}

/* The pid as a JSON string: `"<0.N.0>"`. */
static void put_json_pid(struct ctrace__sbuf *out, uint64_t pid)
{
    ctrace__sbuf_putc(out, '"');
    put_pid(out, pid);
    ctrace__sbuf_putc(out, '"');
}

/*
 * A UTC time, split by arithmetic rather than gmtime_r() and printf (most
 * of a text event's cost when they were used): days since the epoch, the
 * second of that day, and the microseconds of that second. Times before
 * 1970 round down, so the parts are never negative.
 */
struct utc {
    int64_t days;
    uint32_t second_of_day;
    uint32_t us;
};

static struct utc utc_of(int64_t time_us)
{
    int64_t sec = time_us / 1000000;
    int64_t frac = time_us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        sec--;
    }
    int64_t days = sec / 86400;
    int64_t sod = sec % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    return (struct utc){days, (uint32_t)sod, (uint32_t)frac};
}

/*
 * The proleptic Gregorian date of a day counted from 1970-01-01, by eras
 * of 400 years (146097 days) that start on March 1st, so that the leap
 * day ends a year.
 */
static void
civil_date(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    int64_t z = days + 719468; /* days from 0000-03-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097; /* 0..146096 */
    int64_t yoe =
        (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0..399 */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);     /* 0..365 */
    int64_t mp = (5 * doy + 2) / 153; /* 0..11, March first */
    *day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

/* `HH:MM:SS.ffffff`, or `HH:MM:SS.fff` with timestamps_ms. */
static void put_clock(struct ctrace__sbuf *out,
                      const struct ctrace__format_opts *o,
                      int64_t time_us)
{
    struct utc t = utc_of(time_us);
    ctrace__sbuf_put_u64(out, t.second_of_day / 3600, 2);
    ctrace__sbuf_putc(out, ':');
    ctrace__sbuf_put_u64(out, t.second_of_day / 60 % 60, 2);
    ctrace__sbuf_putc(out, ':');
    ctrace__sbuf_put_u64(out, t.second_of_day % 60, 2);
    ctrace__sbuf_putc(out, '.');
    if (o->timestamps_ms)
        ctrace__sbuf_put_u64(out, t.us / 1000, 3);
    else
        ctrace__sbuf_put_u64(out, t.us, 6);
}

/* RFC 3339 in UTC: `"2026-11-27T00:44:52.123456Z"`, `.123Z` in ms. */
static void put_json_time(struct ctrace__sbuf *out,
                          const struct ctrace__format_opts *o,
                          int64_t time_us)
{
    int64_t year;
    unsigned month, day;
    civil_date(utc_of(time_us).days, &year, &month, &day);
    ctrace__sbuf_putc(out, '"');
    if (year < 0 || year > 9999) /* RFC 3339 has four digits */
        year = year < 0 ? 0 : 9999;
    ctrace__sbuf_put_u64(out, (uint64_t)year, 4);
    ctrace__sbuf_putc(out, '-');
    ctrace__sbuf_put_u64(out, month, 2);
    ctrace__sbuf_putc(out, '-');
    ctrace__sbuf_put_u64(out, day, 2);
    ctrace__sbuf_putc(out, 'T');
    put_clock(out, o, time_us);
    ctrace__sbuf_puts(out, "Z\"");
}

/* `<0.N.0>(LABEL)`: the label is `dead` for a process that has ended. */
static void put_process(struct ctrace__sbuf *out, const struct ctrace_event *ev)
{
    put_pid(out, ev->pid);
    if (ev->dead) {
        ctrace__sbuf_puts(out, "(dead)");
    } else if (ev->process != NULL) {
        ctrace__sbuf_putc(out, '(');
        put_name(out, ev->process);
        ctrace__sbuf_putc(out, ')');
    }
}

/* `module:function/arity` */
static void put_mfa(struct ctrace__sbuf *out,
                    const char *module,
                    const char *function,
                    unsigned arity)
{
    put_name(out, module);
    ctrace__sbuf_putc(out, ':');
    put_name(out, function);
    ctrace__sbuf_putc(out, '/');
    ctrace__sbuf_put_u64(out, arity, 0);
}

/*
 * `module:function(arg1, arg2)` as redbug and recon print a call, or
 * `module:function/arity` when the arguments were not captured.
 */
static void put_call(struct ctrace__sbuf *out,
                     const struct ctrace__format_opts *o,
                     const struct ctrace_event *ev)
{
    if (ev->args == NULL && ev->arity > 0) {
        put_mfa(out, ev->module, ev->function, ev->arity);
        return;
    }
    put_name(out, ev->module);
    ctrace__sbuf_putc(out, ':');
    put_name(out, ev->function);
    ctrace__sbuf_putc(out, '(');
    size_t nargs = ev->args != NULL ? ev->nargs : 0;
    for (size_t i = 0; i < nargs; i++) {
        if (i > 0)
            ctrace__sbuf_puts(out, ", ");
        put_value(out, &ev->args[i], &o->render, false);
    }
    ctrace__sbuf_putc(out, ')');
}

/* The stack frames and the caller of a call, each on its own line. */
static void put_frames(struct ctrace__sbuf *out, const struct ctrace_event *ev)
{
    size_t frames = ev->stack != NULL ? ev->stack_len : 0;
    for (size_t i = 0; i < frames; i++) {
        ctrace__sbuf_puts(out, "  ");
        put_name(out, ev->stack[i]);
        ctrace__sbuf_putc(out, '\n');
    }
    if (ev->caller != NULL) {
        ctrace__sbuf_puts(out, "  called from ");
        put_name(out, ev->caller);
        ctrace__sbuf_putc(out, '\n');
    }
    /* `dump`: each line of the process's description, indented. */
    for (const char *line = ev->dump; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char piece[256];
        if (len >= sizeof(piece))
            len = sizeof(piece) - 1;
        memcpy(piece, line, len);
        piece[len] = '\0';
        ctrace__sbuf_puts(out, "  | ");
        put_name(out, piece);
        ctrace__sbuf_putc(out, '\n');
        line = end != NULL ? end + 1 : line + len;
    }
}

/* ` (54.2 us)` after a return, unless the duration was not measured. */
static void put_return_duration(struct ctrace__sbuf *out,
                                const struct ctrace_event *ev)
{
    if (ev->duration_ns == 0)
        return;
    ctrace__sbuf_puts(out, " (");
    ctrace__format_duration(ev->duration_ns, out);
    ctrace__sbuf_putc(out, ')');
}

/*
 * The body of a process event, which both text formats share except for
 * a few words: `spawned <0.N.0> as INITIAL_CALL`, exit, registration, links.
 */
static void put_procs_body(struct ctrace__sbuf *out,
                           const struct ctrace_event *ev,
                           bool recon)
{
    switch (ev->kind) {
    case CTRACE_EVENT_SPAWN:
        ctrace__sbuf_puts(out, "spawned ");
        put_pid(out, ev->peer_pid);
        if (ev->peer != NULL) {
            ctrace__sbuf_puts(out, " as ");
            put_name(out, ev->peer);
        }
        break;
    case CTRACE_EVENT_EXIT:
        ctrace__sbuf_puts(out, recon ? "EXIT " : "exit ");
        put_name(out, ev->reason);
        break;
    case CTRACE_EVENT_REGISTER:
        ctrace__sbuf_puts(out, "registered as ");
        put_name(out, ev->name);
        break;
    case CTRACE_EVENT_UNREGISTER:
        ctrace__sbuf_puts(out, "no longer registered as ");
        put_name(out, ev->name);
        break;
    case CTRACE_EVENT_LINK:
    case CTRACE_EVENT_UNLINK:
        ctrace__sbuf_puts(out,
                          ev->kind == CTRACE_EVENT_LINK ? "link" : "unlink");
        ctrace__sbuf_putc(out, recon ? '(' : ' ');
        put_pid(out, ev->peer_pid);
        if (recon)
            ctrace__sbuf_putc(out, ')');
        break;
    default:
        ctrace__sbuf_printf(out, "unknown event kind %d", (int)ev->kind);
        break;
    }
}

/*
 * redbug: a header with the time and the process, a body line, the stack
 * under a call, and an empty line after the event.
 */
static void format_redbug(const struct ctrace__format_opts *o,
                          const struct ctrace_event *ev,
                          struct ctrace__sbuf *out)
{
    ctrace__sbuf_puts(out, "% ");
    put_clock(out, o, ev->time_us);
    ctrace__sbuf_putc(out, ' ');
    put_process(out, ev);
    ctrace__sbuf_puts(out, "\n% ");
    switch (ev->kind) {
    case CTRACE_EVENT_CALL:
        put_call(out, o, ev);
        ctrace__sbuf_putc(out, '\n');
        put_frames(out, ev);
        break;
    case CTRACE_EVENT_RETURN:
        put_mfa(out, ev->module, ev->function, ev->arity);
        ctrace__sbuf_puts(out, " -> ");
        put_value(out, ev->result, &o->render, false);
        put_return_duration(out, ev);
        ctrace__sbuf_putc(out, '\n');
        break;
    case CTRACE_EVENT_SEND:
        put_pid(out, ev->peer_pid);
        if (ev->peer != NULL) {
            ctrace__sbuf_putc(out, '(');
            put_name(out, ev->peer);
            ctrace__sbuf_putc(out, ')');
        }
        ctrace__sbuf_puts(out, " <<< ");
        put_value(out, ev->message, &o->render, false);
        ctrace__sbuf_putc(out, '\n');
        break;
    case CTRACE_EVENT_RECEIVE:
        ctrace__sbuf_puts(out, "<<< ");
        put_value(out, ev->message, &o->render, false);
        ctrace__sbuf_putc(out, '\n');
        break;
    default:
        put_procs_body(out, ev, false);
        ctrace__sbuf_putc(out, '\n');
        break;
    }
    ctrace__sbuf_putc(out, '\n');
}

/*
 * recon_trace: one line per event, `TIME <0.N.0> BODY`, with the stack and
 * caller of a call indented under it.
 */
static void format_recon(const struct ctrace__format_opts *o,
                         const struct ctrace_event *ev,
                         struct ctrace__sbuf *out)
{
    put_clock(out, o, ev->time_us);
    ctrace__sbuf_putc(out, ' ');
    put_pid(out, ev->pid);
    ctrace__sbuf_putc(out, ' ');
    switch (ev->kind) {
    case CTRACE_EVENT_CALL:
        put_call(out, o, ev);
        ctrace__sbuf_putc(out, '\n');
        put_frames(out, ev);
        return;
    case CTRACE_EVENT_RETURN:
        put_mfa(out, ev->module, ev->function, ev->arity);
        ctrace__sbuf_puts(out, " --> ");
        put_value(out, ev->result, &o->render, false);
        put_return_duration(out, ev);
        break;
    case CTRACE_EVENT_SEND:
        /* recon's body starts with a space here: ` > To: Msg`. */
        ctrace__sbuf_puts(out, " > ");
        put_pid(out, ev->peer_pid);
        ctrace__sbuf_puts(out, ": ");
        put_value(out, ev->message, &o->render, false);
        break;
    case CTRACE_EVENT_RECEIVE:
        ctrace__sbuf_puts(out, "< ");
        put_value(out, ev->message, &o->render, false);
        break;
    default:
        put_procs_body(out, ev, true);
        break;
    }
    ctrace__sbuf_putc(out, '\n');
}

static const char *json_kind(enum ctrace_event_kind kind)
{
    switch (kind) {
    case CTRACE_EVENT_CALL:
        return "call";
    case CTRACE_EVENT_RETURN:
        return "return";
    case CTRACE_EVENT_SEND:
        return "send";
    case CTRACE_EVENT_RECEIVE:
        return "receive";
    case CTRACE_EVENT_SPAWN:
        return "spawn";
    case CTRACE_EVENT_EXIT:
        return "exit";
    case CTRACE_EVENT_REGISTER:
        return "register";
    case CTRACE_EVENT_UNREGISTER:
        return "unregister";
    case CTRACE_EVENT_LINK:
        return "link";
    case CTRACE_EVENT_UNLINK:
        return "unlink";
    }
    return "unknown";
}

/* `"module":..,"function":..,"arity":N` */
static void put_json_mfa(struct ctrace__sbuf *out,
                         const char *module,
                         const char *function,
                         unsigned arity)
{
    put_key(out, "module");
    put_json_string(out, module);
    put_key(out, "function");
    put_json_string(out, function);
    put_key(out, "arity");
    ctrace__sbuf_put_u64(out, arity, 0);
}

/*
 * `"message":<json>,"message_text":"<term>"`: the value both ways, the
 * second as the text formats print it.
 */
static void put_json_value_and_text(struct ctrace__sbuf *out,
                                    const struct ctrace__format_opts *o,
                                    const char *key,
                                    const char *text_key,
                                    const struct ctrace_value *v)
{
    put_key(out, key);
    put_value(out, v, &o->render, true);
    put_key(out, text_key);
    struct ctrace__sbuf text = CTRACE__SBUF_INIT;
    put_value(&text, v, &o->render, false);
    if (text.failed)
        out->failed = true;
    put_json_stringn(out, text.data != NULL ? text.data : "", text.len);
    ctrace__sbuf_free(&text);
}

/* One JSON object on one line; docs/formats.md lists the fields. */
static void format_json(const struct ctrace__format_opts *o,
                        const struct ctrace_event *ev,
                        struct ctrace__sbuf *out)
{
    ctrace__sbuf_puts(out, "{\"seq\":");
    ctrace__sbuf_put_u64(out, ev->seq, 0);
    put_key(out, "time");
    put_json_time(out, o, ev->time_us);
    put_key(out, "kind");
    ctrace__sbuf_putc(out, '"');
    ctrace__sbuf_puts(out, json_kind(ev->kind));
    ctrace__sbuf_putc(out, '"');
    put_key(out, "pid");
    put_json_pid(out, ev->pid);
    put_key(out, "process");
    put_json_string(out, ev->process);
    put_key(out, "dead");
    ctrace__sbuf_puts(out, ev->dead ? "true" : "false");

    switch (ev->kind) {
    case CTRACE_EVENT_CALL: {
        put_json_mfa(out, ev->module, ev->function, ev->arity);
        put_key(out, "args");
        if (ev->args == NULL && ev->arity > 0) {
            ctrace__sbuf_puts(out, "null");
        } else {
            size_t nargs = ev->args != NULL ? ev->nargs : 0;
            ctrace__sbuf_putc(out, '[');
            for (size_t i = 0; i < nargs; i++) {
                if (i > 0)
                    ctrace__sbuf_putc(out, ',');
                put_value(out, &ev->args[i], &o->render, true);
            }
            ctrace__sbuf_putc(out, ']');
        }
        put_key(out, "text");
        struct ctrace__sbuf text = CTRACE__SBUF_INIT;
        put_call(&text, o, ev);
        if (text.failed)
            out->failed = true;
        put_json_stringn(out, text.data != NULL ? text.data : "", text.len);
        ctrace__sbuf_free(&text);
        if (ev->stack != NULL && ev->stack_len > 0) {
            put_key(out, "stack");
            ctrace__sbuf_putc(out, '[');
            for (size_t i = 0; i < ev->stack_len; i++) {
                if (i > 0)
                    ctrace__sbuf_putc(out, ',');
                put_json_string(out, ev->stack[i]);
            }
            ctrace__sbuf_putc(out, ']');
        }
        if (ev->caller != NULL) {
            put_key(out, "caller");
            put_json_string(out, ev->caller);
        }
        if (ev->dump != NULL) {
            put_key(out, "dump");
            put_json_string(out, ev->dump);
        }
        break;
    }
    case CTRACE_EVENT_RETURN:
        put_json_mfa(out, ev->module, ev->function, ev->arity);
        put_json_value_and_text(out, o, "result", "result_text", ev->result);
        put_key(out, "duration_ns");
        ctrace__sbuf_put_u64(out, ev->duration_ns, 0);
        break;
    case CTRACE_EVENT_SEND:
        put_json_value_and_text(out, o, "message", "message_text", ev->message);
        put_key(out, "to");
        put_json_pid(out, ev->peer_pid);
        put_key(out, "to_process");
        put_json_string(out, ev->peer);
        break;
    case CTRACE_EVENT_RECEIVE:
        put_json_value_and_text(out, o, "message", "message_text", ev->message);
        break;
    case CTRACE_EVENT_SPAWN:
        put_key(out, "peer");
        put_json_pid(out, ev->peer_pid);
        put_key(out, "initial_call");
        put_json_string(out, ev->peer);
        break;
    case CTRACE_EVENT_EXIT:
        put_key(out, "reason");
        put_json_string(out, ev->reason);
        break;
    case CTRACE_EVENT_REGISTER:
    case CTRACE_EVENT_UNREGISTER:
        put_key(out, "name");
        put_json_string(out, ev->name);
        break;
    case CTRACE_EVENT_LINK:
    case CTRACE_EVENT_UNLINK:
        put_key(out, "peer");
        put_json_pid(out, ev->peer_pid);
        break;
    default:
        put_key(out, "kind_code");
        ctrace__sbuf_printf(out, "%d", (int)ev->kind);
        break;
    }
    ctrace__sbuf_puts(out, "}\n");
}

void ctrace__format_event(const struct ctrace__format_opts *o,
                          const struct ctrace_event *ev,
                          struct ctrace__sbuf *out)
{
    if (ev == NULL)
        return;
    struct ctrace__format_opts defaults;
    o = opts_or_default(o, &defaults);

    /*
     * An event built against an older, shorter struct has fields missing at
     * the end; read them as zero rather than past the caller's object.
     */
    struct ctrace_event full;
    if (ev->struct_size < sizeof(full)) {
        memset(&full, 0, sizeof(full));
        memcpy(&full, ev, ev->struct_size);
        ev = &full;
    }

    switch (o->format) {
    case CTRACE_FORMAT_RECON:
        format_recon(o, ev, out);
        break;
    case CTRACE_FORMAT_JSON:
        format_json(o, ev, out);
        break;
    case CTRACE_FORMAT_REDBUG:
    default:
        format_redbug(o, ev, out);
        break;
    }
}

void ctrace__format_stopped(const struct ctrace__format_opts *o,
                            const char *reason,
                            uint64_t events,
                            uint64_t dropped,
                            uint64_t shed,
                            struct ctrace__sbuf *out)
{
    struct ctrace__format_opts defaults;
    o = opts_or_default(o, &defaults);
    if (o->format == CTRACE_FORMAT_JSON) {
        ctrace__sbuf_puts(out, "{\"kind\":\"stopped\"");
        put_key(out, "reason");
        put_json_string(out, reason);
        ctrace__sbuf_printf(out,
                            ",\"events\":%" PRIu64 ",\"dropped\":%" PRIu64,
                            events,
                            dropped);
        if (shed > 0)
            ctrace__sbuf_printf(out, ",\"shed\":%" PRIu64, shed);
        ctrace__sbuf_puts(out, "}\n");
        return;
    }
    ctrace__sbuf_puts(out, "% stopped: ");
    put_name(out, reason);
    ctrace__sbuf_printf(
        out, " (%" PRIu64 " events, %" PRIu64 " dropped", events, dropped);
    if (shed > 0)
        ctrace__sbuf_printf(
            out, ", %" PRIu64 " of them shed for overhead", shed);
    ctrace__sbuf_puts(out, ")\n");
}

/* `N unit`, or `N.DD unit` with `decimals` digits after the point. */
static size_t
unit_text(char *buf, uint64_t r, unsigned decimals, const char *unit)
{
    uint64_t scale = decimals == 2 ? 100 : decimals == 1 ? 10 : 1;
    size_t n = ctrace__u64_text(buf, r / scale, 0);
    if (decimals > 0) {
        buf[n++] = '.';
        n += ctrace__u64_text(buf + n, r % scale, decimals);
    }
    buf[n++] = ' ';
    size_t len = strlen(unit);
    memcpy(buf + n, unit, len + 1);
    return n + len;
}

/*
 * Writes the text of ctrace__format_duration() into `buf` (at least
 * DURATION_TEXT bytes) and returns its length.
 *
 * For each unit from us up, the value is rounded to 2, 1 and then 0
 * decimals, and the first rounding that has exactly 3 digits is printed.
 * Rounding happens before the unit is chosen, so 999.9 us becomes 1.00 ms
 * rather than "1000 us".
 */
static size_t duration_text(uint64_t ns, char *buf)
{
    static const struct {
        uint64_t ns;
        const char *name;
    } units[] = {{1000, "us"}, {1000000, "ms"}, {1000000000, "s"}};
    if (ns < 1000)
        return unit_text(buf, ns, 0, "ns");
    uint64_t r = 0;
    for (size_t u = 0; u < CTRACE__ARRAY_SIZE(units); u++) {
        uint64_t step = units[u].ns / 100; /* one hundredth of the unit */
        for (int decimals = 2; decimals >= 0; decimals--) {
            /* Round half up without overflowing near UINT64_MAX. */
            r = ns / step + (ns % step >= step - step / 2 ? 1 : 0);
            if (r < 1000) {
                return unit_text(buf, r, (unsigned)decimals, units[u].name);
            }
            step *= 10;
        }
    }
    /* 1000 s and more: whole seconds; r holds the rounded seconds. */
    return unit_text(buf, r, 0, "s");
}

void ctrace__format_duration(uint64_t ns, struct ctrace__sbuf *out)
{
    char buf[DURATION_TEXT];
    size_t n = duration_text(ns, buf);
    ctrace__sbuf_append(out, buf, n);
}

/* Appends `s` right-aligned in a column `width` characters wide. */
static void put_right(struct ctrace__sbuf *out, const char *s, size_t width)
{
    for (size_t len = strlen(s); len < width; len++)
        ctrace__sbuf_putc(out, ' ');
    ctrace__sbuf_puts(out, s);
}

/* The cells of one row of the stats table. */
struct stats_row {
    char calls[24];
    char total[DURATION_TEXT];
    char mean[DURATION_TEXT];
    char max[DURATION_TEXT];
};

static void stats_row_fill(const struct ctrace__point_stats *s,
                           struct stats_row *row)
{
    snprintf(row->calls, sizeof(row->calls), "%" PRIu64, s->calls);
    row->total[0] = row->mean[0] = row->max[0] = '\0';
    if (!s->time)
        return;
    duration_text(s->total_ns, row->total);
    duration_text(s->max_ns, row->max);
    if (s->calls > 0)
        duration_text(s->total_ns / s->calls, row->mean);
    else
        strcpy(row->mean, "-");
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static void format_stats_json(const struct ctrace__point_stats *stats,
                              size_t n,
                              struct ctrace__sbuf *out)
{
    for (size_t i = 0; i < n; i++) {
        const struct ctrace__point_stats *s = &stats[i];
        ctrace__sbuf_puts(out, "{\"kind\":\"stats\"");
        put_json_mfa(out, s->module, s->function, s->arity);
        ctrace__sbuf_printf(out, ",\"calls\":%" PRIu64, s->calls);
        if (s->time) {
            ctrace__sbuf_printf(out,
                                ",\"total_ns\":%" PRIu64 ",\"mean_ns\":%" PRIu64
                                ",\"max_ns\":%" PRIu64,
                                s->total_ns,
                                s->calls > 0 ? s->total_ns / s->calls : 0,
                                s->max_ns);
        }
        ctrace__sbuf_puts(out, "}\n");
    }
}

void ctrace__format_point_stats(const struct ctrace__format_opts *o,
                                const struct ctrace__point_stats *stats,
                                size_t n,
                                struct ctrace__sbuf *out)
{
    if (stats == NULL || n == 0)
        return;
    struct ctrace__format_opts defaults;
    o = opts_or_default(o, &defaults);
    if (o->format == CTRACE_FORMAT_JSON) {
        format_stats_json(stats, n, out);
        return;
    }

    /* Measure every cell first so that the columns line up. */
    size_t calls_w = strlen("calls");
    size_t dur_w = strlen("total");
    bool any_time = false;
    for (size_t i = 0; i < n; i++) {
        struct stats_row row;
        stats_row_fill(&stats[i], &row);
        calls_w = max_size(calls_w, strlen(row.calls));
        dur_w = max_size(dur_w, strlen(row.total));
        dur_w = max_size(dur_w, strlen(row.mean));
        dur_w = max_size(dur_w, strlen(row.max));
        any_time = any_time || stats[i].time;
    }

    ctrace__sbuf_puts(out, "% ");
    put_right(out, "calls", calls_w);
    if (any_time) {
        static const char *const heads[] = {"total", "mean", "max"};
        for (size_t k = 0; k < CTRACE__ARRAY_SIZE(heads); k++) {
            ctrace__sbuf_puts(out, "  ");
            put_right(out, heads[k], dur_w);
        }
    }
    ctrace__sbuf_puts(out, "  function\n");

    for (size_t i = 0; i < n; i++) {
        struct stats_row row;
        stats_row_fill(&stats[i], &row);
        ctrace__sbuf_puts(out, "% ");
        put_right(out, row.calls, calls_w);
        if (any_time) {
            const char *cells[] = {row.total, row.mean, row.max};
            for (size_t k = 0; k < CTRACE__ARRAY_SIZE(cells); k++) {
                ctrace__sbuf_puts(out, "  ");
                put_right(out, cells[k], dur_w);
            }
        }
        ctrace__sbuf_puts(out, "  ");
        put_mfa(out, stats[i].module, stats[i].function, stats[i].arity);
        ctrace__sbuf_putc(out, '\n');
    }
}

void ctrace__format_count_by(const struct ctrace__format_opts *o,
                             const char *module,
                             const char *function,
                             unsigned arity,
                             const unsigned *by,
                             size_t nby,
                             const struct ctrace__count_key *keys,
                             size_t n,
                             uint64_t other,
                             struct ctrace__sbuf *out)
{
    struct ctrace__format_opts defaults;
    o = opts_or_default(o, &defaults);
    if (o->format == CTRACE_FORMAT_JSON) {
        ctrace__sbuf_puts(out, "{\"kind\":\"count_by\"");
        put_json_mfa(out, module, function, arity);
        ctrace__sbuf_puts(out, ",\"by\":[");
        for (size_t i = 0; i < nby; i++)
            ctrace__sbuf_printf(out, "%s%u", i ? "," : "", by[i]);
        ctrace__sbuf_puts(out, "],\"counts\":[");
        for (size_t i = 0; i < n; i++) {
            ctrace__sbuf_puts(out, i ? ",{\"key\":" : "{\"key\":");
            put_json_string(out, keys[i].text);
            ctrace__sbuf_printf(out, ",\"calls\":%" PRIu64 "}", keys[i].calls);
        }
        ctrace__sbuf_printf(out, "],\"other\":%" PRIu64 "}\n", other);
        return;
    }
    char cell[24];
    size_t calls_w = strlen("calls");
    for (size_t i = 0; i < n; i++) {
        snprintf(cell, sizeof(cell), "%" PRIu64, keys[i].calls);
        calls_w = max_size(calls_w, strlen(cell));
    }
    snprintf(cell, sizeof(cell), "%" PRIu64, other);
    calls_w = max_size(calls_w, strlen(cell));
    ctrace__sbuf_puts(out, "% ");
    put_right(out, "calls", calls_w);
    ctrace__sbuf_puts(out, "  ");
    put_mfa(out, module, function, arity);
    ctrace__sbuf_printf(out, " by argument%s ", nby > 1 ? "s" : "");
    for (size_t i = 0; i < nby; i++)
        ctrace__sbuf_printf(out, "%s%u", i ? ", " : "", by[i]);
    ctrace__sbuf_putc(out, '\n');
    for (size_t i = 0; i <= n; i++) {
        if (i == n && other == 0)
            break;
        snprintf(cell, sizeof(cell), "%" PRIu64, i < n ? keys[i].calls : other);
        ctrace__sbuf_puts(out, "% ");
        put_right(out, cell, calls_w);
        ctrace__sbuf_puts(out, "  ");
        /* A key is a rendered term: shown as it is, like an argument. */
        ctrace__sbuf_puts(out, i < n ? keys[i].text : "other");
        ctrace__sbuf_putc(out, '\n');
    }
}

void ctrace__format_stop_reason(enum ctrace_stop_reason r,
                                uint64_t limit_a,
                                uint64_t limit_b,
                                int sink_errno,
                                char *buf,
                                size_t size)
{
    if (buf == NULL || size == 0)
        return;
    switch (r) {
    case CTRACE_STOP_RUNNING:
        snprintf(buf, size, "running");
        break;
    case CTRACE_STOP_MSGS:
        snprintf(buf, size, "msgs limit %" PRIu64 " reached", limit_a);
        break;
    case CTRACE_STOP_CALLS:
        snprintf(buf, size, "calls limit %" PRIu64 " reached", limit_a);
        break;
    case CTRACE_STOP_TIME:
        snprintf(buf, size, "time limit %" PRIu64 " ms reached", limit_a);
        break;
    case CTRACE_STOP_RATE:
        snprintf(buf,
                 size,
                 "rate limit %" PRIu64 "/%" PRIu64 " ms tripped",
                 limit_a,
                 limit_b);
        break;
    case CTRACE_STOP_QUEUE:
        snprintf(buf, size, "queue overflow: consumer too slow");
        break;
    case CTRACE_STOP_USER:
        snprintf(buf, size, "stopped by user");
        break;
    case CTRACE_STOP_SINK:
        /* ctrace_strerror() takes negative codes: errno values negated. */
        snprintf(buf,
                 size,
                 "sink failed: %s",
                 ctrace_strerror(sink_errno > 0 ? -sink_errno : sink_errno));
        break;
    default:
        snprintf(buf, size, "unknown reason %d", (int)r);
        break;
    }
}
