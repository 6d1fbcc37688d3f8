//! The H.264 byte-stream parsing framechain's H.264 stages share
//! (`decode-h264`, `parse-h264`): plain Rust with no dependencies, run
//! inside the stages' sandbox on untrusted bytes, and tested natively.
//!
//! - [`annexb`] splits an Annex-B byte stream that arrives in pieces of any
//!   size into NAL units, bounding the size of one unit.
//! - [`nal`] reads the few NAL header fields needed to find pictures.
//! - [`access_unit`] groups NAL units into access units (one coded picture
//!   each).
//! - [`params`] reads the picture size a sequence parameter set announces
//!   and the ids tying a slice to it, to refuse a size before decoding.
//!
//! Nothing here panics on any input; damaged units are reported or skipped.

#![deny(missing_docs)]

pub mod access_unit;
pub mod annexb;
pub mod nal;
pub mod params;
