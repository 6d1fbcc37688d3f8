//! The fixed limits the host puts on what a stage may make it hold or do,
//! beyond the configurable ones in [`crate::EngineConfig`]. Each exists
//! because a stage is untrusted code: without it, one stage could grow the
//! host's memory, its log or its CPU time without bound. docs/security.md
//! lists them all with the reason for each.

// The frame's own limits are the frame contract's, shared with the stage
// SDK's test frame.
pub use framechain_frame::{MAX_LABEL_BYTES, MAX_REGIONS_PER_FRAME};
/// Host bytes one region is charged, besides its label: the record itself
/// (rect and string header), so that even empty labels are not free.
pub const REGION_OVERHEAD_BYTES: usize = 64;

/// Distinct drop reasons kept per stage of a session; further reasons are
/// counted under [`OTHER_DROP_REASONS`].
pub const MAX_DROP_REASONS: usize = 32;
/// The reason under which drops beyond [`MAX_DROP_REASONS`] are counted.
pub const OTHER_DROP_REASONS: &str = "other reasons (too many distinct reasons)";
/// Longest drop reason kept, in characters; longer ones are cut.
pub const MAX_DROP_REASON_CHARS: usize = 80;

/// Log lines a stage may write per call; more are counted, not printed.
pub const LOG_LINES_PER_CALL: u32 = 64;
/// Log lines one stage instance may write over its whole session.
pub const LOG_LINES_PER_SESSION: u64 = 1_000;

/// Stages one chain may have.
pub const MAX_STAGES: usize = 64;
/// Parameters one stage of a chain may be given.
pub const MAX_PARAMS: usize = 256;
