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
              /usr/include/uv.h:libuv1-dev /usr/share/llhttp/llhttp.c:node-llhttp \
              /usr/include/openssl/hmac.h:libssl-dev
# /resize's libvips: by default the npm build of 8.17 (fetched by CMake with
# npm, cmake/vips.cmake); RAIL_VIPS=system builds against Debian's 8.14.
RAIL_VIPS ?=
ifeq ($(RAIL_VIPS),system)
DEPS_BUILD += /usr/include/vips/vips.h:libvips-dev
else
DEPS_BUILD += npm:npm
endif
VIPS_FLAG := $(if $(RAIL_VIPS),-DRAIL_VIPS=$(RAIL_VIPS))
DEPS_TEST  := $(DEPS_BUILD) /usr/include/cmocka.h:libcmocka-dev clang:clang \
              clang-format:clang-format curl:curl openssl:openssl xxd:xxd \
              python3:python3 /usr/sbin/nginx:nginx-light

DEPS_BENCH := $(DEPS_BUILD) g++:g++ python3:python3 gnuplot:gnuplot-nox \
              /usr/include/glib-2.0/glib.h:libglib2.0-dev /usr/include/uv.h:libuv1-dev \
              /usr/include/oneapi/tbb.h:libtbb-dev cargo:cargo \
              /usr/share/cargo/registry/rayon-1.6.1/Cargo.toml:librust-rayon-dev
BENCH_REPS ?= 5
BENCH_ARGS ?=

.PHONY: all run cluster kitchen test fuzz bench-http bench-resize bench-resize-memory bench-resize-prepare deps deps-test deps-bench browser-deps build bench install format format-check clean

all: build

deps:
	@scripts/ensure-deps.sh $(DEPS_BUILD)

deps-test:
	@scripts/ensure-deps.sh $(DEPS_TEST)

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DRAIL_BUILD_TESTS=OFF $(VIPS_FLAG) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

# The main job: rail-server on 127.0.0.1:7878 serving public/ until Ctrl-C.
# RUN_ARGS adds flags, e.g. make run RUN_ARGS="--threads 4 --sleep-ms 1000".
# public/samples/ holds a few small images to try /resize with.
RUN_ARGS ?=
RUN_URL  := http://127.0.0.1:7878
run: build
	@echo "rail: try /resize in the browser: $(RUN_URL)/resize.html"
	@echo "  curl -o small.webp '$(RUN_URL)/resize?src=samples/landscape-exif6.jpg&w=320&h=240&fit=cover&format=webp'"
	@echo "  curl --data-binary @public/samples/badge-alpha.png -o badge.png '$(RUN_URL)/resize?w=200&format=png'"
	@$(BUILD)/server/rail-server --listen 127.0.0.1:7878 --root public $(RUN_ARGS)

# N rail-server instances behind nginx on loopback (docs/deploy.md); the
# URL is printed, Ctrl-C stops everything. PORT=8080 by default;
# RAIL_ARGS adds flags to every instance, e.g. RAIL_ARGS="--images DIR".
N ?= 2
cluster: build
	@scripts/ensure-deps.sh /usr/sbin/nginx:nginx-light curl:curl
	@scripts/cluster.sh $(BUILD)/server/rail-server $(N)

# The first example: the kitchen (4 workers, 10 jobs, graceful close).
kitchen: build
	@$(BUILD)/examples/kitchen

# The suites of CMakePresets.json, each built with -Wall -Wextra -Wpedantic
# -Werror: gcc and clang at -O2, ASan+UBSan, then TSan (gcc's, or clang's
# where gcc's cannot run here). Each runs `ctest --preset`; the last line
# adds up CTest's JUnit reports. The gcc suite alone also drives the resize
# page in Chromium (RAIL_BROWSER_TESTS in its preset).
SUITES = gcc clang asan $(shell scripts/tsan-cc.sh | sed 's/^gcc$$/tsan/; s/^clang$$/tsan-clang/')
test: deps-test format-check browser-deps
	@suites="$(SUITES)"; for s in $$suites; do scripts/run-suite.sh $$s || exit 1; done
	@scripts/check-install.sh build/gcc
	@scripts/junit-sum.sh $(SUITES:%=build/%/junit.xml)

# libFuzzer with ASan+UBSan, FUZZ_SECONDS for each target: fuzz_request
# (the request path: reader, routing, path normalisation, handlers) and
# fuzz_resize (the image path: /resize parameters, sniffing, a libvips
# resize under a small pixel limit). A crash lands in
# build/fuzz/crashes-TARGET/; copy it to tests/fuzz/regressions/ (or
# regressions_resize/), where every suite replays it.
FUZZ_SECONDS ?= 60
fuzz: deps-test
	@cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DRAIL_FUZZ=ON -DRAIL_SANITIZE=address,undefined -DRAIL_BUILD_TESTS=ON >/dev/null
	@cmake --build build/fuzz -j $(JOBS) --target fuzz_request fuzz_resize -- --no-print-directory >/dev/null
	@scripts/run-fuzz.sh fuzz_request $(FUZZ_SECONDS) -max_len=16384 -dict=tests/fuzz/http.dict tests/fuzz/corpus
	@scripts/run-fuzz.sh fuzz_resize $(FUZZ_SECONDS) -max_len=65536 -dict=tests/fuzz/resize.dict \
	    -rss_limit_mb=4096 tests/fuzz/corpus_resize

