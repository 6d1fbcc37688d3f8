//! The live session state machine: the owner's handle, the per-session
//! state (input backlog, controls waiting, swap, standing against its
//! share) and the turn a worker runs. It reports to the scheduler through
//! [`Task`] (its turn returns whether it has more work) and to its owner
//! through its [`Outbox`]; it knows nothing of the runtime above it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::admission::Admission;
use super::backlog::{Ask, Backlog, is_keyframe};
use super::event::{LATE_DROP, LiveEvent, OVER_SHARE_DROP, RECEIVER_BEHIND_DROP, SessionId};
use super::events::{Offer, Outbox};
use super::scheduler::{Scheduler, Task};
use super::share::Step;
use crate::call_clock::thread_cpu_time;
use crate::media::{Media, Packet};
use crate::pipeline::Pipeline;
use crate::session::{Session, SessionEvent};

/// The owner's handle on a live session. Pushing never blocks; the
/// session's events come through its runtime's one receiver
/// ([`crate::live::LiveRuntime::events`]), tagged with [`LiveSession::id`].
/// Dropping the handle without [`LiveSession::finish`] ends the session at
/// once: waiting input is discarded, nothing is flushed, and the receiver
/// still gets its `Ended`.
pub struct LiveSession {
    shared: Arc<SessionShared>,
    scheduler: Arc<Scheduler<SessionShared>>,
}

/// What the handle and the workers share.
pub(crate) struct SessionShared {
    /// Its id in events, and its key in admission's load reports.
    id: SessionId,
    admission: Arc<Admission>,
    /// The pipeline the session's stages are instances of; a swap changes
    /// it (only the worker running the session's turn does).
    pipeline: Mutex<Arc<Pipeline>>,
    input: Mutex<Input>,
    outbox: Outbox,
    /// The stage instances. Only the worker running the session's turn
    /// touches them: a session is in the run queue or running at most once.
    session: Mutex<Option<Session>>,
    /// Drop counts already sent as `Dropped` events.
    reported: Mutex<BTreeMap<String, u64>>,
    /// Over its share of the workers: its pictures run only within it,
    /// and it waits behind every session within its share for a worker.
    throttled: AtomicBool,
}

/// The input side, under one lock the owner and the workers share briefly.
struct Input {
    /// Access units waiting, and what the session skips.
    backlog: Backlog,
    keyframe_requested: bool,
    bitrate: Option<u32>,
    /// A pipeline to switch to before the next keyframe.
    swap: Option<Arc<Pipeline>>,
    /// The session still has to be instantiated (done on a worker).
    start: bool,
    /// The owner called `finish`: flush after the queue is empty.
    finishing: bool,
    /// The owner dropped the handle: end without flushing.
    abandoned: bool,
    /// `Ended` was sent: nothing more happens.
    ended: bool,
    /// In the run queue or running on a worker.
    scheduled: bool,
}

impl Input {
    fn has_work(&self) -> bool {
        !self.ended
            && (self.start
                || self.backlog.has_work()
                || self.keyframe_requested
                || self.bitrate.is_some()
                || self.finishing
                || self.abandoned)
    }
}

/// Each stage's total call time so far, in chain order.
fn stage_times(session: &Session) -> Vec<Duration> {
    let stats = session.stats();
    stats
        .stages
        .iter()
        .map(|stage| stage.latency.total())
        .collect()
}

/// The pts of an input, for the `Swapped` event.
fn media_pts(media: &Media) -> i64 {
    match media {
        Media::Packet(packet) => packet.pts,
        Media::Frame(frame) => frame.pts,
    }
}

/// What a session is opened with.
pub(crate) struct Opening {
    /// Its id, the key admission gave it.
    pub id: SessionId,
    pub pipeline: Arc<Pipeline>,
    /// Access units it may hold waiting ([`crate::live::LiveConfig::queue_depth`]).
    pub queue_depth: usize,
    /// How long one may wait ([`crate::live::LiveConfig::max_wait`]).
    pub max_wait: Duration,
    /// Admission, which it reports its costs to and closes on its end.
    pub admission: Arc<Admission>,
    /// Its way to the owner.
    pub outbox: Outbox,
}

