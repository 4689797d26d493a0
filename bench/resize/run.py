#!/usr/bin/env python3
"""make bench-resize: rail-server's /resize against sharp over HTTP and the in-process libvips floor.

usage: run.py --build DIR --images DIR [--reps N] [--duration S] [--conns 2,8]
              [--workloads jpeg12,...] [--out docs/BENCHMARKS.md] [--chart docs/bench-resize.png]
       run.py --build DIR --images DIR --memory [--mem-counts 1000,10000] [--allocators ...] [--out ...]

Throughput (the default mode). Three systems on the same inputs (bench/resize/inputs.py):
  rail GET   rail-server --images DIR --threads 2, access log off, GET /resize?src=...
  rail POST  the same server, the input as the request body
  sharp      sharp 0.34.5 (its libvips 8.17.3) in bench/resize/sharp/server.js, the same GET API,
             sharp.cache(false), sharp.concurrency(1), UV_THREADPOOL_SIZE=2
  floor      build/.../resize_floor: the server's own resize function on 2 threads, inputs in
             memory, no HTTP: the ceiling for rail
wrk (two threads) drives the HTTP systems with bench/resize/rotate.lua, which cycles through every
variant of the workload's input. Every cell (workload x connections) runs once per repetition for
each system, the order rotating between repetitions. Reported: img/s (median, min-max), latency
p50/p95/p99 (median over repetitions), peak RSS (VmHWM, reset before each cell through
/proc/PID/clear_refs), and per workload the PSNR of each system's output against a full-decode
lanczos3 reference (bench/resize/quality.c). A last measurement runs the 2.8 MP workload alone
and then beside 1, 2 and 4 connections of progressive 12 MP JPEGs (the slow inputs), for each
server, into a section of its own (--slow-only runs just that one).

Memory (--memory). For each allocator option, a fresh rail-server receives the mixed requests
(the four workloads, GET and POST, random sizes; seeded, the same sequence every time) from two
client threads, and VmRSS is read after each count in --mem-counts (cumulative).

The results replace this benchmark's section of --out (between the markers below), leaving the
rest of the file alone.
"""
import argparse
import glob
import http.client
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BEGIN = "<!-- bench-resize:begin -->"
END = "<!-- bench-resize:end -->"
MEM_BEGIN = "<!-- bench-resize-memory:begin -->"
MEM_END = "<!-- bench-resize-memory:end -->"
SLOW_BEGIN = "<!-- bench-resize-slow:begin -->"
SLOW_END = "<!-- bench-resize-slow:end -->"

# key, input set, extension, query, label, target ratio rail GET / sharp (issue 10)
WORKLOADS = [
    ("jpeg12", "jpeg12", "jpg", "w=800&format=jpeg&q=80", "12 MP JPEG q90 → 800 px JPEG q80", 1.10),
    ("jpeg3", "jpeg3", "jpg", "w=512&h=512&fit=inside&format=jpeg&q=80",
     "2040×1356 JPEG q75 → fit 512×512 JPEG q80", 1.20),
    ("png", "png", "png", "w=800&format=jpeg&q=80", "1920×1080 PNG → 800 px JPEG q80", 1.00),
    ("webp", "webp", "webp", "w=800&format=webp&q=80", "1000² WebP → 800 px WebP q80", 1.00),
    ("avif", "jpeg12", "jpg", "w=800&format=avif&q=50", "12 MP JPEG q90 → 800 px AVIF q50", 1.00),
]
WL = {w[0]: w for w in WORKLOADS}
HTTP_SYSTEMS = ["rail GET", "rail POST", "sharp"]
SYSTEMS = HTTP_SYSTEMS + ["floor"]


# ---------------------------------------------------------------- processes

def proc_status(pid, field):
    """A /proc/PID/status field in MB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    """User + system CPU time of every thread of PID so far, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def read_port(p, what):
    line = p.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        p.kill()
        raise RuntimeError(f"{what} did not start: {line!r}")
    # Keep draining its output so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return int(m.group(1))


