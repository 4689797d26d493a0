#!/usr/bin/env bash
# verify_unit.sh UNIT RAIL_SERVER - deploy/rail-server.service is a unit
# systemd accepts without a single warning (systemd-analyze verify exits 0
# even on unknown keys or bad values, so any output fails), its stop
# timeout covers --shutdown-timeout, and its ExecStart flags are flags
# this rail-server accepts. Exit 77 (skipped) without systemd-analyze.
set -euo pipefail
unit=$1 bin=$2

if ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: systemd-analyze is not installed (Debian package systemd)"
    exit 77
fi
fail() { echo "FAIL: $*"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# verify checks that ExecStart's program exists: point it at this build.
sed "s|/usr/local/bin/rail-server|$bin|" "$unit" >"$tmp/rail-server.service"
out=$(systemd-analyze verify "$tmp/rail-server.service" 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify warns: $out"

grep -qx 'KillSignal=SIGTERM' "$unit" || fail "KillSignal is not SIGTERM"
shutdown_ms=$(grep -o -- '--shutdown-timeout [0-9]*' "$unit" | awk '{ print $2 }')
stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
[[ -n $shutdown_ms && -n $stop_s ]] || fail "no --shutdown-timeout or TimeoutStopSec"
((stop_s * 1000 > shutdown_ms)) ||
    fail "TimeoutStopSec=$stop_s s does not cover --shutdown-timeout $shutdown_ms ms"
for key in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes; do
    grep -qx "$key" "$unit" || fail "$key missing"
done
for key in MemoryMax LimitNOFILE RestrictAddressFamilies; do
    grep -q "^$key=" "$unit" || fail "$key missing"
done

# The ExecStart flags (continuation lines joined, variables dropped) with
# --help last: rail-server parses every flag before it, exit 0 or 2.
flags=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | tr -d '\\\n' |
    sed -e 's/^ExecStart=[^ ]*//' -e 's/\$[A-Z_]*//g')
# shellcheck disable=SC2086 # a list of flags
"$bin" $flags --help >/dev/null || fail "rail-server rejects the unit's flags:$flags"
echo "rail-server.service: verified (systemd-analyze, stop timeout ${stop_s} s > ${shutdown_ms} ms, flags accepted)"
