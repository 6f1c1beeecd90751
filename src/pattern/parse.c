/* SPDX-License-Identifier: MIT */
/*
 * The parser of the pattern language (docs/patterns.md): a recursive
 * descent over the lexer's tokens that builds a struct ctrace__spec in one
 * arena. One concept, and so one file although it is long: the grammar
 * (specs, patterns, guards with Erlang's operator precedence, actions) and
 * the one error message per way each rule can fail.
 *
 * Every malformed spec gets one error, the first one found, which is also
 * the leftmost: the parser stops at the first problem, and the few checks
 * that look ahead (a guard function's name before its arguments) are made
 * so that a later problem cannot hide an earlier one.
 *
 * Recursion is bounded: every nested pattern, parenthesis, unary operator
 * and guard call counts against CTRACE__SPEC_MAX_DEPTH, and so does the
 * height of the guard tree that chains of binary operators build without
 * recursing, because the matcher and the JSON printer walk that tree
 * recursively (on traced threads, for the matcher).
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "pattern/parse_internal.h"

#define MAX_DEPTH CTRACE__SPEC_MAX_DEPTH
#define MAX_ARITY 255

struct parser {
    struct ctrace__lexer lx;
    struct ctrace__token tok; /* the current token */
    size_t prev_end;          /* where the token before it ended */
    struct ctrace__spec *spec;
    struct ctrace__arena *arena;
    struct ctrace_error *err;
    int depth;
    bool in_guard;
};

/* Growable arrays in the arena: patterns, bytes, and guard operands. */
struct pat_vec {
    struct ctrace__pat *items;
    size_t len;
    size_t cap;
};

struct byte_vec {
    char *ptr;
    size_t len;
    size_t cap;
};

struct operand {
    struct ctrace__expr *expr;
    int height;
    /* The operator before this operand (not for the first). */
    size_t op_pos;
    int op_column;
};

struct operand_vec {
    struct operand *items;
    size_t len;
    size_t cap;
};

static int fail_at(struct parser *p, int code, size_t pos, const char *fmt, ...)
    CTRACE__PRINTF(4, 5);

static int fail_at(struct parser *p, int code, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctrace__error_setv(
        p->err, code, ctrace__lex_column(p->lx.src, pos), pos, fmt, ap);
    va_end(ap);
    return code;
}

static int no_memory(struct parser *p)
{
    return ctrace__error_set(p->err, CTRACE_ENOMEM, 0, 0, "out of memory");
}

static void *alloc(struct parser *p, size_t size)
{
    void *ptr = ctrace__arena_alloc(p->arena, size);
    if (ptr == NULL)
        no_memory(p);
    return ptr;
}

static int advance(struct parser *p, bool name_mode)
{
    p->prev_end = p->tok.pos + p->tok.len;
    return ctrace__lex_next(&p->lx, &p->tok, name_mode);
}

/*
 * Reads the token after the current one without moving. A token that does
 * not lex reads as the end of input and leaves the error alone: the parser
 * lexes it again when it gets there, unless it finds an earlier problem
 * first, so the error reported is always the leftmost one.
 */
static void peek(struct parser *p, struct ctrace__token *next)
{
    size_t saved = p->lx.pos;
    struct ctrace_error *real = p->lx.err;
    struct ctrace_error quiet = {0};
    p->lx.err = &quiet;
    if (ctrace__lex_next(&p->lx, next, false) != 0) {
        memset(next, 0, sizeof(*next));
        next->kind = CTRACE__TOK_END;
        next->pos = saved;
    }
    p->lx.err = real;
    p->lx.pos = saved;
}

static int expected(struct parser *p, const char *what)
{
    char got[96];
    ctrace__lex_describe(&p->lx, &p->tok, got, sizeof(got));
    return fail_at(
        p, CTRACE_ESYNTAX, p->tok.pos, "expected %s, got %s", what, got);
}

/* The source text from `start` to the end of the previous token, quoted. */
static void quote_span(const struct parser *p,
                       size_t start,
                       size_t end,
                       bool quote,
                       char *buf,
                       size_t size)
{
    ctrace__lex_quote(p->lx.src + start, end - start, quote, buf, size);
}

static bool is_atom(const struct ctrace__token *t, const char *w)
{
    return t->kind == CTRACE__TOK_ATOM && ctrace__lex_is(t->s, t->slen, w);
}

static bool is_any(const struct ctrace__token *t)
{
    return (t->kind == CTRACE__TOK_VAR || t->kind == CTRACE__TOK_QATOM) &&
           t->slen == 1 && t->s[0] == '_';
}

static int enter(struct parser *p)
{
    if (p->depth >= MAX_DEPTH) {
        return fail_at(p,
                       CTRACE_ETOODEEP,
                       p->tok.pos,
                       "nesting deeper than %d levels",
                       MAX_DEPTH);
    }
    p->depth++;
    return 0;
}

static void leave(struct parser *p)
{
    p->depth--;
}

/*
 * Makes room for one more element in an arena-backed array (`*items`,
 * `*cap` elements of `size` bytes, `len` in use), doubling from `first`.
 * Arena memory is freed with the spec, so the old array is simply left.
 */
static int grow(struct parser *p,
                void **items,
                size_t *cap,
                size_t len,
                size_t size,
                size_t first)
{
    if (len < *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : first;
    void *bigger = alloc(p, n * size);
    if (bigger == NULL)
        return CTRACE_ENOMEM;
    if (len > 0)
        memcpy(bigger, *items, len * size);
    *items = bigger;
    *cap = n;
    return 0;
}

static int
pat_push(struct parser *p, struct pat_vec *v, const struct ctrace__pat *pat)
{
    void *items = v->items;
    int rc = grow(p, &items, &v->cap, v->len, sizeof(*v->items), 4);
    if (rc < 0)
        return rc;
    v->items = items;
    v->items[v->len++] = *pat;
    return 0;
}

static int
bytes_append(struct parser *p, struct byte_vec *b, const char *s, size_t n)
{
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 16;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *ptr = alloc(p, cap);
        if (ptr == NULL)
            return CTRACE_ENOMEM;
        if (b->len > 0)
            memcpy(ptr, b->ptr, b->len);
        b->ptr = ptr;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->ptr + b->len, s, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

static int
operand_push(struct parser *p, struct operand_vec *v, const struct operand *o)
{
    void *items = v->items;
    int rc = grow(p, &items, &v->cap, v->len, sizeof(*v->items), 8);
    if (rc < 0)
        return rc;
    v->items = items;
    v->items[v->len++] = *o;
    return 0;
}

/* ---- variables ---------------------------------------------------------- */

static int find_var(const struct ctrace__spec *spec,
                    const struct ctrace__token *t,
                    unsigned *index)
{
    for (unsigned i = 0; i < spec->nvars; i++) {
        if (ctrace__lex_is(t->s, t->slen, spec->vars[i])) {
            *index = i;
            return 1;
        }
    }
    return 0;
}

/* Binds the variable of token `t` in an argument pattern. */
static int
bind_var(struct parser *p, const struct ctrace__token *t, unsigned *index)
{
    struct ctrace__spec *spec = p->spec;
    if (find_var(spec, t, index))
        return 0;
    if (spec->nvars == CTRACE__SPEC_MAX_VARS) {
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       t->pos,
                       "too many variables; a spec can bind at most %d",
                       CTRACE__SPEC_MAX_VARS);
    }
    char *name = ctrace__arena_strndup(p->arena, t->s, t->slen);
    if (name == NULL)
        return no_memory(p);
    *index = spec->nvars;
    spec->vars[spec->nvars++] = name;
    return 0;
}

/* Finds the variable of token `t` in a guard: the arguments must bind it. */
static int
guard_var(struct parser *p, const struct ctrace__token *t, unsigned *index)
{
    if (find_var(p->spec, t, index))
        return 0;
    char name[96];
    ctrace__lex_quote(t->s, t->slen, false, name, sizeof(name));
    return fail_at(p, CTRACE_EUNBOUND, t->pos, "unbound variable %s", name);
}

/* ---- argument patterns and guard terms ---------------------------------- */

static int parse_pat(struct parser *p, struct ctrace__pat *out);

static const char *const reserved_words[] = {
    "after", "and",     "andalso", "band", "begin", "bnot", "bor",
    "bsl",   "bsr",     "bxor",    "case", "catch", "cond", "div",
    "end",   "if",      "let",     "not",  "of",    "or",   "orelse",
    "query", "receive", "rem",     "try",  "when",  "xor",
};

static bool is_reserved(const struct ctrace__token *t)
{
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(reserved_words); i++) {
        if (is_atom(t, reserved_words[i]))
            return true;
    }
    return false;
}

