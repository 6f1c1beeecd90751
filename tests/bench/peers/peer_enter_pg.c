/* SPDX-License-Identifier: MIT */
/*
 * enter(cat, town) for uftrace: this file alone is compiled with -pg, so
 * uftrace sees this function's entry (mcount) and nothing else of
 * peer_bench. Built only by tests/bench/compare.sh.
 */
#include <stdint.h>

#include "../proto.h"

uint64_t enter_pg(const char *cat, const char *town);

__attribute__((noinline)) uint64_t enter_pg(const char *cat, const char *town)
{
    return bench_hash(town, bench_hash(cat, BENCH_SEED));
}
