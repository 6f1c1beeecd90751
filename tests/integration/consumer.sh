#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs ctrace into a scratch prefix, shared and then static, and builds a
# consumer against each install with find_package(ctrace) and with
# pkg-config. Usage: consumer.sh SOURCE_DIR SCRATCH_DIR C_COMPILER
set -eu
src="$1"
work="$2"
cc="$3"
rm -rf "$work"
mkdir -p "$work"
for kind in shared static; do
    if [ "$kind" = shared ]; then shared=ON; else shared=OFF; fi
    prefix="$work/$kind/prefix"
    cmake -S "$src" -B "$work/$kind/build" -DCMAKE_C_COMPILER="$cc" \
        -DBUILD_SHARED_LIBS=$shared -DCTRACE_BUILD_TESTS=OFF \
        -DCTRACE_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release \
        >"$work/$kind.log" 2>&1 || { cat "$work/$kind.log"; exit 1; }
    cmake --build "$work/$kind/build" -j2 >>"$work/$kind.log" 2>&1 ||
        { cat "$work/$kind.log"; exit 1; }
    # Installed somewhere else than configured, as docs/getting-started.md
    # does: the package files must not depend on the configured prefix.
    cmake --install "$work/$kind/build" --prefix "$prefix" \
        >>"$work/$kind.log" 2>&1 || { cat "$work/$kind.log"; exit 1; }

    # find_package(ctrace) -> ctrace::ctrace
    cmake -S "$src/tests/integration/consumer" -B "$work/$kind/consumer" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
        >>"$work/$kind.log" 2>&1 || { cat "$work/$kind.log"; exit 1; }
    cmake --build "$work/$kind/consumer" >>"$work/$kind.log" 2>&1 ||
        { cat "$work/$kind.log"; exit 1; }
    LD_LIBRARY_PATH="$prefix/lib" "$work/$kind/consumer/consumer"

    # pkg-config
    libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -n 1)
    if [ "$kind" = shared ]; then
        flags=$(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs ctrace)
    else
        flags=$(PKG_CONFIG_PATH="$libdir" pkg-config --static --cflags --libs ctrace)
    fi
    # shellcheck disable=SC2086
    "$cc" -std=c11 -o "$work/$kind/pc-consumer" \
        "$src/tests/integration/consumer/main.c" $flags
    LD_LIBRARY_PATH="$prefix/lib" "$work/$kind/pc-consumer"
    echo "consumer ($kind): find_package and pkg-config both work"
done