static int unsupported(struct parser *p, size_t pos, const char *what)
{
    return fail_at(p, CTRACE_EUNSUPPORTED, pos, "%s", what);
}

static const char msg_maps[] =
    "maps have no meaning for C values; match a struct as a tuple";
static const char msg_records[] =
    "records have no meaning for C values; match a struct as a tuple";
static const char msg_pids[] =
    "pids, ports and references have no meaning for C values";
static const char msg_funs[] = "funs have no meaning for C values";
static const char msg_bits[] =
    "bit syntax has no meaning for C values; a binary holds bytes 0..255 "
    "and strings, and may end with _/binary";

/*
 * The current token is `#`, which only Erlang-only terms use: a map, a
 * record, or a printed pid, port or reference. `start` is where the term
 * began.
 */
static int hash_term(struct parser *p, size_t start)
{
    struct ctrace__token next;
    peek(p, &next);
    if (next.kind == CTRACE__TOK_LBRACE)
        return unsupported(p, start, msg_maps);
    if (next.kind == CTRACE__TOK_VAR &&
        (ctrace__lex_is(next.s, next.slen, "Ref") ||
         ctrace__lex_is(next.s, next.slen, "Port") ||
         ctrace__lex_is(next.s, next.slen, "Pid")))
        return unsupported(p, start, msg_pids);
    if (next.kind == CTRACE__TOK_VAR &&
        ctrace__lex_is(next.s, next.slen, "Fun"))
        return unsupported(p, start, msg_funs);
    return unsupported(p, start, msg_records);
}

/* Adjacent strings concatenate, as in Erlang: "ab" "cd" is "abcd". */
static int read_strings(struct parser *p, struct byte_vec *acc)
{
    while (p->tok.kind == CTRACE__TOK_STRING) {
        int rc = bytes_append(p, acc, p->tok.s, p->tok.slen);
        if (rc == 0)
            rc = advance(p, false);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void set_string(struct ctrace__pat *out, const struct byte_vec *b)
{
    out->kind = CTRACE__PAT_LIT;
    out->u.lit.kind = CTRACE_VALUE_STRING;
    out->u.lit.as.str.ptr = b->ptr != NULL ? b->ptr : "";
    out->u.lit.as.str.len = b->len;
}

/* `_`, `'_'` or a variable as the tail of `++` or of a binary. */
static int parse_tail(struct parser *p, struct ctrace__pat **tail)
{
    const struct ctrace__token *t = &p->tok;
    struct ctrace__pat *pat = alloc(p, sizeof(*pat));
    if (pat == NULL)
        return CTRACE_ENOMEM;
    pat->column = t->column;
    if (is_any(t)) {
        if (p->in_guard) {
            return fail_at(
                p, CTRACE_ESYNTAX, t->pos, "'_' cannot be used in a guard");
        }
        pat->kind = CTRACE__PAT_ANY;
    } else {
        int rc = p->in_guard ? guard_var(p, t, &pat->u.var)
                             : bind_var(p, t, &pat->u.var);
        if (rc != 0)
            return rc;
        pat->kind = CTRACE__PAT_VAR;
    }
    *tail = pat;
    return advance(p, false);
}

/*
 * A string literal, possibly the start of a prefix pattern: "ab"++T,
 * "ab"++_, or "ab"++"cd" (the literal "abcd").
 */
static int parse_string_pat(struct parser *p, struct ctrace__pat *out)
{
    struct byte_vec acc = {0};
    int rc = read_strings(p, &acc);
    if (rc != 0)
        return rc;
    while (p->tok.kind == CTRACE__TOK_PLUSPLUS && !p->in_guard) {
        rc = advance(p, false);
        if (rc != 0)
            return rc;
        if (p->tok.kind == CTRACE__TOK_STRING) {
            rc = read_strings(p, &acc);
            if (rc != 0)
                return rc;
            continue;
        }
        if (p->tok.kind != CTRACE__TOK_VAR && !is_any(&p->tok))
            return expected(p, "a string, a variable or '_' after '++'");
        size_t tail_pos = p->tok.pos;
        struct ctrace__pat *tail;
        rc = parse_tail(p, &tail);
        if (rc != 0)
            return rc;
        if (p->tok.kind == CTRACE__TOK_PLUSPLUS) {
            char q[96];
            quote_span(p, tail_pos, p->prev_end, true, q, sizeof(q));
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           tail_pos,
                           "the left side of '++' must be a string or a "
                           "proper list literal, got %s",
                           q);
        }
        if (acc.len == 0) {
            /* ""++T is T itself, as in Erlang. */
            int column = out->column;
            *out = *tail;
            out->column = column;
            return 0;
        }
        out->kind = CTRACE__PAT_PREFIX;
        out->u.prefix.ptr = acc.ptr;
        out->u.prefix.len = acc.len;
        out->u.prefix.tail = tail;
        return 0;
    }
    set_string(out, &acc);
    return 0;
}

/* An integer literal; `neg` when a minus sign came first at `start`. */
static int
set_int(struct parser *p, struct ctrace__pat *out, bool neg, size_t start)
{
    uint64_t u = p->tok.u;
    out->kind = CTRACE__PAT_LIT;
    if (!neg) {
        if (u <= INT64_MAX)
            out->u.lit = ctrace_value_int((int64_t)u);
        else
            out->u.lit = ctrace_value_uint(u);
        return 0;
    }
    if (u > (uint64_t)INT64_MAX + 1) {
        char q[96];
        quote_span(p, start, p->tok.pos + p->tok.len, false, q, sizeof(q));
        return fail_at(
            p, CTRACE_ESYNTAX, start, "integer %s does not fit in 64 bits", q);
    }
    out->u.lit = ctrace_value_int(u == (uint64_t)INT64_MAX + 1 ? INT64_MIN
                                                               : -(int64_t)u);
    return 0;
}

/* A number with a minus sign: -42, -0.5, -$a. */
static int parse_negative(struct parser *p, struct ctrace__pat *out)
{
    size_t start = p->tok.pos;
    int rc = advance(p, false);
    if (rc != 0)
        return rc;
    if (p->tok.kind == CTRACE__TOK_INT) {
        rc = set_int(p, out, true, start);
    } else if (p->tok.kind == CTRACE__TOK_FLOAT) {
        out->kind = CTRACE__PAT_LIT;
        out->u.lit = ctrace_value_double(-p->tok.d);
    } else {
        return expected(p, "a number after '-'");
    }
    if (rc != 0)
        return rc;
    return advance(p, false);
}

/* What the parser says when a tuple or list does not continue. */
static int seq_expected(struct parser *p, const char *what)
{
    switch (p->tok.kind) {
    case CTRACE__TOK_LPAREN:
    case CTRACE__TOK_PLUS:
    case CTRACE__TOK_MINUS:
    case CTRACE__TOK_STAR:
    case CTRACE__TOK_SLASH:
    case CTRACE__TOK_EQ_EQ:
    case CTRACE__TOK_SLASH_EQ:
    case CTRACE__TOK_EXACT_EQ:
    case CTRACE__TOK_EXACT_NE:
    case CTRACE__TOK_LT:
    case CTRACE__TOK_GT:
    case CTRACE__TOK_EQ_LT:
    case CTRACE__TOK_GT_EQ:
        if (p->in_guard) {
            char got[96];
            ctrace__lex_describe(&p->lx, &p->tok, got, sizeof(got));
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           p->tok.pos,
                           "a tuple or list in a guard can hold only "
                           "variables and literals, got %s",
                           got);
        }
        break;
    default:
        break;
    }
    return expected(p, what);
}

