//! Live sessions: many streams on a few cores, fed one access unit at a
//! time as it arrives, with backpressure, admission and control events.
//!
//! A [`LiveRuntime`] owns a few worker threads (one per core by default)
//! and the sessions opened on it. A media server calls
//! [`LiveSession::push`] from its network code (async or not: it never
//! blocks) and reads every session's [`LiveEvent`]s back from the
//! runtime's one receiver, [`LiveEvents`] (taken once with
//! [`LiveRuntime::events`]), each tagged with the [`SessionId`] it is
//! about ([`LiveSession::id`]): blocking with [`LiveEvents::recv`], or
//! from async code with [`LiveEvents::next`], which is cancel-safe.
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
//! let events = runtime.events().expect("taken once, here");
//! let session = runtime.open(&pipeline, 30.0)?; // Err(Error::Busy(_)) when full
//! # let access_unit: Vec<u8> = Vec::new();
//! // From the network: one whole access unit, as it arrives.
//! session.push(
//!     Packet { codec: Codec::H264, data: access_unit, pts: 0, dts: 0, keyframe: true },
//!     Instant::now(),
//! );
//! session.request_keyframe(); // a viewer sent a PLI
//! session.finish();
//! while let Some((id, event)) = events.recv() {
//!     // One receiver for every session: route by id.
//!     assert_eq!(id, session.id());
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
//! # One event path
//!
//! Every session's events go into one queue per runtime, read by its one
//! receiver; nothing in between is unbounded. Each session may have
//! [`LiveConfig::event_depth`] events waiting there: an output past that
//! is dropped and counted as [`RECEIVER_BEHIND_DROP`] (in the session's
//! stats and in [`LiveRuntime::receiver_behind_drops`], for metrics), so
//! an owner that reads too slowly loses pictures, never memory, and one
//! session's burst never takes another's room. Control events are merged
//! or make room for one another; `Failed` and `Ended` always arrive.
//!
//! # How the work is shared
//!
//! Each session is a [`crate::Session`] (one isolated instance of every
//! stage) with a bounded queue of access units in front of it. A session
//! with work waits in one run queue; a free worker takes the session at
//! its head, runs one access unit through the whole chain (depth-first,
//! so its picture comes out at once) and puts the session back at the
//! tail if it has more. A whole session never runs on two workers at
//! once, so a slow or hostile session holds at most one worker, for at
//! most one call's time limit per stage, while the others go round the
//! rest (one split across workers, below, holds at most one per part, and
//! is split only within its share and when cores are free). The
//! stage calls are ordinary blocking wasmtime calls on threads the
//! runtime owns: nothing runs on the embedder's async executor, whose
//! workers are never blocked. docs/architecture.md compares this with
//! wasmtime's async calls.
//!
//! # Pipelining
//!
//! A chain dearer than one worker can carry at the session's rate (a
//! 1080p High-profile stream's decoder and encoder together) is split
//! across workers. Once a session is warm, if its pictures take more than
//! [`LiveConfig::pipeline_above`] of its frame interval, its chain is cut
//! into contiguous parts of about equal measured cost, at most one per
//! worker, each run by a lane: a task of its own in the same run queue.
//! Picture k may then be in the encoder on one worker while picture k+1
//! is in the decoder on another. Each lane takes one item at a time, in
//! order, so outputs keep their order and each stage instance is still
//! used by one thread at a time; at most a couple of items wait in front
//! of a lane, and a lane whose next lane is full takes nothing, so what
//! cannot go on waits in the session's backlog, under its late policy.
//! The budgets, the containment and the accounting are each part's, as
//! they were the whole chain's; a failure in any part fails the session,
//! with what was in flight in the others lost as the failing picture is.
//! A swap and the final flush need the whole chain: once the swap's
//! keyframe is next (a swap waits split until then), or the input is
//! finished, the session stops taking input until what is in flight came
//! out, joins its parts and makes the swap or the flush (then it is
//! measured again). A
//! session is split only while within its share, and only when the
//! other sessions leave more of [`LiveConfig::max_load`] than it uses
//! whole: cores are free. A
//! session cheap enough runs whole, one worker at a time, as before:
//! handing a picture to another core costs its cache.
//!
//! # Warm starts
//!
//! A session of a pipeline opened recently starts with a spare: fresh
//! stage instances a low-priority thread made and `create`d ahead
//! ([`LiveConfig::spares`] per pipeline, dropped when the pipeline has not
//! been opened for [`LiveConfig::spare_idle`]). A spare is a session
//! nothing was ever pushed into, moved out to exactly one session; nothing
//! of a session that ends, fails or swaps a stage ever goes back to the
//! spares, so a session's memory is its own from its first byte. With the
//! codecs' `expect-size` (docs/h264.md) `create` also makes the first
//! picture's memory ready, so the first picture costs about what a later
//! keyframe does. A swap's new instances are made ahead the same way, by
//! the same thread, for that one session, when the swap is asked for
//! ([`LiveSession::swap_ready`]); the keyframe it waits for then pays
//! only for its picture.
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
//! sleeps holds a worker too) against its share: the larger of the
//! workers' max-min fair level (what the sessions wanting less than an
//! equal part leave goes to those wanting more; never below
//! `workers / sessions`) and what it was admitted at times
//! [`FairShare::margin`] (the margin only from room no session was
//! admitted at); for a session whose chain may be split, at least the
//! room the others leave; never more than the workers it may run on. What a session
//! wants is the pictures that arrive for it, counted at its frame rate (a
//! burst after network jitter is no trend), at its time per picture. A
//! session within its share is never touched. One over it is degraded in
//! steps:
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
//!    fails with [`crate::Error::OverShare`] (what waited in its queue is counted
//!    as [`OVER_SHARE_DROP`]).
//!
//! A throttled session does not teach its pipeline's cost to admission:
//! one hostile sender does not make the node refuse healthy calls.

// The module graph is a tree: runtime -> session -> scheduler, backlog,
// lanes, events, admission -> share; runtime -> spares; config and event
// hold the public types.
// The scheduler runs `Task`s and knows nothing of sessions; a session
// reports to it through its turn's return value.
mod admission;
mod backlog;
mod config;
mod event;
mod events;
mod lanes;
mod runtime;
mod scheduler;
mod session;
mod share;
mod spares;

pub use config::LiveConfig;
pub use event::{LATE_DROP, LiveEvent, OVER_SHARE_DROP, RECEIVER_BEHIND_DROP, SessionId};
pub use events::LiveEvents;
pub use runtime::LiveRuntime;
pub use session::LiveSession;
pub use share::FairShare;
