/* SPDX-License-Identifier: MIT */
/*
 * Event timestamps: ticks, their conversion to nanoseconds and wall time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <time.h>

#include "base/clock.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void ticks_never_go_backwards(void **state)
{
    ctrace__clock_init();
    uint64_t prev = ctrace__clock_ticks();
    for (int i = 0; i < 100000; i++) {
        uint64_t now = ctrace__clock_ticks();
        assert_true(now >= prev);
        prev = now;
    }
}

static void ticks_convert_to_the_nanoseconds_that_passed(void **state)
{
    ctrace__clock_init();
    uint64_t ns0 = ctrace__clock_mono_ns();
    uint64_t t0 = ctrace__clock_ticks();
    sleep_ms(50);
    uint64_t t1 = ctrace__clock_ticks();
    uint64_t ns1 = ctrace__clock_mono_ns();
    uint64_t measured = ctrace__clock_ticks_to_ns(t1 - t0);
    uint64_t truth = ns1 - ns0;
    /* Within 2% plus 200 us of scheduling noise between the reads. */
    uint64_t slack = truth / 50 + 200000;
    assert_in_range(measured, truth - slack, truth + slack);
}

static void anchor_gives_wall_time_of_later_ticks(void **state)
{
    ctrace__clock_init();
    struct ctrace__clock_anchor a;
    ctrace__clock_anchor_now(&a);
    sleep_ms(20);
    uint64_t t = ctrace__clock_ticks();
    int64_t wall = ctrace__clock_wall_us();
    int64_t derived = ctrace__clock_ticks_to_wall_us(&a, t);
    assert_true(derived <= wall + 1000 && derived >= wall - 1000);
    /* A tick from before the anchor maps to an earlier time. */
    assert_true(ctrace__clock_ticks_to_wall_us(&a, a.ticks - 1000) <=
                ctrace__clock_ticks_to_wall_us(&a, a.ticks));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ticks_never_go_backwards),
        cmocka_unit_test(ticks_convert_to_the_nanoseconds_that_passed),
        cmocka_unit_test(anchor_gives_wall_time_of_later_ticks),
    };
    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
