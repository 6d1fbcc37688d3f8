//! The live session state machine: the owner's handle, the per-session
//! state (input backlog, controls waiting, swap, standing against its
//! share) and the turn a worker runs. It reports to the scheduler through
//! [`Task`] (its turn returns whether it has more work) and to its owner
//! through its [`Outbox`]; it knows nothing of the runtime above it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::admission::Admission;
use super::backlog::{Ask, Backlog, is_keyframe};
use super::event::{LATE_DROP, LiveEvent, OVER_SHARE_DROP, RECEIVER_BEHIND_DROP, SessionId};
use super::events::{Offer, Outbox};
use super::lanes::{Handoff, LANE_DEPTH, Lane, Planner, plan_cuts};
use super::scheduler::{Scheduler, Task};
use super::share::Step;
use super::spares::{Ahead, makes_spares};
use crate::call_clock::thread_cpu_time;
use crate::media::{Media, Packet};
use crate::pipeline::Pipeline;
use crate::session::{Session, SessionEvent};
use crate::stage::StageInstance;

/// The owner's handle on a live session. Pushing never blocks; the
/// session's events come through its runtime's one receiver
/// ([`crate::live::LiveRuntime::events`]), tagged with [`LiveSession::id`].
/// Dropping the handle without [`LiveSession::finish`] ends the session at
/// once: waiting input is discarded, nothing is flushed, and the receiver
/// still gets its `Ended`.
pub struct LiveSession {
    shared: Arc<SessionShared>,
}

/// What the workers run: one turn of a session's lane (lane 0 is the
/// session's own turn: its backlog, its controls, the first part of its
/// chain, or all of it).
pub(crate) struct Turn {
    shared: Arc<SessionShared>,
    lane: usize,
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
    /// The lanes its chain may be split into (one per worker, at most one
    /// per stage). Lane 0 holds the stage instances while the chain is
    /// whole; only the worker running a lane's turn touches its part: a
    /// lane is in the run queue or running at most once.
    lanes: Vec<Lane>,
    /// Parts the chain is in now (1: whole, in lane 0). Changed only by
    /// lane 0's turn, with nothing in flight between lanes.
    parts: AtomicUsize,
    /// Items handed to lanes after the first and not yet out of the chain.
    in_flight: AtomicUsize,
    /// `Ended` was sent (what `Input::ended` says, for the lanes).
    ended: AtomicBool,
    /// Over its share of the workers: its pictures run only within it,
    /// and it waits behind every session within its share for a worker.
    throttled: AtomicBool,
    /// When to split the chain: its frame interval times
    /// [`crate::live::LiveConfig::pipeline_above`], in seconds; `None`:
    /// never.
    split_budget: Option<f64>,
    /// Its pictures a second.
    fps: f64,
    /// What lane 0 learns of the whole chain's stages, to decide the cut.
    planner: Mutex<Planner>,
    /// Its instances came from a spare made ahead.
    from_spare: bool,
    /// The number its instances carry in their log labels
    /// ([`Session::id`]), once they are made; 0 before.
    instances_id: AtomicU64,
    /// Where it asks for a waiting swap's instances to be made ahead.
    ahead: Ahead,
    /// Swaps made with instances made ahead.
    swaps_made_ahead: AtomicU64,
    /// Time its workers spent making swaps, in nanoseconds.
    swap_nanos: AtomicU64,
    scheduler: Arc<Scheduler<Turn>>,
}

/// The input side, under one lock the owner and the workers share briefly.
struct Input {
    /// Access units waiting, and what the session skips.
    backlog: Backlog,
    keyframe_requested: bool,
    bitrate: Option<u32>,
    /// A pipeline to switch to before the next keyframe.
    swap: Option<Arc<Pipeline>>,
    /// The instances that swap takes, if they were made ahead.
    made_ahead: Option<MadeAhead>,
    /// The session still has to be instantiated (done on a worker).
    start: bool,
    /// The owner called `finish`: flush after the queue is empty.
    finishing: bool,
    /// The owner dropped the handle: end without flushing.
    abandoned: bool,
    /// `Ended` was sent: nothing more happens.
    ended: bool,
    /// Lane 0 in the run queue or running on a worker.
    scheduled: bool,
    /// A later lane's stage needs a keyframe: lane 0's stages are asked
    /// for one.
    upstream_keyframe: bool,
    /// A later lane found the session over its share for too long: lane 0
    /// ends it.
    shed: Option<crate::Error>,
}