static int parse_tuple(struct parser *p, struct ctrace__pat *out)
{
    int rc = enter(p);
    if (rc == 0)
        rc = advance(p, false);
    if (rc != 0)
        return rc;
    struct pat_vec v = {0};
    if (p->tok.kind != CTRACE__TOK_RBRACE) {
        for (;;) {
            struct ctrace__pat item;
            rc = parse_pat(p, &item);
            if (rc == 0)
                rc = pat_push(p, &v, &item);
            if (rc != 0)
                return rc;
            if (p->tok.kind == CTRACE__TOK_RBRACE)
                break;
            if (p->tok.kind != CTRACE__TOK_COMMA)
                return seq_expected(p, "',' or '}' in tuple");
            rc = advance(p, false);
            if (rc != 0)
                return rc;
        }
    }
    leave(p);
    out->kind = CTRACE__PAT_TUPLE;
    out->u.seq.items = v.items;
    out->u.seq.len = v.len;
    out->u.seq.tail = NULL;
    return advance(p, false);
}

static int parse_list(struct parser *p, struct ctrace__pat *out)
{
    int rc = enter(p);
    if (rc == 0)
        rc = advance(p, false);
    if (rc != 0)
        return rc;
    struct pat_vec v = {0};
    struct ctrace__pat *tail = NULL;
    if (p->tok.kind != CTRACE__TOK_RBRACKET) {
        for (;;) {
            struct ctrace__pat item;
            rc = parse_pat(p, &item);
            if (rc == 0)
                rc = pat_push(p, &v, &item);
            if (rc != 0)
                return rc;
            if (p->tok.kind == CTRACE__TOK_RBRACKET)
                break;
            if (p->tok.kind == CTRACE__TOK_BAR) {
                rc = advance(p, false);
                if (rc != 0)
                    return rc;
                tail = alloc(p, sizeof(*tail));
                if (tail == NULL)
                    return CTRACE_ENOMEM;
                rc = parse_pat(p, tail);
                if (rc != 0)
                    return rc;
                if (p->tok.kind != CTRACE__TOK_RBRACKET)
                    return seq_expected(p, "']' after the tail of a list");
                break;
            }
            if (p->tok.kind != CTRACE__TOK_COMMA)
                return seq_expected(p, "',', '|' or ']' in list");
            rc = advance(p, false);
            if (rc != 0)
                return rc;
        }
    }
    leave(p);
    /* [A|[B|T]] is [A,B|T]: one list, as Erlang sees it. */
    if (tail != NULL && tail->kind == CTRACE__PAT_LIST) {
        for (size_t i = 0; i < tail->u.seq.len; i++) {
            rc = pat_push(p, &v, &tail->u.seq.items[i]);
            if (rc != 0)
                return rc;
        }
        tail = tail->u.seq.tail;
    }
    out->kind = CTRACE__PAT_LIST;
    out->u.seq.items = v.items;
    out->u.seq.len = v.len;
    out->u.seq.tail = tail;
    return advance(p, false);
}

/* After `Var` or `_` in a binary: `/binary` or `/bytes`, then `>>`. */
static int parse_binary_tail(struct parser *p, struct ctrace__pat **tail)
{
    size_t start = p->tok.pos;
    if (p->in_guard) {
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       start,
                       "a guard cannot match part of a binary; use an "
                       "argument pattern such as <<\"ab\",_/binary>>");
    }
    int rc = parse_tail(p, tail);
    if (rc != 0)
        return rc;
    if (p->tok.kind != CTRACE__TOK_SLASH) {
        return unsupported(p,
                           start,
                           "a variable in a binary must be the final "
                           "Var/binary tail; other bit syntax has no meaning "
                           "for C values");
    }
    rc = advance(p, false);
    if (rc != 0)
        return rc;
    if (!is_atom(&p->tok, "binary") && !is_atom(&p->tok, "bytes"))
        return unsupported(p, p->tok.pos, msg_bits);
    rc = advance(p, false);
    if (rc != 0)
        return rc;
    if (p->tok.kind == CTRACE__TOK_MINUS || p->tok.kind == CTRACE__TOK_COLON)
        return unsupported(p, p->tok.pos, msg_bits);
    if (p->tok.kind == CTRACE__TOK_COMMA) {
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       start,
                       "the Var/binary tail must be the last segment of a "
                       "binary");
    }
    if (p->tok.kind != CTRACE__TOK_RBIN)
        return expected(p, "'>>' after the binary tail");
    return 0;
}

/*
 * <<>>, <<"abc">>, <<1,"abc",255>>, <<"Ti",_/binary>>: bytes and strings,
 * with an optional final tail.
 */
static int parse_binary(struct parser *p, struct ctrace__pat *out)
{
    int rc = enter(p);
    if (rc == 0)
        rc = advance(p, false);
    if (rc != 0)
        return rc;
    struct byte_vec acc = {0};
    bool all_strings = true;
    struct ctrace__pat *tail = NULL;
    while (p->tok.kind != CTRACE__TOK_RBIN) {
        const struct ctrace__token *t = &p->tok;
        if (t->kind == CTRACE__TOK_STRING) {
            rc = read_strings(p, &acc);
        } else if (t->kind == CTRACE__TOK_INT && t->u <= 255) {
            char byte = (char)t->u;
            all_strings = false;
            rc = bytes_append(p, &acc, &byte, 1);
            if (rc == 0)
                rc = advance(p, false);
        } else if (t->kind == CTRACE__TOK_INT || t->kind == CTRACE__TOK_MINUS) {
            size_t start = t->pos;
            if (t->kind == CTRACE__TOK_MINUS) {
                rc = advance(p, false);
                if (rc != 0)
                    return rc;
            }
            char q[96];
            quote_span(p, start, p->tok.pos + p->tok.len, true, q, sizeof(q));
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           start,
                           "a byte in a binary must be 0..255, got %s",
                           q);
        } else if (t->kind == CTRACE__TOK_VAR || is_any(t)) {
            rc = parse_binary_tail(p, &tail);
            if (rc != 0)
                return rc;
            break;
        } else {
            return expected(p,
                            "a byte (0..255), a string or a Var/binary tail "
                            "in binary");
        }
        if (rc != 0)
            return rc;
        if (p->tok.kind == CTRACE__TOK_COLON ||
            p->tok.kind == CTRACE__TOK_SLASH)
            return unsupported(p, p->tok.pos, msg_bits);
        if (p->tok.kind == CTRACE__TOK_RBIN)
            break;
        if (p->tok.kind != CTRACE__TOK_COMMA)
            return expected(p, "',' or '>>' in binary");
        rc = advance(p, false);
        if (rc != 0)
            return rc;
    }
    leave(p);
    if (tail != NULL) {
        out->kind = CTRACE__PAT_PREFIX;
        out->u.prefix.ptr = acc.ptr != NULL ? acc.ptr : "";
        out->u.prefix.len = acc.len;
        out->u.prefix.tail = tail;
    } else if (all_strings && acc.ptr != NULL) {
        set_string(out, &acc);
    } else {
        out->kind = CTRACE__PAT_LIT;
        out->u.lit =
            ctrace_value_bytes(acc.ptr != NULL ? acc.ptr : "", acc.len);
    }
    return advance(p, false);
}

/*
 * [P1, ..., Pn] ++ Rest, which Erlang reads as [P1, ..., Pn | Rest]. The
 * current token is `++`; `out` is the proper list on its left.
 */
