/* SPDX-License-Identifier: MIT */
/*
 * Turning return addresses into "function (file.c:42)" on consumers.
 *
 * dladdr() sees only the dynamic symbol table, so static functions and
 * every function of a program not linked with -rdynamic would print as bare
 * addresses. elfutils' libdwfl reads the full symbol table and the DWARF
 * line tables of every module mapped into the process, which gives names
 * for all functions and file:line wherever the binary has debug info.
 *
 * A symbolizer belongs to one thread (a session's consumer); creating it
 * reads /proc/self/maps and opens the mapped files, so it is made lazily,
 * the first time a stack has to be printed, and refreshed once when an
 * address falls outside every module it knows (a library loaded later).
 *
 * Thread-safety: one symbolizer per thread.
 */
#ifndef CTRACE_CORE_SYMBOLIZE_H
#define CTRACE_CORE_SYMBOLIZE_H

#include <stddef.h>

struct ctrace__symbolizer;

/* A new symbolizer, or NULL when memory runs out. */
struct ctrace__symbolizer *ctrace__symbolizer_new(void);

/* Frees it. NULL is a no-op. */
void ctrace__symbolizer_free(struct ctrace__symbolizer *s);

/*
 * Writes a description of the return address `addr` into `buf` (always
 * NUL-terminated when size > 0): "enter (cat_traveler.c:42)" with line
 * information, "enter+0x1f (libfoo.so)" without, the address in hex when
 * nothing is known. The line is that of the call instruction, not of the
 * instruction after it.
 */
void ctrace__symbolize(struct ctrace__symbolizer *s,
                       void *addr,
                       char *buf,
                       size_t size);

#endif /* CTRACE_CORE_SYMBOLIZE_H */
