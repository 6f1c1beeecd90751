/* SPDX-License-Identifier: MIT */
/*
 * The pattern language (DESIGN.md section 3): a trace spec such as
 *
 *     cat_traveler:enter("Tihon", Town) when Town =/= "Minsk" -> return,stack
 *
 * is parsed into a struct ctrace__spec, printed back as JSON by
 * `ctrace pattern`, asked which trace points it can select (by module,
 * function and arity alone), and matched against the argument values of a
 * call.
 *
 * Ownership: a spec owns every node, string and name reachable from it; they
 * live in the spec's arena and die with ctrace__spec_free(). Literal values
 * inside patterns are struct ctrace_value views into that arena.
 *
 * Thread-safety: parsing and freeing are reentrant. A parsed spec is
 * immutable, so any number of threads may call the matching functions on it
 * at once; it must not be freed while any of them runs.
 */
#ifndef CTRACE_PATTERN_H
#define CTRACE_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "ctrace/error.h"
#include "ctrace/value.h"

/* Longest spec text accepted, in bytes; longer input is CTRACE_ETOOLONG. */
#define CTRACE__SPEC_MAX_LENGTH (64 * 1024)
/* Deepest nesting of patterns and guard expressions; deeper is TOODEEP. */
#define CTRACE__SPEC_MAX_DEPTH 64
/* Most distinct variables in one spec; more is an error. */
#define CTRACE__SPEC_MAX_VARS 32
/* Most actions after `->`. */
#define CTRACE__SPEC_MAX_ACTIONS 16
/* Most argument positions `count(...)` may name. */
#define CTRACE__COUNT_MAX_ARGS 4

enum ctrace__spec_kind {
    CTRACE__SPEC_CALL = 0, /* module[:function[/arity | (args) [when g]]] */
    CTRACE__SPEC_SEND,     /* `send` */
    CTRACE__SPEC_RECEIVE,  /* `receive` or `'receive'` */
    CTRACE__SPEC_PROCS     /* `procs` */
};

/* Actions after `->`, as bits so that "does any spec want X" is one AND. */
enum ctrace__action {
    CTRACE__ACTION_RETURN = 1u << 0,
    CTRACE__ACTION_STACK = 1u << 1,
    CTRACE__ACTION_CALLER = 1u << 2,
    CTRACE__ACTION_DUMP = 1u << 3,
    CTRACE__ACTION_TIME = 1u << 4,
    CTRACE__ACTION_COUNT = 1u << 5
};

enum ctrace__pat_kind {
    CTRACE__PAT_ANY = 0, /* `_` or `'_'`: matches anything, binds nothing */
    CTRACE__PAT_VAR,     /* a variable; u.var is its index in spec->vars */
    CTRACE__PAT_LIT,     /* a literal; u.lit is an INT, UINT (only above
                            INT64_MAX), DOUBLE, STRING (written as text:
                            "ab" or <<"ab">>), BYTES (<<1,2>>, <<>>) or
                            SYMBOL (atoms, also true/false/null) value */
    CTRACE__PAT_TUPLE,   /* {P1,...,Pn}; u.seq, tail always NULL */
    CTRACE__PAT_LIST,    /* [P1,...,Pn | Tail]; u.seq, tail NULL for a proper
                            list ([] has len 0 and no tail) */
    CTRACE__PAT_PREFIX   /* "ab"++T or <<"ab",T/binary>>: the value is a
                            string or bytes starting with u.prefix bytes;
                            u.prefix.tail (ANY or VAR) takes the rest */
};

struct ctrace__pat {
    enum ctrace__pat_kind kind;
    int column; /* 1-based column where the pattern starts */
    union {
        unsigned var;
        struct ctrace_value lit;
        struct {
            struct ctrace__pat *items; /* array of len */
            size_t len;
            struct ctrace__pat *tail;
        } seq;
        struct {
            const char *ptr;
            size_t len;
            struct ctrace__pat *tail;
        } prefix;
    } u;
};

enum ctrace__op {
    /* comparisons */
    CTRACE__OP_EQ = 0,   /* == */
    CTRACE__OP_NE,       /* /= */
    CTRACE__OP_EXACT_EQ, /* =:= */
    CTRACE__OP_EXACT_NE, /* =/= */
    CTRACE__OP_LT,       /* < */
    CTRACE__OP_GT,       /* > */
    CTRACE__OP_LE,       /* =< */
    CTRACE__OP_GE,       /* >= */
    /* boolean; `,` parses as ANDALSO and `;` as ORELSE */
    CTRACE__OP_ANDALSO,
    CTRACE__OP_ORELSE,
    CTRACE__OP_AND,
    CTRACE__OP_OR,
    CTRACE__OP_XOR,
    CTRACE__OP_NOT, /* unary */
    /* arithmetic */
    CTRACE__OP_ADD,
    CTRACE__OP_SUB,
    CTRACE__OP_MUL,
    CTRACE__OP_DIV, /* div: integer division */
    CTRACE__OP_REM,
    CTRACE__OP_NEG, /* unary minus */
    CTRACE__OP_COUNT__
};