static int parse_list_append(struct parser *p, struct ctrace__pat *out)
{
    int rc = enter(p);
    if (rc == 0)
        rc = advance(p, false);
    struct ctrace__pat *rhs = alloc(p, sizeof(*rhs));
    if (rc == 0 && rhs == NULL)
        rc = CTRACE_ENOMEM;
    if (rc == 0)
        rc = parse_pat(p, rhs);
    if (rc != 0)
        return rc;
    leave(p);
    if (out->u.seq.len == 0) {
        /* []++T is T itself. */
        int column = out->column;
        *out = *rhs;
        out->column = column;
        return 0;
    }
    if (rhs->kind != CTRACE__PAT_LIST) {
        out->u.seq.tail = rhs;
        return 0;
    }
    struct pat_vec v = {0};
    for (size_t i = 0; i < out->u.seq.len && rc == 0; i++)
        rc = pat_push(p, &v, &out->u.seq.items[i]);
    for (size_t i = 0; i < rhs->u.seq.len && rc == 0; i++)
        rc = pat_push(p, &v, &rhs->u.seq.items[i]);
    if (rc != 0)
        return rc;
    out->u.seq.items = v.items;
    out->u.seq.len = v.len;
    out->u.seq.tail = rhs->u.seq.tail;
    return 0;
}

/* An unquoted atom as a pattern or guard term. */
static int parse_atom(struct parser *p, struct ctrace__pat *out)
{
    const struct ctrace__token *t = &p->tok;
    if (is_atom(t, "fun"))
        return unsupported(p, t->pos, msg_funs);
    if (is_reserved(t)) {
        char q[96];
        ctrace__lex_quote(t->s, t->slen, true, q, sizeof(q));
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       t->pos,
                       "%s is a reserved word; write it in quotes to mean "
                       "the atom",
                       q);
    }
    struct ctrace__token next;
    peek(p, &next);
    if (next.kind == CTRACE__TOK_LPAREN && !p->in_guard) {
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       t->pos,
                       "an argument pattern cannot call a function; test "
                       "the argument in a guard after 'when'");
    }
    char *name = ctrace__arena_strndup(p->arena, t->s, t->slen);
    if (name == NULL)
        return no_memory(p);
    out->kind = CTRACE__PAT_LIT;
    out->u.lit.kind = CTRACE_VALUE_SYMBOL;
    out->u.lit.as.str.ptr = name;
    out->u.lit.as.str.len = t->slen;
    return advance(p, false);
}

/*
 * One argument pattern, or (with p->in_guard) one guard term: the same
 * grammar, except that a guard term has no `_` and no prefix, and its
 * variables must be bound by the arguments.
 */
static int parse_pat(struct parser *p, struct ctrace__pat *out)
{
    const struct ctrace__token *t = &p->tok;
    size_t start = t->pos;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    out->column = t->column;
    switch (t->kind) {
    case CTRACE__TOK_VAR:
    case CTRACE__TOK_QATOM:
        if (is_any(t)) {
            if (p->in_guard) {
                return fail_at(p,
                               CTRACE_ESYNTAX,
                               start,
                               "'_' cannot be used in a guard; name the "
                               "argument with a variable");
            }
            out->kind = CTRACE__PAT_ANY;
        } else if (t->kind == CTRACE__TOK_VAR) {
            out->kind = CTRACE__PAT_VAR;
            rc = p->in_guard ? guard_var(p, t, &out->u.var)
                             : bind_var(p, t, &out->u.var);
        } else {
            out->kind = CTRACE__PAT_LIT;
            out->u.lit.kind = CTRACE_VALUE_SYMBOL;
            out->u.lit.as.str.ptr = t->s;
            out->u.lit.as.str.len = t->slen;
        }
        if (rc == 0)
            rc = advance(p, false);
        break;
    case CTRACE__TOK_ATOM:
        rc = parse_atom(p, out);
        break;
    case CTRACE__TOK_INT:
        rc = set_int(p, out, false, start);
        if (rc == 0)
            rc = advance(p, false);
        break;
    case CTRACE__TOK_FLOAT:
        out->kind = CTRACE__PAT_LIT;
        out->u.lit = ctrace_value_double(t->d);
        rc = advance(p, false);
        break;
    case CTRACE__TOK_MINUS:
        rc = parse_negative(p, out);
        break;
    case CTRACE__TOK_STRING:
        rc = parse_string_pat(p, out);
        break;
    case CTRACE__TOK_LBRACE:
        rc = parse_tuple(p, out);
        break;
    case CTRACE__TOK_LBRACKET:
        rc = parse_list(p, out);
        break;
    case CTRACE__TOK_LBIN:
        rc = parse_binary(p, out);
        break;
    case CTRACE__TOK_HASH:
        return hash_term(p, start);
    case CTRACE__TOK_LT:
        return unsupported(p, start, msg_pids);
    default:
        return expected(p, p->in_guard ? "a guard expression" : "a pattern");
    }
    if (rc != 0)
        return rc;
    if (p->tok.kind == CTRACE__TOK_HASH)
        return hash_term(p, start);
    if (p->tok.kind == CTRACE__TOK_PLUSPLUS) {
        if (p->in_guard) {
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           p->tok.pos,
                           "'++' is not supported in guards");
        }
        if (out->kind == CTRACE__PAT_LIST && out->u.seq.tail == NULL)
            return parse_list_append(p, out);
        char q[96];
        quote_span(p, start, p->prev_end, true, q, sizeof(q));
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       start,
                       "the left side of '++' must be a string or a proper "
                       "list literal, got %s",
                       q);
    }
    return 0;
}

/* ---- guards ------------------------------------------------------------- */

/* Binding levels, loosest first, as in Erlang's operator table. */
enum level {
    LV_SEQ,     /* ;  (orelse) */
    LV_CONJ,    /* ,  (andalso) */
    LV_ORELSE,  /* orelse */
    LV_ANDALSO, /* andalso */
    LV_COMP,    /* == /= =:= =/= < > =< >=, not associative */
    LV_ADD,     /* + - or xor */
    LV_MUL,     /* * div rem and */
    LV_UNARY    /* not, unary - */
};

static bool
binary_op(const struct ctrace__token *t, enum level level, enum ctrace__op *op)
{
    static const struct {
        enum level level;
        enum ctrace__tok_kind kind;
        const char *word; /* for kind ATOM */
        enum ctrace__op op;
    } table[] = {
        {LV_SEQ, CTRACE__TOK_SEMI, NULL, CTRACE__OP_ORELSE},
        {LV_CONJ, CTRACE__TOK_COMMA, NULL, CTRACE__OP_ANDALSO},
        {LV_ORELSE, CTRACE__TOK_ATOM, "orelse", CTRACE__OP_ORELSE},
        {LV_ANDALSO, CTRACE__TOK_ATOM, "andalso", CTRACE__OP_ANDALSO},
        {LV_COMP, CTRACE__TOK_EQ_EQ, NULL, CTRACE__OP_EQ},
        {LV_COMP, CTRACE__TOK_SLASH_EQ, NULL, CTRACE__OP_NE},
        {LV_COMP, CTRACE__TOK_EXACT_EQ, NULL, CTRACE__OP_EXACT_EQ},
        {LV_COMP, CTRACE__TOK_EXACT_NE, NULL, CTRACE__OP_EXACT_NE},
        {LV_COMP, CTRACE__TOK_LT, NULL, CTRACE__OP_LT},
        {LV_COMP, CTRACE__TOK_GT, NULL, CTRACE__OP_GT},
        {LV_COMP, CTRACE__TOK_EQ_LT, NULL, CTRACE__OP_LE},
        {LV_COMP, CTRACE__TOK_GT_EQ, NULL, CTRACE__OP_GE},
        {LV_ADD, CTRACE__TOK_PLUS, NULL, CTRACE__OP_ADD},
        {LV_ADD, CTRACE__TOK_MINUS, NULL, CTRACE__OP_SUB},
        {LV_ADD, CTRACE__TOK_ATOM, "or", CTRACE__OP_OR},
        {LV_ADD, CTRACE__TOK_ATOM, "xor", CTRACE__OP_XOR},
        {LV_MUL, CTRACE__TOK_STAR, NULL, CTRACE__OP_MUL},
        {LV_MUL, CTRACE__TOK_ATOM, "div", CTRACE__OP_DIV},
        {LV_MUL, CTRACE__TOK_ATOM, "rem", CTRACE__OP_REM},
        {LV_MUL, CTRACE__TOK_ATOM, "and", CTRACE__OP_AND},
    };
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(table); i++) {
        if (table[i].level != level || table[i].kind != t->kind)
            continue;
        if (table[i].word != NULL && !is_atom(t, table[i].word))
            continue;
        *op = table[i].op;
        return true;
    }
    return false;
}

