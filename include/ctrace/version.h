/* SPDX-License-Identifier: MIT */
/*
 * The library's version, and the export macro every public declaration
 * carries.
 *
 * Thread-safety: everything in this header may be called from any thread.
 */
#ifndef CTRACE_VERSION_H
#define CTRACE_VERSION_H

#define CTRACE_VERSION_MAJOR 0
#define CTRACE_VERSION_MINOR 1
#define CTRACE_VERSION_PATCH 0

/* 0xMMmmpp: compare with >= in preprocessor conditions. */
#define CTRACE_VERSION_HEX                                        \
    ((CTRACE_VERSION_MAJOR << 16) | (CTRACE_VERSION_MINOR << 8) | \
     CTRACE_VERSION_PATCH)

/*
 * The library is built with hidden visibility; CTRACE_API marks what it
 * exports. A static build exports nothing special, so the macro is harmless.
 */
#if defined(__GNUC__) || defined(__clang__)
#define CTRACE_API __attribute__((visibility("default")))
#else
#define CTRACE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Returns the version of the library actually linked, "0.1.0". It may differ
 * from the CTRACE_VERSION_* macros a program was compiled with.
 * Thread-safety: any thread.
 */
CTRACE_API const char *ctrace_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* CTRACE_VERSION_H */
