//! The `scale` stage of framechain: resizes I420 frames to any size.
//!
//! # Parameters
//!
//! | name | kind | default | meaning |
//! |------|------|---------|---------|
//! | `width` | integer 1..=16384 | from `height` | output width in pixels |
//! | `height` | integer 1..=16384 | from `width` | output height in pixels |
//! | `method` | `bilinear` \| `area` | `bilinear` | resampling filter |
//! | `keep-aspect` | flag | `false` | fit inside width x height and pad instead of stretching |
//! | `pad-color` | colour | `black` | colour of the padding |
//!
//! At least one of `width` and `height` must be given; a missing one keeps
//! the input's aspect ratio, rounded to an even number.
//!
//! ```text
//! redact rect=100,100,400,200 mode=fill ! scale width=1280 height=720
//! scale width=640 height=480 keep-aspect=true pad-color=#202020
//! scale width=320 method=area
//! ```
//!
//! # Behaviour
//!
//! - Odd sizes work: chroma planes are `ceil(w/2) x ceil(h/2)` and each plane
//!   is scaled from its own source size to its own destination size.
//! - `bilinear` is a triangle filter whose support widens with the reduction
//!   factor (as in FFmpeg's swscale and Pillow), so downscaling averages
//!   every source pixel instead of skipping some; `area` averages exactly
//!   the covered area (a box filter) and suits large reductions.
//! - The output is a new frame carrying the input's timing; its regions are
//!   mapped into the new coordinates, grown to cover every pixel they touch.
//!   When the output size equals the input size the input frame is passed on
//!   unchanged (no copy).
//!
//! # Crate layout
//!
//! [`kernel`] holds the resampler on plain slices (used natively by tests
//! and benchmarks), [`layout`] the output geometry, [`config`] the
//! parameters and [`stage`] the component's entry points.

pub mod config;
pub mod kernel;
pub mod layout;
pub mod stage;

pub use stage::ScaleStage;

#[cfg(all(target_arch = "wasm32", feature = "export"))]
framechain_stage::export_stage!(ScaleStage);
