#!/usr/bin/env python3
"""HTTP benchmark: wrk against rail-server, nginx and h2o on loopback, in the same run.

usage: http_bench.py SERVER_BINARY [--reps N] [--duration S] [--quick] [--out docs/BENCHMARKS.md]

The three servers serve the same root (hello.html at /, and a 1 MiB file) with
their access logs off; nginx runs 2 worker processes, h2o 2 threads, rail-server
its defaults. Every cell (4, 64, 256 keep-alive connections, 64 with
"Connection: close", and the 1 MiB file at 64 keep-alive connections) runs once
per repetition for each server, the order of the servers rotating between cells
and repetitions. The table reports medians with min-max, p50/p99 from
wrk --latency, the ratios to nginx and h2o, and each server's peak RSS (VmHWM
summed over all its processes). The results replace the section between the
markers below in the output file, leaving the rest of it alone, and a chart
goes next to it (http-benchmarks.png).
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
BIG = "1mib.bin"
# (label, connections, mode, path)
CELLS = [
    ("4 keep-alive", 4, "keep-alive", "/"),
    ("64 keep-alive", 64, "keep-alive", "/"),
    ("256 keep-alive", 256, "keep-alive", "/"),
    ("64 close", 64, "close", "/"),
    ("1 MiB, 64 keep-alive", 64, "keep-alive", "/" + BIG),
]
SERVERS = ["rail-server", "nginx", "h2o"]
HELLO_BYTES = 0  # set from the file served


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


def start_h2o(tmp, root):
    port = free_port()
    conf = os.path.join(tmp, "h2o.conf")
    # No access-log directive: h2o writes none. As root it must drop to a user.
    user = "user: nobody\n" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(f"""{user}num-threads: 2
error-log: {tmp}/h2o-error.log
listen:
  host: 127.0.0.1
  port: {port}
hosts:
  default:
    paths:
      /:
        file.dir: {root}
        file.index: ['hello.html']
""")
    p = subprocess.Popen(["h2o", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


def process_tree(pid):
    """pid and all its descendants."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return pids