impl LiveSession {
    pub(crate) fn open(opening: Opening, scheduler: Arc<Scheduler<SessionShared>>) -> LiveSession {
        let shared = Arc::new(SessionShared {
            id: opening.id,
            admission: opening.admission,
            pipeline: Mutex::new(opening.pipeline),
            input: Mutex::new(Input {
                backlog: Backlog::new(opening.queue_depth, opening.max_wait),
                keyframe_requested: false,
                bitrate: None,
                swap: None,
                start: true,
                finishing: false,
                abandoned: false,
                ended: false,
                scheduled: false,
            }),
            outbox: opening.outbox,
            session: Mutex::new(None),
            reported: Mutex::default(),
            throttled: AtomicBool::new(false),
        });
        // Instantiate on a worker now, so the first picture does not pay
        // for it (and stage code never runs on the caller's thread).
        shared.schedule(&scheduler);
        LiveSession { shared, scheduler }
    }

    pub(crate) fn shared(&self) -> &Arc<SessionShared> {
        &self.shared
    }

    /// The id its events carry in the runtime's receiver.
    pub fn id(&self) -> SessionId {
        self.shared.id
    }

    /// Pushes one whole access unit that arrived at `arrival` (when its
    /// last byte came in). Never blocks. If the session already holds
    /// [`super::LiveConfig::queue_depth`] waiting, it is behind: see
    /// [`crate::live`] for what it drops. After [`LiveSession::finish`],
    /// or once the session failed (the owner got [`LiveEvent::Failed`]),
    /// pushes are ignored.
    pub fn push(&self, packet: Packet, arrival: Instant) {
        self.push_media(Media::Packet(packet), arrival);
    }

    /// [`LiveSession::push`] for any media the pipeline's first stage
    /// takes (raw frames for a chain without a decoder).
    pub fn push_media(&self, media: Media, arrival: Instant) {
        let mut input = self.shared.lock_input();
        if input.ended || input.finishing {
            return;
        }
        let ask = input.backlog.arrive(media, arrival);
        drop(input);
        // The owner rate-limits its requests (one comes with every
        // picture skipped).
        self.shared.ask(ask);
        self.shared.schedule(&self.scheduler);
    }

    /// Asks the session's encoder for a keyframe on its next picture (a
    /// viewer sent a PLI or FIR, or joined).
    pub fn request_keyframe(&self) {
        self.shared.lock_input().keyframe_requested = true;
        self.shared.schedule(&self.scheduler);
    }

    /// Sets the encoder's target bitrate, bits per second, from the next
    /// picture on (congestion control). Only the newest value is kept.
    pub fn set_bitrate(&self, bits_per_second: u32) {
        self.shared.lock_input().bitrate = Some(bits_per_second);
        self.shared.schedule(&self.scheduler);
    }

    /// Switches the session to `to` (made with
    /// [`Pipeline::with_stage_replaced`] from the session's pipeline) just
    /// before the next keyframe it runs (any raw picture counts as one),
    /// without dropping a picture: the new instances are made first; if
    /// that fails, the old stages go on and the owner gets
    /// [`LiveEvent::SwapFailed`]; else the replaced stages are flushed
    /// through the rest of the chain and dropped, and the owner gets
    /// [`LiveEvent::Swapped`]. A later call replaces a swap still waiting.
    /// An error now (the session has ended, or `to` has another number of
    /// stages or other ends than the session's pipeline) means nothing
    /// will happen.
    pub fn swap_pipeline(&self, to: &Arc<Pipeline>) -> crate::Result<()> {
        self.shared.request_swap(to)
    }

    /// The pipeline the session runs now (a swap still waiting is not
    /// made yet).
    pub fn pipeline(&self) -> Arc<Pipeline> {
        self.shared.current_pipeline()
    }

    /// End of input: the session runs what is waiting, flushes its stages
    /// and sends [`LiveEvent::Ended`].
    pub fn finish(&self) {
        self.shared.lock_input().finishing = true;
        self.shared.schedule(&self.scheduler);
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        let mut input = self.shared.lock_input();
        if !input.ended {
            input.abandoned = true;
            input.backlog.clear();
        }
        drop(input);
        self.shared.schedule(&self.scheduler);
    }
}

impl Task for SessionShared {
    fn run_turn(&self) -> bool {
        self.turn()
    }

    fn over_share(&self) -> bool {
        self.throttled.load(Ordering::Relaxed)
    }

    fn shut_down(&self, reason: &str) {
        self.end_from_outside(reason);
    }
}

