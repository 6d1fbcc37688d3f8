//! Live sessions: many streams on a few cores, fed one access unit at a
//! time as it arrives, with backpressure, admission and control events.
//!
//! A [`LiveRuntime`] owns a few worker threads (one per core by default)
//! and the sessions opened on it. A media server calls
//! [`LiveSession::push`] from its network code (async or not: it never
//! blocks) and reads [`LiveEvent`]s back, blocking with
//! [`LiveSession::recv`] or from async code with [`LiveSession::next`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Instant;
//! use framechain::live::{LiveConfig, LiveEvent, LiveRuntime};
//! use framechain::{ChainSpec, Codec, Engine, EngineConfig, Packet, Pipeline};
//!
//! # fn main() -> Result<(), framechain::Error> {
//! let engine = Engine::new(EngineConfig::default())?;
//! let chain = ChainSpec::parse_launch(
//!     "decode-h264 alignment=access-unit ! scale width=1280 height=720 ! encode-h264 bitrate=2M",
//! )?;
//! let pipeline = Arc::new(Pipeline::build(&engine, &chain)?);
//! let runtime = LiveRuntime::new(LiveConfig::default())?;
//! let session = runtime.open(&pipeline, 30.0)?; // Err(Error::Busy(_)) when full
//! # let access_unit: Vec<u8> = Vec::new();
//! // From the network: one whole access unit, as it arrives.
//! session.push(
//!     Packet { codec: Codec::H264, data: access_unit, pts: 0, dts: 0, keyframe: true },
//!     Instant::now(),
//! );
//! session.request_keyframe(); // a viewer sent a PLI
//! session.finish();
//! while let Some(event) = session.recv() {
//!     match event {
//!         LiveEvent::Output { media, latency, .. } => { /* send it on */ }
//!         LiveEvent::KeyframeNeeded => { /* send a PLI upstream */ }
//!         LiveEvent::Dropped { reason, count } => {}
//!         LiveEvent::Swapped { stages, pts } => {}
//!         LiveEvent::SwapFailed { error } => eprintln!("{error}"),
//!         LiveEvent::OverShare { used, share } => { /* lower the sender's rate */ }
//!         LiveEvent::Failed(error) => eprintln!("{error}"),
//!         LiveEvent::Ended(stats) => break,
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # How the work is shared
//!
//! Each session is a [`crate::Session`] (one isolated instance of every
//! stage) with a bounded queue of access units in front of it. A session
//! with work waits in one run queue; a free worker takes the session at
//! its head, runs one access unit through the whole chain (depth-first,
//! so its picture comes out at once) and puts the session back at the
//! tail if it has more. A session never runs on two workers at once, so a
//! slow or hostile session holds at most one worker, for at most one
//! call's time limit per stage, while the others go round the rest. The
//! stage calls are ordinary blocking wasmtime calls on threads the
//! runtime owns: nothing runs on the embedder's async executor, whose
//! workers are never blocked. docs/architecture.md compares this with
//! wasmtime's async calls.
//!
//! # Falling behind
//!
//! A session holds at most [`LiveConfig::queue_depth`] access units
//! ahead, and none older than [`LiveConfig::max_wait`]. When one more
//! arrives, or the next has waited too long, the session is behind: it drops whole
//! pictures up to the next keyframe (counted as `late`): the arriving one
//! and every later one until a keyframe comes, which then replaces what is
//! still waiting. The owner gets [`LiveEvent::KeyframeNeeded`] to ask the
//! sender for one, and again with every picture skipped until one comes
//! (a request can be lost, and a browser's encoder sends keyframes only
//! when asked), so the owner rate-limits its requests but must not drop
//! the last one. The session catches up from that keyframe. Which access
//! units are keyframes is the caller's word ([`crate::Packet::keyframe`],
//! from the sandboxed `parse-h264` stage or the RTP layer); the host never
//! reads the bitstream. A wrong flag costs pictures (the decoder reports
//! missing references), not safety.
//!
//! # Swapping a stage
//!
//! [`LiveRuntime::swap_pipeline`] (every open session of a pipeline) or
//! [`LiveSession::swap_pipeline`] (one session) switches sessions to a
//! pipeline made with [`crate::Pipeline::with_stage_replaced`] (a new
//! redaction policy, a fixed encoder build) at each session's next
//! keyframe, without ending the call: the new instance is created before
//! the switch, the old one is flushed through the rest of the chain and
//! dropped. The owner hears [`LiveEvent::Swapped`], or
//! [`LiveEvent::SwapFailed`] when the new instance could not be made (the
//! old stage goes on). docs/architecture.md, "Swapping a stage", has the
//! details.
//!
//! # Admission
//!
//! The runtime measures the CPU time each session's pictures take and
//! learns each pipeline's cost per picture. [`LiveRuntime::open`] refuses
//! a session with [`crate::Error::Busy`] when the sessions already open,
//! plus one more at the pipeline's cost and frame rate, would use more
//! than [`LiveConfig::max_load`] of the workers, so an overloaded node
//! says "busy" instead of making every call late.
//!
//! # Fair shares
//!
//! Admission judges a session once; what its sender sends can change
//! after (valid maximal pictures, every one an IDR, cost tens of times a
//! steady picture, and keyframes are never skipped as late). So the runtime
//! goes on measuring the time each session holds a worker per window
//! ([`FairShare::window`]; worker time, not CPU time, as a stage that
//! sleeps holds a worker too) against its share: the larger of
//! `workers / sessions` and what it was admitted at times
//! [`FairShare::margin`]. A session within it is never touched. One over it
//! is degraded in steps:
//!
//! 1. *Throttled*: its pictures run only as its share lets (a budget that
//!    grows at the share's rate, each picture taking its worker time
//!    from it); a picture whose turn comes with the budget spent is skipped,
//!    keyframe or not, with every later picture up to the next keyframe,
//!    all counted as [`OVER_SHARE_DROP`]. It waits behind every session
//!    within its share for a worker. Its owner gets
//!    [`LiveEvent::OverShare`] to ask the sender to slow down.
//! 2. A window without a skipped (or late) picture makes it normal again.
//! 3. *Shed*: still skipping after [`FairShare::shed_after`] windows (its
//!    late pictures count too: waiting behind the others, what its share
//!    cannot carry may go late before its turn comes), it
//!    fails with [`Error::OverShare`] (what waited in its queue is counted
//!    as [`OVER_SHARE_DROP`]).
//!
//! A throttled session does not teach its pipeline's cost to admission:
//! one hostile sender does not make the node refuse healthy calls.

