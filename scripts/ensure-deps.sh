#!/usr/bin/env bash
# ensure-deps.sh CHECK:PACKAGE ... - install the Debian packages whose CHECK
# is missing. CHECK is a command name, or an absolute path to a file the
# package provides. Installs with apt-get (as root, or through sudo).
set -euo pipefail

missing=()
for pair in "$@"; do
    check=${pair%%:*}
    package=${pair#*:}
    if [[ $check == /* ]]; then
        [[ -e $check ]] && continue
    else
        command -v "$check" >/dev/null 2>&1 && continue
    fi
    missing+=("$package")
done
((${#missing[@]} == 0)) && exit 0

echo "rail: installing missing Debian packages: ${missing[*]}" >&2
if [[ $(id -u) -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "rail: need root or sudo to install: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
