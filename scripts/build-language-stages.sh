#!/usr/bin/env bash
# Builds the stages written in other languages into target/test-stages:
#   python-invert-box.wasm  (examples/stages/python-invert-box, componentize-py)
#   js-invert-box.wasm      (examples/stages/js-invert-box, componentize-js)
# The tools come from their registries at pinned versions: componentize-py
# from PyPI into a venv under target/lang-tools, componentize-js and jco
# from npm into examples/stages/js-invert-box/node_modules (package-lock.json,
# `npm ci`). Neither is committed. A stage whose sources, the contract and
# this script are all older than its .wasm is not built again.
# Called by `cargo xtask build`; run it by hand after changing a stage.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
out="$target/test-stages"
tools="$target/lang-tools"
mkdir -p "$out" "$tools"

# True when $1 is missing or older than any of the remaining paths.
stale() {
  local output="$1"
  shift
  [ -f "$output" ] || return 0
  [ -n "$(find "$@" -newer "$output" -type f -not -path '*/node_modules/*' -not -path '*/__pycache__/*' -print -quit)" ]
}

python_stage() {
  local venv="$tools/venv" wasm="$out/python-invert-box.wasm"
  local src="$root/examples/stages/python-invert-box"
  if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
    echo "language stages: installing componentize-py $COMPONENTIZE_PY_VERSION (PyPI) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
    rm -f "$wasm"
  fi
  if stale "$wasm" "$src" "$root/wit" "$0"; then
    echo "language stages: componentize-py -> $wasm"
    # -p: where the app module (`stage`, stage.py) is found.
    "$venv/bin/componentize-py" -d "$root/wit" -w stage-component \
      componentize -p "$src" stage -o "$wasm.tmp"
    mv "$wasm.tmp" "$wasm"
  fi
}

js_stage() {
  local src="$root/examples/stages/js-invert-box" wasm="$out/js-invert-box.wasm"
  # `npm ci` again whenever the lock file changed since the last install.
  if [ ! -x "$src/node_modules/.bin/componentize-js" ] ||
    [ "$src/package-lock.json" -nt "$src/node_modules/.package-lock.json" ]; then
    echo "language stages: installing componentize-js and jco (npm, package-lock.json) into $src/node_modules"
    (cd "$src" && npm ci --no-audit --no-fund --loglevel=error)
    rm -f "$wasm"
  fi
  if stale "$wasm" "$src" "$root/wit" "$0"; then
    echo "language stages: componentize-js -> $wasm"
    # The host links WASI 0.2 without wasi:http: leave the HTTP features out.
    (cd "$src" && ./node_modules/.bin/componentize-js invert-box.js \
      --wit "$root/wit" --world-name stage-component \
      --disable http fetch-event --out "$wasm.tmp")
    mv "$wasm.tmp" "$wasm"
  fi
}

python_stage
js_stage