def peak_rss_mb(pid):
    """VmHWM summed over the process and its descendants, in MB."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def run_wrk(port, conns, mode, path, duration):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency"]
    if mode == "close":
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    res = {"rps": None, "mbps": None, "p50": None, "p99": None, "errors": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    if m:
        res["mbps"] = float(m.group(1)) * {"B": 2**-20, "KB": 2**-10, "MB": 1, "GB": 2**10}[m.group(2)]
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
    global HELLO_BYTES
    HELLO_BYTES = os.path.getsize(os.path.join(root, "hello.html"))
    with open(os.path.join(root, BIG), "wb") as f:
        f.write(bytes(range(256)) * 4096)  # 1 MiB
    for name in os.listdir(root):
        os.chmod(os.path.join(root, name), 0o644)
    os.chmod(root, 0o755)

    procs, ports = {}, {}
    results = {}  # (server, cell label) -> [res]
    rss = {}
    try:
        procs["rail-server"], ports["rail-server"] = start_rail(args.server, root)
        procs["nginx"], ports["nginx"] = start_nginx(tmp, root)
        procs["h2o"], ports["h2o"] = start_h2o(tmp, root)
        for rep in range(args.reps):
            for i, (label, conns, mode, path) in enumerate(CELLS):
                k = (rep + i) % len(SERVERS)  # rotate who goes first
                for name in SERVERS[k:] + SERVERS[:k]:
                    r = run_wrk(ports[name], conns, mode, path, args.duration)
                    results.setdefault((name, label), []).append(r)
                    print(f"rep {rep + 1}/{args.reps} {name:11} {label:22} "
                          f"{r['rps'] or 0:>10,.0f} req/s  p50 {r['p50']} ms  p99 {r['p99']} ms  "
                          f"errors {r['errors']}", flush=True)
        rss = {name: peak_rss_mb(p.pid) for name, p in procs.items()}
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    lines = table(results, rss, args)
    print("\n".join(lines))
    if args.out:
        write_section(args.out, lines)
        write_chart(os.path.join(os.path.dirname(os.path.abspath(args.out)), "http-benchmarks"),
                    results)


def cell_values(results, name, label, key):
    return [x[key] for x in results.get((name, label), [])]


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def table(results, rss, args):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    lines = [
        BEGIN,
        "## rail-server against nginx and h2o (HTTP)",
        "",
        f"`make bench-http` (`python3 bench/http_bench.py {os.path.relpath(args.server)} --reps {args.reps}"
        f" --duration {args.duration} --out docs/BENCHMARKS.md`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs ({cpu}). wrk (`-t2 --latency`) on the same machine, loopback; `GET /` is "
        f"the same {HELLO_BYTES}-byte hello.html for all three, the last row a 1 MiB file. nginx with 2 worker "
        "processes, h2o (Debian) with 2 threads, rail-server with its defaults; every access log off. "
        f"Medians of {args.reps} runs of {args.duration} s, min-max in brackets; the order of the "
        "servers rotates between cells and repetitions.",
        "",
        "| cell | rail-server req/s | nginx req/s | h2o req/s | rail/nginx | rail/h2o "
        "| p50 ms rail / nginx / h2o | p99 ms rail / nginx / h2o | errors rail/nginx/h2o |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    med_rps = {}
    for label, _, _, _ in CELLS:
        rps = {n: cell_values(results, n, label, "rps") for n in SERVERS}
        for n in SERVERS:
            med_rps[(n, label)] = med(rps[n])
        p50 = " / ".join(fmt_range(cell_values(results, n, label, "p50"), 3) for n in SERVERS)
        p99 = " / ".join(fmt_range(cell_values(results, n, label, "p99"), 2) for n in SERVERS)
        errors = "/".join(str(sum(cell_values(results, n, label, "errors"))) for n in SERVERS)
        r, n_, h = (med_rps[(s, label)] for s in SERVERS)
        lines.append(f"| {label} | " + " | ".join(fmt_range(rps[s]) for s in SERVERS) +
                     f" | {ratio(r, n_)} | {ratio(r, h)} | {p50} | {p99} | {errors} |")
    big = CELLS[-1][0]
    mbps = " / ".join(f"{med(cell_values(results, n, big, 'mbps')) or 0:,.0f}" for n in SERVERS)
    lines += ["", f"1 MiB file, MiB/s (rail-server / nginx / h2o): {mbps}.", "",
              "Peak RSS over the whole run (VmHWM summed over each server's processes: nginx's "
              "master and workers; h2o's process and the perl crash-log helper it starts): " +
              ", ".join(f"{n} {rss.get(n, 0):.1f} MB" for n in SERVERS) + ".", ""]

    def target(what, ok, detail):
        if ok is not None:
            lines.append(f"- Target, {what}: {'met' if ok else '**missed**'} ({detail}).")

    for label in ("64 keep-alive", "256 keep-alive", "64 close"):
        r, n_ = med_rps[("rail-server", label)], med_rps[("nginx", label)]
        target(f"req/s at {label} >= 1.0x nginx", (r >= n_) if r and n_ else None,
               f"{r or 0:,.0f} vs {n_ or 0:,.0f}, {ratio(r, n_)}x")
    r, h = med_rps[("rail-server", "64 keep-alive")], med_rps[("h2o", "64 keep-alive")]
    target("req/s at 64 keep-alive >= 0.8x h2o", (r >= 0.8 * h) if r and h else None,
           f"{r or 0:,.0f} vs {h or 0:,.0f}, {ratio(r, h)}x")
    for label in ("64 keep-alive", "256 keep-alive", "64 close"):
        r99 = med(cell_values(results, "rail-server", label, "p99"))
        n99 = med(cell_values(results, "nginx", label, "p99"))
        target(f"p99 at {label} no worse than nginx's", (r99 <= n99) if r99 and n99 else None,
               f"{r99 or 0:.2f} ms vs {n99 or 0:.2f} ms")
    r, n_ = med_rps[("rail-server", big)], med_rps[("nginx", big)]
    target("1 MiB file at 64 keep-alive >= nginx's throughput", (r >= n_) if r and n_ else None,
           f"{r or 0:,.0f} vs {n_ or 0:,.0f} req/s, {ratio(r, n_)}x")
    lines += ["", "![rail-server, nginx and h2o: req/s relative to nginx](http-benchmarks.png)", END]
    return lines


def write_chart(base, results):
    """Clustered bars: each server's median req/s relative to nginx's in the same cell."""
    dat = base + ".dat"
    with open(dat, "w") as f:
        f.write("cell " + " ".join(SERVERS) + "\n")
        for label, _, _, _ in CELLS:
            n = med(cell_values(results, "nginx", label, "rps"))
            vals = []
            for s in SERVERS:
                v = med(cell_values(results, s, label, "rps"))
                vals.append(f"{v / n:.4f}" if v and n else "NaN")
            f.write(f'"{label}" ' + " ".join(vals) + "\n")
    gp = f"""
set terminal pngcairo size 1000,500 font ",10"
set output "{base}.png"
set title "req/s relative to nginx in the same cell (nginx = 1.0; higher is better)"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set yrange [0:*]
set key outside right top
set grid ytics
plot for [i=2:{len(SERVERS) + 1}] "{dat}" using i:xtic(1) title columnheader(i)
"""
    try:
        subprocess.run(["gnuplot"], input=gp, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"chart not drawn: {e}", file=sys.stderr)
    finally:
        try:
            os.remove(dat)
        except OSError:
            pass


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
