#!/usr/bin/env bash
# Cost per 1080p frame of the same stage written in Rust (invert-box),
# Python (python-invert-box, componentize-py) and JavaScript
# (js-invert-box, componentize-js): each inverts the luma of one box of
# every frame of the real 1080p clip (decoded once by FFmpeg into a Y4M
# file), and the median time of its `push` calls is read from the
# `framechain run` summary. Python is timed twice: with bytes.translate
# (`method=table`, the loop runs in C) and with a Python loop per sample
# (`method=loop`). Each number is the lowest median of RUNS (3) runs.
# Results: docs/authoring-languages.md.
#
# Needs `cargo xtask build` first (the CLI and target/test-stages).
#   scripts/language-cost.sh            # 60 frames for the small boxes
#   FRAMES=120 RUNS=5 scripts/language-cost.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
framechain="$target/release/framechain"
testdata="${FRAMECHAIN_TESTDATA:-$root/../shared/testdata}"
clip="$testdata/h264/throughput/real1080p30_10s_cbp_6M.264"
frames="${FRAMES:-60}"
# Whole-frame boxes in Python loops and JavaScript take most of a second a
# frame: fewer frames, and a call time limit that does not stop them.
whole_frames="${WHOLE_FRAMES:-10}"
export FRAMECHAIN_STAGE_PATH="$target/stages:$target/test-stages"

for f in "$framechain" "$target/test-stages/invert-box.wasm" \
  "$target/test-stages/python-invert-box.wasm" "$target/test-stages/js-invert-box.wasm"; do
  [ -e "$f" ] || { echo "language-cost: $f missing; run cargo xtask build" >&2; exit 1; }
done
[ -f "$clip" ] || { echo "language-cost: clip not found: $clip" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ffmpeg -v error -i "$clip" -frames:v "$frames" -f yuv4mpegpipe "$work/many.y4m"
ffmpeg -v error -i "$clip" -frames:v "$whole_frames" -f yuv4mpegpipe "$work/few.y4m"

# The p50 column of the stage's row, in milliseconds.
p50_ms() {
  local stage="$1" summary="$2"
  awk -v stage="$stage" '$1 == stage {
      v = $5; u = $6
      if (u == "s") v *= 1000; else if (u == "us" || u == "µs") v /= 1000
      printf "%.3f", v; found = 1; exit
    } END { if (!found) exit 1 }' "$summary"
}

# One stage (with its parameters) on one input: the median push in ms,
# the lowest of $RUNS runs, since other work on the machine only ever adds
# time. (The first run also compiles the component into the cache; that is
# not in the push times.)
measure() {
  local input="$1" stage_line="$2"
  local stage="${stage_line%% *}" best=""
  for _ in $(seq "${RUNS:-3}"); do
    "$framechain" run "$stage_line" -i "$input" -o - --output-format y4m \
      --call-timeout 60000 >/dev/null 2>"$work/summary"
    local ms
    ms="$(p50_ms "$stage" "$work/summary")"
    best="$(awk -v a="$ms" -v b="$best" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }')"
  done
  echo "$best"
}

printf '%-22s %-32s %12s %10s\n' "box" "stage" "p50 ms/frame" "x Rust"
row() {
  local label="$1" input="$2" rect="$3"
  local rust
  rust="$(measure "$input" "invert-box rect=$rect")"
  printf '%-22s %-32s %12s %10s\n' "$label" "invert-box (Rust)" "$rust" "1.0"
  for line in "python-invert-box rect=$rect" "python-invert-box rect=$rect method=loop" "js-invert-box rect=$rect"; do
    local ms
    ms="$(measure "$input" "$line")"
    local shown="${line%% *}"
    [[ "$line" == *method=loop* ]] && shown="$shown method=loop"
    printf '%-22s %-32s %12s %10s\n' "$label" "$shown" "$ms" "$(awk -v a="$ms" -v b="$rust" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')"
  done
}

row "outside (call only)" "$work/many.y4m" "4000,4000,16,16"
row "64x64" "$work/many.y4m" "800,400,64,64"
row "256x256" "$work/many.y4m" "800,400,256,256"
row "1920x1080 (whole)" "$work/few.y4m" "0,0,1920,1080"
echo "($frames frames for the boxes, $whole_frames for the whole frame, of $(basename "$clip"); $(nproc) cores)"
