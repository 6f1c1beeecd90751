/* SPDX-License-Identifier: MIT */
/*
 * Prototypes of cheaper disabled trace points, measured by ctrace_bench
 * (variants proto_<name>_disabled and, where the prototype can be armed,
 * proto_<name>_match_return) and tests/bench/callgrind.sh. Each function is
 * the benchmark's enter(cat, town) with another shape of the macros; the
 * findings are in docs/performance.md. Nothing here is API: these are
 * bench-local copies of the macros of include/ctrace/point.h, fixed to two
 * arguments, that reuse its descriptor plumbing so that the points register
 * like real ones (module cat_traveler_proto).
 *
 *   enter_ref    CTRACE_CALL + CTRACE_RETURN themselves: the reference.
 *   enter_pm     the same shape, but the slow-path calls go through
 *                register-preserving trampolines, so the compiler keeps
 *                nothing in callee-saved registers for them (clang:
 *                preserve_most; gcc, which has no such convention at call
 *                sites, an asm call that clobbers only flags and vector
 *                registers).
 *   enter_jl     the `on` tests replaced by asm goto jump labels (5-byte
 *                nops a patcher would turn into jumps, as the kernel's
 *                static keys do). Off path only: nothing here patches code,
 *                so these points can never fire.
 *   enter_jlpm   both.
 *   enter_pml    enter_pm, and C strings are passed with their length
 *                left for the library to measure, so the slow path makes
 *                no strlen() call.
 *   enter_pmlc   enter_pml, and the `on` test written as one cmpl with a
 *                memory operand and one jne (asm goto; nothing patched).
 *   enter_jlpml  enter_jlpm with the strings of enter_pml: the floor
 *                these techniques reach together (off path only).
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ctrace/point.h"
#include "proto.h"

#define PROTO_POINT(fun, a, b)                                              \
    static const char *const proto__names[] = {#a, #b};                     \
    static const enum ctrace_value_kind proto__kinds[] = {CTRACE__KIND(a),  \
                                                          CTRACE__KIND(b)}; \
    static struct ctrace_point proto__pt = CTRACE__POINT_INIT(              \
        cat_traveler_proto, fun, 2, proto__names, proto__kinds, 0);         \
    CTRACE__POINT_REF(proto__ref, proto__pt)

#define PROTO_ON(pt) \
    CTRACE__UNLIKELY(atomic_load_explicit(&(pt).on, memory_order_relaxed))

/* ---- Register-preserving trampolines (x86-64). ---- */

/*
 * The C side of the trampolines: plain calls into the library. (A real
 * implementation in point.c would also pass the trampoline's return
 * address down, for `stack` and `caller`.)
 */
__attribute__((visibility("hidden"), used)) void
proto_enter_c(struct ctrace_point *pt,
              struct ctrace__frame *frame,
              size_t nargs,
              const struct ctrace_value *args);
__attribute__((visibility("hidden"), used)) void
proto_return_c(struct ctrace__frame *frame, const struct ctrace_value *v);
__attribute__((visibility("hidden"), used)) void
proto_exit_c(struct ctrace__frame *frame);

/*
 * Strings whose length the trace point left for the library to measure
 * (PROTO_ARG below): the slow path then makes no call of its own but the
 * trampoline's, so nothing needs to live in a callee-saved register.
 */
#define PROTO_LEN_UNKNOWN SIZE_MAX

static void measure_strings(struct ctrace_value *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].kind == CTRACE_VALUE_STRING &&
            v[i].as.str.len == PROTO_LEN_UNKNOWN)
            v[i].as.str.len = strlen(v[i].as.str.ptr);
}

void proto_enter_c(struct ctrace_point *pt,
                   struct ctrace__frame *frame,
                   size_t nargs,
                   const struct ctrace_value *args)
{
    struct ctrace_value v[CTRACE_POINT_ARGS_MAX];
    if (nargs > CTRACE_POINT_ARGS_MAX)
        nargs = CTRACE_POINT_ARGS_MAX;
    memcpy(v, args, nargs * sizeof(*v));
    measure_strings(v, nargs);
    ctrace__enter(pt, frame, nargs, v);
}

void proto_return_c(struct ctrace__frame *frame, const struct ctrace_value *v)
{
    struct ctrace_value copy = *v;
    measure_strings(&copy, 1);
    ctrace__return(frame, copy);
}

void proto_exit_c(struct ctrace__frame *frame)
{
    ctrace__exit(frame);
}

