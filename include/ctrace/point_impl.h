/* SPDX-License-Identifier: MIT */
/*
 * The plumbing of the trace-point macros: argument conversion, counting,
 * name checks, the frame, the entry points the macros call, module
 * registration, and the enabled and compiled-out expansions. Include
 * ctrace/point.h, not this file: point.h states what each macro does and
 * costs; this file is how. Names here start with ctrace__ / CTRACE__ and are
 * not API: they may change in any release.
 */
#ifndef CTRACE_POINT_IMPL_H
#define CTRACE_POINT_IMPL_H

#ifndef CTRACE_POINT_H
#error "include ctrace/point.h rather than ctrace/point_impl.h"
#endif

/*
 * Value conversions that value.h does not offer under the exact parameter
 * type: converting here, explicitly, keeps -Wconversion and
 * -Wdouble-promotion quiet in users' code.
 */
static inline struct ctrace_value ctrace__value_self(struct ctrace_value v)
{
    return v;
}

static inline struct ctrace_value ctrace__value_float(float f)
{
    return ctrace_value_double((double)f);
}

static inline struct ctrace_value ctrace__value_long_double(long double d)
{
    return ctrace_value_double((double)d);
}

/* The tables below read better laid out by hand. */
/* clang-format off */
#define CTRACE__ARG_IMPL(x)                                                         \
    _Generic((x),                                                             \
        _Bool: ctrace_value_bool,                                             \
        char: ctrace_value_int,                                               \
        signed char: ctrace_value_int,                                        \
        unsigned char: ctrace_value_uint,                                     \
        short: ctrace_value_int,                                              \
        unsigned short: ctrace_value_uint,                                    \
        int: ctrace_value_int,                                                \
        unsigned int: ctrace_value_uint,                                      \
        long: ctrace_value_int,                                               \
        unsigned long: ctrace_value_uint,                                     \
        long long: ctrace_value_int,                                          \
        unsigned long long: ctrace_value_uint,                                \
        float: ctrace__value_float,                                           \
        double: ctrace_value_double,                                          \
        long double: ctrace__value_long_double,                               \
        char *: ctrace_value_string,                                          \
        const char *: ctrace_value_string,                                    \
        struct ctrace_value: ctrace__value_self,                              \
        default: ctrace_value_pointer)(x)

/*
 * The kind CTRACE__ARG_IMPL(x) produces, as an integer constant expression: the
 * controlling expression of _Generic is never evaluated, so this may name
 * function parameters inside a static initializer.
 */
#define CTRACE__KIND(x)                                                       \
    _Generic((x),                                                             \
        _Bool: CTRACE_VALUE_BOOL,                                             \
        char: CTRACE_VALUE_INT,                                               \
        signed char: CTRACE_VALUE_INT,                                        \
        unsigned char: CTRACE_VALUE_UINT,                                     \
        short: CTRACE_VALUE_INT,                                              \
        unsigned short: CTRACE_VALUE_UINT,                                    \
        int: CTRACE_VALUE_INT,                                                \
        unsigned int: CTRACE_VALUE_UINT,                                      \
        long: CTRACE_VALUE_INT,                                               \
        unsigned long: CTRACE_VALUE_UINT,                                     \
        long long: CTRACE_VALUE_INT,                                          \
        unsigned long long: CTRACE_VALUE_UINT,                                \
        float: CTRACE_VALUE_DOUBLE,                                           \
        double: CTRACE_VALUE_DOUBLE,                                          \
        long double: CTRACE_VALUE_DOUBLE,                                     \
        char *: CTRACE_VALUE_STRING,                                          \
        const char *: CTRACE_VALUE_STRING,                                    \
        struct ctrace_value: CTRACE_VALUE_NULL,                               \
        default: CTRACE_VALUE_POINTER)

/*
 * Preprocessor plumbing. The macros take everything as `...` and count it,
 * because C11 forbids an empty variadic part: CTRACE_CALL(m, f) could not
 * be written with a `(mod, fun, ...)` signature under -Wpedantic. The count
 * (module and function included, so at least 2) becomes an arity 0..10, or
 * BAD, which turns into a _Static_assert that names the limit.
 */
#define CTRACE__STR(x) #x
#define CTRACE__CAT(a, b) CTRACE__CAT_(a, b)
#define CTRACE__CAT_(a, b) a##b

#define CTRACE__NARG(...)                                                     \
    CTRACE__NARG_(__VA_ARGS__, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14,    \
                  13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define CTRACE__NARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12,      \
                      _13, _14, _15, _16, _17, _18, _19, _20, _21, _22, _23,  \
                      _24, n, ...) n
#define CTRACE__ARITY(...)                                                    \
    CTRACE__CAT(CTRACE__ARITY_, CTRACE__NARG(__VA_ARGS__))
#define CTRACE__ARITY_1 BAD
#define CTRACE__ARITY_2 0
#define CTRACE__ARITY_3 1
#define CTRACE__ARITY_4 2
#define CTRACE__ARITY_5 3
#define CTRACE__ARITY_6 4
#define CTRACE__ARITY_7 5
#define CTRACE__ARITY_8 6
#define CTRACE__ARITY_9 7
#define CTRACE__ARITY_10 8
#define CTRACE__ARITY_11 9
#define CTRACE__ARITY_12 10
#define CTRACE__ARITY_13 BAD
#define CTRACE__ARITY_14 BAD
#define CTRACE__ARITY_15 BAD
#define CTRACE__ARITY_16 BAD
#define CTRACE__ARITY_17 BAD
#define CTRACE__ARITY_18 BAD
#define CTRACE__ARITY_19 BAD
#define CTRACE__ARITY_20 BAD
#define CTRACE__ARITY_21 BAD
#define CTRACE__ARITY_22 BAD
#define CTRACE__ARITY_23 BAD
#define CTRACE__ARITY_24 BAD

