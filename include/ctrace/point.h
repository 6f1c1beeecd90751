/* SPDX-License-Identifier: MIT */
/*
 * Trace points: the macros that mark where a function is entered and how it
 * returns, the static descriptor each of them leaves in the binary, and the
 * listing of every trace point the process knows.
 *
 *     static enum rc enter(const char *cat, const char *town)
 *     {
 *         CTRACE_CALL(cat_traveler, enter, cat, town);
 *         ...
 *         if (in_town(cat))
 *             CTRACE_RETURN_VALUE(RC_ALREADY, ctrace_value_symbol("already"));
 *         CTRACE_RETURN(move(cat, town));
 *     }
 *
 * Cost. A trace point that no session selects costs one relaxed load of its
 * `on` counter and one branch the compiler is told is not taken: no call, no
 * lock, no read-modify-write, no thread-local access. The arguments are
 * converted inside that branch, so they are evaluated at most once, and not
 * at all while the point is off: trace arguments must have no side effects
 * (LTTng makes the same rule). What a point adds to a small leaf function
 * with two string arguments (enter(cat, town), 81.75 instructions without a
 * point with gcc, 106.99 with clang), counted on the traced thread by
 * tests/bench/callgrind.sh (RelWithDebInfo build, 20000 calls), x86-64:
 *
 *                                                           gcc 12  clang 14
 *     disabled: no session selects the point                    +6        +6
 *     armed, the session's argument pattern rejects the call   +59       +59
 *     recorded: the call and its two strings                  +481      +498
 *     recorded with `-> return`: call, return value, duration  +722      +719
 *
 * On x86-64 (ELF, gcc or clang) the slow path goes through small asm
 * trampolines that keep every general-purpose register (ctrace/point_impl.h
 * says how), so the compiler keeps nothing in callee-saved registers for
 * it; what remains off is a store of the frame's flag, two compares with a
 * memory operand, and the frame on the stack. With -DCTRACE_NO_TRAMPOLINES,
 * and on other targets, the slow path is a plain call and the disabled
 * point costs +30 (gcc) or +16 (clang); an armed call then saves no
 * registers, but meets the point's filter in C, after the call.
 * docs/performance.md has the details and the times.
 *
 * Descriptors. Each point is a block-scope `static struct ctrace_point`,
 * plus a pointer to it placed in the ELF section `ctrace_points`. Because
 * that name is a C identifier, the linker defines `__start_ctrace_points`
 * and `__stop_ctrace_points` around the section of every module (the
 * program and each shared library), and a constructor emitted by this
 * header hands that range to the registry before main() runs, or before
 * dlopen() returns. So every point is listed before its first call, and the
 * points of a library disappear from the registry when it is unloaded.
 * The section holds pointers, not the descriptors themselves, so that the
 * compiler and linker are free to align and pad descriptors as they like
 * while the section stays a dense array (the kernel walks its tracepoints
 * the same way). STYLE.md mentions a CTRACE_MODULE_DEFINE() macro; there is
 * none, because registration is automatic: a module that forgot the macro
 * would have points that silently never show up.
 *
 * Compiling points out. Define CTRACE_DISABLE before including this header
 * (or pass -DCTRACE_DISABLE) and every macro becomes a no-op that still
 * type-checks its arguments without evaluating them, leaves no descriptor
 * and calls nothing; CTRACE_RETURN(e) becomes `return (e)`. The disabled
 * macros are plain C11, so they also build with compilers other than gcc
 * and clang; enabled points need gcc or clang.
 *
 * C++. The macros rest on C11 `_Generic` and `_Atomic`; a C++ translation
 * unit including this header sees only ctrace_points_foreach() and an
 * opaque struct ctrace_point.
 *
 * Thread-safety: the macros may run on any number of threads at once, also
 * while sessions start and stop. Functions here say what they allow.
 */
#ifndef CTRACE_POINT_H
#define CTRACE_POINT_H

#include <stddef.h>
#include <stdint.h>

#include "ctrace/value.h"
#include "ctrace/version.h"

