/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by every part of the library. Nothing here is public: the
 * names start with ctrace__ and the symbols are hidden in the shared library.
 */
#ifndef CTRACE_INTERNAL_H
#define CTRACE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ctrace/error.h"
#include "ctrace/value.h"

#define CTRACE__LIKELY(x)   __builtin_expect(!!(x), 1)
#define CTRACE__UNLIKELY(x) __builtin_expect(!!(x), 0)

#define CTRACE__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__) || defined(__clang__)
#define CTRACE__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CTRACE__PRINTF(fmt, args)
#endif

/*
 * Fills `err` unless it is NULL or already holds an error (the first error
 * wins). `column` is 1-based, 0 for "no position"; `position` is the byte
 * offset (ignored when column is 0). The message is formatted with printf
 * rules and cut to fit. Returns `code`, so callers can write
 * `return ctrace__error_set(err, CTRACE_ESYNTAX, ...);`.
 * Thread-safety: any thread.
 */
int ctrace__error_set(struct ctrace_error *err,
                      int code,
                      int column,
                      size_t position,
                      const char *fmt,
                      ...) CTRACE__PRINTF(5, 6);

/* Same as ctrace__error_set() with a va_list. */
int ctrace__error_setv(struct ctrace_error *err,
                       int code,
                       int column,
                       size_t position,
                       const char *fmt,
                       va_list ap) CTRACE__PRINTF(5, 0);

/* Empties `err`: code 0, no position, empty text. NULL is a no-op. */
void ctrace__error_clear(struct ctrace_error *err);

/*
 * The allocator of the whole library (src/base/alloc.c): the contracts of
 * malloc(), calloc(), realloc(), aligned_alloc(), strdup(), strndup() and
 * free(), on the same heap (so memory from these may be handed to code that
 * calls free(), such as libmicrohttpd's MHD_RESPMEM_MUST_FREE), with a
 * failure countdown for tests. Library code calls these, never the C
 * library's directly (ctest layers.no_raw_alloc checks).
 * Thread-safety: any thread.
 */
void *ctrace__malloc(size_t n);
void *ctrace__calloc(size_t count, size_t size);
void *ctrace__realloc(void *p, size_t n);
void *ctrace__aligned_alloc(size_t alignment, size_t n);
char *ctrace__strdup(const char *s);
char *ctrace__strndup(const char *s, size_t n);
void ctrace__free(void *p);

/*
 * Copies the NUL-terminated `src` into `dst` of `size` bytes (size > 0),
 * cut to size - 1 bytes and always terminated; returns the bytes copied.
 * snprintf("%s") without the format machinery, for per-event paths.
 * Thread-safety: any thread.
 */
size_t ctrace__strlcpy(char *dst, const char *src, size_t size);

/*
 * For tests: `n` more allocations succeed, then one fails (returns NULL),
 * then the countdown is off again; a negative `n` switches it off now.
 * ctrace__alloc_failures() counts the allocations made to fail so far, so a
 * test can tell whether its scenario reached the armed one.
 * Thread-safety: any thread.
 */
void ctrace__alloc_fail_after(long n);
unsigned long ctrace__alloc_failures(void);

/*
 * What a symbol that cannot be kept whole (a record's, longer than
 * CTRACE__SYMBOL_MAX, or with no room left in its slot) points to instead:
 * the value renderers print it as the bare cut marker `...`, which is no
 * atom. Defined here, with the renderers, since records are above them.
 */
extern const char ctrace__cut_mark[4];

/*
 * A growable, always NUL-terminated string for code that is not on a traced
 * thread (renderers on consumers, JSON builders, the CLI). Start from
 * CTRACE__SBUF_INIT. When an allocation fails the buffer remembers it, keeps
 * what it had, and ignores further appends; check `failed` once at the end.
 */
struct ctrace__sbuf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
};

#define CTRACE__SBUF_INIT \
    {                     \
        NULL, 0, 0, false \
    }

/*
 * memcpy() for the short pieces renderers and records move most: two
 * overlapping loads and stores of 8 or 4 bytes cover 4 to 16 bytes
 * exactly, three single bytes cover 1 to 3, and only longer copies call
 * memcpy(). Nothing outside [src, src + n) is read; n 0 copies nothing.
 */