/* Which expansion an arity takes: no arguments, some, or a count error. */
#define CTRACE__SHAPE(n) CTRACE__CAT(CTRACE__SHAPE_, n)
#define CTRACE__SHAPE_0 NOARGS
#define CTRACE__SHAPE_1 ARGS
#define CTRACE__SHAPE_2 ARGS
#define CTRACE__SHAPE_3 ARGS
#define CTRACE__SHAPE_4 ARGS
#define CTRACE__SHAPE_5 ARGS
#define CTRACE__SHAPE_6 ARGS
#define CTRACE__SHAPE_7 ARGS
#define CTRACE__SHAPE_8 ARGS
#define CTRACE__SHAPE_9 ARGS
#define CTRACE__SHAPE_10 ARGS
#define CTRACE__SHAPE_BAD BAD

/* m(a1), m(a2), ..., m(an) */
#define CTRACE__LIST(n, m, ...) CTRACE__CAT(CTRACE__LIST_, n)(m, __VA_ARGS__)
#define CTRACE__LIST_1(m, a) m(a)
#define CTRACE__LIST_2(m, a, b) m(a), m(b)
#define CTRACE__LIST_3(m, a, b, c) m(a), m(b), m(c)
#define CTRACE__LIST_4(m, a, b, c, d) m(a), m(b), m(c), m(d)
#define CTRACE__LIST_5(m, a, b, c, d, e) m(a), m(b), m(c), m(d), m(e)
#define CTRACE__LIST_6(m, a, b, c, d, e, f)                                   \
    m(a), m(b), m(c), m(d), m(e), m(f)
#define CTRACE__LIST_7(m, a, b, c, d, e, f, g)                                \
    m(a), m(b), m(c), m(d), m(e), m(f), m(g)
#define CTRACE__LIST_8(m, a, b, c, d, e, f, g, h)                             \
    m(a), m(b), m(c), m(d), m(e), m(f), m(g), m(h)
#define CTRACE__LIST_9(m, a, b, c, d, e, f, g, h, i)                          \
    m(a), m(b), m(c), m(d), m(e), m(f), m(g), m(h), m(i)
#define CTRACE__LIST_10(m, a, b, c, d, e, f, g, h, i, j)                      \
    m(a), m(b), m(c), m(d), m(e), m(f), m(g), m(h), m(i), m(j)
/* clang-format on */

/*
 * Names are stringified identifiers, so a name longer than the registry
 * keeps, or an empty one, is refused at compile time rather than cut. The
 * token paste in CTRACE__IDENTIFIER is an error for anything that is not
 * one token ("cat", cat traveler), so a quoted name cannot slip through
 * with its quotes as part of the name.
 */
