//! The `parse-h264` stage of framechain, like GStreamer's `h264parse`: cuts
//! an H.264 Annex-B byte stream that arrives in packets cut anywhere into
//! packets of exactly one whole access unit (one coded picture) each, marks
//! the IDR ones as keyframes and gives each its time stamp. Untrusted bytes
//! are read only here, inside the sandbox, and only their NAL headers.
//!
//! # Parameters
//!
//! | name | kind | default | meaning |
//! |------|------|---------|---------|
//! | `fps` | number 1..=1000 | `30` | numbering of access units without a pts (90000/`fps` ticks apart) |
//!
//! ```text
//! parse-h264 ! decode-h264 alignment=access-unit
//! parse-h264 fps=25
//! ```
//!
//! # Behaviour
//!
//! - Output packets hold one whole access unit each, in decode order
//!   (the input's order), in Annex-B form; the first NAL unit of each and
//!   every SPS and PPS get a four-byte start code (`00 00 00 01`), the
//!   others three bytes. Bytes outside NAL units are skipped (a warning is
//!   logged).
//! - Access units are found by H.264's rules (7.4.1.2.3: delimiters,
//!   parameter sets and SEI after a picture's slices, a slice with
//!   `first_mb_in_slice` 0), as in `decode-h264`. An access unit is known
//!   to be complete only when the next one starts, so each is held until
//!   then, or until `flush`: a packet comes out one access unit late.
//! - `keyframe` is true for IDR access units.
//! - Time stamps: an access unit takes the pts of the packet it starts in
//!   when that is >= 0 and no earlier access unit took it (the MPEG rule,
//!   as in `decode-h264`); others are numbered on from the previous one at
//!   90000/`fps` ticks (decode order: with B-frames and no input time
//!   stamps these are decode times). `dts` is the packet's dts under the
//!   same rule, else the access unit's pts.
//! - Bounds: a NAL unit over 16 MiB, or an access unit that grows over
//!   16 MiB, is dropped and listed in `output.dropped` with the reason and
//!   its pts; the stream goes on at the next unit. None of it is an error.
//! - Control events are ignored; the stage gives no notices.
//!
//! # Crate layout
//!
//! [`parser`] does the work (natively testable), on top of the shared
//! `framechain-h264-bitstream` crate; [`stage`] holds the component's entry
//! points.

pub mod parser;
pub mod stage;

#[cfg(all(target_arch = "wasm32", feature = "export"))]
use stage::ParseStage;
#[cfg(all(target_arch = "wasm32", feature = "export"))]
framechain_stage::export_stage!(ParseStage);