impl SessionShared {
    /// Puts the session in the run queue unless it is there or running.
    fn schedule(self: &Arc<Self>, scheduler: &Scheduler<SessionShared>) {
        let mut input = self.lock_input();
        if input.scheduled || !input.has_work() {
            return;
        }
        input.scheduled = true;
        drop(input);
        if !scheduler.enqueue(self.clone()) {
            self.end_from_outside("the live runtime has shut down");
        }
    }

    /// Tells the owner when the backlog policy asks for a keyframe.
    fn ask(&self, ask: Ask) {
        if ask == Ask::Keyframe {
            self.outbox.send(LiveEvent::KeyframeNeeded);
        }
    }

    /// One turn on a worker: pending controls, then at most one input (or
    /// the start, the flush, the end). Returns whether the session has
    /// more work and goes back in the run queue.
    fn turn(&self) -> bool {
        let admission = &*self.admission;
        let key = self.id.0;
        let mut input = self.lock_input();
        let start = std::mem::take(&mut input.start);
        let keyframe = std::mem::take(&mut input.keyframe_requested);
        let bitrate = input.bitrate.take();
        let now = Instant::now();
        let (mut next, ask) = input.backlog.next(now);
        self.ask(ask);
        let mut steps = Vec::new();
        // Over its share with its budget spent: the picture is skipped,
        // keyframe or not (a keyframe is what a hostile sender makes dear),
        // with what depends on it.
        if next.is_some() && !admission.may_run(key, now) {
            next = None;
            self.ask(input.backlog.skip_over_share());
            steps.extend(admission.skipped(key, now));
        }
        // A swap waits for a keyframe: stages switched mid-GOP would see
        // pictures that depend on ones their predecessors took.
        let swap = match &next {
            Some((media, _)) if is_keyframe(media) => input.swap.take(),
            _ => None,
        };
        let late = input.backlog.take_late();
        if late > 0 {
            steps.extend(admission.late(key, late, now));
        }
        let over_share = input.backlog.take_over_share();
        let finish = next.is_none() && input.finishing && input.backlog.is_empty();
        let unswapped = if finish { input.swap.take() } else { None };
        let abandoned = input.abandoned;
        drop(input);

        let mut slot = self
            .session
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if abandoned {
            return self.end(&mut slot);
        }
        if start {
            match self.current_pipeline().start_session() {
                Ok(session) => *slot = Some(session),
                Err(error) => {
                    self.outbox.send(LiveEvent::Failed(error));
                    return self.end(&mut slot);
                }
            }
        }
        let Some(session) = slot.as_mut() else {
            return self.end(&mut slot);
        };
        let dropped_before = session.stats().dropped_total();
        if late > 0 {
            session.count_input_drops(LATE_DROP, late);
        }
        if over_share > 0 {
            session.count_input_drops(OVER_SHARE_DROP, over_share);
        }
        let mut result = Ok(());
        if keyframe {
            result = result.and_then(|()| session.request_keyframe());
        }
        if let Some(bits) = bitrate {
            result = result.and_then(|()| session.set_bitrate(bits));
        }
        if let (Ok(()), Some(to), Some((media, _))) = (&result, swap, &next) {
            result = self.swap(session, to, media_pts(media));
        }
        if unswapped.is_some() {
            self.outbox.send(LiveEvent::SwapFailed {
                error: crate::Error::Runtime(
                    "the swap was not made: the session's input ended before a keyframe".into(),
                ),
            });
        }
        if let (Ok(()), Some((media, arrival))) = (&result, next) {
            let (cpu, started) = (thread_cpu_time(), Instant::now());
            result = self.push_one(session, media, arrival);
            let cpu = thread_cpu_time().saturating_sub(cpu);
            // Its share is judged on the time it held the worker: that is
            // what the others wait for, and a stage that sleeps holds it
            // without using the CPU.
            let now = Instant::now();
            let held = now.saturating_duration_since(started);
            steps.extend(admission.measured(key, cpu, held, now));
        }
        let mut shed = None;
        for step in steps {
            if let Some(error) = self.take_step(step) {
                shed = Some(error);
            }
        }
        if let (Ok(()), Some(error)) = (&result, shed) {
            // What still waits will not run: counted, not lost silently;
            // and from here on pushes are refused, as after any failure.
            let mut input = self.lock_input();
            input.ended = true;
            let waiting = input.backlog.clear() + input.backlog.take_over_share();
            let late = input.backlog.take_late();
            drop(input);
            for (reason, count) in [(OVER_SHARE_DROP, waiting), (LATE_DROP, late)] {
                if count > 0 {
                    session.count_input_drops(reason, count);
                }
            }
            result = Err(error);
        }
        if result.is_ok() && finish {
            result = self.flush(session);
        }
        for event in session.take_events() {
            match event {
                SessionEvent::KeyframeNeeded { .. } => self.outbox.send(LiveEvent::KeyframeNeeded),
            }
        }
        if session.stats().dropped_total() != dropped_before {
            self.report_drops(session);
        }
        match result {
            Err(error) => {
                self.outbox.send(LiveEvent::Failed(error));
                self.end(&mut slot)
            }
            Ok(()) if finish => self.end(&mut slot),
            Ok(()) => self.reschedule(),
        }
    }

