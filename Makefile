# SPDX-License-Identifier: MIT
# A thin wrapper around CMake and ctest. Every target installs what is
# missing first (.ci/install-deps), so a fresh Debian 12 machine needs
# nothing else.

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)
FUZZ_SECONDS ?= 60

.PHONY: all deps browser-deps build test test-asan test-tsan demo fuzz \
        fuzz-http bench format format-check clean

all: build

deps:
	@./.ci/install-deps

# playwright-core for the browser tests (tests/browser), as the committed
# package-lock.json pins it; npm never downloads a browser here.
tests/browser/node_modules/.package-lock.json: tests/browser/package-lock.json | deps
	cd tests/browser && npm ci --no-audit --no-fund

browser-deps: tests/browser/node_modules/.package-lock.json

build/CMakeCache.txt: | deps
	cmake -S . -B build -DCTRACE_WERROR=ON $(CMAKE_FLAGS)

build: deps build/CMakeCache.txt
	cmake --build build -j$(JOBS)

test: build browser-deps
	ctest --test-dir build $(CTEST_FLAGS)

build-asan/CMakeCache.txt: | deps
	cmake -S . -B build-asan -DCTRACE_WERROR=ON -DCTRACE_ASAN=ON \
	    -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)

test-asan: deps browser-deps build-asan/CMakeCache.txt
	cmake --build build-asan -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --test-dir build-asan $(CTEST_FLAGS)

build-tsan/CMakeCache.txt: | deps
	cmake -S . -B build-tsan -DCTRACE_WERROR=ON -DCTRACE_TSAN=ON \
	    -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)

test-tsan: deps browser-deps build-tsan/CMakeCache.txt
	cmake --build build-tsan -j$(JOBS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	    ctest --test-dir build-tsan $(CTEST_FLAGS)

build-fuzz/CMakeCache.txt: | deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCTRACE_FUZZ=ON \
	    -DCTRACE_BUILD_EXAMPLES=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    $(CMAKE_FLAGS)

# Runs the pattern fuzzer for FUZZ_SECONDS on a scratch copy of the corpus.
fuzz: deps build-fuzz/CMakeCache.txt
	cmake --build build-fuzz -j$(JOBS) --target fuzz_pattern
	mkdir -p build-fuzz/corpus
	cp tests/fuzz/corpus/* build-fuzz/corpus/
	build-fuzz/bin/fuzz_pattern -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=4096 -artifact_prefix=build-fuzz/ build-fuzz/corpus

# Runs the HTTP fuzzer (both servers over loopback) for FUZZ_SECONDS on a
# scratch copy of its corpus.
fuzz-http: deps build-fuzz/CMakeCache.txt
	cmake --build build-fuzz -j$(JOBS) --target fuzz_http
	mkdir -p build-fuzz/corpus_http
	cp tests/fuzz/corpus_http/* build-fuzz/corpus_http/
	build-fuzz/bin/fuzz_http -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=8192 -timeout=10 -close_fd_mask=2 \
	    -artifact_prefix=build-fuzz/ \
	    build-fuzz/corpus_http

demo: build
	@if [ -x examples/cat_traveler/demo.sh ]; then \
	    examples/cat_traveler/demo.sh build/bin; \
	else \
	    echo "make demo: the cat_traveler demo is not built yet (see the issues)."; \
	fi

format:
	git ls-files '*.[ch]' | xargs clang-format -i

format-check: deps
	git ls-files '*.[ch]' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build build-asan build-tsan build-fuzz
