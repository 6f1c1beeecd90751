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
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "session/queue.h"

struct ctrace__queue_cell {
    atomic_size_t seq;
};

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

/* The cell of position `pos`. */
static inline size_t cell_of(const struct ctrace__queue *q, size_t pos)
{
    return q->mask != 0 ? pos & q->mask : pos % q->capacity;
}

void *ctrace__queue_reserve(struct ctrace__queue *q)
{
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        size_t index = cell_of(q, pos);
        struct ctrace__queue_cell *cell = &q->cells[index];
        size_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->tail,
                                                      &pos,
                                                      pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed))
                return q->payload + index * q->slot_size;
            /* pos now holds the tail another producer moved; try it. */
        } else if (diff < 0) {
            return NULL;
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
}

void ctrace__queue_commit(struct ctrace__queue *q, void *slot)
{
    size_t index = (size_t)((unsigned char *)slot - q->payload) / q->slot_size;
    struct ctrace__queue_cell *cell = &q->cells[index];
    /*
     * The cell's sequence is still the position the producer claimed it
     * at (nobody else touches it until it is published), so the position
     * need not be carried from reserve to commit.
     */
    size_t pos = atomic_load_explicit(&cell->seq, memory_order_relaxed);
    atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
}

void *ctrace__queue_peek(struct ctrace__queue *q)
{
    size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    size_t index = cell_of(q, pos);
    struct ctrace__queue_cell *cell = &q->cells[index];
    size_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
    if (seq != pos + 1)
        return NULL;
    return q->payload + index * q->slot_size;
}

void ctrace__queue_release(struct ctrace__queue *q)
{
    size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    struct ctrace__queue_cell *cell = &q->cells[cell_of(q, pos)];
    atomic_store_explicit(&cell->seq, pos + q->capacity, memory_order_release);
    atomic_store_explicit(&q->head, pos + 1, memory_order_relaxed);
}

size_t ctrace__queue_length(const struct ctrace__queue *q)
{
    size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    return tail >= head ? tail - head : 0;
}
