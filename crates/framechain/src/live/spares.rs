//! Spare sessions: fresh stage instances made ahead, so that a new
//! session of a pipeline seen recently starts with its instances already
//! made and `create`d (with `expect-size`, their memory already mapped)
//! instead of making them on a worker before its first picture.
//!
//! A spare is a [`Session`] nothing has been pushed into: made by the
//! spares thread, held here, and moved out to exactly one session, which
//! owns it from then on. Nothing ever goes back: a session that ends,
//! fails or swaps a stage drops its instances, so no spare ever holds a
//! byte of any session's media. Bounded: at most `per_pipeline` spares per
//! pipeline, made only for pipelines a session was opened with in the last
//! `idle` (a spare not taken by then is dropped with its memory).
//!
//! An engine with the pooling allocator gets no spares: its slots are
//! sized for the sessions' own instances.
//!
//! The thread runs at a lower priority than the workers: on a busy node
//! making spares waits for idle CPU, and a session that finds none makes
//! its instances on its worker, as without spares.
//!
//! The same thread makes, ahead, the instances a session's waiting swap
//! will take at its keyframe ([`Ahead`]): jobs a session hands it, run
//! before any spare (a keyframe may come soon). Each job makes instances
//! for that one session and hands them to it; the runtime never keeps
//! them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::session::Session;

/// The spares of one pipeline.
struct Shelf {
    /// The pipeline the spares are sessions of (weak: a pipeline nobody
    /// holds any more gets no spares, and its shelf goes).
    pipeline: Weak<Pipeline>,
    /// Fresh sessions, oldest first; none has had an input.
    spares: Vec<Session>,
    /// When a session of it was last opened: past `idle`, its spares go.
    last_open: Instant,
    /// Spares the thread still has to make.
    wanted: usize,
    /// Kept warm ([`Spares::keep_warm`]): its spares stay however long no
    /// session opens, until the pipeline is dropped.
    pinned: bool,
}

/// What the spares thread and the runtime share.
struct State {
    /// By the pipeline's address: spares are sessions of that very
    /// pipeline (its stages, parameters, picture bound and limits). The
    /// shelf's weak reference keeps the address from being reused.
    shelves: HashMap<usize, Shelf>,
    /// Work sessions asked for, oldest first (at most [`MAX_JOBS`]).
    jobs: VecDeque<Job>,
    stop: bool,
}

/// Work the spares thread does ahead for one session: making the
/// instances its waiting swap will take. The job itself checks, when it
/// runs, whether it is still wanted.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Jobs waiting at most: a session asks for one per swap request, and a
/// request replaced before its job ran leaves a job that finds itself
/// unwanted, so the queue is bounded against a flood of requests. Past
/// it, sessions make their instances at the keyframe, as without spares.
const MAX_JOBS: usize = 4096;

/// A session's way to hand the spares thread a [`Job`].
#[derive(Clone)]
pub(crate) struct Ahead {
    /// `None`: no spares thread (spares are off).
    shared: Option<Arc<(Mutex<State>, Condvar)>>,
}

impl Ahead {
    /// Queues `job` for the spares thread. `false` when there is no thread
    /// or its queue is full: the job is dropped, and the session does the
    /// work itself when it needs it.
    pub(crate) fn submit(&self, job: Job) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        let (lock, wake) = &**shared;
        let mut state = lock_state(lock);
        if state.stop || state.jobs.len() >= MAX_JOBS {
            return false;
        }
        state.jobs.push_back(job);
        drop(state);
        wake.notify_one();
        true
    }
}

