#!/usr/bin/env bash
# cluster.sh - N rail-server instances behind nginx, all on loopback, in a
# temporary prefix (config, pids, logs, cache), as the current user.
#
#   scripts/cluster.sh BIN [N]
#       start N (default 2) instances of BIN and nginx in front, print the
#       URL, stop everything on Ctrl-C (or SIGTERM).
#   scripts/cluster.sh render PREFIX LISTEN_PORT BACKEND_PORT...
#       only write PREFIX/nginx.conf from deploy/nginx/rail.conf.in (the
#       integration test starts the processes itself).
#
# Environment: PORT (nginx, default 8080), BASE_PORT (first instance,
# default PORT+1), ROOT (document root, default public), RAIL_ARGS (more
# rail-server flags, e.g. "--sign-key-file rail.key --threads 2"),
# KEEP=1 (keep the prefix after stopping, to read the logs).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
template=$here/deploy/nginx/rail.conf.in
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

# render PREFIX LISTEN_PORT BACKEND_PORT...
render() {
    local prefix=$1 listen=$2
    shift 2
    local servers="" p user_line=""
    for p in "$@"; do
        # Passive health: after a failure (refused, reset, timeout, 503) an
        # instance gets no traffic for fail_timeout.
        servers+="        server 127.0.0.1:$p max_fails=1 fail_timeout=2s;"$'\n'
    done
    # As root the workers would otherwise drop to nobody, who cannot write
    # the prefix; as anyone else nginx stays that user.
    [[ $(id -u) -eq 0 ]] && user_line="user root;"
    mkdir -p "$prefix"/tmp "$prefix"/cache
    local tries=$(($# < 3 ? $# : 3))
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN@|127.0.0.1:$listen|g" \
        -e "s|@USER_LINE@|$user_line|" -e "s|@WORKERS@|${NGINX_WORKERS:-2}|" \
        -e "s|@CONN_PER_IP@|${CONN_PER_IP:-256}|" -e "s|@CACHE_SIZE@|${CACHE_SIZE:-1g}|" \
        -e "s|@TRIES@|$tries|" \
        -e "/@SERVERS@/{
r /dev/stdin
d
}" "$template" >"$prefix/nginx.conf" <<<"${servers%$'\n'}"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_http URL: up to 10 s for a 200.
wait_http() {
    local i
    for ((i = 0; i < 100; i++)); do
        curl -fs -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    echo "cluster: $1 did not answer" >&2
    return 1
}

if [[ ${1:-} == render ]]; then
    shift
    render "$@"
    exit 0
fi

bin=${1:?usage: cluster.sh BIN [N] | cluster.sh render PREFIX PORT BACKEND_PORT...}
n=${2:-2}
port=${PORT:-8080}
base=${BASE_PORT:-$((port + 1))}
root=${ROOT:-public}
[[ -x $NGINX ]] || { echo "cluster: nginx not found (apt-get install nginx-light)" >&2; exit 1; }
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "cluster: N must be a positive number" >&2; exit 1; }

ports=()
for ((i = 0; i <= n; i++)); do
    p=$((i == 0 ? port : base + i - 1))
    if port_in_use "$p"; then
        echo "cluster: port $p is in use; choose others with PORT=... (BASE_PORT=...)" >&2
        exit 1
    fi
    ((i > 0)) && ports+=("$p")
done

prefix=$(mktemp -d /tmp/rail-cluster.XXXXXX)
pids=()
nginx_pid=""
stop() {
    trap - INT TERM EXIT
    echo
    echo "cluster: stopping"
    if [[ -n $nginx_pid ]]; then kill -QUIT "$nginx_pid" 2>/dev/null || true; fi
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then echo "cluster: logs kept in $prefix"; else rm -rf "$prefix"; fi
}
trap stop EXIT
trap 'exit 0' INT TERM # Ctrl-C is the normal way to stop

render "$prefix" "$port" "${ports[@]}"
for ((i = 0; i < n; i++)); do
    # shellcheck disable=SC2086 # RAIL_ARGS is a list of flags
    "$bin" --listen "127.0.0.1:${ports[i]}" --root "$root" \
        --access-log "$prefix/backend-$((i + 1)).log" ${RAIL_ARGS:-} \
        >"$prefix/backend-$((i + 1)).out" 2>&1 &
    pids+=($!)
done
for p in "${ports[@]}"; do wait_http "http://127.0.0.1:$p/health"; done

"$NGINX" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
wait_http "http://127.0.0.1:$port/nginx-health"

echo "cluster: $n rail-server instance(s) on 127.0.0.1:${ports[*]} behind nginx"
echo "cluster: http://127.0.0.1:$port/   (logs in $prefix; Ctrl-C stops everything)"
echo "cluster: e.g. curl -sD- -o /dev/null 'http://127.0.0.1:$port/resize?src=IMAGE&w=200'" \
    "twice: X-Cache-Status MISS, then HIT"
# Until Ctrl-C, or until nginx or an instance exits.
wait -n "$nginx_pid" "${pids[@]}" || true
echo "cluster: a process exited; see $prefix" >&2
