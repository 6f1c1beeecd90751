/* SPDX-License-Identifier: MIT */
/*
 * Matching calls against a parsed spec: which trace points a spec selects
 * (names, globs and arity), and whether the argument values of one call fire
 * it (argument patterns, then the guard).
 *
 * ctrace__spec_match() runs on traced threads, inside the trace point. It
 * allocates nothing, takes no lock and uses a bounded amount of stack: the
 * variable bindings and the scratch space for guard terms are fixed-size
 * arrays in one context on the stack, recursion follows the spec (whose
 * nesting the parser caps at CTRACE__SPEC_MAX_DEPTH) and never the values
 * (which may be nested arbitrarily deep; ctrace__value_cmp() walks them
 * iteratively).
 *
 * How Erlang patterns read C values, where DESIGN.md section 3 leaves room:
 * - Patterns compare with =:=, so the literal 1 matches INT or UINT 1 but
 *   not DOUBLE 1.0, and 1.0 matches only a DOUBLE. No literal matches a
 *   POINTER; only `_` and variables do.
 * - "ab" and <<"ab">> match a STRING or BYTES value with exactly those
 *   bytes. Atoms match SYMBOL values by name; `true` and `false` also match
 *   BOOL values and `null` the NULL value.
 * - A list pattern also matches a STRING or BYTES value read as the list of
 *   its byte codes (0..255), the way Erlang strings are lists of characters:
 *   [$a,$b|T] matches "abc" and binds T to the STRING view "c" (a BYTES view
 *   for a BYTES value). [] therefore matches "" and <<>>. A string literal or
 *   prefix does not match a LIST value of integers, though.
 * - A prefix pattern ("ab"++T) matches a STRING or BYTES value that starts
 *   with the bytes; the tail binds the rest as a view of the same kind.
 *
 * Guards follow Erlang: the spec fires only when the guard evaluates to the
 * atom `true` (BOOL true or SYMBOL "true"), and any exception fails the
 * whole guard (redbug turns `;` into orelse, so nothing catches it).
 * Exceptions are: a type error (arithmetic on a non-number, a non-boolean
 * operand of a boolean operator or on the left of andalso/orelse), a bad
 * argument to a guard function, `div` or `rem` by zero, an integer result
 * outside -2^63..2^64-1, a float result that is not finite, and running out
 * of scratch space.
 * - Integers are INT or UINT values; results are INT when they fit int64 and
 *   UINT above INT64_MAX, so INT64_MAX + 1 is fine and UINT64_MAX + 1 raises.
 * - is_list is true for LIST and for STRING values (the charlist reading of
 *   a C string), false for BYTES (a binary). hd, tl and length accept LIST,
 *   STRING and BYTES: hd of a string is its first byte as an integer, tl a
 *   view of the rest, length its byte count.
 * - Guard terms that are tuples or lists (`{X,1} == Y`) are built in a
 *   scratch array of GUARD_SCRATCH values; a list term with a tail
 *   ([X|T]) copies T's elements there too. The space taken by a
 *   subexpression is given back as soon as its result no longer refers to
 *   it, so the bound applies to the terms alive at one time, not to the
 *   whole guard. Running out is an exception.
 * - Comparisons use ctrace__value_cmp(), whose order puts lists before
 *   strings, so `tl("a") == []` is false even though `[]` matches "" as a
 *   pattern.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "pattern/pattern.h"

/*
 * Values that guard terms (tuples and lists) may occupy at once during one
 * guard evaluation. 64 values take 1.5 KiB of stack.
 */
#define GUARD_SCRATCH 64

/*
 * A safety net for specs built by hand rather than by the parser. The
 * parser caps pattern nesting and the height of a guard tree at
 * CTRACE__SPEC_MAX_DEPTH each, and a guard term nested in a guard
 * expression adds the two, so a parsed spec never comes near this; a
 * deeper one is a mismatch rather than a stack overflow.
 */
