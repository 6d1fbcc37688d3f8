#!/usr/bin/env bash
# Idempotent machine set-up for framechain: the wasm target and the Debian
# packages the build, the tests and the peer benchmarks need. Safe to run
# again; it only installs what is missing.
set -euo pipefail

packages=(
  # C/C++ to wasm32 (OpenH264 inside the decode/encode stages)
  clang-19 lld-19 wasi-libc libc++-19-dev-wasm32 libc++abi-19-dev-wasm32 libclang-rt-19-dev-wasm32
  # llvm-ar: GNU ar cannot index wasm objects
  llvm
  # native OpenH264 assembly (optional native encoder)
  nasm
  # reference tools nobody here wrote: FFmpeg and GStreamer
  ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  # the containerd shim: its build (runwasi's crates) and its end-to-end test
  # (crates/containerd-shim-framechain/tests/containerd.sh: a private containerd, runc, a static pause binary)
  protobuf-compiler libseccomp-dev containerd runc gcc libc6-dev python3
  # serve's DTLS (crates/framechain-dtls) links the system's OpenSSL
  libssl-dev pkg-config
  # GStreamer's webrtcbin as a WHIP publisher and WHEP viewer
  # (scripts/gst-whip-publish.py, scripts/gst-whep-view.py and serve's
  # gstreamer test): Python bindings, libnice's ICE element and bindings
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0
  gstreamer1.0-nice gir1.2-nice-0.1
  # the real-browser test of `framechain serve` and scripts/glass-to-glass.sh:
  # headless Chromium driven through chromedriver (WebDriver)
  chromium chromium-driver
  # venvs for the pinned Python tools: kubernetes-validate
  # (scripts/validate-manifests.sh) and componentize-py
  # (scripts/build-language-stages.sh; its JavaScript twin needs node and npm)
  python3-venv
  # the centre's tests (crates/framechain-center, the events' shipping, the
  # audit trail): they start their own redis-server and PostgreSQL 15 on
  # loopback ports in temporary folders
  # (dev/framechain-test-support/src/services.rs), never a system service
  redis-server postgresql-15
)

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "setup: adding rust target wasm32-wasip2"
  rustup target add wasm32-wasip2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
