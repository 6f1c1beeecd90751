/* SPDX-License-Identifier: MIT */
/*
 * Error codes and the error report that parsers fill.
 *
 * Functions that can fail return an int: 0 on success, a negative number on
 * failure. Failures of the operating system pass through as -errno; ctrace's
 * own failures are the codes below, all -1000 or lower, so the two ranges
 * never collide. ctrace_strerror() and ctrace_err_name() know both.
 *
 * Thread-safety: everything in this header may be called from any thread.
 */
#ifndef CTRACE_ERROR_H
#define CTRACE_ERROR_H

#include <stddef.h>

#include "ctrace/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The table of ctrace's own error codes: name, value, message. Append only;
 * a value never changes meaning once released.
 */
#define CTRACE_ERRNO_MAP(XX)                                   \
    XX(SYNTAX, -1000, "syntax error in pattern")               \
    XX(TOOLONG, -1001, "input too long")                       \
    XX(TOODEEP, -1002, "input nested too deeply")              \
    XX(NOMEM, -1003, "out of memory")                          \
    XX(INVAL, -1004, "invalid argument")                       \
    XX(UNBOUND, -1005, "unbound variable in guard")            \
    XX(NOFUNC, -1006, "unknown guard function")                \
    XX(UNSUPPORTED, -1007, "term has no meaning for C values") \
    XX(NOMATCH, -1008, "no trace point matches")               \
    XX(LIMIT, -1009, "limit reached")                          \
    XX(BUSY, -1010, "resource busy")                           \
    XX(NOTFOUND, -1011, "not found")                           \
    XX(STOPPED, -1012, "already stopped")                      \
    XX(TOOBROAD, -1013, "selection too broad without force")   \
    XX(NOPROC, -1014, "no such process")                       \
    XX(FULL, -1015, "mailbox full")                            \
    XX(DEADLOCK, -1016, "a server cannot call itself")         \
    XX(STALE, -1017, "the state changed since it was read")

/* ctrace's own error codes, CTRACE_E<NAME>. */
enum ctrace_errno {
#define CTRACE__ERRNO_ENUM(name, value, text) CTRACE_E##name = (value),
    CTRACE_ERRNO_MAP(CTRACE__ERRNO_ENUM)
#undef CTRACE__ERRNO_ENUM
};

/* The longest message ctrace_error.text holds, including the final NUL. */
#define CTRACE_ERROR_TEXT_LENGTH 256

/*
 * What went wrong, where. A caller passes a pointer to one of these to a
 * parser or constructor, or NULL when it does not care. Every function that
 * takes one clears it on entry, so one struct can serve call after call and
 * always describes the last one: code 0 and empty text after a success.
 * Within one call the first error wins: later failures of the same call do
 * not overwrite it.
 *
 * `code` is a negative error code, `column` the 1-based column of the
 * offending character in the input (0 when the error has no position),
 * `position` the 0-based byte offset of the same character, and `text` one
 * sentence saying what was expected and what was found, without the column.
 */
struct ctrace_error {
    int code;
    int column;
    size_t position;
    char text[CTRACE_ERROR_TEXT_LENGTH];
};

/*
 * Returns a static English message for a negative error code (ctrace's own
 * or -errno), or "unknown error" for anything else. Never NULL.
 * Thread-safety: any thread.
 */
CTRACE_API const char *ctrace_strerror(int err);

/*
 * Returns the static name of an error code, "CTRACE_ESYNTAX" or "ENOENT",
 * or "UNKNOWN" for anything else. Never NULL.
 * Thread-safety: any thread.
 */
CTRACE_API const char *ctrace_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif /* CTRACE_ERROR_H */