/*
 * What the parser says when a guard does not continue as `what`: operators
 * of other languages and the ones guards lack get their own sentence.
 */
static int guard_expected(struct parser *p, const char *what)
{
    static const struct {
        enum ctrace__tok_kind kind;
        const char *text;
    } mistakes[] = {
        {CTRACE__TOK_EQ, "'=' is a match, not a comparison; use '==' or '=:='"},
        {CTRACE__TOK_LT_EQ,
         "'<=' is not an Erlang operator; use '=<' for less than or equal"},
        {CTRACE__TOK_BANG_EQ,
         "'!=' is not an Erlang operator; use '/=' or "
         "'=/='"},
        {CTRACE__TOK_AMP_AMP, "'&&' is not an Erlang operator; use andalso"},
        {CTRACE__TOK_BAR_BAR, "'||' is not an Erlang operator; use orelse"},
        {CTRACE__TOK_SLASH,
         "'/' (float division) is not supported in guards; use div"},
        {CTRACE__TOK_PLUSPLUS, "'++' is not supported in guards"},
        {CTRACE__TOK_MINUSMINUS, "'--' is not supported in guards"},
    };
    static const char *const bitwise[] = {
        "band", "bor", "bxor", "bsl", "bsr", "bnot"};
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(mistakes); i++) {
        if (p->tok.kind == mistakes[i].kind)
            return fail_at(
                p, CTRACE_ESYNTAX, p->tok.pos, "%s", mistakes[i].text);
    }
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(bitwise); i++) {
        if (is_atom(&p->tok, bitwise[i])) {
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           p->tok.pos,
                           "bitwise operator '%s' is not supported in guards",
                           bitwise[i]);
        }
    }
    return expected(p, what);
}

static struct ctrace__expr *
new_expr(struct parser *p, enum ctrace__expr_kind kind, int column)
{
    struct ctrace__expr *e = alloc(p, sizeof(*e));
    if (e != NULL) {
        e->kind = kind;
        e->column = column;
    }
    return e;
}

static struct ctrace__expr *new_op(struct parser *p,
                                   enum ctrace__op op,
                                   struct ctrace__expr *lhs,
                                   struct ctrace__expr *rhs,
                                   int column)
{
    struct ctrace__expr *e = new_expr(p, CTRACE__EXPR_OP, column);
    if (e != NULL) {
        e->u.op.op = op;
        e->u.op.lhs = lhs;
        e->u.op.rhs = rhs;
    }
    return e;
}

static int too_deep(struct parser *p, size_t pos)
{
    return fail_at(
        p, CTRACE_ETOODEEP, pos, "nesting deeper than %d levels", MAX_DEPTH);
}

static int parse_level(struct parser *p,
                       enum level level,
                       struct ctrace__expr **out,
                       int *height);

/*
 * A guard function call: is_integer(X), element(1, T), erlang:hd(L). The
 * name is checked before the arguments so that an unknown function is
 * reported even when its arguments would not parse either.
 */
static int parse_call(struct parser *p, struct ctrace__expr **out, int *height)
{
    size_t start = p->tok.pos;
    int start_column = p->tok.column;
    struct ctrace__token module = {0};
    struct ctrace__token next;
    int rc = 0;
    peek(p, &next);
    bool remote = next.kind == CTRACE__TOK_COLON;
    if (remote) {
        module = p->tok;
        rc = advance(p, false);
        if (rc == 0)
            rc = advance(p, false);
        if (rc != 0)
            return rc;
        if (p->tok.kind != CTRACE__TOK_ATOM)
            return expected(p, "a guard function name after ':'");
        peek(p, &next);
        if (next.kind != CTRACE__TOK_LPAREN) {
            rc = advance(p, false);
            return rc != 0 ? rc
                           : expected(p, "'(' after a guard function name");
        }
    }
    struct ctrace__token name = p->tok;
    /* Only the erlang module's guard BIFs exist, with or without erlang:. */
    bool known = false;
    for (size_t i = 0; i < CTRACE__GF_COUNT__; i++) {
        if (ctrace__lex_is(name.s, name.slen, ctrace__gfun_table[i].name))
            known = !remote || is_atom(&module, "erlang");
    }
    char fname[96];
    quote_span(p, start, name.pos + name.len, false, fname, sizeof(fname));
    /*
     * An unknown name is the leftmost error; its arguments are parsed only
     * to count them, with their own errors kept aside.
     */
    struct ctrace_error aside = {0};
    struct ctrace_error *real = p->err;
    if (!known) {
        p->err = &aside;
        p->lx.err = &aside;
    }
    struct ctrace__expr *e = new_expr(p, CTRACE__EXPR_CALL, start_column);
    rc = e == NULL ? CTRACE_ENOMEM : enter(p);
    if (rc == 0)
        rc = advance(p, false); /* to ( */
    if (rc == 0)
        rc = advance(p, false);
    unsigned nargs = 0;
    int max_height = 0;
    if (rc == 0 && p->tok.kind != CTRACE__TOK_RPAREN) {
        for (;;) {
            struct ctrace__expr *arg;
            int h;
            rc = parse_level(p, LV_ORELSE, &arg, &h);
            if (rc != 0)
                break;
            if (nargs < 3)
                e->u.call.args[nargs] = arg;
            nargs++;
            if (h > max_height)
                max_height = h;
            if (p->tok.kind == CTRACE__TOK_RPAREN)
                break;
            if (p->tok.kind != CTRACE__TOK_COMMA) {
                rc = guard_expected(p,
                                    "',' or ')' after a guard function "
                                    "argument");
                break;
            }
            rc = advance(p, false);
            if (rc != 0)
                break;
        }
    }
    p->err = real;
    p->lx.err = real;
    if (!known) {
        if (aside.code == CTRACE_ENOMEM)
            return no_memory(p);
        if (rc != 0) {
            return fail_at(
                p, CTRACE_ENOFUNC, start, "unknown guard function %s", fname);
        }
        return fail_at(p,
                       CTRACE_ENOFUNC,
                       start,
                       "unknown guard function %s/%u",
                       fname,
                       nargs);
    }
    if (rc != 0)
        return rc;
    leave(p);
    size_t fn = 0;
    bool found = false;
    for (size_t i = 0; i < CTRACE__GF_COUNT__ && !found; i++) {
        if (ctrace__lex_is(name.s, name.slen, ctrace__gfun_table[i].name) &&
            ctrace__gfun_table[i].arity == nargs) {
            fn = i;
            found = true;
        }
    }
    if (!found) {
        unsigned arity = 0;
        for (size_t i = 0; i < CTRACE__GF_COUNT__; i++) {
            if (ctrace__lex_is(name.s, name.slen, ctrace__gfun_table[i].name))
                arity = ctrace__gfun_table[i].arity;
        }
        return fail_at(p,
                       CTRACE_ENOFUNC,
                       start,
                       "unknown guard function %s/%u; %s takes %u "
                       "argument%s",
                       fname,
                       nargs,
                       fname,
                       arity,
                       arity == 1 ? "" : "s");
    }
    e->u.call.fn = (enum ctrace__gfun)fn;
    e->u.call.nargs = nargs;
    *height = max_height + 1;
    if (*height > MAX_DEPTH)
        return too_deep(p, start);
    *out = e;
    return advance(p, false);
}