mod admission;
mod inbox;
mod runtime;
mod session;
mod share;

use std::time::Duration;

pub use runtime::LiveRuntime;
pub use session::LiveSession;
pub use share::FairShare;

use crate::error::Error;
use crate::media::Media;
use crate::stats::SessionStats;

/// The drop reason of pictures a session that fell behind skipped.
pub const LATE_DROP: &str = "late";

/// The drop reason of outputs the owner did not take in time: its event
/// queue was full.
pub const RECEIVER_BEHIND_DROP: &str = "receiver behind";

/// The drop reason of pictures skipped because their session used more
/// than its share of the workers ([`LiveConfig::fair_share`]), keyframes
/// included, and of the pictures after a skipped one up to the next
/// keyframe (they cannot be decoded without it).
pub const OVER_SHARE_DROP: &str = "over its share";

/// Settings of a [`LiveRuntime`].
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Worker threads that run stage calls. Default: the cores this
    /// process may use.
    pub workers: usize,
    /// Access units a session may hold waiting before it counts as behind
    /// (5: 167 ms at 30 fps, room for a fresh session's first IDR picture,
    /// which costs several times a steady one).
    pub queue_depth: usize,
    /// How long an access unit may wait for a worker before the session
    /// counts as behind, however short its queue (200 ms: past it, the
    /// picture has missed a 200 ms glass-to-glass budget).
    pub max_wait: Duration,
    /// Sessions open at once, at most.
    pub max_sessions: usize,
    /// The share of the workers' time admission lets sessions use, from 0
    /// to 1 (0.95: at that load a picture still waits well under the
    /// queue's slack for a worker; measured in docs/performance.md).
    pub max_load: f64,
    /// Events a session keeps for its owner; past it, outputs are dropped
    /// as [`RECEIVER_BEHIND_DROP`] rather than queued without end.
    pub event_depth: usize,
    /// How each session is held to its share of the workers as it runs:
    /// see [`crate::live`], "Fair shares". `None` turns it off (for
    /// measuring what happens without it).
    pub fair_share: Option<FairShare>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            queue_depth: 5,
            max_wait: Duration::from_millis(200),
            max_sessions: 1024,
            max_load: 0.95,
            event_depth: 64,
            fair_share: Some(FairShare::default()),
        }
    }
}

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
    /// [`LiveRuntime::swap_pipeline`] or [`LiveSession::swap_pipeline`],
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
    /// ([`LiveConfig::fair_share`]): its pictures now run only within its
    /// share, the others are skipped (counted as [`OVER_SHARE_DROP`]).
    /// Ask the sender to lower its rate (a lower REMB estimate, a smaller
    /// resolution); it comes again with every window the session stays
    /// over, and if it does for [`FairShare::shed_after`] windows the
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
