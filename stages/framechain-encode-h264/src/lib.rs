//! The `encode-h264` stage of framechain: encodes I420 frames to an H.264
//! Annex-B byte stream with OpenH264 (built by `framechain-openh264`),
//! inside the WebAssembly sandbox.
//!
//! # Parameters
//!
//! | name | kind | default | meaning |
//! |------|------|---------|---------|
//! | `bitrate` | bitrate 10k..=100M | `2000k` | target bitrate |
//! | `max-bitrate` | bitrate | not set | peak bitrate cap |
//! | `fps` | number 1..=60 | `30` | input frame rate, for rate control |
//! | `gop` | integer 0..=100000 | `60` | frames between keyframes; 0: only the first |
//! | `rc` | `bitrate` \| `quality` \| `buffer` \| `off` | `bitrate` | rate-control mode |
//! | `qp` | integer 0..=51 | `26` | fixed quantiser with `rc=off` |
//! | `profile` | `baseline` \| `main` \| `high` | `baseline` | CAVLC or CABAC |
//! | `complexity` | `low` \| `medium` \| `high` | `low` | encoder effort |
//! | `low-latency` | flag | `false` | rate control may skip frames instead of overshooting (live links) |
//! | `follow-keyframes` | flag | `false` | input keyframes become keyframes |
//! | `accel` | `none` \| `native` | `none` | `native`: the host's native encoder (see below) |
//!
//! ```text
//! decode-h264 ! redact rect=100,100,400,200 ! encode-h264 bitrate=2000k gop=60
//! encode-h264 rc=off qp=22 profile=main complexity=high
//! encode-h264 bitrate=1500k low-latency=true
//! encode-h264 bitrate=6M accel=native
//! ```
//!
//! # Behaviour
//!
//! - One packet per frame, returned by the same `push`: OpenH264 uses no
//!   B-frames and no lookahead, so nothing is ever held back and `flush`
//!   returns nothing. Packet `pts` and `dts` are the frame's pts; `keyframe`
//!   marks IDR pictures, which always carry SPS and PPS (constant ids), so a
//!   receiver can join at any keyframe.
//! - Keyframe requests: after a `request-keyframe` control event (a viewer's
//!   RTCP PLI or FIR, a decoder's `keyframe-needed` notice further down the
//!   session) the next picture is encoded as an IDR picture, and the `gop`
//!   count restarts there; a picture rate control skips does not use the
//!   request up. With `follow-keyframes=true`, frames whose info says
//!   keyframe are treated the same way.
//! - Bitrate changes: a `target-bitrate(n)` control event changes the
//!   target for the following pictures without a new sequence (OpenH264's
//!   `ENCODER_OPTION_BITRATE`, in wasm and natively), clamped to 10k..=100M
//!   and to `max-bitrate` when set; it outlives a size change. With
//!   `rc=off` it has no effect. See [`control`].
//! - A frame of a new size starts a new sequence (new encoder, IDR first).
//!   Sizes must be even and at least 16x16 (`unsupported-input` otherwise).
//! - With `low-latency=true` and a rate-controlled mode, a frame rate
//!   control skips is listed in `output.dropped` (`skipped by rate control`).
//!
//! # `accel=native`
//!
//! By default (`accel=none`) OpenH264 runs compiled into this component,
//! inside the sandbox: about 22 fps at 1080p on one core, since wasm gets
//! none of OpenH264's SIMD assembly. With `accel=native` the stage hands
//! its settings and each frame to the host's native encoder (the
//! `native-h264` import of `wit/stage.wit`): the same OpenH264 release
//! built natively with its x86 assembly, several times faster (numbers in
//! `docs/performance.md`), and the frame's samples never cross into the
//! component. Packets, keyframe flags, keyframe requests, bitrate changes
//! (the import's `set-bitrate`), `gop`, size changes and time stamps
//! behave exactly as without it.
//!
//! The trade-off: the native encoder runs in the host process, outside the
//! sandbox, and its memory (about 21 MiB at 1080p) is outside the stage's
//! memory limit. It only ever reads frames, pixels the pipeline produced,
//! never untrusted bitstream bytes, and the host bounds it (one encoder per
//! session, pictures up to 4096x2304). A host without it (built without
//! its `native-h264` feature, or `EngineConfig::native_h264` false)
//! refuses the pipeline when it is built: `accel=native` never falls back
//! silently.
//!
//! # Crate layout
//!
//! [`config`] holds the parameters, [`control`] the control events,
//! [`encoder`] drives OpenH264 in this component
//! ([`WasmEncoder`](encoder::WasmEncoder)) and re-creates it on size
//! changes, [`native`] does the same with the host's native encoder
//! ([`NativeEncoder`](native::NativeEncoder)), [`stage`] holds the
//! component's entry points.

pub mod config;
pub mod control;
pub mod encoder;
pub mod native;
pub mod stage;

#[cfg(all(target_arch = "wasm32", feature = "export"))]
use stage::EncodeStage;
#[cfg(all(target_arch = "wasm32", feature = "export"))]
framechain_stage::export_stage!(EncodeStage);
