#!/usr/bin/env bash
# Compile bombs (issue 17, finding 3): components of long straight-line
# functions that never run, loaded through `framechain inspect` and through
# a running `framechain serve`'s `POST /admin/stages/0`. Reports, for each
# bomb, the wall time, the answer, the peak resident memory of the framechain
# process itself (VmHWM) and of its compile worker, and, for serve, its
# resident memory after the answer (was it given back?). Last, a healthy
# call through serve (target/release/loadgen, a small conformance clip
# through decode ! encode) for CALL_WINDOW seconds (30), quiet and with the
# 30m-under-caps bomb posted as its window opens: the call's p50/p99 and
# lost pictures.
#
#   scripts/compile-bomb.sh [FRAMECHAIN_BINARY] [TIMEOUT_SECONDS]
#
# FRAMECHAIN_BINARY defaults to target/release/framechain; run it once with a
# build from before the compile limits and once with one after. A run still
# going after TIMEOUT_SECONDS (default 60) is killed, and so is one past
# 4 GiB resident, so a build without the limits cannot take the machine down.
# Loopback only; every loop bounded.
#
# The bombs (same bytes as crates/framechain/tests/integration/compile_bomb_gen.rs):
#   13m-2mib-bodies: 6 functions of 2 MiB + 1 of 1 MiB (13 MiB; over the per-function cap)
#   13m-under-caps:  14 functions of 950 KB (13 MiB; under every static cap)
#   30m-under-caps:  31 functions of 1000 KB (30 MiB; under every static cap)
#   62m:             65 functions of 1000 KB (62 MiB, under max_component_bytes; over the total code cap)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/release/framechain}")
TIMEOUT=${2:-60}
STAGES=${FRAMECHAIN_STAGE_PATH:-$PWD/target/stages:$PWD/target/test-stages}
WORK=$(mktemp -d /tmp/compile-bomb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

python3 - "$BIN" "$TIMEOUT" "$STAGES" "$WORK" <<'EOF'
import os, signal, subprocess, sys, time, urllib.request, urllib.error, socket

binary, timeout, stages, work = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
RSS_KILL_KIB = 4 << 20

def leb(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value == 0:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)

def section(section_id, content):
    return bytes([section_id]) + leb(len(content)) + content

def module(bodies):
    """A core module with one function per body size (bytes)."""
    rnd = bytes([0x20, 0x00, 0x41, 0x01, 0x6A, 0x21, 0x00])
    code = bytearray(leb(len(bodies)))
    for size in bodies:
        body = bytes([0x01, 0x01, 0x7F]) + rnd * (size // len(rnd)) + b"\x0b"
        code += leb(len(body)) + body
    return (b"\0asm\x01\0\0\0" + section(1, bytes([1, 0x60, 0, 0]))
            + section(3, leb(len(bodies)) + bytes(len(bodies))) + section(10, bytes(code)))

def component(bodies):
    return b"\0asm\x0d\x00\x01\x00" + section(1, module(bodies)) + section(2, bytes([1, 0, 0, 0]))

BOMBS = {
    "13m-2mib-bodies": [2 << 20] * 6 + [1 << 20],
    "13m-under-caps": [950_000] * 14,
    "30m-under-caps": [1_000_000] * 31,
    "62m": [1_000_000] * 65,
}
paths = {}
for name, bodies in BOMBS.items():
    paths[name] = os.path.join(work, name + ".wasm")
    with open(paths[name], "wb") as out:
        out.write(component(bodies))

def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def children(pid):
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found += [int(child) for child in listing.read().split()]
    except OSError:
        pass
    return found

def env(cache):
    # Separate caches for inspect and serve: each compiles what it loads.
    return dict(os.environ, FRAMECHAIN_STAGE_PATH=stages,
                XDG_CACHE_HOME=os.path.join(work, cache))

def fmt(kib):
    return f"{kib / 1024:.0f} MiB"

def inspect(name):
    start = time.monotonic()
    proc = subprocess.Popen([binary, "inspect", paths[name]], env=env("cache-inspect"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    own, worker, killed = 0, 0, None
    while True:
        own = max(own, status_kib(proc.pid, "VmHWM"))
        for child in children(proc.pid):
            worker = max(worker, status_kib(child, "VmHWM"))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        rss = status_kib(proc.pid, "VmRSS") + sum(status_kib(c, "VmRSS") for c in children(proc.pid))
        if killed is None and (time.monotonic() - start > timeout or rss > RSS_KILL_KIB):
            killed = f"killed: still compiling after {time.monotonic() - start:.0f} s" \
                if rss <= RSS_KILL_KIB else f"killed at {fmt(rss)} resident"
            proc.kill()
        time.sleep(0.02)
    wall = time.monotonic() - start
    message = proc.stderr.read().decode(errors="replace").strip().splitlines()
    answer = killed or (message[-1] if message else f"exit {os.waitstatus_to_exitcode(status)}")
    print(f"inspect {name:16} {wall:6.2f} s  process peak {fmt(own):>9}  worker peak {fmt(worker):>9}"
          f"  {answer[:160]}")

def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

ADMIN_TOKEN = "admin-token-for-the-bomb-test"

def start_serve(pipeline, spec, cache):
    """A `framechain serve` of `pipeline` with stream `spec` and the admin
    token, on loopback ports of its own; (process, HTTP port, whether it
    became ready within 60 s)."""
    token_file = os.path.join(work, "admin-token")
    with open(token_file, "w") as out:
        out.write(ADMIN_TOKEN + "\n")
    http = free_port(socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [binary, "serve", "--pipeline", pipeline,
         "--http", f"127.0.0.1:{http}", "--media", f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
         "--stream", spec, "--admin-token-file", token_file],
        env=env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/readyz", timeout=1)
            return proc, http, True
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    return proc, http, False

def post_bomb(http, name, result):
    """POSTs bomb `name` to the server's /admin/stages/0; sets
    result["answer"] (status and the answer's start, or why none came) and
    result["seconds"]."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{http}/admin/stages/0", data=paths[name].encode(),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                 "Content-Type": "text/plain"}, method="POST")
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            result["answer"] = f"{answer.status} {answer.read().decode()[:160]}"
    except urllib.error.HTTPError as error:
        result["answer"] = f"{error.code} {error.read().decode()[:160]}"
    except Exception as error:  # timeout, reset
        result["answer"] = f"no answer: {error}"
    result["seconds"] = time.monotonic() - start

def serve(names):
    proc, http, ready = start_serve("examples/telemedicine.yaml", "room:publish-token-1:view-token-12", "cache-serve")
    try:
        if not ready:
            print("serve did not become ready"); return
        print(f"serve ready: resident {fmt(status_kib(proc.pid, 'VmRSS'))}, peak {fmt(status_kib(proc.pid, 'VmHWM'))}")
        for name in names:
            start = time.monotonic()
            result = {}
            import threading
            thread = threading.Thread(target=post_bomb, args=(http, name, result), daemon=True)
            thread.start()
            worker = 0
            while thread.is_alive() and time.monotonic() - start < timeout + 5:
                for child in children(proc.pid):
                    worker = max(worker, status_kib(child, "VmHWM"))
                if status_kib(proc.pid, "VmRSS") > RSS_KILL_KIB:
                    result["answer"] = "killed serve past 4 GiB"
                    proc.kill()
                    break
                time.sleep(0.02)
            wall = time.monotonic() - start
            time.sleep(1)
            print(f"serve   {name:16} {wall:6.2f} s  process peak {fmt(status_kib(proc.pid, 'VmHWM')):>9}"
                  f"  worker peak {fmt(worker):>9}  resident after {fmt(status_kib(proc.pid, 'VmRSS')):>9}"
                  f"  {result.get('answer', 'no answer within the timeout')}")
            if proc.poll() is not None:
                break
    finally:
        proc.kill()
        proc.wait()

def beside_a_call(bomb, window):
    """A healthy call (loadgen: a WHIP publisher of a small conformance
    clip and one WHEP viewer, through `decode-h264 ! encode-h264`, as
    scripts/http-flood.py measures its call) for `window` seconds, once
    quiet and once with `bomb` posted to /admin/stages/0 as the window
    opens: the call's p50/p99 and lost pictures each time. A small clip, so
    that what the call loses is the bomb's doing: on this 2-core machine
    the 1080p clip through the telemedicine chain beside loadgen's own
    publisher and viewer is over budget even alone."""
    loadgen = os.path.join(os.getcwd(), "target/release/loadgen")
    clip = os.path.join(os.environ.get("FRAMECHAIN_TESTDATA", "../shared/testdata"),
                        "h264/conformance/BA_MW_D.264")
    pipeline = os.path.join(work, "passthrough.yaml")
    with open(pipeline, "w") as out:
        out.write("version: 1\nname: passthrough\nstages:\n  - stage: decode-h264\n  - stage: encode-h264\n")
    if not (os.path.exists(loadgen) and os.path.exists(clip)):
        print("call    (skipped: needs target/release/loadgen and the test data)")
        return
    import csv, threading
    for phase in ("quiet", bomb):
        spec = "call:publish-token-1:view-token-12"
        proc, http, _ = start_serve(pipeline, spec, "cache-call")
        try:
            csv_path = os.path.join(work, f"call-{phase}.csv")
            warmup = 8
            call = subprocess.Popen(
                [loadgen, "--server", f"http://127.0.0.1:{http}", "--stream", spec,
                 "--clip", clip, "--fps", "30", "--warmup-seconds", str(warmup),
                 "--window-seconds", str(window), "--budget-ms", "200",
                 "--time-limit-seconds", str(window + 60), "--csv", csv_path],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            answer = {}
            if phase != "quiet":
                # Posted as the window opens (the call connects in about 1 s).
                time.sleep(warmup + 1)
                poster = threading.Thread(target=post_bomb, args=(http, bomb, answer), daemon=True)
                poster.start()
            try:
                call.wait(timeout=window + 90)
            except subprocess.TimeoutExpired:
                call.kill()
                call.wait()
            if phase != "quiet":
                poster.join(timeout=timeout + 5)
            row = {}
            try:
                with open(csv_path) as f:
                    row = next((r for r in csv.DictReader(f) if r["phase"] == "ramp"), {})
            except OSError:
                pass
            bomb_text = (f", bomb answered after {answer.get('seconds', 0):.1f} s: {answer.get('answer', '-')}"
                         if phase != "quiet" else "")
            print(f"call    {phase:16} p50 {row.get('p50_ms', '?')} ms  p99 {row.get('p99_ms', '?')} ms"
                  f"  lost {row.get('lost', '?')} of {row.get('sent', '?')}{bomb_text}")
        finally:
            proc.kill()
            proc.wait()

print(f"{binary}, timeout {timeout:.0f} s")
for name in BOMBS:
    inspect(name)
# One server, the bombs in a row: the peak column is the server's peak so far.
serve(["13m-2mib-bodies", "13m-under-caps", "62m", "30m-under-caps"])
# A call beside the dearest bomb under the caps, against the same call quiet.
beside_a_call("30m-under-caps", int(os.environ.get("CALL_WINDOW", "30")))
EOF
