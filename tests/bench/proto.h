/* SPDX-License-Identifier: MIT */
/*
 * What bench.c shares with proto.c: the work of the function under test,
 * and the list of prototype functions (other shapes of the trace-point
 * macros, defined in proto.c) that ctrace_bench can run as variants.
 */
#ifndef CTRACE_BENCH_PROTO_H
#define CTRACE_BENCH_PROTO_H

#include <stdint.h>

/* FNV-1a, 64 bits: a byte loop as small as a real lookup key's hash. */
static inline uint64_t bench_hash(const char *s, uint64_t h)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

#define BENCH_SEED UINT64_C(0xcbf29ce484222325)

/*
 * X(name, armable): each prototype is `uint64_t name(cat, town)` with a
 * trace point cat_traveler_proto:name/2. `armable` is 1 when the prototype
 * can also be switched on by a session (ctrace_bench then offers
 * proto_<name>_match_return), 0 when only its off path exists.
 */
#define PROTO_FUNCTIONS(X) \
    X(enter_ref, 1)        \
    X(enter_pm, 1)         \
    X(enter_jl, 0)         \
    X(enter_jlpm, 0)       \
    X(enter_pml, 1)        \
    X(enter_pmlc, 1)       \
    X(enter_jlpml, 0)      \
    X(enter_r2, 1)

#define PROTO_DECLARE(name, armable) \
    uint64_t name(const char *cat, const char *town);
PROTO_FUNCTIONS(PROTO_DECLARE)
#undef PROTO_DECLARE

#endif /* CTRACE_BENCH_PROTO_H */
