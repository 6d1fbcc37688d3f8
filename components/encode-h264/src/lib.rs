//! The `encode-h264` stage of framechain: encodes I420 frames to an H.264
//! Annex-B byte stream with OpenH264 (built by `framechain-openh264-wasm`),
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
//!
//! ```text
//! decode-h264 ! redact rect=100,100,400,200 ! encode-h264 bitrate=2000k gop=60
//! encode-h264 rc=off qp=22 profile=main complexity=high
//! encode-h264 bitrate=1500k low-latency=true
//! ```
//!
//! # Behaviour
//!
//! - One packet per frame, returned by the same `push`: OpenH264 uses no
//!   B-frames and no lookahead, so nothing is ever held back and `flush`
//!   returns nothing. Packet `pts` and `dts` are the frame's pts; `keyframe`
//!   marks IDR pictures, which always carry SPS and PPS (constant ids), so a
//!   receiver can join at any keyframe.
//! - Keyframe requests: a frame carrying a region labelled `force-keyframe`
//!   (any area) is encoded as an IDR picture, and the `gop` count restarts
//!   there. With `follow-keyframes=true`, frames whose info says keyframe
//!   are treated the same way.
//! - A frame of a new size starts a new sequence (new encoder, IDR first).
//!   Sizes must be even and at least 16x16 (`unsupported-input` otherwise).
//! - With `low-latency=true` and a rate-controlled mode, a frame rate
//!   control skips is listed in `output.dropped` (`skipped by rate control`).
//!
//! # Crate layout
//!
//! [`config`] holds the parameters, [`engine`] drives OpenH264 and
//! re-creates it on size changes, [`stage`] holds the component's entry
//! points.

pub mod config;
pub mod engine;
pub mod stage;

#[cfg(all(target_arch = "wasm32", feature = "export"))]
use stage::EncodeStage;
#[cfg(all(target_arch = "wasm32", feature = "export"))]
framechain_stage::export_stage!(EncodeStage);
