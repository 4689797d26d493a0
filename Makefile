# rail - the front door. A newcomer needs two commands:
#   make run    build what is needed and run the main job
#   make test   install missing dependencies, build, run every test
# The rest are for developers: bench, install, format, clean.

JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
BUILD  := build/release

# Debian packages, each named by a command or file that shows it is there.
# The library needs only libc and pthreads; rail-server needs libuv and
# llhttp (Debian 12 ships llhttp's C sources in node-llhttp).
DEPS_BUILD := cmake:cmake gcc:gcc make:make pkg-config:pkg-config \
              /usr/include/uv.h:libuv1-dev /usr/share/llhttp/llhttp.c:node-llhttp
DEPS_TEST  := $(DEPS_BUILD) /usr/include/cmocka.h:libcmocka-dev clang:clang \
              clang-format:clang-format curl:curl

DEPS_BENCH := $(DEPS_BUILD) g++:g++ python3:python3 gnuplot:gnuplot-nox \
              /usr/include/glib-2.0/glib.h:libglib2.0-dev /usr/include/uv.h:libuv1-dev \
              /usr/include/oneapi/tbb.h:libtbb-dev cargo:cargo \
              /usr/share/cargo/registry/rayon-1.6.1/Cargo.toml:librust-rayon-dev
BENCH_REPS ?= 5
BENCH_ARGS ?=

.PHONY: all run kitchen test fuzz bench-http deps deps-test deps-bench build bench install format format-check clean

all: build

deps:
	@scripts/ensure-deps.sh $(DEPS_BUILD)

deps-test:
	@scripts/ensure-deps.sh $(DEPS_TEST)

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DRAIL_BUILD_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

# The main job: rail-server on 127.0.0.1:7878 serving public/ until Ctrl-C.
# RUN_ARGS adds flags, e.g. make run RUN_ARGS="--threads 4 --sleep-ms 1000".
RUN_ARGS ?=
run: build
	@$(BUILD)/server/rail-server --listen 127.0.0.1:7878 --root public $(RUN_ARGS)

# The first example: the kitchen (4 workers, 10 jobs, graceful close).
kitchen: build
	@$(BUILD)/examples/kitchen

# The suites of CMakePresets.json, each built with -Wall -Wextra -Wpedantic
# -Werror: gcc and clang at -O2, ASan+UBSan, then TSan (gcc's, or clang's
# where gcc's cannot run here). Each runs `ctest --preset`; the last line
# adds up CTest's JUnit reports.
SUITES = gcc clang asan $(shell scripts/tsan-cc.sh | sed 's/^gcc$$/tsan/; s/^clang$$/tsan-clang/')
test: deps-test format-check
	@suites="$(SUITES)"; for s in $$suites; do scripts/run-suite.sh $$s || exit 1; done
	@scripts/check-install.sh build/gcc
	@scripts/junit-sum.sh $(SUITES:%=build/%/junit.xml)

# libFuzzer on the request path (reader, routing, path normalisation,
# handlers) with ASan+UBSan, for FUZZ_SECONDS. A crash lands in
# build/fuzz/crashes/; copy it to tests/fuzz/regressions/, where every
# suite replays it.
FUZZ_SECONDS ?= 60
fuzz: deps-test
	@cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DRAIL_FUZZ=ON -DRAIL_SANITIZE=address,undefined -DRAIL_BUILD_TESTS=ON >/dev/null
	@cmake --build build/fuzz -j $(JOBS) --target fuzz_request -- --no-print-directory >/dev/null
	@mkdir -p build/fuzz/corpus build/fuzz/crashes
	@build/fuzz/tests/fuzz/fuzz_request -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
	    -dict=tests/fuzz/http.dict -artifact_prefix=build/fuzz/crashes/ -print_final_stats=1 \
	    build/fuzz/corpus tests/fuzz/corpus 2>build/fuzz/fuzz.log || \
	    { tail -40 build/fuzz/fuzz.log; echo "fuzz: crash saved in build/fuzz/crashes/"; exit 1; }
	@grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+ *DONE" build/fuzz/fuzz.log
	@echo "fuzz: no crash in $(FUZZ_SECONDS) s"

deps-bench:
	@scripts/ensure-deps.sh $(DEPS_BENCH)

# rail against GLib, libuv, OpenMP, oneTBB and the classic mutex+condvar pool;
# writes docs/BENCHMARKS.md and docs/benchmarks.png. About 10 minutes;
# `make bench BENCH_REPS=1 BENCH_ARGS=--quick` is a smoke run of a minute.
bench: deps-bench
	@cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DRAIL_BUILD_TESTS=OFF \
	    -DRAIL_BUILD_BENCH=ON >/dev/null
	@cmake --build build/bench -j $(JOBS) -- --no-print-directory >/dev/null
	@python3 bench/run.py build/bench/bench --reps $(BENCH_REPS) $(BENCH_ARGS) --out docs/BENCHMARKS.md

# wrk against rail-server and nginx (2 workers) on loopback, alternating:
# 4/64/256 connections, keep-alive and close, HTTP_DURATION s each, HTTP_REPS
# times. Writes its section of docs/BENCHMARKS.md. About 7 minutes.
HTTP_REPS     ?= 3
HTTP_DURATION ?= 10
bench-http: build
	@scripts/ensure-deps.sh python3:python3 wrk:wrk /usr/sbin/nginx:nginx-light
	@python3 bench/http_bench.py $(BUILD)/server/rail-server --reps $(HTTP_REPS) \
	    --duration $(HTTP_DURATION) --out docs/BENCHMARKS.md

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# Every C and C++ file git tracks (a new file: git add it first).
SOURCES = $(shell git ls-files '*.c' '*.h' '*.cpp')

format:
	clang-format -i $(SOURCES)

format-check:
	@test -n "$(SOURCES)" || { echo "format-check: git ls-files found nothing (not a git checkout?)"; exit 1; }
	@clang-format --dry-run --Werror $(SOURCES) && echo "clang-format: clean"

clean:
	rm -rf build
