/* SPDX-License-Identifier: MIT */
/*
 * Rendering values as Erlang-looking terms and as JSON.
 *
 * Both formats share one walker: a small writer that copies what fits into
 * the caller's buffer and counts everything, so that the snprintf-like
 * contract (return the full length, leave a cut copy) holds for every path.
 * The walker applies the limits of struct ctrace_render_opts once; the two
 * formats differ only in a few spellings (container brackets, escapes, how a
 * cut is marked), which are chosen where they are written.
 *
 * The allocating variants measure first and render a second time into a
 * buffer of the measured size: rendering is cheap and happens off the traced
 * threads, and this keeps a single code path.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "session/record.h"

const char ctrace__cut_mark[4] = "...";

/*
 * Deepest nesting ever printed, whatever opts->depth says. The walk recurses
 * once per nesting level, and values are built by users, so without a cap a
 * long chain of one-element lists (or a cycle) would exhaust the C stack.
 * Containers deeper than this print as `...`, as if depth had been set to
 * it. 256 levels cost a few tens of kilobytes of stack at most.
 */
#define MAX_NESTING 256U

/* The default of struct ctrace_render_opts.max_size. */
#define DEFAULT_MAX_SIZE 1024U

struct writer {
    char *buf;   /* the caller's buffer, NULL when only measuring */
    size_t size; /* its size, NUL included; 0 when only measuring */
    size_t len;  /* the length of everything written so far */
    bool json;   /* JSON rather than term spellings */
    unsigned depth_limit;
    size_t max_size; /* 0 = unlimited */
};

/*
 * Appends `n` bytes: copies what still fits in front of the terminating NUL
 * and counts all of them. The count saturates instead of wrapping, so that
 * an absurd rendering reports SIZE_MAX rather than a small wrong length.
 */
static void put_mem(struct writer *w, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (w->size > 0 && w->len < w->size - 1) {
        size_t room = w->size - 1 - w->len;
        ctrace__copy_small(w->buf + w->len, s, n < room ? n : room);
    }
    w->len = n > SIZE_MAX - w->len ? SIZE_MAX : w->len + n;
}

static void put_str(struct writer *w, const char *s)
{
    put_mem(w, s, strlen(s));
}

static void put_char(struct writer *w, char c)
{
    put_mem(w, &c, 1);
}

static void put_u64(struct writer *w, uint64_t u)
{
    char tmp[20];
    put_mem(w, tmp, ctrace__u64_text(tmp, u, 0));
}

static void put_i64(struct writer *w, int64_t i)
{
    if (i < 0) {
        put_char(w, '-');
        /* Negating in unsigned arithmetic is defined for INT64_MIN too. */
        put_u64(w, (uint64_t)0 - (uint64_t)i);
    } else {
        put_u64(w, (uint64_t)i);
    }
}

static const char hex_digits[] = "0123456789abcdef";

/* `\xHH` in terms, `\u00HH` in JSON: a byte that cannot be shown as is. */
static void put_byte_escape(struct writer *w, unsigned char c)
{
    char tmp[6];
    size_t n = 0;
    tmp[n++] = '\\';
    if (w->json) {
        tmp[n++] = 'u';
        tmp[n++] = '0';
        tmp[n++] = '0';
    } else {
        tmp[n++] = 'x';
    }
    tmp[n++] = hex_digits[c >> 4];
    tmp[n++] = hex_digits[c & 0xf];
    put_mem(w, tmp, n);
}

static void put_pointer(struct writer *w, const void *p)
{
    uintptr_t u = (uintptr_t)p;
    char tmp[2 + 2 * sizeof(uintptr_t)];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = hex_digits[u & 0xf];
        u >>= 4;
    } while (u != 0);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    put_mem(w, tmp + i, sizeof(tmp) - i);
}