#ifdef __cplusplus
extern "C" {
struct ctrace_point;
#else

#include <stdatomic.h>

/* Longest module or function name of a trace point, in bytes. */
#define CTRACE_POINT_NAME_MAX 127
/* Most arguments a trace point records. */
#define CTRACE_POINT_ARGS_MAX 10

/* struct ctrace_point.flags: an instantaneous event, with no return. */
#define CTRACE_POINT_EVENT    0x1u

/*
 * The static descriptor of one trace point. The macros fill it at compile
 * time; users only read it (through ctrace_points_foreach()). Everything it
 * points to is static data of the module the point lives in, valid until
 * that module is unloaded.
 *
 * ABI: append-only. A descriptor is compiled into the user's module, so a
 * newer libctrace must accept descriptors from older headers: fields are only
 * ever added at the end, and `struct_size` (always first) says how many
 * bytes a module's descriptors have.
 */
struct ctrace_point {
    uint32_t struct_size; /* sizeof(struct ctrace_point) when compiled */
    /*
     * How many sessions have selected this point; it fires while non-zero.
     * A counter rather than a flag so that two sessions can select the same
     * point and either can stop first (the kernel's static keys count too).
     */
    _Atomic uint32_t on;
    const char *module;   /* "cat_traveler" */
    const char *function; /* "enter", or the name of an event */
    uint32_t arity;       /* number of recorded arguments */
    uint32_t flags;       /* CTRACE_POINT_EVENT or 0 */
    /*
     * `arity` argument expressions as written after macro expansion
     * ("cat", "req->town"), and the kind each converts to. An argument that
     * is already a struct ctrace_value has the kind CTRACE_VALUE_NULL here,
     * since its kind is only known at the call. Both are NULL when arity is
     * 0.
     */
    const char *const *arg_names;
    const enum ctrace_value_kind *arg_kinds;
    const char *file; /* __FILE__ of the point */
    uint32_t line;    /* __LINE__ of the point */
    /* Engine-private from here on: users must not read or write these. */
    uint32_t ctrace__id;         /* registry id, 0 until registered */
    void *_Atomic ctrace__probe; /* what the engine published for it */
};
#endif /* __cplusplus */

/*
 * Called once for each listed trace point with the caller's `arg`; returns
 * 0 to go on, non-zero to stop the listing. The descriptor is valid during
 * the call only (its module could be unloaded right after).
 */
typedef int (*ctrace_point_cb)(const struct ctrace_point *point, void *arg);

/*
 * Lists the trace points the process knows, in module load order and, within
 * a module, in link order. `glob` selects them by name: `*` matches any run
 * of characters; a glob containing ':' is matched against
 * "module:function" ("cat_*:enter", "*:leave"), one without ':' against the
 * module name alone ("cat_traveler"); NULL lists every point. `cb` may be
 * NULL to count only.
 *
 * Returns the number of points passed to `cb` (the one that stopped the
 * listing included), or a negative error: CTRACE_EBUSY when called from
 * inside a listing callback or a registry hook of the same thread (the
 * registry lock is held there, and waiting for it would never end).
 * `cb` runs with the registry lock held: it must not start or stop
 * sessions, load or unload libraries, or list points itself.
 * Thread-safety: any thread.
 */
CTRACE_API int
ctrace_points_foreach(const char *glob, ctrace_point_cb cb, void *arg);

#ifdef __cplusplus
}
#else

#include "ctrace/point_impl.h"

/* ---- The macros. How they expand is in ctrace/point_impl.h. ---- */

/*
 * CTRACE_CALL(module, function, args...): marks the entry of the enclosing
 * function, with 0 to 10 arguments, and arranges for its return to be seen.
 * `module` and `function` are bare identifiers (not strings, not macros),
 * each 1 to 127 characters; the arity of the point is the number of
 * arguments given, so pass every parameter for the arity to match C's.
 *
 * Place it first in the function body. It is a declaration, not a
 * do/while statement, because it must declare a frame that lives as long as
 * the function's scope: the frame's cleanup is what reports a return that
 * does not go through CTRACE_RETURN. Being only declarations it also
 * suits code built with -Wdeclaration-after-statement. One per function:
 * a second CTRACE_CALL in the same scope redeclares the frame and does not
 * compile. (Placed in an inner block, its return is that block's end.)
 * Not usable in an `extern inline` function, which may not hold statics.
 *
 * The arguments are evaluated only when the point is on, once each.
 */
#define CTRACE_CALL(...)                 CTRACE__CALL_IMPL(__VA_ARGS__)

/*
 * CTRACE_RETURN(expr): `return expr;` that also hands the value to a
 * session that asked for `-> return`. `expr` is evaluated exactly once,
 * whether the point is on or off, into a temporary of its own type (after
 * array-to-pointer decay), and the value is shown by that type: write
 * CTRACE_RETURN((bool)(a == b)) to see `true` rather than `1`, and use
 * CTRACE_RETURN_VALUE() for structs, enums shown as names, or byte buffers.
 * Needs a CTRACE_CALL in the function.
 */
#define CTRACE_RETURN(expr)              CTRACE__RETURN_IMPL(expr)

/*
 * CTRACE_RETURN_VALUE(expr, value): returns `expr` (evaluated once, on or
 * off) but shows the struct ctrace_value `value`, which is evaluated after
 * `expr` and only when a session wants the return:
 *     CTRACE_RETURN_VALUE(rc, ctrace_value_symbol(rc_name(rc)));
 */
#define CTRACE_RETURN_VALUE(expr, value) CTRACE__RETURN_VALUE_IMPL(expr, value)

/*
 * CTRACE_RETURN_VOID(): `return;` from a void function, shown as the atom
 * `ok`, the way Erlang functions called for their effect return ok. A plain
 * `return;` or the end of the function is shown as `?` instead.
 */
#define CTRACE_RETURN_VOID()             CTRACE__RETURN_VOID_IMPL()

/*
 * CTRACE_EVENT(module, name, args...): an instantaneous point with 0 to 10
 * arguments, wherever a statement may go (it is a do/while statement, so
 * `if (x) CTRACE_EVENT(...); else ...` works). It has no frame and no
 * return; its descriptor has CTRACE_POINT_EVENT in `flags`.
 */
#define CTRACE_EVENT(...)                CTRACE__EVENT_IMPL(__VA_ARGS__)

/*
 * CTRACE_ARG(x): `x` as a struct ctrace_value, chosen by the type of `x`:
 * C strings (char *, const char *) give a string (a NULL pointer gives the
 * null value); signed integers and plain char an int; unsigned integers a
 * uint; _Bool a bool; float, double and long double a double; a struct
 * ctrace_value itself; any other object pointer a pointer. A struct, union,
 * function pointer or bit-field does not compile: pass a value made with
 * value.h (ctrace_value_tuple(), ctrace_value_bytes(), ...) or cast.
 * The generic selection picks a function and calls it with `x`, so `x` is
 * evaluated exactly once and every branch type-checks whatever `x` is.
 * Enumerations select the integer type the compiler gave them (usually
 * unsigned int); use ctrace_value_symbol() to show a name instead.
 */
#define CTRACE_ARG(x)                    CTRACE__ARG_IMPL(x)

#endif /* __cplusplus */

#endif /* CTRACE_POINT_H */