impl Input {
    /// A swap waits and its keyframe is the next access unit to run.
    fn swap_due(&self) -> bool {
        self.swap.is_some() && self.backlog.keyframe_next()
    }
}

/// Instances made ahead, off the workers, for one session's waiting swap
/// from one pipeline to another: taken at the keyframe only by that very
/// swap, else dropped unused.
struct MadeAhead {
    from: Arc<Pipeline>,
    to: Arc<Pipeline>,
    instances: Vec<StageInstance>,
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
    /// Its pictures a second, and the runtime's workers and
    /// [`crate::live::LiveConfig::pipeline_above`]: whether and how far
    /// its chain may be split.
    pub fps: f64,
    pub workers: usize,
    pub pipeline_above: Option<f64>,
    /// A spare session of its pipeline, made ahead and never used: its
    /// stage instances from the start (else they are made on a worker).
    pub spare: Option<Session>,
    /// Where it asks for a waiting swap's instances to be made ahead.
    pub ahead: Ahead,
}

impl LiveSession {
    pub(crate) fn open(opening: Opening, scheduler: Arc<Scheduler<Turn>>) -> LiveSession {
        let stages = opening.pipeline.stages().count();
        let lanes = if opening.pipeline_above.is_some() {
            opening.workers.min(stages).max(1)
        } else {
            1
        };
        let split_budget = opening
            .pipeline_above
            .filter(|_| lanes > 1)
            .map(|above| above.max(0.0) / opening.fps);
        opening.admission.may_split(opening.id.0, lanes);
        let shared = Arc::new(SessionShared {
            id: opening.id,
            admission: opening.admission,
            pipeline: Mutex::new(opening.pipeline),
            input: Mutex::new(Input {
                backlog: Backlog::new(opening.queue_depth, opening.max_wait),
                keyframe_requested: false,
                bitrate: None,
                swap: None,
                made_ahead: None,
                start: true,
                finishing: false,
                abandoned: false,
                ended: false,
                scheduled: false,
                upstream_keyframe: false,
                shed: None,
            }),
            outbox: opening.outbox,
            lanes: (0..lanes).map(|_| Lane::default()).collect(),
            parts: AtomicUsize::new(1),
            in_flight: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
            throttled: AtomicBool::new(false),
            split_budget,
            fps: opening.fps,
            planner: Mutex::new(Planner::new()),
            from_spare: opening.spare.is_some(),
            instances_id: AtomicU64::new(opening.spare.as_ref().map_or(0, Session::id)),
            ahead: opening.ahead,
            swaps_made_ahead: AtomicU64::new(0),
            swap_nanos: AtomicU64::new(0),
            scheduler,
        });
        // A spare's instances are ready; else they are made on a worker
        // now, so the first picture does not pay for it (and stage code
        // never runs on the caller's thread).
        if let Some(spare) = opening.spare {
            *shared.lanes[0].lock_part() = Some(spare);
        }
        shared.schedule();
        LiveSession { shared }
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
        self.shared.schedule();
    }

    /// Asks the session's encoder for a keyframe on its next picture (a
    /// viewer sent a PLI or FIR, or joined).
    pub fn request_keyframe(&self) {
        self.shared.lock_input().keyframe_requested = true;
        self.shared.schedule();
    }

