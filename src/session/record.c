/* SPDX-License-Identifier: MIT */
/*
 * Copying argument values into event records on traced threads. Strings
 * the trace-point macros passed unmeasured (CTRACE__LEN_LAZY) are measured
 * here, with the bound of what is kept.
 */
#include <string.h>

#include "base/base.h"
#include "session/record.h"

void ctrace__record_layout_init(struct ctrace__record_layout *l,
                                size_t max_msg_size,
                                unsigned depth,
                                unsigned max_arity)
{
    if (max_msg_size == 0)
        max_msg_size = 256;
    l->max_bytes = max_msg_size;
    l->depth = depth != 0 ? depth : CTRACE__RECORD_DEPTH;
    /*
     * Room for every argument plus a modest amount of nesting, and for a few
     * full-length strings; a call that needs more gets cut, visibly.
     */
    l->nvalues = (size_t)max_arity + 1 + 48;
    size_t nbytes = (max_msg_size + 4) * 4;
    if (nbytes < 256)
        nbytes = 256;
    if (nbytes > 64 * 1024)
        nbytes = 64 * 1024;
    l->nbytes = nbytes;
    l->dump_bytes = 0;
    l->slot_size = sizeof(struct ctrace__record) +
                   l->nvalues * sizeof(struct ctrace_value) + l->nbytes;
}

struct pools {
    struct ctrace_value *values;
    size_t nvalues, used_values;
    char *bytes;
    size_t nbytes, used_bytes;
};

/*
 * Moves the characters of a string or bytes value into the byte pool. One
 * byte more than max_bytes is kept when the source is longer, so the
 * renderer sees it is over the limit and prints `...`. When the pool itself
 * runs out the copy ends in "..." to show the cut all the same.
 */
static void copy_bytes(const struct ctrace__record_layout *l,
                       struct pools *p,
                       struct ctrace_value *v)
{
    size_t want = v->as.str.len;
    if (ctrace__value_lazy(v)) {
        if (v->as.str.ptr == NULL) {
            *v = ctrace_value_null();
            return;
        }
        want = strnlen(v->as.str.ptr, l->max_bytes + 1);
    }
    if (want > l->max_bytes)
        want = l->max_bytes + 1;
    size_t room = p->nbytes - p->used_bytes;
    char *dst = p->bytes + p->used_bytes;
    if (want <= room) {
        if (want > 0)
            memcpy(dst, v->as.str.ptr, want);
    } else if (room >= 3) {
        memcpy(dst, v->as.str.ptr, room - 3);
        memcpy(dst + room - 3, "...", 3);
        want = room;
    } else {
        want = 0;
    }
    v->as.str.ptr = dst;
    v->as.str.len = want;
    p->used_bytes += want;
}

/* A symbol is kept whole or not at all (record.h). */
static void copy_symbol(struct pools *p, struct ctrace_value *v)
{
    size_t len = v->as.str.len;
    if (len > CTRACE__SYMBOL_MAX || len > p->nbytes - p->used_bytes) {
        v->as.str.ptr = ctrace__cut_mark;
        v->as.str.len = 3;
        return;
    }
    char *dst = p->bytes + p->used_bytes;
    if (len > 0)
        memcpy(dst, v->as.str.ptr, len);
    v->as.str.ptr = dst;
    p->used_bytes += len;
}