#define MATCH_MAX_DEPTH (4 * CTRACE__SPEC_MAX_DEPTH)

bool ctrace__glob_match(const char *glob, const char *name)
{
    if (glob == NULL || name == NULL)
        return false;
    /*
     * The two-pointer algorithm: on a mismatch, go back to just after the
     * last `*` and let it swallow one more character of the name. Only the
     * last star matters, so the cost is O(len(glob) * len(name)) at worst
     * and never exponential.
     */
    const char *star = NULL;
    const char *resume = NULL;
    while (*name != '\0') {
        if (*glob == '*') {
            star = glob++;
            resume = name;
        } else if (*glob == *name) {
            glob++;
            name++;
        } else if (star != NULL) {
            glob = star + 1;
            name = ++resume;
        } else {
            return false;
        }
    }
    while (*glob == '*')
        glob++;
    return *glob == '\0';
}

static bool name_matches(const char *pattern, bool glob, const char *name)
{
    if (pattern == NULL || strcmp(pattern, "*") == 0)
        return true;
    return glob ? ctrace__glob_match(pattern, name)
                : strcmp(pattern, name) == 0;
}

bool ctrace__spec_selects(const struct ctrace__spec *spec,
                          const char *module,
                          const char *function,
                          unsigned arity)
{
    if (spec == NULL || spec->kind != CTRACE__SPEC_CALL || module == NULL ||
        function == NULL || spec->module == NULL)
        return false;
    if (!name_matches(spec->module, spec->module_glob, module))
        return false;
    if (!name_matches(spec->function, spec->function_glob, function))
        return false;
    return spec->arity < 0 || (unsigned)spec->arity == arity;
}

/* What one match needs: the bindings and the guard's scratch space. */
struct match_ctx {
    struct ctrace_value vars[CTRACE__SPEC_MAX_VARS];
    bool bound[CTRACE__SPEC_MAX_VARS];
    struct ctrace_value scratch[GUARD_SCRATCH];
    size_t used; /* scratch values taken */
};

static bool is_text(const struct ctrace_value *v)
{
    return v->kind == CTRACE_VALUE_STRING || v->kind == CTRACE_VALUE_BYTES;
}

static bool is_integer(const struct ctrace_value *v)
{
    return v->kind == CTRACE_VALUE_INT || v->kind == CTRACE_VALUE_UINT;
}

static bool is_number(const struct ctrace_value *v)
{
    return is_integer(v) || v->kind == CTRACE_VALUE_DOUBLE;
}

/* Byte `i` of a string or bytes value, as an integer value. */
static struct ctrace_value byte_at(const struct ctrace_value *v, size_t i)
{
    return ctrace_value_int((unsigned char)v->as.str.ptr[i]);
}

/*
 * The bytes of `v` from `off` on, as a value of the same kind. Adding 0 to
 * a null pointer is undefined, and ctrace_value_bytes(NULL, 0) is valid.
 */
static struct ctrace_value
text_view(const struct ctrace_value *v, size_t off, size_t len)
{
    struct ctrace_value r = *v;
    r.as.str.ptr = off > 0 ? v->as.str.ptr + off : v->as.str.ptr;
    r.as.str.len = len;
    return r;
}

/* The elements of a tuple or list `v` from `off` on, as a list. */
static struct ctrace_value
list_view(const struct ctrace_value *v, size_t off, size_t len)
{
    const struct ctrace_value *items = v->as.seq.items;
    return ctrace_value_list(off > 0 ? items + off : items, len);
}

/* 1 for the atom true, 0 for false, -1 for anything that is no boolean. */
static int truth(const struct ctrace_value *v)
{
    if (v->kind == CTRACE_VALUE_BOOL)
        return v->as.b ? 1 : 0;
    if (v->kind == CTRACE_VALUE_SYMBOL) {
        if (v->as.str.len == 4 && memcmp(v->as.str.ptr, "true", 4) == 0)
            return 1;
        if (v->as.str.len == 5 && memcmp(v->as.str.ptr, "false", 5) == 0)
            return 0;
    }
    return -1;
}

