#!/usr/bin/env bash
# Glass-to-glass latency of `framechain serve` with real browsers: runs the
# server on loopback with a telemedicine-like pipeline, publishes the
# publish page's 1080p30 test pattern (a timestamp code in every picture)
# from one headless Chromium, watches with the watch page in another, and
# prints the glass-to-glass latency the watch page reads from the code
# (canvas draw -> browser encode -> WHIP -> decode, redact, scale, encode ->
# WHEP -> browser decode -> display) and the server's own end-to-end
# latency. Bounded: the measurement lasts SECONDS (default 30) after a
# WARMUP (default 5 s).
#
#   scripts/glass-to-glass.sh [--seconds N] [--warmup N] [--pipeline FILE] [--no-build]
#
# Needs: target/stages (cargo xtask build), chromium and chromium-driver
# (scripts/setup.sh), python3.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds=30
warmup=5
pipeline=examples/telemedicine.yaml
build=1
while (($#)); do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --pipeline) pipeline="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        *) echo "usage: $0 [--seconds N] [--warmup N] [--pipeline FILE] [--no-build]" >&2; exit 2 ;;
    esac
done

export FRAMECHAIN_STAGE_PATH="${FRAMECHAIN_STAGE_PATH:-$root/target/stages}"
for tool in /usr/bin/chromedriver /usr/lib/chromium/chromium python3; do
    command -v "$tool" >/dev/null || { echo "glass-to-glass: $tool not found (scripts/setup.sh installs it)" >&2; exit 1; }
done
[[ -f target/stages/decode-h264.wasm ]] || { echo "glass-to-glass: stages missing; run 'cargo xtask build' first" >&2; exit 1; }
if ((build)); then
    cargo build -q --release -p framechain-cli
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
free_udp_port() {
    python3 -c 'import socket; s = socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
http_port="$(free_port)"
media_port="$(free_udp_port)"
# Fresh random tokens for this run only.
publish_token="pub-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
view_token="view-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

log="$(mktemp -t framechain-g2g-serve.XXXXXX.log)"
target/release/framechain serve --pipeline "$pipeline" \
    --http "127.0.0.1:$http_port" --media "127.0.0.1:$media_port" \
    --stream "room1:$publish_token:$view_token" >"$log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT

for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break
    kill -0 "$server" 2>/dev/null || { echo "glass-to-glass: the server exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
done

echo "glass-to-glass: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(chromium --version 2>/dev/null | head -1), pipeline $pipeline"
PUBLISH_TOKEN="$publish_token" VIEW_TOKEN="$view_token" \
    python3 scripts/glass-to-glass.py --base "http://127.0.0.1:$http_port" --stream room1 \
    --seconds "$seconds" --warmup "$warmup" || { echo "--- server log:" >&2; tail -n 40 "$log" >&2; exit 1; }
