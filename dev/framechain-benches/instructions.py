#!/usr/bin/env python3
"""Instructions per frame of a chain, counted by valgrind: a figure that noise does not move.

The development machine is shared, and the same run of the transcoding chain
takes anywhere from 8 to 12 seconds of CPU from one minute to the next, so a
change worth 2 % cannot be seen in timings without dozens of runs. The
number of instructions executed does not depend on what else the machine
does: callgrind counts them, in wasmtime's compiled code as well as in the
host. This script runs the chain under callgrind on two prefixes of the clip
and reports the difference per frame out, which leaves out the start (the
hashing of the stages, the instantiation, the first IDR picture).

    python3 dev/framechain-benches/instructions.py [--stage-path DIR[,DIR...]]

Each `--stage-path` entry is run in turn (compare two builds of the stages
in one go). Instructions are not time: a stall (a cache miss, a load that
waits for a store) costs no instructions, so a change that removes stalls
needs the timed benches (h264_peers.py) as well. Needs `cargo xtask build`
and valgrind. Takes about a minute per entry.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRAMECHAIN = os.environ.get("FRAMECHAIN_BIN", str(ROOT / "target/release/framechain"))
DEFAULT_CLIP = ROOT.parent / "shared/testdata/h264/throughput/real1080p30_10s_cbp_6M.264"
CHAIN = "decode-h264 ! scale width=1280 height=720 ! encode-h264 bitrate=2000k fps=30 gop=60"
SUMMARY = re.compile(r"framechain: (\d+) in, (\d+) out")
COLLECTED = re.compile(r"Collected : (\d+)")


def run(stage_path, chain, clip, out, valgrind):
    """Runs the chain; returns (frames out, instructions or None)."""
    env = dict(os.environ, FRAMECHAIN_STAGE_PATH=stage_path)
    command = [FRAMECHAIN, "run", chain, "-i", str(clip), "-o", str(out)]
    if valgrind:
        # Valgrind is some 50 times slower than the CPU: lift the per-call
        # time limit. --smc-check: wasmtime writes code at run time.
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                   "--smc-check=all-non-file", *command, "--call-timeout", "600000"]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"instructions: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    summary = SUMMARY.search(done.stderr)
    if summary is None:
        sys.exit(f"instructions: no summary in:\n{done.stderr[-2000:]}")
    collected = COLLECTED.search(done.stderr)
    return int(summary.group(2)), int(collected.group(1)) if collected else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--chain", default=CHAIN)
    parser.add_argument("--stage-path", default=os.environ.get(
        "FRAMECHAIN_STAGE_PATH", f"{ROOT}/target/stages"),
        help="stage folders to compare, separated by commas (default: target/stages)")
    parser.add_argument("--bytes", type=int, default=1_000_000,
                        help="length of the longer prefix of the clip (default 1000000: 36 frames)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        data = args.clip.read_bytes()
        short_bytes = args.bytes * 2 // 5
        short, long = work / "short.264", work / "long.264"
        short.write_bytes(data[:short_bytes])
        long.write_bytes(data[: args.bytes])
        print(f"clip: {args.clip.name}, frames from byte {short_bytes} to {args.bytes}")
        print(f"chain: {args.chain}")
        for stage_path in args.stage_path.split(","):
            # Compile the stages outside valgrind first (the cache keeps them).
            run(stage_path, args.chain, short, work / "out.h264", valgrind=False)
            frames_short, ir_short = run(stage_path, args.chain, short, work / "out.h264", True)
            frames_long, ir_long = run(stage_path, args.chain, long, work / "out.h264", True)
            frames = frames_long - frames_short
            if frames <= 0:
                sys.exit("instructions: the longer prefix gave no more frames; raise --bytes")
            per_frame = (ir_long - ir_short) / frames
            print(f"{stage_path}: {per_frame / 1e6:.2f} M instructions per frame "
                  f"({frames} frames; whole runs {ir_short / 1e9:.3f} and {ir_long / 1e9:.3f} G)")


if __name__ == "__main__":
    main()