# The browser test (gcc suite only): Debian's chromium driven by
# puppeteer-core, installed from tests/browser/package-lock.json (exact
# versions, integrity hashes) into build/browser; it downloads no browser.
BROWSER_DIR   := build/browser
browser-deps: $(BROWSER_DIR)/node_modules/.package-lock.json

$(BROWSER_DIR)/node_modules/.package-lock.json: tests/browser/package.json tests/browser/package-lock.json
	@scripts/ensure-deps.sh node:nodejs npm:npm /usr/bin/chromium:chromium
	@mkdir -p $(BROWSER_DIR)
	@cp tests/browser/package.json tests/browser/package-lock.json $(BROWSER_DIR)/
	@cd $(BROWSER_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

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

# wrk against rail-server, nginx (2 workers) and h2o (2 threads) on loopback,
# alternating: 4/64/256 connections keep-alive, 64 with Connection: close, a
# 1 MiB file at 64; HTTP_DURATION s each, HTTP_REPS times. Writes its section
# of docs/BENCHMARKS.md and docs/http-benchmarks.png. About 8 minutes.
HTTP_REPS     ?= 3
HTTP_DURATION ?= 10
bench-http: build
	@scripts/ensure-deps.sh python3:python3 wrk:wrk /usr/sbin/nginx:nginx-light h2o:h2o \
	    gnuplot:gnuplot-nox
	@python3 bench/http_bench.py $(BUILD)/server/rail-server --reps $(HTTP_REPS) \
	    --duration $(HTTP_DURATION) --out docs/BENCHMARKS.md

# /resize against sharp 0.34.5 over HTTP and the in-process libvips floor:
# inputs generated by the vips CLI, sharp installed by npm ci from the
# committed lockfile; 2 and 8 connections, RESIZE_DURATION s per cell,
# RESIZE_REPS repetitions. Writes its section of docs/BENCHMARKS.md and
# docs/bench-resize.png. About 25 minutes with the defaults; a smoke run:
# make bench-resize RESIZE_REPS=1 RESIZE_DURATION=3.
# bench-resize-memory: VmRSS over RESIZE_MEM_COUNTS mixed requests for each
# allocator option (glibc, MALLOC_ARENA_MAX=2, trim threshold, malloc_trim,
# jemalloc).
RESIZE_REPS       ?= 3
RESIZE_DURATION   ?= 15
RESIZE_ARGS       ?=
RESIZE_MEM_COUNTS ?= 1000,10000
RESIZE_BUILD      := build/bench-resize
DEPS_BENCH_RESIZE := $(DEPS_BUILD) python3:python3 wrk:wrk node:nodejs npm:npm gnuplot:gnuplot-nox \
                     vips:libvips-tools /usr/share/doc/libjemalloc2/copyright:libjemalloc2

bench-resize-prepare:
	@scripts/ensure-deps.sh $(DEPS_BENCH_RESIZE)
	@cmake -S . -B $(RESIZE_BUILD) -DCMAKE_BUILD_TYPE=Release -DRAIL_BUILD_TESTS=OFF \
	    -DRAIL_BUILD_EXAMPLES=OFF -DRAIL_BUILD_BENCH_RESIZE=ON >/dev/null
	@cmake --build $(RESIZE_BUILD) -j $(JOBS) -- --no-print-directory >/dev/null
	@cd bench/resize/sharp && npm ci --no-audit --no-fund --silent
	@echo "bench-resize: generating inputs (once) in $(RESIZE_BUILD)/images"
	@python3 bench/resize/inputs.py $(RESIZE_BUILD)/images

bench-resize: bench-resize-prepare
	@python3 bench/resize/run.py --build $(RESIZE_BUILD) --images $(RESIZE_BUILD)/images \
	    --reps $(RESIZE_REPS) --duration $(RESIZE_DURATION) $(RESIZE_ARGS) \
	    --out docs/BENCHMARKS.md --chart docs/bench-resize.png

bench-resize-memory: bench-resize-prepare
	@python3 bench/resize/run.py --build $(RESIZE_BUILD) --images $(RESIZE_BUILD)/images --memory \
	    --mem-counts $(RESIZE_MEM_COUNTS) $(RESIZE_ARGS) --out docs/BENCHMARKS.md

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
