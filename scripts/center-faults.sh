#!/usr/bin/env bash
# The audit trail's fault cases at the issue's length: Redis stopped for
# 30 s, then PostgreSQL stopped for 30 s, in the middle of an ingest of
# 2000 events; every event must land exactly once (counted by id) and the
# chain must verify. CI runs the same test with 2 s outages; this is the
# long version, about 75 s. Then the ingest rate, median of three
# (docs/center.md, "The audit trail").
#   scripts/center-faults.sh [EVENTS]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
events="${1:-100000}"

FRAMECHAIN_FAULT_SECONDS=30 cargo test --release --workspace --test center -- \
    --exact audit::redis_and_postgres_stopped_mid_ingest_lose_nothing_and_repeat_nothing

cargo build --release --workspace --example ingest_rate
for run in 1 2 3; do
    "${CARGO_TARGET_DIR:-$root/target}/release/examples/ingest_rate" "$events" 10 500
done
