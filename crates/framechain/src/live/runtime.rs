//! The runtime's public face: it starts the scheduler, opens sessions
//! through admission, and hands out the one receiver of their events.

use std::sync::{Arc, Mutex, Weak};

use super::admission::Admission;
use super::config::LiveConfig;
use super::event::SessionId;
use super::events::{EventQueue, LiveEvents};
use super::scheduler::Scheduler;
use super::session::{LiveSession, Opening, SessionShared, Turn};
use super::spares::Spares;
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;

/// Worker threads running live sessions, the sessions' admission, and the
/// one queue their events go through ([`LiveRuntime::events`]). Dropping
/// the runtime stops the workers after the turns they are running;
/// sessions still open then end without flushing, their owners get
/// `Failed` and `Ended`, and the receiver returns `None` once it has taken
/// them.
pub struct LiveRuntime {
    config: LiveConfig,
    admission: Arc<Admission>,
    scheduler: Arc<Scheduler<Turn>>,
    /// Fresh sessions made ahead for pipelines opened recently.
    spares: Spares,
    events: Arc<EventQueue>,
    /// Handed out by [`LiveRuntime::events`], once.
    receiver: Mutex<Option<LiveEvents>>,
    /// Every session opened, to end those still open at shut-down.
    opened: Mutex<Vec<Weak<SessionShared>>>,
}

impl LiveRuntime {
    /// Starts `config.workers` worker threads (at least one).
    pub fn new(config: LiveConfig) -> Result<LiveRuntime> {
        let workers = config.workers.max(1);
        let events = EventQueue::new(config.event_depth);
        Ok(LiveRuntime {
            admission: Arc::new(Admission::new(
                workers,
                config.max_sessions,
                config.max_load,
                config.fair_share.clone(),
            )),
            scheduler: Scheduler::start(workers)?,
            spares: Spares::start(config.spares, config.spare_idle)?,
            receiver: Mutex::new(Some(LiveEvents::new(events.clone()))),
            events,
            config: LiveConfig { workers, ..config },
            opened: Mutex::default(),
        })
    }

    /// The receiver of every session's events, tagged with the session's
    /// [`SessionId`]: `Some` the first time, `None` after. One receiver
    /// rather than one per session, so a server reads every call's
    /// pictures in one place, and the bound
    /// ([`LiveConfig::event_depth`]) holds: nothing sits in an unbounded
    /// channel in between. Events wait for it (within the bound) until it
    /// is taken: take it before opening sessions. The runtime, often
    /// shared behind an `Arc` by the code that opens sessions, is not
    /// what the reader needs, so it hands the receiver out rather than
    /// making [`LiveRuntime::new`] return a pair.
    pub fn events(&self) -> Option<LiveEvents> {
        self.receiver
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take()
    }

    /// Outputs dropped so far, over every session, because their session
    /// already had [`LiveConfig::event_depth`] events waiting in the
    /// receiver (or the receiver was dropped): each is also counted as
    /// [`super::RECEIVER_BEHIND_DROP`] in its session's stats. For
    /// metrics: a count that grows means the owner reads too slowly.
    pub fn receiver_behind_drops(&self) -> u64 {
        self.events.receiver_behind()
    }

    /// Opens a session of `pipeline` whose input comes at `fps` pictures a
    /// second, or refuses it with [`Error::Busy`] when the runtime cannot
    /// carry it within its load limit. The stage instances are made on a
    /// worker; a failure there arrives as [`crate::live::LiveEvent::Failed`].
    pub fn open(&self, pipeline: &Arc<Pipeline>, fps: f64) -> Result<LiveSession> {
        self.open_with(pipeline, fps, true)
    }

    /// [`LiveRuntime::open`] without the load check (`max_sessions` still
    /// holds): for measuring what happens past capacity, or an operator
    /// who knows the node's load better than the runtime's measurements.
    /// The session counts in the load like any other.
    pub fn open_past_admission(&self, pipeline: &Arc<Pipeline>, fps: f64) -> Result<LiveSession> {
        self.open_with(pipeline, fps, false)
    }

