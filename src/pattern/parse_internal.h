/* SPDX-License-Identifier: MIT */
/*
 * Private to the pattern parser (lex.c, parse.c, spec.c, json.c): the arena
 * every spec lives in, and the tokens the lexer hands to the parser.
 *
 * Thread-safety: everything here works on the caller's own lexer, arena and
 * spec, so it is reentrant; the fault-injection counter is per thread.
 */
#ifndef CTRACE_PATTERN_PARSE_INTERNAL_H
#define CTRACE_PATTERN_PARSE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pattern/pattern.h"

/*
 * Returns a new, empty arena, or NULL when memory runs out. Free it with
 * ctrace__arena_free(), which frees everything allocated from it.
 */
struct ctrace__arena *ctrace__arena_new(void);

/*
 * Returns `size` zeroed bytes aligned for any type, valid until the arena is
 * freed, or NULL when memory runs out. A size of 0 still gives a distinct,
 * non-NULL pointer.
 */
void *ctrace__arena_alloc(struct ctrace__arena *arena, size_t size);

/*
 * Copies `len` bytes of `s` (which may hold NUL bytes) into the arena and
 * adds a NUL. Returns NULL when memory runs out.
 */
char *
ctrace__arena_strndup(struct ctrace__arena *arena, const char *s, size_t len);

/* Frees the arena and all its allocations. NULL is a no-op. */
void ctrace__arena_free(struct ctrace__arena *arena);

/*
 * Fault injection for tests: when non-zero, counts arena allocations from
 * the system on this thread down, and the one that brings it to zero fails
 * as if memory had run out. Zero (the default) never fails.
 */
extern _Thread_local unsigned long ctrace__arena_fail_countdown;

enum ctrace__tok_kind {
    CTRACE__TOK_END = 0,
    CTRACE__TOK_ATOM,   /* unquoted atom; in name mode it may hold `*` */
    CTRACE__TOK_QATOM,  /* quoted atom, escapes decoded */
    CTRACE__TOK_VAR,    /* a variable, or `_` */
    CTRACE__TOK_INT,    /* an integer without sign, or a $c character */
    CTRACE__TOK_FLOAT,  /* a float without sign */
    CTRACE__TOK_STRING, /* "...", escapes decoded */
    CTRACE__TOK_LPAREN,
    CTRACE__TOK_RPAREN,
    CTRACE__TOK_LBRACE,
    CTRACE__TOK_RBRACE,
    CTRACE__TOK_LBRACKET,
    CTRACE__TOK_RBRACKET,
    CTRACE__TOK_LBIN, /* << */
    CTRACE__TOK_RBIN, /* >> */
    CTRACE__TOK_COMMA,
    CTRACE__TOK_SEMI,
    CTRACE__TOK_COLON,
    CTRACE__TOK_SLASH,
    CTRACE__TOK_BAR,
    CTRACE__TOK_ARROW,    /* -> */
    CTRACE__TOK_PLUSPLUS, /* ++ */
    CTRACE__TOK_MINUSMINUS,
    CTRACE__TOK_EQ_EQ,    /* == */
    CTRACE__TOK_SLASH_EQ, /* /= */
    CTRACE__TOK_EXACT_EQ, /* =:= */
    CTRACE__TOK_EXACT_NE, /* =/= */
    CTRACE__TOK_LT,
    CTRACE__TOK_GT,
    CTRACE__TOK_EQ_LT, /* =< */
    CTRACE__TOK_GT_EQ, /* >= */
    CTRACE__TOK_PLUS,
    CTRACE__TOK_MINUS,
    CTRACE__TOK_STAR,
    CTRACE__TOK_HASH,
    CTRACE__TOK_EQ, /* = (a match, never valid here) */
    /* Operators of other languages, lexed only to explain the mistake. */
    CTRACE__TOK_LT_EQ,   /* <= */
    CTRACE__TOK_BANG_EQ, /* != */
    CTRACE__TOK_AMP_AMP, /* && */
    CTRACE__TOK_BAR_BAR  /* || */
};

struct ctrace__token {
    enum ctrace__tok_kind kind;
    size_t pos; /* byte offset of the token's first byte */
    size_t len; /* bytes of source text */
    int column; /* 1-based column of the first byte, in code points */
    bool glob;  /* ATOM in name mode: the word holds `*` */
    uint64_t u; /* INT: the value */
    double d;   /* FLOAT: the value */
    /*
     * ATOM and VAR: the source text. QATOM and STRING: the decoded bytes,
     * NUL-terminated, in the arena.
     */
    const char *s;
    size_t slen;
};

struct ctrace__lexer {
    const char *src;
    size_t len;
    size_t pos;
    struct ctrace__arena *arena;
    struct ctrace_error *err;
    /*
     * The column of byte offset col_pos (col 0: not known yet), so that
     * token columns are counted once over the input, not once per token.
     */
    size_t col_pos;
    int col;
};

/*
 * Reads the next token into `tok`. In `name_mode` (module and function
 * names) a word that starts with a lowercase letter or `*` may contain `*`
 * and is an ATOM with `glob` set; elsewhere `*` is the operator. Returns 0,
 * or a negative code after filling the lexer's error.
 */
int ctrace__lex_next(struct ctrace__lexer *lx,
                     struct ctrace__token *tok,
                     bool name_mode);

/* The 1-based column, in code points, of byte offset `pos` of `src`. */
int ctrace__lex_column(const char *src, size_t pos);

/*
 * Writes `s` of `len` bytes into `buf` for an error message: in single
 * quotes when `quote` is set, cut after 20 characters or at a control
 * character with `...`, control characters shown as \xHH.
 */
void ctrace__lex_quote(const char *s,
                       size_t len,
                       bool quote,
                       char *buf,
                       size_t size);

/* Writes how `tok` reads in a message: `end of input` or its quoted text. */
void ctrace__lex_describe(const struct ctrace__lexer *lx,
                          const struct ctrace__token *tok,
                          char *buf,
                          size_t size);

/* Whether `s` of `len` bytes is the word `w`. */
bool ctrace__lex_is(const char *s, size_t len, const char *w);

#endif /* CTRACE_PATTERN_PARSE_INTERNAL_H */
