#!/usr/bin/env bash
# Issue 17, finding 2: a healthy 1080p30 call's latency and lost pictures,
# quiet and beside 2 and 4 publishers of all-keyframe 4096x2304 pictures
# into the same pipeline on a 2-worker live runtime, without fair shares
# ("before"), with them, and with them and serve's default bound of
# 1920x1080. Runs the ignored measurement `measure_hostile_publishers` in
# crates/framechain/tests/integration/fair_share.rs (the integration test binary is
# built anyway, so no second wasmtime build). Bounded: 3 modes x 3 loads x
# REPEAT runs of SECONDS_EACH (about 4 minutes with the defaults). The
# numbers are in docs/security.md, "Fair shares under hostile publishers".
#
#   scripts/hostile-publishers.sh [RESULTS-FILE]
#
# Environment: REPEAT (default 3), SECONDS_EACH (default 8). Needs FFmpeg
# with libx264 (it makes the all-IDR stream) and the test data.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export FRAMECHAIN_STAGE_PATH="${FRAMECHAIN_STAGE_PATH:-$root/target/stages:$root/target/test-stages}"
export FRAMECHAIN_TESTDATA="${FRAMECHAIN_TESTDATA:-$root/../shared/testdata}"
export FAIR_SHARE_REPEAT="${REPEAT:-3}" FAIR_SHARE_SECONDS="${SECONDS_EACH:-8}"

if [[ ! -f target/stages/parse-h264.wasm ]]; then
    echo "hostile-publishers: stages missing; run 'cargo xtask build' first" >&2
    exit 1
fi
command -v ffmpeg >/dev/null || { echo "hostile-publishers: ffmpeg (with libx264) makes the 4096x2304 all-IDR stream" >&2; exit 1; }

results="${1:-$(mktemp -t hostile-publishers.XXXXXX.md)}"
{
    echo "# hostile publishers, $(date -u +%FT%TZ), $(git rev-parse --short HEAD), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    cargo test -q --release --workspace --test integration -- --ignored --exact \
        fair_share::measure_hostile_publishers --nocapture --test-threads 1
} 2>&1 | tee "$results"
echo "results: $results"
