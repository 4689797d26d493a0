#!/usr/bin/env bash
# run-suite.sh PRESET - configures, builds and tests one suite of
# CMakePresets.json in build/PRESET, all with CMake's own tools. The results
# land in build/PRESET/junit.xml (the test preset sets --output-junit), which
# scripts/junit-sum.sh adds up: a failing test does not stop the other
# suites; a failing configure or build does.
set -euo pipefail
preset=$1
echo "=== rail test suite: $preset ==="
rm -f "build/$preset/junit.xml"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)" -- --no-print-directory >/dev/null
ctest --preset "$preset" || true