/* Argument patterns. */

static bool match_pat(struct match_ctx *m,
                      const struct ctrace__pat *p,
                      const struct ctrace_value *v,
                      unsigned depth);

static bool
bind(struct match_ctx *m, unsigned var, const struct ctrace_value *v)
{
    if (var >= CTRACE__SPEC_MAX_VARS)
        return false;
    if (m->bound[var])
        return ctrace__value_cmp(&m->vars[var], v, true) == 0;
    m->vars[var] = *v;
    m->bound[var] = true;
    return true;
}

static bool match_list(struct match_ctx *m,
                       const struct ctrace__pat *p,
                       const struct ctrace_value *v,
                       unsigned depth)
{
    size_t n = p->u.seq.len;
    const struct ctrace__pat *tail = p->u.seq.tail;
    if (v->kind == CTRACE_VALUE_LIST) {
        size_t len = v->as.seq.len;
        if (tail == NULL ? len != n : len < n)
            return false;
        for (size_t i = 0; i < n; i++)
            if (!match_pat(m, &p->u.seq.items[i], &v->as.seq.items[i], depth))
                return false;
        if (tail == NULL)
            return true;
        struct ctrace_value rest = list_view(v, n, len - n);
        return match_pat(m, tail, &rest, depth);
    }
    if (is_text(v)) {
        /* The charlist reading: each byte is an integer element. */
        size_t len = v->as.str.len;
        if (tail == NULL ? len != n : len < n)
            return false;
        for (size_t i = 0; i < n; i++) {
            struct ctrace_value c = byte_at(v, i);
            if (!match_pat(m, &p->u.seq.items[i], &c, depth))
                return false;
        }
        if (tail == NULL)
            return true;
        struct ctrace_value rest = text_view(v, n, len - n);
        return match_pat(m, tail, &rest, depth);
    }
    return false;
}

static bool match_prefix(struct match_ctx *m,
                         const struct ctrace__pat *p,
                         const struct ctrace_value *v,
                         unsigned depth)
{
    size_t n = p->u.prefix.len;
    if (!is_text(v) || v->as.str.len < n)
        return false;
    if (n > 0 && memcmp(v->as.str.ptr, p->u.prefix.ptr, n) != 0)
        return false;
    if (p->u.prefix.tail == NULL)
        return true;
    struct ctrace_value rest = text_view(v, n, v->as.str.len - n);
    return match_pat(m, p->u.prefix.tail, &rest, depth);
}

/* `depth` counts the patterns enclosing `p`. */
static bool match_pat(struct match_ctx *m,
                      const struct ctrace__pat *p,
                      const struct ctrace_value *v,
                      unsigned depth)
{
    if (++depth > MATCH_MAX_DEPTH)
        return false;
    switch (p->kind) {
    case CTRACE__PAT_ANY:
        return true;
    case CTRACE__PAT_VAR:
        return bind(m, p->u.var, v);
    case CTRACE__PAT_LIT:
        /*
         * Literals are scalars, and =:= already says what the C mappings
         * need: integers of either kind by value, never a double; strings
         * and bytes by their bytes; atoms by name, also against BOOL and
         * NULL; nothing against pointers.
         */
        return ctrace__value_cmp(&p->u.lit, v, true) == 0;
    case CTRACE__PAT_TUPLE:
        if (v->kind != CTRACE_VALUE_TUPLE || v->as.seq.len != p->u.seq.len)
            return false;
        for (size_t i = 0; i < p->u.seq.len; i++)
            if (!match_pat(m, &p->u.seq.items[i], &v->as.seq.items[i], depth))
                return false;
        return true;
    case CTRACE__PAT_LIST:
        return match_list(m, p, v, depth);
    case CTRACE__PAT_PREFIX:
        return match_prefix(m, p, v, depth);
    }
    return false;
}