/* A parenthesised guard, a guard call, or a term. */
static int
parse_primary(struct parser *p, struct ctrace__expr **out, int *height)
{
    int rc;
    switch (p->tok.kind) {
    case CTRACE__TOK_LPAREN:
        rc = enter(p);
        if (rc == 0)
            rc = advance(p, false);
        if (rc == 0)
            rc = parse_level(p, LV_SEQ, out, height);
        if (rc != 0)
            return rc;
        if (p->tok.kind != CTRACE__TOK_RPAREN)
            return guard_expected(p, "an operator or ')'");
        leave(p);
        return advance(p, false);
    case CTRACE__TOK_ATOM: {
        struct ctrace__token next;
        peek(p, &next);
        if (next.kind == CTRACE__TOK_LPAREN || next.kind == CTRACE__TOK_COLON)
            return parse_call(p, out, height);
        break;
    }
    case CTRACE__TOK_VAR:
    case CTRACE__TOK_QATOM:
    case CTRACE__TOK_INT:
    case CTRACE__TOK_FLOAT:
    case CTRACE__TOK_STRING:
    case CTRACE__TOK_LBRACE:
    case CTRACE__TOK_LBRACKET:
    case CTRACE__TOK_LBIN:
    case CTRACE__TOK_MINUS:
    case CTRACE__TOK_HASH:
    case CTRACE__TOK_LT:
        break;
    default:
        return expected(p, "a guard expression");
    }
    struct ctrace__expr *e = new_expr(p, CTRACE__EXPR_TERM, p->tok.column);
    struct ctrace__pat *term = alloc(p, sizeof(*term));
    if (e == NULL || term == NULL)
        return CTRACE_ENOMEM;
    rc = parse_pat(p, term);
    if (rc != 0)
        return rc;
    e->u.term = term;
    *out = e;
    *height = 1;
    return 0;
}

static int parse_unary(struct parser *p, struct ctrace__expr **out, int *height)
{
    enum ctrace__op op;
    if (is_atom(&p->tok, "not")) {
        op = CTRACE__OP_NOT;
    } else if (p->tok.kind == CTRACE__TOK_MINUS) {
        struct ctrace__token next;
        peek(p, &next);
        /* -1 and -1.5 are literals, as in patterns. */
        if (next.kind == CTRACE__TOK_INT || next.kind == CTRACE__TOK_FLOAT)
            return parse_primary(p, out, height);
        op = CTRACE__OP_NEG;
    } else if (is_atom(&p->tok, "bnot")) {
        return guard_expected(p, "a guard expression");
    } else {
        return parse_primary(p, out, height);
    }
    size_t pos = p->tok.pos;
    int column = p->tok.column;
    int rc = enter(p);
    if (rc == 0)
        rc = advance(p, false);
    struct ctrace__expr *arg;
    int h;
    if (rc == 0)
        rc = parse_unary(p, &arg, &h);
    if (rc != 0)
        return rc;
    leave(p);
    *out = new_op(p, op, arg, NULL, column);
    if (*out == NULL)
        return CTRACE_ENOMEM;
    *height = h + 1;
    if (*height > MAX_DEPTH)
        return too_deep(p, pos);
    return 0;
}

/*
 * Builds the tree of one boolean chain, A op B op C ...: left-leaning as
 * Erlang writes it, or balanced when a long chain (a guard listing many
 * alternatives) would otherwise be too deep. Both mean the same: these
 * operators are associative, and the order of evaluation stays left to
 * right either way.
 */
static struct ctrace__expr *build_chain(struct parser *p,
                                        enum ctrace__op op,
                                        const struct operand *items,
                                        size_t lo,
                                        size_t hi,
                                        bool balanced,
                                        int *height)
{
    if (hi - lo == 1) {
        *height = items[lo].height;
        return items[lo].expr;
    }
    size_t mid = balanced ? lo + (hi - lo) / 2 : hi - 1;
    int hl, hr;
    struct ctrace__expr *lhs =
        build_chain(p, op, items, lo, mid, balanced, &hl);
    struct ctrace__expr *rhs =
        build_chain(p, op, items, mid, hi, balanced, &hr);
    *height = (hl > hr ? hl : hr) + 1;
    if (lhs == NULL || rhs == NULL)
        return NULL;
    return new_op(p, op, lhs, rhs, items[mid].op_column);
}

static int parse_level(struct parser *p,
                       enum level level,
                       struct ctrace__expr **out,
                       int *height)
{
    if (level == LV_UNARY)
        return parse_unary(p, out, height);
    enum level next = (enum level)(level + 1);
    struct ctrace__expr *lhs;
    int hl;
    int rc = parse_level(p, next, &lhs, &hl);
    if (rc != 0)
        return rc;
    enum ctrace__op op;
    if (level == LV_COMP) {
        if (!binary_op(&p->tok, level, &op)) {
            *out = lhs;
            *height = hl;
            return 0;
        }
        size_t pos = p->tok.pos;
        int column = p->tok.column;
        struct ctrace__expr *rhs;
        int hr;
        rc = advance(p, false);
        if (rc == 0)
            rc = parse_level(p, next, &rhs, &hr);
        if (rc != 0)
            return rc;
        enum ctrace__op op2;
        if (binary_op(&p->tok, level, &op2)) {
            char q[16];
            ctrace__lex_describe(&p->lx, &p->tok, q, sizeof(q));
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           p->tok.pos,
                           "comparisons do not chain: add parentheses "
                           "before %s (note that 'and' and 'or' bind tighter "
                           "than comparisons; andalso and orelse do not)",
                           q);
        }
        *out = new_op(p, op, lhs, rhs, column);
        *height = (hl > hr ? hl : hr) + 1;
        if (*out == NULL)
            return CTRACE_ENOMEM;
        return *height > MAX_DEPTH ? too_deep(p, pos) : 0;
    }
    if (level >= LV_ADD) {
        /* Arithmetic, `and`, `or` and `xor`: left-associative. */
        while (binary_op(&p->tok, level, &op)) {
            size_t pos = p->tok.pos;
            int column = p->tok.column;
            struct ctrace__expr *rhs;
            int hr;
            rc = advance(p, false);
            if (rc == 0)
                rc = parse_level(p, next, &rhs, &hr);
            if (rc != 0)
                return rc;
            lhs = new_op(p, op, lhs, rhs, column);
            if (lhs == NULL)
                return CTRACE_ENOMEM;
            hl = (hl > hr ? hl : hr) + 1;
            if (hl > MAX_DEPTH)
                return too_deep(p, pos);
        }
        *out = lhs;
        *height = hl;
        return 0;
    }
    /* A boolean chain: ; , orelse andalso. */
    if (!binary_op(&p->tok, level, &op)) {
        *out = lhs;
        *height = hl;
        return 0;
    }
    struct operand_vec v = {0};
    struct operand first = {lhs, hl, 0, 0};
    rc = operand_push(p, &v, &first);
    if (rc != 0)
        return rc;
    int left_height = hl;
    while (binary_op(&p->tok, level, &op)) {
        struct operand o = {NULL, 0, p->tok.pos, p->tok.column};
        rc = advance(p, false);
        if (rc == 0)
            rc = parse_level(p, next, &o.expr, &o.height);
        if (rc == 0)
            rc = operand_push(p, &v, &o);
        if (rc != 0)
            return rc;
        left_height = (left_height > o.height ? left_height : o.height) + 1;
    }
    bool balanced = left_height > MAX_DEPTH;
    *out = build_chain(p, op, v.items, 0, v.len, balanced, height);
    if (*out == NULL)
        return CTRACE_ENOMEM;
    return *height > MAX_DEPTH ? too_deep(p, v.items[1].op_pos) : 0;
}

/* ---- the spec ----------------------------------------------------------- */

/*
 * `count(N, ...)` after `count`, the current token being `(`: the argument
 * positions to count by, 1-based, within the spec's arity when it has one.
 */
