/* SPDX-License-Identifier: MIT */
/*
 * The keys of `count(N, ...)`: what a traced thread stores for a call, and
 * the text the report prints for it.
 *
 * A key used to be the chosen arguments rendered as text, on the traced
 * thread, which made a counted call cost more than a recorded one. It is
 * now the arguments' raw bytes: per argument its kind and its 8-byte
 * scalar, or its kind, a length and the first KEY_STRING bytes of a
 * string, bytes or symbol, hashed eight bytes at a time. Only the report
 * renders, once per key, with the same limits the text had (32 bytes per
 * string, depth 4), so it prints what it printed before. A key that does
 * not fit raw (a tuple or a list, or too many strings for the slot) is
 * still rendered on the traced thread, as before, and tagged so.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "session/engine.h"

/* The rendering limits of a key's text. */
#define KEY_TEXT_MAX 32
#define KEY_DEPTH    4
/*
 * Bytes kept of a string: the renderer's cut at KEY_TEXT_MAX looks at
 * most one UTF-8 sequence (4 bytes) past it to decide where to stop.
 */
#define KEY_STRING (KEY_TEXT_MAX + 4)
_Static_assert(COUNT_KEY_BYTES >= CTRACE__COUNT_MAX_ARGS * (2 + KEY_STRING),
               "a slot holds the raw key of every argument count() names");

/* Tags of a key's parts, beyond the value kinds themselves. */
#define TAG_MISSING 0xfe /* no such argument: prints `?` */
#define TAG_TEXT    0xff /* the whole key rendered (the fallback) */

static void key_render_opts(struct ctrace_render_opts *ro)
{
    ctrace_render_opts_init(ro);
    ro->max_size = KEY_TEXT_MAX;
    ro->depth = KEY_DEPTH;
}

/* The key as text, rendered on the traced thread: the fallback. */
static size_t encode_text(const struct ctrace__spec *spec,
                          const struct ctrace_value *args,
                          size_t nargs,
                          unsigned char *out)
{
    char *text = (char *)out + 1;
    size_t room = COUNT_KEY_BYTES - 1, len = 0;
    struct ctrace_render_opts ro;
    key_render_opts(&ro);
    for (unsigned k = 0; k < spec->ncount_by; k++) {
        if (k > 0 && len + 2 < room) {
            memcpy(text + len, ", ", 2);
            len += 2;
        }
        unsigned pos = spec->count_by[k] - 1;
        struct ctrace_value v = pos < nargs ? args[pos] : ctrace_value_null();
        ctrace__value_measure(&v); /* an unmeasured C string (point.h) */
        size_t n = pos < nargs
                       ? ctrace_value_format(&v, &ro, text + len, room - len)
                       : (size_t)snprintf(text + len, room - len, "?");
        len += n < room - len ? n : room - len - 1;
    }
    out[0] = TAG_TEXT;
    return 1 + len;
}

size_t ctrace__count_key_encode(const struct ctrace__spec *spec,
                                const struct ctrace_value *args,
                                size_t nargs,
                                unsigned char out[COUNT_KEY_BYTES])
{
    size_t len = 0;
    for (unsigned k = 0; k < spec->ncount_by; k++) {
        unsigned pos = spec->count_by[k] - 1;
        if (pos >= nargs) {
            if (len + 1 > COUNT_KEY_BYTES)
                return encode_text(spec, args, nargs, out);
            out[len++] = TAG_MISSING;
            continue;
        }
        const struct ctrace_value *v = &args[pos];
        enum ctrace_value_kind kind = v->kind;
        uint64_t word = 0;
        /* An unmeasured C string is read no further than the key keeps. */
        bool lazy = ctrace__value_lazy(v);
        if (lazy && v->as.str.ptr == NULL)
            kind = CTRACE_VALUE_NULL; /* a NULL C string: the null value */
        switch (kind) {
        case CTRACE_VALUE_STRING:
        case CTRACE_VALUE_BYTES:
        case CTRACE_VALUE_SYMBOL: {
            size_t n = lazy ? strnlen(v->as.str.ptr, KEY_STRING)
                       : v->as.str.len < KEY_STRING ? v->as.str.len
                                                    : KEY_STRING;
            if (len + 2 + n > COUNT_KEY_BYTES)
                return encode_text(spec, args, nargs, out);
            out[len] = (unsigned char)v->kind;
            out[len + 1] = (unsigned char)n;
            ctrace__copy_small((char *)out + len + 2, v->as.str.ptr, n);
            len += 2 + n;
            continue;
        }
        case CTRACE_VALUE_BOOL:
            word = v->as.b ? 1 : 0;
            break;
        case CTRACE_VALUE_NULL:
            break;
        case CTRACE_VALUE_INT:
        case CTRACE_VALUE_UINT:
        case CTRACE_VALUE_DOUBLE:
        case CTRACE_VALUE_POINTER:
        case CTRACE_VALUE_PID:
            word = v->as.u; /* all eight bytes are the value's */
            break;
        default: /* containers, and kinds newer than this code */
            return encode_text(spec, args, nargs, out);
        }
        if (len + 9 > COUNT_KEY_BYTES)
            return encode_text(spec, args, nargs, out);
        out[len] = (unsigned char)kind;
        memcpy(out + len + 1, &word, 8);
        len += 9;
    }
    return len;
}

uint64_t ctrace__count_key_hash(const unsigned char *key, size_t len)
{
    uint64_t h = UINT64_C(1469598103934665603) ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    memcpy(&tail, key + i, len - i);
    h = (h ^ tail) * UINT64_C(0x9e3779b97f4a7c15);
    h ^= h >> 32;
    return h | 1; /* 0 marks a free slot */
}

size_t ctrace__count_key_text(const unsigned char *key,
                              size_t len,
                              char *text,
                              size_t size)
{
    if (size == 0)
        return 0;
    if (len > 0 && key[0] == TAG_TEXT) {
        size_t n = len - 1 < size - 1 ? len - 1 : size - 1;
        memcpy(text, key + 1, n);
        text[n] = '\0';
        return n;
    }
    struct ctrace_render_opts ro;
    key_render_opts(&ro);
    size_t used = 0;
    for (size_t i = 0, k = 0; i < len; k++) {
        if (k > 0 && used + 2 < size) {
            memcpy(text + used, ", ", 2);
            used += 2;
        }
        struct ctrace_value v = ctrace_value_null();
        unsigned char tag = key[i];
        if (tag == TAG_MISSING) {
            i++;
            size_t n = (size_t)snprintf(text + used, size - used, "?");
            used += n < size - used ? n : size - used - 1;
            continue;
        }
        v.kind = (enum ctrace_value_kind)tag;
        if (tag == CTRACE_VALUE_STRING || tag == CTRACE_VALUE_BYTES ||
            tag == CTRACE_VALUE_SYMBOL) {
            v.as.str.len = key[i + 1];
            v.as.str.ptr = (const char *)key + i + 2;
            i += 2 + v.as.str.len;
        } else {
            uint64_t word;
            memcpy(&word, key + i + 1, 8);
            if (tag == CTRACE_VALUE_BOOL)
                v.as.b = word != 0;
            else
                v.as.u = word;
            i += 9;
        }
        size_t n = ctrace_value_format(&v, &ro, text + used, size - used);
        used += n < size - used ? n : size - used - 1;
    }
    text[used] = '\0';
    return used;
}