/* The guard functions, with their arities in ctrace__gfun_table. */
enum ctrace__gfun {
    CTRACE__GF_IS_INTEGER = 0,
    CTRACE__GF_IS_FLOAT,
    CTRACE__GF_IS_NUMBER,
    CTRACE__GF_IS_ATOM,
    CTRACE__GF_IS_BOOLEAN,
    CTRACE__GF_IS_BINARY,
    CTRACE__GF_IS_LIST,
    CTRACE__GF_IS_TUPLE,
    CTRACE__GF_ELEMENT, /* element(N, Tuple), 1-based */
    CTRACE__GF_HD,
    CTRACE__GF_TL,
    CTRACE__GF_LENGTH, /* lists; strings count bytes */
    CTRACE__GF_SIZE,   /* tuples and binaries */
    CTRACE__GF_BYTE_SIZE,
    CTRACE__GF_TUPLE_SIZE,
    CTRACE__GF_BINARY_PART, /* binary_part(Bin, Start, Len) */
    CTRACE__GF_ABS,
    CTRACE__GF_MIN,
    CTRACE__GF_MAX,
    CTRACE__GF_TRUNC,
    CTRACE__GF_ROUND,
    CTRACE__GF_FLOAT,
    CTRACE__GF_COUNT__
};

struct ctrace__gfun_info {
    const char *name;
    unsigned arity;
};

/* Indexed by enum ctrace__gfun. */
extern const struct ctrace__gfun_info ctrace__gfun_table[CTRACE__GF_COUNT__];
/* Indexed by enum ctrace__op: "==", "andalso", "div", "-" (NEG) ... */
extern const char *const ctrace__op_names[CTRACE__OP_COUNT__];

enum ctrace__expr_kind {
    CTRACE__EXPR_TERM = 0, /* u.term: a VAR, LIT, or TUPLE/LIST of terms;
                              never ANY or PREFIX */
    CTRACE__EXPR_OP,       /* u.op: rhs is NULL for NOT and NEG */
    CTRACE__EXPR_CALL      /* u.call */
};

struct ctrace__expr {
    enum ctrace__expr_kind kind;
    int column;
    union {
        struct ctrace__pat *term;
        struct {
            enum ctrace__op op;
            struct ctrace__expr *lhs;
            struct ctrace__expr *rhs;
        } op;
        struct {
            enum ctrace__gfun fn;
            struct ctrace__expr *args[3];
            unsigned nargs;
        } call;
    } u;
};

struct ctrace__arena; /* private to spec.c */

/*
 * The flat form of a spec's argument patterns: what a traced thread can
 * check on the raw argument values in place, before anything else happens
 * (no bindings, no value array walked, no call). Computed once by the
 * parser (ctrace__spec_flatten()).
 *
 * Each check names one argument and a literal it must equal under =:=
 * (FLAT_BYTES: a string or bytes value with exactly these bytes; FLAT_PREFIX:
 * one that starts with them; FLAT_INT / FLAT_UINT: an integer of either C
 * kind with this value; FLAT_ATOM: an atom-like value with this name). The
 * checks are necessary conditions of the full match; when `decides` is set
 * they are also sufficient (every pattern is `_`, a variable seen once, a
 * flattened literal or prefix, and there is no guard), and the full
 * matcher never runs.
 */
enum ctrace__flat_op {
    CTRACE__FLAT_BYTES = 0,
    CTRACE__FLAT_PREFIX,
    CTRACE__FLAT_INT,
    CTRACE__FLAT_UINT,
    CTRACE__FLAT_ATOM
};

/* Most checks kept; further literals are left to the full matcher. */
#define CTRACE__FLAT_MAX 6

struct ctrace__flat_check {
    uint8_t op;  /* enum ctrace__flat_op */
    uint8_t arg; /* 0-based argument position */
    size_t len;  /* BYTES, PREFIX, ATOM: bytes of `bytes` */
    union {
        const char *bytes;
        int64_t i;
        uint64_t u;
    } lit;
};

struct ctrace__flat {
    /* Argument count the spec requires, or -1 when it has no patterns. */
    int nargs;
    /* The checks say the whole answer: no full match is needed. */
    bool decides;
    /*
     * No argument pattern and no guard: every call of a selected point
     * fires, and the engine asks nothing (ctrace__spec_flat_match() would
     * answer YES).
     */
    bool always;
    uint8_t nchecks;
    struct ctrace__flat_check checks[CTRACE__FLAT_MAX];
};

