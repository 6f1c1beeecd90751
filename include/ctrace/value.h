/* SPDX-License-Identifier: MIT */
/*
 * Values: what trace-point arguments and return values are captured as, what
 * patterns match against, and how they are printed.
 *
 * A struct ctrace_value is a small tagged view. It never owns what it points
 * to: a string, byte or symbol value borrows the caller's characters, and a
 * tuple or list borrows the caller's array of values. Building one costs no
 * allocation, which is why trace points can build them; whoever keeps a
 * value longer than the memory it views must copy that memory first (the
 * trace engine does this when it records an event).
 *
 * Every value renders two ways:
 * - as an Erlang-looking term, the way redbug and recon print them: `42`,
 *   `-7`, `3.5`, `true`, `"Tihon"`, `<<1,2,255>>`, `ok`, `'not an atom'`,
 *   `{cat,"Tihon"}`, `[1,2,3]`, `null`, `0x7ffd5e1c`, `<0.335.0>`;
 * - as JSON: numbers, booleans, strings and arrays stand for themselves;
 *   the kinds JSON lacks become one-key objects: `{"atom":"ok"}`,
 *   `{"bytes":[1,2,255]}`, `{"tuple":[...]}`, `{"pointer":"0x7ffd5e1c"}`,
 *   `{"pid":335,"text":"<0.335.0>"}`.
 * Both honour limits (struct ctrace_render_opts) and mark what they cut with
 * `...`, so a huge or deeply nested argument can never flood an output.
 *
 * Thread-safety: every function here is reentrant; values themselves are
 * read-only views and may be read from any number of threads at once.
 */
#ifndef CTRACE_VALUE_H
#define CTRACE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrace/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kinds of value. ABI: append only. */
enum ctrace_value_kind {
    CTRACE_VALUE_NULL = 0, /* no value; renders `null` */
    CTRACE_VALUE_INT,      /* int64_t */
    CTRACE_VALUE_UINT,     /* uint64_t */
    CTRACE_VALUE_DOUBLE,   /* double */
    CTRACE_VALUE_BOOL,     /* bool; an atom `true`/`false` to patterns */
    CTRACE_VALUE_STRING,   /* text, length-aware (may hold NUL bytes) */
    CTRACE_VALUE_BYTES,    /* raw bytes, pointer plus length */
    CTRACE_VALUE_SYMBOL,   /* an atom-like name: `ok`, `not_in_town` */
    CTRACE_VALUE_POINTER,  /* an address, compared and printed as such */
    CTRACE_VALUE_TUPLE,    /* fixed-size group: `{cat,"Tihon"}` */
    CTRACE_VALUE_LIST,     /* sequence: `[1,2,3]` */
    CTRACE_VALUE_PID       /* a ctrace process, uint64_t N: `<0.N.0>` */
};

/*
 * A value. Fill it with the constructors below rather than by hand; the
 * fields are public so that patterns and sinks can read them without calls.
 * `as.str` serves STRING, BYTES and SYMBOL; `as.seq` serves TUPLE and LIST.
 */
struct ctrace_value {
    enum ctrace_value_kind kind;
    union {
        int64_t i;
        uint64_t u;
        double d;
        bool b;
        const void *ptr;
        struct {
            const char *ptr; /* not NUL-terminated in general */
            size_t len;
        } str;
        struct {
            const struct ctrace_value *items;
            size_t len;
        } seq;
    } as;
};

/*
 * The length of a string value the trace-point macros pass unmeasured: a C
 * string, NUL-terminated, or NULL for the null value. The library measures
 * it where it reads it (ctrace/point_impl.h); no public constructor makes
 * one, and no event a user is given carries one.
 */
#define CTRACE__LEN_LAZY SIZE_MAX

/* Constructors. Each returns a value by copy and allocates nothing. */
static inline struct ctrace_value ctrace_value_null(void)
{
    struct ctrace_value v = {CTRACE_VALUE_NULL, {0}};
    return v;
}

static inline struct ctrace_value ctrace_value_int(int64_t i)
{
    struct ctrace_value v = {CTRACE_VALUE_INT, {.i = i}};
    return v;
}

static inline struct ctrace_value ctrace_value_uint(uint64_t u)
{
    struct ctrace_value v = {CTRACE_VALUE_UINT, {.u = u}};
    return v;
}

static inline struct ctrace_value ctrace_value_double(double d)
{
    struct ctrace_value v = {CTRACE_VALUE_DOUBLE, {.d = d}};
    return v;
}

static inline struct ctrace_value ctrace_value_bool(bool b)
{
    struct ctrace_value v = {CTRACE_VALUE_BOOL, {.b = b}};
    return v;
}

/* A C string; NULL gives the null value, since there is nothing to view. */
static inline struct ctrace_value ctrace_value_string(const char *s)
{
    struct ctrace_value v = {CTRACE_VALUE_NULL, {0}};
    if (s != NULL) {
        size_t n = 0;
        while (s[n] != '\0')
            n++;
        v.kind = CTRACE_VALUE_STRING;
        v.as.str.ptr = s;
        v.as.str.len = n;
    }
    return v;
}