    /// Sets the encoder's target bitrate, bits per second, from the next
    /// picture on (congestion control). Only the newest value is kept.
    pub fn set_bitrate(&self, bits_per_second: u32) {
        self.shared.lock_input().bitrate = Some(bits_per_second);
        self.shared.schedule();
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

    /// The parts its chain runs in now: 1 while it runs whole on one
    /// worker at a time, more once it is split across workers (see
    /// [`crate::live`], "Pipelining"). For metrics and tests.
    pub fn parts(&self) -> usize {
        self.shared.parts.load(Ordering::SeqCst)
    }

    /// Whether the session started with a spare's instances, made ahead
    /// and never used by any other session ([`crate::live::LiveConfig::spares`]),
    /// rather than making its own when it opened. For metrics and tests.
    pub fn started_from_spare(&self) -> bool {
        self.shared.from_spare
    }

    /// Whether a swap waits for its keyframe with its new instances
    /// already made, ahead and off the workers (by the spares thread:
    /// not when [`crate::live::LiveConfig::spares`] is 0 or the engine
    /// pools). For tests and metrics.
    pub fn swap_ready(&self) -> bool {
        let input = self.shared.lock_input();
        input.swap.is_some() && input.made_ahead.is_some()
    }

    /// Swaps made so far with instances made ahead; the others made
    /// their instances on a worker at the keyframe. For tests and metrics.
    pub fn swaps_made_ahead(&self) -> u64 {
        self.shared.swaps_made_ahead.load(Ordering::Relaxed)
    }

    /// The time its workers spent making swaps so far (making the new
    /// instances unless they were made ahead, flushing the old ones,
    /// putting the new ones in): what the swap's keyframe waited for
    /// beyond its own picture. For benchmarks and metrics.
    pub fn swap_time(&self) -> Duration {
        Duration::from_nanos(self.shared.swap_nanos.load(Ordering::Relaxed))
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
        self.shared.schedule();
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
        self.shared.schedule();
    }
}

impl Task for Turn {
    fn run_turn(&self) -> bool {
        if self.lane == 0 {
            self.shared.turn()
        } else {
            self.shared.lane_turn(self.lane)
        }
    }

    fn over_share(&self) -> bool {
        self.shared.throttled.load(Ordering::Relaxed)
    }

    fn shut_down(&self, reason: &str) {
        self.shared.end_from_outside(reason);
    }
}

impl SessionShared {
    /// Puts the session's lane 0 in the run queue unless it is there or
    /// running, or has nothing it can do now.
    fn schedule(self: &Arc<Self>) {
        let mut input = self.lock_input();
        if input.scheduled || !self.ready(&input) {
            return;
        }
        input.scheduled = true;
        drop(input);
        let turn = Arc::new(Turn {
            shared: self.clone(),
            lane: 0,
        });
        // Refused only while the runtime shuts down; its drop ends every
        // session once the workers have stopped. Not ended here: a later
        // lane's turn wakes lane 0 through this, holding its own part,
        // which ending would lock again.
        let _ = self.scheduler.enqueue(turn);
    }

    /// Puts lane `lane` (after the first) in the run queue unless it is
    /// there or running, or has nothing waiting.
    fn schedule_lane(self: &Arc<Self>, lane: usize) {
        let mut queue = self.lanes[lane].lock_queue();
        if queue.scheduled || queue.items.is_empty() {
            return;
        }
        queue.scheduled = true;
        drop(queue);
        let turn = Arc::new(Turn {
            shared: self.clone(),
            lane,
        });
        // Refused only while the runtime shuts down. Not ended here: this
        // runs inside another lane's turn, which holds that lane's part
        // (lane 0's, when it hands on), and ending locks every part. The
        // runtime's drop ends each session once its workers have stopped.
        let _ = self.scheduler.enqueue(turn);
    }

    /// Lane `lane` took an item: the lane before it may have been waiting
    /// for the room.
    fn wake_before(self: &Arc<Self>, lane: usize) {
        match lane {
            0 => {}
            1 => self.schedule(),
            _ => self.schedule_lane(lane - 1),
        }
    }

    /// Whether lane `lane` has room for one more item.
    fn has_room(&self, lane: usize) -> bool {
        self.lanes[lane].lock_queue().items.len() < LANE_DEPTH
    }

    /// Whether lane 0 has something it can do now. With the chain split,
    /// it takes an access unit only while lane 1 has room, and a swap due
    /// (its keyframe next) or the flush, which need the whole chain, waits
    /// until nothing is in flight between lanes.
    fn ready(&self, input: &Input) -> bool {
        if input.ended {
            return false;
        }
        if input.start
            || input.abandoned
            || input.keyframe_requested
            || input.upstream_keyframe
            || input.bitrate.is_some()
            || input.shed.is_some()
            || input.backlog.has_drops()
        {
            return true;
        }
        if self.parts.load(Ordering::SeqCst) == 1 {
            return !input.backlog.is_empty() || input.finishing;
        }
        if input.swap_due() || (input.finishing && input.backlog.is_empty()) {
            return self.in_flight.load(Ordering::SeqCst) == 0;
        }
        !input.backlog.is_empty() && self.has_room(1)
    }

