#!/bin/sh
# SPDX-License-Identifier: MIT
# Library code allocates through src/base/alloc.c only, so that the
# allocation chaos test (unit.alloc) reaches every allocation: fails, naming
# the lines, when a file of src/ other than alloc.c (and the command line,
# which is a program of its own) calls the C library's allocator directly.
# Comment lines are not code and are skipped. admin/deadline.c is left out:
# the demo compiles it too, and links only the public library.
# The same for error text: every file of src/ (the command line included)
# says what an errno means with ctrace_strerror(), never strerror(), whose
# buffer is not the caller's and whose words differ from the library's own.
# Usage: no_raw_alloc.sh SRC_DIR
set -eu
cd "$1"
bad=$(find . -name '*.[ch]' ! -path './cli/*' ! -path './base/alloc.c' \
    ! -path './admin/deadline.c' |
    sort | xargs grep -nE \
    '(^|[^A-Za-z0-9_.>])(malloc|calloc|realloc|aligned_alloc|strdup|strndup|free)\(' |
    grep -vE '^[^:]+:[0-9]+:\s*(\*|/\*)' || true)
if [ -n "$bad" ]; then
    echo "$bad"
    echo "no_raw_alloc: allocate with ctrace__malloc() and friends (src/base/base.h)"
    exit 1
fi
bad=$(find . -name '*.[ch]' ! -path './base/error.c' | sort |
    xargs grep -nE '(^|[^A-Za-z0-9_])strerror\(' |
    grep -vE '^[^:]+:[0-9]+:\s*(\*|/\*)' || true)
if [ -n "$bad" ]; then
    echo "$bad"
    echo "no_raw_alloc: say what an errno means with ctrace_strerror(-e)"
    exit 1
fi
echo "no_raw_alloc: every allocation of the library goes through src/base/alloc.c"
echo "no_raw_alloc: every errno is described by ctrace_strerror()"