    /// Acts on a change of the session's standing against its share;
    /// returns the error to end it with when it is shed.
    fn take_step(&self, step: Step) -> Option<crate::Error> {
        match step {
            Step::Throttled { used, share } => {
                log::info!(
                    "{}: used {:.0} % of a worker, over its share of {:.0} %: its pictures run within its share from now on",
                    self.id,
                    used * 100.0,
                    share * 100.0
                );
                self.throttled.store(true, Ordering::Relaxed);
                self.outbox.send(LiveEvent::OverShare { used, share });
                None
            }
            Step::StillOver { used, share, .. } => {
                self.outbox.send(LiveEvent::OverShare { used, share });
                None
            }
            Step::Recovered => {
                self.throttled.store(false, Ordering::Relaxed);
                None
            }
            Step::Shed {
                used,
                share,
                over_for,
            } => {
                log::warn!(
                    "{}: shed: its pictures needed {:.0} % of a worker, over its share of {:.0} %, for {:.1} s",
                    self.id,
                    used * 100.0,
                    share * 100.0,
                    over_for.as_secs_f64()
                );
                Some(crate::Error::OverShare {
                    used,
                    share,
                    over_for,
                })
            }
        }
    }

    fn push_one(&self, session: &mut Session, media: Media, arrival: Instant) -> crate::Result<()> {
        let mut refused = 0;
        let before = stage_times(session);
        let mut outputs = Vec::new();
        let result = session.push_arrived(media, Some(arrival), &mut |_, _| {}, &mut |media| {
            outputs.push((media, arrival.elapsed()));
        });
        // Stage times are known once the input went through the whole
        // chain; the outputs wait for them (microseconds: one push).
        let stages: Vec<_> = stage_times(session)
            .iter()
            .zip(&before)
            .map(|(after, before)| after.saturating_sub(*before))
            .collect();
        for (media, latency) in outputs {
            let stages = stages.clone();
            let event = LiveEvent::Output {
                media,
                latency,
                stages,
            };
            refused += usize::from(self.refused(event));
        }
        count_refused(session, refused);
        result
    }

    /// Switches the session's stages to `to` before the input with `pts`.
    /// A failure to make the new instances is the owner's `SwapFailed`
    /// and the session goes on; an old stage failing in its flush fails
    /// the session (the error is returned).
    fn swap(&self, session: &mut Session, to: Arc<Pipeline>, pts: i64) -> crate::Result<()> {
        let from = self.current_pipeline();
        let mut refused = 0;
        let stage_count = session.stage_count();
        let swapped = from.stage_swap(&to).and_then(|swap| {
            session.swap_stages(&swap, &mut |media| {
                // What the old stages still held.
                refused += usize::from(self.refused(untimed_output(media, stage_count)));
            })
        });
        count_refused(session, refused);
        match swapped {
            Ok(positions) => {
                let stages = positions
                    .into_iter()
                    .map(|index| (index, session.stats().stages[index].name.clone()))
                    .collect();
                self.admission.repipeline(self.id.0, to.fingerprint());
                *self.lock_pipeline() = to;
                self.outbox.send(LiveEvent::Swapped { stages, pts });
                Ok(())
            }
            Err(error) if session.failure().is_some() => Err(error),
            Err(error) => {
                log::warn!("live session: swap to {} not made: {error}", to.name());
                self.outbox.send(LiveEvent::SwapFailed { error });
                Ok(())
            }
        }
    }

