//! One stream through a pipeline: per-session stage instances, media
//! pushed through them in order, and the accounting.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::bindings::types::{Control, Notice, Port};
use crate::error::{Error, Result, StageFailure};
use crate::media::Media;
use crate::stage::{CallOutput, ConfiguredStage, InstanceLimits, StageInstance};
use crate::stats::{SessionStats, StageStats};

/// A running stream. Owns one instance of every stage; no other session
/// can reach their memory. If a stage fails, the session fails: later calls
/// return [`Error::SessionFailed`], while the engine and other sessions go on.
///
/// Items run depth-first: each output of a stage goes through the rest of
/// the chain before the stage's next output, so the host holds at most one
/// call's outputs per stage at a time (charged to the session's in-flight
/// budget, [`crate::EngineConfig::in_flight_limit`]) and the first picture
/// comes out as soon as it can.
pub struct Session {
    id: u64,
    stages: Vec<StageInstance>,
    /// Whether each stage takes frames: for those the host can check that
    /// every input is accounted for.
    takes_frames: Vec<bool>,
    stats: SessionStats,
    /// The stage that failed the session, and how.
    failure: Option<(String, StageFailure)>,
    in_flight_bytes: usize,
    in_flight_limit: usize,
    /// The largest picture the pipeline takes, per side.
    max_picture: (Option<u32>, Option<u32>),
    /// Events for the session's owner, oldest first (at most
    /// [`MAX_PENDING_EVENTS`]; repeats of the newest are merged).
    events: VecDeque<SessionEvent>,
    /// The chain position of this session's first stage: 0, unless it is
    /// a later part of a chain split across workers ([`Session::split_off`]).
    first_stage: usize,
}

/// What a session's memory is made of ([`Session::memory`]), in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionMemory {
    /// The stages' linear memories (each capped by
    /// [`crate::EngineConfig::memory_limit`]).
    pub linear: usize,
    /// What the host holds for the stages: frames in their hands, their
    /// regions, native encoders (each stage's budget is the same limit).
    pub host: usize,
    /// Items between stages (capped by
    /// [`crate::EngineConfig::in_flight_limit`]).
    pub in_flight: usize,
}

/// What a running session needs to switch stages: the stage count of the
/// pipeline it runs, the stages replaced with their new configuration,
/// and the limits new instances get. Made by [`crate::Pipeline::stage_swap`].
pub(crate) struct StageSwap<'a> {
    pub(crate) stages: usize,
    pub(crate) replacements: Vec<(usize, &'a ConfiguredStage)>,
    pub(crate) limits: InstanceLimits,
}

impl StageSwap<'_> {
    /// Fresh instances of the replacing stages, in the order of
    /// `replacements`, for the session `id` (their log label) whose
    /// pictures are bounded by `max_picture`. Made apart from the swap
    /// itself so that they can be made ahead, off the worker
    /// ([`Session::swap_stages`] takes them).
    pub(crate) fn instantiate(
        &self,
        id: u64,
        max_picture: (Option<u32>, Option<u32>),
    ) -> Result<Vec<StageInstance>> {
        self.replacements
            .iter()
            .map(|&(index, stage)| {
                let label: Arc<str> = Arc::from(format!("session {id} {}", stage.loaded.name()));
                let params = bounded_params(stage, index, max_picture);
                stage.loaded.instantiate(self.limits, label, &params)
            })
            .collect()
    }
}

impl SessionMemory {
    /// All of it.
    pub fn total(&self) -> usize {
        self.linear + self.host + self.in_flight
    }
}

/// Something a session tells its owner beside its media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// A stage (a decoder missing references) cannot go on without a
    /// keyframe from upstream: the owner should ask the sender for one
    /// (an RTCP PLI). The session has already asked the stages before it.
    KeyframeNeeded {
        /// The stage that needs it.
        stage: String,
    },
}

