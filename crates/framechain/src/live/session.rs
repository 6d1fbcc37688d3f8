//! One live session: the owner's handle, the bounded input queue with its
//! backpressure, and the turn a worker runs.

use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::inbox::{Inbox, Offer};
use super::runtime::RuntimeShared;
use super::share::Step;
use super::{LATE_DROP, LiveEvent, OVER_SHARE_DROP, RECEIVER_BEHIND_DROP};
use crate::call_clock::thread_cpu_time;
use crate::media::{Media, Packet};
use crate::pipeline::Pipeline;
use crate::session::{Session, SessionEvent};

/// The owner's handle on a live session. Pushing never blocks; events are
/// read with [`LiveSession::recv`] (blocking) or [`LiveSession::next`]
/// (async). Dropping the handle without [`LiveSession::finish`] ends the
/// session at once: waiting input is discarded, nothing is flushed.
pub struct LiveSession {
    shared: Arc<SessionShared>,
    runtime: Arc<RuntimeShared>,
}

/// What the handle and the workers share.
pub(crate) struct SessionShared {
    /// The admission key, for load reports.
    key: u64,
    /// The pipeline the session's stages are instances of; a swap changes
    /// it (only the worker running the session's turn does).
    pipeline: Mutex<Arc<Pipeline>>,
    queue_depth: usize,
    max_wait: std::time::Duration,
    input: Mutex<Input>,
    inbox: Inbox,
    /// The stage instances. Only the worker running the session's turn
    /// touches them: a session is in the run queue or running at most once.
    session: Mutex<Option<Session>>,
    /// Drop counts already sent as `Dropped` events.
    reported: Mutex<BTreeMap<String, u64>>,
    /// Over its share of the workers: its pictures run only within it,
    /// and it waits behind every session within its share for a worker.
    throttled: AtomicBool,
}

/// Why a session skips pictures up to the next keyframe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    /// It fell behind ([`LATE_DROP`]).
    Late,
    /// It was over its share ([`OVER_SHARE_DROP`]).
    OverShare,
}

/// The input side, under one lock the owner and the workers share briefly.
#[derive(Default)]
struct Input {
    /// Access units waiting, with their arrival.
    queue: VecDeque<(Media, Instant)>,
    /// Set after the session fell behind or skipped a picture over its
    /// share: inputs are dropped, for this reason, until a keyframe
    /// arrives.
    skipping: Option<Skip>,
    /// Late drops not yet counted in the session's stats.
    late: u64,
    /// Drops over the session's share not yet counted in its stats.
    over_share: u64,
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
    /// Counts `count` inputs skipped for `skip`.
    fn count_skip(&mut self, skip: Skip, count: u64) {
        match skip {
            Skip::Late => self.late += count,
            Skip::OverShare => self.over_share += count,
        }
    }

    fn has_work(&self) -> bool {
        !self.ended
            && (self.start
                || !self.queue.is_empty()
                || self.late > 0
                || self.over_share > 0
                || self.keyframe_requested
                || self.bitrate.is_some()
                || self.finishing
                || self.abandoned)
    }
}