/*
 * Writes `d` with the fewest significant digits (15, 16 or 17) that read
 * back as the same double, spelled so that it still reads as a float: `3.5`,
 * `1.0`, `-0.0`, `1.0e+20`. The text is the same in both formats (it is a valid
 * JSON number, and keeping the `.0` tells JSON readers that it was a double).
 * Non-finite values have no number spelling: terms print the atoms `nan`, `inf`
 * and `-inf`, JSON the strings "nan", "inf" and "-inf".
 */
static void put_double(struct writer *w, double d)
{
    const char *special = NULL;
    if (isnan(d))
        special = "nan";
    else if (isinf(d))
        special = d < 0 ? "-inf" : "inf";
    if (special != NULL) {
        if (w->json)
            put_char(w, '"');
        put_str(w, special);
        if (w->json)
            put_char(w, '"');
        return;
    }

    /*
     * %.17g always round-trips an IEEE double; fewer digits are tried first
     * because they usually do too and read better (0.1, not
     * 0.10000000000000001). snprintf and strtod use the same locale, so the
     * comparison holds whatever LC_NUMERIC is.
     */
    char raw[48];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(raw, sizeof(raw), "%.*g", prec, d);
        if (strtod(raw, NULL) == d)
            break;
    }

    /*
     * %g gives an optional sign, digits, maybe the locale's decimal point
     * (which need not be '.', nor one byte), more digits and maybe an
     * exponent. Rewrite the decimal point as '.', and add ".0" where there
     * is none, before the exponent.
     */
    char out[56];
    size_t n = 0;
    bool point = false;
    bool in_point = false;
    for (const char *p = raw; *p != '\0'; p++) {
        char c = *p;
        bool numeric =
            (c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e';
        if (!numeric) {
            if (!in_point && !point)
                out[n++] = '.';
            point = true;
            in_point = true;
            continue;
        }
        in_point = false;
        if (c == 'e' && !point) {
            out[n++] = '.';
            out[n++] = '0';
            point = true;
        }
        out[n++] = c;
    }
    if (!point) {
        out[n++] = '.';
        out[n++] = '0';
    }
    put_mem(w, out, n);
}

/*
 * The length of the valid UTF-8 sequence starting at `p` (1 for ASCII), or 0
 * when the byte at `p` does not start one within the `n` bytes left.
 */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    size_t need;
    if (p[0] < 0x80)
        return 1;
    else if ((p[0] & 0xe0) == 0xc0)
        need = 2;
    else if ((p[0] & 0xf0) == 0xe0)
        need = 3;
    else if ((p[0] & 0xf8) == 0xf0)
        need = 4;
    else
        return 0;
    if (need > n || !ctrace__utf8_valid((const char *)p, need))
        return 0;
    return need;
}

/*
 * How many of the `len` bytes at `s` a string keeps under max_size: all of
 * them when they fit, else as many as fit without splitting a valid UTF-8
 * sequence (an invalid byte stands alone, so it is never "split").
 */
static size_t text_shown(const struct writer *w, const char *s, size_t len)
{
    if (w->max_size == 0 || len <= w->max_size)
        return len;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t seq = utf8_seq_len(p + i, len - i);
        size_t unit = seq == 0 ? 1 : seq;
        if (i + unit > w->max_size)
            break;
        i += unit;
    }
    return i;
}

/*
 * Writes the `len` bytes at `s` escaped for the inside of a quoted text
 * whose quote character is `quote` (`"` for strings and binaries, `'` for
 * quoted atoms; always `"` in JSON). Valid UTF-8 is copied as it is; every
 * other byte that would not read back as itself is escaped.
 */