static inline void ctrace__copy_small(char *dst, const char *src, size_t n)
{
    if (n > 16) {
        memcpy(dst, src, n);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else if (n > 0) {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/*
 * Whether `v` is a string the trace-point macros passed unmeasured
 * (CTRACE__LEN_LAZY, ctrace/value.h): a C string, or NULL for null.
 */
static inline bool ctrace__value_lazy(const struct ctrace_value *v)
{
    return v->kind == CTRACE_VALUE_STRING && v->as.str.len == CTRACE__LEN_LAZY;
}

/* Gives an unmeasured string its length, or makes a NULL one the null value. */
static inline void ctrace__value_measure(struct ctrace_value *v)
{
    if (ctrace__value_lazy(v)) {
        if (v->as.str.ptr != NULL)
            v->as.str.len = strlen(v->as.str.ptr);
        else
            *v = ctrace_value_null();
    }
}

/* Appends `len` bytes, which are not scanned for NUL. */
void ctrace__sbuf_append_slow(struct ctrace__sbuf *b,
                              const char *s,
                              size_t len);
/*
 * Inline for the renderers' per-event path: while the buffer has room, an
 * append is a copy and a store, with no call.
 */
static inline void
ctrace__sbuf_append(struct ctrace__sbuf *b, const char *s, size_t len)
{
    if (b->len + len < b->cap && !b->failed) {
        ctrace__copy_small(b->data + b->len, s, len);
        b->len += len;
        b->data[b->len] = '\0';
        return;
    }
    ctrace__sbuf_append_slow(b, s, len);
}
/* ctrace__sbuf_append() of one byte, with one store instead of three. */
static inline void ctrace__sbuf_putc(struct ctrace__sbuf *b, char c)
{
    if (b->len + 1 < b->cap && !b->failed) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return;
    }
    ctrace__sbuf_append_slow(b, &c, 1);
}
void ctrace__sbuf_puts(struct ctrace__sbuf *b, const char *s);
/*
 * Appends `v` in decimal with at least `width` digits, zero-padded
 * (`width` 0 or 1: no padding; at most 20). No printf: the text sinks call
 * it for every number of every event.
 */
void ctrace__sbuf_put_u64(struct ctrace__sbuf *b, uint64_t v, unsigned width);
/*
 * The same digits written at `buf` (room for 20), not NUL-terminated;
 * returns how many.
 */
size_t ctrace__u64_text(char *buf, uint64_t v, unsigned width);
void ctrace__sbuf_printf(struct ctrace__sbuf *b, const char *fmt, ...)
    CTRACE__PRINTF(2, 3);
/*
 * Appends `v` rendered as a term (json false) or as JSON with the limits of
 * `opts` (NULL for the defaults). A NULL `v` appends `?` (term) or `null`
 * (JSON), as for a return value that was not captured.
 */
void ctrace__sbuf_put_value(struct ctrace__sbuf *b,
                            const struct ctrace_value *v,
                            const struct ctrace_render_opts *opts,
                            bool json);

/*
 * Hands the string to the caller (free with ctrace_free()) and empties the
 * buffer. Returns NULL if any append failed; the partial string is freed.
 */
char *ctrace__sbuf_take(struct ctrace__sbuf *b);
/* Frees what the buffer holds. */
void ctrace__sbuf_free(struct ctrace__sbuf *b);

/*
 * Compares two values in Erlang's term order, extended to C values:
 * numbers < atoms (symbols, booleans as `true`/`false`, null as `null`)
 * < pointers < tuples < lists < strings and bytes.
 * Numbers compare by value across kinds (1 == 1.0) unless `exact` is true,
 * in which case an integer and a double are never equal (Erlang's =:=), and
 * the integer sorts first. Strings and bytes compare as byte sequences and
 * are equal when their bytes are equal, whichever of the two kinds each is.
 * Tuples compare by size first, then element by element; lists element by
 * element. Returns <0, 0 or >0.
 * Thread-safety: any thread.
 */
int ctrace__value_cmp(const struct ctrace_value *a,
                      const struct ctrace_value *b,
                      bool exact);

/* Whether `s` of `len` bytes is valid UTF-8 (no overlongs, no surrogates). */
bool ctrace__utf8_valid(const char *s, size_t len);

/* ---- Synchronisation plumbing (sync.c). ---- */

/*
 * Initialises `c` so that its timed waits run on CLOCK_MONOTONIC: a step of
 * the wall clock must not make a wait last an hour or end early. Every
 * condition variable of the library that is waited on with a timeout is
 * made here. Thread-safety: as pthread_cond_init().
 */
void ctrace__cond_init_monotonic(pthread_cond_t *c);

/*
 * fork(). Each part of the library that keeps locks registers what it does
 * around fork() here, under its place in the lock order
 * (docs/architecture.md, "Locks and their order"); one pthread_atfork
 * handler, installed on the first registration, runs the parts' prepare
 * steps in that order (taking their locks), and their parent and child
 * steps in the reverse order. A part registers once; a second registration
 * of the same rank replaces the first.
 */
enum ctrace__fork_rank {
    CTRACE__FORK_SESSIONS = 0, /* engine lock, then registry lock */
    CTRACE__FORK_SERVERS,      /* server list lock */
    CTRACE__FORK_PROCS,        /* process table lock (threads' names after) */
    CTRACE__FORK_RANKS
};

struct ctrace__fork_steps {
    void (*prepare)(void); /* in the parent, before fork: take the locks */
    void (*parent)(void);  /* in the parent, after: release them */
    void (*child)(void);   /* in the child: reset state, re-init the locks */
};

/*
 * Registers `steps` (static storage; any member may be NULL) for `rank`.
 * Thread-safety: any thread; not from a fork handler.
 */
void ctrace__fork_register(enum ctrace__fork_rank rank,
                           const struct ctrace__fork_steps *steps);

#endif /* CTRACE_INTERNAL_H */