/// Events a session keeps for its owner before the oldest are discarded.
pub const MAX_PENDING_EVENTS: usize = 64;

/// When the item now going through the chain started.
#[derive(Clone, Copy)]
struct Timing {
    /// The start of the `push` or `flush` call.
    call: Instant,
    /// When the input arrived, if the caller said (live sessions).
    arrival: Option<Instant>,
}

/// The reason under which the host counts frames a stage neither passed
/// on, reported as dropped, nor still holds.
pub const UNREPORTED_DROP: &str = "unreported by stage";

impl Session {
    pub(crate) fn start(
        limits: InstanceLimits,
        in_flight_limit: usize,
        stages: &[ConfiguredStage],
        max_picture: (Option<u32>, Option<u32>),
        id: u64,
    ) -> Result<Session> {
        let mut instances = Vec::with_capacity(stages.len());
        let mut stats = SessionStats::default();
        for (index, stage) in stages.iter().enumerate() {
            let label: Arc<str> = Arc::from(format!("session {id} {}", stage.loaded.name()));
            let params = bounded_params(stage, index, max_picture);
            instances.push(stage.loaded.instantiate(limits, label, &params)?);
            stats.stages.push(StageStats {
                name: stage.loaded.name().to_owned(),
                ..StageStats::default()
            });
        }
        Ok(Session {
            id,
            stages: instances,
            takes_frames: stages
                .iter()
                .map(|stage| matches!(stage.loaded.description().input, Port::Frames(_)))
                .collect(),
            stats,
            failure: None,
            in_flight_bytes: 0,
            in_flight_limit,
            max_picture,
            events: VecDeque::new(),
            first_stage: 0,
        })
    }

    /// Splits the chain before its stage `at` (a position within this
    /// session): this session keeps the stages before it, the returned
    /// part takes the rest, so the two can run on different threads, one
    /// item after another through each (the live runtime's pipelining).
    /// What this part hands out becomes the returned part's input.
    ///
    /// The session's counts of what came out of the chain (outputs and
    /// their latencies) move to the returned part, which makes them from
    /// now on; this part's inputs and drops before the first stage stay.
    /// [`Session::join`] puts the two back together with every count as
    /// if the chain had never been split. `at` must be within 1..stages.
    pub(crate) fn split_off(&mut self, at: usize) -> Session {
        let stats = SessionStats {
            stages: self.stats.stages.split_off(at),
            outputs: std::mem::take(&mut self.stats.outputs),
            output_latency: std::mem::take(&mut self.stats.output_latency),
            arrival_latency: std::mem::take(&mut self.stats.arrival_latency),
            ..SessionStats::default()
        };
        Session {
            id: self.id,
            stages: self.stages.split_off(at),
            takes_frames: self.takes_frames.split_off(at),
            stats,
            failure: None,
            in_flight_bytes: 0,
            in_flight_limit: self.in_flight_limit,
            max_picture: self.max_picture,
            events: VecDeque::new(),
            first_stage: self.first_stage + at,
        }
    }

    /// Puts back the part [`Session::split_off`] took (with whatever it
    /// took since): its stages follow this session's; the outputs and
    /// their latencies are its; drops add up; a failure of either is the
    /// session's. What this part counted as its own outputs (items handed
    /// to `rest`) is not an output of the chain and is replaced.
    pub(crate) fn join(&mut self, mut rest: Session) {
        self.stages.append(&mut rest.stages);
        self.takes_frames.append(&mut rest.takes_frames);
        self.stats.stages.append(&mut rest.stats.stages);
        self.stats.outputs = rest.stats.outputs;
        self.stats.output_latency = rest.stats.output_latency;
        self.stats.arrival_latency = rest.stats.arrival_latency;
        for (reason, count) in rest.stats.session_drops {
            *self.stats.session_drops.entry(reason).or_default() += count;
        }
        if self.failure.is_none() {
            self.failure = rest.failure;
        }
        self.in_flight_bytes += rest.in_flight_bytes;
        self.events.extend(rest.events);
        self.stats.peak_in_flight_bytes = self
            .stats
            .peak_in_flight_bytes
            .max(rest.stats.peak_in_flight_bytes);
        let whole = self.memory().total();
        self.stats.peak_memory_bytes = self
            .stats
            .peak_memory_bytes
            .max(rest.stats.peak_memory_bytes)
            .max(whole);
    }

