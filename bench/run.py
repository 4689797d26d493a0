#!/usr/bin/env python3
"""run.py - run every benchmark against every system, interleaved, and report.

Each measurement is one process (bench_SYSTEM WORKLOAD WORKERS PARAM printing
one RESULT line). A repetition runs every case once, cycling the systems, so
drift on a shared machine hits all of them alike. Reported: the median and
the min-max over the repetitions, and ratios computed within the same run.

usage: run.py BENCH_DIR [--reps N] [--quick] [--out docs/BENCHMARKS.md]
"""
import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

SYSTEMS = ["rail", "classic", "glib", "libuv", "openmp", "onetbb", "rayon"]

# (workload, workers, param, metric, unit, lower_is_better)
CASES = [
    ("empty", 1, 1000000, "ns_per_job", "ns/job", True),
    ("empty", 2, 1000000, "ns_per_job", "ns/job", True),
    ("empty", 4, 1000000, "ns_per_job", "ns/job", True),
    ("latency", 2, 5000, "p50_ns", "ns", True),
    ("latency", 2, 5000, "p99_ns", "ns", True),
    ("sum_jobs", 2, 1024, "speedup", "x", False),
    ("sum_jobs", 2, 65536, "speedup", "x", False),
    ("sum_pfor", 2, 1024, "speedup", "x", False),
    ("sum_pfor", 2, 65536, "speedup", "x", False),
    ("fib", 2, 32, "ns_per_task", "ns/task", True),
    ("fib2", 2, 32, "ns_per_task", "ns/task", True),
    ("cpu", 2, 2000, "efficiency", "", False),
    ("producers", 2, 1, "mjobs_per_s", "Mjobs/s", False),
    ("producers", 2, 2, "mjobs_per_s", "Mjobs/s", False),
    ("producers", 2, 4, "mjobs_per_s", "Mjobs/s", False),
    ("priority", 2, 1200, "p50_ns", "ns", True),
    ("priority", 2, 1200, "p99_ns", "ns", True),
]

LABELS = {
    "empty": "empty jobs, {w} workers",
    "latency": "wake latency {m}, {w} workers",
    "sum_jobs": "sum 64Mi, chunk {p}, one job per chunk: speedup",
    "sum_pfor": "sum 64Mi, grain {p}, parallel loop: speedup",
    "fib": "fib({p}) fork-join, flavour 1",
    "fib2": "fib({p}) fork-join, flavour 2",
    "cpu": "2,000 x 1 ms jobs, {w} workers: efficiency",
    "producers": "{p} producer(s), {w} workers: throughput",
    "priority": "urgent probe wait {m} behind {p} x 1 ms low-priority jobs, {w} workers",
}


def parse(line):
    out = {}
    for tok in shlex.split(line)[1:]:
        k, _, v = tok.partition("=")
        out[k] = v
    return out


