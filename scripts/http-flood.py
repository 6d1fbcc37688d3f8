#!/usr/bin/env python3
"""HTTP connection flood against `framechain serve`, beside a healthy call
(docs/security.md, "Second round (issue 17)", "The HTTP front door").

For each phase (`quiet`, then `attack`) a fresh server is started
(`$FRAMECHAIN`, default target/release/framechain) under an open-file limit
of `--file-limit` (soft and hard, so the server cannot raise it), and the
load generator (target/release/loadgen) runs one healthy call: a publisher
sending the real 1080p30 clip over WHIP, with one viewer, measured for
`--window` seconds from 127.0.0.1. In the attack phase, while that window
runs, the flood comes from other loopback addresses (127.0.0.2 and up, no
token):
- `--slow` connections (2200) each sending an unfinished header line that
  grows by `--chunk` bytes every `--interval` seconds up to `--line-max`
  (400 KB, hyper's default buffer), reconnecting 1 s after a close;
- `--idle` connections (1100) that send nothing, reconnecting likewise.
A probe asks for /healthz from 127.0.0.1 every 0.5 s (2 s timeout).

Reported per phase: the server's peak RSS (VmHWM from /proc), its RSS 5 s
after the flood ended, the healthy call's p50/p99 and lost pictures
(loadgen's CSV), the probes' p99 and failures, the server's peak count of
open descriptors, and the flood's connects and the closes it saw. Bounded: every phase has a fixed length,
loadgen a time limit, and the server is stopped on exit.

    scripts/http-flood.py [--slow 2200] [--idle 1100] [--window 20]
    FRAMECHAIN=/tmp/framechain-main scripts/http-flood.py   # another build
"""