    /// Tells the owner when the backlog policy asks for a keyframe.
    fn ask(&self, ask: Ask) {
        if ask == Ask::Keyframe {
            self.outbox.send(LiveEvent::KeyframeNeeded);
        }
    }

    /// Lane 0's turn on a worker: pending controls, then at most one
    /// input (or the start, the flush, the end), through the whole chain
    /// or, when it is split, through the first part and on to lane 1.
    /// Returns whether it has more work and goes back in the run queue.
    fn turn(self: &Arc<Self>) -> bool {
        let admission = &*self.admission;
        let key = self.id.0;
        let mut input = self.lock_input();
        let start = std::mem::take(&mut input.start);
        let keyframe = std::mem::take(&mut input.keyframe_requested);
        let upstream_keyframe = std::mem::take(&mut input.upstream_keyframe);
        let bitrate = input.bitrate.take();
        let lane_shed = input.shed.take();
        let parts = self.parts.load(Ordering::SeqCst);
        // A swap and the flush need the whole chain: once what is in
        // flight came out, the parts are joined. A swap waiting leaves the
        // chain split until its keyframe is next: a GOP's pictures, all
        // of them over one worker's interval, would fall behind whole.
        let whole_needed = input.swap_due() || (input.finishing && input.backlog.is_empty());
        let drained = self.in_flight.load(Ordering::SeqCst) == 0;
        let join = parts > 1 && whole_needed && drained;
        let may_take = parts == 1 || join || (!whole_needed && self.has_room(1));
        let now = Instant::now();
        let (mut next, ask) = if may_take {
            input.backlog.next(now)
        } else {
            (None, Ask::Nothing)
        };
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
        let made_ahead = if swap.is_some() {
            input.made_ahead.take()
        } else {
            None
        };
        let late = input.backlog.take_late();
        if late > 0 {
            steps.extend(admission.late(key, late, now));
        }
        let over_share = input.backlog.take_over_share();
        admission.arrived(key, input.backlog.take_arrived());
        let finish =
            next.is_none() && input.finishing && input.backlog.is_empty() && (parts == 1 || join);
        let unswapped = if finish { input.swap.take() } else { None };
        let unused_ahead = if finish {
            input.made_ahead.take()
        } else {
            None
        };
        let abandoned = input.abandoned;
        let swap_waiting = input.swap.is_some();
        drop(input);

        drop(unused_ahead);
        let mut slot = self.lanes[0].lock_part();
        if abandoned {
            return self.end(&mut slot);
        }
        if join {
            self.join_parts(&mut slot, parts);
        }
        if start {
            if slot.is_none() {
                match self.current_pipeline().start_session() {
                    Ok(session) => {
                        self.instances_id.store(session.id(), Ordering::Relaxed);
                        *slot = Some(session);
                    }
                    Err(error) => {
                        self.outbox.send(LiveEvent::Failed(error));
                        return self.end(&mut slot);
                    }
                }
            }
            // Split from the start, whatever the costs (for tests).
            if self.split_budget == Some(0.0) {
                let stages = slot.as_ref().map_or(0, Session::stage_count);
                let cuts = plan_cuts(&vec![1.0; stages], self.lanes.len(), 0.0);
                self.split(&mut slot, &cuts);
            }
        }
        let Some(session) = slot.as_mut() else {
            return self.end(&mut slot);
        };
        let split = self.parts.load(Ordering::SeqCst) > 1;
        let dropped_before = session.stats().dropped_total();
        if late > 0 {
            session.count_input_drops(LATE_DROP, late);
        }
        if over_share > 0 {
            session.count_input_drops(OVER_SHARE_DROP, over_share);
        }
        let mut result = Ok(());
        if keyframe || upstream_keyframe {
            result = result.and_then(|()| session.request_keyframe());
        }
        if let Some(bits) = bitrate {
            result = result.and_then(|()| session.set_bitrate(bits));
        }
        if split && (keyframe || bitrate.is_some()) {
            // The later lanes' stages get them with their next item.
            for lane in &self.lanes[1..self.parts.load(Ordering::SeqCst)] {
                let mut queue = lane.lock_queue();
                queue.keyframe |= keyframe;
                queue.bitrate = bitrate.or(queue.bitrate);
            }
        }
        let mut swapped = false;
        if let (Ok(()), Some(to), Some((media, _))) = (&result, swap, &next) {
            result = self.swap(session, to, made_ahead, media_pts(media), &mut swapped);
        }
        if unswapped.is_some() {
            self.outbox.send(LiveEvent::SwapFailed {
                error: crate::Error::Runtime(
                    "the swap was not made: the session's input ended before a keyframe".into(),
                ),
            });
        }
        let mut planner = self
            .planner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if swapped {
            planner.reset();
        }
        if let (Ok(()), Some((media, arrival))) = (&result, next) {
            let (cpu, started) = (thread_cpu_time(), Instant::now());
            let (pushed, stages, outputs) = self.push_one(session, media, arrival, split);
            result = pushed;
            let cpu = thread_cpu_time().saturating_sub(cpu);
            // Its share is judged on the time it held the worker: that is
            // what the others wait for, and a stage that sleeps holds it
            // without using the CPU.
            let now = Instant::now();
            let held = now.saturating_duration_since(started);
            match outputs {
                // Split: the picture's cost is reported when it leaves the
                // chain, unless it ends here.
                Some(outputs) if !outputs.is_empty() => {
                    self.hand_on(1, outputs, arrival, stages, cpu, held);
                }
                _ => {
                    steps.extend(admission.measured(key, cpu, held, now));
                    if !split {
                        planner.record(&stages);
                    }
                }
            }
        }
        let mut shed = lane_shed;
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
            self.report_drops(0, session);
        }
        // Warm and dear enough, with no swap waiting for the whole chain:
        // split it (nothing is in flight while it is whole).
        // Not when over its share, nor beyond the room the other
        // sessions leave: split, it would take their workers.
        let cuts = match self.split_budget {
            Some(budget)
                if result.is_ok()
                    && !finish
                    && !split
                    && !swap_waiting
                    && !self.throttled.load(Ordering::Relaxed) =>
            {
                planner
                    .cuts(budget, self.lanes.len())
                    .filter(|_| admission.room_beside(key) > (planner.cost() * self.fps).min(1.0))
            }
            _ => None,
        };
        drop(planner);
        if let Some(cuts) = cuts {
            self.split(&mut slot, &cuts);
        }
        match result {
            Err(error) => {
                self.outbox.send(LiveEvent::Failed(error));
                self.end(&mut slot)
            }
            Ok(()) if finish => self.end(&mut slot),
            Ok(()) => {
                drop(slot);
                self.reschedule()
            }
        }
    }

