#!/usr/bin/env bash
# run-fuzz.sh TARGET SECONDS [LIBFUZZER ARGS...] SEED_CORPUS
# Runs build/fuzz/tests/fuzz/TARGET for SECONDS on a working corpus under
# build/fuzz/corpus-TARGET seeded from SEED_CORPUS; on a crash prints the
# end of the log and fails, else prints the run's stats.
set -euo pipefail
target=$1 seconds=$2
shift 2
seeds=${*: -1}
args=("${@:1:$#-1}")
dir=build/fuzz
mkdir -p "$dir/corpus-$target" "$dir/crashes-$target"
if ! "$dir/tests/fuzz/$target" -max_total_time="$seconds" "${args[@]}" \
    -artifact_prefix="$dir/crashes-$target/" -print_final_stats=1 \
    "$dir/corpus-$target" "$seeds" 2>"$dir/$target.log"; then
    tail -40 "$dir/$target.log"
    echo "fuzz: $target crashed; the input is in $dir/crashes-$target/"
    exit 1
fi
grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+[[:space:]]+DONE" "$dir/$target.log"
echo "fuzz: $target, no crash in $seconds s"
