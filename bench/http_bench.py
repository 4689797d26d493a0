#!/usr/bin/env python3
"""HTTP benchmark: wrk against rail-server and nginx on loopback, in the same run.

usage: http_bench.py SERVER_BINARY [--reps N] [--duration S] [--quick] [--out docs/BENCHMARKS.md]

Both servers serve the same hello.html at / with their access logs off; nginx
runs 2 worker processes. Every case (4, 64, 256 connections; keep-alive and
"Connection: close") runs once per repetition for each server, the servers
alternating and the first of each pair swapping between repetitions. The
table reports medians with min-max. The results replace the section between
the markers below in the output file, leaving the rest of it alone.
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BEGIN = "<!-- http-bench:begin -->"
END = "<!-- http-bench:end -->"
CONNECTIONS = [4, 64, 256]
MODES = ["keep-alive", "close"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start_rail(binary, root):
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--root", root, "--access-log", "off"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        p.kill()
        raise RuntimeError(f"rail-server did not start: {line!r}")
    return p, int(m.group(1))


def start_nginx(tmp, root):
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    temp = os.path.join(tmp, "nginx-temp")
    os.makedirs(temp, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(f"""{user}worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {temp};
    proxy_temp_path {temp};
    fastcgi_temp_path {temp};
    uwsgi_temp_path {temp};
    scgi_temp_path {temp};
    default_type text/html;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ index hello.html; }}
    }}
}}
""")
    p = subprocess.Popen(["/usr/sbin/nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def run_wrk(port, conns, mode, duration):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency"]
    if mode == "close":
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://127.0.0.1:{port}/")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    res = {"rps": None, "p50": None, "p99": None, "errors": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        if m:
            res[key] = to_ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"] += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["errors"] += int(m.group(1))
    return res


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_range(values, digits=0):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:,.{digits}f}"
    return f"{m:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="3 s per run, one repetition")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.duration = 1, 3
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tmp = tempfile.mkdtemp(prefix="rail-http-bench-")
    os.chmod(tmp, 0o755)
    root = os.path.join(tmp, "public")
    os.makedirs(root)
    shutil.copy(os.path.join(repo, "public", "hello.html"), root)
    shutil.copy(os.path.join(repo, "public", "404.html"), root)
    os.chmod(root, 0o755)

    rail, rail_port = start_rail(args.server, root)
    nginx, nginx_port = start_nginx(tmp, root)
    servers = {"rail-server": rail_port, "nginx": nginx_port}
    results = {}  # (server, conns, mode) -> [res]
    try:
        for rep in range(args.reps):
            for conns in CONNECTIONS:
                for mode in MODES:
                    order = list(servers) if (rep + conns) % 2 == 0 else list(reversed(servers))
                    for name in order:
                        r = run_wrk(servers[name], conns, mode, args.duration)
                        results.setdefault((name, conns, mode), []).append(r)
                        print(f"rep {rep + 1}/{args.reps} {name:11} c={conns:<3} {mode:10} "
                              f"{r['rps'] or 0:>10,.0f} req/s  p50 {r['p50']} ms  p99 {r['p99']} ms  "
                              f"errors {r['errors']}", flush=True)
    finally:
        rail.terminate()
        nginx.terminate()
        rail.wait(timeout=30)
        nginx.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    lines = table(results, args)
    print("\n".join(lines))
    if args.out:
        write_section(args.out, lines)


def table(results, args):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    lines = [
        BEGIN,
        "## rail-server against nginx (HTTP)",
        "",
        f"`make bench-http` (`python3 bench/http_bench.py build/release/server/rail-server --reps {args.reps}"
        f" --duration {args.duration} --out docs/BENCHMARKS.md`), {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} CPUs ({cpu}). wrk (2 threads) on the same machine, loopback, `GET /` of the same "
        "hello.html; nginx with 2 worker processes, rail-server with its defaults (a worker per CPU, "
        "one I/O thread); both access logs off. Medians of "
        f"{args.reps} runs of {args.duration} s, min-max in brackets; the servers alternate.",
        "",
        "| connections | mode | rail-server req/s | nginx req/s | rail/nginx | rail p50 ms | nginx p50 ms "
        "| rail p99 ms | nginx p99 ms | errors rail/nginx |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for conns in CONNECTIONS:
        for mode in MODES:
            r = results.get(("rail-server", conns, mode), [])
            n = results.get(("nginx", conns, mode), [])
            rr, nr = med([x["rps"] for x in r]), med([x["rps"] for x in n])
            ratio = f"{rr / nr:.2f}" if rr and nr else "-"
            lines.append(
                f"| {conns} | {mode} | {fmt_range([x['rps'] for x in r])} | {fmt_range([x['rps'] for x in n])} "
                f"| {ratio} | {fmt_range([x['p50'] for x in r], 3)} | {fmt_range([x['p50'] for x in n], 3)} "
                f"| {fmt_range([x['p99'] for x in r], 2)} | {fmt_range([x['p99'] for x in n], 2)} "
                f"| {sum(x['errors'] for x in r)}/{sum(x['errors'] for x in n)} |")
    r = med([x["rps"] for x in results.get(("rail-server", 64, "keep-alive"), [])])
    n = med([x["rps"] for x in results.get(("nginx", 64, "keep-alive"), [])])
    r99 = med([x["p99"] for x in results.get(("rail-server", 64, "keep-alive"), [])])
    n99 = med([x["p99"] for x in results.get(("nginx", 64, "keep-alive"), [])])
    lines.append("")
    if r and n:
        lines.append(f"- Target, req/s at 64 keep-alive connections >= nginx's: "
                     f"{'met' if r >= n else '**missed**'} ({r:,.0f} vs {n:,.0f}, {r / n:.2f}x).")
    if r99 and n99:
        lines.append(f"- Target, p99 at 64 keep-alive connections <= nginx's: "
                     f"{'met' if r99 <= n99 else '**missed**'} ({r99:.2f} ms vs {n99:.2f} ms).")
    lines.append(END)
    return lines


def write_section(path, lines):
    text = open(path).read() if os.path.exists(path) else ""
    section = "\n".join(lines) + "\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
