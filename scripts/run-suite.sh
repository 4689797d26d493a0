#!/usr/bin/env bash
# run-suite.sh NAME CC SANITIZERS TIMEOUT_SCALE STRESS_ITERS [CMAKE_ARG...]
# Configures build/NAME with compiler CC and the given sanitizers (or none)
# and any extra cmake arguments, builds everything with -Werror, and runs
# the whole CTest suite.
set -euo pipefail
name=$1 cc=$2 sanitize=$3 scale=$4 iters=$5
shift 5
dir=build/$name

echo "=== rail test suite: $name (CC=$cc${sanitize:+, -fsanitize=$sanitize}) ==="
# CMake drops every -D setting when the compiler of an existing cache
# changes, so a build dir made with another compiler is started afresh.
cc_path=$(command -v "$cc")
if [[ -f $dir/CMakeCache.txt ]] && ! grep -qx "CMAKE_C_COMPILER:[A-Z]*=$cc_path" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
fi
cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc_path" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DRAIL_SANITIZE="$sanitize" -DRAIL_TEST_TIMEOUT_SCALE="$scale" -DRAIL_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)" -- --no-print-directory >/dev/null
export RAIL_STRESS_ITERS=$iters
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
grep -q "^RAIL_SANITIZE:STRING=$sanitize\$" "$dir/CMakeCache.txt" || {
    echo "rail: $dir is not configured with RAIL_SANITIZE=$sanitize" >&2
    exit 1
}
(cd "$dir" && ctest --output-on-failure --no-tests=error) | tee "$dir/ctest.log"
# "N% tests passed, F tests failed out of T" -> build/NAME.counts, for the summary.
sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\2 \1/p' "$dir/ctest.log" \
    >"build/$name.counts"
