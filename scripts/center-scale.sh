#!/usr/bin/env bash
# Thirty rooms with media over three real pods through the centre (issue
# 21): three `framechain serve` pods (capacities 10, 12, 15), the centre,
# a real Redis and PostgreSQL; a publisher and a viewer per room through
# the centre's URL; the spread, the video at every viewer and every join
# audited once are checked, and the times printed. About 22 s on the
# 2-core machine, beside the failover test's, so not in CI (docs/center.md, "Measured").
#   scripts/center-scale.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export FRAMECHAIN_STAGE_PATH="${FRAMECHAIN_STAGE_PATH:-$root/target/stages:$root/target/test-stages}"
cargo test --release --workspace --test center -- --ignored --exact --nocapture \
    scale::thirty_rooms_with_media_spread_over_three_pods_within_capacity_and_audited_once