    fn open_with(
        &self,
        pipeline: &Arc<Pipeline>,
        fps: f64,
        check_load: bool,
    ) -> Result<LiveSession> {
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            30.0
        };
        let admission = &self.admission;
        let key = if check_load {
            admission.admit(pipeline.fingerprint(), fps)
        } else {
            admission.admit_past_load(pipeline.fingerprint(), fps)
        }
        .map_err(Error::Busy)?;
        let id = SessionId(key);
        let opening = Opening {
            id,
            pipeline: pipeline.clone(),
            queue_depth: self.config.queue_depth,
            max_wait: self.config.max_wait,
            admission: self.admission.clone(),
            outbox: self.events.outbox(id),
            fps,
            workers: self.config.workers,
            pipeline_above: self.config.pipeline_above,
            spare: self.spares.take(pipeline),
            ahead: self.spares.ahead(),
        };
        let session = LiveSession::open(opening, self.scheduler.clone());
        let mut opened = self
            .opened
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        opened.retain(|session| session.strong_count() > 0);
        opened.push(Arc::downgrade(session.shared()));
        drop(opened);
        Ok(session)
    }

    /// Switches every open session running `from` (any pipeline with its
    /// fingerprint: the same stage files and parameters) to `to`, made
    /// with [`Pipeline::with_stage_replaced`] from it, each at its next
    /// keyframe: see [`LiveSession::swap_pipeline`]. Each session's owner
    /// hears [`crate::live::LiveEvent::Swapped`] or
    /// [`crate::live::LiveEvent::SwapFailed`]. Returns how many sessions will
    /// swap; sessions opened later open with whatever pipeline they are
    /// given. An error (`to` has another number of stages, or other ends)
    /// means no session was touched.
    pub fn swap_pipeline(&self, from: &Pipeline, to: &Arc<Pipeline>) -> Result<usize> {
        from.replaced_positions(to)?;
        let sessions: Vec<Arc<SessionShared>> = self
            .opened
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut swapping = 0;
        for session in sessions {
            if session.runs(from.fingerprint(), to) && session.request_swap(to).is_ok() {
                swapping += 1;
            }
        }
        Ok(swapping)
    }

    /// Makes spare sessions of `pipeline` ([`LiveConfig::spares`]) ahead,
    /// before its first session opens, and keeps them however long none
    /// opens, until the pipeline is dropped. For a node that may take
    /// calls failed over from another: its first call of `pipeline` then
    /// starts from a spare, as every later one does. Costs one spare's
    /// memory for as long. `false` when there are no spares to keep
    /// (`spares` is 0, or the engine pools).
    pub fn keep_warm(&self, pipeline: &Arc<Pipeline>) -> bool {
        self.spares.keep_warm(pipeline)
    }

    /// Spare sessions held now, over every pipeline: fresh instances made
    /// ahead for the next session of a pipeline opened recently
    /// ([`LiveConfig::spares`]). For metrics: what they hold counts in the
    /// process's memory but in no session's.
    pub fn spares(&self) -> usize {
        self.spares.count()
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.admission.report().0
    }

    /// The load the open sessions put on the workers, as busy workers
    /// (1.0 = one worker busy all the time), from measured cost per picture
    /// times each session's frame rate.
    pub fn load(&self) -> f64 {
        self.admission.report().1
    }

    /// The runtime's settings (with the worker count it started).
    pub fn config(&self) -> &LiveConfig {
        &self.config
    }
}

impl Drop for LiveRuntime {
    fn drop(&mut self) {
        self.spares.stop();
        self.scheduler.stop();
        let opened = std::mem::take(
            &mut *self
                .opened
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        );
        for session in opened.iter().filter_map(Weak::upgrade) {
            session.end_from_outside("the live runtime has shut down");
        }
        self.events.close();
    }
}
