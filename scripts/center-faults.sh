#!/usr/bin/env bash
# The audit trail's fault cases at the issue's length (docs/center.md,
# "Faults, counted by id"). CI runs the same tests with 2 s outages; this
# is the long version:
#  1. the ingest alone: Redis stopped for 30 s, then PostgreSQL stopped for
#     30 s, in the middle of an ingest of 2000 events (about 75 s);
#  2. the fleet with real calls: a centre, two `framechain serve` pods and
#     calls through the centre's URL while Redis is stopped for 30 s,
#     PostgreSQL for 30 s, the centre is killed in the middle of a batch
#     and a pod is killed with records in its spool (about 2 min);
# every event lands exactly once (counted by id) and the chains verify.
# Then the ingest rate, median of three (docs/center.md, "The audit trail").
#   scripts/center-faults.sh [EVENTS]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
events="${1:-100000}"
export FRAMECHAIN_STAGE_PATH="${FRAMECHAIN_STAGE_PATH:-$root/target/stages:$root/target/test-stages}"
export FRAMECHAIN_FAULT_SECONDS="${FRAMECHAIN_FAULT_SECONDS:-30}"

cargo test --release --workspace --test center -- --exact \
    audit::redis_and_postgres_stopped_mid_ingest_lose_nothing_and_repeat_nothing
cargo test --release --workspace --test center -- --exact --nocapture \
    faults::faults_during_real_calls_lose_no_event_and_admit_no_join_unrecorded

cargo build --release --workspace --example ingest_rate
for run in 1 2 3; do
    "${CARGO_TARGET_DIR:-$root/target}/release/examples/ingest_rate" "$events" 10 500
done
