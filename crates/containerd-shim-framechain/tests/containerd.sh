#!/usr/bin/env bash
# End-to-end test of containerd-shim-framechain-v1 with a real containerd
# (Debian's), as `cargo xtask test` runs it after the unit tests.
#
# It starts a private containerd (own root, state and socket in a temporary
# folder; no systemd), imports images that `framechain package` built, and:
#   1. `ctr run --runtime io.containerd.framechain.v1` a decode-h264 ! redact
#      ! encode-h264 pipeline on a real H.264 clip: exit 0, as many frames out
#      as in, and FFmpeg decodes the output without error;
#   2. the same from an image with precompiled components (timed), under a
#      runtime whose operator trusts images' precompiled stages
#      (FRAMECHAIN_SHIM_TRUST_IMAGE_PRECOMPILED=1 in the shim's environment);
#      under the default runtime the same image is refused with one line;
#   3. a broken pipeline file, a missing component and a stage that traps:
#      each exits non-zero with one readable `framechain: error:` line in the
#      container's log, while a good job runs beside them and containerd
#      keeps working;
#   4. a container memory limit (128 MiB) that ends a pipeline whose stage
#      allocates without end (framechain's own per-stage limit set higher);
#   5. the kubelet's path through containerd's CRI plugin (crates/containerd-shim-framechain/tests/cri.rs):
#      a pod sandbox with the framechain runtime handler, a container, its
#      exit code and log;
#   6. `framechain serve` as a pod through the CRI (host network): a WebRTC
#      publisher on this machine reaches it with WHIP, a viewer with WHEP,
#      the viewer's stream decodes with FFmpeg; tokens from a streams file,
#      /readyz and a 503 when the pod is full; SIGTERM ends it with exit 0.
# Any failure ends the script non-zero with a line saying what failed; it
# never skips. Every wait is bounded by `timeout`.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
testdata=${FRAMECHAIN_TESTDATA:-$root/../shared/testdata}
clip=$testdata/h264/conformance/BA_MW_D.264
# Bounds for every containerd operation and container, seconds.
op_timeout=120

fail() {
  echo "containerd test: FAIL: $*" >&2
  exit 1
}
step() { echo "containerd test: $*" >&2; }

[ -f "$clip" ] || fail "test clip $clip not found (set FRAMECHAIN_TESTDATA)"
for tool in containerd ctr runc ffmpeg ffprobe gcc; do
  command -v "$tool" >/dev/null || fail "$tool not installed (scripts/setup.sh installs it)"
done
for stage in decode-h264 redact encode-h264; do
  [ -f "$target/stages/$stage.wasm" ] || fail "$target/stages/$stage.wasm missing (run cargo xtask build)"
done
[ -f "$target/test-stages/test-stage.wasm" ] || fail "$target/test-stages/test-stage.wasm missing (run cargo xtask build)"

# FRAMECHAIN_TEST_BIN: a folder with both binaries already built (`cargo
# xtask test` passes the ones its workspace test build made); otherwise they
# are built here. Every cargo command here selects the whole workspace, as
# `cargo test --workspace` does, so that it resolves the same features and
# reuses that build instead of compiling wasmtime again.
bin=${FRAMECHAIN_TEST_BIN:-$target/release}
if [ -z "${FRAMECHAIN_TEST_BIN:-}" ]; then
  step "building the shim and the CLI"
  (cd "$root" && cargo test --release -q --workspace --no-run)
fi
shim=$bin/containerd-shim-framechain-v1
framechain=$bin/framechain

work=$(mktemp -d /tmp/framechain-containerd.XXXXXX)
containerd_pid=
cleanup() {
  local status=$?
  set +e
  if [ -n "$containerd_pid" ]; then
    kill "$containerd_pid" 2>/dev/null || true
    timeout 20 tail --pid="$containerd_pid" -f /dev/null 2>/dev/null || kill -9 "$containerd_pid" 2>/dev/null || true
  fi
  # Shims outlive containerd by design; end the ones of this test only.
  for pid in $(pgrep -f "containerd-shim-framechain-v1.*-address $work/" || true); do
    kill -9 "$pid" 2>/dev/null || true
  done
  grep -o " $work/[^ ]*" /proc/mounts | sort -r | while read -r mount; do umount -l "$mount"; done
  if [ "$status" -ne 0 ] && [ -f "$work/containerd.log" ]; then
    echo "containerd test: last lines of the containerd log:" >&2
    tail -n 30 "$work/containerd.log" >&2
  fi
  rm -rf "$work" "/run/containerd/framechain/${namespace:-none}"
  exit "$status"
}
trap cleanup EXIT