/// The runtime's spare sessions and the thread that makes them.
pub(crate) struct Spares {
    shared: Arc<(Mutex<State>, Condvar)>,
    per_pipeline: usize,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Spares {
    /// Keeps at most `per_pipeline` spares of each pipeline opened within
    /// the last `idle`; 0 makes none (and starts no thread).
    pub(crate) fn start(per_pipeline: usize, idle: Duration) -> Result<Spares> {
        let shared = Arc::new((
            Mutex::new(State {
                shelves: HashMap::new(),
                jobs: VecDeque::new(),
                stop: false,
            }),
            Condvar::new(),
        ));
        let thread = if per_pipeline > 0 {
            let shared = shared.clone();
            Some(
                std::thread::Builder::new()
                    .name("framechain-spares".into())
                    .spawn(move || run(&shared, per_pipeline, idle))
                    .map_err(|error| {
                        Error::Runtime(format!("cannot start the spares thread: {error}"))
                    })?,
            )
        } else {
            None
        };
        Ok(Spares {
            shared,
            per_pipeline,
            thread: Mutex::new(thread),
        })
    }

    /// A session of `pipeline` is opening: a spare for it if one is
    /// ready (moved out: no other session can have it), and the thread
    /// is asked to make the next one.
    pub(crate) fn take(&self, pipeline: &Arc<Pipeline>) -> Option<Session> {
        self.on_shelf(pipeline, |shelf| {
            shelf.last_open = Instant::now();
            (!shelf.spares.is_empty()).then(|| shelf.spares.remove(0))
        })
        .flatten()
    }

    /// Keeps spares of `pipeline` from now on, before its first session
    /// opens and however long none does, until the pipeline is dropped:
    /// for a node that may take calls failed over from another, whose
    /// first call should start warm too. `false` when there are no spares
    /// to keep (spares off, or a pooling engine).
    pub(crate) fn keep_warm(&self, pipeline: &Arc<Pipeline>) -> bool {
        self.on_shelf(pipeline, |shelf| shelf.pinned = true)
            .is_some()
    }

    /// `change` on `pipeline`'s shelf (made if it has none), after which
    /// the thread is asked to make what the shelf lacks; `None` (nothing
    /// done) when this runtime keeps no spares of it.
    fn on_shelf<R>(
        &self,
        pipeline: &Arc<Pipeline>,
        change: impl FnOnce(&mut Shelf) -> R,
    ) -> Option<R> {
        if self.per_pipeline == 0 || !makes_spares(pipeline) {
            return None;
        }
        let (lock, wake) = &*self.shared;
        let mut state = lock_state(lock);
        let shelf = state
            .shelves
            .entry(address(pipeline))
            .or_insert_with(|| Shelf::new(pipeline));
        let result = change(shelf);
        shelf.wanted = self.per_pipeline - shelf.spares.len();
        drop(state);
        wake.notify_one();
        Some(result)
    }

    /// The handle sessions queue their jobs through (none when spares
    /// are off: then there is no thread to run them).
    pub(crate) fn ahead(&self) -> Ahead {
        Ahead {
            shared: (self.per_pipeline > 0).then(|| self.shared.clone()),
        }
    }

    /// Spares held now, over every pipeline (for metrics and tests).
    pub(crate) fn count(&self) -> usize {
        let (lock, _) = &*self.shared;
        lock_state(lock)
            .shelves
            .values()
            .map(|shelf| shelf.spares.len())
            .sum()
    }

    /// Stops the thread and drops every spare.
    pub(crate) fn stop(&self) {
        let (lock, wake) = &*self.shared;
        let (shelves, jobs) = {
            let mut state = lock_state(lock);
            state.stop = true;
            (
                std::mem::take(&mut state.shelves),
                std::mem::take(&mut state.jobs),
            )
        };
        wake.notify_all();
        drop(shelves);
        drop(jobs);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shelf {
    /// An empty shelf for `pipeline`, as of now.
    fn new(pipeline: &Arc<Pipeline>) -> Shelf {
        Shelf {
            pipeline: Arc::downgrade(pipeline),
            spares: Vec::new(),
            last_open: Instant::now(),
            wanted: 0,
            pinned: false,
        }
    }

    /// Whether its spares go now: its pipeline is dropped, or it is not
    /// kept warm and no session of it opened within `idle`.
    fn stale(&self, now: Instant, idle: Duration) -> bool {
        self.pipeline.strong_count() == 0
            || (!self.pinned && now.saturating_duration_since(self.last_open) >= idle)
    }
}

/// Whether instances of `pipeline` may be made ahead of the sessions that
/// use them: not with a pooling engine, whose slots are sized for its
/// sessions' own instances (`EngineConfig::pooling`): a spare would take
/// a session's room, and instantiating from the pool is cheap anyway.
pub(crate) fn makes_spares(pipeline: &Pipeline) -> bool {
    pipeline.engine().config().pooling.is_none()
}

/// The key of a pipeline's shelf.
fn address(pipeline: &Arc<Pipeline>) -> usize {
    Arc::as_ptr(pipeline) as usize
}

fn lock_state(lock: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every update is a few field writes or a move in or out of a Vec.
    lock.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The spares thread: makes the spares wanted, one at a time and outside
/// the lock, and drops those of pipelines not opened within `idle`.
fn run(shared: &(Mutex<State>, Condvar), per_pipeline: usize, idle: Duration) {
    lower_priority();
    let (lock, wake) = shared;
    let mut state = lock_state(lock);
    loop {
        if state.stop {
            return;
        }
        let now = Instant::now();
        // Spares of pipelines unused for `idle`, or dropped, go (outside
        // the lock: dropping a store unmaps its memory).
        let stale: Vec<Shelf> = {
            let keys: Vec<usize> = state
                .shelves
                .iter()
                .filter(|(_, shelf)| shelf.stale(now, idle))
                .map(|(key, _)| *key)
                .collect();
            keys.into_iter()
                .filter_map(|key| state.shelves.remove(&key))
                .collect()
        };
        if !stale.is_empty() {
            drop(state);
            drop(stale);
            state = lock_state(lock);
            continue;
        }
        // Sessions' jobs first, one at a time and outside the lock.
        if let Some(job) = state.jobs.pop_front() {
            drop(state);
            job();
            state = lock_state(lock);
            continue;
        }
        let wanted = state.shelves.iter_mut().find_map(|(key, shelf)| {
            (shelf.wanted > 0 && shelf.spares.len() < per_pipeline).then(|| {
                shelf.wanted -= 1;
                (*key, shelf.pipeline.upgrade())
            })
        });
        if let Some((key, pipeline)) = wanted {
            drop(state);
            let made = pipeline.map(|pipeline| pipeline.start_session());
            state = lock_state(lock);
            match made {
                Some(Ok(session)) => {
                    let stopped = state.stop;
                    if let Some(shelf) = state.shelves.get_mut(&key)
                        && shelf.spares.len() < per_pipeline
                        && !stopped
                    {
                        shelf.spares.push(session);
                    } else {
                        // Its shelf went stale meanwhile: not kept.
                        drop(state);
                        drop(session);
                        state = lock_state(lock);
                    }
                }
                // A failure here is the session's to report when it makes
                // its own instances; nothing is kept.
                Some(Err(error)) => log::debug!("live: no spare session made: {error}"),
                None => {}
            }
            continue;
        }
        // Nothing to make: sleep until asked, or until the oldest shelf
        // goes stale.
        let next_stale = state
            .shelves
            .values()
            .map(|shelf| {
                if shelf.pinned {
                    // Goes only with its pipeline, which nothing signals:
                    // looked at again every `idle`.
                    idle
                } else {
                    (shelf.last_open + idle).saturating_duration_since(now)
                }
            })
            .min();
        state = match next_stale {
            Some(wait) => {
                wake.wait_timeout(state, wait.max(Duration::from_millis(1)))
                    .unwrap_or_else(|poison| poison.into_inner())
                    .0
            }
            None => wake
                .wait(state)
                .unwrap_or_else(|poison| poison.into_inner()),
        };
    }
}

/// Makes this thread yield to the workers (nice 10): spares are made on
/// idle CPU, not at the expense of anyone's picture.
fn lower_priority() {
    // SAFETY: gettid and setpriority take no pointers; on failure the
    // thread runs at the normal priority, which is only less polite.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}
