/* SPDX-License-Identifier: MIT */
/*
 * A parsed spec as one line of JSON: what `ctrace pattern` prints and what
 * the admin endpoint's pattern check returns (format in docs/patterns.md).
 *
 * The document is written in a fixed key order with a ctrace__sbuf rather
 * than built as a jansson tree, for two reasons jansson cannot serve: an
 * unsigned literal above INT64_MAX must print exactly (json_int_t is
 * signed), and every float prints in its own shortest form that reads back
 * to the same double (jansson's real precision is one setting per dump).
 * jansson still encodes every string, so escaping is the same as in the
 * rest of ctrace's JSON.
 */
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base.h"
#include "pattern/parse_internal.h"

/* A JSON string; `s` must be valid UTF-8 (it may hold NUL bytes). */
static void put_string(struct ctrace__sbuf *b, const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    char *text =
        j != NULL ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL) {
        b->failed = true;
        return;
    }
    ctrace__sbuf_puts(b, text);
    ctrace__free(text);
}

static void put_byte_array(struct ctrace__sbuf *b, const char *s, size_t len)
{
    ctrace__sbuf_putc(b, '[');
    for (size_t i = 0; i < len; i++)
        ctrace__sbuf_printf(b, i ? ",%u" : "%u", (unsigned char)s[i]);
    ctrace__sbuf_putc(b, ']');
}

/*
 * The shortest decimal that reads back as `d`, written so that it looks like
 * a float: 1.5, 0.1, 1000.0, -0.0, 1.0e21, 2.5e-7. Plain notation for
 * exponents -7 to 20, like JavaScript; always a dot.
 */
static void put_double(struct ctrace__sbuf *b, double d)
{
    if (!isfinite(d)) {
        /* The parser makes no such literal; print what value.h prints. */
        ctrace__sbuf_puts(b,
                          isnan(d) ? "\"nan\""
                          : d > 0  ? "\"inf\""
                                   : "\"-inf\"");
        return;
    }
    /* printf and strtod follow LC_NUMERIC: use "C" on this thread. */
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c == (locale_t)0) {
        b->failed = true;
        return;
    }
    locale_t old = uselocale(c);
    char sci[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    uselocale(old);
    freelocale(c);

    /* sci is [-]D[.DDD]e(+|-)XX: take the digits and the exponent. */
    const char *p = sci;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[24];
    size_t n = 0;
    while (*p != 'e' && *p != '\0') {
        if (*p >= '0' && *p <= '9' && n < sizeof(digits) - 1)
            digits[n++] = *p;
        p++;
    }
    digits[n] = '\0';
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    while (n > 1 && digits[n - 1] == '0')
        digits[--n] = '\0';

    if (neg)
        ctrace__sbuf_putc(b, '-');
    if (exp >= -7 && exp < 21) {
        if (exp < 0) {
            ctrace__sbuf_puts(b, "0.");
            for (int i = -1; i > exp; i--)
                ctrace__sbuf_putc(b, '0');
            ctrace__sbuf_puts(b, digits);
        } else if ((size_t)exp + 1 >= n) {
            ctrace__sbuf_puts(b, digits);
            for (size_t i = n; i < (size_t)exp + 1; i++)
                ctrace__sbuf_putc(b, '0');
            ctrace__sbuf_puts(b, ".0");
        } else {
            ctrace__sbuf_append(b, digits, (size_t)exp + 1);
            ctrace__sbuf_putc(b, '.');
            ctrace__sbuf_puts(b, digits + exp + 1);
        }
    } else {
        ctrace__sbuf_putc(b, digits[0]);
        ctrace__sbuf_putc(b, '.');
        ctrace__sbuf_puts(b, n > 1 ? digits + 1 : "0");
        ctrace__sbuf_printf(b, "e%d", exp);
    }
}

/* A string literal: text when it is valid UTF-8, else its bytes. */
static void put_text_or_bytes(struct ctrace__sbuf *b,
                              const char *key,
                              const char *s,
                              size_t len)
{
    if (ctrace__utf8_valid(s, len)) {
        ctrace__sbuf_printf(b, "\"%s\":", key);
        put_string(b, s, len);
    } else {
        ctrace__sbuf_printf(
            b, "\"%s\":", strcmp(key, "string") ? key : "bytes");
        put_byte_array(b, s, len);
    }
}

