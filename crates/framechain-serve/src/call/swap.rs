//! The pipeline new publishers get, and a stage swap's probation: while a
//! swapped-in stage is on probation, a failure of it rolls the swap back.
//! Owned by the driver, which opens sessions and asks the live runtime to
//! switch them; the call core only reports the sessions' starts and
//! failures ([`super::core::Output`]). Sans-IO: time is passed in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use framechain::Pipeline;

/// A swapped-in stage is on probation until at least this long has passed
/// since the swap ...
pub(crate) const SWAP_PROBATION: Duration = Duration::from_secs(30);
/// ... and at least this many sessions opened on the new pipeline have
/// given out a picture. A trial `create` proves little: a stage may work
/// once and fail in every later instance (keyed on the wall clock, say).
/// So while on probation, any failure of the new stage rolls the swap
/// back: a running session's switch that fails (`SwapFailed`), a session
/// running the new pipeline that fails, or a new session that fails
/// before its first picture. While nobody calls, probation goes on.
pub(crate) const SWAP_PROBATION_STARTS: u32 = 3;

/// A swap on probation (see [`SWAP_PROBATION`]).
struct Probation {
    /// The pipeline before the swap, to go back to.
    previous: Arc<Pipeline>,
    /// The swapped-in stage's name, for the metrics and the log.
    stage: String,
    since: Instant,
    /// Sessions opened on the new pipeline that gave out a picture.
    good_starts: u32,
}

/// A swap to undo: switch running sessions of `from` back to `to`.
pub(crate) struct RollBack {
    /// The pipeline that failed.
    pub from: Arc<Pipeline>,
    /// The pipeline before the swap, which new publishers get again.
    pub to: Arc<Pipeline>,
    /// The swapped-in stage's name.
    pub stage: String,
}

/// The current pipeline and the last swap while it is on probation.
pub(crate) struct Pipelines {
    current: Arc<Pipeline>,
    probation: Option<Probation>,
}

impl Pipelines {
    pub(crate) fn new(current: Arc<Pipeline>) -> Pipelines {
        Pipelines {
            current,
            probation: None,
        }
    }

    /// The pipeline new publishers get.
    pub(crate) fn current(&self) -> &Arc<Pipeline> {
        &self.current
    }

    /// Whether a session opened now is opened on a swap on probation.
    pub(crate) fn on_probation(&self) -> bool {
        self.probation.is_some()
    }

    /// The live runtime accepted the swap from `from` to `to` (of stage
    /// `stage`) at `now`. A swap on probation is replaced by this one:
    /// its previous pipeline is what a rollback goes back to only if this
    /// one is accepted from it.
    pub(crate) fn swapped(
        &mut self,
        from: Arc<Pipeline>,
        to: Arc<Pipeline>,
        stage: String,
        now: Instant,
    ) {
        self.probation = Some(Probation {
            previous: from,
            stage,
            since: now,
            good_starts: 0,
        });
        self.current = to;
    }

    /// A session gave out its first picture; `on_probation` when it was
    /// opened on a swap on probation.
    pub(crate) fn session_started(&mut self, on_probation: bool, now: Instant) {
        if let Some(probation) = &mut self.probation
            && on_probation
        {
            probation.good_starts += 1;
        }
        self.end_probation(now);
    }

    /// Ends a probation that has lasted long enough with enough good starts.
    pub(crate) fn end_probation(&mut self, now: Instant) {
        if self.probation.as_ref().is_some_and(|probation| {
            probation.good_starts >= SWAP_PROBATION_STARTS
                && now.duration_since(probation.since) >= SWAP_PROBATION
        }) {
            self.probation = None;
        }
    }

    /// The swapped-in stage failed: goes back to the pipeline before the
    /// swap, if one is on probation; the caller switches the running
    /// sessions.
    pub(crate) fn roll_back(&mut self) -> Option<RollBack> {
        let probation = self.probation.take()?;
        let from = std::mem::replace(&mut self.current, probation.previous.clone());
        Some(RollBack {
            from,
            to: probation.previous,
            stage: probation.stage,
        })
    }
}