    /// The session's number within its pipeline, for logs.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Pushes one item through every stage; returns what came out of the
    /// last stage (possibly nothing, possibly several items).
    pub fn push(&mut self, input: Media) -> Result<Vec<Media>> {
        self.push_watched(input, &mut |_, _| {})
    }

    /// End of stream: flushes each stage in order, pushing what each one
    /// still held through the stages after it.
    pub fn flush(&mut self) -> Result<Vec<Media>> {
        self.flush_watched(&mut |_, _| {})
    }

    /// [`Session::push`], showing `watch` every item as it passes a
    /// position of the chain: 0 is the session's input, `i + 1` the output
    /// of stage `i`. Used for snapshots and taps; nothing is copied unless
    /// the watcher copies.
    pub fn push_watched(
        &mut self,
        input: Media,
        watch: &mut dyn FnMut(usize, &Media),
    ) -> Result<Vec<Media>> {
        let mut outputs = Vec::new();
        self.push_into(input, watch, &mut |media| outputs.push(media))?;
        Ok(outputs)
    }

    /// [`Session::flush`] with a watcher, as in [`Session::push_watched`].
    pub fn flush_watched(&mut self, watch: &mut dyn FnMut(usize, &Media)) -> Result<Vec<Media>> {
        let mut outputs = Vec::new();
        self.flush_into(watch, &mut |media| outputs.push(media))?;
        Ok(outputs)
    }

    /// [`Session::push_watched`], handing each output of the last stage to
    /// `out` as soon as it is ready instead of collecting them: nothing
    /// waits in the host for the rest of the push.
    pub fn push_into(
        &mut self,
        input: Media,
        watch: &mut dyn FnMut(usize, &Media),
        out: &mut dyn FnMut(Media),
    ) -> Result<()> {
        self.push_arrived(input, None, watch, out)
    }

    /// [`Session::push_into`] for an input that arrived at `arrival` (the
    /// instant its last byte came in): each output's latency from that
    /// instant is recorded in [`SessionStats::arrival_latency`]. Live
    /// sessions ([`crate::live`]) push this way.
    pub(crate) fn push_arrived(
        &mut self,
        input: Media,
        arrival: Option<Instant>,
        watch: &mut dyn FnMut(usize, &Media),
        out: &mut dyn FnMut(Media),
    ) -> Result<()> {
        self.check_alive()?;
        let timing = Timing {
            call: Instant::now(),
            arrival,
        };
        self.stats.inputs += 1;
        watch(0, &input);
        self.in_flight_bytes += media_bytes(&input);
        let result = self.run_from(0, input, timing, watch, out);
        let total = self.memory().total();
        self.stats.peak_memory_bytes = self.stats.peak_memory_bytes.max(total);
        result
    }

    /// Asks every stage for a keyframe on the next picture (a viewer sent
    /// an RTCP PLI or FIR, or joined): the encoder, wherever it sits in
    /// the chain, makes its next picture an IDR picture; other stages
    /// ignore it.
    pub fn request_keyframe(&mut self) -> Result<()> {
        self.control_range(0..self.stages.len(), Control::RequestKeyframe)
    }

    /// Gives every stage a new target bitrate in bits per second (from
    /// congestion control); encoders apply it from the next picture.
    pub fn set_bitrate(&mut self, bits_per_second: u32) -> Result<()> {
        self.control_range(
            0..self.stages.len(),
            Control::TargetBitrate(bits_per_second),
        )
    }

