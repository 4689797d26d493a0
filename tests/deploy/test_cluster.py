#!/usr/bin/env python3
"""test_cluster.py - rail-server behind nginx, as deploy/nginx/rail.conf.in
configures it, everything on loopback in a temporary directory.

A steady stream of distinct signed GET /resize requests runs through nginx
while (1) one instance is killed with SIGKILL with requests in flight on
it, then restarted, and (2) every instance in turn gets SIGTERM and is
restarted (a rolling restart). No client may see a failure. Then: a
repeated URL is a cache HIT the second time and the backends' access logs
show it once; two spellings of the same Accept share an entry; unsigned and
tampered URLs get 403 from the backend through nginx.

Usage: test_cluster.py RAIL_SERVER CLUSTER_SH [TIMEOUT_SCALE]   (77: skipped)
"""
import base64
import hashlib
import hmac
import http.client
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

KEY = bytes.fromhex("6b5d0c4a9f6e1d2c3b4a59687766554433221100ffeeddccbbaa998877665544")
SALT = bytes.fromhex("0a1b2c3d4e5f60718293a4b5c6d7e8f9")
SLEEP_MS = 1500
# The whole test, whatever happens: 60 s times the suite's timeout scale.
SCALE = int(sys.argv[3]) if len(sys.argv) > 3 else 1
DEADLINE = time.monotonic() + 60 * SCALE


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def sign(target):
    """The signature as README "Signed URLs" defines it, written from the
    definition (Python's hmac), not by calling rail-server."""
    path, _, query = target.partition("?")
    items = sorted(i for i in query.split("&") if i and not i.startswith("sig="))
    canonical = (path + "?" + "&".join(items)).encode()
    mac = hmac.new(KEY, SALT + canonical, hashlib.sha256).digest()
    return target + "&sig=" + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def png(width, height):
    """A small RGB gradient PNG, so the test needs no image tool."""
    rows = b"".join(b"\0" + bytes(v for x in range(width)
                                   for v in (x * 4 % 256, y * 5 % 256, (x + y) % 256))
                    for y in range(height))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def get(port, target, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", target, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def wait_health(port):
    while time.monotonic() < DEADLINE:
        try:
            if get(port, "/health", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    fail("127.0.0.1:%d/health never answered" % port)


class Backend:
    def __init__(self, binary, port, root, log, extra):
        self.argv = [binary, "--listen", "127.0.0.1:%d" % port, "--root", root,
                     "--access-log", log, "--threads", "2", "--sleep-ms", str(SLEEP_MS),
                     "--shutdown-timeout", "10000", "--sign-key", KEY.hex(),
                     "--sign-salt", SALT.hex()] + extra
        self.port = port
        self.out = open(log + ".out", "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=self.out, stderr=self.out)
        wait_health(self.port)

    def log_lines(self):
        with open(self.argv[self.argv.index("--access-log") + 1], "rb") as f:
            return f.read().count(b"\n")

    def restart_and_wait_traffic(self):
        """Starts the instance and waits until nginx sends it requests
        again: nginx's passive check keeps a failed instance out for
        fail_timeout, and stopping the next one before that would leave
        no live instance (a real rolling restart waits the same way)."""
        seen = self.log_lines()
        self.start()
        while self.log_lines() <= seen + 1:  # + 1: wait_health's own /health
            if time.monotonic() > DEADLINE:
                fail("nginx never sent requests to the restarted instance on %d" % self.port)
            time.sleep(0.05)

    def stop(self, sig):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=max(1, DEADLINE - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("instance on port %d did not exit after %s" % (self.port, sig.name))


class Stream:
    """Client threads sending distinct signed GET /resize requests through
    nginx on keep-alive connections, counting every answer."""

    def __init__(self, port, targets, threads=4):
        self.port, self.targets = port, targets
        self.lock = threading.Lock()
        self.sent = self.failed = 0
        self.failures = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]

    def next_target(self):
        with self.lock:
            self.sent += 1
            return self.targets(self.sent)

    def record_failure(self, what):
        with self.lock:
            self.failed += 1
            if len(self.failures) < 5:
                self.failures.append(what)

    def run(self):
        conn = None
        while not self.stopping.is_set() and time.monotonic() < DEADLINE:
            target = self.next_target()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                conn.request("GET", target)
                r = conn.getresponse()
                body = r.read()
                if r.status != 200 or not body:
                    self.record_failure("%s -> %d %r" % (target, r.status, body[:80]))
            except (OSError, http.client.HTTPException) as e:
                self.record_failure("%s -> %r" % (target, e))
                conn.close()
                conn = None

    def count(self):
        with self.lock:
            return self.sent

    def wait_progress(self, n):
        """Until n more requests have been sent (the stream is flowing)."""
        want = self.count() + n
        while self.count() < want:
            if time.monotonic() > DEADLINE:
                fail("the stream stalled at %d requests" % self.count())
            time.sleep(0.01)

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()


def main():
    if len(sys.argv) not in (3, 4):
        fail(__doc__)
    binary, cluster_sh = sys.argv[1], sys.argv[2]
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx:
        print("SKIP: nginx is not installed (make test installs nginx-light)")
        return 77

    tmp = tempfile.mkdtemp(prefix="rail-deploy-test.")
    root = os.path.join(tmp, "root")
    os.mkdir(root)
    with open(os.path.join(root, "hello.html"), "w") as f:
        f.write("<p>hello</p>\n")
    with open(os.path.join(root, "img.png"), "wb") as f:
        f.write(png(96, 64))

    nginx_port, *ports = free_ports(3)
    backends = [Backend(binary, p, root, os.path.join(tmp, "backend-%d.log" % i), [])
                for i, p in enumerate(ports)]
    nginx_proc = None
    try:
        for b in backends:
            b.start()
        subprocess.run([cluster_sh, "render", tmp, str(nginx_port)] + [str(p) for p in ports],
                       check=True)
        nginx_proc = subprocess.Popen([nginx, "-p", tmp, "-e", os.path.join(tmp, "error.log"),
                                       "-c", os.path.join(tmp, "nginx.conf"),
                                       "-g", "daemon off;"])
        wait_health(nginx_port)
        return run_checks(tmp, nginx_port, backends)
    finally:
        if nginx_proc:
            nginx_proc.send_signal(signal.SIGQUIT)
            nginx_proc.wait(timeout=10)
        for b in backends:
            if b.proc and b.proc.poll() is None:
                b.stop(signal.SIGTERM)
        if os.environ.get("KEEP") == "1":
            print("kept:", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def resize_target(i):
    # Distinct for every i: width and quality vary together.
    return sign("/resize?src=img.png&w=%d&q=%d" % (8 + i % 80, 1 + (i // 80) % 100))


def run_checks(tmp, port, backends):
    # The route first, through nginx: signed -> an image.
    status, headers, _ = get(port, resize_target(0))
    if status != 200 or not headers.get("Content-Type", "").startswith("image/"):
        fail("signed /resize through nginx: %d %s" % (status, headers.get("Content-Type")))

    stream = Stream(port, resize_target)
    stream.start()
    stream.wait_progress(20)

    # 1. SIGKILL with requests in flight: two /sleep requests (one per
    # instance under least_conn) are running when the first instance dies.
    results, threads = [], []
    for _ in range(2):
        def sleeper():
            try:
                results.append(get(port, "/sleep", timeout=20)[0])
            except OSError as e:
                results.append(repr(e))
        threads.append(threading.Thread(target=sleeper))
        threads[-1].start()
        time.sleep(0.1)  # so least_conn sees the first before the second
    time.sleep(0.4)      # both have reached their instance (sleep is 1.5 s)
    before = stream.count()
    backends[0].stop(signal.SIGKILL)
    stream.wait_progress(20)
    for t in threads:
        t.join()
    if results != [200, 200]:
        fail("/sleep requests in flight during the kill: %r, want [200, 200]" % results)
    backends[0].restart_and_wait_traffic()
    print("failover: %d requests sent across the SIGKILL, %d failed so far"
          % (stream.count() - before, stream.failed), flush=True)

    # 2. Rolling restart: SIGTERM each in turn (it drains and exits 0),
    # start it again, next.
    for b in backends:
        status = b.stop(signal.SIGTERM)
        if status != 0:
            fail("instance on port %d exited %d after SIGTERM" % (b.port, status))
        stream.wait_progress(10)  # served by the others meanwhile
        b.restart_and_wait_traffic()
    stream.stop()

    check_cache(port, backends)
    check_signatures(port)
    return counts(tmp, stream)


def check_cache(port, backends):
    """A URL the stream never asked for, twice."""
    target = sign("/resize?src=img.png&w=31&h=17&fit=fill")
    first = get(port, target)
    second = get(port, target)
    hits = [first[1].get("X-Cache-Status"), second[1].get("X-Cache-Status")]
    if first[0] != 200 or second[0] != 200 or hits != ["MISS", "HIT"]:
        fail("repeated URL: %d %d, X-Cache-Status %r, want 200 200 [MISS, HIT]"
             % (first[0], second[0], hits))
    if first[2] != second[2]:
        fail("the cached answer differs from the first")
    seen = 0
    for b in backends:
        with open(b.argv[b.argv.index("--access-log") + 1], errors="replace") as f:
            seen += sum(1 for line in f if "w=31&h=17&fit=fill" in line)
    if seen != 1:
        fail("the backends' access logs show the repeated URL %d times, want 1" % seen)
    # format=auto: two spellings of "takes WebP" share one entry; AVIF is another.
    auto = sign("/resize?src=img.png&w=40&format=auto")
    a = get(port, auto, {"Accept": "image/webp,*/*"})
    b = get(port, auto, {"Accept": "text/html, image/webp;q=0.9, image/*;q=0.8"})
    c = get(port, auto, {"Accept": "image/avif,image/webp,*/*"})
    states = [x[1].get("X-Cache-Status") for x in (a, b, c)]
    types = [x[1].get("Content-Type") for x in (a, b, c)]
    if states != ["MISS", "HIT", "MISS"] or types != ["image/webp", "image/webp", "image/avif"]:
        fail("format=auto through the cache: %r %r" % (states, types))



def check_signatures(port):
    """Through nginx: the backend's 403."""
    plain = "/resize?src=img.png&w=20"
    good = sign(plain)
    tampered = good.replace("w=20", "w=21")
    for t in (plain, tampered, plain + "&sig=", good + "&sig=x"):
        status, headers, body = get(port, t)
        if status != 403 or b"sig" not in body:
            fail("%s through nginx: %d %r, want 403 naming sig" % (t, status, body[:80]))
    status = get(port, good)[0]
    if status != 200:
        fail("%s (signed) through nginx: %d, want 200" % (good, status))


def counts(tmp, stream):
    """From the client and from nginx's access log."""
    with open(os.path.join(tmp, "access.log"), errors="replace") as f:
        log = f.read().splitlines()
    retried = sum(1 for line in log if re.search(r"upstream=\S+, ", line))
    cache_hits = sum(1 for line in log if " cache=HIT " in line)
    print("cluster: sent %d, failed %d, retried %d (nginx passed them to another instance), "
          "cache hits %d" % (stream.sent, stream.failed, retried, cache_hits), flush=True)
    if stream.failed:
        fail("client-visible failures: %d, e.g. %s" % (stream.failed, stream.failures))
    if retried == 0:
        fail("nginx retried nothing: the kill did not hit an instance in use")
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