    /// Records a swap for the next keyframe, replacing one still waiting;
    /// refused when the session ended or `to` does not fit it.
    pub(crate) fn request_swap(&self, to: &Arc<Pipeline>) -> crate::Result<()> {
        let current = self.current_pipeline();
        let mut input = self.lock_input();
        if input.ended {
            return Err(crate::Error::Runtime(
                "cannot swap a stage of a live session that has ended".into(),
            ));
        }
        let base = input.swap.clone().unwrap_or(current);
        base.replaced_positions(to)?;
        input.swap = Some(to.clone());
        Ok(())
    }

    /// Whether the session runs, or will run once a waiting swap is made,
    /// a pipeline with `fingerprint` other than `to` itself.
    pub(crate) fn runs(&self, fingerprint: u64, to: &Arc<Pipeline>) -> bool {
        let current = self.current_pipeline();
        let input = self.lock_input();
        let target = input.swap.as_ref().unwrap_or(&current);
        !input.ended && target.fingerprint() == fingerprint && !Arc::ptr_eq(target, to)
    }

    fn current_pipeline(&self) -> Arc<Pipeline> {
        self.lock_pipeline().clone()
    }

    fn lock_pipeline(&self) -> MutexGuard<'_, Arc<Pipeline>> {
        // Only ever replaced whole.
        self.pipeline
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn flush(&self, session: &mut Session) -> crate::Result<()> {
        let mut refused = 0;
        let stage_count = session.stats().stages.len();
        let result = session.flush_into(&mut |_, _| {}, &mut |media| {
            refused += usize::from(self.refused(untimed_output(media, stage_count)));
        });
        count_refused(session, refused);
        result
    }

    /// Offers an output to the owner; true when its queue was full. The
    /// caller counts the drop once the session is no longer borrowed by
    /// the stages' output callback.
    fn refused(&self, output: LiveEvent) -> bool {
        matches!(self.outbox.offer_output(output), Offer::Full)
    }

    /// Sends a `Dropped` event per reason whose count grew in this turn.
    /// Turns that drop nothing skip this (the totals are compared first).
    fn report_drops(&self, session: &Session) {
        let now = session.stats().dropped();
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for (reason, count) in &now {
            let before = reported.get(reason).copied().unwrap_or(0);
            if *count > before {
                self.outbox.send(LiveEvent::Dropped {
                    reason: reason.clone(),
                    count: count - before,
                });
            }
        }
        *reported = now;
    }

    /// Ends the session from outside a turn: the runtime is shutting down,
    /// or a turn panicked (a host bug). The owner gets `Failed` and
    /// `Ended`, so nobody waits for events that will never come.
    pub(crate) fn end_from_outside(&self, reason: &str) {
        if self.lock_input().ended {
            return;
        }
        self.outbox
            .send(LiveEvent::Failed(crate::Error::Runtime(reason.to_owned())));
        let mut slot = self
            .session
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        self.end(&mut slot);
    }

    /// After a turn: back in the run queue if there is more to do.
    fn reschedule(&self) -> bool {
        let mut input = self.lock_input();
        if input.has_work() {
            true
        } else {
            input.scheduled = false;
            false
        }
    }

    /// Ends the session: sends `Ended` with its counts, drops the stage
    /// instances and gives its share of the workers back.
    fn end(&self, slot: &mut MutexGuard<'_, Option<Session>>) -> bool {
        let mut input = self.lock_input();
        input.ended = true;
        input.backlog.clear();
        input.scheduled = false;
        drop(input);
        let session = slot.take();
        let stats = session
            .as_ref()
            .map(|session| session.stats().clone())
            .unwrap_or_default();
        drop(session);
        self.admission.close(self.id.0);
        self.outbox.send(LiveEvent::Ended(Box::new(stats)));
        false
    }

    fn lock_input(&self) -> MutexGuard<'_, Input> {
        // Every update under this lock is a few field writes that cannot
        // panic half-way.
        self.input
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// An output a flush or a swap pushed out of the stages: no input of its
/// own, so no latency and no stage times.
fn untimed_output(media: Media, stage_count: usize) -> LiveEvent {
    LiveEvent::Output {
        media,
        latency: Duration::ZERO,
        stages: vec![Duration::ZERO; stage_count],
    }
}

/// Counts the outputs the owner's queue refused as "receiver behind".
fn count_refused(session: &mut Session, refused: usize) {
    for _ in 0..refused {
        session.count_output_drop(RECEIVER_BEHIND_DROP);
    }
}