/* Text of a known length, which may contain NUL bytes. */
static inline struct ctrace_value ctrace_value_stringn(const char *s,
                                                       size_t len)
{
    struct ctrace_value v = {CTRACE_VALUE_STRING, {0}};
    v.as.str.ptr = s;
    v.as.str.len = len;
    return v;
}

static inline struct ctrace_value ctrace_value_bytes(const void *p, size_t len)
{
    struct ctrace_value v = {CTRACE_VALUE_BYTES, {0}};
    v.as.str.ptr = (const char *)p;
    v.as.str.len = len;
    return v;
}

/* An atom-like name; NULL gives the null value. */
static inline struct ctrace_value ctrace_value_symbol(const char *name)
{
    struct ctrace_value v = ctrace_value_string(name);
    if (name != NULL)
        v.kind = CTRACE_VALUE_SYMBOL;
    return v;
}

static inline struct ctrace_value ctrace_value_pointer(const void *p)
{
    struct ctrace_value v = {CTRACE_VALUE_POINTER, {.ptr = p}};
    return v;
}

/*
 * The process with pid number `n` (ctrace_self(), a server's From): prints
 * `<0.N.0>` wherever it appears in a term, as Erlang prints a pid. It
 * compares as a pid: equal only to the same pid, never to an integer.
 */
static inline struct ctrace_value ctrace_value_pid(uint64_t n)
{
    struct ctrace_value v = {CTRACE_VALUE_PID, {.u = n}};
    return v;
}

/* A tuple viewing `len` values at `items`, which must outlive the value. */
static inline struct ctrace_value
ctrace_value_tuple(const struct ctrace_value *items, size_t len)
{
    struct ctrace_value v = {CTRACE_VALUE_TUPLE, {0}};
    v.as.seq.items = items;
    v.as.seq.len = len;
    return v;
}

/* A list viewing `len` values at `items`, which must outlive the value. */
static inline struct ctrace_value
ctrace_value_list(const struct ctrace_value *items, size_t len)
{
    struct ctrace_value v = {CTRACE_VALUE_LIST, {0}};
    v.as.seq.items = items;
    v.as.seq.len = len;
    return v;
}

/* How a value is printed. Fill with ctrace_render_opts_init() first. */
struct ctrace_render_opts {
    /*
     * Deepest nesting printed: with depth 1, `{a,{b,c}}` prints `{a,...}`.
     * 0 means no limit. Default 0 (redbug's print_depth is effectively
     * unlimited by default too). Whatever the setting, nesting deeper than
     * 256 levels prints as `...`, so printing cannot exhaust the stack.
     */
    unsigned depth;
    /*
     * Most bytes of one string or byte value, and most elements of one tuple
     * or list, printed before the rest is replaced by `...`. 0 means no
     * limit. Default 1024.
     */
    size_t max_size;
};

/*
 * Sets the defaults described in struct ctrace_render_opts.
 * Thread-safety: any thread.
 */
CTRACE_API void ctrace_render_opts_init(struct ctrace_render_opts *opts);

/*
 * Prints `v` as an Erlang-looking term into `buf`, like snprintf: at most
 * `size` - 1 bytes and a NUL (nothing when `size` is 0). Returns the length
 * the whole rendering has (after the limits of `opts`), so a result >= size
 * means `buf` holds a cut copy; in that case the last bytes that fit are
 * replaced by `...` when size allows. `opts` may be NULL for the defaults.
 * Strings print in double quotes with C-like escapes (\" \\ \n \t \r, other
 * bytes below 0x20 or 0x7f and above as \xHH unless they form valid UTF-8).
 * Thread-safety: any thread.
 */
CTRACE_API size_t ctrace_value_format(const struct ctrace_value *v,
                                      const struct ctrace_render_opts *opts,
                                      char *buf,
                                      size_t size);

/*
 * Prints `v` as one line of compact JSON into `buf`, with the same contract
 * as ctrace_value_format(). The output is always valid UTF-8 JSON when it
 * fits: bytes that are not valid UTF-8 in a string are written as \u00XX
 * escapes of their byte values, non-finite doubles as the strings "nan",
 * "inf" and "-inf", a depth cut as the string "...", and a size cut as a
 * final "..." element (lists, tuples, bytes) or a "..." suffix (strings).
 * Thread-safety: any thread.
 */
CTRACE_API size_t
ctrace_value_format_json(const struct ctrace_value *v,
                         const struct ctrace_render_opts *opts,
                         char *buf,
                         size_t size);

/*
 * Returns `v` printed as a term in a new NUL-terminated string, or NULL when
 * memory runs out. Free the result with ctrace_free().
 * Thread-safety: any thread.
 */
CTRACE_API char *ctrace_value_to_term(const struct ctrace_value *v,
                                      const struct ctrace_render_opts *opts);

/*
 * Returns `v` printed as JSON in a new NUL-terminated string, or NULL when
 * memory runs out. Free the result with ctrace_free().
 * Thread-safety: any thread.
 */
CTRACE_API char *ctrace_value_to_json(const struct ctrace_value *v,
                                      const struct ctrace_render_opts *opts);

/*
 * Frees memory that a ctrace function returned to the caller. NULL is a
 * no-op.
 * Thread-safety: any thread.
 */
CTRACE_API void ctrace_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* CTRACE_VALUE_H */