static void put_escaped(struct writer *w, const char *s, size_t len, char quote)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* Copy the longest run that needs no escape in one go. */
        size_t start = i;
        while (i < len) {
            unsigned char c = p[i];
            if (c < 0x20 || c == 0x7f || c == '\\' || c == (unsigned char)quote)
                break;
            if (c < 0x80) { /* most text: no call per byte */
                i++;
                continue;
            }
            size_t seq = utf8_seq_len(p + i, len - i);
            if (seq == 0)
                break;
            i += seq;
        }
        put_mem(w, s + start, i - start);
        if (i == len)
            break;

        unsigned char c = p[i++];
        const char *esc = NULL;
        switch (c) {
        case '\n':
            esc = "\\n";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\b':
            esc = w->json ? "\\b" : NULL;
            break;
        case '\f':
            esc = w->json ? "\\f" : NULL;
            break;
        case '\\':
            esc = "\\\\";
            break;
        default:
            break;
        }
        if (esc != NULL) {
            put_str(w, esc);
        } else if (c == (unsigned char)quote) {
            put_char(w, '\\');
            put_char(w, quote);
        } else {
            put_byte_escape(w, c);
        }
    }
}

/* A quoted text, cut to max_size bytes with `...` inside the quotes. */
static void put_text(struct writer *w, const char *s, size_t len, char quote)
{
    size_t shown = text_shown(w, s, len);
    put_char(w, quote);
    put_escaped(w, s, shown, quote);
    if (shown < len)
        put_str(w, "...");
    put_char(w, quote);
}

/* What marks a cut part: an atom-like `...`, or the JSON string "...". */
static void put_cut(struct writer *w)
{
    put_str(w, w->json ? "\"...\"" : "...");
}

/* How many of `len` elements or bytes max_size lets through. */
static size_t seq_shown(const struct writer *w, size_t len)
{
    return w->max_size != 0 && len > w->max_size ? w->max_size : len;
}

/*
 * Ends the elements of a sequence that max_size cut to `shown` of its `len`
 * elements with a final cut element: `[1,2,...]`, `[1,2,"..."]`.
 */
static void put_rest_cut(struct writer *w, size_t shown, size_t len)
{
    if (shown == len)
        return;
    if (shown > 0)
        put_char(w, ',');
    put_cut(w);
}

/*
 * Whether `s` prints as a bare atom: `[a-z][A-Za-z0-9_@]*` and not one of
 * Erlang's reserved words, which would need quotes to read back as atoms.
 */
static bool atom_is_bare(const char *s, size_t len)
{
    static const char *const reserved[] = {
        "after",  "and",     "andalso", "band", "begin", "bnot", "bor",
        "bsl",    "bsr",     "bxor",    "case", "catch", "cond", "div",
        "end",    "fun",     "if",      "let",  "not",   "of",   "or",
        "orelse", "receive", "rem",     "try",  "when",  "xor",
    };
    if (len == 0 || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '@';
        if (!ok)
            return false;
    }
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(reserved); i++) {
        if (strlen(reserved[i]) == len && memcmp(reserved[i], s, len) == 0)
            return false;
    }
    return true;
}

/*
 * Symbols are names, so max_size does not cut them: a cut name would read as
 * another name.
 */
static void put_symbol(struct writer *w, const char *s, size_t len)
{
    if (s == ctrace__cut_mark) { /* one that could not be kept (record.h) */
        put_cut(w);
        return;
    }
    bool bare = !w->json && atom_is_bare(s, len);
    char quote = w->json ? '"' : '\'';
    if (w->json)
        put_str(w, "{\"atom\":");
    if (!bare)
        put_char(w, quote);
    put_escaped(w, s, len, quote);
    if (!bare)
        put_char(w, quote);
    if (w->json)
        put_char(w, '}');
}

/*
 * Bytes print as Erlang binaries, `<<1,2,255>>`, or `<<"abc">>` when every
 * byte shown is printable ASCII; in JSON always as {"bytes":[1,2,255]}.
 * A cut shows as a final `...` element (`<<1,2,...>>`), or after the
 * quoted text as Erlang prints it (`<<"abc"...>>`).
 */