    /// Counts `count` inputs the owner dropped before the first stage, for
    /// `reason` (`late`): they count as inputs and as drops, so every input
    /// stays accounted for.
    pub(crate) fn count_input_drops(&mut self, reason: &str, count: u64) {
        self.stats.inputs += count;
        *self
            .stats
            .session_drops
            .entry(reason.to_owned())
            .or_default() += count;
    }

    /// Counts an output of the last stage that its owner could not take
    /// (a live session's event queue was full) as dropped for `reason`.
    pub(crate) fn count_output_drop(&mut self, reason: &str) {
        self.stats.outputs = self.stats.outputs.saturating_sub(1);
        *self
            .stats
            .session_drops
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    /// The events since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<SessionEvent> {
        self.events.drain(..).collect()
    }

    fn control_range(&mut self, stages: std::ops::Range<usize>, event: Control) -> Result<()> {
        self.check_alive()?;
        for index in stages {
            if let Err(failure) = self.stages[index].control(event) {
                return Err(self.fail(index, failure));
            }
        }
        Ok(())
    }

    /// [`Session::flush_watched`], handing each output to `out` as in
    /// [`Session::push_into`].
    pub fn flush_into(
        &mut self,
        watch: &mut dyn FnMut(usize, &Media),
        out: &mut dyn FnMut(Media),
    ) -> Result<()> {
        self.check_alive()?;
        let timing = Timing {
            call: Instant::now(),
            arrival: None,
        };
        for index in 0..self.stages.len() {
            let started = Instant::now();
            let result = self.stages[index].flush();
            let flushed = self.account(index, started, 0, result)?;
            self.check_flushed_accounting(index);
            self.admit_in_flight(index, &flushed)?;
            for item in flushed {
                watch(index + 1, &item);
                self.run_from(index + 1, item, timing, watch, out)?;
            }
        }
        Ok(())
    }

    /// Switches the session's stages at some positions for new instances
    /// of others, as `swap` (made by
    /// [`crate::Pipeline::stage_swap`] from the session's pipeline and
    /// the one switched to) says. Call it between pushes, before a
    /// keyframe: the live runtime does so before the next keyframe access
    /// unit (or raw picture) after a swap was asked for.
    ///
    /// First every replacement is instantiated and `create`d with its
    /// parameters, unless `made` holds them already (made ahead by
    /// [`StageSwap::instantiate`] for this session and swap); if one fails, the session keeps all its old stages and
    /// goes on, and the error is returned ([`Session::failure`] stays
    /// `None`). Then, in chain order, each old stage is flushed (what it
    /// still held goes through the rest of the chain to `out`, so no frame
    /// is lost) and dropped, and its replacement takes its place. A failure
    /// of an old stage's flush fails the session, as any stage failure.
    /// Returns the positions replaced (empty when nothing differs).
    ///
    /// The per-stage [`SessionStats::stages`] entries belong to positions:
    /// a replacement's counts and latencies add to the old stage's, and
    /// the entry takes the replacement's name.
    ///
    /// It takes the stages, not the pipelines, so this module does not
    /// depend on the pipeline module that makes sessions.
    pub(crate) fn swap_stages(
        &mut self,
        swap: &StageSwap<'_>,
        made: Option<Vec<StageInstance>>,
        out: &mut dyn FnMut(Media),
    ) -> Result<Vec<usize>> {
        self.check_alive()?;
        if swap.stages != self.stages.len() {
            return Err(Error::InvalidChain(format!(
                "the session runs {} stages, not the {} of the pipeline to swap from",
                self.stages.len(),
                swap.stages
            )));
        }
        // Instances made ahead for this very swap (one per replacement),
        // or made here.
        let fresh = match made {
            Some(made) if made.len() == swap.replacements.len() => made,
            _ => swap.instantiate(self.id, self.max_picture)?,
        };
        let timing = Timing {
            call: Instant::now(),
            arrival: None,
        };
        for (&(index, stage), instance) in swap.replacements.iter().zip(fresh) {
            let started = Instant::now();
            let result = self.stages[index].flush();
            let flushed = self.account(index, started, 0, result)?;
            self.check_flushed_accounting(index);
            self.admit_in_flight(index, &flushed)?;
            for item in flushed {
                self.run_from(index + 1, item, timing, &mut |_, _| {}, out)?;
            }
            self.stages[index] = instance;
            self.takes_frames[index] = matches!(stage.loaded.description().input, Port::Frames(_));
            self.stats.stages[index].name = stage.loaded.name().to_owned();
        }
        Ok(swap.replacements.iter().map(|&(index, _)| index).collect())
    }