static void put_value(struct ctrace__sbuf *b, const struct ctrace_value *v)
{
    ctrace__sbuf_putc(b, '{');
    switch (v->kind) {
    case CTRACE_VALUE_INT:
        ctrace__sbuf_printf(b, "\"int\":%lld", (long long)v->as.i);
        break;
    case CTRACE_VALUE_UINT:
        ctrace__sbuf_printf(b, "\"int\":%llu", (unsigned long long)v->as.u);
        break;
    case CTRACE_VALUE_DOUBLE:
        ctrace__sbuf_puts(b, "\"float\":");
        put_double(b, v->as.d);
        break;
    case CTRACE_VALUE_STRING:
        put_text_or_bytes(b, "string", v->as.str.ptr, v->as.str.len);
        break;
    case CTRACE_VALUE_BYTES:
        ctrace__sbuf_puts(b, "\"bytes\":");
        put_byte_array(b, v->as.str.ptr, v->as.str.len);
        break;
    case CTRACE_VALUE_SYMBOL:
        ctrace__sbuf_puts(b, "\"atom\":");
        put_string(b, v->as.str.ptr, v->as.str.len);
        break;
    case CTRACE_VALUE_BOOL:
        ctrace__sbuf_puts(b,
                          v->as.b ? "\"atom\":\"true\"" : "\"atom\":\"false\"");
        break;
    default:
        /* The parser makes no other literal. */
        ctrace__sbuf_puts(b, "\"atom\":\"null\"");
        break;
    }
    ctrace__sbuf_putc(b, '}');
}

static void put_pat(struct ctrace__sbuf *b,
                    const struct ctrace__spec *spec,
                    const struct ctrace__pat *pat);

static void put_pat_array(struct ctrace__sbuf *b,
                          const struct ctrace__spec *spec,
                          const struct ctrace__pat *items,
                          size_t len)
{
    ctrace__sbuf_putc(b, '[');
    for (size_t i = 0; i < len; i++) {
        if (i > 0)
            ctrace__sbuf_putc(b, ',');
        put_pat(b, spec, &items[i]);
    }
    ctrace__sbuf_putc(b, ']');
}

static void put_pat(struct ctrace__sbuf *b,
                    const struct ctrace__spec *spec,
                    const struct ctrace__pat *pat)
{
    switch (pat->kind) {
    case CTRACE__PAT_ANY:
        ctrace__sbuf_puts(b, "{\"any\":true}");
        break;
    case CTRACE__PAT_VAR:
        ctrace__sbuf_puts(b, "{\"var\":");
        if (pat->u.var < spec->nvars)
            put_string(
                b, spec->vars[pat->u.var], strlen(spec->vars[pat->u.var]));
        else
            ctrace__sbuf_puts(b, "null");
        ctrace__sbuf_putc(b, '}');
        break;
    case CTRACE__PAT_LIT:
        put_value(b, &pat->u.lit);
        break;
    case CTRACE__PAT_TUPLE:
        ctrace__sbuf_puts(b, "{\"tuple\":");
        put_pat_array(b, spec, pat->u.seq.items, pat->u.seq.len);
        ctrace__sbuf_putc(b, '}');
        break;
    case CTRACE__PAT_LIST:
        ctrace__sbuf_puts(b, "{\"list\":");
        put_pat_array(b, spec, pat->u.seq.items, pat->u.seq.len);
        ctrace__sbuf_puts(b, ",\"tail\":");
        if (pat->u.seq.tail != NULL)
            put_pat(b, spec, pat->u.seq.tail);
        else
            ctrace__sbuf_puts(b, "null");
        ctrace__sbuf_putc(b, '}');
        break;
    case CTRACE__PAT_PREFIX:
        ctrace__sbuf_putc(b, '{');
        put_text_or_bytes(b, "prefix", pat->u.prefix.ptr, pat->u.prefix.len);
        ctrace__sbuf_puts(b, ",\"tail\":");
        put_pat(b, spec, pat->u.prefix.tail);
        ctrace__sbuf_putc(b, '}');
        break;
    }
}

