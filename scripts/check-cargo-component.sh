#!/usr/bin/env bash
# Checks the second build path of a new stage (issue 11, docs/authoring.md):
# a crate made by `framechain new-stage` builds with `cargo component build
# --release` as it is, and the component works in a chain. Steps: install
# cargo-component (pinned, from crates.io, into target/lang-tools/cargo-component;
# about 20 minutes on two cores the first time, nothing after) if absent; add the
# rust target wasm32-wasip1 if absent (cargo-component 0.21 builds for it and
# adapts the module to a component with its built-in WASI preview1 adapter; it
# would add the target itself otherwise); `framechain new-stage my-square` in a
# temp folder; `cargo component build --release --offline`; `framechain inspect`
# and `framechain check` the component; run it by name in
# `my-square x=8 y=8 size=16 value=201 ! scale width=64 height=48` on 3 testsrc
# frames and compare with `scale width=64 height=48` alone: inside the square
# every luma sample is 201, everything else is unchanged. Ends with one line,
# `check-cargo-component: PASS ...` or `check-cargo-component: FAIL ...`, and
# exits 0 or 1. Every step is under a time limit.
#
#   scripts/check-cargo-component.sh
#
# Needs `cargo xtask build` first (target/release/framechain, target/stages/scale.wasm).
# Environment: CARGO_COMPONENT_VERSION (default 0.21.1), KEEP_TMP=1 keeps the
# temp folder (the stage crate, outputs, log).
set -euo pipefail

CARGO_COMPONENT_VERSION="${CARGO_COMPONENT_VERSION:-0.21.1}"

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
tools="$target/lang-tools/cargo-component"
framechain="$target/release/framechain"
name=check-cargo-component
started=$SECONDS

tmp="$(mktemp -d -t framechain-cargo-component.XXXXXX)"
log="$tmp/log"
step="setup"
finish() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        [[ -f "$log" ]] && tail -n 40 "$log" >&2
        echo "$name: FAIL at $step (exit $rc; $((SECONDS - started)) s)"
    fi
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
        echo "$name: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap finish EXIT
fail() {
    echo "$name: $*" >&2
    exit 1
}

if [[ ! -x "$framechain" || ! -f "$target/stages/scale.wasm" ]]; then
    fail "framechain or the built-in stages missing; run 'cargo xtask build' first"
fi
export FRAMECHAIN_STAGE_PATH="$target/stages"

step="installing cargo-component $CARGO_COMPONENT_VERSION"
if ! "$tools/bin/cargo-component" --version 2>/dev/null | grep -qx "cargo-component $CARGO_COMPONENT_VERSION"; then
    echo "$name: installing cargo-component $CARGO_COMPONENT_VERSION (crates.io) into $tools; about 20 min on two cores" >&2
    # Its own temp build folder, not the workspace's target folder.
    env -u CARGO_TARGET_DIR timeout 3600 \
        cargo install cargo-component --locked --version "$CARGO_COMPONENT_VERSION" \
        --root "$tools" >"$log" 2>&1
fi
export PATH="$tools/bin:$PATH"

step="adding the rust target wasm32-wasip1"
if ! rustup target list --installed | grep -qx wasm32-wasip1; then
    echo "$name: adding rust target wasm32-wasip1" >&2
    timeout 600 rustup target add wasm32-wasip1 >"$log" 2>&1
fi

step="framechain new-stage"
crate="$tmp/my-square"
"$framechain" new-stage my-square "$crate" >"$log" 2>&1
step="the template's SIMD setting for wasm32-wasip1"
if ! grep -q '^\[target.wasm32-wasip1\]' "$crate/.cargo/config.toml"; then
    # The component would work, with the kernel's loops silently scalar.
    fail "the template's .cargo/config.toml sets +simd128 for wasm32-wasip2 only"
fi

step="cargo component build --release"
# A target folder kept between runs: the second run rebuilds only the stage.
# RUSTFLAGS would override the crate's .cargo/config.toml (as in crates/framechain-cli/tests/cli/authoring.rs).
(cd "$crate" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS \
    CARGO_TARGET_DIR="$target/cargo-component-check" \
    timeout 900 cargo component build --release --offline) >"$log" 2>&1
wasm="$target/cargo-component-check/wasm32-wasip1/release/my_square.wasm"
[[ -f "$wasm" ]] || fail "no $wasm after the build"
# Cargo-component writes a 0600 file; a stage folder wants it readable.
mkdir -p "$tmp/stages"
cp "$wasm" "$tmp/stages/my-square.wasm"
chmod 0644 "$tmp/stages/my-square.wasm"

step="framechain inspect"
timeout 120 "$framechain" inspect "$tmp/stages/my-square.wasm" >"$log" 2>&1
grep -q '^my-square 0.1.0' "$log" || fail "inspect does not show my-square 0.1.0"

step="framechain check"
timeout 120 "$framechain" check "$tmp/stages/my-square.wasm" --frames 4 >"$log" 2>&1

step="framechain run"
run() { # CHAIN OUT
    timeout 120 "$framechain" run "$1" --stage-dir "$tmp/stages" -i testsrc --size 64x48 \
        --frames 3 -o "$2" >"$log" 2>&1
    grep -q '3 in, 3 out' "$log" || fail "'$1' did not give 3 in, 3 out"
}
run "my-square x=8 y=8 size=16 value=201 ! scale width=64 height=48" "$tmp/painted.yuv"
run "scale width=64 height=48" "$tmp/plain.yuv"

step="comparing the frames"
# Raw I420, 64x48: 3072 luma then 1536 chroma samples per frame.
bad=$(paste -d ' ' <(od -An -v -tu1 -w1 "$tmp/painted.yuv") <(od -An -v -tu1 -w1 "$tmp/plain.yuv") | awk '
    { i = NR - 1; p = i % 4608; x = p % 64; y = int(p / 64)
      inside = p < 3072 && x >= 8 && x < 24 && y >= 8 && y < 24
      want = inside ? 201 : $2
      if ($1 != want) bad++ }
    END { if (NR != 3 * 4608) print "size " NR; else print bad + 0 }')
[[ "$bad" == 0 ]] || fail "painted frames differ from the expected at $bad samples (or wrong size)"

echo "$name: PASS (cargo-component $CARGO_COMPONENT_VERSION, wasm32-wasip1 + preview1 adapter; $((SECONDS - started)) s)"