static int parse_count_by(struct parser *p)
{
    struct ctrace__spec *spec = p->spec;
    if (spec->ncount_by > 0)
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       p->tok.pos,
                       "count(...) is given twice; name every argument in "
                       "one, e.g. count(1, 2)");
    for (;;) {
        int rc = advance(p, false);
        if (rc != 0)
            return rc;
        const struct ctrace__token *t = &p->tok;
        if (t->kind != CTRACE__TOK_INT || t->u == 0 || t->u > 255)
            return expected(p,
                            "an argument position (1 for the first "
                            "argument) in count(...)");
        if (spec->arity >= 0 && t->u > (uint64_t)spec->arity)
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           t->pos,
                           "count(%llu): the function takes %d argument%s",
                           (unsigned long long)t->u,
                           spec->arity,
                           spec->arity == 1 ? "" : "s");
        if (spec->ncount_by == CTRACE__COUNT_MAX_ARGS)
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           t->pos,
                           "count(...) takes at most %d argument positions",
                           CTRACE__COUNT_MAX_ARGS);
        spec->count_by[spec->ncount_by++] = (unsigned)t->u;
        rc = advance(p, false);
        if (rc != 0)
            return rc;
        if (p->tok.kind == CTRACE__TOK_RPAREN)
            return advance(p, false);
        if (p->tok.kind != CTRACE__TOK_COMMA)
            return expected(p, "',' or ')' in count(...)");
    }
}

static int parse_actions(struct parser *p)
{
    static const struct {
        const char *name;
        enum ctrace__action action;
    } actions[] = {
        {"return", CTRACE__ACTION_RETURN},
        {"stack", CTRACE__ACTION_STACK},
        {"caller", CTRACE__ACTION_CALLER},
        {"dump", CTRACE__ACTION_DUMP},
        {"time", CTRACE__ACTION_TIME},
        {"count", CTRACE__ACTION_COUNT},
    };
    struct ctrace__spec *spec = p->spec;
    for (;;) {
        int rc = advance(p, false);
        if (rc != 0)
            return rc;
        const struct ctrace__token *t = &p->tok;
        if (t->kind != CTRACE__TOK_ATOM && t->kind != CTRACE__TOK_QATOM) {
            return expected(p,
                            "an action (return, stack, caller, dump, time "
                            "or count)");
        }
        size_t i = 0;
        while (i < CTRACE__ARRAY_SIZE(actions) &&
               !ctrace__lex_is(t->s, t->slen, actions[i].name))
            i++;
        if (i == CTRACE__ARRAY_SIZE(actions)) {
            char q[96];
            ctrace__lex_quote(t->s, t->slen, true, q, sizeof(q));
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           t->pos,
                           "unknown action %s; expected return, stack, "
                           "caller, dump, time or count",
                           q);
        }
        if (spec->nactions == CTRACE__SPEC_MAX_ACTIONS) {
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           t->pos,
                           "too many actions; a spec can have at most %d",
                           CTRACE__SPEC_MAX_ACTIONS);
        }
        spec->actions[spec->nactions++] = actions[i].action;
        spec->action_mask |= (unsigned)actions[i].action;
        rc = advance(p, false);
        if (rc != 0)
            return rc;
        if (actions[i].action == CTRACE__ACTION_COUNT &&
            p->tok.kind == CTRACE__TOK_LPAREN) {
            rc = parse_count_by(p);
            if (rc != 0)
                return rc;
        }
        if (p->tok.kind == CTRACE__TOK_END)
            return 0;
        if (p->tok.kind != CTRACE__TOK_COMMA && p->tok.kind != CTRACE__TOK_SEMI)
            return expected(p, "',', ';' or end of input after action");
    }
}

/* The end of a spec: nothing, or `-> actions`. */
static int parse_end(struct parser *p, const char *what)
{
    if (p->tok.kind == CTRACE__TOK_END)
        return 0;
    if (p->tok.kind == CTRACE__TOK_ARROW)
        return parse_actions(p);
    if (p->in_guard)
        return guard_expected(p, what);
    return expected(p, what);
}

static int parse_guard(struct parser *p)
{
    p->in_guard = true;
    int rc = advance(p, false);
    int height;
    if (rc == 0)
        rc = parse_level(p, LV_SEQ, &p->spec->guard, &height);
    if (rc != 0)
        return rc;
    return parse_end(p, "an operator, '->' or end of input after guard");
}

static int parse_args(struct parser *p)
{
    struct ctrace__spec *spec = p->spec;
    struct pat_vec v = {0};
    int rc = advance(p, false);
    if (rc != 0)
        return rc;
    if (p->tok.kind != CTRACE__TOK_RPAREN) {
        for (;;) {
            if (v.len == MAX_ARITY) {
                return fail_at(p,
                               CTRACE_ESYNTAX,
                               p->tok.pos,
                               "too many argument patterns; a function has "
                               "at most %d arguments",
                               MAX_ARITY);
            }
            struct ctrace__pat pat;
            rc = parse_pat(p, &pat);
            if (rc == 0)
                rc = pat_push(p, &v, &pat);
            if (rc != 0)
                return rc;
            if (p->tok.kind == CTRACE__TOK_RPAREN)
                break;
            if (p->tok.kind != CTRACE__TOK_COMMA)
                return expected(p, "')' or ',' after argument pattern");
            rc = advance(p, false);
            if (rc != 0)
                return rc;
        }
    }
    /* `()` gives an empty array, not NULL: it was written. */
    spec->args = v.items != NULL ? v.items : alloc(p, 0);
    if (spec->args == NULL)
        return CTRACE_ENOMEM;
    spec->nargs = v.len;
    spec->arity = (int)v.len;
    rc = advance(p, false);
    if (rc != 0)
        return rc;
    if (is_atom(&p->tok, "when"))
        return parse_guard(p);
    return parse_end(p, "'when', '->' or end of input after argument list");
}

/* `when` where no argument list precedes it. */
static int guard_without_args(struct parser *p,
                              const struct ctrace__token *mod,
                              const struct ctrace__token *fun)
{
    const char *src = p->lx.src;
    char m[96], f[96];
    ctrace__lex_quote(src + mod->pos, mod->len, false, m, sizeof(m));
    if (fun == NULL) {
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       p->tok.pos,
                       "a guard needs a function and an argument list, as "
                       "in %s:f(X) when ...",
                       m);
    }
    ctrace__lex_quote(src + fun->pos, fun->len, false, f, sizeof(f));
    int arity = p->spec->arity;
    if (arity < 0) {
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       p->tok.pos,
                       "a guard needs an argument list, as in %s:%s(X) "
                       "when ...",
                       m,
                       f);
    }
    if (arity > 8) {
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       p->tok.pos,
                       "a guard needs an argument list: write %s:%s with "
                       "%d argument patterns, then when ...",
                       m,
                       f,
                       arity);
    }
    char args[32] = "";
    for (int i = 0; i < arity; i++)
        strcat(args, i == 0 ? "_" : ",_");
    return fail_at(p,
                   CTRACE_ESYNTAX,
                   p->tok.pos,
                   "a guard needs an argument list: write %s:%s(%s) when "
                   "... instead of %s:%s/%d when ...",
                   m,
                   f,
                   args,
                   m,
                   f,
                   arity);
}

static int parse_arity(struct parser *p,
                       const struct ctrace__token *mod,
                       const struct ctrace__token *fun)
{
    int rc = advance(p, false);
    if (rc != 0)
        return rc;
    if (p->tok.kind == CTRACE__TOK_MINUS) {
        struct ctrace__token next;
        peek(p, &next);
        size_t end =
            next.kind == CTRACE__TOK_INT ? next.pos + next.len : p->tok.pos + 1;
        char q[96];
        quote_span(p, p->tok.pos, end, true, q, sizeof(q));
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       p->tok.pos,
                       "an arity must be 0..%d, got %s",
                       MAX_ARITY,
                       q);
    }
    if (p->tok.kind != CTRACE__TOK_INT)
        return expected(p, "an arity (0..255) after '/'");
    if (p->tok.u > MAX_ARITY) {
        char q[96];
        ctrace__lex_describe(&p->lx, &p->tok, q, sizeof(q));
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       p->tok.pos,
                       "an arity must be 0..%d, got %s",
                       MAX_ARITY,
                       q);
    }
    p->spec->arity = (int)p->tok.u;
    rc = advance(p, false);
    if (rc != 0)
        return rc;
    if (is_atom(&p->tok, "when"))
        return guard_without_args(p, mod, fun);
    return parse_end(p, "'->' or end of input after arity");
}