# containerd finds shims on its PATH by name: io.containerd.framechain.v1 ->
# containerd-shim-framechain-v1.
mkdir -p "$work/bin" "$work/data"
ln -s "$shim" "$work/bin/containerd-shim-framechain-v1"
# A second runtime, io.containerd.framechaintrusted.v1: the same shim
# started with the operator's switch that trusts the precompiled stages of
# images (the shim reads it from its own environment at start, never from
# the container's). An operator may register such a runtime for selected
# namespaces, or set the variable in containerd's environment for all.
printf '#!/bin/sh\nFRAMECHAIN_SHIM_TRUST_IMAGE_PRECOMPILED=1 exec "%s" "$@"\n' "$shim" \
  >"$work/bin/containerd-shim-framechaintrusted-v1"
chmod +x "$work/bin/containerd-shim-framechaintrusted-v1"
socket=$work/containerd.sock

step "building the pause image (a static binary) for pod sandboxes"
gcc -static -Os -o "$work/pause" "$root/crates/containerd-shim-framechain/tests/pause.c"

cat >"$work/config.toml" <<EOF
version = 2
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$socket"
[ttrpc]
  address = "$socket.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "framechain.local/pause:test"
  # This machine lacks CAP_SYS_RESOURCE: do not try to lower oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.framechain]
      runtime_type = "io.containerd.framechain.v1"
EOF

step "starting containerd ($socket)"
PATH="$work/bin:$PATH" containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
containerd_pid=$!
# runwasi keeps container state under /run/containerd/framechain/<namespace>
# whatever containerd's root, so the ctr jobs use a namespace of their own;
# the CRI always uses k8s.io (its container ids are random).
namespace=framechain-test-$$-$RANDOM
ctr=(ctr --address "$socket" --namespace "$namespace")
ctr_k8s=(ctr --address "$socket" --namespace k8s.io)
for _ in $(seq 100); do
  "${ctr[@]}" version >/dev/null 2>&1 && break
  kill -0 "$containerd_pid" 2>/dev/null || fail "containerd exited at start"
  sleep 0.2
done
"${ctr[@]}" version >/dev/null || fail "containerd did not answer within 20 s"

