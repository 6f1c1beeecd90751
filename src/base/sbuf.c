/* SPDX-License-Identifier: MIT */
/*
 * The growable string used by renderers and JSON builders off the traced
 * threads, and UTF-8 validation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static bool sbuf_reserve(struct ctrace__sbuf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = ctrace__realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void ctrace__sbuf_append_slow(struct ctrace__sbuf *b, const char *s, size_t len)
{
    if (!sbuf_reserve(b, len))
        return;
    if (len > 0)
        memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void ctrace__sbuf_puts(struct ctrace__sbuf *b, const char *s)
{
    ctrace__sbuf_append(b, s, strlen(s));
}

/* "00" to "99": two digits per division. */
static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/*
 * Writes the digits of `v` at the end of `digits` and returns how many;
 * they start at digits + 20 - n.
 */
static inline size_t u64_digits(char digits[20], uint64_t v, unsigned width)
{
    size_t n = 0;
    while (v >= 100) {
        unsigned pair = (unsigned)(v % 100) * 2;
        v /= 100;
        n += 2;
        digits[20 - n] = digit_pairs[pair];
        digits[20 - n + 1] = digit_pairs[pair + 1];
    }
    if (v >= 10) {
        n += 2;
        digits[20 - n] = digit_pairs[v * 2];
        digits[20 - n + 1] = digit_pairs[v * 2 + 1];
    } else {
        digits[20 - ++n] = (char)('0' + v);
    }
    if (width > 20)
        width = 20;
    while (n < width)
        digits[20 - ++n] = '0';
    return n;
}

size_t ctrace__u64_text(char *buf, uint64_t v, unsigned width)
{
    char digits[20];
    size_t n = u64_digits(digits, v, width);
    memcpy(buf, digits + 20 - n, n);
    return n;
}

void ctrace__sbuf_put_u64(struct ctrace__sbuf *b, uint64_t v, unsigned width)
{
    char digits[20];
    size_t n = u64_digits(digits, v, width);
    ctrace__sbuf_append(b, digits + 20 - n, n);
}

void ctrace__sbuf_printf(struct ctrace__sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
    } else if (sbuf_reserve(b, (size_t)n)) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

char *ctrace__sbuf_take(struct ctrace__sbuf *b)
{
    char *s = NULL;
    if (!b->failed) {
        if (b->data == NULL)
            s = ctrace__calloc(1, 1);
        else
            s = b->data;
        b->data = NULL;
    }
    ctrace__sbuf_free(b);
    return s;
}

void ctrace__sbuf_free(struct ctrace__sbuf *b)
{
    ctrace__free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
}

bool ctrace__utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            min = 0x80;
            c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            min = 0x800;
            c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            return false;
        }
        if (len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (p[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

void ctrace_free(void *p)
{
    ctrace__free(p);
}

size_t ctrace__strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}