#if defined(__x86_64__)
/*
 * name: saves every general-purpose register (flags and vector registers
 * are the caller's business), aligns the stack, calls `target` with the
 * argument registers as they came, restores, returns. `skip` is how far
 * below its stack pointer the caller moved before the call (128 to step
 * over the red zone of the asm call site); the CFI accounts for it, so an
 * unwinder going through the trampoline finds the caller's frame as its
 * own CFI describes it.
 */
#define PROTO_TRAMPOLINE(name, target, skip, skip8, skip16) \
    __asm__(".text\n"                                       \
            ".globl " #name "\n"                            \
            ".hidden " #name "\n"                           \
            ".type " #name ",@function\n"                   \
            ".p2align 4\n" #name ":\n"                      \
            ".cfi_startproc simple\n"                       \
            ".cfi_def_cfa %rsp, " #skip8 "\n"               \
            ".cfi_offset %rip, -" #skip8 "\n"               \
            "push %rbp\n"                                   \
            ".cfi_adjust_cfa_offset 8\n"                    \
            ".cfi_offset %rbp, -" #skip16 "\n"              \
            "mov %rsp, %rbp\n"                              \
            ".cfi_def_cfa_register %rbp\n"                  \
            "push %rax\n"                                   \
            "push %rcx\n"                                   \
            "push %rdx\n"                                   \
            "push %rsi\n"                                   \
            "push %rdi\n"                                   \
            "push %r8\n"                                    \
            "push %r9\n"                                    \
            "push %r10\n"                                   \
            "push %r11\n"                                   \
            "and $-16, %rsp\n"                              \
            "call " #target "\n"                            \
            "lea -72(%rbp), %rsp\n"                         \
            "pop %r11\n"                                    \
            "pop %r10\n"                                    \
            "pop %r9\n"                                     \
            "pop %r8\n"                                     \
            "pop %rdi\n"                                    \
            "pop %rsi\n"                                    \
            "pop %rdx\n"                                    \
            "pop %rcx\n"                                    \
            "pop %rax\n"                                    \
            "pop %rbp\n"                                    \
            ".cfi_def_cfa %rsp, " #skip8 "\n"               \
            "ret\n"                                         \
            ".cfi_endproc\n"                                \
            ".size " #name ", .-" #name "\n")

PROTO_TRAMPOLINE(proto_enter_pm, proto_enter_c, 0, 8, 16);
PROTO_TRAMPOLINE(proto_return_pm, proto_return_c, 0, 8, 16);
PROTO_TRAMPOLINE(proto_exit_pm, proto_exit_c, 0, 8, 16);
PROTO_TRAMPOLINE(proto_enter_pmrz, proto_enter_c, 128, 136, 144);
PROTO_TRAMPOLINE(proto_return_pmrz, proto_return_c, 128, 136, 144);
PROTO_TRAMPOLINE(proto_exit_pmrz, proto_exit_c, 128, 136, 144);
#endif

#if defined(__x86_64__) && defined(__clang__)
/* clang: an ordinary call, under a convention that keeps the GPRs. */
#define PROTO_PM __attribute__((preserve_most, cold))
PROTO_PM void proto_enter_pm(struct ctrace_point *pt,
                             struct ctrace__frame *frame,
                             size_t nargs,
                             const struct ctrace_value *args);
PROTO_PM void proto_return_pm(struct ctrace__frame *frame,
                              const struct ctrace_value *v);
PROTO_PM void proto_exit_pm(struct ctrace__frame *frame);
#define PM_ENTER(pt, f, n, av) proto_enter_pm((pt), (f), (n), (av))
#define PM_RET(f, v)           proto_return_pm((f), (v))
#define PM_EXIT(f)             proto_exit_pm(f)
#elif defined(__x86_64__)
/*
 * gcc: it honours no_caller_saved_registers in the callee only, so the
 * call is written in asm, stepping over the red zone, clobbering what the
 * trampoline does not save.
 */
#define PROTO_VEC_CLOBBERS                                                    \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",   \
        "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st",   \
        "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "mm0", \
        "mm1", "mm2", "mm3", "mm4", "mm5", "mm6", "mm7"
#define PROTO_ASM_CALL(fn) \
    "lea -128(%%rsp), %%rsp\n\tcall " #fn "\n\tlea 128(%%rsp), %%rsp"
#define PM_ENTER(pt, f, n, av)                                        \
    __asm__ __volatile__(PROTO_ASM_CALL(proto_enter_pmrz)             \
                         :                                            \
                         : "D"(pt), "S"(f), "d"((size_t)(n)), "c"(av) \
                         : "memory", "cc", PROTO_VEC_CLOBBERS)
#define PM_RET(f, v)                                       \
    __asm__ __volatile__(PROTO_ASM_CALL(proto_return_pmrz) \
                         :                                 \
                         : "D"(f), "S"(v)                  \
                         : "memory", "cc", PROTO_VEC_CLOBBERS)
#define PM_EXIT(f)                                       \
    __asm__ __volatile__(PROTO_ASM_CALL(proto_exit_pmrz) \
                         :                               \
                         : "D"(f)                        \
                         : "memory", "cc", PROTO_VEC_CLOBBERS)
#else
#define PM_ENTER(pt, f, n, av) proto_enter_c((pt), (f), (n), (av))
#define PM_RET(f, v)           proto_return_c((f), (v))
#define PM_EXIT(f)             proto_exit_c(f)
#endif

static inline void pm_frame_cleanup(struct ctrace__frame *frame)
{
    if (CTRACE__UNLIKELY(frame->active))
        PM_EXIT(frame);
}

/* ---- Jump labels: a 5-byte nop that a patcher would make a jmp. ---- */

#if defined(__x86_64__)
#define JL_BRANCH(label) \
    __asm__ goto(".byte 0x0f, 0x1f, 0x44, 0x00, 0x00" : : : : label)
#else
#define JL_BRANCH(label)
#endif

/*
 * CTRACE_ARG, except that C strings keep their length unknown: no strlen()
 * call at the trace point.
 */
static inline struct ctrace_value proto_value_cstr(const char *s)
{
    struct ctrace_value v = {CTRACE_VALUE_NULL, {0}};
    if (s != NULL) {
        v.kind = CTRACE_VALUE_STRING;
        v.as.str.ptr = s;
        v.as.str.len = PROTO_LEN_UNKNOWN;
    }
    return v;
}

static inline struct ctrace_value proto_value_str(char *s)
{
    return proto_value_cstr(s);
}

#define PROTO_ARG(x) \
    _Generic((x), char *: proto_value_str(                                  \
                 _Generic((x), char *: (x), default: (char *)0)),            \
                 const char *: proto_value_cstr(                             \
                     _Generic((x), const char *: (x), default: (char *)0)), \
                 default: CTRACE_ARG(x))

/*
 * The `on` test as one compare with a memory operand and one jump (the
 * compilers load an atomic into a register, then test it: one more
 * instruction). A relaxed load on x86 is a plain load, so this is the
 * same test.
 */
#if defined(__x86_64__)
#define PROTO_IF_ON(pt, label)                      \
    __asm__ goto("cmpl $0, %0\n\tjne %l1"           \
                 :                                  \
                 : "m"(*(const uint32_t *)&(pt).on) \
                 : "cc"                             \
                 : label)
#else
#define PROTO_IF_ON(pt, label) \
    if (PROTO_ON(pt))          \
    goto label
#endif

/* ---- The functions. ---- */

#define WORK(cat, town) bench_hash(town, bench_hash(cat, BENCH_SEED))

uint64_t enter_ref(const char *cat, const char *town)
{
    CTRACE_CALL(cat_traveler_proto, enter_ref, cat, town);
    CTRACE_RETURN(WORK(cat, town));
}

uint64_t enter_pm(const char *cat, const char *town)
{
    PROTO_POINT(enter_pm, cat, town);
    struct ctrace__frame ctrace__frame CTRACE__CLEANUP(pm_frame_cleanup);
    ctrace__frame.active = 0;
    if (PROTO_ON(proto__pt)) {
        const struct ctrace_value av[] = {CTRACE_ARG(cat), CTRACE_ARG(town)};
        PM_ENTER(&proto__pt, &ctrace__frame, 2, av);
    }
    uint64_t rv = WORK(cat, town);
    if (CTRACE__UNLIKELY(ctrace__frame.active)) {
        const struct ctrace_value v = CTRACE_ARG(rv);
        PM_RET(&ctrace__frame, &v);
        ctrace__frame.active = 0;
    }
    return rv;
}

static inline void jl_frame_cleanup(struct ctrace__frame *frame)
{
    JL_BRANCH(on);
    return;
on:
    if (frame->active)
        ctrace__exit(frame);
}

uint64_t enter_jl(const char *cat, const char *town)
{
    PROTO_POINT(enter_jl, cat, town);
    struct ctrace__frame ctrace__frame CTRACE__CLEANUP(jl_frame_cleanup);
    ctrace__frame.active = 0;
    JL_BRANCH(on_entry);
    if (0) {
    on_entry:;
        const struct ctrace_value av[] = {CTRACE_ARG(cat), CTRACE_ARG(town)};
        ctrace__enter(&proto__pt, &ctrace__frame, 2, av);
    }
    uint64_t rv = WORK(cat, town);
    JL_BRANCH(on_return);
    if (0) {
    on_return:
        if (ctrace__frame.active) {
            ctrace__return(&ctrace__frame, CTRACE_ARG(rv));
            ctrace__frame.active = 0;
        }
    }
    return rv;
}

static inline void jlpm_frame_cleanup(struct ctrace__frame *frame)
{
    JL_BRANCH(on);
    return;
on:
    if (frame->active)
        PM_EXIT(frame);
}

uint64_t enter_jlpm(const char *cat, const char *town)
{
    PROTO_POINT(enter_jlpm, cat, town);
    struct ctrace__frame ctrace__frame CTRACE__CLEANUP(jlpm_frame_cleanup);
    ctrace__frame.active = 0;
    JL_BRANCH(on_entry);
    if (0) {
    on_entry:;
        const struct ctrace_value av[] = {CTRACE_ARG(cat), CTRACE_ARG(town)};
        PM_ENTER(&proto__pt, &ctrace__frame, 2, av);
    }
    uint64_t rv = WORK(cat, town);
    JL_BRANCH(on_return);
    if (0) {
    on_return:
        if (ctrace__frame.active) {
            const struct ctrace_value v = CTRACE_ARG(rv);
            PM_RET(&ctrace__frame, &v);
            ctrace__frame.active = 0;
        }
    }
    return rv;
}

uint64_t enter_pml(const char *cat, const char *town)
{
    PROTO_POINT(enter_pml, cat, town);
    struct ctrace__frame ctrace__frame CTRACE__CLEANUP(pm_frame_cleanup);
    ctrace__frame.active = 0;
    if (PROTO_ON(proto__pt)) {
        const struct ctrace_value av[] = {PROTO_ARG(cat), PROTO_ARG(town)};
        PM_ENTER(&proto__pt, &ctrace__frame, 2, av);
    }
    uint64_t rv = WORK(cat, town);
    if (CTRACE__UNLIKELY(ctrace__frame.active)) {
        const struct ctrace_value v = PROTO_ARG(rv);
        PM_RET(&ctrace__frame, &v);
        ctrace__frame.active = 0;
    }
    return rv;
}

uint64_t enter_pmlc(const char *cat, const char *town)
{
    PROTO_POINT(enter_pmlc, cat, town);
    struct ctrace__frame ctrace__frame CTRACE__CLEANUP(pm_frame_cleanup);
    ctrace__frame.active = 0;
    PROTO_IF_ON(proto__pt, on_entry);
    if (0) {
    on_entry:;
        const struct ctrace_value av[] = {PROTO_ARG(cat), PROTO_ARG(town)};
        PM_ENTER(&proto__pt, &ctrace__frame, 2, av);
    }
    uint64_t rv = WORK(cat, town);
    if (CTRACE__UNLIKELY(ctrace__frame.active)) {
        const struct ctrace_value v = PROTO_ARG(rv);
        PM_RET(&ctrace__frame, &v);
        ctrace__frame.active = 0;
    }
    return rv;
}

uint64_t enter_jlpml(const char *cat, const char *town)
{
    PROTO_POINT(enter_jlpml, cat, town);
    struct ctrace__frame ctrace__frame CTRACE__CLEANUP(jlpm_frame_cleanup);
    ctrace__frame.active = 0;
    JL_BRANCH(on_entry);
    if (0) {
    on_entry:;
        const struct ctrace_value av[] = {PROTO_ARG(cat), PROTO_ARG(town)};
        PM_ENTER(&proto__pt, &ctrace__frame, 2, av);
    }
    uint64_t rv = WORK(cat, town);
    JL_BRANCH(on_return);
    if (0) {
    on_return:
        if (ctrace__frame.active) {
            const struct ctrace_value v = PROTO_ARG(rv);
            PM_RET(&ctrace__frame, &v);
            ctrace__frame.active = 0;
        }
    }
    return rv;
}

/*
 * enter_r2: CTRACE_CALL as it is, and a CTRACE_RETURN whose slow path
 * returns from inside its own block: the value crosses the call there
 * only, so the fast path need not keep it in a callee-saved register.
 */
uint64_t enter_r2(const char *cat, const char *town)
{
    CTRACE_CALL(cat_traveler_proto, enter_r2, cat, town);
    uint64_t rv = WORK(cat, town);
    if (CTRACE__UNLIKELY(ctrace__frame.active)) {
        uint64_t saved = rv;
        ctrace__return(&ctrace__frame, CTRACE_ARG(saved));
        ctrace__frame.active = 0;
        return saved;
    }
    return rv;
}
