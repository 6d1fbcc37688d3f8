#!/bin/bash
# Lip sync and glass to glass of a two-browser visit, both directions.
#
# Runs the two-Chromium visit test (crates/framechain-serve/tests/serve/
# visit_browsers.rs) RUNS times (default 3) with both call pages sending the
# lip-sync test signal, and prints each run's figures: the offset of the
# click's onset from its flash's presentation (positive: sound behind the
# picture) and both tracks' glass-to-glass latency, beside the reference
# measured in the same run: Chromium to Chromium with no server between
# (scripts/visit-sync-baseline.py). With SCREENSHOTS=DIR the
# last run's windows are saved there (docs/visits.md's pictures).
#
# Usage: scripts/visit-sync.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
export FRAMECHAIN_STAGE_PATH="$PWD/target/stages:$PWD/target/test-stages"
export FRAMECHAIN_TESTDATA="${FRAMECHAIN_TESTDATA:-$PWD/../shared/testdata}"
export FRAMECHAIN_VISIT_BOTH_TEST_SIGNAL=1
if [ -n "${SCREENSHOTS:-}" ]; then export FRAMECHAIN_VISIT_SCREENSHOTS="$SCREENSHOTS"; fi
cargo test --release --workspace --test serve --no-run 2>/dev/null
for run in $(seq "$runs"); do
  echo "run $run of $runs"
  cargo test --release --workspace --test serve -- --exact --nocapture \
    visit_browsers::a_patient_and_a_clinician_hold_a_visit_with_sound_in_lip_sync_and_the_patient_redacted 2>&1 \
    | grep -E '^(patient -> clinician|clinician -> patient|test result)'
  python3 scripts/visit-sync-baseline.py 15
done