/* Guard arithmetic. */

/*
 * An integer as sign and magnitude, which holds every INT and UINT value
 * and makes overflow checks plain unsigned arithmetic.
 */
struct smint {
    bool neg;
    uint64_t mag;
};

static bool to_smint(const struct ctrace_value *v, struct smint *r)
{
    if (v->kind == CTRACE_VALUE_INT) {
        r->neg = v->as.i < 0;
        r->mag = r->neg ? 0 - (uint64_t)v->as.i : (uint64_t)v->as.i;
        return true;
    }
    if (v->kind == CTRACE_VALUE_UINT) {
        r->neg = false;
        r->mag = v->as.u;
        return true;
    }
    return false;
}

/* INT when it fits int64, UINT above; false below INT64_MIN. */
static bool from_smint(struct smint r, struct ctrace_value *out)
{
    if (r.neg && r.mag != 0) {
        if (r.mag > (uint64_t)INT64_MAX + 1)
            return false;
        *out = ctrace_value_int(
            r.mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)r.mag);
    } else if (r.mag <= (uint64_t)INT64_MAX) {
        *out = ctrace_value_int((int64_t)r.mag);
    } else {
        *out = ctrace_value_uint(r.mag);
    }
    return true;
}

static struct ctrace_value size_value(size_t n)
{
    struct smint r = {false, n};
    struct ctrace_value v;
    from_smint(r, &v);
    return v;
}

static bool smint_add(struct smint a, struct smint b, struct smint *r)
{
    if (a.neg == b.neg) {
        if (a.mag > UINT64_MAX - b.mag)
            return false;
        *r = (struct smint){a.neg, a.mag + b.mag};
    } else if (a.mag >= b.mag) {
        *r = (struct smint){a.neg, a.mag - b.mag};
    } else {
        *r = (struct smint){b.neg, b.mag - a.mag};
    }
    return true;
}

static bool
int_arith(enum ctrace__op op, struct smint a, struct smint b, struct smint *r)
{
    switch (op) {
    case CTRACE__OP_ADD:
        return smint_add(a, b, r);
    case CTRACE__OP_SUB:
        b.neg = !b.neg;
        return smint_add(a, b, r);
    case CTRACE__OP_MUL:
        if (a.mag != 0 && b.mag > UINT64_MAX / a.mag)
            return false;
        *r = (struct smint){a.neg != b.neg, a.mag * b.mag};
        return true;
    case CTRACE__OP_DIV:
        /* Erlang's div truncates toward zero. */
        if (b.mag == 0)
            return false;
        *r = (struct smint){a.neg != b.neg, a.mag / b.mag};
        return true;
    case CTRACE__OP_REM:
        /* The remainder takes the sign of the dividend. */
        if (b.mag == 0)
            return false;
        *r = (struct smint){a.neg, a.mag % b.mag};
        return true;
    default:
        return false;
    }
}

static double to_double(const struct ctrace_value *v)
{
    switch (v->kind) {
    case CTRACE_VALUE_INT:
        return (double)v->as.i;
    case CTRACE_VALUE_UINT:
        return (double)v->as.u;
    default:
        return v->as.d;
    }
}

static bool arith(enum ctrace__op op,
                  const struct ctrace_value *a,
                  const struct ctrace_value *b,
                  struct ctrace_value *out)
{
    if (!is_number(a) || !is_number(b))
        return false;
    if (is_integer(a) && is_integer(b)) {
        struct smint x, y, r;
        to_smint(a, &x);
        to_smint(b, &y);
        return int_arith(op, x, y, &r) && from_smint(r, out);
    }
    double x = to_double(a), y = to_double(b), r;
    switch (op) {
    case CTRACE__OP_ADD:
        r = x + y;
        break;
    case CTRACE__OP_SUB:
        r = x - y;
        break;
    case CTRACE__OP_MUL:
        r = x * y;
        break;
    default:
        return false; /* div and rem take integers only */
    }
    /* Erlang raises badarith rather than produce inf or NaN. */
    if (!isfinite(r))
        return false;
    *out = ctrace_value_double(r);
    return true;
}

