//! What the runtime tells its owner: events, tagged by the session they
//! are about, and the drop reasons they name.

use std::fmt;
use std::time::Duration;

use crate::error::Error;
use crate::media::Media;
use crate::stats::SessionStats;

/// The drop reason of pictures a session that fell behind skipped.
pub const LATE_DROP: &str = "late";

/// The drop reason of outputs the owner did not take in time: its event
/// queue was full.
pub const RECEIVER_BEHIND_DROP: &str = "receiver behind";

/// The drop reason of pictures skipped because their session used more
/// than its share of the workers ([`crate::live::LiveConfig::fair_share`]), keyframes
/// included, and of the pictures after a skipped one up to the next
/// keyframe (they cannot be decoded without it).
pub const OVER_SHARE_DROP: &str = "over its share";

/// What a live session tells its owner.
#[derive(Debug)]
pub enum LiveEvent {
    /// An item out of the last stage (for an encoding chain, one access
    /// unit), with its latency from the arrival of the input it came from.
    Output {
        /// The item.
        media: Media,
        /// From the arrival of its input's last byte to now (zero for what
        /// the final flush gives out, which has no input of its own).
        latency: Duration,
        /// The time each stage spent on the input this came from, in chain
        /// order (all zero for what the final flush gives out). The stage
        /// latencies a server reports per call; their sum is at most
        /// `latency`, the rest being the wait for a worker.
        stages: Vec<Duration>,
    },
    /// The session needs a keyframe from the sender: it fell behind and
    /// dropped pictures, or its decoder lost references. Send a PLI. It
    /// comes again with every picture skipped while the session waits for
    /// a keyframe: rate-limit the PLIs, but send one after the limit's
    /// interval if the session still asks.
    KeyframeNeeded,
    /// Inputs or pictures dropped since the last such event.
    Dropped {
        /// As [`SessionStats::dropped`] names it: `session: late`,
        /// `session: receiver behind`, or `STAGE: reason` from a stage.
        reason: String,
        /// How many.
        count: u64,
    },
    /// The session switched to the pipeline asked for with
    /// [`crate::live::LiveRuntime::swap_pipeline`] or [`crate::live::LiveSession::swap_pipeline`],
    /// just before the keyframe (or raw picture) with `pts`: what the old
    /// stages still held came out before this event, and every output
    /// after it went through the new stages.
    Swapped {
        /// The positions in the chain now running a new instance, with
        /// the new stage's name (empty when the session already ran that
        /// pipeline).
        stages: Vec<(usize, String)>,
        /// The pts of the input before which the switch happened.
        pts: i64,
    },
    /// A swap asked for did not happen, and the session goes on with its
    /// old stages: a new instance could not be made (its `create` failed
    /// or broke a limit, or the engine had no room for another instance),
    /// or the session's input ended before a keyframe came.
    SwapFailed {
        /// Why, naming the stage.
        error: Error,
    },
    /// The session used more than its share of the workers over a window
    /// ([`crate::live::LiveConfig::fair_share`]): its pictures now run only within its
    /// share, the others are skipped (counted as [`OVER_SHARE_DROP`]).
    /// Ask the sender to lower its rate (a lower REMB estimate, a smaller
    /// resolution); it comes again with every window the session stays
    /// over, and if it does for [`crate::live::FairShare::shed_after`] windows the
    /// session fails with [`Error::OverShare`].
    OverShare {
        /// Busy workers the session used over the last window (1.0 = one
        /// worker all the time); once throttled, what it would have used,
        /// the pictures skipped counted at the average time of those run.
        used: f64,
        /// Its share, in the same unit.
        share: f64,
    },
    /// The session failed (a stage broke a limit or crashed, or it was
    /// shed for using more than its share: [`Error::OverShare`]); an
    /// [`LiveEvent::Ended`] follows.
    Failed(Error),
    /// The last event: the session's counts and latencies.
    Ended(Box<SessionStats>),
}

/// Which session of a [`crate::live::LiveRuntime`] an event is about
/// ([`crate::live::LiveSession::id`]). Unique within its runtime for the
/// runtime's life: a session opened later never reuses an earlier one's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub(crate) u64);

impl SessionId {
    /// The id as a number, for logs and for an owner's own keys.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "live session {}", self.0)
    }
}