struct ctrace__spec {
    enum ctrace__spec_kind kind;
    /*
     * CALL only. `module` is "*" for a wildcard (`_`, a variable, `'_'`),
     * else the name as written, NUL-terminated; `module_glob` says that an
     * unquoted name contained `*` and is matched as a glob. `function` is
     * NULL when only a module was given (every function), else the same as
     * module. `arity` is -1 when any arity goes.
     */
    const char *module;
    bool module_glob;
    const char *function;
    bool function_glob;
    int arity;
    /* Argument patterns: `args` is NULL unless written as (P1,...,Pn). */
    struct ctrace__pat *args;
    size_t nargs;
    struct ctrace__expr *guard; /* NULL when there is no `when` */
    /* Variables, numbered in order of first appearance in the arguments. */
    const char *vars[CTRACE__SPEC_MAX_VARS];
    unsigned nvars;
    /* Actions in the order written (duplicates kept), and their union. */
    enum ctrace__action actions[CTRACE__SPEC_MAX_ACTIONS];
    unsigned nactions;
    unsigned action_mask;
    /*
     * `count(1, 2)`: count calls per distinct value of these arguments
     * (1-based positions, in the order written); ncount_by is 0 for a bare
     * `count`.
     */
    unsigned count_by[CTRACE__COUNT_MAX_ARGS];
    unsigned ncount_by;
    /* The argument patterns' flat form, for the traced thread's first look. */
    struct ctrace__flat flat;
    /* The text the spec was parsed from, NUL-terminated (arena copy). */
    const char *text;
    struct ctrace__arena *arena;
};

/*
 * Parses `len` bytes of `text` (not necessarily NUL-terminated) into a new
 * spec. Returns NULL on failure and fills `err` (may be NULL) with the code
 * (CTRACE_ESYNTAX, ETOOLONG, ETOODEEP, EUNBOUND, ENOFUNC, EUNSUPPORTED,
 * ENOMEM), the 1-based column of the offending text, and one sentence such
 * as "expected ')' or ',' after argument pattern, got 'when'".
 * Free the result with ctrace__spec_free().
 * Thread-safety: any thread.
 */
struct ctrace__spec *
ctrace__spec_parse(const char *text, size_t len, struct ctrace_error *err);

/* Frees a spec and everything it owns. NULL is a no-op. */
void ctrace__spec_free(struct ctrace__spec *spec);

/*
 * Returns the spec as one line of JSON, the format `ctrace pattern` prints
 * (docs/patterns.md), in a new string freed with ctrace_free(); NULL when
 * memory runs out.
 * Thread-safety: any thread.
 */
char *ctrace__spec_to_json(const struct ctrace__spec *spec);

/*
 * Matches `name` against `glob`, where `*` stands for any run of characters
 * (also none). Every other character stands for itself.
 */
bool ctrace__glob_match(const char *glob, const char *name);

/*
 * Whether a CALL spec can select the trace point module:function/arity,
 * judged by names and arity alone (argument patterns and guards are not
 * looked at). Always false for SEND, RECEIVE and PROCS specs.
 * Thread-safety: any thread.
 */
bool ctrace__spec_selects(const struct ctrace__spec *spec,
                          const char *module,
                          const char *function,
                          unsigned arity);

/*
 * Whether a call with these `nargs` argument values fires the spec: the
 * argument patterns match (a repeated variable must be bound to equal
 * values, compared with =:=) and the guard evaluates to `true`, with
 * Erlang's semantics: a guard that raises (a type error, a bad argument to
 * a guard function, division by zero) is false. The caller has already
 * checked ctrace__spec_selects(). Allocates nothing and takes no lock: it
 * runs on traced threads.
 * Thread-safety: any thread.
 */
bool ctrace__spec_match(const struct ctrace__spec *spec,
                        const struct ctrace_value *args,
                        size_t nargs);

/* The name of one action bit: "return", "stack", ... */
const char *ctrace__action_name(enum ctrace__action action);

/* What ctrace__spec_flat_match() found. */
enum ctrace__flat_result {
    CTRACE__FLAT_NO = 0, /* the spec does not fire */
    CTRACE__FLAT_YES,    /* the spec fires */
    CTRACE__FLAT_MAYBE   /* the checks pass; ask ctrace__spec_match() */
};

/* Whether `len` bytes at `p`, of which there are `n`, equal `lit`. */
static inline bool ctrace__flat_eq(const char *p,
                                   size_t n,
                                   const char *lit,
                                   size_t len,
                                   bool prefix)
{
    if (prefix ? n < len : n != len)
        return false;
    for (size_t k = 0; k < len; k++)
        if (p[k] != lit[k])
            return false;
    return true;
}