static bool negate(const struct ctrace_value *a, struct ctrace_value *out)
{
    if (a->kind == CTRACE_VALUE_DOUBLE) {
        *out = ctrace_value_double(-a->as.d);
        return true;
    }
    struct smint x;
    if (!to_smint(a, &x))
        return false;
    x.neg = !x.neg;
    return from_smint(x, out);
}

static bool abs_value(const struct ctrace_value *a, struct ctrace_value *out)
{
    if (a->kind == CTRACE_VALUE_DOUBLE) {
        /* signbit() rather than `< 0` so that abs(-0.0) is 0.0. */
        *out = ctrace_value_double(signbit(a->as.d) ? -a->as.d : a->as.d);
        return true;
    }
    struct smint x;
    if (!to_smint(a, &x))
        return false;
    x.neg = false; /* abs(INT64_MIN) is UINT 2^63 */
    return from_smint(x, out);
}

/* 2^63 and 2^64 as doubles; both are exact. */
#define TWO_63 9223372036854775808.0
#define TWO_64 18446744073709551616.0

/* Truncates a double toward zero into an integer value, if it fits. */
static bool trunc_to_int(double d, struct ctrace_value *out)
{
    if (d >= -TWO_63 && d < TWO_63) {
        *out = ctrace_value_int((int64_t)d);
        return true;
    }
    if (d >= TWO_63 && d < TWO_64) {
        *out = ctrace_value_uint((uint64_t)d);
        return true;
    }
    return false; /* out of range, infinite or NaN */
}

/* Rounds half away from zero, without libm. */
static bool round_to_int(double d, struct ctrace_value *out)
{
    /* From 2^52 on every double is an integer already. */
    if (d > -4503599627370496.0 && d < 4503599627370496.0) {
        double t = (double)(int64_t)d;
        double frac = d - t; /* exact */
        if (frac >= 0.5)
            t += 1.0;
        else if (frac <= -0.5)
            t -= 1.0;
        d = t;
    }
    return trunc_to_int(d, out);
}

/* Guard evaluation. */

static bool eval(struct match_ctx *m,
                 const struct ctrace__expr *e,
                 unsigned depth,
                 struct ctrace_value *out);

/*
 * Evaluates a guard term: a bound variable, a literal, or a tuple or list
 * of terms built in the scratch space. False means an exception.
 */
static bool eval_term(struct match_ctx *m,
                      const struct ctrace__pat *p,
                      unsigned depth,
                      struct ctrace_value *out)
{
    if (++depth > MATCH_MAX_DEPTH)
        return false;
    switch (p->kind) {
    case CTRACE__PAT_VAR:
        if (p->u.var >= CTRACE__SPEC_MAX_VARS || !m->bound[p->u.var])
            return false;
        *out = m->vars[p->u.var];
        return true;
    case CTRACE__PAT_LIT:
        *out = p->u.lit;
        return true;
    case CTRACE__PAT_TUPLE:
    case CTRACE__PAT_LIST:
        break;
    default:
        return false; /* `_` and prefixes have no value */
    }
    size_t n = p->u.seq.len;
    struct ctrace_value tail = ctrace_value_list(NULL, 0);
    size_t extra = 0;
    if (p->kind == CTRACE__PAT_LIST && p->u.seq.tail != NULL) {
        if (!eval_term(m, p->u.seq.tail, depth, &tail))
            return false;
        if (tail.kind == CTRACE_VALUE_LIST)
            extra = tail.as.seq.len;
        else if (is_text(&tail))
            extra = tail.as.str.len;
        else
            return false; /* an improper list has no C value */
    }
    size_t room = GUARD_SCRATCH - m->used;
    if (n > room || extra > room - n)
        return false;
    struct ctrace_value *items = &m->scratch[m->used];
    m->used += n + extra;
    for (size_t i = 0; i < n; i++)
        if (!eval_term(m, &p->u.seq.items[i], depth, &items[i]))
            return false;
    for (size_t i = 0; i < extra; i++)
        items[n + i] = tail.kind == CTRACE_VALUE_LIST ? tail.as.seq.items[i]
                                                      : byte_at(&tail, i);
    if (p->kind == CTRACE__PAT_TUPLE)
        *out = ctrace_value_tuple(items, n);
    else
        *out = ctrace_value_list(items, n + extra);
    return true;
}

