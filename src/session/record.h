/* SPDX-License-Identifier: MIT */
/*
 * Event records: what a traced thread writes into a queue slot.
 *
 * A slot is one header, a pool of value structs and a pool of bytes. The
 * traced thread copies the raw argument values into the pools (strings and
 * bytes up to the session's max_msg_size, containers up to its depth) and
 * returns; everything else (timestamps in wall time, process labels,
 * symbolized stacks, text) is done by the consumer. Pointers inside a
 * record point into the same slot, which does not move while the consumer
 * reads it.
 *
 * What is cut is cut one step past the limits, so that the renderer, which
 * applies the same limits, prints its `...` marker where data was dropped.
 * Symbols are the exception: kept whole, or replaced by the cut marker.
 *
 * Thread-safety: a record belongs to whoever reserved its slot, then to the
 * consumer; nothing here locks.
 */
#ifndef CTRACE_CORE_RECORD_H
#define CTRACE_CORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "ctrace/session.h"
#include "ctrace/value.h"

struct ctrace_point;

/* Most return addresses kept for `stack` and `caller`. */
#define CTRACE__STACK_MAX 32
/*
 * Longest symbol copied: symbols are names and are never cut to
 * max_msg_size, since a cut name reads as another name (`leave` as `lea`).
 * Erlang's atoms are at most 255 characters too.
 */
#define CTRACE__SYMBOL_MAX 255
/* A symbol that cannot be kept whole points to ctrace__cut_mark (base.h). */
/* Deepest nesting copied when the session sets no print_depth. */
#define CTRACE__RECORD_DEPTH 8

/* Limits of one record, fixed per session. */
struct ctrace__record_layout {
    size_t nvalues;    /* value structs per slot */
    size_t nbytes;     /* payload bytes per slot */
    size_t max_bytes;  /* bytes kept of one string (max_msg_size) */
    unsigned depth;    /* nesting kept */
    size_t dump_bytes; /* room for `dump`'s text after the bytes; 0: none */
    size_t slot_size;  /* total, for the queue */
};

struct ctrace__record {
    enum ctrace_event_kind kind;
    uint32_t nargs;     /* CALL: arguments at values[0..nargs) */
    uint32_t has_value; /* RETURN: values[0] is the result; SEND/RECEIVE:
                           values[0] is the message */
    uint32_t stack_len;
    uint32_t actions; /* enum ctrace__action bits that applied */
    uint64_t ticks;
    uint64_t duration_ticks;
    uint64_t pid;
    uint64_t peer_pid;
    /* The process's label when the event happened (interned, never freed:
       proc.c), or NULL: then it is looked up when printed. */
    const char *label;
    const struct ctrace_point *point;
    void *stack[CTRACE__STACK_MAX];
    /* values[nvalues] then bytes[nbytes] follow. */
};

/*
 * Computes the layout for a session's limits: strings of up to max_msg_size
 * bytes, `depth` levels (0 = CTRACE__RECORD_DEPTH), and the largest arity
 * among the points it armed.
 */
void ctrace__record_layout_init(struct ctrace__record_layout *l,
                                size_t max_msg_size,
                                unsigned depth,
                                unsigned max_arity);

/* The value pool of a record. */
static inline struct ctrace_value *
ctrace__record_values(struct ctrace__record *r)
{
    return (struct ctrace_value *)(r + 1);
}

/* The room for `dump`'s text (layout.dump_bytes bytes), after the pools. */
static inline char *ctrace__record_dump(const struct ctrace__record_layout *l,
                                        struct ctrace__record *r)
{
    return (char *)(ctrace__record_values(r) + l->nvalues) + l->nbytes;
}

/*
 * Copies `n` values into the record's pools at values[0..n): scalars as
 * they are, strings and bytes into the byte pool, containers level by level
 * without recursion; an unmeasured C string (CTRACE__LEN_LAZY) is read up to
 * its NUL or one byte past max_bytes, a NULL one stored as null. Never
 * allocates; never writes past the layout.
 */
void ctrace__record_copy(const struct ctrace__record_layout *l,
                         struct ctrace__record *r,
                         const struct ctrace_value *v,
                         size_t n);

/*
 * ctrace__record_copy() of one value, for returns and messages: a scalar,
 * which owns no memory elsewhere, is stored as it is, without the call.
 */
static inline void
ctrace__record_copy_one(const struct ctrace__record_layout *l,
                        struct ctrace__record *r,
                        const struct ctrace_value *v)
{
    switch (v->kind) {
    case CTRACE_VALUE_NULL:
    case CTRACE_VALUE_INT:
    case CTRACE_VALUE_UINT:
    case CTRACE_VALUE_DOUBLE:
    case CTRACE_VALUE_BOOL:
    case CTRACE_VALUE_POINTER:
    case CTRACE_VALUE_PID:
        ctrace__record_values(r)[0] = *v;
        return;
    default:
        ctrace__record_copy(l, r, v, 1);
    }
}

#endif /* CTRACE_CORE_RECORD_H */
