#!/usr/bin/env python3
"""Peak memory and wall time of the authoring tools under hostile input
(issue 17, finding 6; docs/security.md, "The tools read with bounds").

Runs each case RUNS times (default 5) and prints the median peak resident
memory (wait4's ru_maxrss) and wall time, and how the runs ended. Every
run is watched: past KILL_MIB of resident memory or DEADLINE seconds the
script kills it (and says so), so an unbounded build cannot take the
machine's memory or hang.

    cargo test --release --workspace --test cli --no-run   # builds target/release/framechain
    FRAMECHAIN_STAGE_PATH=$PWD/target/stages:$PWD/target/test-stages \\
        python3 scripts/tools-bounds.py [RUNS]

FRAMECHAIN=path/to/framechain measures another build (e.g. one from before
the fix).
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

KILL_MIB = 2048
DEADLINE = 30.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMECHAIN = os.environ.get(
    "FRAMECHAIN", os.path.join(ROOT, "target", "release", "framechain")
)


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE") >> 20


def run(args, env):
    """One watched run: (peak MiB, wall s, how it ended)."""
    start = time.monotonic()
    child = subprocess.Popen(
        [FRAMECHAIN, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    killed = None
    os.set_blocking(child.stderr.fileno(), False)
    stderr = b""
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        try:
            chunk = child.stderr.read()
            if chunk:
                stderr += chunk[: 4096 - len(stderr)]
        except (BlockingIOError, TypeError):
            pass
        if pid == child.pid:
            break
        if killed is None:
            if time.monotonic() - start > DEADLINE:
                killed = f"killed after {DEADLINE:.0f} s"
            elif rss_mib(child.pid) > KILL_MIB:
                killed = f"killed past {KILL_MIB} MiB"
            if killed:
                os.kill(child.pid, signal.SIGKILL)
        time.sleep(0.01)
    wall = time.monotonic() - start
    child.returncode = 0  # reaped by wait4 above
    if killed:
        ended = killed
    elif os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        first = stderr.decode(errors="replace").strip().splitlines()
        ended = f"exit {code}" + (f": {first[-1][:110]}" if code and first else "")
    else:
        ended = f"signal {os.WTERMSIG(status)}"
    return usage.ru_maxrss >> 10, wall, ended


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    scratch = tempfile.mkdtemp(prefix="tools-bounds-")
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(scratch, "cache"))
    fifo = os.path.join(scratch, "pipeline.fifo")
    os.mkfifo(fifo)
    huge = os.path.join(scratch, "huge")
    with open(huge, "wb") as file:
        file.truncate(4 << 30)  # sparse: no disk used
    pipeline = os.path.join(scratch, "pipeline.yaml")
    with open(pipeline, "w") as file:
        file.write('version: 1\nstages:\n  - stage: "scale"\n')
    image = os.path.join(scratch, "image.tar")
    cases = [
        ("package -p /dev/zero", ["package", "-p", "/dev/zero", "-o", image]),
        ("package -p FIFO (no writer)", ["package", "-p", fifo, "-o", image]),
        ("package -p sparse 4 GiB file", ["package", "-p", huge, "-o", image]),
        (
            "package --add /dev/zero:x",
            ["package", "-p", pipeline, "-o", image, "--add", "/dev/zero:x"],
        ),
        (
            "package --add sparse 4 GiB file",
            ["package", "-p", pipeline, "-o", image, "--add", f"{huge}:x"],
        ),
        ("package (scale, healthy)", ["package", "-p", pipeline, "-o", image]),
        (
            "check multiply 640x360, 40 frames",
            ["check", "test-stage", "behaviour=multiply", "--size", "640x360", "--frames", "40"],
        ),
        (
            "check multiply 1280x720, 60 frames",
            ["check", "test-stage", "behaviour=multiply", "--size", "1280x720", "--frames", "60"],
        ),
        (
            "check passthrough 1280x720, 60 frames",
            ["check", "test-stage", "--size", "1280x720", "--frames", "60"],
        ),
    ]
    # One untimed run first, so the stages are compiled into the cache.
    run(["package", "-p", pipeline, "-o", image], env)
    run(["check", "test-stage", "--frames", "1"], env)
    print(f"{FRAMECHAIN}, {runs} runs each, medians")
    print(f"{'case':<40} {'peak RSS':>9} {'wall':>8}  ended")
    for name, args in cases:
        results = [run(args, env) for _ in range(runs)]
        peak = statistics.median(r[0] for r in results)
        wall = statistics.median(r[1] for r in results)
        ended = sorted({r[2] for r in results})
        print(f"{name:<40} {peak:>5.0f} MiB {wall:>6.2f} s  {' | '.join(ended)}")
    os.remove(huge)


if __name__ == "__main__":
    main()