/* An integer argument in 1..len, as a 0-based index. */
static bool index_arg(const struct ctrace_value *v, size_t len, size_t *index)
{
    struct smint n;
    if (!to_smint(v, &n) || n.neg || n.mag == 0 || n.mag > len)
        return false;
    *index = (size_t)(n.mag - 1);
    return true;
}

/* binary_part(Bin, Start, Len), where a negative Len counts backwards. */
static bool binary_part(const struct ctrace_value *bin,
                        const struct ctrace_value *start,
                        const struct ctrace_value *len,
                        struct ctrace_value *out)
{
    struct smint s, l;
    if (!is_text(bin) || !to_smint(start, &s) || !to_smint(len, &l))
        return false;
    size_t size = bin->as.str.len;
    if ((s.neg && s.mag != 0) || s.mag > size)
        return false;
    if (!l.neg) {
        if (l.mag > size - s.mag)
            return false;
        *out = text_view(bin, (size_t)s.mag, (size_t)l.mag);
    } else {
        if (l.mag > s.mag)
            return false;
        *out = text_view(bin, (size_t)(s.mag - l.mag), (size_t)l.mag);
    }
    return true;
}

static bool eval_call(struct match_ctx *m,
                      const struct ctrace__expr *e,
                      unsigned depth,
                      struct ctrace_value *out)
{
    enum ctrace__gfun fn = e->u.call.fn;
    unsigned nargs = e->u.call.nargs;
    /* The parser checked the arity; a hand-built spec may not have. */
    if ((unsigned)fn >= CTRACE__GF_COUNT__ ||
        nargs != ctrace__gfun_table[fn].arity || nargs > 3)
        return false;
    struct ctrace_value a[3];
    for (unsigned i = 0; i < nargs; i++)
        if (e->u.call.args[i] == NULL ||
            !eval(m, e->u.call.args[i], depth, &a[i]))
            return false;
    const struct ctrace_value *x = &a[0];
    size_t i;
    switch (fn) {
    case CTRACE__GF_IS_INTEGER:
        *out = ctrace_value_bool(is_integer(x));
        return true;
    case CTRACE__GF_IS_FLOAT:
        *out = ctrace_value_bool(x->kind == CTRACE_VALUE_DOUBLE);
        return true;
    case CTRACE__GF_IS_NUMBER:
        *out = ctrace_value_bool(is_number(x));
        return true;
    case CTRACE__GF_IS_ATOM:
        *out = ctrace_value_bool(x->kind == CTRACE_VALUE_SYMBOL ||
                                 x->kind == CTRACE_VALUE_BOOL ||
                                 x->kind == CTRACE_VALUE_NULL);
        return true;
    case CTRACE__GF_IS_BOOLEAN:
        *out = ctrace_value_bool(truth(x) >= 0);
        return true;
    case CTRACE__GF_IS_BINARY:
        *out = ctrace_value_bool(is_text(x));
        return true;
    case CTRACE__GF_IS_LIST:
        *out = ctrace_value_bool(x->kind == CTRACE_VALUE_LIST ||
                                 x->kind == CTRACE_VALUE_STRING);
        return true;
    case CTRACE__GF_IS_TUPLE:
        *out = ctrace_value_bool(x->kind == CTRACE_VALUE_TUPLE);
        return true;
    case CTRACE__GF_ELEMENT:
        if (a[1].kind != CTRACE_VALUE_TUPLE ||
            !index_arg(x, a[1].as.seq.len, &i))
            return false;
        *out = a[1].as.seq.items[i];
        return true;
    case CTRACE__GF_HD:
        if (x->kind == CTRACE_VALUE_LIST && x->as.seq.len > 0)
            *out = x->as.seq.items[0];
        else if (is_text(x) && x->as.str.len > 0)
            *out = byte_at(x, 0);
        else
            return false;
        return true;
    case CTRACE__GF_TL:
        if (x->kind == CTRACE_VALUE_LIST && x->as.seq.len > 0)
            *out = list_view(x, 1, x->as.seq.len - 1);
        else if (is_text(x) && x->as.str.len > 0)
            *out = text_view(x, 1, x->as.str.len - 1);
        else
            return false;
        return true;
    case CTRACE__GF_LENGTH:
        if (x->kind == CTRACE_VALUE_LIST)
            *out = size_value(x->as.seq.len);
        else if (is_text(x))
            *out = size_value(x->as.str.len);
        else
            return false;
        return true;
    case CTRACE__GF_SIZE:
        if (x->kind == CTRACE_VALUE_TUPLE)
            *out = size_value(x->as.seq.len);
        else if (is_text(x))
            *out = size_value(x->as.str.len);
        else
            return false;
        return true;
    case CTRACE__GF_BYTE_SIZE:
        if (!is_text(x))
            return false;
        *out = size_value(x->as.str.len);
        return true;
    case CTRACE__GF_TUPLE_SIZE:
        if (x->kind != CTRACE_VALUE_TUPLE)
            return false;
        *out = size_value(x->as.seq.len);
        return true;
    case CTRACE__GF_BINARY_PART:
        return binary_part(x, &a[1], &a[2], out);
    case CTRACE__GF_ABS:
        return abs_value(x, out);
    case CTRACE__GF_MIN:
        /* Like erlang:min/2, the first of two equal terms wins. */
        *out = ctrace__value_cmp(x, &a[1], false) <= 0 ? *x : a[1];
        return true;
    case CTRACE__GF_MAX:
        *out = ctrace__value_cmp(x, &a[1], false) >= 0 ? *x : a[1];
        return true;
    case CTRACE__GF_TRUNC:
    case CTRACE__GF_ROUND:
        if (is_integer(x)) {
            *out = *x;
            return true;
        }
        if (x->kind != CTRACE_VALUE_DOUBLE)
            return false;
        return fn == CTRACE__GF_TRUNC ? trunc_to_int(x->as.d, out)
                                      : round_to_int(x->as.d, out);
    case CTRACE__GF_FLOAT:
        if (!is_number(x))
            return false;
        *out = ctrace_value_double(to_double(x));
        return true;
    case CTRACE__GF_COUNT__:
        break;
    }
    return false;
}

