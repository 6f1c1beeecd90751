/* SPDX-License-Identifier: MIT */
/*
 * Erlang's term order, extended to C values (the contract is in internal.h).
 * Patterns and guards compare with it on traced threads, so it allocates
 * nothing, takes no lock and never recurses: nested tuples and lists are
 * walked with a fixed-size stack of frames on the C stack.
 *
 * Decisions the contract leaves open:
 * - Integers compare exactly whatever their C kinds: int64 against uint64
 *   with no conversion, and integers against doubles without rounding the
 *   integer to a double, so 2^53 + 1 is greater than 2^53 as a double.
 * - NaN equals itself and sorts after every other number (also infinity),
 *   which keeps the order total. 0.0 and -0.0 are equal, also with `exact`.
 * - Atoms compare by their names as byte strings: BOOL true is the atom
 *   `true`, NULL is the atom `null`, so SYMBOL "true" equals BOOL true.
 * - Pointers compare by address.
 * - Values nested deeper than CMP_MAX_DEPTH tuples or lists are not looked
 *   at: those subtrees count as equal and the comparison goes on with their
 *   siblings. Deeper values are rare and this keeps the stack bounded.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"

/* Deepest tuple or list nesting compared; deeper subtrees count as equal. */
#define CMP_MAX_DEPTH 256

/* The classes of the term order, lowest first. */
enum cmp_class {
    CLASS_NUMBER = 0,
    CLASS_ATOM,
    CLASS_POINTER,
    CLASS_PID, /* Erlang's order: after references and ports, before tuples */
    CLASS_TUPLE,
    CLASS_LIST,
    CLASS_BINARY
};

static enum cmp_class class_of(const struct ctrace_value *v)
{
    switch (v->kind) {
    case CTRACE_VALUE_INT:
    case CTRACE_VALUE_UINT:
    case CTRACE_VALUE_DOUBLE:
        return CLASS_NUMBER;
    case CTRACE_VALUE_POINTER:
        return CLASS_POINTER;
    case CTRACE_VALUE_PID:
        return CLASS_PID;
    case CTRACE_VALUE_TUPLE:
        return CLASS_TUPLE;
    case CTRACE_VALUE_LIST:
        return CLASS_LIST;
    case CTRACE_VALUE_STRING:
    case CTRACE_VALUE_BYTES:
        return CLASS_BINARY;
    case CTRACE_VALUE_NULL:
    case CTRACE_VALUE_BOOL:
    case CTRACE_VALUE_SYMBOL:
    default:
        /* An unknown kind (a newer ABI) sorts with the atoms, by name "". */
        return CLASS_ATOM;
    }
}

static int sign_of_size(size_t a, size_t b)
{
    return (a > b) - (a < b);
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    if (n > 0) {
        int c = memcmp(a, b, n);
        if (c != 0)
            return c < 0 ? -1 : 1;
    }
    return sign_of_size(alen, blen);
}

/* The name of an atom-like value; "" for kinds this file does not know. */
static void atom_name(const struct ctrace_value *v, const char **p, size_t *n)
{
    switch (v->kind) {
    case CTRACE_VALUE_SYMBOL:
        *p = v->as.str.ptr;
        *n = v->as.str.len;
        return;
    case CTRACE_VALUE_BOOL:
        *p = v->as.b ? "true" : "false";
        *n = v->as.b ? 4 : 5;
        return;
    case CTRACE_VALUE_NULL:
        *p = "null";
        *n = 4;
        return;
    default:
        *p = "";
        *n = 0;
        return;
    }
}

/* 2^63 and 2^64 as doubles; both are exact. */
#define TWO_63 9223372036854775808.0
#define TWO_64 18446744073709551616.0

/* Compares an int64 with a double that is not NaN, exactly. */
static int int_double_cmp(int64_t i, double d)
{
    if (d >= TWO_63)
        return -1;
    if (d < -TWO_63)
        return 1;
    /* Here -2^63 <= d < 2^63, so truncating it fits an int64 exactly. */
    int64_t t = (int64_t)d;
    if (i != t)
        return i < t ? -1 : 1;
    /* The fraction of a double is exact: d and t share their high bits. */
    double frac = d - (double)t;
    return (frac < 0) - (frac > 0);
}

/* Compares a uint64 with a double that is not NaN, exactly. */
static int uint_double_cmp(uint64_t u, double d)
{
    if (d >= TWO_64)
        return -1;
    if (d < 0)
        return 1;
    uint64_t t = (uint64_t)d;
    if (u != t)
        return u < t ? -1 : 1;
    double frac = d - (double)t;
    return (frac < 0) - (frac > 0);
}

