//! The `decode-h264` stage of framechain: decodes an H.264 Annex-B byte
//! stream to I420 frames. Untrusted bitstream bytes are parsed only here,
//! inside the WebAssembly sandbox, by OpenH264 (built by
//! `framechain-openh264`).
//!
//! # Parameters
//!
//! | name | kind | default | meaning |
//! |------|------|---------|---------|
//! | `fps` | number 1..=1000 | `30` | frame duration; numbering of frames without pts |
//! | `error-concealment` | flag | `true` | repair damaged pictures (true) or drop them (false) |
//! | `alignment` | `none` \| `nal` \| `access-unit` | `none` | packets cut anywhere, always at NAL unit boundaries, or one whole access unit each |
//! | `max-width`, `max-height` | integer 16..=16384 | unset | largest picture decoded: a sequence parameter set announcing a larger one is refused before decoding and its pictures dropped (`over max-width/max-height: refused at its SPS before decoding`); the host sets them from the pipeline's bound when this is the first stage |
//!
//! ```text
//! decode-h264 ! redact rect=100,100,400,200 ! scale width=1280 ! encode-h264 bitrate=2000k
//! decode-h264 fps=25 alignment=nal
//! parse-h264 ! decode-h264 alignment=access-unit
//! ```
//!
//! # Behaviour
//!
//! - Input packets may be cut anywhere: the stage finds the start codes
//!   itself and feeds OpenH264 one whole NAL unit at a time (with
//!   `alignment=none` a unit is complete when the next start code arrives,
//!   so a picture comes out one packet later than with `alignment=nal`).
//!   With `alignment=access-unit` every packet holds exactly one whole
//!   access unit (as `parse-h264` or an RTP depacketizer gives out): it is
//!   decoded at once, its picture comes out of the same `push` (unless
//!   B-frame reordering holds it), and the packet boundary is taken as the
//!   access-unit boundary for time stamps.
//! - Output frames are cropped to the visible size, in display order
//!   (OpenH264 reorders B-frames); `flush` returns every held-back picture.
//!   A change of resolution mid-stream simply changes the frame size.
//! - Time stamps: a packet's `pts` (when >= 0) belongs to the first access
//!   unit that starts in the packet and follows its picture through
//!   reordering. Pictures without one are numbered on from the previous
//!   frame at 90000/`fps` ticks, so a stream without time stamps (pts -1 on
//!   every packet) comes out as 0, d, 2d, ... in display order. Every frame
//!   gets duration 90000/`fps`; IDR pictures are keyframes.
//! - Damage: lost or corrupt NAL units are concealed (with
//!   `error-concealment=true`, a warning is logged) or the picture is
//!   dropped; every access unit with slices that yields no picture is listed
//!   in `output.dropped` with the decoder's reason (`missing reference`,
//!   `corrupt slice`, ...). Bytes outside NAL units are skipped with a
//!   warning; a NAL unit over 16 MiB is dropped. None of it is an error.
//! - Keyframe requests: when the decoder lacks references (the stream
//!   starts with a predicted picture, a unit is lost or oversized, or
//!   OpenH264 reports missing references, missing parameter sets, a corrupt
//!   or concealed slice) the output carries a `keyframe-needed` notice,
//!   once per gap: the next one only after a clean IDR picture has been
//!   decoded and a new gap starts. The decoder recovers at the next IDR
//!   picture (with its parameter sets). Control events are ignored.
//!
//! # Crate layout
//!
//! [`annexb`] splits the byte stream, [`nal`] reads NAL headers,
//! [`access_unit`] groups units into pictures (those three live in
//! `framechain-h264-bitstream`, shared with `parse-h264`), [`timing`] keeps time stamps
//! and drop accounting, [`decoder`] drives OpenH264, [`config`] holds the
//! parameters and [`stage`] the component's entry points.

pub mod config;
pub mod decoder;
pub mod stage;
pub mod timing;

/// The byte-stream parsing, shared with `parse-h264`
/// (`framechain-h264-bitstream`).
pub use framechain_h264_bitstream::{access_unit, annexb, nal, params};

#[cfg(all(target_arch = "wasm32", feature = "export"))]
use stage::DecodeStage;
#[cfg(all(target_arch = "wasm32", feature = "export"))]
framechain_stage::export_stage!(DecodeStage);
