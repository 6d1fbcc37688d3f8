#!/usr/bin/env python3
"""Transcode throughput against a native peer, in one run on one machine.

Runs, one after the other and each pinned to one CPU (`taskset -c 0`):

  framechain   decode-h264 ! scale width=1280 height=720 ! encode-h264 ...        (all wasm)
  framechain   ... ! encode-h264 ... accel=native                                (if supported)
  GStreamer    openh264dec ! videoscale ! openh264enc                              (native OpenH264)

on the same clip, and prints frames per second, the ratio to GStreamer,
framechain's per-stage p50/p99 latency, its end-to-end latency per frame
out, and the peak memory (max RSS) of
each process. `--repeat` rounds each run every variant once; the fps is
the median over the rounds, the ratio the median of the rounds' ratios.

    python3 dev/framechain-benches/h264_peers.py [--clip FILE] [--repeat 3]

Needs `cargo xtask build` first; GStreamer comes from scripts/setup.sh.
FRAMECHAIN_BIN and FRAMECHAIN_STAGE_PATH point it at another build.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRAMECHAIN = os.environ.get("FRAMECHAIN_BIN", str(ROOT / "target/release/framechain"))
DEFAULT_CLIP = ROOT.parent / "shared/testdata/h264/throughput/real1080p30_10s_cbp_6M.264"
ENCODE = "encode-h264 bitrate=2000k fps=30 gop=60"
CHAIN = f"decode-h264 ! scale width=1280 height=720 ! {ENCODE}"


def run_measured(command):
    """Runs a command; returns (wall seconds, max RSS in MiB, stderr text)."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    stderr = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"h264_peers: {' '.join(command)} failed:\n{stderr}")
    return elapsed, usage.ru_maxrss / 1024, stderr


def frame_count(clip):
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(clip)],
        capture_output=True, text=True, check=True)
    return int(probe.stdout.strip())


def framechain_command(chain, clip, out):
    return ["taskset", "-c", "0", FRAMECHAIN, "run", chain,
            "-i", str(clip), "-o", str(out)]


def gstreamer_command(clip, out):
    return ["taskset", "-c", "0", "gst-launch-1.0", "-q",
            "filesrc", f"location={clip}", "!", "h264parse", "!", "openh264dec", "!",
            "videoscale", "method=bilinear", "!", "video/x-raw,width=1280,height=720", "!",
            "openh264enc", "bitrate=2000000", "gop-size=60", "complexity=low", "multi-thread=1", "!",
            "h264parse", "!", "filesink", f"location={out}"]


def stage_latencies(summary):
    """(stage, p50, p99) rows from framechain's end-of-run summary."""
    rows = []
    for line in summary.splitlines():
        match = re.match(r"\s+(\S+)\s+\d+\s+\d+\s+\d+\s+([\d.]+ ms)\s+([\d.]+ ms)", line)
        if match:
            rows.append(match.groups())
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frames = frame_count(args.clip)
    work = Path(tempfile.mkdtemp(prefix="framechain-peers-"))

    variants = [("framechain wasm", framechain_command(CHAIN, args.clip, work / "wasm.h264"))]
    native_chain = CHAIN + " accel=native"
    os.environ.setdefault("FRAMECHAIN_STAGE_PATH", str(ROOT / "target/stages"))
    inspect = subprocess.run([FRAMECHAIN, "inspect", "encode-h264"],
                             capture_output=True, text=True)
    if "accel" in inspect.stdout:
        variants.append(("framechain native-enc", framechain_command(native_chain, args.clip, work / "native.h264")))
    variants.append(("gstreamer native", gstreamer_command(args.clip, work / "gst.h264")))

    # Rounds, not blocks: every round runs each variant once (in an order
    # that rotates), and a variant's ratio to GStreamer is taken within
    # each round, so that the machine's drift from one minute to the next
    # (10-20 % on a shared one) falls on both sides of a ratio.
    runs = {name: [] for name, _ in variants}
    for round_index in range(args.repeat):
        shift = round_index % len(variants)
        for name, command in variants[shift:] + variants[:shift]:
            runs[name].append(run_measured(command))

    def fps(run):
        return frames / run[0]

    peer = runs["gstreamer native"]
    print(f"clip: {args.clip.name}, {frames} frames, one CPU each, median of {args.repeat} rounds")
    print(f"{'variant':<24}{'fps':>8}{'vs gst':>9}{'max RSS':>11}   (vs gst: median of the rounds' ratios)")
    summaries = {}
    for name, _ in variants:
        ratios = [fps(mine) / fps(theirs) for mine, theirs in zip(runs[name], peer)]
        median_fps = statistics.median(fps(run) for run in runs[name])
        rss = max(run[1] for run in runs[name])
        summaries[name] = runs[name][-1][2]
        print(f"{name:<24}{median_fps:>8.1f}{statistics.median(ratios):>8.2f}x{rss:>8.0f} MiB"
              f"   rounds: {' '.join(f'{ratio:.2f}' for ratio in ratios)}")
    for name, summary in summaries.items():
        if name.startswith("framechain"):
            print(f"{name} latency (p50 / p99), per stage call and end-to-end per frame out:")
            for stage, p50, p99 in stage_latencies(summary):
                print(f"  {stage:<14}{p50:>12}{p99:>12}")


if __name__ == "__main__":
    main()
