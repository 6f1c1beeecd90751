#!/bin/sh
# SPDX-License-Identifier: MIT
# The shared library must export nothing but ctrace_* symbols: internal
# ctrace__ helpers and everything else stay hidden, except the entry points
# that the trace-point macros compile into users' modules.
set -eu
lib="$1"
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' |
      grep -v '^ctrace_' | grep -v '^_init$' | grep -v '^_fini$' || true)
macro_entries='^ctrace__(enter|enter_lazy|enter_checked|return|return_lazy|exit|event|register_module|unregister_module)$'
internal=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep '^ctrace__' |
           grep -Ev "$macro_entries" || true)
count=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^ctrace_' || true)
if [ -n "$bad$internal" ]; then
    echo "unexpected exported symbols in $lib:"
    printf '%s\n' $bad $internal
    exit 1
fi
if [ "$count" -lt 5 ]; then
    echo "only $count ctrace_ symbols exported from $lib; expected the public API"
    exit 1
fi
echo "exports: $count ctrace_ symbols, nothing else"
