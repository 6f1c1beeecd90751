/* SPDX-License-Identifier: MIT */
/*
 * A bounded multi-producer, single-consumer queue of fixed-size slots: the
 * path from traced threads to a session's consumer.
 *
 * Each slot carries a sequence number (D. Vyukov's bounded queue): a
 * producer claims the slot at the tail with one compare-and-swap, writes
 * its record in place and publishes it by storing the slot's sequence with
 * release order; the consumer reads slots in order and hands each back the
 * same way. A producer never waits and never allocates: when the queue is
 * full, reserving fails at once and the caller counts a drop. The buffer is
 * allocated once, when the queue is created on the control thread.
 *
 * Thread-safety: any number of threads may reserve and commit at once; only
 * one thread at a time may peek and release (the session's consumer).
 */
#ifndef CTRACE_CORE_QUEUE_H
#define CTRACE_CORE_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One slot's sequence (queue.c says how it moves). */
struct ctrace__queue_cell {
    atomic_size_t seq;
};

struct ctrace__queue {
    size_t capacity;  /* slots */
    size_t mask;      /* capacity - 1 when that is a power of two, else 0 */
    size_t slot_size; /* bytes of payload in each slot */
    struct ctrace__queue_cell *cells;
    unsigned char *payload;
    /* Producers and the consumer each get a cache line of their own. */
    _Alignas(64) atomic_size_t tail;
    _Alignas(64) atomic_size_t head;
};

/*
 * Allocates room for `capacity` slots (at least 2) of `slot_size` bytes
 * each (rounded up to 16). Returns 0 or CTRACE_ENOMEM / CTRACE_EINVAL.
 * Thread-safety: the queue must not be in use.
 */
int ctrace__queue_init(struct ctrace__queue *q,
                       size_t capacity,
                       size_t slot_size);

/*
 * Bytes ctrace__queue_init() would allocate for these arguments (after its
 * rounding), or SIZE_MAX when that does not fit in a size_t or the
 * arguments are out of range. Lets callers check a memory cap first.
 */
size_t ctrace__queue_bytes(size_t capacity, size_t slot_size);

/* Frees the buffer. Thread-safety: no producer or consumer may be inside. */
void ctrace__queue_destroy(struct ctrace__queue *q);

/* The cell of position `pos`. */
static inline size_t ctrace__queue_cell_of(const struct ctrace__queue *q,
                                           size_t pos)
{
    return q->mask != 0 ? pos & q->mask : pos % q->capacity;
}

/*
 * Claims the next free slot and returns its payload (slot_size bytes), or
 * NULL when the queue is full. The caller fills it and must then call
 * ctrace__queue_commit() with the same pointer; until then the consumer
 * waits at that slot, so fill it without blocking.
 * Thread-safety: any thread.
 */
static inline void *ctrace__queue_reserve(struct ctrace__queue *q)
{
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        size_t index = ctrace__queue_cell_of(q, pos);
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

/* Publishes a slot filled after ctrace__queue_reserve(). */
static inline void ctrace__queue_commit(struct ctrace__queue *q, void *slot)
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

/*
 * Returns the oldest published slot without removing it, or NULL when the
 * next slot is empty or still being filled.
 * Thread-safety: the consumer only.
 */
static inline void *ctrace__queue_peek(struct ctrace__queue *q)
{
    size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    size_t index = ctrace__queue_cell_of(q, pos);
    struct ctrace__queue_cell *cell = &q->cells[index];
    size_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
    if (seq != pos + 1)
        return NULL;
    return q->payload + index * q->slot_size;
}

/* Hands the slot returned by ctrace__queue_peek() back to producers. */
static inline void ctrace__queue_release(struct ctrace__queue *q)
{
    size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    struct ctrace__queue_cell *cell = &q->cells[ctrace__queue_cell_of(q, pos)];
    atomic_store_explicit(&cell->seq, pos + q->capacity, memory_order_release);
    atomic_store_explicit(&q->head, pos + 1, memory_order_relaxed);
}

/* Slots published or being filled but not yet released; approximate. */
size_t ctrace__queue_length(const struct ctrace__queue *q);

/* The capacity: the one asked for, or 2 when that was 1. */
static inline size_t ctrace__queue_capacity(const struct ctrace__queue *q)
{
    return q->capacity;
}

#endif /* CTRACE_CORE_QUEUE_H */
