/* SPDX-License-Identifier: MIT */
/*
 * The bounded MPSC queue of queue.h.
 *
 * Cell i starts with sequence i. A producer at tail position p may take
 * cell p mod capacity when its sequence equals p; it advances the tail with
 * a compare-and-swap, writes, and stores sequence p + 1 (release) to
 * publish. The consumer at head position h reads cell h mod capacity when
 * its sequence is h + 1 (acquire), and frees it by storing h + capacity,
 * the position at which a producer one lap later may take it. A sequence
 * below p means the consumer has not freed the cell yet: the queue is full.
 *
 * The capacity is the one asked for, not rounded up to a power of two: a
 * slot is a few KiB, and rounding 50000 up to 65536 cost 31% more memory.
 * A power of two still gets the mask instead of the division.
 *
 * Reserving, committing, peeking and releasing are inline, in queue.h:
 * each runs once per event, and a call was a fifth of their cost.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "session/queue.h"

int ctrace__queue_init(struct ctrace__queue *q,
                       size_t capacity,
                       size_t slot_size)
{
    if (capacity == 0 || capacity > ((size_t)1 << 30) || slot_size == 0)
        return CTRACE_EINVAL;
    size_t cap = capacity < 2 ? 2 : capacity;
    /* Keep every payload slot aligned for any record type. */
    slot_size = (slot_size + 15) & ~(size_t)15;
    if (slot_size > SIZE_MAX / cap)
        return CTRACE_EINVAL;
    q->cells = ctrace__malloc(cap * sizeof(*q->cells));
    q->payload =
        ctrace__aligned_alloc(64, ((cap * slot_size) + 63) & ~(size_t)63);
    if (q->cells == NULL || q->payload == NULL) {
        ctrace__free(q->cells);
        ctrace__free(q->payload);
        q->cells = NULL;
        q->payload = NULL;
        return CTRACE_ENOMEM;
    }
    q->capacity = cap;
    q->mask = (cap & (cap - 1)) == 0 ? cap - 1 : 0;
    q->slot_size = slot_size;
    for (size_t i = 0; i < cap; i++)
        atomic_init(&q->cells[i].seq, i);
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    return 0;
}

size_t ctrace__queue_bytes(size_t capacity, size_t slot_size)
{
    if (capacity == 0 || capacity > ((size_t)1 << 30) || slot_size == 0 ||
        slot_size > SIZE_MAX / 2)
        return SIZE_MAX;
    size_t cap = capacity < 2 ? 2 : capacity;
    slot_size = (slot_size + 15) & ~(size_t)15;
    if (slot_size + sizeof(struct ctrace__queue_cell) > SIZE_MAX / cap)
        return SIZE_MAX;
    return cap * (slot_size + sizeof(struct ctrace__queue_cell));
}

void ctrace__queue_destroy(struct ctrace__queue *q)
{
    ctrace__free(q->cells);
    ctrace__free(q->payload);
    q->cells = NULL;
    q->payload = NULL;
}

size_t ctrace__queue_length(const struct ctrace__queue *q)
{
    size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    return tail >= head ? tail - head : 0;
}
