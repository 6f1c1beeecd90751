/* SPDX-License-Identifier: MIT */
/*
 * The library's one allocator: every allocation of ctrace goes through
 * ctrace__malloc(), ctrace__calloc(), ctrace__realloc(), ctrace__strdup()
 * or ctrace__strndup(), and every release through ctrace__free(), so that a
 * test can make the Nth allocation from now fail and check that each path
 * fails cleanly (CTRACE_ENOMEM or a documented degraded result), leaks
 * nothing and leaves the library usable (tests/unit/test_alloc.c).
 *
 * The failure countdown is one atomic counter: -1 (the default) means never
 * fail; N >= 0 means N more allocations succeed and the next one fails,
 * after which the countdown is off again. Only one allocation fails per
 * arming, whichever thread makes it: a consumer thread's allocation can be
 * the one, which is how a test reaches the consumer's paths too.
 * Releases never fail and are not counted.
 *
 * Allocations that other libraries make for us (jansson, libmicrohttpd,
 * libdw) do not come here, except jansson's when a test routes them with
 * json_set_alloc_funcs(); ctrace never calls that itself, since jansson's
 * allocator is the whole program's.
 *
 * Thread-safety: every function here may be called from any thread.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static _Atomic long countdown = -1;
static atomic_ulong failures;

/* Whether this allocation is the one that fails. */
static bool fail_now(void)
{
    long n = atomic_load_explicit(&countdown, memory_order_relaxed);
    while (n >= 0) {
        long next = n == 0 ? -1 : n - 1;
        if (atomic_compare_exchange_weak_explicit(&countdown,
                                                  &n,
                                                  next,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
            if (n == 0) {
                atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
                return true;
            }
            return false;
        }
    }
    return false;
}

void *ctrace__malloc(size_t n)
{
    return fail_now() ? NULL : malloc(n);
}

void *ctrace__calloc(size_t count, size_t size)
{
    return fail_now() ? NULL : calloc(count, size);
}

void *ctrace__realloc(void *p, size_t n)
{
    return fail_now() ? NULL : realloc(p, n);
}

void *ctrace__aligned_alloc(size_t alignment, size_t n)
{
    return fail_now() ? NULL : aligned_alloc(alignment, n);
}

char *ctrace__strdup(const char *s)
{
    return fail_now() ? NULL : strdup(s);
}

char *ctrace__strndup(const char *s, size_t n)
{
    return fail_now() ? NULL : strndup(s, n);
}

void ctrace__free(void *p)
{
    free(p);
}

void ctrace__alloc_fail_after(long n)
{
    atomic_store(&countdown, n < 0 ? -1 : n);
}

unsigned long ctrace__alloc_failures(void)
{
    return atomic_load(&failures);
}