step "packaging the pipeline (tar-layer form, and precompiled)"
cat >"$work/broken.yaml" <<'EOF'
version: 1
stages:
  - stage: redact
    params: { rect: "16,16,64,32"
EOF
cat >"$work/missing.yaml" <<'EOF'
version: 1
stages:
  - stage: decode-h264
  - stage: stages/not-there.wasm
EOF
cat >"$work/trap.yaml" <<'EOF'
version: 1
stages:
  - stage: decode-h264
  - stage: stages/test-stage.wasm
    params:
      behaviour: trap
EOF
cat >"$work/alloc.yaml" <<'EOF'
version: 1
stages:
  - stage: decode-h264
  - stage: stages/test-stage.wasm
    params:
      behaviour: alloc
EOF
extras=(--add "$work/broken.yaml:/broken.yaml" --add "$work/missing.yaml:/missing.yaml"
  --add "$work/trap.yaml:/trap.yaml" --add "$work/alloc.yaml:/alloc.yaml"
  --add "$target/test-stages/test-stage.wasm:/stages/test-stage.wasm")
FRAMECHAIN_STAGE_PATH="$target/stages" "$framechain" package --pipeline "$root/crates/containerd-shim-framechain/tests/transcode.yaml" \
  --name framechain.local/transcode:test -o "$work/transcode.tar" "${extras[@]}"
FRAMECHAIN_STAGE_PATH="$target/stages" "$framechain" package --pipeline "$root/crates/containerd-shim-framechain/tests/transcode.yaml" \
  --name framechain.local/transcode:precompiled --precompile -o "$work/transcode-precompiled.tar"
# The pause image: the same packager cannot make it (no pipeline), so a
# minimal OCI layout is written here by hand with the static binary.
python3 "$root/crates/containerd-shim-framechain/tests/pause_image.py" "$work/pause" "$work/pause.tar" framechain.local/pause:test

for image in transcode transcode-precompiled; do
  timeout "$op_timeout" "${ctr[@]}" image import "$work/$image.tar" >/dev/null || fail "ctr image import $image.tar"
done
# What the CRI runs: the pod sandbox image and the pipeline image.
for image in transcode pause; do
  timeout "$op_timeout" "${ctr_k8s[@]}" image import "$work/$image.tar" >/dev/null || fail "ctr image import $image.tar (k8s.io)"
done

cp "$clip" "$work/data/in.264"
frames_in=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$clip")
mount=(--mount "type=bind,src=$work/data,dst=/data,options=rbind:rw")

# run_job NAME IMAGE LOG ARGS...: runs one container to its end; prints its
# exit code. $runtime (default io.containerd.framechain.v1) picks the
# runtime, $ctr_env adds `--env K=V` options to the container.
run_job() {
  local name=$1 image=$2 log=$3
  shift 3
  local code=0
  # shellcheck disable=SC2086
  timeout -s KILL "$op_timeout" "${ctr[@]}" run --rm --runtime "${runtime:-io.containerd.framechain.v1}" "${mount[@]}" \
    ${ctr_env:-} "$image" "$name" "$@" >"$log.out" 2>"$log" || code=$?
  [ "$code" -ne 137 ] || fail "$name: killed after $op_timeout s (or by the OOM killer)"
  echo "$code"
}

check_output() {
  local file=$1
  [ -s "$file" ] || fail "$file: no output"
  local frames_out
  frames_out=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$file")
  [ "$frames_out" = "$frames_in" ] || fail "$file: $frames_out frames out, $frames_in in"
  local errors
  errors=$(ffmpeg -nostdin -v error -i "$file" -f null - 2>&1) || fail "$file: FFmpeg cannot decode it: $errors"
  [ -z "$errors" ] || fail "$file: FFmpeg reports errors: $errors"
  step "  $file: $frames_out frames, decodes with FFmpeg"
}

step "1. ctr run: decode-h264 ! redact ! encode-h264 on $(basename "$clip") ($frames_in frames)"
started=$(date +%s%N)
code=$(run_job transcode framechain.local/transcode:test "$work/transcode.log" \
  /pipeline.yaml -i /data/in.264 -o /data/out.264)
elapsed_plain=$((($(date +%s%N) - started) / 1000000))
[ "$code" -eq 0 ] || fail "transcode exited $code: $(cat "$work/transcode.log")"
grep -q "^framechain: " "$work/transcode.log" || fail "no summary in the container log: $(cat "$work/transcode.log")"
step "  $(grep '^framechain: ' "$work/transcode.log")"
check_output "$work/data/out.264"

step "2. the same with precompiled components (runtime trusting them)"
started=$(date +%s%N)
code=$(runtime=io.containerd.framechaintrusted.v1 run_job precompiled framechain.local/transcode:precompiled \
  "$work/precompiled.log" /pipeline.yaml -i /data/in.264 -o /data/out-precompiled.264)
elapsed_precompiled=$((($(date +%s%N) - started) / 1000000))
[ "$code" -eq 0 ] || fail "precompiled transcode exited $code: $(cat "$work/precompiled.log")"
step "  $(grep '^framechain: ' "$work/precompiled.log")"
check_output "$work/data/out-precompiled.264"
step "  ctr run wall time: $elapsed_plain ms from .wasm, $elapsed_precompiled ms precompiled"
# Native code from an image is the operator's decision: under the default
# runtime the precompiled image fails with one line, and the container's own
# environment cannot turn the trust on.
code=$(ctr_env="--env FRAMECHAIN_SHIM_TRUST_IMAGE_PRECOMPILED=1" run_job untrusted \
  framechain.local/transcode:precompiled "$work/untrusted.log" \
  /pipeline.yaml -i /data/in.264 -o /data/out-untrusted.264)
[ "$code" -eq 1 ] || fail "untrusted precompiled image exited $code: $(cat "$work/untrusted.log")"
grep -q "^framechain: error: refusing /stages/.*precompiled native code" "$work/untrusted.log" ||
  fail "untrusted precompiled image: no one-line refusal: $(cat "$work/untrusted.log")"
[ "$(wc -l <"$work/untrusted.log")" -eq 1 ] || fail "untrusted precompiled image: more than one line: $(cat "$work/untrusted.log")"
step "  default runtime: $(cat "$work/untrusted.log")"

step "3. failures end their container only"
# A good job runs beside the failing ones.
( run_job beside framechain.local/transcode:test "$work/beside.log" \
  /pipeline.yaml -i /data/in.264 -o /data/out-beside.264 >"$work/beside.code" ) &
beside=$!
expect_failure() {
  local name=$1 pattern=$2
  shift 2
  local code
  code=$(run_job "$name" framechain.local/transcode:test "$work/$name.log" "$@")
  [ "$code" -ne 0 ] || fail "$name: exited 0"
  grep -q "^framechain: error: .*$pattern" "$work/$name.log" ||
    fail "$name: exited $code without a 'framechain: error: ...$pattern' line: $(cat "$work/$name.log")"
  step "  $name: exit $code: $(grep '^framechain: error:' "$work/$name.log")"
}
expect_failure broken "broken.yaml" /broken.yaml -i /data/in.264 -o /data/broken.264
expect_failure missing "not-there.wasm" /missing.yaml -i /data/in.264 -o /data/missing.264
expect_failure trap "test-stage.*trap" /trap.yaml -i /data/in.264 -o /data/trap.y4m
expect_failure no-input "cannot read /data/absent.264: No such file or directory" /pipeline.yaml -i /data/absent.264 -o /data/x.264
wait "$beside" || fail "the job beside the failures did not finish"
[ "$(cat "$work/beside.code")" -eq 0 ] || fail "the job beside the failures exited $(cat "$work/beside.code"): $(cat "$work/beside.log")"
check_output "$work/data/out-beside.264"
kill -0 "$containerd_pid" 2>/dev/null || fail "containerd died"
"${ctr[@]}" version >/dev/null || fail "containerd stopped answering"
leftover=$("${ctr[@]}" containers list -q)
[ -z "$leftover" ] || fail "containers left behind: $leftover"

step "4. the container's memory limit holds the whole pipeline"
# A stage that allocates without end, allowed 3000 MiB by framechain's own
# per-stage limit, in a container limited to 128 MiB: the kernel's OOM
# killer ends the container (SIGKILL, 137) long before any time limit.
started=$(date +%s)
code=0
timeout -s KILL "$op_timeout" "${ctr[@]}" run --rm --runtime io.containerd.framechain.v1 \
  --memory-limit $((128 << 20)) "${mount[@]}" framechain.local/transcode:test memory \
  /alloc.yaml -i /data/in.264 -o /data/alloc.y4m --memory-limit 3000 --call-timeout 60000 \
  >"$work/memory.log.out" 2>"$work/memory.log" || code=$?
elapsed=$(($(date +%s) - started))
[ "$code" -eq 137 ] || fail "memory: exited $code, expected 137 (killed at the 128 MiB limit): $(cat "$work/memory.log")"
[ "$elapsed" -lt 60 ] || fail "memory: took $elapsed s, so a timeout ended it, not the memory limit"
# Killed from outside: framechain had no chance to report an error of its own.
! grep -q "framechain: error:" "$work/memory.log" || fail "memory: framechain stopped it, not the kernel: $(cat "$work/memory.log")"
step "  memory: killed at the container's 128 MiB limit after ${elapsed} s (exit $code)"
kill -0 "$containerd_pid" 2>/dev/null || fail "containerd died"

step "5. the kubelet's path: CRI RunPodSandbox / CreateContainer / StartContainer with the framechain handler"
step "6. and framechain serve in a pod: WHIP in, WHEP out, SIGTERM"
# Both CRI tests, one after the other (the serve pod wants the cores).
(cd "$root" && FRAMECHAIN_CRI_SOCKET="$socket" FRAMECHAIN_CRI_DATA="$work/data" \
  FRAMECHAIN_CRI_FRAMES="$frames_in" timeout -s KILL 900 \
  cargo test --release -q --workspace --test cri -- --ignored --nocapture --test-threads 1) ||
  fail "CRI test failed"
check_output "$work/data/out-cri.264"
# What the WHEP viewer received: the processed stream, from its first
# keyframe, at the clip's size; at least half the clip's pictures.
served=$work/data/out-serve.264
[ -s "$served" ] || fail "$served: the viewer wrote nothing"
errors=$(ffmpeg -nostdin -v error -i "$served" -f null - 2>&1) || fail "$served: FFmpeg cannot decode it: $errors"
[ -z "$errors" ] || fail "$served: FFmpeg reports errors: $errors"
served_frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$served")
[ "$served_frames" -ge $((frames_in / 2)) ] || fail "$served: $served_frames frames, expected at least $((frames_in / 2))"
size_in=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$clip")
size_served=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$served")
[ "$size_in" = "$size_served" ] || fail "$served: $size_served, the clip is $size_in"
step "  $served: $served_frames frames of $size_served through WHIP, the pod and WHEP; decodes with FFmpeg"
kill -0 "$containerd_pid" 2>/dev/null || fail "containerd died"

step "PASS"