def start_rail(binary, images, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--root", images, "--images", images,
                          "--threads", "2", "--access-log", "off"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    return p, read_port(p, "rail-server")


def start_sharp(images, avif_effort):
    env = dict(os.environ, UV_THREADPOOL_SIZE="2", AVIF_EFFORT=str(avif_effort))
    p = subprocess.Popen(["node", os.path.join(HERE, "sharp", "server.js"), images],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    return p, read_port(p, "sharp server")


def stop(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def variants(images, wl):
    files = sorted(glob.glob(os.path.join(images, wl[1], "*." + wl[2])))
    if not files:
        raise RuntimeError(f"no inputs in {images}/{wl[1]}: run bench/resize/inputs.py first")
    return files


# ---------------------------------------------------------------- load

def request_list(tmp, images, wl, system, files=None):
    """The wrk request list of one workload for one system."""
    path = os.path.join(tmp, f"{wl[0]}-{system.replace(' ', '-')}.txt")
    with open(path, "w") as f:
        for file in files or variants(images, wl):
            rel = os.path.relpath(file, images)
            if system == "rail POST":
                f.write(f"POST /resize?{wl[3]} {file}\n")
            else:
                f.write(f"GET /resize?src={rel}&{wl[3]}\n")
    return path


def run_wrk(port, conns, duration, listfile):
    # Two wrk threads (one for a single connection): with one, a connection
    # writing a large POST body held up the other's replies in our runs.
    cmd = ["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{duration}s", "--timeout", "60s",
           "-s", os.path.join(HERE, "rotate.lua"), f"http://127.0.0.1:{port}", "--", listfile]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120).stdout
    m = re.search(r"^RESULT (.*)$", out, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    kv = {k: int(v) for k, v in (x.split("=") for x in m.group(1).split())}
    secs = kv["duration_us"] / 1e6
    return {"ips": kv["requests"] / secs if secs else None,
            "p50": kv["p50_us"] / 1e3, "p95": kv["p95_us"] / 1e3, "p99": kv["p99_us"] / 1e3,
            "errors": kv["connect"] + kv["read"] + kv["write"] + kv["status"] + kv["timeout"],
            "requests": kv["requests"]}


def run_floor(binary, wl, images, duration):
    cmd = [binary, "--threads", "2", "--seconds", str(duration), "--query", wl[3]] + variants(images, wl)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 300)
    if out.returncode != 0:
        raise RuntimeError(f"resize_floor failed: {out.stderr.strip()}")
    vals = dict(re.findall(r"^(\w+)\s+([\d.]+)$", out.stdout, re.M))
    return {"ips": float(vals["img_s"]), "p50": None, "p95": None, "p99": None,
            "errors": int(float(vals.get("errors", 0))), "rss": float(vals["peak_rss_mb"]),
            "cpu": float(vals["cpu_ms_per_img"])}


def warm(port, images, system):
    """One request of each workload, so no first-use cost lands in a measured cell."""
    for wl in WORKLOADS:
        file = variants(images, wl)[0]
        fetch(port, images, wl, file, system)


def fetch(port, images, wl, file, system):
    rel = os.path.relpath(file, images)
    if system == "rail POST":
        with open(file, "rb") as f:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/resize?{wl[3]}", data=f.read(),
                                         method="POST")
    else:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/resize?src={rel}&{wl[3]}")
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read()


# ---------------------------------------------------------------- quality

def measure_quality(quality_bin, ports, images, workloads, tmp, count=4):
    """Median PSNR per (workload, system) over the first `count` variants."""
    result = {}
    for key in workloads:
        wl = WL[key]
        per = {}
        same_post = True
        for file in variants(images, wl)[:count]:
            outs = []
            for system in HTTP_SYSTEMS:
                body = fetch(ports[system], images, wl, file, system)
                out = os.path.join(tmp, f"q-{key}-{system.replace(' ', '-')}")
                with open(out, "wb") as f:
                    f.write(body)
                outs.append((system, out, body))
            if outs[0][2] != outs[1][2]:
                same_post = False
            r = subprocess.run([quality_bin, file] + [o[1] for o in outs], capture_output=True,
                               text=True, timeout=300)
            for (system, out, _), line in zip(outs, r.stdout.splitlines()):
                per.setdefault(system, []).append(float(line.split()[-1]))
        result[key] = {s: statistics.median(v) for s, v in per.items()}
        result[key]["post_equals_get"] = same_post
    return result


# ---------------------------------------------------------------- slow inputs

def slow_inputs(ports, images, tmp, duration, streams):
    """The 2.8 MP workload at 2 connections, alone and then beside each count in `streams` of
    connections sending progressive 12 MP JPEGs, per server. Alternates servers per step, so
    both see the same machine. Returns {system: [(n_streams, normal, progressive), ...]}."""
    wl = WL["jpeg3"]
    prog = ("prog", "prog", "jpg", WL["jpeg12"][3])
    res = {"rail GET": [], "sharp": []}
    for n in [0] + streams:
        for system in res:
            port = ports[system]
            normal = request_list(tmp, images, wl, system)
            box = {}
            t = None
            if n:
                slow = request_list(tmp, images, prog, system)
                t = threading.Thread(target=lambda: box.update(run_wrk(port, n, duration + 2, slow)))
                t.start()
                time.sleep(1)
            mixed = run_wrk(port, 2, duration, normal)
            if t:
                t.join()
            res[system].append((n, mixed, box))
            print(f"slow inputs {system:9} beside {n} progressive connection(s): p95 {mixed['p95']:.1f} ms "
                  f"p99 {mixed['p99']:.1f} ms {mixed['ips']:.1f} img/s (progressive {box.get('ips', 0):.2f} "
                  "img/s)", flush=True)
    return res


def slow_report(slow, args):
    lines = [SLOW_BEGIN, "## /resize: slow inputs beside quick ones", "",
             (f"`python3 bench/resize/run.py --slow-only --slow-streams {args.slow_streams} "
              f"--duration {args.duration}`" if args.slow_only else "`make bench-resize`") + ", " +
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
             "the 2.8 MP workload (fit 512, GET) at 2 connections, alone and then beside 1, 2, … "
             "more connections that send progressive 12 MP JPEGs → 800 px (they decode whole: "
             "rail-server's *heavy* inputs). rail-server `--threads 2`: its slow lane runs at most "
             "one heavy resize at a time and keeps the other worker for quick ones; sharp "
             "(`UV_THREADPOOL_SIZE=2`) has no such lane. One run per cell.", "",
             "| server | progressive connections | 2.8 MP img/s | p50 ms | p95 ms | p99 ms "
             "| progressive img/s |", "|---|---|---|---|---|---|---|"]
    for system, rows in slow.items():
        for n, mixed, prog in rows:
            lines.append(f"| {system} | {n} | {mixed['ips']:.1f} | {mixed['p50']:.1f} | "
                         f"{mixed['p95']:.1f} | {mixed['p99']:.1f} | "
                         f"{prog['ips']:.2f} |" if n else
                         f"| {system} | 0 (alone) | {mixed['ips']:.1f} | {mixed['p50']:.1f} | "
                         f"{mixed['p95']:.1f} | {mixed['p99']:.1f} | – |")
    lines.append(SLOW_END)
    return lines


# ---------------------------------------------------------------- report

def fmt(values, digits=1):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        return ""


def report(results, quality, args, versions):
    lines = [BEGIN, "## /resize against sharp and the in-process libvips floor", ""]
    smoke = args.reps < 3 or args.duration < 15
    cmd = (f"python3 bench/resize/run.py --reps {args.reps} --duration {args.duration} "
           f"--conns {args.conns} --avif-effort {args.avif_effort}")
    lines.append(
        f"`make bench-resize` (`{cmd}`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs ({cpu_name()}). {versions}. "
        f"Inputs from `bench/resize/inputs.py` ({args.variants_seen} variants per workload, rotated "
        "by `bench/resize/rotate.lua`); wrk with two threads on the same machine, loopback. "
        f"rail-server `--threads 2 --access-log off`; sharp with `sharp.cache(false)`, "
        "`sharp.concurrency(1)`, `UV_THREADPOOL_SIZE=2`; the floor is `resize_floor`: the server's "
        "resize function on 2 threads, inputs in memory, no HTTP. "
        f"Medians of {args.reps} run(s) of {args.duration} s, min–max in brackets; the systems "
        f"alternate. AVIF: effort {args.avif_effort} for both servers.")
    if smoke:
        lines += ["", f"**Short run** ({args.reps} repetition(s) of {args.duration} s, not the "
                  "3 of 15 s the issue asks for): ratios within a few percent of 1.0 are inside "
                  "the run-to-run spread shown in brackets."]
    lines += ["", "| workload | conns | system | img/s | p50 ms | p95 ms | p99 ms | CPU ms/img | peak RSS MB | errors |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for key in args.workloads:
        for conns in args.conn_list:
            for system in SYSTEMS:
                rs = results.get((key, conns, system), [])
                if not rs:
                    continue
                lines.append(
                    f"| {WL[key][4]} | {conns if system != 'floor' else '2 threads'} | {system} "
                    f"| {fmt([r['ips'] for r in rs])} | {fmt([r['p50'] for r in rs])} "
                    f"| {fmt([r['p95'] for r in rs])} | {fmt([r['p99'] for r in rs])} "
                    f"| {fmt([r.get('cpu') for r in rs])} | {fmt([r.get('rss') for r in rs], 0)} | {sum(r['errors'] for r in rs)} |")
    lines += ["", "Ratios (medians; targets from issue 10) and output quality (PSNR in dB against a "
              "full-decode lanczos3 reference, median of 4 inputs; higher is better):", "",
              "| workload | conns | rail GET / sharp (target) | rail POST / sharp | rail GET / floor "
              "(target 0.95) | CPU/img sharp ÷ rail GET | p95 rail / sharp ms | PSNR rail | PSNR sharp |",
              "|---|---|---|---|---|---|---|---|---|"]
    for key in args.workloads:
        q = quality.get(key, {})
        for conns in args.conn_list:
            g = med([r["ips"] for r in results.get((key, conns, "rail GET"), [])])
            p = med([r["ips"] for r in results.get((key, conns, "rail POST"), [])])
            s = med([r["ips"] for r in results.get((key, conns, "sharp"), [])])
            f = med([r["ips"] for r in results.get((key, 2, "floor"), [])])
            gcpu = med([r.get("cpu") for r in results.get((key, conns, "rail GET"), [])])
            scpu = med([r.get("cpu") for r in results.get((key, conns, "sharp"), [])])
            gp95 = med([r["p95"] for r in results.get((key, conns, "rail GET"), [])])
            sp95 = med([r["p95"] for r in results.get((key, conns, "sharp"), [])])

            def ratio(a, b, target=None):
                if not a or not b:
                    return "-"
                text = f"{a / b:.2f}"
                if target is not None:
                    text += f" ({target:.2f}, {'met' if a / b >= target else '**missed**'})"
                return text

            lines.append(
                f"| {WL[key][4]} | {conns} | {ratio(g, s, WL[key][5])} | {ratio(p, s)} "
                f"| {ratio(g, f, 0.95 if conns == 2 else None)} | {ratio(scpu, gcpu)} "
                f"| {gp95 or 0:.1f} / {sp95 or 0:.1f} "
                f"| {q.get('rail GET', float('nan')):.2f} | {q.get('sharp', float('nan')):.2f} |")
    lines += ["", "CPU ms/img is the server process's user + system CPU time over the cell divided by the "
              "images it answered (the floor: its own). On a shared machine it is the figure other "
              "load disturbs least; img/s and latency move with whatever else runs. The floor's peak "
              "RSS includes its inputs, all held in memory."]
    if "avif" in args.workloads:
        lines += ["", "AVIF: both at the same effort and q, and both 4:4:4 (sharp's default "
                  "`chromaSubsampling`; rail-server sets it: libvips' own 4:2:0 below q90 gave a "
                  "lower PSNR)."]
    if quality:
        same = all(q.get("post_equals_get") for q in quality.values())
        lines += ["", f"rail's POST answers were {'byte-identical to' if same else '**not** identical to'} "
                  "its GET answers for the same inputs."]
    if args.chart:
        lines += ["", f"![/resize img/s at 2 connections]({os.path.basename(args.chart)})"]
    lines.append(END)
    return lines


def chart(results, args, tmp):
    data = os.path.join(tmp, "chart.dat")
    with open(data, "w") as f:
        f.write("workload " + " ".join(f'"{s}"' for s in SYSTEMS) + "\n")
        for key in args.workloads:
            row = [med([r["ips"] for r in results.get((key, 2, s), [])]) or 0 for s in SYSTEMS]
            f.write(f'"{key}" ' + " ".join(f"{v:.2f}" for v in row) + "\n")
    gp = f"""
set terminal pngcairo size 1000,500 font ",10"
set output "{args.chart}"
set title "/resize throughput, 2 connections (2 workers), {time.strftime('%Y-%m-%d')}"
set ylabel "images per second (higher is better)"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top right
set grid ytics
set yrange [0:*]
plot for [i=2:{len(SYSTEMS) + 1}] "{data}" using i:xtic(1) title columnhead(i)
"""
    subprocess.run(["gnuplot"], input=gp, text=True, check=True)


def write_section(path, lines, begin, end):
    text = open(path).read() if os.path.exists(path) else ""
    section = "\n".join(lines) + "\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def versions_line(rail_bin):
    parts = []
    try:
        out = subprocess.run([rail_bin, "--version"], capture_output=True, text=True, timeout=10).stdout
        parts.append("rail-server: " + " ".join(out.split()))
    except OSError:
        pass
    try:
        out = subprocess.run(["node", "-e", "const s=require('sharp');"
                              "console.log(s.versions.sharp+' (libvips '+s.versions.vips+')')"],
                             cwd=os.path.join(HERE, "sharp"), capture_output=True, text=True, timeout=30)
        parts.append("sharp " + out.stdout.strip() + ", node " +
                     subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip())
    except OSError:
        pass
    return "; ".join(parts)


# ---------------------------------------------------------------- memory

def jemalloc_path():
    found = glob.glob("/usr/lib/*/libjemalloc.so.2") + glob.glob("/usr/lib/libjemalloc.so.2")
    return found[0] if found else None


def allocator_options(build):
    shim = os.path.join(build, "bench", "resize", "libtrim_shim.so")
    return {
        "server": {},
        "glibc": {"MALLOC_ARENA_MAX": "16"},
        "arena2": {"MALLOC_ARENA_MAX": "2"},
        "trim128k": {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"},
        "malloc_trim": {"LD_PRELOAD": shim, "RAIL_TRIM_MS": "200"},
        "arena2+trim": {"MALLOC_ARENA_MAX": "2", "LD_PRELOAD": shim, "RAIL_TRIM_MS": "200"},
        "jemalloc": {"LD_PRELOAD": jemalloc_path() or "libjemalloc.so.2"},
    }


ALLOC_TEXT = {
    "server": "rail-server's own policy: two arenas (`mallopt`) and `malloc_trim(0)` once a second "
              "when the pool has finished work and is idle",
    "glibc": "glibc's default arena count (`MALLOC_ARENA_MAX=16`, 8 per core, which overrides the "
             "server's two)",
    "arena2": "`MALLOC_ARENA_MAX=2`",
    "trim128k": "`M_TRIM_THRESHOLD` 128 KiB (`GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072`; "
                "fixes the dynamic mmap threshold too)",
    "malloc_trim": "`malloc_trim(0)` every 200 ms (`libtrim_shim.so` preloaded: stands in for a trim "
                   "when a worker goes idle)",
    "arena2+trim": "`MALLOC_ARENA_MAX=2` and `malloc_trim(0)` every 200 ms",
    "jemalloc": "jemalloc 5.3 (Debian libjemalloc2) by `LD_PRELOAD`",
}


def mixed_requests(images, count, seed):
    """The seeded sequence of mixed requests: (method, target, body file)."""
    rng = random.Random(seed)
    sets = {k: variants(images, WL[k]) for k in ("jpeg12", "jpeg3", "png", "webp")}
    out = []
    for _ in range(count):
        key = rng.choice(list(sets))
        file = rng.choice(sets[key])
        w = rng.randint(32, 1600)
        q = [f"w={w}"]
        if rng.random() < 0.5:
            q += [f"h={rng.randint(32, 1600)}", "fit=" + rng.choice(["inside", "cover", "contain", "fill",
                                                                        "outside"])]
        q.append("format=" + rng.choice(["jpeg", "jpeg", "webp", "png"]))
        query = "&".join(q)
        if rng.random() < 0.5:
            out.append(("POST", f"/resize?{query}", file))
        else:
            out.append(("GET", f"/resize?src={os.path.relpath(file, images)}&{query}", None))
    return out


def drive(port, reqs, clients=2):
    """Sends reqs from `clients` threads on keep-alive connections; returns (ok, failed)."""
    lock = threading.Lock()
    it = iter(reqs)
    counts = {"ok": 0, "failed": 0}

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                item = next(it, None)
            if item is None:
                break
            method, target, file = item
            body = open(file, "rb").read() if file else None
            try:
                conn.request(method, target, body=body)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                ok = False
            with lock:
                counts["ok" if ok else "failed"] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts["ok"], counts["failed"]


def memory_mode(args, rail_bin):
    counts = [int(c) for c in args.mem_counts.split(",")]
    reqs = mixed_requests(args.images, counts[-1], seed=10)
    options = allocator_options(args.build)
    rows = []
    for name in args.allocators.split(","):
        env = options[name]
        p, port = start_rail(rail_bin, args.images, env)
        try:
            done, row = 0, {"name": name, "rss": [], "failed": 0, "t0": time.time()}
            for c in counts:
                ok, failed = drive(port, reqs[done:c])
                row["failed"] += failed
                done = c
                time.sleep(1.5)  # the idle trim (once a second) runs, as between bursts
                rss = proc_status(p.pid, "VmRSS")
                row["rss"].append(rss)
                print(f"memory {name:12} after {c:6} requests: VmRSS {rss:.1f} MB "
                      f"(failed so far {row['failed']})", flush=True)
            row["hwm"] = proc_status(p.pid, "VmHWM")
            row["secs"] = time.time() - row["t0"]
            rows.append(row)
        finally:
            stop(p)
    lines = [MEM_BEGIN, "## /resize memory by allocator", "",
             f"`python3 bench/resize/run.py --memory --mem-counts {args.mem_counts}`, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: a fresh rail-server "
             "(`--threads 2`) per option receives the same seeded mix of requests (12 MP JPEG, "
             "2.8 MP JPEG, 1080p PNG, 1000² WebP inputs; GET and POST; widths 32–1600, half with a "
             "height and a random fit; JPEG/WebP/PNG out) from 2 client threads; VmRSS after each "
             "count (cumulative), peak VmHWM at the end.", "",
             "| allocator | " + " | ".join(f"VmRSS MB after {c:,}" for c in counts) +
             f" | growth {counts[0]:,}→{counts[-1]:,} | peak VmHWM MB | wall s | failed |",
             "|---|" + "---|" * (len(counts) + 4)]
    for row in rows:
        g = (row["rss"][-1] / row["rss"][0] - 1) * 100 if row["rss"][0] else float("nan")
        lines.append(f"| {ALLOC_TEXT[row['name']]} | " + " | ".join(f"{r:.1f}" for r in row["rss"]) +
                     f" | {g:+.1f}% | {row['hwm']:.1f} | {row['secs']:.0f} | {row['failed']} |")
    lines.append(MEM_END)
    print("\n".join(lines))
    if args.out:
        write_section(args.out, lines, MEM_BEGIN, MEM_END)


# ---------------------------------------------------------------- main

def rail_avif_effort():
    """rail-server's AVIF effort (AVIF_EFFORT in server/resize.c), so sharp is given the same."""
    try:
        with open(os.path.join(REPO, "server", "resize.c")) as f:
            m = re.search(r"^#define AVIF_EFFORT (\d+)", f.read(), re.M)
        return int(m.group(1)) if m else 2
    except OSError:
        return 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="the CMake build directory (bench-resize)")
    ap.add_argument("--images", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--conns", default="2,8")
    ap.add_argument("--workloads", default=",".join(w[0] for w in WORKLOADS))
    ap.add_argument("--avif-effort", type=int, default=rail_avif_effort(),
                    help="sharp's AVIF effort (default: rail-server's, AVIF_EFFORT in server/resize.c)")
    ap.add_argument("--no-slow", action="store_true", help="skip the slow-input measurement")
    ap.add_argument("--slow-only", action="store_true", help="only the slow-input measurement")
    ap.add_argument("--slow-streams", default="1,2,4",
                    help="progressive connections beside the quick ones, one measurement each")
    ap.add_argument("--out")
    ap.add_argument("--chart")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--mem-counts", default="1000,10000")
    ap.add_argument("--allocators",
                    default="server,glibc,arena2,trim128k,malloc_trim,arena2+trim,jemalloc")
    args = ap.parse_args()
    args.images = os.path.abspath(args.images)
    rail_bin = os.path.join(args.build, "server", "rail-server")
    floor_bin = os.path.join(args.build, "bench", "resize", "resize_floor")
    quality_bin = os.path.join(args.build, "bench", "resize", "resize_quality")
    if args.memory:
        return memory_mode(args, rail_bin)

    args.conn_list = [int(c) for c in args.conns.split(",")]
    args.workloads = args.workloads.split(",")
    args.variants_seen = len(variants(args.images, WL[args.workloads[0]]))
    tmp = tempfile.mkdtemp(prefix="rail-bench-resize-")
    rail = sharp = None
    results, quality, slow = {}, {}, {}
    try:
        rail, rail_port = start_rail(rail_bin, args.images)
        sharp, sharp_port = start_sharp(args.images, args.avif_effort)
        ports = {"rail GET": rail_port, "rail POST": rail_port, "sharp": sharp_port}
        pids = {"rail GET": rail.pid, "rail POST": rail.pid, "sharp": sharp.pid}
        for system in HTTP_SYSTEMS:
            warm(ports[system], args.images, system)
        for rep in range(0 if args.slow_only else args.reps):
            for key in args.workloads:
                wl = WL[key]
                order = SYSTEMS[rep % len(SYSTEMS):] + SYSTEMS[:rep % len(SYSTEMS)]
                for system in order:
                    if system == "floor":
                        r = run_floor(floor_bin, wl, args.images, args.duration)
                        results.setdefault((key, 2, system), []).append(r)
                        print(f"rep {rep + 1}/{args.reps} {key:7} floor     2 threads "
                              f"{r['ips']:7.1f} img/s  CPU {r['cpu']:.1f} ms/img  peak RSS {r['rss']:.0f} MB", flush=True)
                        continue
                    for conns in args.conn_list:
                        listfile = request_list(tmp, args.images, wl, system)
                        pid = pids[system]
                        reset_peak(pid)
                        cpu0 = cpu_seconds(pid)
                        r = run_wrk(ports[system], conns, args.duration, listfile)
                        cpu1 = cpu_seconds(pid)
                        r["rss"] = proc_status(pid, "VmHWM")
                        r["cpu"] = (cpu1 - cpu0) * 1e3 / r["requests"] if r["requests"] and cpu0 is not None else None
                        results.setdefault((key, conns, system), []).append(r)
                        print(f"rep {rep + 1}/{args.reps} {key:7} {system:9} c={conns} "
                              f"{r['ips']:7.1f} img/s  p50 {r['p50']:.1f} p95 {r['p95']:.1f} "
                              f"p99 {r['p99']:.1f} ms  CPU {r['cpu'] or 0:.1f} ms/img  peak RSS {r['rss']:.0f} MB  "
                              f"errors {r['errors']}",
                              flush=True)
        if not args.slow_only:
            quality = measure_quality(quality_bin, ports, args.images, args.workloads, tmp)
        for key, q in quality.items():
            print(f"quality {key:7} PSNR rail {q['rail GET']:.2f} dB, sharp {q['sharp']:.2f} dB, "
                  f"POST == GET bytes: {q['post_equals_get']}", flush=True)
        if not args.no_slow:
            streams = [int(n) for n in args.slow_streams.split(",")]
            slow = slow_inputs(ports, args.images, tmp, args.duration, streams)
        versions = versions_line(rail_bin)
    finally:
        stop(rail)
        stop(sharp)
    if slow:
        lines = slow_report(slow, args)
        print("\n".join(lines))
        if args.out:
            write_section(args.out, lines, SLOW_BEGIN, SLOW_END)
    if args.slow_only:
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    if args.chart:
        chart(results, args, tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    lines = report(results, quality, args, versions)
    print("\n".join(lines))
    if args.out:
        write_section(args.out, lines, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
