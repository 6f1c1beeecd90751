/* SPDX-License-Identifier: MIT */
/*
 * The bounded MPSC queue between traced threads and a session's consumer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "base/base.h"
#include "session/queue.h"

struct record {
    unsigned producer;
    unsigned long n;
};

static void push(struct ctrace__queue *q, unsigned producer, unsigned long n)
{
    struct record *r = ctrace__queue_reserve(q);
    assert_non_null(r);
    r->producer = producer;
    r->n = n;
    ctrace__queue_commit(q, r);
}

static void capacity_is_the_one_asked_for(void **state)
{
    struct ctrace__queue q;
    assert_int_equal(ctrace__queue_init(&q, 5, sizeof(struct record)), 0);
    assert_int_equal(ctrace__queue_capacity(&q), 5);
    ctrace__queue_destroy(&q);
    assert_int_equal(ctrace__queue_init(&q, 1, sizeof(struct record)), 0);
    assert_int_equal(ctrace__queue_capacity(&q), 2);
    ctrace__queue_destroy(&q);
    /* 50000 slots of 2600 bytes: no rounding up to 65536. */
    assert_int_equal(ctrace__queue_bytes(50000, 2600),
                     (size_t)50000 * (2608 + sizeof(size_t)));
    assert_int_equal(ctrace__queue_init(&q, 0, 8), CTRACE_EINVAL);
    assert_int_equal(ctrace__queue_init(&q, 4, 0), CTRACE_EINVAL);
}

static void records_come_out_in_the_order_they_went_in(void **state)
{
    struct ctrace__queue q;
    assert_int_equal(ctrace__queue_init(&q, 4, sizeof(struct record)), 0);
    assert_null(ctrace__queue_peek(&q));
    /* Several laps around the ring, so that wrap-around is exercised. */
    for (unsigned long lap = 0; lap < 5; lap++) {
        for (unsigned long i = 0; i < 3; i++)
            push(&q, 0, lap * 10 + i);
        assert_int_equal(ctrace__queue_length(&q), 3);
        for (unsigned long i = 0; i < 3; i++) {
            struct record *r = ctrace__queue_peek(&q);
            assert_non_null(r);
            assert_int_equal(r->n, lap * 10 + i);
            ctrace__queue_release(&q);
        }
        assert_null(ctrace__queue_peek(&q));
    }
    ctrace__queue_destroy(&q);
}

static void reserve_fails_at_once_when_full(void **state)
{
    struct ctrace__queue q;
    assert_int_equal(ctrace__queue_init(&q, 4, sizeof(struct record)), 0);
    for (unsigned long i = 0; i < 4; i++)
        push(&q, 0, i);
    assert_null(ctrace__queue_reserve(&q));
    /* Freeing one slot makes room for exactly one more. */
    assert_non_null(ctrace__queue_peek(&q));
    ctrace__queue_release(&q);
    push(&q, 0, 4);
    assert_null(ctrace__queue_reserve(&q));
    ctrace__queue_destroy(&q);

    /* Not a power of two: full at 3, lap after lap, in order. */
    assert_int_equal(ctrace__queue_init(&q, 3, sizeof(struct record)), 0);
    unsigned long in = 0, out = 0;
    for (int lap = 0; lap < 7; lap++) {
        while (ctrace__queue_length(&q) < 3)
            push(&q, 0, in++);
        assert_null(ctrace__queue_reserve(&q));
        for (int i = 0; i < 2; i++) {
            struct record *r = ctrace__queue_peek(&q);
            assert_non_null(r);
            assert_int_equal(r->n, out++);
            ctrace__queue_release(&q);
        }
    }
    ctrace__queue_destroy(&q);
}

static void unpublished_slot_holds_the_consumer_back(void **state)
{
    struct ctrace__queue q;
    assert_int_equal(ctrace__queue_init(&q, 4, sizeof(struct record)), 0);
    struct record *first = ctrace__queue_reserve(&q);
    assert_non_null(first);
    push(&q, 0, 2);
    /* The second record is published, but order is kept: nothing yet. */
    assert_null(ctrace__queue_peek(&q));
    first->n = 1;
    ctrace__queue_commit(&q, first);
    struct record *r = ctrace__queue_peek(&q);
    assert_non_null(r);
    assert_int_equal(r->n, 1);
    ctrace__queue_release(&q);
    r = ctrace__queue_peek(&q);
    assert_non_null(r);
    assert_int_equal(r->n, 2);
    ctrace__queue_release(&q);
    ctrace__queue_destroy(&q);
}

#define PRODUCERS    4
#define PER_PRODUCER 200000UL

struct stress {
    struct ctrace__queue q;
    unsigned id;
    atomic_ulong dropped;
};

static struct stress stress_state;

static void *producer_main(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    for (unsigned long i = 0; i < PER_PRODUCER; i++) {
        struct record *r = ctrace__queue_reserve(&stress_state.q);
        if (r == NULL) {
            atomic_fetch_add(&stress_state.dropped, 1);
            continue;
        }
        r->producer = id;
        r->n = i;
        ctrace__queue_commit(&stress_state.q, r);
    }
    return NULL;
}

static void
many_producers_keep_their_own_order_and_lose_nothing_silently(void **state)
{
    assert_int_equal(
        ctrace__queue_init(&stress_state.q, 1000, sizeof(struct record)), 0);
    atomic_init(&stress_state.dropped, 0);
    pthread_t threads[PRODUCERS];
    for (unsigned i = 0; i < PRODUCERS; i++)
        assert_int_equal(
            pthread_create(
                &threads[i], NULL, producer_main, (void *)(uintptr_t)i),
            0);
    long next[PRODUCERS] = {0};
    unsigned long received = 0;
    int done = 0;
    bool order_ok = true;
    while (!done) {
        struct record *r = ctrace__queue_peek(&stress_state.q);
        if (r == NULL) {
            /* Check for the end only when the queue looks empty. */
            done = (received + atomic_load(&stress_state.dropped)) ==
                   PRODUCERS * PER_PRODUCER;
            continue;
        }
        if (r->producer >= PRODUCERS || (long)r->n < next[r->producer])
            order_ok = false;
        else
            next[r->producer] = (long)r->n + 1;
        received++;
        ctrace__queue_release(&stress_state.q);
    }
    for (unsigned i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    assert_true(order_ok);
    assert_int_equal(received + atomic_load(&stress_state.dropped),
                     PRODUCERS * PER_PRODUCER);
    assert_null(ctrace__queue_peek(&stress_state.q));
    ctrace__queue_destroy(&stress_state.q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(capacity_is_the_one_asked_for),
        cmocka_unit_test(records_come_out_in_the_order_they_went_in),
        cmocka_unit_test(reserve_fails_at_once_when_full),
        cmocka_unit_test(unpublished_slot_holds_the_consumer_back),
        cmocka_unit_test(
            many_producers_keep_their_own_order_and_lose_nothing_silently),
    };
    return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