static void put_expr(struct ctrace__sbuf *b,
                     const struct ctrace__spec *spec,
                     const struct ctrace__expr *e)
{
    switch (e->kind) {
    case CTRACE__EXPR_TERM:
        put_pat(b, spec, e->u.term);
        break;
    case CTRACE__EXPR_OP:
        ctrace__sbuf_puts(b, "{\"op\":");
        put_string(b,
                   ctrace__op_names[e->u.op.op],
                   strlen(ctrace__op_names[e->u.op.op]));
        ctrace__sbuf_puts(b, ",\"args\":[");
        put_expr(b, spec, e->u.op.lhs);
        if (e->u.op.rhs != NULL) {
            ctrace__sbuf_putc(b, ',');
            put_expr(b, spec, e->u.op.rhs);
        }
        ctrace__sbuf_puts(b, "]}");
        break;
    case CTRACE__EXPR_CALL:
        ctrace__sbuf_puts(b, "{\"call\":");
        put_string(b,
                   ctrace__gfun_table[e->u.call.fn].name,
                   strlen(ctrace__gfun_table[e->u.call.fn].name));
        ctrace__sbuf_puts(b, ",\"args\":[");
        for (unsigned i = 0; i < e->u.call.nargs && i < 3; i++) {
            if (i > 0)
                ctrace__sbuf_putc(b, ',');
            put_expr(b, spec, e->u.call.args[i]);
        }
        ctrace__sbuf_puts(b, "]}");
        break;
    }
}

static void put_name(struct ctrace__sbuf *b, const char *name)
{
    if (name == NULL)
        ctrace__sbuf_puts(b, "null");
    else
        put_string(b, name, strlen(name));
}

char *ctrace__spec_to_json(const struct ctrace__spec *spec)
{
    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    switch (spec->kind) {
    case CTRACE__SPEC_SEND:
        ctrace__sbuf_puts(&b, "{\"kind\":\"send\"}");
        return ctrace__sbuf_take(&b);
    case CTRACE__SPEC_RECEIVE:
        ctrace__sbuf_puts(&b, "{\"kind\":\"receive\"}");
        return ctrace__sbuf_take(&b);
    case CTRACE__SPEC_PROCS:
        ctrace__sbuf_puts(&b, "{\"kind\":\"procs\"}");
        return ctrace__sbuf_take(&b);
    case CTRACE__SPEC_CALL:
        break;
    }
    ctrace__sbuf_puts(&b, "{\"kind\":\"call\",\"module\":");
    put_name(&b, spec->module);
    ctrace__sbuf_puts(&b, ",\"function\":");
    put_name(&b, spec->function);
    ctrace__sbuf_puts(&b, ",\"arity\":");
    if (spec->arity < 0)
        ctrace__sbuf_puts(&b, "null");
    else
        ctrace__sbuf_printf(&b, "%d", spec->arity);
    ctrace__sbuf_puts(&b, ",\"args\":");
    if (spec->args == NULL)
        ctrace__sbuf_puts(&b, "null");
    else
        put_pat_array(&b, spec, spec->args, spec->nargs);
    ctrace__sbuf_puts(&b, ",\"guard\":");
    if (spec->guard == NULL)
        ctrace__sbuf_puts(&b, "null");
    else
        put_expr(&b, spec, spec->guard);
    ctrace__sbuf_puts(&b, ",\"actions\":[");
    for (unsigned i = 0; i < spec->nactions; i++) {
        if (i > 0)
            ctrace__sbuf_putc(&b, ',');
        ctrace__sbuf_printf(
            &b, "\"%s\"", ctrace__action_name(spec->actions[i]));
    }
    ctrace__sbuf_putc(&b, ']');
    /* Only with count(N, ...), so that other specs print as before. */
    if (spec->ncount_by > 0) {
        ctrace__sbuf_puts(&b, ",\"count_by\":[");
        for (unsigned i = 0; i < spec->ncount_by; i++)
            ctrace__sbuf_printf(&b, "%s%u", i ? "," : "", spec->count_by[i]);
        ctrace__sbuf_putc(&b, ']');
    }
    ctrace__sbuf_putc(&b, '}');
    return ctrace__sbuf_take(&b);
}