void ctrace__record_copy(const struct ctrace__record_layout *l,
                         struct ctrace__record *r,
                         const struct ctrace_value *v,
                         size_t n)
{
    struct pools p = {
        .values = ctrace__record_values(r),
        .nvalues = l->nvalues,
        .bytes = (char *)(ctrace__record_values(r) + l->nvalues),
        .nbytes = l->nbytes,
    };
    if (n > p.nvalues)
        n = p.nvalues;

    /*
     * The first level in one pass: scalars by assignment, strings and
     * bytes (tested first: most arguments are) into the byte pool, symbols
     * whole or cut. Most calls have no container, and then this is all.
     */
    bool nested = false;
    const size_t max_bytes = l->max_bytes;
    char *bytes = p.bytes;
    size_t room = p.nbytes;
    for (size_t i = 0; i < n; i++) {
        struct ctrace_value *x = &p.values[i];
        *x = v[i];
        enum ctrace_value_kind kind = x->kind;
        if (CTRACE__LIKELY(kind == CTRACE_VALUE_STRING ||
                           kind == CTRACE_VALUE_BYTES)) {
            size_t want = x->as.str.len;
            if (want == CTRACE__LEN_LAZY && kind == CTRACE_VALUE_STRING) {
                /*
                 * A C string the macros left unmeasured: measured here, as
                 * far as it is kept, and only here for most calls.
                 */
                if (CTRACE__UNLIKELY(x->as.str.ptr == NULL)) {
                    *x = ctrace_value_null();
                    continue;
                }
                want = strnlen(x->as.str.ptr, max_bytes + 1);
                x->as.str.len = want;
            }
            if (want > max_bytes)
                want = max_bytes + 1;
            if (CTRACE__UNLIKELY(want > room)) {
                p.used_bytes = (size_t)(bytes - p.bytes);
                copy_bytes(l, &p, x); /* the pool runs out: cut, marked */
                bytes = p.bytes + p.used_bytes;
                room = p.nbytes - p.used_bytes;
                continue;
            }
            /* (NULL, 0) is a valid empty value: copies nothing. */
            ctrace__copy_small(bytes, x->as.str.ptr, want);
            x->as.str.ptr = bytes;
            x->as.str.len = want;
            bytes += want;
            room -= want;
        } else if (kind == CTRACE_VALUE_SYMBOL) {
            p.used_bytes = (size_t)(bytes - p.bytes);
            copy_symbol(&p, x);
            bytes = p.bytes + p.used_bytes;
            room = p.nbytes - p.used_bytes;
        } else if (kind == CTRACE_VALUE_TUPLE || kind == CTRACE_VALUE_LIST) {
            nested = true;
        }
    }
    p.used_bytes = (size_t)(bytes - p.bytes);
    p.used_values = n;
    if (!nested)
        return;

    /*
     * Containers, breadth first over the pool itself: values[i] for i
     * below `end` are at the current level; their children are appended
     * after `end` and form the next level. Each value is visited once, so
     * the work is bounded by the pool size, and nothing recurses. The
     * first level's strings are already in the byte pool.
     */
    size_t begin = 0, end = n;
    for (unsigned level = 1; begin < end; level++) {
        for (size_t i = begin; i < end; i++) {
            struct ctrace_value *x = &p.values[i];
            switch (x->kind) {
            case CTRACE_VALUE_STRING:
            case CTRACE_VALUE_BYTES:
                if (level > 1)
                    copy_bytes(l, &p, x);
                break;
            case CTRACE_VALUE_SYMBOL:
                if (level > 1)
                    copy_symbol(&p, x);
                break;
            case CTRACE_VALUE_TUPLE:
            case CTRACE_VALUE_LIST: {
                size_t len = x->as.seq.len;
                if (level > l->depth) {
                    /*
                     * One level past the depth limit only needs to exist so
                     * the renderer prints `...`: keep the container, empty.
                     */
                    len = 0;
                } else if (len > l->max_bytes) {
                    len = l->max_bytes + 1;
                }
                if (len > p.nvalues - p.used_values)
                    len = p.nvalues - p.used_values;
                struct ctrace_value *items = p.values + p.used_values;
                if (len > 0)
                    memcpy(items, x->as.seq.items, len * sizeof(*items));
                x->as.seq.items = items;
                x->as.seq.len = len;
                p.used_values += len;
                break;
            }
            default:
                break;
            }
        }
        begin = end;
        end = p.used_values;
    }
}
