/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the synchronisation plumbing of base/sync.c: the one
 * fork() handler runs every part's steps in the lock order (prepare by
 * rank, parent and child in reverse), and monotonic condition variables
 * time out by CLOCK_MONOTONIC.
 *
 * This executable uses no other part of the library, so the only steps
 * registered are the test's own.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"

/* What the steps ran, in order: 'p' + rank, 'a' + rank, 'c' + rank. */
static char trail[32];
static size_t trail_len;

static void note(char c)
{
    if (trail_len + 1 < sizeof(trail))
        trail[trail_len++] = c;
    trail[trail_len] = '\0';
}

#define STEPS(r)                                         \
    static void prepare_##r(void)                        \
    {                                                    \
        note((char)('0' + (r)));                         \
    }                                                    \
    static void parent_##r(void)                         \
    {                                                    \
        note((char)('a' + (r)));                         \
    }                                                    \
    static void child_##r(void)                          \
    {                                                    \
        note((char)('A' + (r)));                         \
    }                                                    \
    static const struct ctrace__fork_steps steps_##r = { \
        .prepare = prepare_##r, .parent = parent_##r, .child = child_##r}

STEPS(0);
STEPS(1);
STEPS(2);

static void fork_runs_steps_in_lock_order_and_releases_in_reverse(void **state)
{
    (void)state;
    /* Registered out of rank order: the rank decides, not the order. */
    ctrace__fork_register(CTRACE__FORK_PROCS, &steps_2);
    ctrace__fork_register(CTRACE__FORK_SESSIONS, &steps_0);
    ctrace__fork_register(CTRACE__FORK_SERVERS, &steps_1);
    trail_len = 0;
    trail[0] = '\0';
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child's trail: the prepare steps, then its own. */
        ssize_t n = write(pipefd[1], trail, trail_len);
        _exit(n == (ssize_t)trail_len ? 0 : 1);
    }
    close(pipefd[1]);
    char child[32] = "";
    ssize_t n = read(pipefd[0], child, sizeof(child) - 1);
    close(pipefd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(n > 0);
    child[n] = '\0';
    assert_string_equal(trail, "012cba");
    assert_string_equal(child, "012CBA");
}

static void registering_a_rank_again_replaces_its_steps(void **state)
{
    (void)state;
    ctrace__fork_register(CTRACE__FORK_PROCS, &steps_0);
    ctrace__fork_register(CTRACE__FORK_SESSIONS, &steps_2);
    ctrace__fork_register(CTRACE__FORK_SERVERS, &steps_1);
    trail_len = 0;
    trail[0] = '\0';
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* Rank order with the new steps: sessions (2), servers (1), procs (0). */
    assert_string_equal(trail, "210abc");
}

static void monotonic_condition_times_out_by_the_monotonic_clock(void **state)
{
    (void)state;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    ctrace__cond_init_monotonic(&c);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 20 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&m);
    int rc = 0;
    while (rc == 0)
        rc = pthread_cond_timedwait(&c, &m, &until);
    pthread_mutex_unlock(&m);
    assert_int_equal(rc, ETIMEDOUT);
    /*
     * A deadline on the monotonic clock is decades in the past for the
     * wall clock: had the condition used CLOCK_REALTIME, the wait would
     * have ended at once, before the deadline.
     */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    assert_true(now.tv_sec > until.tv_sec ||
                (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec));
    pthread_cond_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fork_runs_steps_in_lock_order_and_releases_in_reverse),
        cmocka_unit_test(registering_a_rank_again_replaces_its_steps),
        cmocka_unit_test(monotonic_condition_times_out_by_the_monotonic_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