static void put_bytes(struct writer *w, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t shown = seq_shown(w, len);
    bool printable = !w->json && shown > 0;
    for (size_t i = 0; printable && i < shown; i++)
        printable = p[i] >= 0x20 && p[i] <= 0x7e;

    put_str(w, w->json ? "{\"bytes\":[" : "<<");
    if (printable) {
        put_char(w, '"');
        put_escaped(w, s, shown, '"');
        put_char(w, '"');
        if (shown < len)
            put_str(w, "...");
    } else {
        for (size_t i = 0; i < shown; i++) {
            if (i > 0)
                put_char(w, ',');
            put_u64(w, p[i]);
        }
        put_rest_cut(w, shown, len);
    }
    put_str(w, w->json ? "]}" : ">>");
}

static void
put_value(struct writer *w, const struct ctrace_value *v, unsigned depth);

/* A tuple or list at nesting level `depth` (the outermost is 1). */
static void
put_seq(struct writer *w, const struct ctrace_value *v, unsigned depth)
{
    if (depth > w->depth_limit) {
        put_cut(w);
        return;
    }
    bool tuple = v->kind == CTRACE_VALUE_TUPLE;
    const char *open = tuple ? (w->json ? "{\"tuple\":[" : "{") : "[";
    const char *close = tuple ? (w->json ? "]}" : "}") : "]";
    size_t len = v->as.seq.len;
    size_t shown = seq_shown(w, len);

    put_str(w, open);
    for (size_t i = 0; i < shown; i++) {
        if (i > 0)
            put_char(w, ',');
        put_value(w, &v->as.seq.items[i], depth + 1);
    }
    put_rest_cut(w, shown, len);
    put_str(w, close);
}

static void
put_value(struct writer *w, const struct ctrace_value *v, unsigned depth)
{
    switch (v->kind) {
    case CTRACE_VALUE_INT:
        put_i64(w, v->as.i);
        break;
    case CTRACE_VALUE_UINT:
        put_u64(w, v->as.u);
        break;
    case CTRACE_VALUE_DOUBLE:
        put_double(w, v->as.d);
        break;
    case CTRACE_VALUE_BOOL:
        put_str(w, v->as.b ? "true" : "false");
        break;
    case CTRACE_VALUE_STRING:
        put_text(w, v->as.str.ptr, v->as.str.len, '"');
        break;
    case CTRACE_VALUE_BYTES:
        put_bytes(w, v->as.str.ptr, v->as.str.len);
        break;
    case CTRACE_VALUE_SYMBOL:
        put_symbol(w, v->as.str.ptr, v->as.str.len);
        break;
    case CTRACE_VALUE_POINTER:
        if (w->json)
            put_str(w, "{\"pointer\":\"");
        put_pointer(w, v->as.ptr);
        if (w->json)
            put_str(w, "\"}");
        break;
    case CTRACE_VALUE_TUPLE:
    case CTRACE_VALUE_LIST:
        put_seq(w, v, depth);
        break;
    case CTRACE_VALUE_PID:
        /* JSON keeps the number for programs and the text for people. */
        if (w->json) {
            put_str(w, "{\"pid\":");
            put_u64(w, v->as.u);
            put_str(w, ",\"text\":\"");
        }
        put_str(w, "<0.");
        put_u64(w, v->as.u);
        put_str(w, ".0>");
        if (w->json)
            put_str(w, "\"}");
        break;
    case CTRACE_VALUE_NULL:
    default:
        /* An unknown kind comes from a hand-built value; show it as null. */
        put_str(w, "null");
        break;
    }
}

/*
 * Where to end a prefix of the `end` bytes at `buf` so that it does not stop
 * inside a UTF-8 sequence. The rendering is ASCII plus valid UTF-8, so the
 * last lead byte before `end` tells whether its sequence is complete. Only
 * bytes before `end` are read: the byte at `end` may never have been
 * written.
 */
static size_t utf8_boundary(const char *buf, size_t end)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t k = end;
    while (k > 0 && end - k < 3 && (p[k - 1] & 0xc0) == 0x80)
        k--;
    if (k == 0 || p[k - 1] < 0xc0)
        return end;
    size_t lead = k - 1;
    size_t need = p[lead] >= 0xf0 ? 4 : p[lead] >= 0xe0 ? 3 : 2;
    return end - lead < need ? lead : end;
}

