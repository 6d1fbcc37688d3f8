//! The `redact` stage of framechain: hides areas of I420 frames, in place.
//!
//! The areas are fixed rectangles set by policy (`rect`) and the regions a
//! frame carries (from a detector stage earlier in the chain), selected by
//! label. Each is clipped to the frame; one wholly outside is skipped with a
//! warning (logged once).
//!
//! # Parameters
//!
//! | name | kind | default | meaning |
//! |------|------|---------|---------|
//! | `rect` | rect-list | none | fixed areas, `x,y,width,height;…` in pixels |
//! | `labels` | text | `*` | region labels to hide, comma-separated; `*` every region, `none` no region |
//! | `mode` | `fill` \| `pixelate` \| `blur` | `fill` | how to hide |
//! | `color` | colour | `black` | fill colour (`black`, `white`, `gray`, `#rrggbb`) |
//! | `block` | integer 2..=1024 | `16` | pixelate block size in pixels |
//! | `radius` | integer 1..=1024 | `16` | blur radius in pixels |
//!
//! ```text
//! redact rect=100,100,400,200 mode=fill ! scale width=1280 height=720
//! redact labels=face mode=pixelate block=24
//! redact rect=0,0,1920,120;0,960,1920,120 labels=none color=#202020
//! ```
//!
//! **Use `fill` for PHI text**: nothing of the original remains. `pixelate`
//! keeps only the mean of each block (large text can stay legible with
//! small blocks), and `blur` is a linear filter that can be partly reversed;
//! both are for making faces unrecognisable, not for text.
//!
//! # Behaviour
//!
//! - Only the affected areas are touched, through the frame resource:
//!   `fill-rect` for `fill` (no samples cross the component boundary),
//!   `read-rect`/`write-rect` of just the area for `pixelate` and `blur`.
//!   The frame handed in is handed on (no copy).
//! - The chroma area covers the luma area completely (start rounded down,
//!   end rounded up), so no colour of a hidden pixel survives.
//! - `pixelate` and `blur` use only samples inside the area: nothing from
//!   outside leaks in. Chroma planes use half the block size and radius.
//! - Regions are kept on the frame (their labels and positions are not PHI).
//!
//! # Crate layout
//!
//! [`kernel`] holds pixelate and blur on plain slices (used natively by tests
//! and benchmarks), [`areas`] picks and clips the areas, [`config`] reads the
//! parameters and [`stage`] is the component's entry points, whose per-frame
//! work is tested natively on the SDK's `TestFrame`.

pub mod areas;
pub mod config;
pub mod kernel;
pub mod stage;

pub use stage::RedactStage;

#[cfg(all(target_arch = "wasm32", feature = "export"))]
framechain_stage::export_stage!(RedactStage);