/// Each stage's total call time so far, in chain order.
fn stage_times(session: &Session) -> Vec<std::time::Duration> {
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

/// Whether the session can restart from this input after skipping: a
/// keyframe access unit, or any raw picture (it needs no other).
fn is_keyframe(media: &Media) -> bool {
    match media {
        Media::Packet(packet) => packet.keyframe,
        Media::Frame(_) => true,
    }
}

impl LiveSession {
    pub(crate) fn open(
        runtime: Arc<RuntimeShared>,
        key: u64,
        pipeline: Arc<Pipeline>,
    ) -> LiveSession {
        let config = runtime.config();
        let shared = Arc::new(SessionShared {
            key,
            pipeline: Mutex::new(pipeline),
            queue_depth: config.queue_depth.max(1),
            max_wait: config.max_wait,
            input: Mutex::new(Input {
                start: true,
                ..Input::default()
            }),
            inbox: Inbox::new(config.event_depth),
            session: Mutex::new(None),
            reported: Mutex::default(),
            throttled: AtomicBool::new(false),
        });
        // Instantiate on a worker now, so the first picture does not pay
        // for it (and stage code never runs on the caller's thread).
        shared.schedule(&runtime);
        LiveSession { shared, runtime }
    }

    pub(crate) fn shared(&self) -> &Arc<SessionShared> {
        &self.shared
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
        let keyframe = is_keyframe(&media);
        let mut input = self.shared.lock_input();
        if input.ended || input.finishing {
            return;
        }
        if let Some(skip) = input.skipping {
            if !keyframe {
                input.count_skip(skip, 1);
                drop(input);
                // Again with every picture skipped: the first request may
                // have been rate-limited or lost on the way, and a sender
                // without periodic keyframes (a browser's encoder) only
                // sends one when asked. The owner rate-limits.
                self.shared.inbox.send(LiveEvent::KeyframeNeeded);
                self.shared.schedule(&self.runtime);
                return;
            }
            input.skipping = None;
        }
        if input.queue.len() >= self.shared.queue_depth {
            // Behind. A keyframe restarts the stream: the pictures waiting
            // are stale, drop them and keep it. Any other picture cannot be
            // decoded without the ones before it: keep those (they are
            // whole), drop it and every picture until the next keyframe.
            if keyframe {
                input.late += input.queue.len() as u64;
                input.queue.clear();
            } else {
                input.late += 1;
                input.skipping = Some(Skip::Late);
            }
            // Ask the sender for a keyframe to catch up from.
            self.shared.inbox.send(LiveEvent::KeyframeNeeded);
            if input.skipping.is_some() {
                drop(input);
                self.shared.schedule(&self.runtime);
                return;
            }
        }
        input.queue.push_back((media, arrival));
        drop(input);
        self.shared.schedule(&self.runtime);
    }

    /// Asks the session's encoder for a keyframe on its next picture (a
    /// viewer sent a PLI or FIR, or joined).
    pub fn request_keyframe(&self) {
        self.shared.lock_input().keyframe_requested = true;
        self.shared.schedule(&self.runtime);
    }

    /// Sets the encoder's target bitrate, bits per second, from the next
    /// picture on (congestion control). Only the newest value is kept.
    pub fn set_bitrate(&self, bits_per_second: u32) {
        self.shared.lock_input().bitrate = Some(bits_per_second);
        self.shared.schedule(&self.runtime);
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
        self.shared.schedule(&self.runtime);
    }

    /// The next event, waiting for it; `None` once [`LiveEvent::Ended`]
    /// was taken. Do not call from an async executor's thread: use
    /// [`LiveSession::next`] there.
    pub fn recv(&self) -> Option<LiveEvent> {
        self.shared.inbox.recv()
    }

    /// The next event if there is one, without waiting.
    pub fn try_recv(&self) -> Option<LiveEvent> {
        self.shared.inbox.try_recv()
    }

    /// The next event, for async code; `None` once [`LiveEvent::Ended`]
    /// was taken.
    pub async fn next(&self) -> Option<LiveEvent> {
        poll_fn(|context| self.shared.inbox.poll_recv(context)).await
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        let mut input = self.shared.lock_input();
        if !input.ended {
            input.abandoned = true;
            input.queue.clear();
        }
        drop(input);
        self.shared.schedule(&self.runtime);
    }
}

impl SessionShared {
    /// Puts the session in the run queue unless it is there or running.
    fn schedule(self: &Arc<Self>, runtime: &RuntimeShared) {
        let mut input = self.lock_input();
        if input.scheduled || !input.has_work() {
            return;
        }
        input.scheduled = true;
        drop(input);
        if !runtime.enqueue(self.clone()) {
            self.shut_down(runtime, "the live runtime has shut down");
        }
    }

    /// One turn on a worker: pending controls, then at most one input (or
    /// the start, the flush, the end). Returns whether the session has
    /// more work and goes back in the run queue.
    pub(crate) fn run_turn(self: &Arc<Self>, runtime: &RuntimeShared) -> bool {
        let mut input = self.lock_input();
        let start = std::mem::take(&mut input.start);
        let keyframe = std::mem::take(&mut input.keyframe_requested);
        let bitrate = input.bitrate.take();
        let mut next = self.next_in_time(&mut input);
        let now = Instant::now();
        let mut steps = Vec::new();
        // Over its share with its budget spent: the picture is skipped,
        // keyframe or not (a keyframe is what a hostile sender makes dear),
        // with what depends on it.
        if next.is_some() && !runtime.admission().may_run(self.key, now) {
            next = None;
            input.over_share += 1;
            self.skip_to_keyframe(&mut input, Skip::OverShare);
            steps.extend(runtime.admission().skipped(self.key, now));
        }
        // A swap waits for a keyframe: stages switched mid-GOP would see
        // pictures that depend on ones their predecessors took.
        let swap = match &next {
            Some((media, _)) if is_keyframe(media) => input.swap.take(),
            _ => None,
        };
        let late = std::mem::take(&mut input.late);
        if late > 0 {
            steps.extend(runtime.admission().late(self.key, late, now));
        }
        let over_share = std::mem::take(&mut input.over_share);
        let finish = next.is_none() && input.finishing && input.queue.is_empty();
        let unswapped = if finish { input.swap.take() } else { None };
        let abandoned = input.abandoned;
        drop(input);

        let mut slot = self
            .session
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if abandoned {
            return self.end(runtime, &mut slot);
        }
        if start {
            match self.current_pipeline().start_session() {
                Ok(session) => *slot = Some(session),
                Err(error) => {
                    self.inbox.send(LiveEvent::Failed(error));
                    return self.end(runtime, &mut slot);
                }
            }
        }
        let Some(session) = slot.as_mut() else {
            return self.end(runtime, &mut slot);
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
            result = self.swap(session, runtime, to, media_pts(media));
        }
        if unswapped.is_some() {
            self.inbox.send(LiveEvent::SwapFailed {
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
            steps.extend(runtime.admission().measured(self.key, cpu, held, now));
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
            let waiting = input.queue.len() as u64 + std::mem::take(&mut input.over_share);
            let late = std::mem::take(&mut input.late);
            input.queue.clear();
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
                SessionEvent::KeyframeNeeded { .. } => self.inbox.send(LiveEvent::KeyframeNeeded),
            }
        }
        if session.stats().dropped_total() != dropped_before {
            self.report_drops(session);
        }
        match result {
            Err(error) => {
                self.inbox.send(LiveEvent::Failed(error));
                self.end(runtime, &mut slot)
            }
            Ok(()) if finish => self.end(runtime, &mut slot),
            Ok(()) => self.reschedule(),
        }
    }

    /// The next access unit to run, skipping what waited longer than
    /// `max_wait`: such a picture is late already, and so is every one
    /// after it until a keyframe, which is kept even if late (it restarts
    /// the stream). Skips are counted as late and ask for a keyframe.
    fn next_in_time(&self, input: &mut Input) -> Option<(Media, Instant)> {
        let (media, arrival) = input.queue.pop_front()?;
        if arrival.elapsed() <= self.max_wait || is_keyframe(&media) {
            return Some((media, arrival));
        }
        input.late += 1;
        self.skip_to_keyframe(input, Skip::Late);
        input.queue.pop_front()
    }

    /// After a picture was skipped for `skip`: the pictures waiting up to
    /// the next keyframe cannot be decoded without it and are skipped too;
    /// with no keyframe waiting, later arrivals are skipped up to one. The
    /// sender is asked for a keyframe.
    fn skip_to_keyframe(&self, input: &mut Input, skip: Skip) {
        while let Some((front, _)) = input.queue.front() {
            if is_keyframe(front) {
                break;
            }
            input.queue.pop_front();
            input.count_skip(skip, 1);
        }
        input.skipping = input.queue.is_empty().then_some(skip);
        self.inbox.send(LiveEvent::KeyframeNeeded);
    }

    /// Acts on a change of the session's standing against its share;
    /// returns the error to end it with when it is shed.
    fn take_step(&self, step: Step) -> Option<crate::Error> {
        match step {
            Step::Throttled { used, share } => {
                log::info!(
                    "live session {}: used {:.0} % of a worker, over its share of {:.0} %: its pictures run within its share from now on",
                    self.key,
                    used * 100.0,
                    share * 100.0
                );
                self.throttled.store(true, Ordering::Relaxed);
                self.inbox.send(LiveEvent::OverShare { used, share });
                None
            }
            Step::StillOver { used, share, .. } => {
                self.inbox.send(LiveEvent::OverShare { used, share });
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
                    "live session {}: shed: its pictures needed {:.0} % of a worker, over its share of {:.0} %, for {:.1} s",
                    self.key,
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

    /// Whether the session is over its share (it waits behind the others).
    pub(crate) fn throttled(&self) -> bool {
        self.throttled.load(Ordering::Relaxed)
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
            if let Offer::Full = self.inbox.offer_output(event) {
                refused += 1;
            }
        }
        for _ in 0..refused {
            session.count_output_drop(RECEIVER_BEHIND_DROP);
        }
        result
    }

    /// Switches the session's stages to `to` before the input with `pts`.
    /// A failure to make the new instances is the owner's `SwapFailed`
    /// and the session goes on; an old stage failing in its flush fails
    /// the session (the error is returned).
    fn swap(
        &self,
        session: &mut Session,
        runtime: &RuntimeShared,
        to: Arc<Pipeline>,
        pts: i64,
    ) -> crate::Result<()> {
        let from = self.current_pipeline();
        let mut refused = 0;
        let stage_count = session.stage_count();
        let swapped = session.swap_to(&from, &to, &mut |media| {
            // What the old stages still held: no input of its own.
            let event = LiveEvent::Output {
                media,
                latency: std::time::Duration::ZERO,
                stages: vec![std::time::Duration::ZERO; stage_count],
            };
            if let Offer::Full = self.inbox.offer_output(event) {
                refused += 1;
            }
        });
        for _ in 0..refused {
            session.count_output_drop(RECEIVER_BEHIND_DROP);
        }
        match swapped {
            Ok(positions) => {
                let stages = positions
                    .into_iter()
                    .map(|index| (index, session.stats().stages[index].name.clone()))
                    .collect();
                runtime.admission().repipeline(self.key, to.fingerprint());
                *self.lock_pipeline() = to;
                self.inbox.send(LiveEvent::Swapped { stages, pts });
                Ok(())
            }
            Err(error) if session.failure().is_some() => Err(error),
            Err(error) => {
                log::warn!("live session: swap to {} not made: {error}", to.name());
                self.inbox.send(LiveEvent::SwapFailed { error });
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
            let event = LiveEvent::Output {
                media,
                latency: std::time::Duration::ZERO,
                stages: vec![std::time::Duration::ZERO; stage_count],
            };
            if let Offer::Full = self.inbox.offer_output(event) {
                refused += 1;
            }
        });
        for _ in 0..refused {
            session.count_output_drop(RECEIVER_BEHIND_DROP);
        }
        result
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
                self.inbox.send(LiveEvent::Dropped {
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
    pub(crate) fn shut_down(&self, runtime: &RuntimeShared, reason: &str) {
        if self.lock_input().ended {
            return;
        }
        self.inbox
            .send(LiveEvent::Failed(crate::Error::Runtime(reason.to_owned())));
        let mut slot = self
            .session
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        self.end(runtime, &mut slot);
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
    fn end(&self, runtime: &RuntimeShared, slot: &mut MutexGuard<'_, Option<Session>>) -> bool {
        let mut input = self.lock_input();
        input.ended = true;
        input.queue.clear();
        input.scheduled = false;
        drop(input);
        let session = slot.take();
        let stats = session
            .as_ref()
            .map(|session| session.stats().clone())
            .unwrap_or_default();
        drop(session);
        runtime.admission().close(self.key);
        self.inbox.send(LiveEvent::Ended(Box::new(stats)));
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