    /// Number of stages, so positions run from 0 to `stage_count()`.
    pub(crate) fn stage_count(&self) -> usize {
        self.stages.len()
    }

    /// Counts so far.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// The stage that failed the session and how, if one did.
    pub fn failure(&self) -> Option<(&str, &StageFailure)> {
        self.failure
            .as_ref()
            .map(|(stage, failure)| (stage.as_str(), failure))
    }

    /// Log lines stages wrote beyond their allowance.
    pub fn suppressed_log_lines(&self) -> u64 {
        self.stages
            .iter()
            .map(StageInstance::suppressed_log_lines)
            .sum()
    }

    /// What the session's memory is made of now: its stages' linear
    /// memories, what the host holds for them, and items between stages.
    pub fn memory(&self) -> SessionMemory {
        SessionMemory {
            linear: self.stages.iter().map(StageInstance::linear_bytes).sum(),
            host: self.stages.iter().map(|stage| stage.host_bytes().0).sum(),
            in_flight: self.in_flight_bytes,
        }
    }

    fn check_alive(&self) -> Result<()> {
        match &self.failure {
            Some((stage, failure)) => Err(Error::SessionFailed {
                stage: stage.clone(),
                failure: failure.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Runs `item`, in flight before stage `index`, through the rest of the
    /// chain depth-first, handing what comes out of the last stage to `out`.
    fn run_from(
        &mut self,
        index: usize,
        item: Media,
        timing: Timing,
        watch: &mut dyn FnMut(usize, &Media),
        out: &mut dyn FnMut(Media),
    ) -> Result<()> {
        // The item leaves the host's hands: the next stage's budget (for a
        // frame) or linear memory (for a packet) holds it now, or the caller.
        self.in_flight_bytes = self.in_flight_bytes.saturating_sub(media_bytes(&item));
        // Pictures into the first stage, and out of it (the decoder's),
        // are held to the pipeline's bound before the rest of the chain
        // (scalers, encoders, whose cost grows with the picture) sees them.
        // A later part of a split chain sees them after the first part
        // checked them on its way out.
        if self.first_stage == 0 && index <= 1 {
            self.check_picture_size(&item)?;
        }
        if index == self.stages.len() {
            self.stats.outputs += 1;
            self.stats.output_latency.record(timing.call.elapsed());
            if let Some(arrival) = timing.arrival {
                self.stats.arrival_latency.record(arrival.elapsed());
            }
            out(item);
            return Ok(());
        }
        let call_started = Instant::now();
        let result = self.stages[index].push(item);
        let produced = self.account(index, call_started, 1, result)?;
        self.check_accounting(index);
        self.admit_in_flight(index, &produced)?;
        for item in produced {
            watch(index + 1, &item);
            self.run_from(index + 1, item, timing, watch, out)?;
        }
        Ok(())
    }

    /// Fails the session when `item`, going into the first stage or out of
    /// it, is a picture over the pipeline's bound; the first stage is
    /// named. Failing, not dropping: a stream of such pictures would make
    /// the decoder pay for each one, and it will not get smaller by itself.
    fn check_picture_size(&mut self, item: &Media) -> Result<()> {
        let (Media::Frame(frame), (max_width, max_height)) = (item, self.max_picture) else {
            return Ok(());
        };
        let (width, height) = (frame.width(), frame.height());
        if fits_bound(width, height, max_width, max_height) {
            return Ok(());
        }
        let failure = StageFailure::PictureSize {
            width,
            height,
            max_width,
            max_height,
        };
        Err(self.fail(0, failure))
    }

    /// Charges what stage `index` just produced to the in-flight budget, or
    /// fails the session: the outputs of one call are all in the host at
    /// once, and a stage could make them without end.
    fn admit_in_flight(&mut self, index: usize, produced: &[Media]) -> Result<()> {
        let bytes: usize = produced.iter().map(media_bytes).sum();
        let total = self.in_flight_bytes.saturating_add(bytes);
        if total > self.in_flight_limit {
            return Err(self.fail(index, StageFailure::InFlightLimit(self.in_flight_limit)));
        }
        self.in_flight_bytes = total;
        self.stats.peak_in_flight_bytes = self.stats.peak_in_flight_bytes.max(total);
        Ok(())
    }

    /// After a push: frames stage `index` took in but neither passed on,
    /// reported as dropped, nor still holds are counted as dropped.
    fn check_accounting(&mut self, index: usize) {
        let held = self.stages[index].frames_held();
        self.count_unreported(index, held);
    }

    /// After a flush nothing more will come out of the stage: every input
    /// not passed on or reported is counted as dropped, held or not.
    fn check_flushed_accounting(&mut self, index: usize) {
        self.count_unreported(index, 0);
    }

    fn count_unreported(&mut self, index: usize, held: u64) {
        if !self.takes_frames[index] {
            // A decoder takes packets and gives pictures: the counts are of
            // different things and cannot be compared.
            return;
        }
        let stats = &mut self.stats.stages[index];
        let accounted = stats.outputs + stats.dropped_total() + held;
        let Some(missing) = stats.inputs.checked_sub(accounted).filter(|n| *n > 0) else {
            return;
        };
        if !stats.dropped.contains_key(UNREPORTED_DROP) {
            log::warn!(
                "session {}: stage {} consumed frames without passing them on or reporting them dropped",
                self.id,
                stats.name
            );
        }
        *stats.dropped.entry(UNREPORTED_DROP.to_owned()).or_default() += missing;
    }

    /// Records one call's latency and counts, or fails the session.
    fn account(
        &mut self,
        index: usize,
        started: Instant,
        inputs: u64,
        result: std::result::Result<CallOutput, StageFailure>,
    ) -> Result<Vec<Media>> {
        let peak = self.stages[index].host_bytes().1;
        let stats = &mut self.stats.stages[index];
        stats.latency.record(started.elapsed());
        stats.inputs += inputs;
        stats.peak_host_bytes = stats.peak_host_bytes.max(peak);
        match result {
            Ok(output) => {
                stats.outputs += output.media.len() as u64;
                for dropped in output.dropped {
                    stats.count_drop(&dropped.reason);
                }
                for notice in output.notices {
                    self.notice(index, notice)?;
                }
                Ok(output.media)
            }
            Err(failure) => Err(self.fail(index, failure)),
        }
    }

    /// Acts on a stage's notice: a stage that needs a keyframe gets one
    /// asked of the stages before it (an encoder there makes one), and the
    /// owner is told, to ask the sender.
    fn notice(&mut self, index: usize, notice: Notice) -> Result<()> {
        match notice {
            Notice::KeyframeNeeded => {
                self.control_range(0..index, Control::RequestKeyframe)?;
                self.push_event(SessionEvent::KeyframeNeeded {
                    stage: self.stats.stages[index].name.clone(),
                });
            }
        }
        Ok(())
    }

    /// Queues an event for the owner; a repeat of the newest one is merged,
    /// and past [`MAX_PENDING_EVENTS`] the oldest is discarded, so an owner
    /// that never looks cannot make the session grow.
    fn push_event(&mut self, event: SessionEvent) {
        if self.events.back() == Some(&event) {
            return;
        }
        if self.events.len() == MAX_PENDING_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Fails the session because of stage `index`.
    fn fail(&mut self, index: usize, failure: StageFailure) -> Error {
        let stage = self.stats.stages[index].name.clone();
        self.failure = Some((stage.clone(), failure.clone()));
        let error = Error::StageFailed { stage, failure };
        log::debug!("session {}: {error}", self.id);
        error
    }
}

/// Host bytes an item stands for while it is between stages.
fn media_bytes(media: &Media) -> usize {
    match media {
        Media::Frame(frame) => frame.held_bytes(),
        Media::Packet(packet) => packet.data.len(),
    }
}

/// Whether a `width` x `height` picture fits a pipeline's bound. With both
/// sides bounded it may fit either way round: the bound is on what a
/// picture costs, and a phone held upright sends 1080x1920 where its
/// camera held level sends 1920x1080.
/// The parameters of the stage at `index`, with the pipeline's picture
/// bound given to the first stage when it takes one (it lists `max-width`
/// or `max-height`, as `decode-h264` does): the decoder can then refuse an
/// over-size stream at its parameter sets instead of paying for one
/// decode before the host's check after it. A bound the pipeline names
/// for the stage itself stays when it is tighter. Nothing is asked of a
/// stage that does not list the parameter.
fn bounded_params(
    stage: &ConfiguredStage,
    index: usize,
    (max_width, max_height): (Option<u32>, Option<u32>),
) -> std::borrow::Cow<'_, [(String, String)]> {
    let declared = |name: &str| {
        stage
            .loaded
            .description()
            .params
            .iter()
            .any(|spec| spec.name == name)
    };
    let sides = [("max-width", max_width), ("max-height", max_height)];
    if index != 0
        || !sides
            .iter()
            .any(|(name, max)| max.is_some() && declared(name))
    {
        return std::borrow::Cow::Borrowed(&stage.params);
    }
    let mut params = stage.params.clone();
    for (name, max) in sides {
        let Some(max) = max.filter(|_| declared(name)) else {
            continue;
        };
        match params.iter_mut().find(|(key, _)| key == name) {
            Some((_, value)) => {
                if value.trim().parse::<u32>().is_ok_and(|given| given > max) {
                    *value = max.to_string();
                }
            }
            None => params.push((name.to_owned(), max.to_string())),
        }
    }
    std::borrow::Cow::Owned(params)
}

fn fits_bound(width: u32, height: u32, max_width: Option<u32>, max_height: Option<u32>) -> bool {
    let within = |side: u32, max: Option<u32>| max.is_none_or(|max| side <= max);
    let as_is = within(width, max_width) && within(height, max_height);
    let turned = max_width.is_some()
        && max_height.is_some()
        && within(height, max_width)
        && within(width, max_height);
    as_is || turned
}

#[cfg(test)]
mod tests {
    use super::fits_bound;

    #[test]
    fn a_picture_fits_its_bound_either_way_round() {
        let hd = (Some(1920), Some(1080));
        assert!(fits_bound(1920, 1080, hd.0, hd.1));
        assert!(fits_bound(1080, 1920, hd.0, hd.1), "a phone held upright");
        assert!(fits_bound(1280, 720, hd.0, hd.1));
        assert!(!fits_bound(4096, 2304, hd.0, hd.1));
        assert!(!fits_bound(2304, 4096, hd.0, hd.1));
        assert!(!fits_bound(1921, 1080, hd.0, hd.1));
        assert!(!fits_bound(1920, 1920, hd.0, hd.1));
        // One side bounded: that side only, as it is.
        assert!(fits_bound(720, 1920, Some(1280), None));
        assert!(!fits_bound(1920, 720, Some(1280), None));
        assert!(fits_bound(16384, 16384, None, None));
    }
}