/* A module or function name: a word, a glob, a quoted atom or a wildcard. */
static int take_name(struct parser *p,
                     const struct ctrace__token *t,
                     const char *what,
                     const char **name,
                     bool *glob)
{
    *glob = false;
    if (t->kind == CTRACE__TOK_VAR ||
        (t->kind == CTRACE__TOK_QATOM && t->slen == 1 && t->s[0] == '_') ||
        (t->kind == CTRACE__TOK_ATOM && t->slen == 1 && t->s[0] == '*')) {
        *name = "*";
        return 0;
    }
    if (t->kind == CTRACE__TOK_QATOM && t->slen == 0) {
        return fail_at(
            p, CTRACE_ESYNTAX, t->pos, "a %s name cannot be empty", what);
    }
    if (t->kind == CTRACE__TOK_QATOM && t->slen == 1 && t->s[0] == '*') {
        return fail_at(p,
                       CTRACE_ESYNTAX,
                       t->pos,
                       "'*' in quotes is not a wildcard, and no %s is named "
                       "*; write * or _ for any %s",
                       what,
                       what);
    }
    char *copy = ctrace__arena_strndup(p->arena, t->s, t->slen);
    if (copy == NULL)
        return no_memory(p);
    *name = copy;
    *glob = t->kind == CTRACE__TOK_ATOM && t->glob;
    return 0;
}

static bool is_name(const struct ctrace__token *t)
{
    return t->kind == CTRACE__TOK_ATOM || t->kind == CTRACE__TOK_QATOM ||
           t->kind == CTRACE__TOK_VAR;
}

static int parse_spec(struct parser *p)
{
    struct ctrace__spec *spec = p->spec;
    spec->arity = -1;
    int rc = advance(p, true);
    if (rc != 0)
        return rc;
    if (!is_name(&p->tok))
        return expected(p, "a module name, send, receive or procs");
    struct ctrace__token mod = p->tok;
    enum ctrace__spec_kind kind = CTRACE__SPEC_CALL;
    const char *word = NULL;
    if ((mod.kind == CTRACE__TOK_ATOM && !mod.glob) ||
        mod.kind == CTRACE__TOK_QATOM) {
        static const struct {
            const char *word;
            enum ctrace__spec_kind kind;
        } events[] = {
            {"send", CTRACE__SPEC_SEND},
            {"receive", CTRACE__SPEC_RECEIVE},
            {"procs", CTRACE__SPEC_PROCS},
        };
        for (size_t i = 0; i < CTRACE__ARRAY_SIZE(events); i++) {
            if (ctrace__lex_is(mod.s, mod.slen, events[i].word)) {
                kind = events[i].kind;
                word = events[i].word;
            }
        }
    }
    rc = advance(p, false);
    if (rc != 0)
        return rc;
    if (kind != CTRACE__SPEC_CALL) {
        /* Alone, the word is a process-event spec; before `:`, a module. */
        if (p->tok.kind == CTRACE__TOK_END) {
            spec->kind = kind;
            return 0;
        }
        if (p->tok.kind == CTRACE__TOK_ARROW) {
            return fail_at(p,
                           CTRACE_ESYNTAX,
                           p->tok.pos,
                           "%s takes no actions; actions apply to function "
                           "calls only",
                           word);
        }
        if (p->tok.kind != CTRACE__TOK_COLON) {
            char what[64];
            snprintf(what, sizeof(what), "':' or end of input after %s", word);
            return expected(p, what);
        }
    }
    rc = take_name(p, &mod, "module", &spec->module, &spec->module_glob);
    if (rc != 0)
        return rc;
    if (p->tok.kind != CTRACE__TOK_COLON) {
        if (is_atom(&p->tok, "when"))
            return guard_without_args(p, &mod, NULL);
        return parse_end(p, "':', '->' or end of input after module name");
    }
    rc = advance(p, true);
    if (rc != 0)
        return rc;
    if (!is_name(&p->tok))
        return expected(p, "a function name after ':'");
    struct ctrace__token fun = p->tok;
    rc = take_name(p, &fun, "function", &spec->function, &spec->function_glob);
    if (rc == 0)
        rc = advance(p, false);
    if (rc != 0)
        return rc;
    if (p->tok.kind == CTRACE__TOK_SLASH)
        return parse_arity(p, &mod, &fun);
    if (p->tok.kind == CTRACE__TOK_LPAREN)
        return parse_args(p);
    if (is_atom(&p->tok, "when"))
        return guard_without_args(p, &mod, &fun);
    return parse_end(p, "'/', '(', '->' or end of input after function name");
}

/* The byte offset of the first byte that is not valid UTF-8, or `len`. */
static size_t utf8_error_at(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80   ? 1
                   : c < 0xc0 ? 0
                   : c < 0xe0 ? 2
                   : c < 0xf0 ? 3
                   : c < 0xf8 ? 4
                              : 0;
        if (n == 0 || n > len - i || !ctrace__utf8_valid(s + i, n))
            return i;
        i += n;
    }
    return len;
}

struct ctrace__spec *
ctrace__spec_parse(const char *text, size_t len, struct ctrace_error *err)
{
    struct ctrace_error scratch;
    if (err == NULL)
        err = &scratch;
    ctrace__error_clear(err);
    if (text == NULL && len > 0) {
        ctrace__error_set(err, CTRACE_EINVAL, 0, 0, "no pattern text");
        return NULL;
    }
    if (len > CTRACE__SPEC_MAX_LENGTH) {
        ctrace__error_set(err,
                          CTRACE_ETOOLONG,
                          0,
                          0,
                          "pattern is %zu bytes long; the limit is %d bytes",
                          len,
                          CTRACE__SPEC_MAX_LENGTH);
        return NULL;
    }
    size_t bad = utf8_error_at(text, len);
    if (bad < len) {
        ctrace__error_set(err,
                          CTRACE_ESYNTAX,
                          ctrace__lex_column(text, bad),
                          bad,
                          "invalid UTF-8 at byte 0x%02x",
                          (unsigned char)text[bad]);
        return NULL;
    }
    size_t i = 0;
    while (i < len && strchr(" \t\n\r\v\f", text[i]) != NULL && text[i])
        i++;
    if (i == len) {
        ctrace__error_set(err,
                          CTRACE_ESYNTAX,
                          0,
                          0,
                          "empty pattern; expected a module name, send, "
                          "receive or procs");
        return NULL;
    }
    struct ctrace__arena *arena = ctrace__arena_new();
    struct ctrace__spec *spec =
        arena != NULL ? ctrace__arena_alloc(arena, sizeof(*spec)) : NULL;
    char *copy = spec != NULL ? ctrace__arena_strndup(arena, text, len) : NULL;
    if (copy == NULL) {
        ctrace__arena_free(arena);
        ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    spec->arena = arena;
    spec->text = copy;
    struct parser p = {
        .lx = {.src = copy, .len = len, .pos = 0, .arena = arena, .err = err},
        .spec = spec,
        .arena = arena,
        .err = err,
    };
    if (parse_spec(&p) != 0) {
        /* Every failing path has filled err; make sure, never crash. */
        if (err->code == 0)
            ctrace__error_set(err, CTRACE_ESYNTAX, 0, 0, "invalid pattern");
        ctrace__arena_free(arena);
        return NULL;
    }
    ctrace__spec_flatten(spec);
    return spec;
}
