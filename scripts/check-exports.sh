#!/usr/bin/env bash
# check-exports.sh LIBRARY... - fails if a library defines a global symbol
# not named rail_*. Both of rail's libraries must export only its API: an
# internal name in librail.a would clash with the user's own (a futex_wait of
# theirs, say). For an archive every member's defined globals are read: the
# internals shared between its files are named rail__*. For a shared object
# its dynamic symbol table, where even those must be hidden (src/rail.map).
set -euo pipefail
status=0
for lib in "$@"; do
    case $lib in
    *.so | *.so.*) syms=$(nm -D --defined-only "$lib") allowed='^rail_[a-z]' ;;
    *) syms=$(nm -g --defined-only "$lib") allowed='^rail_' ;;
    esac
    # Lines are "ADDRESS TYPE NAME"; member headers ("x.o:") and blanks have
    # fewer fields.
    leaks=$(awk -v ok="$allowed" 'NF == 3 && $3 !~ ok { print $3 }' <<<"$syms" | sort -u)
    count=$(awk -v ok="$allowed" 'NF == 3 && $3 ~ ok' <<<"$syms" | wc -l)
    if [[ -n $leaks ]]; then
        echo "$lib exports names outside ${allowed#^}*:" >&2
        sed 's/^/  /' <<<"$leaks" >&2
        status=1
    elif [[ $count -eq 0 ]]; then
        echo "$lib exports nothing: is it the library?" >&2
        status=1
    else
        echo "$lib: $count symbols, all ${allowed#^}*"
    fi
done
exit $status