#define CTRACE__IDENTIFIER(x) CTRACE__STR(ctrace__identifier_##x)
#define CTRACE__NAME_CHECKS(macro, mod, fun)                                 \
    _Static_assert(sizeof(CTRACE__IDENTIFIER(mod)) &&                        \
                       sizeof(CTRACE__IDENTIFIER(fun)),                      \
                   macro ": module and function must be identifiers");       \
    _Static_assert(sizeof(#mod) > 1 &&                                       \
                       sizeof(#mod) <= CTRACE_POINT_NAME_MAX + 1,            \
                   macro ": the module name must have 1 to 127 characters"); \
    _Static_assert(sizeof(#fun) > 1 &&                                       \
                       sizeof(#fun) <= CTRACE_POINT_NAME_MAX + 1,            \
                   macro ": the function name must have 1 to 127 characters")

#define CTRACE__ARITY_ERROR(macro)                                     \
    _Static_assert(0,                                                  \
                   macro " takes a module, a function and at most 10 " \
                         "arguments")

#ifndef CTRACE_DISABLE

#if !defined(__GNUC__)
#error \
    "ctrace trace points need gcc or clang; define CTRACE_DISABLE to compile them out"
#endif

/*
 * GNU C, wrapped. -Wpedantic accepts the double-underscore spellings, and
 * keeping them behind CTRACE__ names leaves one place to adapt.
 * CTRACE__UNLIKELY is spelled exactly as in src/internal.h, so that both
 * definitions may meet in one translation unit.
 */
#ifndef CTRACE__UNLIKELY
#define CTRACE__UNLIKELY(x) __builtin_expect(!!(x), 0)
#endif
#define CTRACE__TYPEOF(x)   __typeof__(x)
#define CTRACE__CLEANUP(fn) __attribute__((cleanup(fn)))
#define CTRACE__UNUSED      __attribute__((unused))
#define CTRACE__COLD        __attribute__((cold))
#define CTRACE__CONSTRUCTOR __attribute__((constructor))
#define CTRACE__DESTRUCTOR  __attribute__((destructor))
#define CTRACE__HIDDEN_WEAK __attribute__((weak, visibility("hidden")))
/*
 * `used` keeps the compiler from dropping a pointer nothing refers to;
 * `retain` (where the toolchain has it) keeps the linker from dropping the
 * section under --gc-sections with linkers that do not treat a
 * __start_/__stop_ reference as a root (lld, `ld -z start-stop-gc`).
 */
#if defined(__has_attribute)
#if __has_attribute(retain)
#define CTRACE__IN_POINTS_SECTION \
    __attribute__((used, retain, section("ctrace_points")))
#endif
#endif
#ifndef CTRACE__IN_POINTS_SECTION
#define CTRACE__IN_POINTS_SECTION \
    __attribute__((used, section("ctrace_points")))
#endif

/*
 * Where the engine gets control. Frames live on the traced function's stack;
 * only `active` is touched while the point is off (set to 0), and the engine
 * owns the rest once ctrace__enter() runs.
 * ABI: the caller allocates this, so its size is frozen; `engine` is the
 * engine's room for per-call state.
 */
struct ctrace__frame {
    int active; /* non-zero: the engine wants this call's return */
    uint32_t reserved;
    struct ctrace_point *point;
    uint64_t start_ns;
    uintptr_t engine[4];
};

/*
 * The entry points the macros call when a point is on (src/core/point.c),
 * and the registration calls of the module constructors below
 * (src/core/registry.c). Exported by libctrace because code inlined into
 * users' modules calls them, but not API. The first four are marked cold,
 * so the compiler moves their call sites out of the hot path's code.
 * Thread-safety: any thread; the registration calls take the registry lock.
 */
CTRACE_API CTRACE__COLD void ctrace__enter(struct ctrace_point *point,
                                           struct ctrace__frame *frame,
                                           size_t nargs,
                                           const struct ctrace_value *args);
CTRACE_API CTRACE__COLD void ctrace__return(struct ctrace__frame *frame,
                                            struct ctrace_value value);
CTRACE_API CTRACE__COLD void ctrace__exit(struct ctrace__frame *frame);
CTRACE_API CTRACE__COLD void ctrace__event(struct ctrace_point *point,
                                           size_t nargs,
                                           const struct ctrace_value *args);
CTRACE_API void ctrace__register_module(struct ctrace_point *const *start,
                                        struct ctrace_point *const *stop);
CTRACE_API void ctrace__unregister_module(struct ctrace_point *const *start,
                                          struct ctrace_point *const *stop);

/*
 * Register-preserving entry points (x86-64 ELF, gcc and clang; define
 * CTRACE_NO_TRAMPOLINES to use the plain calls above instead). A plain call
 * on the slow path makes the compiler keep whatever lives across it in
 * callee-saved registers, and save those on the fast path too: that was most
 * of a disabled point's cost. Instead the macros call small asm trampolines
 * that save every general-purpose register, align the stack and call
 * ctrace__enter_lazy(), ctrace__return_lazy() or ctrace__exit(). The call
 * is an asm statement that first steps over the red zone (128 bytes), takes
 * its operands in %rax, %r10 and %r11 (registers that hold no argument of
 * the traced function) and clobbers only flags, vector and x87 registers,
 * so the traced function keeps its values where they are. The trampolines'
 * CFI describes the 128-byte step, so unwinding through them (`stack`,
 * `caller`) lands on the traced function's frame as its own CFI expects.
 * ctrace__enter_lazy() also gets the trampoline's return address, the one
 * into the traced function, where a captured stack starts.
 *
 * The trampolines are emitted by every translation unit that includes this
 * header, as hidden, weak functions in COMDAT sections: each module (the
 * program, each shared object) keeps one copy and calls it directly. Not
 * through the PLT: lazy binding does not preserve %r10 and %r11.
 *
 * Lazy strings: with the trampolines, a C string argument or return value is
 * passed with the length CTRACE__LEN_LAZY, and the library measures it
 * where it reads it, with the bound it reads to: a call a pattern rejects
 * and a string cut to max_msg_size never cost a whole strlen().
 */
#if !defined(CTRACE_NO_TRAMPOLINES) && defined(__x86_64__) && defined(__ELF__)
#define CTRACE__TRAMPOLINES 1
#else
#define CTRACE__TRAMPOLINES 0
#endif

/* CTRACE__LEN_LAZY, the length of a string not yet measured: value.h. */

/*
 * The C sides of the trampolines. ctrace__enter_lazy() is ctrace__enter()
 * with point->arity arguments and `ra`, the return address into the traced
 * function, given rather than taken; strings of length CTRACE__LEN_LAZY
 * stay unmeasured until the library reads them.
 * Thread-safety: any thread.
 */
CTRACE_API CTRACE__COLD void ctrace__enter_lazy(struct ctrace_point *point,
                                                struct ctrace__frame *frame,
                                                const struct ctrace_value *args,
                                                uintptr_t ra);
/*
 * ctrace__enter_lazy() for a call the entry trampoline's filter passed.
 */
CTRACE_API CTRACE__COLD void
ctrace__enter_checked(struct ctrace_point *point,
                      struct ctrace__frame *frame,
                      const struct ctrace_value *args,
                      uintptr_t ra);
CTRACE_API CTRACE__COLD void
ctrace__return_lazy(struct ctrace__frame *frame,
                    const struct ctrace_value *value);

#if CTRACE__TRAMPOLINES

/*
 * One trampoline: `name` in its own COMDAT group; `setup` moves the
 * operands into the argument registers of `target`, which it calls with
 * every general-purpose register saved. The CFA is 136 above the stack
 * pointer at entry: the return address, and the red zone the call site
 * stepped over.
 */
/* clang-format off */
#define CTRACE__TRAMPOLINE_HEAD(name)                                         \
    ".pushsection .text." #name ",\"axG\",@progbits," #name ",comdat\n"       \
    ".weak " #name "\n"                                                       \
    ".hidden " #name "\n"                                                     \
    ".type " #name ",@function\n"                                             \
    ".p2align 4\n"                                                            \
    #name ":\n"                                                               \
    ".cfi_startproc simple\n"                                                 \
    ".cfi_def_cfa %rsp, 136\n"                                                \
    ".cfi_offset %rip, -136\n"
#define CTRACE__TRAMPOLINE_CALL(target, setup)                                \
    "push %rbp\n"                                                             \
    ".cfi_adjust_cfa_offset 8\n"                                              \
    ".cfi_offset %rbp, -144\n"                                                \
    "mov %rsp, %rbp\n"                                                        \
    ".cfi_def_cfa_register %rbp\n"                                            \
    "push %rax\n push %rcx\n push %rdx\n push %rsi\n push %rdi\n"             \
    "push %r8\n push %r9\n push %r10\n push %r11\n"                           \
    "and $-16, %rsp\n"                                                        \
    setup                                                                     \
    "call " #target "@PLT\n"                                                  \
    "lea -72(%rbp), %rsp\n"                                                   \
    "pop %r11\n pop %r10\n pop %r9\n pop %r8\n"                               \
    "pop %rdi\n pop %rsi\n pop %rdx\n pop %rcx\n pop %rax\n"                  \
    "pop %rbp\n"                                                              \
    ".cfi_def_cfa %rsp, 136\n"                                                \
    ".cfi_restore %rbp\n"                                                     \
    "ret\n"
#define CTRACE__TRAMPOLINE_TAIL(name)                                         \
    ".cfi_endproc\n"                                                          \
    ".size " #name ", .-" #name "\n"                                          \
    ".popsection\n"
#define CTRACE__TRAMPOLINE(name, target, setup)                               \
    __asm__(CTRACE__TRAMPOLINE_HEAD(name)                                     \
            CTRACE__TRAMPOLINE_CALL(target, setup)                            \
            CTRACE__TRAMPOLINE_TAIL(name))

/*
 * The entry trampoline runs the point's filter (src/point/point.h: the
 * probe begins with it) before it saves anything: most armed calls are
 * rejected there, with at most six scratch registers saved instead of all
 * of them, and no call into the library. It decides only what it can
 * decide alone, and only for a filter the library marked so
 * (CTRACE__FILTER_LAZY: a string or prefix literal of 1 to 16 bytes on an
 * argument below the point's arity, the spec's argument count being the
 * arity, so that no count needs checking here): the literal against an
 * unmeasured C string (CTRACE__LEN_LAZY), compared byte by byte up to the
 * first mismatch or the string's NUL, whichever comes first: a literal
 * read while the library rewrites it may hold anything, and the string is
 * never read past its end. Every filter the library writes on a point
 * names an argument below the point's arity, so the argument's index,
 * read after the word, stays inside the call's array in any case. Only a reject needs the sequence lock's
 * second read: a pass is a hint, and the engine matches the call anyway.
 * A call that passes, or meets no filter, goes to ctrace__enter_checked();
 * anything else (no probe, the filter being rewritten, a filter not
 * marked, a measured string) goes to ctrace__enter_lazy(), which runs the
 * filter in C. The offsets it reads are checked at compile time below and, for
 * the filter, in the library.
 */
/* The enter entry points' arguments: point, frame, args, return address. */
#define CTRACE__ENTER_SETUP                                                   \
    "mov %rax, %rdi\n mov %r10, %rsi\n mov %r11, %rdx\n mov 8(%rbp), %rcx\n"
#define CTRACE__POP(reg) "pop %" #reg "\n .cfi_adjust_cfa_offset -8\n"
#define CTRACE__PUSH(reg) "push %" #reg "\n .cfi_adjust_cfa_offset 8\n"
#define CTRACE__ENTER_TRAMPOLINE(name)                                        \
    __asm__(CTRACE__TRAMPOLINE_HEAD(name)                                     \
            CTRACE__PUSH(rcx) CTRACE__PUSH(rdx)                               \
            "mov 64(%rax), %rcx\n"     /* the probe: its filter */            \
            "test %rcx, %rcx\n"                                               \
            "jz .L" #name "_unknown2\n"                                       \
            "mov (%rcx), %rdx\n"       /* seq, and the word above it */       \
            "test $1, %dl\n"           /* being rewritten */                  \
            "jnz .L" #name "_unknown2\n"                                      \
            "bt $32, %rdx\n"           /* CTRACE__FILTER_ON */                \
            "jnc .L" #name "_pass2\n"                                         \
            "bt $36, %rdx\n"           /* CTRACE__FILTER_LAZY */              \
            "jnc .L" #name "_unknown2\n"                                      \
            CTRACE__PUSH(rsi) CTRACE__PUSH(rdi)                               \
            CTRACE__PUSH(r8) CTRACE__PUSH(r9)                                 \
            /* The word's fields by byte (x86 is little-endian). */           \
            "movzbl 5(%rcx), %r8d\n"   /* the argument, below the arity */    \
            "lea (%r8,%r8,2), %r8\n"                                          \
            "lea (%r11,%r8,8), %r8\n"                                         \
            "cmpl $5, (%r8)\n"         /* CTRACE_VALUE_STRING */              \
            "jne .L" #name "_unknown6\n"                                      \
            "cmpq $-1, 16(%r8)\n"      /* CTRACE__LEN_LAZY */                 \
            "jne .L" #name "_unknown6\n"                                      \
            "mov 8(%r8), %r8\n"                                               \
            "test %r8, %r8\n"          /* NULL: a null value, no string */    \
            "jz .L" #name "_reject\n"                                         \
            "movzbl 6(%rcx), %esi\n"   /* the literal's length, 1 to 16 */    \
            "xor %edi, %edi\n"                                                \
            "2:\n"                                                            \
            "movzbl (%r8,%rdi), %r9d\n"                                       \
            "cmpb 8(%rcx,%rdi), %r9b\n"                                       \
            "jne .L" #name "_reject\n"                                        \
            "test %r9d, %r9d\n"        /* its end: never read past */         \
            "jz .L" #name "_reject\n"                                         \
            "inc %edi\n"                                                      \
            "cmp %esi, %edi\n"                                                \
            "jne 2b\n"                                                        \
            "bt $34, %rdx\n"           /* a prefix: the rest is free */       \
            "jc .L" #name "_pass6\n"                                          \
            "cmpb $0, (%r8,%rsi)\n"    /* bytes: the string ends there */     \
            "jne .L" #name "_reject\n"                                        \
            ".L" #name "_pass6:\n"                                            \
            CTRACE__POP(r9) CTRACE__POP(r8) CTRACE__POP(rdi) CTRACE__POP(rsi) \
            CTRACE__POP(rdx) CTRACE__POP(rcx)                                 \
            "jmp .L" #name "_checked\n"                                       \
            /* A reject must be read whole: seq unchanged since. */           \
            ".cfi_def_cfa_offset 184\n"                                       \
            ".L" #name "_reject:\n"                                           \
            "cmp (%rcx), %edx\n"                                              \
            "jne .L" #name "_unknown6\n"                                      \
            CTRACE__POP(r9) CTRACE__POP(r8) CTRACE__POP(rdi) CTRACE__POP(rsi) \
            CTRACE__POP(rdx) CTRACE__POP(rcx)                                 \
            "ret\n"                                                           \
            ".cfi_def_cfa_offset 184\n"                                       \
            ".L" #name "_unknown6:\n"                                         \
            CTRACE__POP(r9) CTRACE__POP(r8) CTRACE__POP(rdi) CTRACE__POP(rsi) \
            CTRACE__POP(rdx) CTRACE__POP(rcx)                                 \
            "jmp .L" #name "_unknown\n"                                       \
            ".cfi_def_cfa_offset 152\n"                                       \
            ".L" #name "_pass2:\n"                                            \
            CTRACE__POP(rdx) CTRACE__POP(rcx)                                 \
            "jmp .L" #name "_checked\n"                                       \
            ".cfi_def_cfa_offset 152\n"                                       \
            ".L" #name "_unknown2:\n"                                         \
            CTRACE__POP(rdx) CTRACE__POP(rcx)                                 \
            ".L" #name "_unknown:\n"                                          \
            CTRACE__TRAMPOLINE_CALL(ctrace__enter_lazy, CTRACE__ENTER_SETUP)  \
            ".L" #name "_checked:\n"                                          \
            CTRACE__TRAMPOLINE_CALL(ctrace__enter_checked, CTRACE__ENTER_SETUP) \
            CTRACE__TRAMPOLINE_TAIL(name))

/* The layout the entry trampoline reads. */
_Static_assert(__builtin_offsetof(struct ctrace_point, arity) == 24 &&
                   __builtin_offsetof(struct ctrace_point, ctrace__probe) == 64,
               "ctrace: the entry trampoline's struct ctrace_point offsets");
_Static_assert(sizeof(struct ctrace_value) == 24 &&
                   __builtin_offsetof(struct ctrace_value, as.str.ptr) == 8 &&
                   __builtin_offsetof(struct ctrace_value, as.str.len) == 16 &&
                   CTRACE_VALUE_STRING == 5 && CTRACE_POINT_ARGS_MAX == 10,
               "ctrace: the entry trampoline's struct ctrace_value layout");

/* Operands: enter (%rax point, %r10 frame, %r11 args), return (%r10 frame,
 * %r11 value), exit (%r10 frame). 8(%rbp) is the return address. */
CTRACE__ENTER_TRAMPOLINE(ctrace__enter_pmrz);
CTRACE__TRAMPOLINE(ctrace__return_pmrz, ctrace__return_lazy,
                   "mov %r10, %rdi\n mov %r11, %rsi\n");
CTRACE__TRAMPOLINE(ctrace__exit_pmrz, ctrace__exit, "mov %r10, %rdi\n");

#if defined(__AVX512F__)
#define CTRACE__AVX512_CLOBBERS                                               \
    , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", \
    "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31",   \
    "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"
#else
#define CTRACE__AVX512_CLOBBERS
#endif
#define CTRACE__CALL_CLOBBERS                                                 \
    "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",   \
    "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",      \
    "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)",      \
    "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6", "mm7"           \
    CTRACE__AVX512_CLOBBERS
#define CTRACE__ASM_CALL(fn) \
    "lea -128(%%rsp), %%rsp\n\tcall " #fn "\n\tlea 128(%%rsp), %%rsp"
/* clang-format on */

static inline __attribute__((always_inline)) void
ctrace__enter_rz(struct ctrace_point *point,
                 struct ctrace__frame *frame,
                 const struct ctrace_value *args)
{
    register struct ctrace__frame *f __asm__("r10") = frame;
    register const struct ctrace_value *a __asm__("r11") = args;
    __asm__ __volatile__(CTRACE__ASM_CALL(ctrace__enter_pmrz)
                         :
                         : "a"(point), "r"(f), "r"(a)
                         : CTRACE__CALL_CLOBBERS);
}

static inline __attribute__((always_inline)) void
ctrace__return_rz(struct ctrace__frame *frame, const struct ctrace_value *value)
{
    register struct ctrace__frame *f __asm__("r10") = frame;
    register const struct ctrace_value *v __asm__("r11") = value;
    __asm__ __volatile__(CTRACE__ASM_CALL(ctrace__return_pmrz)
                         :
                         : "r"(f), "r"(v)
                         : CTRACE__CALL_CLOBBERS);
}

static inline __attribute__((always_inline)) void
ctrace__exit_rz(struct ctrace__frame *frame)
{
    register struct ctrace__frame *f __asm__("r10") = frame;
    __asm__ __volatile__(CTRACE__ASM_CALL(ctrace__exit_pmrz)
                         :
                         : "r"(f)
                         : CTRACE__CALL_CLOBBERS);
}

/*
 * Whether the point `pt` is on, as one compare with a memory operand and
 * one jump (asm goto): the compilers load an atomic into a register first,
 * one instruction more. A relaxed load on x86 is a plain load, so this is
 * the same test as atomic_load_explicit(relaxed). `pt` is always a static
 * of the module, so its address is an assemble-time constant relative to
 * %rip, in position-independent code too.
 */
#define CTRACE__ON(pt)                                \
    __extension__({                                   \
        __label__ ctrace__on;                         \
        int ctrace__is = 0;                           \
        __asm__ goto("cmpl $0, %c0(%%rip)\n\tjne %l1" \
                     :                                \
                     : "i"(&(pt).on)                  \
                     : "cc"                           \
                     : ctrace__on);                   \
        if (0) {                                      \
        ctrace__on:                                   \
            ctrace__is = 1;                           \
        }                                             \
        ctrace__is;                                   \
    })
/*
 * `frame.active = 0`, written so that the compiler does not know the value
 * afterwards: it then tests the flag in memory at the return (one compare)
 * rather than keeping a copy of it in a register to test (gcc: two).
 */
#define CTRACE__FRAME_OFF(fr) \
    __extension__({ __asm__("movl $0, %0" : "=m"((fr).active)); })
/*
 * Whether the frame `fr` is active, tested as one compare with the flag in
 * memory and one jump. Where it is not, the compiler is told so, and drops
 * the scope cleanup's own test after CTRACE_RETURN.
 */
#define CTRACE__ACTIVE(fr)                    \
    __extension__({                           \
        __label__ ctrace__yes;                \
        int ctrace__is = 0;                   \
        __asm__ goto("cmpl $0, %0\n\tjne %l1" \
                     :                        \
                     : "m"((fr).active)       \
                     : "cc"                   \
                     : ctrace__yes);          \
        if ((fr).active)                      \
            __builtin_unreachable();          \
        if (0) {                              \
        ctrace__yes:                          \
            ctrace__is = 1;                   \
        }                                     \
        ctrace__is;                           \
    })
#define CTRACE__ENTER(pt, f, n, av) ctrace__enter_rz((pt), (f), (av))
#define CTRACE__RET(f, v)           ctrace__return_rz((f), (v))
#define CTRACE__EXIT(f)             ctrace__exit_rz(f)

/*
 * CTRACE__ARG_IMPL, except that C strings keep their length unknown
 * (CTRACE__LEN_LAZY), and a NULL one is not told apart here either: the
 * library measures them where it reads them, a NULL string as the null value.
 * Three stores per string on the armed path, and no test.
 */
static inline struct ctrace_value ctrace__value_cstr_lazy(const char *s)
{
    struct ctrace_value v;
    v.kind = CTRACE_VALUE_STRING;
    v.as.str.ptr = s;
    v.as.str.len = CTRACE__LEN_LAZY;
    return v;
}

/* clang-format off */
#define CTRACE__ARG_LAZY(x)                                                   \
    _Generic((x),                                                             \
        char *: ctrace__value_cstr_lazy(                                      \
            _Generic((x), char *: (x), default: (const char *)0)),            \
        const char *: ctrace__value_cstr_lazy(                                \
            _Generic((x), const char *: (x), default: (const char *)0)),      \
        default: CTRACE__ARG_IMPL(x))
/* clang-format on */

#else /* !CTRACE__TRAMPOLINES */

#define CTRACE__ON(pt)              atomic_load_explicit(&(pt).on, memory_order_relaxed)
#define CTRACE__FRAME_OFF(fr)       ((fr).active = 0)
#define CTRACE__ACTIVE(fr)          ((fr).active)
#define CTRACE__ENTER(pt, f, n, av) ctrace__enter((pt), (f), (n), (av))
#define CTRACE__RET(f, v)           ctrace__return((f), *(v))
#define CTRACE__EXIT(f)             ctrace__exit(f)
#define CTRACE__ARG_LAZY(x)         CTRACE__ARG_IMPL(x)

#endif /* CTRACE__TRAMPOLINES */

/*
 * Runs when a traced function's scope ends, by any path: a return with or
 * without CTRACE_RETURN, falling off the end of a void function. Without
 * this, a `return` that bypasses the macro would leave the session waiting
 * for a return_from forever. (longjmp() out of the function and thread
 * cancellation skip it, as they skip every cleanup.)
 */
static inline void ctrace__frame_cleanup(struct ctrace__frame *frame)
{
    if (CTRACE__UNLIKELY(frame->active))
        CTRACE__EXIT(frame);
}

/*
 * This module's range of the ctrace_points section. Hidden, so each shared
 * object resolves them to its own section, never to the program's; weak, so
 * a module that includes this header but has no point links, and sees
 * NULL.
 */
extern struct ctrace_point *const __start_ctrace_points[] CTRACE__HIDDEN_WEAK;
extern struct ctrace_point *const __stop_ctrace_points[] CTRACE__HIDDEN_WEAK;

/*
 * Every translation unit that includes this header registers its module's
 * range (the registry counts the repeats) before main() or before dlopen()
 * returns, and unregisters it at exit or dlclose(). Registering from every
 * unit, rather than from one the user has to remember, makes it impossible
 * to forget; the cost is a mutex and a short array walk per unit at load.
 */
CTRACE__CONSTRUCTOR static void ctrace__module_register(void)
{
    ctrace__register_module(__start_ctrace_points, __stop_ctrace_points);
}

CTRACE__DESTRUCTOR static void ctrace__module_unregister(void)
{
    ctrace__unregister_module(__start_ctrace_points, __stop_ctrace_points);
}

#define CTRACE__POINT_INIT(mod, fun, n, names, kinds, fl)                    \
    {                                                                        \
        .struct_size = sizeof(struct ctrace_point), .module = #mod,          \
        .function = #fun, .arity = (n), .flags = (fl), .arg_names = (names), \
        .arg_kinds = (kinds), .file = __FILE__, .line = __LINE__             \
    }

/*
 * The pointer in the section must not be const: a section mixes only
 * objects of one kind (read-only or writable), and every module's pointers
 * must agree.
 */
#define CTRACE__POINT_REF(ref, pt) \
    static struct ctrace_point *ref CTRACE__IN_POINTS_SECTION = &(pt)

#define CTRACE__CALL_IMPL(...) \
    CTRACE__CALL(CTRACE__ARITY(__VA_ARGS__), __VA_ARGS__)
#define CTRACE__CALL(n, ...) \
    CTRACE__CAT(CTRACE__CALL_, CTRACE__SHAPE(n))(n, __VA_ARGS__)
#define CTRACE__CALL_BAD(n, ...) CTRACE__ARITY_ERROR("CTRACE_CALL")

/*
 * The enter call sits in the initializer of an unused constant: the frame
 * must be declared (uninitialised, so the off path writes one int, not the
 * whole frame) before the branch, and an initializer is the only place a
 * declaration can run code. `ctrace__frame.active = 0` has to happen on
 * every path, before the branch.
 */
#define CTRACE__CALL_FIRE(n, args)                                             \
    struct ctrace__frame ctrace__frame CTRACE__CLEANUP(ctrace__frame_cleanup); \
    CTRACE__UNUSED const int ctrace__call_fired =                              \
        (CTRACE__FRAME_OFF(ctrace__frame),                                     \
         CTRACE__UNLIKELY(CTRACE__ON(ctrace__call_pt))                         \
             ? (CTRACE__ENTER(&ctrace__call_pt, &ctrace__frame, (n), args), 1) \
             : 0)

#define CTRACE__CALL_NOARGS(n, mod, fun)                  \
    CTRACE__NAME_CHECKS("CTRACE_CALL", mod, fun);         \
    static struct ctrace_point ctrace__call_pt =          \
        CTRACE__POINT_INIT(mod, fun, 0, NULL, NULL, 0);   \
    CTRACE__POINT_REF(ctrace__call_ref, ctrace__call_pt); \
    CTRACE__CALL_FIRE(0, NULL)

#define CTRACE__CALL_ARGS(n, mod, fun, ...)                          \
    CTRACE__NAME_CHECKS("CTRACE_CALL", mod, fun);                    \
    static const char *const ctrace__call_names[] = {                \
        CTRACE__LIST(n, CTRACE__STR, __VA_ARGS__)};                  \
    static const enum ctrace_value_kind ctrace__call_kinds[] = {     \
        CTRACE__LIST(n, CTRACE__KIND, __VA_ARGS__)};                 \
    static struct ctrace_point ctrace__call_pt = CTRACE__POINT_INIT( \
        mod, fun, n, ctrace__call_names, ctrace__call_kinds, 0);     \
    CTRACE__POINT_REF(ctrace__call_ref, ctrace__call_pt);            \
    CTRACE__CALL_FIRE(n,                                             \
                      ((struct ctrace_value[]){                      \
                          CTRACE__LIST(n, CTRACE__ARG_LAZY, __VA_ARGS__)}))

/*
 * The `active = 0` after ctrace__return() repeats what that function did,
 * for the compiler's sake: it then knows on both paths that the scope
 * cleanup has nothing left to do, and drops it.
 */
#define CTRACE__RETURN_IMPL(expr)                              \
    do {                                                       \
        CTRACE__TYPEOF(((void)0, (expr))) ctrace__rv = (expr); \
        if (CTRACE__UNLIKELY(CTRACE__ACTIVE(ctrace__frame))) { \
            const struct ctrace_value ctrace__rvv =            \
                CTRACE__ARG_LAZY(ctrace__rv);                  \
            CTRACE__RET(&ctrace__frame, &ctrace__rvv);         \
            ctrace__frame.active = 0;                          \
        }                                                      \
        return ctrace__rv;                                     \
    } while (0)

#define CTRACE__RETURN_VALUE_IMPL(expr, value)                                 \
    do {                                                                       \
        CTRACE__TYPEOF(((void)0, (expr))) ctrace__rv = (expr);                 \
        if (CTRACE__UNLIKELY(CTRACE__ACTIVE(ctrace__frame))) {                 \
            const struct ctrace_value ctrace__rvv = ctrace__value_self(value); \
            CTRACE__RET(&ctrace__frame, &ctrace__rvv);                         \
            ctrace__frame.active = 0;                                          \
        }                                                                      \
        return ctrace__rv;                                                     \
    } while (0)

#define CTRACE__RETURN_VOID_IMPL()                                             \
    do {                                                                       \
        if (CTRACE__UNLIKELY(CTRACE__ACTIVE(ctrace__frame))) {                 \
            const struct ctrace_value ctrace__rvv = ctrace_value_symbol("ok"); \
            CTRACE__RET(&ctrace__frame, &ctrace__rvv);                         \
            ctrace__frame.active = 0;                                          \
        }                                                                      \
        return;                                                                \
    } while (0)

#define CTRACE__EVENT_IMPL(...) \
    CTRACE__EVENT(CTRACE__ARITY(__VA_ARGS__), __VA_ARGS__)
#define CTRACE__EVENT(n, ...) \
    CTRACE__CAT(CTRACE__EVENT_, CTRACE__SHAPE(n))(n, __VA_ARGS__)
#define CTRACE__EVENT_BAD(n, ...)            \
    do {                                     \
        CTRACE__ARITY_ERROR("CTRACE_EVENT"); \
    } while (0)

#define CTRACE__EVENT_NOARGS(n, mod, name)                                    \
    do {                                                                      \
        CTRACE__NAME_CHECKS("CTRACE_EVENT", mod, name);                       \
        static struct ctrace_point ctrace__event_pt =                         \
            CTRACE__POINT_INIT(mod, name, 0, NULL, NULL, CTRACE_POINT_EVENT); \
        CTRACE__POINT_REF(ctrace__event_ref, ctrace__event_pt);               \
        if (CTRACE__UNLIKELY(atomic_load_explicit(&ctrace__event_pt.on,       \
                                                  memory_order_relaxed)))     \
            ctrace__event(&ctrace__event_pt, 0, NULL);                        \
    } while (0)

#define CTRACE__EVENT_ARGS(n, mod, name, ...)                               \
    do {                                                                    \
        CTRACE__NAME_CHECKS("CTRACE_EVENT", mod, name);                     \
        static const char *const ctrace__event_names[] = {                  \
            CTRACE__LIST(n, CTRACE__STR, __VA_ARGS__)};                     \
        static const enum ctrace_value_kind ctrace__event_kinds[] = {       \
            CTRACE__LIST(n, CTRACE__KIND, __VA_ARGS__)};                    \
        static struct ctrace_point ctrace__event_pt =                       \
            CTRACE__POINT_INIT(mod,                                         \
                               name,                                        \
                               n,                                           \
                               ctrace__event_names,                         \
                               ctrace__event_kinds,                         \
                               CTRACE_POINT_EVENT);                         \
        CTRACE__POINT_REF(ctrace__event_ref, ctrace__event_pt);             \
        if (CTRACE__UNLIKELY(atomic_load_explicit(&ctrace__event_pt.on,     \
                                                  memory_order_relaxed))) { \
            const struct ctrace_value ctrace__event_av[] = {                \
                CTRACE__LIST(n, CTRACE__ARG_IMPL, __VA_ARGS__)};            \
            ctrace__event(&ctrace__event_pt, (n), ctrace__event_av);        \
        }                                                                   \
    } while (0)

#else /* CTRACE_DISABLE */

/*
 * Compiled out. Arguments still appear, but only in branches that never
 * run (`0 ? args : 0`, `if (0)`), which the optimiser drops even at -O1:
 * they are type-checked exactly as the enabled macros would check them (a
 * struct argument is still an error) and evaluated never. Not under sizeof:
 * clang would then call a static helper used only in trace arguments
 * "not needed" (-Wunneeded-internal-declaration, part of -Wall).
 * CTRACE_CALL still declares `ctrace__frame`, here a constant, so that code
 * compiling in one mode compiles in the other: a second CTRACE_CALL in one
 * scope, or a CTRACE_RETURN without a CTRACE_CALL, fails in both.
 */
#if defined(__GNUC__)
#define CTRACE__OFF_UNUSED __attribute__((unused))
#else
#define CTRACE__OFF_UNUSED
#endif

#define CTRACE__CALL_IMPL(...) \
    CTRACE__OFF_CALL(CTRACE__ARITY(__VA_ARGS__), __VA_ARGS__)
#define CTRACE__OFF_CALL(n, ...) \
    CTRACE__CAT(CTRACE__OFF_CALL_, CTRACE__SHAPE(n))(n, __VA_ARGS__)
#define CTRACE__OFF_CALL_BAD(n, ...) CTRACE__ARITY_ERROR("CTRACE_CALL")
#define CTRACE__OFF_CALL_NOARGS(n, mod, fun)      \
    CTRACE__NAME_CHECKS("CTRACE_CALL", mod, fun); \
    CTRACE__OFF_UNUSED const int ctrace__frame = 0
#define CTRACE__OFF_CALL_ARGS(n, mod, fun, ...)   \
    CTRACE__NAME_CHECKS("CTRACE_CALL", mod, fun); \
    CTRACE__OFF_UNUSED const int ctrace__frame =  \
        0 ? ((void)(CTRACE__LIST(n, CTRACE__ARG_IMPL, __VA_ARGS__)), 0) : 0

#define CTRACE__RETURN_IMPL(expr)             \
    do {                                      \
        (void)ctrace__frame;                  \
        (void)sizeof(CTRACE__ARG_IMPL(expr)); \
        return (expr);                        \
    } while (0)

#define CTRACE__RETURN_VALUE_IMPL(expr, value) \
    do {                                       \
        (void)ctrace__frame;                   \
        if (0)                                 \
            (void)ctrace__value_self(value);   \
        return (expr);                         \
    } while (0)

#define CTRACE__RETURN_VOID_IMPL() \
    do {                           \
        (void)ctrace__frame;       \
        return;                    \
    } while (0)

#define CTRACE__EVENT_IMPL(...) \
    CTRACE__OFF_EVENT(CTRACE__ARITY(__VA_ARGS__), __VA_ARGS__)
#define CTRACE__OFF_EVENT(n, ...) \
    CTRACE__CAT(CTRACE__OFF_EVENT_, CTRACE__SHAPE(n))(n, __VA_ARGS__)
#define CTRACE__OFF_EVENT_BAD(n, ...)        \
    do {                                     \
        CTRACE__ARITY_ERROR("CTRACE_EVENT"); \
    } while (0)
#define CTRACE__OFF_EVENT_NOARGS(n, mod, name)          \
    do {                                                \
        CTRACE__NAME_CHECKS("CTRACE_EVENT", mod, name); \
    } while (0)
#define CTRACE__OFF_EVENT_ARGS(n, mod, name, ...)                   \
    do {                                                            \
        CTRACE__NAME_CHECKS("CTRACE_EVENT", mod, name);             \
        if (0)                                                      \
            (void)(CTRACE__LIST(n, CTRACE__ARG_IMPL, __VA_ARGS__)); \
    } while (0)

#endif /* CTRACE_DISABLE */

#endif /* CTRACE_POINT_IMPL_H */