    /// A later lane's turn: its part of the chain on the next item waiting
    /// in front of it, what comes out handed to the lane after it or, from
    /// the last, to the owner. Returns whether it has more work.
    fn lane_turn(self: &Arc<Self>, index: usize) -> bool {
        let lane = &self.lanes[index];
        // The parts change only with nothing in flight: while this lane
        // has an item, they stay.
        let last = index + 1 >= self.parts.load(Ordering::SeqCst);
        let (handoff, keyframe, bitrate) = {
            let mut queue = lane.lock_queue();
            if self.ended.load(Ordering::SeqCst) {
                queue.items.clear();
                queue.scheduled = false;
                return false;
            }
            // A full lane after it: this one waits (the lane after wakes it).
            let item = if last || self.has_room(index + 1) {
                queue.items.pop_front()
            } else {
                None
            };
            let Some(item) = item else {
                queue.scheduled = false;
                return false;
            };
            (
                item,
                std::mem::take(&mut queue.keyframe),
                queue.bitrate.take(),
            )
        };
        self.wake_before(index);
        let mut slot = lane.lock_part();
        let Some(part) = slot.as_mut() else {
            // The session ended under it.
            return false;
        };
        let dropped_before = part.stats().dropped_total();
        let mut result = Ok(());
        if keyframe {
            result = part.request_keyframe();
        }
        if let Some(bits) = bitrate {
            result = result.and_then(|()| part.set_bitrate(bits));
        }
        let Handoff {
            media,
            arrival,
            mut stages,
            mut cpu,
            mut held,
        } = handoff;
        let mut outputs = Vec::new();
        if result.is_ok() {
            let before = stage_times(part);
            let (cpu_start, started) = (thread_cpu_time(), Instant::now());
            result = part.push_arrived(media, Some(arrival), &mut |_, _| {}, &mut |media| {
                outputs.push(media);
            });
            cpu += thread_cpu_time().saturating_sub(cpu_start);
            held += started.elapsed();
            stages.extend(
                stage_times(part)
                    .iter()
                    .zip(&before)
                    .map(|(after, before)| after.saturating_sub(*before)),
            );
        }
        let mut upstream_keyframe = false;
        for event in part.take_events() {
            match event {
                SessionEvent::KeyframeNeeded { .. } => {
                    upstream_keyframe = true;
                    self.outbox.send(LiveEvent::KeyframeNeeded);
                }
            }
        }
        let mut steps = None;
        if last || outputs.is_empty() {
            let mut refused = 0;
            for media in outputs {
                let event = LiveEvent::Output {
                    media,
                    latency: arrival.elapsed(),
                    stages: stages.clone(),
                };
                refused += usize::from(self.refused(event));
            }
            count_refused(part, refused);
            steps = self
                .admission
                .measured(self.id.0, cpu, held, Instant::now());
        } else {
            self.hand_on(index + 1, outputs, arrival, stages, cpu, held);
        }
        if part.stats().dropped_total() != dropped_before {
            self.report_drops(index, part);
        }
        drop(slot);
        if let Err(error) = result {
            self.outbox.send(LiveEvent::Failed(error));
            let mut head = self.lanes[0].lock_part();
            return self.end(&mut head);
        }
        if upstream_keyframe {
            self.ask_upstream_keyframe(index);
        }
        if let Some(error) = steps.and_then(|step| self.take_step(step)) {
            // Lane 0 ends it, with what waits in its backlog counted.
            self.lock_input().shed = Some(error);
        }
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Drained: lane 0 may be waiting to join the parts.
            self.schedule();
        } else if upstream_keyframe || self.lock_input().shed.is_some() {
            self.schedule();
        }
        let mut queue = lane.lock_queue();
        if !queue.items.is_empty() && (last || self.has_room(index + 1)) {
            true
        } else {
            queue.scheduled = false;
            false
        }
    }

    /// Hands what a part put out to lane `to`, and schedules it.
    fn hand_on(
        self: &Arc<Self>,
        to: usize,
        outputs: Vec<Media>,
        arrival: Instant,
        stages: Vec<Duration>,
        cpu: Duration,
        held: Duration,
    ) {
        self.in_flight.fetch_add(outputs.len(), Ordering::SeqCst);
        let mut queue = self.lanes[to].lock_queue();
        for (n, media) in outputs.into_iter().enumerate() {
            // One input's cost is counted once, with its first output.
            let (cpu, held) = if n == 0 {
                (cpu, held)
            } else {
                (Duration::ZERO, Duration::ZERO)
            };
            queue.items.push_back(Handoff {
                media,
                arrival,
                stages: stages.clone(),
                cpu,
                held,
            });
        }
        drop(queue);
        self.schedule_lane(to);
    }

    /// A stage in lane `index` needs a keyframe: every lane before it asks
    /// its stages for one (as a whole chain asks the stages before).
    fn ask_upstream_keyframe(self: &Arc<Self>, index: usize) {
        for lane in &self.lanes[1..index] {
            lane.lock_queue().keyframe = true;
        }
        self.lock_input().upstream_keyframe = true;
    }

    /// Cuts the whole chain in lane 0's `slot` before the stages at
    /// `cuts`, one part per lane. Nothing is in flight: it was whole.
    fn split(&self, slot: &mut MutexGuard<'_, Option<Session>>, cuts: &[usize]) {
        let Some(session) = slot.as_mut() else {
            return;
        };
        if cuts.is_empty() || cuts.len() >= self.lanes.len() {
            return;
        }
        // From the last cut back, so each position is still the chain's.
        for (lane, &at) in cuts.iter().enumerate().rev() {
            let part = session.split_off(at);
            *self.lanes[lane + 1].lock_reported() = part.stats().dropped();
            *self.lanes[lane + 1].lock_part() = Some(part);
        }
        *self.lanes[0].lock_reported() = session.stats().dropped();
        self.parts.store(cuts.len() + 1, Ordering::SeqCst);
        log::debug!(
            "{}: chain split into {} parts before stages {cuts:?}",
            self.id,
            cuts.len() + 1
        );
    }

    /// Joins the parts back into lane 0's `slot` (nothing is in flight, or
    /// the session is ending). Controls a later lane had not given its
    /// stages yet go to the whole chain.
    fn join_parts(&self, slot: &mut MutexGuard<'_, Option<Session>>, parts: usize) {
        let mut keyframe = false;
        let mut bitrate = None;
        for lane in &self.lanes[1..parts] {
            let part = lane.lock_part().take();
            let mut queue = lane.lock_queue();
            queue.items.clear();
            keyframe |= std::mem::take(&mut queue.keyframe);
            bitrate = queue.bitrate.take().or(bitrate);
            drop(queue);
            if let (Some(session), Some(part)) = (slot.as_mut(), part) {
                session.join(part);
            }
        }
        self.parts.store(1, Ordering::SeqCst);
        self.in_flight.store(0, Ordering::SeqCst);
        let Some(session) = slot.as_mut() else {
            return;
        };
        *self.lanes[0].lock_reported() = session.stats().dropped();
        let mut input = self.lock_input();
        input.keyframe_requested |= keyframe;
        if input.bitrate.is_none() {
            input.bitrate = bitrate;
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

    /// Runs one input through `session`: the whole chain, whose outputs
    /// go to the owner, or (`split`) the first part, whose outputs are
    /// returned for lane 1. Returns the stage times it took too.
    fn push_one(
        &self,
        session: &mut Session,
        media: Media,
        arrival: Instant,
        split: bool,
    ) -> (crate::Result<()>, Vec<Duration>, Option<Vec<Media>>) {
        let mut refused = 0;
        let before = stage_times(session);
        let mut outputs = Vec::new();
        let result = session.push_arrived(media, Some(arrival), &mut |_, _| {}, &mut |media| {
            outputs.push(media);
        });
        // Stage times are known once the input went through the whole
        // chain; the outputs wait for them (microseconds: one push).
        let stages: Vec<_> = stage_times(session)
            .iter()
            .zip(&before)
            .map(|(after, before)| after.saturating_sub(*before))
            .collect();
        if split {
            return (result, stages, Some(outputs));
        }
        let latency = arrival.elapsed();
        for media in outputs {
            let event = LiveEvent::Output {
                media,
                latency,
                stages: stages.clone(),
            };
            refused += usize::from(self.refused(event));
        }
        count_refused(session, refused);
        (result, stages, None)
    }

    /// Switches the session's stages to `to` before the input with `pts`,
    /// with the instances made ahead for this swap if there are (else
    /// they are made here).
    /// A failure to make the new instances is the owner's `SwapFailed`
    /// and the session goes on; an old stage failing in its flush fails
    /// the session (the error is returned).
    fn swap(
        &self,
        session: &mut Session,
        to: Arc<Pipeline>,
        made_ahead: Option<MadeAhead>,
        pts: i64,
        swapped_now: &mut bool,
    ) -> crate::Result<()> {
        let started = Instant::now();
        let from = self.current_pipeline();
        let made = made_ahead
            .filter(|made| Arc::ptr_eq(&made.from, &from) && Arc::ptr_eq(&made.to, &to))
            .map(|made| made.instances);
        let ahead = made.is_some();
        let mut refused = 0;
        let stage_count = session.stage_count();
        let swapped = from.stage_swap(&to).and_then(|swap| {
            session.swap_stages(&swap, made, &mut |media| {
                // What the old stages still held.
                refused += usize::from(self.refused(untimed_output(media, stage_count)));
            })
        });
        count_refused(session, refused);
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.swap_nanos.fetch_add(took, Ordering::Relaxed);
        match swapped {
            Ok(positions) => {
                let stages = positions
                    .into_iter()
                    .map(|index| (index, session.stats().stages[index].name.clone()))
                    .collect();
                if ahead {
                    self.swaps_made_ahead.fetch_add(1, Ordering::Relaxed);
                }
                self.admission.repipeline(self.id.0, to.fingerprint());
                *self.lock_pipeline() = to;
                *swapped_now = true;
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
    /// refused when the session ended or `to` does not fit it. The new
    /// instances are made ahead on the spares thread when it runs (not
    /// with a pooling engine, whose slots are sized for the sessions' own
    /// instances), so the keyframe does not wait for them.
    pub(crate) fn request_swap(self: &Arc<Self>, to: &Arc<Pipeline>) -> crate::Result<()> {
        let current = self.current_pipeline();
        let mut input = self.lock_input();
        if input.ended {
            return Err(crate::Error::Runtime(
                "cannot swap a stage of a live session that has ended".into(),
            ));
        }
        let base = input.swap.clone().unwrap_or_else(|| current.clone());
        base.replaced_positions(to)?;
        input.swap = Some(to.clone());
        let replaced = input.made_ahead.take();
        drop(input);
        // Instances made for a swap that will not happen go with their
        // memory, outside the lock.
        drop(replaced);
        if makes_spares(&current) {
            self.make_ahead(current, to.clone());
        }
        Ok(())
    }

    /// Asks the spares thread to make the instances of the swap from
    /// `from` to `to`, for this session only. When the job runs, it makes
    /// them only if that swap still waits, and hands them over only if it
    /// still does once they are made; else they are dropped.
    fn make_ahead(self: &Arc<Self>, from: Arc<Pipeline>, to: Arc<Pipeline>) {
        let session = Arc::downgrade(self);
        self.ahead.submit(Box::new(move || {
            let Some(shared) = session.upgrade() else {
                return;
            };
            let id = shared.instances_id.load(Ordering::Relaxed);
            if id == 0 || !shared.swap_waits(&from, &to).0 {
                return;
            }
            // A failure here is the swap's to report when the worker makes
            // the instances itself at the keyframe.
            let Ok(instances) = from.swap_instances(&to, id) else {
                return;
            };
            let (still_wanted, mut input) = shared.swap_waits(&from, &to);
            if still_wanted {
                input.made_ahead = Some(MadeAhead {
                    from,
                    to,
                    instances,
                });
            } else {
                drop(input);
                drop(instances);
            }
        }));
    }

    /// Whether the swap from `from` to `to` still waits in the session
    /// (it runs `from` and has not ended), with the input still locked.
    fn swap_waits(
        &self,
        from: &Arc<Pipeline>,
        to: &Arc<Pipeline>,
    ) -> (bool, MutexGuard<'_, Input>) {
        let current = self.current_pipeline();
        let input = self.lock_input();
        let waits = !input.ended
            && input
                .swap
                .as_ref()
                .is_some_and(|swap| Arc::ptr_eq(swap, to))
            && Arc::ptr_eq(&current, from);
        (waits, input)
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
    fn report_drops(&self, lane: usize, session: &Session) {
        let now = session.stats().dropped();
        let mut reported = self.lanes[lane].lock_reported();
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
        let mut slot = self.lanes[0].lock_part();
        self.end(&mut slot);
    }

    /// After lane 0's turn: back in the run queue if there is more it can
    /// do. Decided under the input lock, which a lane that makes room or
    /// drains takes before it schedules lane 0, so no wake-up is lost.
    fn reschedule(&self) -> bool {
        let mut input = self.lock_input();
        if self.ready(&input) {
            true
        } else {
            input.scheduled = false;
            false
        }
    }

    /// Ends the session: sends `Ended` with its counts (the parts of a
    /// split chain joined), drops the stage instances and gives its share
    /// of the workers back. Lane 0's part is held (`slot`); the later
    /// lanes' are taken in lane order, after any turn running on them.
    fn end(&self, slot: &mut MutexGuard<'_, Option<Session>>) -> bool {
        let mut input = self.lock_input();
        if input.ended && slot.is_none() {
            // Ended already (a lane and lane 0 both saw the end).
            return false;
        }
        input.ended = true;
        input.backlog.clear();
        input.scheduled = false;
        drop(input);
        self.ended.store(true, Ordering::SeqCst);
        let parts = self.lanes.len();
        self.join_parts(slot, parts);
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
