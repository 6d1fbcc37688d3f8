//! The runtime's settings.

use std::time::Duration;

use super::share::FairShare;

/// Settings of a [`super::LiveRuntime`].
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
    /// Events of one session that may wait in the runtime's receiver
    /// ([`crate::live::LiveEvents`]) for its owner to take them (64: two
    /// seconds of output at 30 fps). An output that finds as many of its
    /// session's events waiting is dropped and counted as
    /// [`crate::live::RECEIVER_BEHIND_DROP`] (in the session's stats and in
    /// [`crate::live::LiveRuntime::receiver_behind_drops`]), never queued
    /// without end. The bound is per session, not for the whole runtime,
    /// so one session's burst never takes another's room; the runtime
    /// holds at most `max_sessions` times this many outputs. Control
    /// events are bounded at twice it (see [`crate::live::LiveEvents`]).
    pub event_depth: usize,
    /// How each session is held to its share of the workers as it runs:
    /// see [`crate::live`], "Fair shares". `None` turns it off (for
    /// measuring what happens without it).
    pub fair_share: Option<FairShare>,
    /// When a session's stages are spread over several workers
    /// (pipelined): once warm, a session whose chain takes more than this
    /// share of its frame interval per picture is cut into parts of about
    /// equal cost, each on a worker of its own, so picture k may be in the
    /// encoder while picture k+1 is in the decoder (see [`crate::live`],
    /// "Pipelining"). A session below it runs whole on one worker at a
    /// time, which hands no picture between cores. 0.75: a chain that
    /// needs more than three quarters of a worker has no room left for a
    /// dear picture (docs/performance.md, "Pipelining"). `Some(0.0)`
    /// splits every session of two stages or more from its start (for
    /// tests); `None`, or one worker, never splits.
    ///
    /// `Some(0.75)` by default: on a quiet 2-core node, the 1080p -> 720p
    /// telemedicine chain (about 33 ms a picture against a 33 ms
    /// interval) had a whole-run p99 of 43–52 ms split against 97–215 ms
    /// whole, and the 1080p30 High-profile clip 300 of 300 pictures out
    /// split against 100–122 whole (docs/performance.md, "Pipelining").
    pub pipeline_above: Option<f64>,
    /// Spare sessions kept per pipeline: fresh stage instances, made and
    /// `create`d ahead on a low-priority thread, so that the next session
    /// of a pipeline opened recently starts with them instead of making
    /// them on a worker (see [`crate::live`], "Warm starts"). Each spare
    /// is taken by one session only and nothing ever goes back to the
    /// spares. 1 by default; 0 makes none. Pipelines of an engine with
    /// the pooling allocator ([`crate::EngineConfig::pooling`]) get none:
    /// its slots are sized for the sessions' own instances.
    pub spares: usize,
    /// How long after a pipeline's last session was opened its spares are
    /// kept (60 s): a pipeline unused that long holds no memory for
    /// spares.
    pub spare_idle: Duration,
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
            pipeline_above: Some(0.75),
            spares: 1,
            spare_idle: Duration::from_secs(60),
        }
    }
}
