//! One stream through a pipeline: per-session stage instances, media
//! pushed through them in order, and the accounting.

use std::sync::Arc;
use std::time::Instant;

use crate::engine::Engine;
use crate::error::{Error, Result, StageFailure};
use crate::media::Media;
use crate::pipeline::PipelineStage;
use crate::stage::{CallOutput, StageInstance};
use crate::stats::{SessionStats, StageStats};

/// A running stream. Owns one instance of every stage; no other session
/// can reach their memory. If a stage fails, the session fails: later calls
/// return [`Error::SessionFailed`], while the engine and other sessions go on.
pub struct Session {
    id: u64,
    stages: Vec<StageInstance>,
    stats: SessionStats,
    failure: Option<String>,
}

impl Session {
    pub(crate) fn start(engine: &Engine, stages: &[PipelineStage], id: u64) -> Result<Session> {
        let mut instances = Vec::with_capacity(stages.len());
        let mut stats = SessionStats::default();
        for stage in stages {
            let label: Arc<str> = Arc::from(format!("session {id} {}", stage.loaded.name()));
            instances.push(stage.loaded.instantiate(engine, label, &stage.params)?);
            stats.stages.push(StageStats {
                name: stage.loaded.name().to_owned(),
                ..StageStats::default()
            });
        }
        Ok(Session {
            id,
            stages: instances,
            stats,
            failure: None,
        })
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
        self.check_alive()?;
        let started = Instant::now();
        self.stats.inputs += 1;
        watch(0, &input);
        let outputs = self.run_from(0, vec![input], watch)?;
        self.count_outputs(&outputs, started);
        Ok(outputs)
    }

    /// [`Session::flush`] with a watcher, as in [`Session::push_watched`].
    pub fn flush_watched(&mut self, watch: &mut dyn FnMut(usize, &Media)) -> Result<Vec<Media>> {
        self.check_alive()?;
        let flush_started = Instant::now();
        let mut outputs = Vec::new();
        for index in 0..self.stages.len() {
            let started = Instant::now();
            let result = self.stages[index].flush();
            let flushed = self.account(index, started, 0, result)?;
            flushed.iter().for_each(|item| watch(index + 1, item));
            outputs.extend(self.run_from(index + 1, flushed, watch)?);
        }
        self.count_outputs(&outputs, flush_started);
        Ok(outputs)
    }

    /// Counts what the last stage let out of a call that began at `started`.
    fn count_outputs(&mut self, outputs: &[Media], started: Instant) {
        self.stats.outputs += outputs.len() as u64;
        let latency = started.elapsed();
        for _ in outputs {
            self.stats.output_latency.record(latency);
        }
    }

    /// Number of stages, so positions run from 0 to `stage_count()`.
    pub fn stage_count(&self) -> usize {
        self.stages.len()
    }

    /// Counts so far.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Why the session failed, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Log lines stages wrote beyond their per-call allowance.
    pub fn suppressed_log_lines(&self) -> u64 {
        self.stages
            .iter()
            .map(StageInstance::suppressed_log_lines)
            .sum()
    }

    fn check_alive(&self) -> Result<()> {
        match &self.failure {
            Some(reason) => Err(Error::SessionFailed(reason.clone())),
            None => Ok(()),
        }
    }

    /// Pushes `items` through the stages from `first` on.
    fn run_from(
        &mut self,
        first: usize,
        mut items: Vec<Media>,
        watch: &mut dyn FnMut(usize, &Media),
    ) -> Result<Vec<Media>> {
        for index in first..self.stages.len() {
            let mut next = Vec::with_capacity(items.len());
            for item in items {
                let started = Instant::now();
                let result = self.stages[index].push(item);
                let produced = self.account(index, started, 1, result)?;
                produced.iter().for_each(|item| watch(index + 1, item));
                next.extend(produced);
            }
            items = next;
        }
        Ok(items)
    }

    /// Records one call's latency and counts, or fails the session.
    fn account(
        &mut self,
        index: usize,
        started: Instant,
        inputs: u64,
        result: std::result::Result<CallOutput, StageFailure>,
    ) -> Result<Vec<Media>> {
        let stats = &mut self.stats.stages[index];
        stats.latency.record(started.elapsed());
        stats.inputs += inputs;
        match result {
            Ok(output) => {
                stats.outputs += output.media.len() as u64;
                for dropped in output.dropped {
                    *stats.dropped.entry(dropped.reason).or_default() += 1;
                }
                Ok(output.media)
            }
            Err(failure) => {
                let error = Error::StageFailed {
                    stage: stats.name.clone(),
                    failure,
                };
                log::debug!("session {}: {error}", self.id);
                self.failure = Some(error.to_string());
                Err(error)
            }
        }
    }
}
