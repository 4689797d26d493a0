#!/usr/bin/env python3
"""Where the CPU of one resize goes, thread by thread: rail-server under wrk at 2 connections
(GET, then POST) against resize_floor on 2 threads, for one workload of make bench-resize.

usage: bench/resize/thread_cpu.py --build build/bench-resize --images DIR [--workload jpeg3]
                                   [--seconds 10]

For every thread of the process it reads user + system CPU time and context switches from
/proc/PID/task/*/ before and after the measured interval, sums them by thread name (rail-N: the
pool's workers; rail-server: the I/O threads; libvips worker: libvips' own pipeline threads;
resize_floor: the floor's calling threads) and divides by the images done in the interval.
The difference between the two processes is what the server adds per image, and where."""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import run as bench  # noqa: E402  (the workloads and request lists of make bench-resize)


def snap(pid):
    """{tid: (name, cpu ticks, context switches)} for every live thread, and the process's ticks."""
    out = {}
    for t in glob.glob(f"/proc/{pid}/task/*"):
        try:
            name = open(t + "/comm").read().strip()
            st = open(t + "/stat").read().rsplit(")", 1)[1].split()
            sw = sum(int(l.split()[1]) for l in open(t + "/status") if "ctxt_switches" in l)
            out[os.path.basename(t)] = (name, int(st[11]) + int(st[12]), sw)
        except OSError:
            pass  # a thread that ended between the listing and the read
    return out


def per_image(before, after, images):
    """Sums the change of each thread by name (threads that ended in between are not seen)."""
    tick = 1000.0 / os.sysconf("SC_CLK_TCK")
    rows = {}
    for tid, (name, cpu, sw) in after.items():
        c0, s0 = before[tid][1:] if tid in before else (0, 0)
        r = rows.setdefault(name, [0.0, 0.0, 0])
        r[0] += (cpu - c0) * tick / images
        r[1] += (sw - s0) / images
        r[2] += 1
    return rows


def show(title, rows, images, secs):
    total = sum(r[0] for r in rows.values())
    print(f"{title}: {images / secs:.1f} img/s, {total:.2f} CPU ms/img in the threads alive at the end")
    for name, (cpu, sw, n) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
        print(f"  {name:16} x{n:<2}  CPU ms/img {cpu:6.2f}  context switches/img {sw:6.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--workload", default="jpeg3")
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    wl = bench.WL[args.workload]
    tmp = f"/tmp/rail-thread-cpu-{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)

    server, port = bench.start_rail(os.path.join(args.build, "server", "rail-server"), args.images)
    try:
        for system in ("rail GET", "rail POST"):
            listfile = bench.request_list(tmp, args.images, wl, system)
            bench.run_wrk(port, 2, 2, listfile)  # warm: libvips starts its threads
            a = snap(server.pid)
            r = bench.run_wrk(port, 2, args.seconds, listfile)
            b = snap(server.pid)
            show(f"{system}, {wl[4]}, 2 connections", per_image(a, b, r["requests"]),
                 r["requests"], args.seconds)
    finally:
        bench.stop(server)

    floor = subprocess.Popen([os.path.join(args.build, "bench", "resize", "resize_floor"), "--threads", "2",
                              "--seconds", str(args.seconds + 4), "--query", wl[3]] +
                             bench.variants(args.images, wl), stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    a, t0 = snap(floor.pid), time.time()
    time.sleep(args.seconds)
    b, t1 = snap(floor.pid), time.time()
    out = floor.communicate()[0]
    ips = float(re.search(r"img_s (\S+)", out).group(1))
    images = ips * (t1 - t0)
    show(f"resize_floor, {wl[4]}, 2 threads", per_image(a, b, images), images, t1 - t0)
    for f in glob.glob(tmp + "/*"):
        os.unlink(f)
    os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
