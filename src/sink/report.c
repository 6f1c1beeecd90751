/* SPDX-License-Identifier: MIT */
/*
 * The texts a session prints besides its events: the report of the `time`
 * and `count` actions (a table, or JSON lines), the report of
 * `count(N, ...)`, stop reasons, and human durations ("54.2 us"), which
 * the events' return lines use too. The helpers it shares with the event
 * formats (format.c) are declared in sink.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink/sink.h"

/* The longest text of ctrace__format_duration() is "18446744073 s". */
#define DURATION_TEXT 32

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
        ctrace__sink_put_json_mfa(out, s->module, s->function, s->arity);
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
    o = ctrace__sink_opts_or_default(o, &defaults);
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
        ctrace__sink_put_mfa(
            out, stats[i].module, stats[i].function, stats[i].arity);
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
    o = ctrace__sink_opts_or_default(o, &defaults);
    if (o->format == CTRACE_FORMAT_JSON) {
        ctrace__sbuf_puts(out, "{\"kind\":\"count_by\"");
        ctrace__sink_put_json_mfa(out, module, function, arity);
        ctrace__sbuf_puts(out, ",\"by\":[");
        for (size_t i = 0; i < nby; i++)
            ctrace__sbuf_printf(out, "%s%u", i ? "," : "", by[i]);
        ctrace__sbuf_puts(out, "],\"counts\":[");
        for (size_t i = 0; i < n; i++) {
            ctrace__sbuf_puts(out, i ? ",{\"key\":" : "{\"key\":");
            ctrace__sink_put_json_string(out, keys[i].text);
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
    ctrace__sink_put_mfa(out, module, function, arity);
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
    case CTRACE_STOP_OVERHEAD:
        snprintf(buf,
                 size,
                 "overhead budget %" PRIu64 "%% exceeded for %" PRIu64 " ms",
                 limit_a,
                 limit_b);
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
