/* SPDX-License-Identifier: MIT */
/*
 * The flat form of a spec (pattern.h, struct ctrace__flat): its argument
 * patterns reduced to checks a traced thread can make on the raw values in
 * place, and whether those checks decide the match alone. Computed once,
 * when the spec is parsed; ctrace__spec_flat_match() (inline, pattern.h)
 * runs them. tests/unit/test_match.c holds the flat answer to the full
 * matcher's for every spec and value pair it tries.
 */
#include <stdint.h>
#include <string.h>

#include "pattern/pattern.h"

/* How often variable `var` appears among the top-level argument patterns. */
static unsigned var_uses(const struct ctrace__spec *spec, unsigned var)
{
    unsigned n = 0;
    for (size_t i = 0; i < spec->nargs; i++) {
        const struct ctrace__pat *p = &spec->args[i];
        if (p->kind == CTRACE__PAT_VAR && p->u.var == var)
            n++;
        else if (p->kind == CTRACE__PAT_PREFIX && p->u.prefix.tail != NULL &&
                 p->u.prefix.tail->kind == CTRACE__PAT_VAR &&
                 p->u.prefix.tail->u.var == var)
            n++;
    }
    return n;
}

/* A pattern that takes anything and binds nothing another one reads. */
static bool is_free(const struct ctrace__spec *spec,
                    const struct ctrace__pat *p)
{
    return p == NULL || p->kind == CTRACE__PAT_ANY ||
           (p->kind == CTRACE__PAT_VAR && var_uses(spec, p->u.var) == 1);
}

/*
 * The flat check for literal `lit` at argument `arg`, or false when the
 * literal is not one the flat form knows (a double: =:= on numbers is the
 * full matcher's).
 */
static bool flat_literal(const struct ctrace_value *lit,
                         unsigned arg,
                         struct ctrace__flat_check *c)
{
    c->arg = (uint8_t)arg;
    c->len = 0;
    switch (lit->kind) {
    case CTRACE_VALUE_STRING:
    case CTRACE_VALUE_BYTES:
        c->op = CTRACE__FLAT_BYTES;
        c->lit.bytes = lit->as.str.ptr;
        c->len = lit->as.str.len;
        return true;
    case CTRACE_VALUE_SYMBOL:
        c->op = CTRACE__FLAT_ATOM;
        c->lit.bytes = lit->as.str.ptr;
        c->len = lit->as.str.len;
        return true;
    case CTRACE_VALUE_INT:
        c->op = CTRACE__FLAT_INT;
        c->lit.i = lit->as.i;
        return true;
    case CTRACE_VALUE_UINT:
        if (lit->as.u <= INT64_MAX) {
            c->op = CTRACE__FLAT_INT;
            c->lit.i = (int64_t)lit->as.u;
        } else {
            c->op = CTRACE__FLAT_UINT;
            c->lit.u = lit->as.u;
        }
        return true;
    default:
        return false;
    }
}

void ctrace__spec_flatten(struct ctrace__spec *spec)
{
    struct ctrace__flat *f = &spec->flat;
    memset(f, 0, sizeof(*f));
    f->nargs = spec->args != NULL ? (int)spec->nargs : -1;
    bool decides = spec->guard == NULL && spec->nargs <= UINT8_MAX + 1u;
    for (size_t i = 0; spec->args != NULL && i < spec->nargs; i++) {
        const struct ctrace__pat *p = &spec->args[i];
        struct ctrace__flat_check c;
        bool flat = false;
        if (i <= UINT8_MAX && p->kind == CTRACE__PAT_LIT) {
            flat = flat_literal(&p->u.lit, (unsigned)i, &c);
        } else if (i <= UINT8_MAX && p->kind == CTRACE__PAT_PREFIX) {
            c.op = CTRACE__FLAT_PREFIX;
            c.arg = (uint8_t)i;
            c.lit.bytes = p->u.prefix.ptr;
            c.len = p->u.prefix.len;
            flat = true;
            if (!is_free(spec, p->u.prefix.tail))
                decides = false;
        } else if (!is_free(spec, p)) {
            decides = false;
            continue;
        } else {
            continue;
        }
        if (!flat || f->nchecks == CTRACE__FLAT_MAX) {
            decides = false;
            continue;
        }
        f->checks[f->nchecks++] = c;
    }
    f->decides = decides;
    f->always = decides && f->nargs < 0;
}