static int number_cmp(const struct ctrace_value *a,
                      const struct ctrace_value *b,
                      bool exact)
{
    enum ctrace_value_kind ka = a->kind, kb = b->kind;
    if (ka == CTRACE_VALUE_DOUBLE && kb == CTRACE_VALUE_DOUBLE) {
        double x = a->as.d, y = b->as.d;
        int nx = isnan(x) != 0, ny = isnan(y) != 0;
        if (nx || ny)
            return nx - ny;
        return (x > y) - (x < y);
    }
    if (ka == CTRACE_VALUE_DOUBLE || kb == CTRACE_VALUE_DOUBLE) {
        /* One integer, one double: put the double on the right. */
        bool swapped = ka == CTRACE_VALUE_DOUBLE;
        const struct ctrace_value *iv = swapped ? b : a;
        double d = swapped ? a->as.d : b->as.d;
        int c;
        if (isnan(d))
            c = -1;
        else if (iv->kind == CTRACE_VALUE_INT)
            c = int_double_cmp(iv->as.i, d);
        else
            c = uint_double_cmp(iv->as.u, d);
        /* Under =:= an integer never equals a double; it sorts first. */
        if (c == 0 && exact)
            c = -1;
        return swapped ? -c : c;
    }
    /* Two integers, each int64 or uint64. */
    if (ka == CTRACE_VALUE_INT && kb == CTRACE_VALUE_INT)
        return (a->as.i > b->as.i) - (a->as.i < b->as.i);
    if (ka == CTRACE_VALUE_UINT && kb == CTRACE_VALUE_UINT)
        return (a->as.u > b->as.u) - (a->as.u < b->as.u);
    if (ka == CTRACE_VALUE_INT) {
        if (a->as.i < 0)
            return -1;
        uint64_t x = (uint64_t)a->as.i;
        return (x > b->as.u) - (x < b->as.u);
    }
    if (b->as.i < 0)
        return 1;
    uint64_t y = (uint64_t)b->as.i;
    return (a->as.u > y) - (a->as.u < y);
}

/*
 * Compares two values without descending into tuples or lists: their kinds
 * and, for tuples, their sizes. Returns the order of the two, or 0 when
 * they are equal so far (for tuples and lists, when the elements decide).
 */
static int shallow_cmp(const struct ctrace_value *a,
                       const struct ctrace_value *b,
                       bool exact)
{
    enum cmp_class ca = class_of(a), cb = class_of(b);
    if (ca != cb)
        return ca < cb ? -1 : 1;
    switch (ca) {
    case CLASS_NUMBER:
        return number_cmp(a, b, exact);
    case CLASS_ATOM: {
        const char *pa, *pb;
        size_t na, nb;
        atom_name(a, &pa, &na);
        atom_name(b, &pb, &nb);
        return bytes_cmp(pa, na, pb, nb);
    }
    case CLASS_POINTER: {
        uintptr_t x = (uintptr_t)a->as.ptr, y = (uintptr_t)b->as.ptr;
        return (x > y) - (x < y);
    }
    case CLASS_PID:
        return (a->as.u > b->as.u) - (a->as.u < b->as.u);
    case CLASS_TUPLE:
        return sign_of_size(a->as.seq.len, b->as.seq.len);
    case CLASS_LIST:
        return 0;
    case CLASS_BINARY:
    default:
        return bytes_cmp(
            a->as.str.ptr, a->as.str.len, b->as.str.ptr, b->as.str.len);
    }
}

/* One tuple or list pair being walked: next element `i` of both. */
struct cmp_frame {
    const struct ctrace_value *a;
    const struct ctrace_value *b;
    size_t i;
};

static bool is_seq(const struct ctrace_value *v)
{
    return v->kind == CTRACE_VALUE_TUPLE || v->kind == CTRACE_VALUE_LIST;
}

/*
 * Walks two tuples or two lists that are equal so far, depth first. Kept
 * out of ctrace__value_cmp() so that comparing scalars, the common case,
 * stays small.
 */
static int
seq_cmp(const struct ctrace_value *a, const struct ctrace_value *b, bool exact)
{
    int c;
    struct cmp_frame stack[CMP_MAX_DEPTH];
    size_t depth = 0;
    stack[depth++] = (struct cmp_frame){a, b, 0};
    while (depth > 0) {
        struct cmp_frame *f = &stack[depth - 1];
        size_t alen = f->a->as.seq.len, blen = f->b->as.seq.len;
        size_t n = alen < blen ? alen : blen;
        if (f->i == n) {
            /* Tuples have equal sizes here; a shorter list sorts first. */
            c = sign_of_size(alen, blen);
            if (c != 0)
                return c;
            depth--;
            continue;
        }
        const struct ctrace_value *x = &f->a->as.seq.items[f->i];
        const struct ctrace_value *y = &f->b->as.seq.items[f->i];
        f->i++;
        c = shallow_cmp(x, y, exact);
        if (c != 0)
            return c;
        if (is_seq(x) && depth < CMP_MAX_DEPTH)
            stack[depth++] = (struct cmp_frame){x, y, 0};
    }
    return 0;
}

int ctrace__value_cmp(const struct ctrace_value *a,
                      const struct ctrace_value *b,
                      bool exact)
{
    int c = shallow_cmp(a, b, exact);
    if (c != 0 || !is_seq(a))
        return c;
    return seq_cmp(a, b, exact);
}
