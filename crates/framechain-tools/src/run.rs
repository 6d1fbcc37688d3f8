//! Driving a session from a reader to a writer: the loop the CLI and the
//! containerd shim share.

use std::time::{Duration, Instant};

use crate::io::{IoError, MediaReader, MediaWriter};
use framechain::{Error, Media, Pipeline, Session};

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input could not be read or is not what its format says
    /// (truncated, a bad header).
    #[error("input: {0}")]
    Input(IoError),
    /// The output could not be written (disk full, a closed pipe).
    #[error("output: {0}")]
    Output(IoError),
    /// The pipeline failed: the ends do not fit the chain, or a stage
    /// failed or broke a limit.
    #[error(transparent)]
    Pipeline(#[from] Error),
    /// Input went in and nothing at all came out: almost always an input
    /// the first stage could not use (e.g. bytes that are not H.264).
    #[error("no output: {inputs} inputs went in and nothing came out ({reason})")]
    NoOutput {
        /// Items read from the input and pushed into the session.
        inputs: u64,
        /// What the stages said: their drops, or which stage gave nothing.
        reason: String,
    },
}

/// Where a run is, for progress display.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Items read from the input and pushed so far.
    pub inputs: u64,
    /// Items written to the output so far.
    pub outputs: u64,
    /// Wall time since the run started.
    pub elapsed: Duration,
}

/// Watches a run: sees progress and every item as it passes each
/// position of the chain (0 = input, `i + 1` = output of stage `i`).
pub trait RunObserver {
    /// Called after every input item is through the chain, and once at
    /// the end: for a progress bar.
    fn progress(&mut self, _progress: Progress) {}
    /// Called for every item at every position of the chain, before it
    /// moves on: for a snapshot of one frame before and after the stages.
    fn passing(&mut self, _position: usize, _media: &Media) {}
}

/// An observer that watches nothing.
pub struct Unobserved;
impl RunObserver for Unobserved {}

/// Reads everything from `reader`, pushes it through `session`, flushes, and
/// writes what comes out. Returns the wall time taken.
pub fn run_stream(
    session: &mut Session,
    reader: &mut dyn MediaReader,
    writer: &mut dyn MediaWriter,
    observer: &mut dyn RunObserver,
) -> Result<Duration, RunError> {
    let started = Instant::now();
    let mut inputs = 0u64;
    // Outputs are written as the last stage lets each one out; the first
    // write error stops the run once the current push returns.
    let mut sink = Sink {
        writer,
        written: 0,
        error: None,
    };
    while let Some(item) = reader.read_media().map_err(RunError::Input)? {
        inputs += 1;
        session.push_into(
            item,
            &mut |position, media| observer.passing(position, media),
            &mut |media| sink.write(media),
        )?;
        sink.check()?;
        observer.progress(Progress {
            inputs,
            outputs: sink.written,
            elapsed: started.elapsed(),
        });
    }
    session.flush_into(
        &mut |position, media| observer.passing(position, media),
        &mut |media| sink.write(media),
    )?;
    sink.check()?;
    let (writer, outputs) = (sink.writer, sink.written);
    if inputs > 0 && outputs == 0 {
        return Err(RunError::NoOutput {
            inputs,
            reason: why_nothing(session),
        });
    }
    writer.finish().map_err(RunError::Output)?;
    let elapsed = started.elapsed();
    observer.progress(Progress {
        inputs,
        outputs,
        elapsed,
    });
    Ok(elapsed)
}

/// The writer end of a run, counting what it wrote and keeping the first
/// write error.
struct Sink<'a> {
    writer: &'a mut dyn MediaWriter,
    written: u64,
    error: Option<IoError>,
}

impl Sink<'_> {
    fn write(&mut self, media: Media) {
        if self.error.is_none() {
            match self.writer.write_media(media) {
                Ok(()) => self.written += 1,
                Err(error) => self.error = Some(error),
            }
        }
    }

    fn check(&mut self) -> Result<(), RunError> {
        self.error
            .take()
            .map_or(Ok(()), |error| Err(RunError::Output(error)))
    }
}

/// What the stages say about a run with no output: their drops, or the
/// first stage that let nothing out.
fn why_nothing(session: &Session) -> String {
    let dropped = session.stats().dropped();
    if !dropped.is_empty() {
        let reasons: Vec<String> = dropped
            .iter()
            .take(3)
            .map(|(reason, n)| format!("{n} dropped by {reason}"))
            .collect();
        return reasons.join(", ");
    }
    match session
        .stats()
        .stages
        .iter()
        .find(|stage| stage.outputs == 0)
    {
        Some(stage) => format!("{} gave nothing and reported no drops", stage.name),
        None => "the stages gave nothing".to_owned(),
    }
}

/// What [`run_pipeline`] leaves behind: the session (for its stats) and
/// the wall time of the run.
pub struct Finished {
    /// The finished session: its stats and suppressed log line count.
    pub session: Session,
    /// Wall time from the first read to the last write.
    pub elapsed: Duration,
}

/// The whole job of a front end: checks that `reader` and `writer` fit the
/// ends of `pipeline`, starts a session and runs the stream through it.
pub fn run_pipeline(
    pipeline: &Pipeline,
    reader: &mut dyn MediaReader,
    writer: &mut dyn MediaWriter,
    observer: &mut dyn RunObserver,
) -> Result<Finished, RunError> {
    pipeline.check_ends(&reader.port(), &writer.port())?;
    let mut session = pipeline.start_session()?;
    let elapsed = run_stream(&mut session, reader, writer, observer)?;
    Ok(Finished { session, elapsed })
}
