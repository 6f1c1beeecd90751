/* SPDX-License-Identifier: MIT */
/*
 * The text of events: redbug's and recon_trace's formats, JSON lines, and
 * the final line of a session. The reports of `time` and `count`, stop
 * reasons and durations are in report.c.
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

void ctrace__format_opts_init(struct ctrace__format_opts *o)
{
    o->format = CTRACE_FORMAT_REDBUG;
    o->timestamps_ms = false;
    ctrace_render_opts_init(&o->render);
}

const struct ctrace__format_opts *
ctrace__sink_opts_or_default(const struct ctrace__format_opts *o,
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
/*
 * Whether none of the eight (four) bytes at `p` is a control byte, DEL or
 * above ASCII: such a byte sets the top bit of its lane in one of the
 * three terms (a borrow or carry from a neighbour can only set more bits,
 * which sends plain text to the byte loop, never the other way).
 */
static inline bool plain8(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t t = (x - UINT64_C(0x2020202020202020)) | x |
                 (x + UINT64_C(0x0101010101010101));
    return (t & UINT64_C(0x8080808080808080)) == 0;
}

static inline bool plain4(const unsigned char *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    uint32_t t = (x - UINT32_C(0x20202020)) | x | (x + UINT32_C(0x01010101));
    return (t & UINT32_C(0x80808080)) == 0;
}

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
        /* Eight bytes at a time while all of them are plain. */
        while (len - i >= 8) {
            if (!plain8(p + i))
                break;
            i += 8;
        }
        /*
         * Fewer than eight left: the name's last eight bytes (reaching
         * back before i only makes the test stricter), or the first and
         * last four of what is left, settle it without the byte loop.
         */
        if (i < len && len - i < 8 &&
            (len >= 8 ? plain8(p + len - 8)
                      : len - i >= 4 && plain4(p + i) && plain4(p + len - 4)))
            i = len;
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

void ctrace__sink_put_json_string(struct ctrace__sbuf *out, const char *s)
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
void ctrace__sink_put_mfa(struct ctrace__sbuf *out,
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
        ctrace__sink_put_mfa(out, ev->module, ev->function, ev->arity);
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
        ctrace__sink_put_mfa(out, ev->module, ev->function, ev->arity);
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
        ctrace__sink_put_mfa(out, ev->module, ev->function, ev->arity);
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
void ctrace__sink_put_json_mfa(struct ctrace__sbuf *out,
                               const char *module,
                               const char *function,
                               unsigned arity)
{
    put_key(out, "module");
    ctrace__sink_put_json_string(out, module);
    put_key(out, "function");
    ctrace__sink_put_json_string(out, function);
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
    ctrace__sink_put_json_string(out, ev->process);
    put_key(out, "dead");
    ctrace__sbuf_puts(out, ev->dead ? "true" : "false");

    switch (ev->kind) {
    case CTRACE_EVENT_CALL: {
        ctrace__sink_put_json_mfa(out, ev->module, ev->function, ev->arity);
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
                ctrace__sink_put_json_string(out, ev->stack[i]);
            }
            ctrace__sbuf_putc(out, ']');
        }
        if (ev->caller != NULL) {
            put_key(out, "caller");
            ctrace__sink_put_json_string(out, ev->caller);
        }
        if (ev->dump != NULL) {
            put_key(out, "dump");
            ctrace__sink_put_json_string(out, ev->dump);
        }
        break;
    }
    case CTRACE_EVENT_RETURN:
        ctrace__sink_put_json_mfa(out, ev->module, ev->function, ev->arity);
        put_json_value_and_text(out, o, "result", "result_text", ev->result);
        put_key(out, "duration_ns");
        ctrace__sbuf_put_u64(out, ev->duration_ns, 0);
        break;
    case CTRACE_EVENT_SEND:
        put_json_value_and_text(out, o, "message", "message_text", ev->message);
        put_key(out, "to");
        put_json_pid(out, ev->peer_pid);
        put_key(out, "to_process");
        ctrace__sink_put_json_string(out, ev->peer);
        break;
    case CTRACE_EVENT_RECEIVE:
        put_json_value_and_text(out, o, "message", "message_text", ev->message);
        break;
    case CTRACE_EVENT_SPAWN:
        put_key(out, "peer");
        put_json_pid(out, ev->peer_pid);
        put_key(out, "initial_call");
        ctrace__sink_put_json_string(out, ev->peer);
        break;
    case CTRACE_EVENT_EXIT:
        put_key(out, "reason");
        ctrace__sink_put_json_string(out, ev->reason);
        break;
    case CTRACE_EVENT_REGISTER:
    case CTRACE_EVENT_UNREGISTER:
        put_key(out, "name");
        ctrace__sink_put_json_string(out, ev->name);
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
    o = ctrace__sink_opts_or_default(o, &defaults);

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
    o = ctrace__sink_opts_or_default(o, &defaults);
    if (o->format == CTRACE_FORMAT_JSON) {
        ctrace__sbuf_puts(out, "{\"kind\":\"stopped\"");
        put_key(out, "reason");
        ctrace__sink_put_json_string(out, reason);
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
