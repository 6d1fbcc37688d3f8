//! The worker threads and the run queue they share.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

use super::LiveConfig;
use super::admission::Admission;
use super::session::{LiveSession, SessionShared};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;

/// Worker threads running live sessions, and the sessions' admission. The
/// workers stop when the runtime is dropped; sessions still open then end
/// without flushing, their owners get `Failed` and `Ended`.
pub struct LiveRuntime {
    shared: Arc<RuntimeShared>,
    workers: Vec<JoinHandle<()>>,
}

/// What the workers, the runtime and the session handles share.
pub(crate) struct RuntimeShared {
    config: LiveConfig,
    admission: Admission,
    run: Mutex<RunQueue>,
    work: Condvar,
    /// Every session opened, to end those still open at shut-down.
    opened: Mutex<Vec<Weak<SessionShared>>>,
}

#[derive(Default)]
struct RunQueue {
    /// Sessions with work, in the order they got it: a worker takes the
    /// head, runs one input through it and puts it back at the tail.
    sessions: VecDeque<Arc<SessionShared>>,
    /// Sessions with work that are over their share of the workers: taken
    /// only when no session within its share waits, so a session that
    /// costs more than it may never delays one that does not.
    over_share: VecDeque<Arc<SessionShared>>,
    stopping: bool,
}

impl LiveRuntime {
    /// Starts `config.workers` worker threads (at least one).
    pub fn new(config: LiveConfig) -> Result<LiveRuntime> {
        let workers = config.workers.max(1);
        let shared = Arc::new(RuntimeShared {
            admission: Admission::new(
                workers,
                config.max_sessions,
                config.max_load,
                config.fair_share.clone(),
            ),
            config: LiveConfig { workers, ..config },
            run: Mutex::default(),
            work: Condvar::new(),
            opened: Mutex::default(),
        });
        let mut runtime = LiveRuntime {
            shared: shared.clone(),
            workers: Vec::with_capacity(workers),
        };
        for index in 0..workers {
            let shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("framechain-live-{index}"))
                .spawn(move || shared.work_loop())
                .map_err(|error| {
                    Error::Runtime(format!("cannot start a live worker thread: {error}"))
                })?;
            runtime.workers.push(thread);
        }
        Ok(runtime)
    }

    /// Opens a session of `pipeline` whose input comes at `fps` pictures a
    /// second, or refuses it with [`Error::Busy`] when the runtime cannot
    /// carry it within its load limit. The stage instances are made on a
    /// worker; a failure there arrives as [`super::LiveEvent::Failed`].
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
        let admission = &self.shared.admission;
        let key = if check_load {
            admission.admit(pipeline.fingerprint(), fps)
        } else {
            admission.admit_past_load(pipeline.fingerprint(), fps)
        }
        .map_err(Error::Busy)?;
        let session = LiveSession::open(self.shared.clone(), key, pipeline.clone());
        let mut opened = self
            .shared
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
    /// hears [`super::LiveEvent::Swapped`] or
    /// [`super::LiveEvent::SwapFailed`]. Returns how many sessions will
    /// swap; sessions opened later open with whatever pipeline they are
    /// given. An error (`to` has another number of stages, or other ends)
    /// means no session was touched.
    pub fn swap_pipeline(&self, from: &Pipeline, to: &Arc<Pipeline>) -> Result<usize> {
        from.replaced_positions(to)?;
        let sessions: Vec<Arc<SessionShared>> = self
            .shared
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

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.shared.admission.report().0
    }

    /// The load the open sessions put on the workers, as busy workers
    /// (1.0 = one worker busy all the time), from measured cost per picture
    /// times each session's frame rate.
    pub fn load(&self) -> f64 {
        self.shared.admission.report().1
    }

    /// The runtime's settings (with the worker count it started).
    pub fn config(&self) -> &LiveConfig {
        &self.shared.config
    }
}

impl Drop for LiveRuntime {
    fn drop(&mut self) {
        self.shared.lock_run().stopping = true;
        self.shared.work.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        let opened = std::mem::take(
            &mut *self
                .shared
                .opened
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        );
        for session in opened.iter().filter_map(Weak::upgrade) {
            session.shut_down(&self.shared, "the live runtime has shut down");
        }
    }
}

impl RuntimeShared {
    pub(crate) fn config(&self) -> &LiveConfig {
        &self.config
    }

    pub(crate) fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Puts a session with work at the tail of the run queue; false when
    /// the runtime is shutting down and no worker will take it.
    pub(crate) fn enqueue(&self, session: Arc<SessionShared>) -> bool {
        let mut run = self.lock_run();
        if run.stopping {
            return false;
        }
        if session.throttled() {
            run.over_share.push_back(session);
        } else {
            run.sessions.push_back(session);
        }
        drop(run);
        self.work.notify_one();
        true
    }

    fn work_loop(self: Arc<Self>) {
        loop {
            let session = {
                let mut run = self.lock_run();
                loop {
                    if run.stopping {
                        return;
                    }
                    if let Some(session) = run.sessions.pop_front() {
                        break session;
                    }
                    if let Some(session) = run.over_share.pop_front() {
                        break session;
                    }
                    run = self
                        .work
                        .wait(run)
                        .unwrap_or_else(|poison| poison.into_inner());
                }
            };
            // A panic here is a host bug; it ends that session, not the
            // worker and every session behind it.
            match catch_unwind(AssertUnwindSafe(|| session.run_turn(&self))) {
                Ok(true) => {
                    if !self.enqueue(session.clone()) {
                        session.shut_down(&self, "the live runtime has shut down");
                    }
                }
                Ok(false) => {}
                Err(_) => session.shut_down(&self, "the host failed while running the session"),
            }
        }
    }

    fn lock_run(&self) -> MutexGuard<'_, RunQueue> {
        // Pushes and pops only: a panic elsewhere cannot leave it half-done.
        self.run.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}
