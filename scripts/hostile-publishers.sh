#!/usr/bin/env bash
# Issue 17, finding 2: a healthy 1080p30 call's latency and lost pictures,
# quiet and beside 2 and 4 publishers of all-keyframe 4096x2304 pictures
# into the same pipeline on a 2-worker runtime, without fair shares
# ("before"), with them, and with them and serve's default bound of
# 1920x1080. Runs the `hostile` scenario of the `live` benchmark
# (benches/src/bin/live.rs). Bounded: 3 modes x 3 loads x REPEAT runs of
# SECONDS each (about 4 minutes with the defaults). The numbers are in
# docs/security.md, "Fair shares under hostile publishers".
#
#   scripts/hostile-publishers.sh [RESULTS-FILE]
#
# Environment: REPEAT (default 3), SECONDS_EACH (default 8), WORKERS
# (default 2), KEEP_TMP=1 keeps the generated stream.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export FRAMECHAIN_STAGE_PATH="${FRAMECHAIN_STAGE_PATH:-$root/target/stages:$root/target/test-stages}"

if [[ ! -f target/stages/parse-h264.wasm ]]; then
    echo "hostile-publishers: stages missing; run 'cargo xtask build' first" >&2
    exit 1
fi
command -v ffmpeg >/dev/null || { echo "hostile-publishers: ffmpeg (with libx264) makes the 4096x2304 all-IDR stream" >&2; exit 1; }

tmp="$(mktemp -d -t framechain-hostile.XXXXXX)"
if [[ "${KEEP_TMP:-0}" != 1 ]]; then
    trap 'rm -rf "$tmp"' EXIT
fi
results="${1:-$tmp/hostile-publishers-results.md}"

# The workspace's feature set: the same artifacts as the tests (no second
# wasmtime build).
cargo build -q --release --workspace --bin live
{
    echo "# hostile publishers, $(date -u +%FT%TZ), $(git rev-parse --short HEAD), $(nproc) cores"
    target/release/live hostile --tmp "$tmp" --hostile 0,2,4 \
        --repeat "${REPEAT:-3}" --seconds "${SECONDS_EACH:-8}" --workers "${WORKERS:-2}"
} 2>&1 | tee "$results"
echo "results: $results"
