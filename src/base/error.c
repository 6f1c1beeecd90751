/* SPDX-License-Identifier: MIT */
/*
 * Error codes, their messages, and filling struct ctrace_error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

const char *ctrace_strerror(int err)
{
    switch (err) {
#define CTRACE__ERRNO_TEXT(name, value, text) \
    case CTRACE_E##name:                      \
        return text;
        CTRACE_ERRNO_MAP(CTRACE__ERRNO_TEXT)
#undef CTRACE__ERRNO_TEXT
    default:
        break;
    }
    /*
     * strerror() may return a pointer into a static buffer that a later call
     * overwrites, but for the errno values the C library knows it returns
     * its own constant table; glibc's strerrordesc_np() says so explicitly
     * and is what we use where it exists.
     */
    if (err < 0 && err > -4096) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
        const char *s = strerrordesc_np(-err);
        if (s != NULL)
            return s;
#endif
    }
    return "unknown error";
}

const char *ctrace_err_name(int err)
{
    switch (err) {
#define CTRACE__ERRNO_NAME(name, value, text) \
    case CTRACE_E##name:                      \
        return "CTRACE_E" #name;
        CTRACE_ERRNO_MAP(CTRACE__ERRNO_NAME)
#undef CTRACE__ERRNO_NAME
    default:
        break;
    }
    if (err < 0 && err > -4096) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
        const char *s = strerrorname_np(-err);
        if (s != NULL)
            return s;
#endif
    }
    return "UNKNOWN";
}

int ctrace__error_setv(struct ctrace_error *err,
                       int code,
                       int column,
                       size_t position,
                       const char *fmt,
                       va_list ap)
{
    if (err == NULL || err->code != 0)
        return code;
    err->code = code;
    err->column = column;
    err->position = column > 0 ? position : 0;
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    return code;
}

int ctrace__error_set(struct ctrace_error *err,
                      int code,
                      int column,
                      size_t position,
                      const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctrace__error_setv(err, code, column, position, fmt, ap);
    va_end(ap);
    return code;
}

void ctrace__error_clear(struct ctrace_error *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->column = 0;
    err->position = 0;
    err->text[0] = '\0';
}
