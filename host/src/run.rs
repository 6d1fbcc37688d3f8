//! Driving a session from a reader to a writer: the loop the CLI and the
//! containerd shim share.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::io::{IoError, MediaReader, MediaWriter};
use crate::media::Media;
use crate::session::Session;

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("input: {0}")]
    Input(IoError),
    #[error("output: {0}")]
    Output(IoError),
    #[error(transparent)]
    Pipeline(#[from] Error),
}

/// Where a run is, for progress display.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub inputs: u64,
    pub outputs: u64,
    pub elapsed: Duration,
}

/// Watches a run: sees progress and every item as it passes each
/// position of the chain (0 = input, `i + 1` = output of stage `i`).
pub trait RunObserver {
    fn progress(&mut self, _progress: Progress) {}
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
    let (mut inputs, mut outputs) = (0u64, 0u64);
    let mut write_all = |items: Vec<Media>, written: &mut u64| {
        for item in items {
            writer.write_media(item).map_err(RunError::Output)?;
            *written += 1;
        }
        Ok::<_, RunError>(())
    };
    while let Some(item) = reader.read_media().map_err(RunError::Input)? {
        inputs += 1;
        let produced = session.push_watched(item, &mut |position, media| {
            observer.passing(position, media)
        })?;
        write_all(produced, &mut outputs)?;
        observer.progress(Progress {
            inputs,
            outputs,
            elapsed: started.elapsed(),
        });
    }
    let flushed =
        session.flush_watched(&mut |position, media| observer.passing(position, media))?;
    write_all(flushed, &mut outputs)?;
    writer.finish().map_err(RunError::Output)?;
    let elapsed = started.elapsed();
    observer.progress(Progress {
        inputs,
        outputs,
        elapsed,
    });
    Ok(elapsed)
}

/// What [`run_pipeline`] leaves behind: the session (for its stats) and
/// the wall time of the run.
pub struct Finished {
    pub session: Session,
    pub elapsed: Duration,
}

/// The whole job of a front end: checks that `reader` and `writer` fit the
/// ends of `pipeline`, starts a session and runs the stream through it.
pub fn run_pipeline(
    pipeline: &crate::pipeline::Pipeline,
    reader: &mut dyn MediaReader,
    writer: &mut dyn MediaWriter,
    observer: &mut dyn RunObserver,
) -> Result<Finished, RunError> {
    pipeline.check_ends(&reader.port(), &writer.port())?;
    let mut session = pipeline.start_session()?;
    let elapsed = run_stream(&mut session, reader, writer, observer)?;
    Ok(Finished { session, elapsed })
}
