#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a bounded time, one after
# the other, and prints executions, coverage and findings per target.
#
#   scripts/fuzz.sh [-n RUNS] [-t SECONDS] [TARGET...]
#
# Defaults: 100000 executions or 120 s per target, whichever ends first.
# New inputs go to target/fuzz-corpus/<target> (not the committed corpus:
# minimise them into fuzz/corpus with `cargo fuzz cmin`, see fuzz/README.md);
# crashes to fuzz/artifacts/<target>/. Exits non-zero if any target found one.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=100000
seconds=120
while getopts "n:t:" option; do
    case $option in
        n) runs=$OPTARG ;;
        t) seconds=$OPTARG ;;
        *) echo "usage: $0 [-n RUNS] [-t SECONDS] [TARGET...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(y4m raw annexb pipeline_yaml launch_line decode_h264 stage_calls parse_h264 webrtc_offer webrtc_datagrams rooms event_body ingest_entry ticket)
fi

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# The decode_h264 and stage_calls targets load the built stage components.
if [ ! -f "$root/target/stages/decode-h264.wasm" ] || [ ! -f "$root/target/test-stages/fuzz-stage.wasm" ]; then
    (cd "$root" && cargo xtask build)
fi

# Instrumented builds need their own target folder: other flags than the
# workspace's, and no sanitizer (-s none), which needs nightly Rust.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/fuzz}
cd "$root/fuzz"
cargo fuzz build -s none

failed=0
printf '%-14s %12s %8s %8s %8s %s\n' target executions seconds cov ft findings
for target in "${targets[@]}"; do
    scratch=$root/target/fuzz-corpus/$target
    mkdir -p "$scratch" "artifacts/$target"
    log=$root/target/fuzz-$target.log
    before=$(find "artifacts/$target" -type f | wc -l)
    start=$(date +%s)
    status=0
    cargo fuzz run -s none "$target" "$scratch" "corpus/$target" -- \
        -runs="$runs" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    elapsed=$(($(date +%s) - start))
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    coverage=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    cov=$(echo "$coverage" | awk '{print $2}')
    ft=$(echo "$coverage" | awk '{print $4}')
    findings=$(($(find "artifacts/$target" -type f | wc -l) - before))
    if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
        failed=1
        findings="$findings (exit $status; see $log)"
    fi
    printf '%-14s %12s %8s %8s %8s %s\n' "$target" "${executions:-?}" "$elapsed" "${cov:-?}" "${ft:-?}" "$findings"
done
exit $failed
