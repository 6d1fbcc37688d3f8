#!/usr/bin/env bash
# A running call's latency with an empty spool and with a full one (issue
# 21; docs/performance.md, "A running call's latency under a full spool"):
# the test `spool_latency::a_running_call_s_latency_with_an_empty_and_a_full_spool`
# three times (a centre, one pod with a 4 KiB spool, a real Redis and
# PostgreSQL 15, a call paced at 30 fps, a join every 300 ms), then the
# medians of its p50 and p99. About 40 s a run.
#   scripts/center-spool-latency.sh [RUNS]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
runs="${1:-3}"
export FRAMECHAIN_STAGE_PATH="${FRAMECHAIN_STAGE_PATH:-$root/target/stages:$root/target/test-stages}"
out="$(mktemp -t framechain-spool-latency.XXXXXX)"
trap 'rm -f "$out"' EXIT

cargo test --release --workspace --test center --no-run
for run in $(seq "$runs"); do
    cargo test -q --release --workspace --test center -- --ignored --exact --nocapture \
        spool_latency::a_running_call_s_latency_with_an_empty_and_a_full_spool \
        | grep '^spool-latency ' | tee -a "$out"
done
python3 - "$out" <<'PY'
import statistics, sys
runs = [dict(field.split("=") for field in line.split()[1:]) for line in open(sys.argv[1])]
print(f"medians of {len(runs)} runs:")
for key in ("empty_p50_ms", "empty_p99_ms", "full_p50_ms", "full_p99_ms"):
    values = [float(run[key]) for run in runs]
    print(f"  {key}: {statistics.median(values):.1f}  ({', '.join(f'{v:.1f}' for v in values)})")
PY