/*
 * ctrace__flat_eq() for an unmeasured C string (CTRACE__LEN_LAZY): byte by
 * byte, so that nothing past its NUL (or past the prefix) is read.
 */
static inline bool
ctrace__flat_eq_cstr(const char *p, const char *lit, size_t len, bool prefix)
{
    for (size_t k = 0; k < len; k++)
        if (p[k] == '\0' || p[k] != lit[k])
            return false;
    return prefix || p[len] == '\0';
}

/*
 * Runs the spec's flat checks on a call's raw arguments: NO and YES are
 * the answer of ctrace__spec_match(); MAYBE means the checks passed and
 * only the full matcher can tell. Inline, so that a rejected call costs a
 * few compares in the caller. Thread-safety: any thread.
 */
static inline enum ctrace__flat_result
ctrace__spec_flat_match(const struct ctrace__spec *spec,
                        const struct ctrace_value *args,
                        size_t nargs)
{
    const struct ctrace__flat *f = &spec->flat;
    if (f->nargs >= 0 && ((size_t)f->nargs != nargs || (nargs > 0 && !args)))
        return CTRACE__FLAT_NO;
    for (unsigned k = 0; k < f->nchecks; k++) {
        const struct ctrace__flat_check *c = &f->checks[k];
        const struct ctrace_value *v = &args[c->arg];
        switch ((enum ctrace__flat_op)c->op) {
        case CTRACE__FLAT_BYTES:
        case CTRACE__FLAT_PREFIX:
            if (v->kind != CTRACE_VALUE_STRING && v->kind != CTRACE_VALUE_BYTES)
                return CTRACE__FLAT_NO;
            if (ctrace__value_lazy(v)) {
                /* A NULL C string is the null value: not a string. */
                if (v->as.str.ptr == NULL ||
                    !ctrace__flat_eq_cstr(v->as.str.ptr,
                                          c->lit.bytes,
                                          c->len,
                                          c->op == CTRACE__FLAT_PREFIX))
                    return CTRACE__FLAT_NO;
            } else if (!ctrace__flat_eq(v->as.str.ptr,
                                        v->as.str.len,
                                        c->lit.bytes,
                                        c->len,
                                        c->op == CTRACE__FLAT_PREFIX)) {
                return CTRACE__FLAT_NO;
            }
            break;
        case CTRACE__FLAT_INT:
            if (v->kind == CTRACE_VALUE_INT ? v->as.i != c->lit.i
                : v->kind == CTRACE_VALUE_UINT
                    ? c->lit.i < 0 || v->as.u != (uint64_t)c->lit.i
                    : true)
                return CTRACE__FLAT_NO;
            break;
        case CTRACE__FLAT_UINT:
            if (v->kind != CTRACE_VALUE_UINT || v->as.u != c->lit.u)
                return CTRACE__FLAT_NO;
            break;
        case CTRACE__FLAT_ATOM:
            if (ctrace__value_lazy(v) && v->as.str.ptr == NULL) {
                /* A NULL C string: the null value, which reads as `null`. */
                if (!ctrace__flat_eq("null", 4, c->lit.bytes, c->len, false))
                    return CTRACE__FLAT_NO;
            } else if (v->kind == CTRACE_VALUE_SYMBOL) {
                if (!ctrace__flat_eq(v->as.str.ptr,
                                     v->as.str.len,
                                     c->lit.bytes,
                                     c->len,
                                     false))
                    return CTRACE__FLAT_NO;
            } else if (v->kind == CTRACE_VALUE_BOOL ||
                       v->kind == CTRACE_VALUE_NULL) {
                const char *name = v->kind == CTRACE_VALUE_NULL ? "null"
                                   : v->as.b                    ? "true"
                                                                : "false";
                size_t n = v->kind == CTRACE_VALUE_NULL ? 4 : v->as.b ? 4 : 5;
                if (!ctrace__flat_eq(name, n, c->lit.bytes, c->len, false))
                    return CTRACE__FLAT_NO;
            } else if (v->kind <= CTRACE_VALUE_PID) {
                return CTRACE__FLAT_NO;
            } else {
                return CTRACE__FLAT_MAYBE; /* a newer kind: the full rules */
            }
            break;
        }
    }
    return f->decides ? CTRACE__FLAT_YES : CTRACE__FLAT_MAYBE;
}

/*
 * Computes spec->flat from its argument patterns and guard. The parser
 * calls it on every spec it returns; call it again after changing either.
 */
void ctrace__spec_flatten(struct ctrace__spec *spec);

#endif /* CTRACE_PATTERN_H */