static bool is_comparison(enum ctrace__op op)
{
    return op <= CTRACE__OP_GE;
}

static bool compare(enum ctrace__op op,
                    const struct ctrace_value *a,
                    const struct ctrace_value *b)
{
    bool exact = op == CTRACE__OP_EXACT_EQ || op == CTRACE__OP_EXACT_NE;
    int c = ctrace__value_cmp(a, b, exact);
    switch (op) {
    case CTRACE__OP_EQ:
    case CTRACE__OP_EXACT_EQ:
        return c == 0;
    case CTRACE__OP_NE:
    case CTRACE__OP_EXACT_NE:
        return c != 0;
    case CTRACE__OP_LT:
        return c < 0;
    case CTRACE__OP_GT:
        return c > 0;
    case CTRACE__OP_LE:
        return c <= 0;
    default:
        return c >= 0;
    }
}

static bool eval_op(struct match_ctx *m,
                    const struct ctrace__expr *e,
                    unsigned depth,
                    struct ctrace_value *out)
{
    enum ctrace__op op = e->u.op.op;
    struct ctrace_value a, b;
    if (e->u.op.lhs == NULL || !eval(m, e->u.op.lhs, depth, &a))
        return false;
    if (op == CTRACE__OP_NOT || op == CTRACE__OP_NEG) {
        if (op == CTRACE__OP_NEG)
            return negate(&a, out);
        int t = truth(&a);
        if (t < 0)
            return false;
        *out = ctrace_value_bool(t == 0);
        return true;
    }
    if (e->u.op.rhs == NULL)
        return false;
    int ta = truth(&a);
    if (op == CTRACE__OP_ANDALSO || op == CTRACE__OP_ORELSE) {
        /*
         * Short-circuit: the left must be a boolean, the right is the
         * result as it is (Erlang does not check it, the caller does).
         */
        if (ta < 0)
            return false;
        if (ta == (op == CTRACE__OP_ORELSE)) {
            *out = ctrace_value_bool(ta == 1);
            return true;
        }
        return eval(m, e->u.op.rhs, depth, out);
    }
    if (!eval(m, e->u.op.rhs, depth, &b))
        return false;
    if (is_comparison(op)) {
        *out = ctrace_value_bool(compare(op, &a, &b));
        return true;
    }
    int tb;
    switch (op) {
    case CTRACE__OP_AND:
    case CTRACE__OP_OR:
    case CTRACE__OP_XOR:
        tb = truth(&b);
        if (ta < 0 || tb < 0)
            return false;
        *out = ctrace_value_bool(op == CTRACE__OP_AND  ? (ta & tb)
                                 : op == CTRACE__OP_OR ? (ta | tb)
                                                       : (ta ^ tb));
        return true;
    default:
        return arith(op, &a, &b, out);
    }
}