/*
 * Terminates the buffer. When the rendering did not fit, the prefix is cut
 * back to a UTF-8 sequence boundary and, when the buffer has room for them,
 * its last three bytes become `...`.
 */
static size_t writer_finish(struct writer *w)
{
    if (w->size == 0)
        return w->len;
    if (w->len < w->size) {
        w->buf[w->len] = '\0';
        return w->len;
    }
    size_t dots = w->size >= 4 ? 3 : 0;
    size_t end = utf8_boundary(w->buf, w->size - 1 - dots);
    memcpy(w->buf + end, "...", dots);
    w->buf[end + dots] = '\0';
    return w->len;
}

static size_t render(const struct ctrace_value *v,
                     const struct ctrace_render_opts *opts,
                     bool json,
                     char *buf,
                     size_t size)
{
    struct ctrace_render_opts defaults;
    if (opts == NULL) {
        ctrace_render_opts_init(&defaults);
        opts = &defaults;
    }
    struct writer w = {
        .buf = buf,
        .size = buf != NULL ? size : 0,
        .len = 0,
        .json = json,
        .depth_limit = opts->depth == 0 || opts->depth > MAX_NESTING
                           ? MAX_NESTING
                           : opts->depth,
        .max_size = opts->max_size,
    };
    static const struct ctrace_value null_value = {CTRACE_VALUE_NULL, {0}};
    put_value(&w, v != NULL ? v : &null_value, 1);
    return writer_finish(&w);
}

static char *render_new(const struct ctrace_value *v,
                        const struct ctrace_render_opts *opts,
                        bool json)
{
    size_t len = render(v, opts, json, NULL, 0);
    if (len == SIZE_MAX)
        return NULL;
    char *s = ctrace__malloc(len + 1);
    if (s == NULL)
        return NULL;
    render(v, opts, json, s, len + 1);
    return s;
}

void ctrace_render_opts_init(struct ctrace_render_opts *opts)
{
    opts->depth = 0;
    opts->max_size = DEFAULT_MAX_SIZE;
}

size_t ctrace_value_format(const struct ctrace_value *v,
                           const struct ctrace_render_opts *opts,
                           char *buf,
                           size_t size)
{
    return render(v, opts, false, buf, size);
}

size_t ctrace_value_format_json(const struct ctrace_value *v,
                                const struct ctrace_render_opts *opts,
                                char *buf,
                                size_t size)
{
    return render(v, opts, true, buf, size);
}

char *ctrace_value_to_term(const struct ctrace_value *v,
                           const struct ctrace_render_opts *opts)
{
    return render_new(v, opts, false);
}

char *ctrace_value_to_json(const struct ctrace_value *v,
                           const struct ctrace_render_opts *opts)
{
    return render_new(v, opts, true);
}

void ctrace__sbuf_put_value(struct ctrace__sbuf *b,
                            const struct ctrace_value *v,
                            const struct ctrace_render_opts *opts,
                            bool json)
{
    if (v == NULL) {
        ctrace__sbuf_puts(b, json ? "null" : "?");
        return;
    }
    if (b->failed)
        return;
    size_t (*fmt)(const struct ctrace_value *,
                  const struct ctrace_render_opts *,
                  char *,
                  size_t) =
        json ? ctrace_value_format_json : ctrace_value_format;
    /*
     * Most values fit the stack buffer; a longer one is rendered a second
     * time into a heap buffer of the measured length.
     */
    char small[256];
    size_t n = fmt(v, opts, small, sizeof(small));
    if (n < sizeof(small)) {
        ctrace__sbuf_append(b, small, n);
        return;
    }
    char *big = n < SIZE_MAX ? ctrace__malloc(n + 1) : NULL;
    if (big == NULL) {
        b->failed = true;
        return;
    }
    fmt(v, opts, big, n + 1);
    ctrace__sbuf_append(b, big, n);
    ctrace__free(big);
}
