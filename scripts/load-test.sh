#!/usr/bin/env bash
# Load test of `framechain serve` (docs/performance.md, "serve under load").
# Starts the server (target/release/framechain serve) on loopback and runs
# the load generator (target/release/loadgen, another process): publishers
# with one viewer each, added one at a time, each sending the real 1080p30
# clip paced at 30 fps over WebRTC; per step p50/p99 latency, loss and the
# server's drops; it stops at the first step over the 200 ms p99 budget.
#
# Phase 1 (the curve): the server's own admission decides; if it admitted a
# publisher past the budget, phase 2 restarts it with --max-sessions N (the
# largest N that held, at least 1) and shows that publisher N+1 gets 503 + Retry-After
# while the N running calls keep their latency. Then the PNG is drawn.
#
#   scripts/load-test.sh [PIPELINE.yaml | light] [OUT-DIR]
#
# `light`: decode-h264 ! redact ! scale 640x360 ! encode-h264 accel=native
# (the same 1080p decode, a cheaper encode), for a longer curve on 2 cores.
#
# Environment: MAX (publishers at most, default 6), WINDOW (seconds measured
# per step, default 10), WARMUP (seconds before measuring, default 4),
# PNG (default docs/serve-load.png). Bounded: every step has a fixed length,
# loadgen has a time limit, the server is stopped on exit.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export FRAMECHAIN_STAGE_PATH="$root/target/stages:$root/target/test-stages"

pipeline="${1:-examples/telemedicine.yaml}"
out="${2:-$(mktemp -d -t framechain-load.XXXXXX)}"
max="${MAX:-6}"
window="${WINDOW:-10}"
warmup="${WARMUP:-4}"
png="${PNG:-docs/serve-load.png}"
clip="../shared/testdata/h264/throughput/real1080p30_10s_cbp_6M.264"
mkdir -p "$out"
if [[ "$pipeline" == light ]]; then
    # The lighter variant for a longer curve on a small machine: the same
    # 1080p input, decode and redaction, but 640x360 out from the host's
    # native encoder.
    pipeline="$out/telemedicine-light.yaml"
    cat >"$pipeline" <<'YAML'
version: 1
name: telemedicine-light
stages:
  - stage: decode-h264
  - stage: redact
    params: { rect: "120,67,600,135", mode: fill }
  - stage: scale
    params: { width: 640, height: 360 }
  - stage: encode-h264
    params: { bitrate: 800k, fps: 30, gop: 60, accel: native }
YAML
fi

[[ -f "$clip" ]] || { echo "load-test: $clip not found" >&2; exit 1; }
[[ -f target/stages/decode-h264.wasm ]] || { echo "load-test: stages missing; run 'cargo xtask build' first" >&2; exit 1; }

nice -n 10 cargo build -q --release -p framechain-cli -p framechain-loadgen

free_port() {
    python3 -c "import socket,sys; s=socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])" "$1"
}

streams=()
loadgen_streams=()
for i in $(seq 1 $((max + 1))); do
    # Throwaway tokens for a loopback test.
    spec="s$i:publish-token-$i-$RANDOM$RANDOM:view-token-$i-$RANDOM$RANDOM"
    streams+=(--stream "$spec")
    loadgen_streams+=(--stream "$spec")
done

server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

# start_server LOG [extra serve options...]
start_server() {
    local log="$1"
    shift
    http_port="$(free_port SOCK_STREAM)"
    media_port="$(free_port SOCK_DGRAM)"
    target/release/framechain serve --pipeline "$pipeline" \
        --http "127.0.0.1:$http_port" --media "127.0.0.1:$media_port" \
        "${streams[@]}" "$@" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "load-test: the server did not answer /healthz in 10 s" >&2
    exit 1
}

run_loadgen() {
    local csv="$1"
    shift
    target/release/loadgen --server "http://127.0.0.1:$http_port" "${loadgen_streams[@]}" \
        --clip "$clip" --fps 30 --warmup-seconds "$warmup" --window-seconds "$window" \
        --budget-ms 200 --time-limit-seconds 900 --csv "$csv" "$@"
}

echo "== phase 1: the curve ($pipeline, up to $max publishers, $(nproc) cores)"
start_server "$out/serve-1.log"
run_loadgen "$out/phase1.csv" --max-publishers "$max" | tee "$out/phase1.txt"
stop_server

held="$(awk -F, '$1=="ramp" && $12=="holds" {n=$2} END {print n+0}' "$out/phase1.csv")"
csvs=("$out/phase1.csv")
if ! grep -q '^refused,' "$out/phase1.csv"; then
    # When not even one call held (a loaded machine), the refusal is still
    # shown with one session.
    cap=$((held > 0 ? held : 1))
    echo "== phase 2: --max-sessions $cap, publisher $((cap + 1)) must be refused"
    start_server "$out/serve-2.log" --max-sessions "$cap"
    run_loadgen "$out/phase2.csv" --max-publishers "$cap" | tee "$out/phase2.txt"
    stop_server
    csvs+=("$out/phase2.csv")
fi

if ! python3 -c "import matplotlib" 2>/dev/null; then
    pip install --user -q matplotlib || pip install --user --break-system-packages -q matplotlib
fi
python3 scripts/plot-load.py --title "framechain serve, $(basename "$pipeline"), $(nproc) cores" \
    --out "$png" "${csvs[@]}"
echo "load-test: CSV and logs in $out; plot $png"
