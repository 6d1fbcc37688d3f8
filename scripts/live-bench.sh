#!/usr/bin/env bash
# Runs every scenario of the `live` benchmark (dev/framechain-benches/src/bin/live.rs) and
# tees the tables to a results file. Bounded: each scenario stops by itself
# (about 10 minutes in all on two cores; `thousand --force` holds about
# 13 GiB for half a minute). Numbers are read in
# docs/performance.md, "Live sessions".
#
#   scripts/live-bench.sh [RESULTS-FILE]     (default: live-bench-results.md in a temp folder)
#
# Environment: REPEAT (runs of the cheap scenarios, default 3), SESSIONS
# (for `thousand`, default 1000), KEEP_TMP=1 keeps the generated sources.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export FRAMECHAIN_STAGE_PATH="$root/target/stages:$root/target/test-stages"

if [[ ! -f target/stages/parse-h264.wasm || ! -f target/test-stages/test-stage.wasm ]]; then
    echo "live-bench: stages missing; run 'cargo xtask build' first" >&2
    exit 1
fi
command -v ffmpeg >/dev/null || { echo "live-bench: ffmpeg is needed for the 720p and 320x180 sources" >&2; exit 1; }

tmp="$(mktemp -d -t framechain-live-bench.XXXXXX)"
if [[ "${KEEP_TMP:-0}" != 1 ]]; then
    trap 'rm -rf "$tmp"' EXIT
fi
results="${1:-$tmp/live-bench-results.md}"
repeat="${REPEAT:-3}"
sessions="${SESSIONS:-1000}"

cargo build -q -p framechain-benches --release --bin live
live=(target/release/live)

{
    echo "# live bench, $(date -u +%FT%TZ), $(git rev-parse --short HEAD), $(nproc) cores"
    "${live[@]}" one --tmp "$tmp" --repeat "$repeat"
    "${live[@]}" coldstart --tmp "$tmp" --rounds "$repeat" --pictures 70
    "${live[@]}" swap --tmp "$tmp" --repeat "$repeat"
    "${live[@]}" density --tmp "$tmp" --source both --accel both
    "${live[@]}" memory --tmp "$tmp" --accel wasm
    "${live[@]}" fairness --tmp "$tmp" --k 2 --repeat "$repeat"
    # As many as admission lets in, then all of them past admission (about
    # 13 MiB each: the run stops opening below 6 GiB of available memory).
    "${live[@]}" thousand --tmp "$tmp" --sessions "$sessions" --seconds 25 --pooling on
    "${live[@]}" thousand --tmp "$tmp" --sessions "$sessions" --seconds 25 --pooling on --force
} 2>&1 | tee "$results"
echo "results: $results"