/* Evaluates a guard expression into `out`; false means an exception. */
static bool eval(struct match_ctx *m,
                 const struct ctrace__expr *e,
                 unsigned depth,
                 struct ctrace_value *out)
{
    if (++depth > MATCH_MAX_DEPTH)
        return false;
    size_t mark = m->used;
    bool ok;
    switch (e->kind) {
    case CTRACE__EXPR_TERM:
        ok = e->u.term != NULL && eval_term(m, e->u.term, depth, out);
        break;
    case CTRACE__EXPR_OP:
        ok = eval_op(m, e, depth, out);
        break;
    case CTRACE__EXPR_CALL:
        ok = eval_call(m, e, depth, out);
        break;
    default:
        ok = false;
        break;
    }
    /*
     * Only a tuple or list result can point into the scratch space (strings
     * view the arguments or the spec); any other result frees what its
     * subexpressions built.
     */
    if (ok && out->kind != CTRACE_VALUE_TUPLE && out->kind != CTRACE_VALUE_LIST)
        m->used = mark;
    return ok;
}

bool ctrace__spec_match(const struct ctrace__spec *spec,
                        const struct ctrace_value *args,
                        size_t nargs)
{
    if (spec == NULL)
        return false;
    /* Only `bound` needs clearing; the rest is written before it is read. */
    struct match_ctx m;
    memset(m.bound, 0, sizeof(m.bound));
    m.used = 0;
    if (spec->args != NULL) {
        if (nargs != spec->nargs || (nargs > 0 && args == NULL))
            return false;
        for (size_t i = 0; i < nargs; i++)
            if (!match_pat(&m, &spec->args[i], &args[i], 0))
                return false;
    }
    if (spec->guard == NULL)
        return true;
    struct ctrace_value result;
    return eval(&m, spec->guard, 0, &result) && truth(&result) == 1;
}
