#!/usr/bin/env bash
# check-docs.sh [DOC...] - every name a design doc cites in backticks that
# looks like code (an identifier, optionally with "()") must exist in the
# code of src/ or include/rail.h, comments stripped; a cited path (src/...,
# tests/...) must exist. Keeps docs/design.md from speaking of locks and
# functions that are gone. Run from the repository's top directory.
set -euo pipefail
docs=("$@")
[[ ${#docs[@]} -gt 0 ]] || docs=(docs/design.md)

# Every identifier in the code, comments and strings removed by the
# preprocessor (-fpreprocessed: no macro expansion, no includes).
words=$(cat src/*.c src/*.h include/rail.h | cc -fpreprocessed -dD -E -P -x c - 2>/dev/null | sed 's/"\([^"\\]\|\\.\)*"//g' | grep -oE '[A-Za-z_][A-Za-z0-9_]*' | sort -u)

status=0 checked=0
for doc in "${docs[@]}"; do
    # Code spans, one per line; fenced blocks are diagrams, not citations.
    spans=$(awk '/^```/ { fence = !fence; next } !fence' "$doc" | grep -oE '`[^`]+`' | tr -d '`' | sort -u)
    while IFS= read -r span; do
        [[ -n $span ]] || continue
        if [[ $span =~ ^(src|tests|include|scripts|docs)/[A-Za-z0-9_./-]+$ ]]; then
            checked=$((checked + 1))
            [[ -e $span ]] || { echo "$doc: \`$span\` does not exist" >&2; status=1; }
        elif [[ $span =~ ^([A-Za-z_][A-Za-z0-9_]*)(\(\))?$ ]]; then
            checked=$((checked + 1))
            name=${BASH_REMATCH[1]}
            grep -qxF "$name" <<<"$words" ||
                { echo "$doc: \`$span\` is not in src/ or include/rail.h" >&2; status=1; }
        fi
    done <<<"$spans"
done
[[ $status -ne 0 ]] || echo "check-docs: ${docs[*]}: $checked names and paths, all in the code"
exit $status