import argparse
import csv
import errno
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = "h264/throughput/real1080p30_10s_cbp_6M.264"
LIGHT = """version: 1
name: telemedicine-light
stages:
  - stage: decode-h264
  - stage: redact
    params: { rect: "120,67,600,135", mode: fill }
  - stage: scale
    params: { width: 640, height: 360 }
  - stage: encode-h264
    params: { bitrate: 800k, fps: 30, gop: 60 }
"""
PASSTHROUGH = """version: 1
name: passthrough
stages:
  - stage: decode-h264
  - stage: encode-h264
"""


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid, field):
    """A /proc/PID/status field in KiB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    rank = max(1, min(len(values), int(-(-p * len(values) // 100))))
    return values[rank - 1]


class Conn:
    __slots__ = ("sock", "kind", "sent", "prefix_sent", "reopen_at", "source")

    def __init__(self, kind, source):
        self.sock, self.kind, self.sent, self.prefix_sent = None, kind, 0, False
        self.reopen_at, self.source = 0.0, source


class Flood:
    """Slow and idle connections from 127.0.0.2.., kept up until stopped.
    Connects never wait (a server out of descriptors leaves them in the
    kernel's queue), so the flood is at full size within seconds."""

    PREFIX = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "

    def __init__(self, port, args):
        self.port = port
        self.args = args
        self.stop_flag = threading.Event()
        self.conns = []
        self.closed_by_server = 0
        self.opened = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def source(self, index):
        n = index % self.args.addresses
        return f"127.0.{2 + n // 250}.{2 + n % 250}"

    def open(self, conn):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((conn.source, 0))
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", self.port))
            conn.sock, conn.sent, conn.prefix_sent = sock, 0, False
            self.opened += 1
        except OSError:
            sock.close()
            conn.sock, conn.reopen_at = None, time.monotonic() + 1.0

    def closed(self, conn):
        conn.sock.close()
        conn.sock, conn.reopen_at = None, time.monotonic() + 1.0
        self.closed_by_server += 1

    def tend(self, conn, chunk):
        """One round for one connection: notice a close, send its next piece."""
        try:
            # Data (a 503 or 431) or EOF: the server is closing it.
            conn.sock.recv(4096, socket.MSG_DONTWAIT)
            self.closed(conn)
            return
        except BlockingIOError:
            pass
        except OSError:
            self.closed(conn)
            return
        if conn.kind != "slow" or conn.sent >= self.args.line_max:
            return
        try:
            if not conn.prefix_sent:
                conn.sock.send(self.PREFIX, socket.MSG_DONTWAIT)
                conn.prefix_sent = True
            else:
                conn.sent += conn.sock.send(chunk, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass
        except OSError:
            self.closed(conn)

    def run(self):
        for i in range(self.args.slow + self.args.idle):
            conn = Conn("slow" if i < self.args.slow else "idle", self.source(i))
            self.open(conn)
            self.conns.append(conn)
        chunk = b"a" * self.args.chunk
        while not self.stop_flag.wait(self.args.interval):
            now = time.monotonic()
            for conn in self.conns:
                if conn.sock is None:
                    if now >= conn.reopen_at:
                        self.open(conn)
                else:
                    self.tend(conn, chunk)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(timeout=30)
        for conn in self.conns:
            if conn.sock is not None:
                conn.sock.close()
                conn.sock = None


class Probe:
    """GET /healthz every 0.5 s; latencies of the answers, failures."""

    def __init__(self, port):
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.latencies, self.failures = [], 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_flag.wait(0.5):
            start = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    r.read()
                self.latencies.append((time.monotonic() - start) * 1000)
            except Exception:
                self.failures += 1


def phase(name, args, pipeline, out):
    port, media = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    spec = f"s1:publish-{os.getpid()}-flood:view-{os.getpid()}-flood"
    log = open(os.path.join(out, f"serve-{name}.log"), "w")

    def limit_files():
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.file_limit, args.file_limit))

    server = subprocess.Popen(
        [args.framechain, "serve", "--pipeline", pipeline, "--http", f"127.0.0.1:{port}",
         "--media", f"127.0.0.1:{media}", "--stream", spec],
        stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit_files)
    flood = probe = None
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except Exception:
                if server.poll() is not None:
                    sys.exit(f"http-flood: the server exited; see {log.name}")
                time.sleep(0.1)
        csv_path = os.path.join(out, f"loadgen-{name}.csv")
        loadgen = subprocess.Popen(
            [args.loadgen, "--server", f"http://127.0.0.1:{port}", "--stream", spec,
             "--clip", args.clip, "--fps", "30", "--warmup-seconds", str(args.warmup),
             "--window-seconds", str(args.window), "--budget-ms", "200",
             "--time-limit-seconds", "120", "--csv", csv_path],
            stdout=open(os.path.join(out, f"loadgen-{name}.txt"), "w"), stderr=subprocess.STDOUT)
        # The call connects (about 1 s), then the warm-up; the flood starts
        # inside the warm-up so it is at full size when the window opens.
        time.sleep(max(1.0, args.warmup - 2.0))
        probe = Probe(port)
        probe.thread.start()
        if name == "attack":
            flood = Flood(port, args)
            flood.thread.start()
        peak_fds = 0
        try:
            deadline = time.monotonic() + args.warmup + args.window + 60
            while loadgen.poll() is None and time.monotonic() < deadline:
                try:
                    peak_fds = max(peak_fds, len(os.listdir(f"/proc/{server.pid}/fd")))
                except OSError:
                    pass
                time.sleep(0.5)
        finally:
            if loadgen.poll() is None:
                loadgen.kill()
            loadgen.wait()
        opened = flood.opened if flood else 0
        closed = flood.closed_by_server if flood else 0
        if flood:
            flood.stop()
        probe.stop_flag.set()
        probe.thread.join(timeout=5)
        hwm = proc_status(server.pid, "VmHWM")
        time.sleep(5)
        after = proc_status(server.pid, "VmRSS")
        row = {}
        try:
            with open(csv_path) as f:
                row = next((r for r in csv.DictReader(f) if r["phase"] == "ramp"), {})
        except OSError:
            pass
        return {
            "phase": name,
            "peak_rss_mib": (hwm or 0) / 1024,
            "rss_after_mib": (after or 0) / 1024,
            "call_p50_ms": row.get("p50_ms", "nan"),
            "call_p99_ms": row.get("p99_ms", "nan"),
            "call_sent": row.get("sent", "?"),
            "call_lost": row.get("lost", "?"),
            "probe_p99_ms": percentile(probe.latencies, 99),
            "probe_failures": probe.failures,
            "probes": len(probe.latencies) + probe.failures,
            "server_fds_peak": peak_fds,
            "flood_opened": opened,
            "flood_closed_by_server": closed,
        }
    finally:
        if flood:
            flood.stop()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slow", type=int, default=2200)
    p.add_argument("--idle", type=int, default=1100)
    p.add_argument("--addresses", type=int, default=1,
                   help="source addresses the flood comes from (127.0.0.2 and up)")
    p.add_argument("--chunk", type=int, default=16384)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--line-max", type=int, default=400 * 1024)
    p.add_argument("--window", type=float, default=20)
    p.add_argument("--warmup", type=float, default=8)
    p.add_argument("--file-limit", type=int, default=1024)
    p.add_argument("--pipeline", default="light",
                   help="a pipeline file, `light` (640x360 out, cheaper on 2 cores) or "
                        "`passthrough` (decode-h264 ! encode-h264, for a small clip)")
    p.add_argument("--clip", default=CLIP,
                   help="the healthy call's clip, under $FRAMECHAIN_TESTDATA (default: the 1080p30 one)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    args.framechain = os.environ.get("FRAMECHAIN", os.path.join(ROOT, "target/release/framechain"))
    args.loadgen = os.environ.get("LOADGEN", os.path.join(ROOT, "target/release/loadgen"))
    testdata = os.environ.get("FRAMECHAIN_TESTDATA", os.path.join(ROOT, "../shared/testdata"))
    args.clip = os.path.join(testdata, args.clip)
    os.environ.setdefault("FRAMECHAIN_STAGE_PATH",
                          f"{ROOT}/target/stages:{ROOT}/target/test-stages")
    for path in (args.framechain, args.loadgen, args.clip):
        if not os.path.exists(path):
            sys.exit(f"http-flood: {path} not found (cargo build --release -p framechain-cli; "
                     "cargo build --release --workspace --bin loadgen; FRAMECHAIN_TESTDATA)")
    # The flood's own sockets: 3300 and more descriptors on this side.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.slow + args.idle + 64:
        sys.exit(f"http-flood: the open-file limit {hard} is too small for the flood")
    out = args.out or tempfile.mkdtemp(prefix="framechain-flood.")
    os.makedirs(out, exist_ok=True)
    pipeline = args.pipeline
    if pipeline in ("light", "passthrough"):
        text = LIGHT if pipeline == "light" else PASSTHROUGH
        pipeline = os.path.join(out, f"{args.pipeline}.yaml")
        with open(pipeline, "w") as f:
            f.write(text)
    print(f"http-flood: {args.framechain}, {args.slow} slow + {args.idle} idle connections "
          f"from {args.addresses} address(es), server file limit {args.file_limit}, "
          f"window {args.window} s; logs in {out}")
    for name in ("quiet", "attack"):
        result = phase(name, args, pipeline, out)
        print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