def run_one(bench_dir, system, workload, workers, param, timeout):
    exe = os.path.join(bench_dir, "bench_" + system)
    cmd = [exe, workload, str(workers), str(param)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return parse(line)
    return {"error": (p.stderr.strip() or "no result")[:80]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_dir")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default=None, help="comma-separated workloads")
    args = ap.parse_args()

    cases = CASES
    if args.only:
        keep = set(args.only.split(","))
        cases = [c for c in cases if c[0] in keep]
    runs = {}  # (workload, workers, param, system) -> list of result dicts
    distinct = []
    for c in cases:
        key = (c[0], c[1], c[2])
        if key not in distinct:
            distinct.append(key)
    started = time.time()
    for rep in range(args.reps):
        for workload, workers, param in distinct:
            if args.quick:
                param = {"empty": 100000, "latency": 300, "fib": 25, "fib2": 25,
                         "cpu": 200, "producers": param, "priority": 100}.get(workload, param)
            order = SYSTEMS[rep % len(SYSTEMS):] + SYSTEMS[:rep % len(SYSTEMS)]
            for system in order:
                r = run_one(args.bench_dir, system, workload, workers, param, 120)
                runs.setdefault((workload, workers, param, system), []).append(r)
        print(f"rep {rep + 1}/{args.reps} done ({time.time() - started:.0f} s)", file=sys.stderr)

    rows = []
    for workload, workers, param, metric, unit, lower in cases:
        if args.quick:
            param = {"empty": 100000, "latency": 300, "fib": 25, "fib2": 25,
                     "cpu": 200, "priority": 100}.get(workload, param)
        row = {"case": (workload, workers, param, metric), "unit": unit, "lower": lower,
               "cells": {}}
        for system in SYSTEMS:
            rs = runs.get((workload, workers, param, system), [])
            vals = [float(r[metric]) for r in rs if metric in r]
            if any(r.get("na") for r in rs):
                row["cells"][system] = None
            elif vals:
                how = next((r.get("how") for r in rs if r.get("how")), None)
                row["cells"][system] = (statistics.median(vals), min(vals), max(vals), how)
            else:
                errs = {r.get("error", "?") for r in rs}
                row["cells"][system] = ("error", ", ".join(sorted(errs)))
        rows.append(row)

    text = render(rows, args)
    print(text)
    if args.out:
        write_markdown(args.out, rows, args)
        write_chart(os.path.join(os.path.dirname(args.out) or ".", "benchmarks"), rows)


def label(case):
    workload, workers, param, metric = case
    m = "p50" if metric == "p50_ns" else "p99" if metric == "p99_ns" else ""
    return LABELS[workload].format(w=workers, p=param, m=m)


def fmt(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if v < 1 else f"{v:.2f}"


def cell_text(cell, with_range=True):
    if cell is None:
        return "n/a"
    if cell[0] == "error":
        return "error"
    med, lo, hi, _ = cell
    return f"{fmt(med)} ({fmt(lo)}-{fmt(hi)})" if with_range else fmt(med)


def best_peer(row):
    """The best median among the peers (everything but rail)."""
    peers = [(s, c[0]) for s, c in row["cells"].items()
             if s != "rail" and c is not None and c[0] != "error"]
    if not peers:
        return None
    return (min if row["lower"] else max)(peers, key=lambda p: p[1])


def ratio_text(row):
    rail = row["cells"].get("rail")
    bp = best_peer(row)
    if rail is None or rail[0] == "error" or bp is None:
        return ""
    r = bp[1] / rail[0] if row["lower"] else rail[0] / bp[1]
    return f"{r:.2f}x vs {bp[0]}"


def render(rows, args):
    head = ["case", "unit"] + SYSTEMS + ["rail vs best peer"]
    table = [head]
    for row in rows:
        table.append([label(row["case"]), row["unit"]] +
                     [cell_text(row["cells"].get(s), False) for s in SYSTEMS] + [ratio_text(row)])
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in table)


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs online, Linux {platform.release()}"


def write_markdown(path, rows, args):
    lines = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (bench/run.py); do not edit by hand. Numbers are medians",
        f"of {args.reps} runs with min-max in brackets; every measurement is its own process,",
        "and each repetition cycles through the systems so drift hits all of them alike.",
        "The ratio column compares rail with the best peer measured in the same run",
        "(>1 means rail is better).",
        "",
        f"- Machine: {machine()}",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Command: `make bench` (= `python3 bench/run.py build/bench/bench --reps {args.reps}"
        f" --out docs/BENCHMARKS.md`)",
        "",
        "| case | unit | " + " | ".join(SYSTEMS) + " | rail vs best peer |",
        "|---|---|" + "---|" * len(SYSTEMS) + "---|",
    ]
    for row in rows:
        lines.append(f"| {label(row['case'])} | {row['unit']} | " +
                     " | ".join(cell_text(row["cells"].get(s)) for s in SYSTEMS) +
                     f" | {ratio_text(row)} |")
    lines += ["", "## Against the targets of issues 3 and 11", ""] + target_lines(rows) + [""]
    hows = sorted({(s, c[3]) for row in rows for s, c in row["cells"].items()
                   if c is not None and c[0] != "error" and c[3]})
    lines += [
        "",
        "![rail against its peers](benchmarks.png)",
        "",
        "## How each system is driven",
        "",
        "- **rail**: `rail_submit` from the main thread, `rail_wait_idle`; N workers plus the",
        "  submitting thread, which does not run jobs.",
        "- **classic**: bench/sys_classic.c, a faithful C port of the tutorial pool (one mutex,",
        "  one condition variable, a malloc per job); same thread layout as rail.",
        "- **glib**: `g_thread_pool_push` of a heap record; completions counted under a GMutex.",
        "- **libuv**: `uv_queue_work` with a heap request per job, `uv_run` to wait;",
        "  `UV_THREADPOOL_SIZE`=N. Its API is for the loop thread only: no multi-producer case.",
        "- **openmp** (libgomp): `omp task` from a `single` block; the submitting thread is one",
        "  of the N team threads and runs tasks at `taskwait`.",
        "- **onetbb**: `task_group::run` inside a `task_arena` of N slots, one of them the",
        "  submitting thread, which runs tasks in `wait()`.",
        "- Fork-join flavours: " + "; ".join(f"{s}: {h}" for s, h in hows) + ".",
        "- Wake latency: the submitter sleeps 1 ms, submits one job and spins (yielding) until",
        "  the job has stamped its start time, so no system's wait can run the job itself.",
        "- n/a: the system has no such feature (no parallel loop, no fork-join, or a",
        "  single-thread submission API).",
        "- OpenMP with 1 worker: the team is the submitting thread alone, so its tasks run",
        "  inline: that figure is a function call, not a hand-off. With 2 or more, libgomp",
        "  really hands tasks to the other threads, which by default spin while idle",
        "  (OMP_WAIT_POLICY); rail's idle workers sleep.",
        "- CPU-bound efficiency: the CPU time the jobs used (each measures its own thread's",
        "  CPU time) over workers x wall time. OpenMP and oneTBB count the submitting thread",
        "  as one of the N, so their jobs may also run on it.",
        "",
    ]
    # Keep the sections the other benchmarks maintain in the same file
    # (bench/http_bench.py, bench/resize/run.py), and whatever follows them.
    if os.path.exists(path):
        old = open(path).read()
        first = min((old.find(f"<!-- {name}:begin -->") for name in KEPT_SECTIONS
                     if f"<!-- {name}:begin -->" in old), default=-1)
        if first >= 0:
            lines += ["", old[first:].rstrip("\n")]
    with open(path, "w") as f:
        f.write("\n".join(lines))


KEPT_SECTIONS = ("http-bench", "bench-resize", "bench-resize-memory")


def find(rows, workload, workers, param, metric):
    for row in rows:
        w, k, p, m = row["case"]
        if w == workload and k == workers and m == metric and (param is None or p == param):
            return row
    return None


def median(row, system):
    c = row["cells"].get(system) if row else None
    return None if c is None or c[0] == "error" else c[0]


def target_lines(rows):
    """Each target of issues 3 and 11, with what this run measured and whether it is met."""
    out = []

    def say(name, ok, text):
        out.append(f"- {'met' if ok else '**missed**'}: {name}: {text}")

    empty = find(rows, "empty", 2, None, "ns_per_job")
    r, bp = median(empty, "rail"), best_peer(empty) if empty else None
    if r is not None and bp:
        say("empty jobs, 2 workers, <= 100 ns/job and >= 3x the best peer",
            r <= 100 and bp[1] / r >= 3,
            f"rail {fmt(r)} ns, best peer {bp[0]} {fmt(bp[1])} ns ({bp[1] / r:.2f}x)")
    fib = find(rows, "fib", 2, None, "ns_per_task")
    r, t = median(fib, "rail"), median(fib, "onetbb")
    if r is not None and t is not None:
        say("fork-join <= 50 ns/task and within 1.5x of oneTBB", r <= 50 and r <= 1.5 * t,
            f"rail {fmt(r)} ns/task, oneTBB {fmt(t)} ns/task ({t / r:.2f}x)")
    p50, p99 = find(rows, "latency", 2, None, "p50_ns"), find(rows, "latency", 2, None, "p99_ns")
    r50, r99 = median(p50, "rail"), median(p99, "rail")
    b50, b99 = best_peer(p50) if p50 else None, best_peer(p99) if p99 else None
    if r50 is not None and b50:
        say("wake latency p50 no worse than the best peer", r50 <= b50[1],
            f"rail {fmt(r50)} ns, best peer {b50[0]} {fmt(b50[1])} ns")
    if r99 is not None and b99:
        say("wake latency p99 at most half the best peer's", r99 <= b99[1] / 2,
            f"rail {fmt(r99)} ns, best peer {b99[0]} {fmt(b99[1])} ns")
    loop = find(rows, "sum_pfor", 2, 1024, "speedup")
    r = median(loop, "rail")
    if r is not None:
        say("parallel_for at grain 1,024 >= 1.7x on 2 workers", r >= 1.7, f"{fmt(r)}x")
    cpu = find(rows, "cpu", 2, None, "efficiency")
    r = median(cpu, "rail")
    if r is not None:
        say("CPU-bound efficiency >= 98%", r >= 0.98, f"{100 * r:.1f}%")
    # Issue 11's: empty jobs against the pools whose idle workers sleep (OpenMP's spin),
    # fork-join against rayon, urgent probes within one low job.
    sleeping = [(s, median(empty, s)) for s in ("classic", "glib", "libuv", "onetbb")]
    sleeping = [(s, v) for s, v in sleeping if v is not None]
    r = median(empty, "rail")
    if r is not None and sleeping:
        s, v = min(sleeping, key=lambda p: p[1])
        say("empty jobs, 2 workers, >= 3x the best pool whose idle workers sleep", v / r >= 3,
            f"rail {fmt(r)} ns, {s} {fmt(v)} ns ({v / r:.2f}x)")
    r, ry = median(fib, "rail"), median(fib, "rayon")
    if r is not None and ry is not None:
        say("fork-join <= 1.0x rayon's time per task", r <= ry,
            f"rail {fmt(r)} ns/task, rayon {fmt(ry)} ns/task ({r / ry:.2f}x)")
    prio = find(rows, "priority", 2, None, "p99_ns")
    r, g = median(prio, "rail"), median(prio, "glib")
    if r is not None:
        say("urgent probe wait p99 <= one 1 ms low-priority job", r <= 1e6,
            f"rail {fmt(r)} ns" + (f", GLib's sorted pool {fmt(g)} ns" if g is not None else ""))
    return out


def write_chart(base, rows):
    """One panel per case: each system's median relative to the best in that case."""
    dat = base + ".dat"
    with open(dat, "w") as f:
        f.write("case " + " ".join(SYSTEMS) + "\n")
        for i, row in enumerate(rows):
            vals = []
            good = [c[0] for c in row["cells"].values() if c is not None and c[0] != "error"]
            best = (min(good) if row["lower"] else max(good)) if good else None
            for s in SYSTEMS:
                c = row["cells"].get(s)
                if c is None or c[0] == "error" or not best:
                    vals.append("NaN")
                else:  # 1.0 = best in this case; smaller bars are worse
                    vals.append(f"{(best / c[0]) if row['lower'] else (c[0] / best):.4f}")
            f.write(f'"{label(row["case"])}" ' + " ".join(vals) + "\n")
    gp = f"""
set terminal pngcairo size 1400,800 font ",10"
set output "{base}.png"
set title "Each system relative to the best in each case (1.0 = best; higher is better)"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set yrange [0:1.1]
set xtics rotate by -30 scale 0 font ",8"
set key outside right top
set grid ytics
plot for [i=2:{len(SYSTEMS) + 1}] "{dat}" using i:xtic(1) title columnheader(i)
"""
    try:
        subprocess.run(["gnuplot"], input=gp, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"chart not drawn: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
