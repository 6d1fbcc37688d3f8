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

/// Watches a run: sees progress and each input and output item.
pub trait RunObserver {
    fn progress(&mut self, _progress: Progress) {}
    /// An item about to enter the session.
    fn input(&mut self, _media: &Media) {}
    /// An item that left the session, before it is written.
    fn output(&mut self, _media: &Media) {}
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
    let mut write_all = |items: Vec<Media>, observer: &mut dyn RunObserver, written: &mut u64| {
        for item in items {
            observer.output(&item);
            writer.write_media(item).map_err(RunError::Output)?;
            *written += 1;
        }
        Ok::<_, RunError>(())
    };
    let (mut inputs, mut outputs) = (0u64, 0u64);
    while let Some(item) = reader.read_media().map_err(RunError::Input)? {
        observer.input(&item);
        inputs += 1;
        let produced = session.push(item)?;
        write_all(produced, observer, &mut outputs)?;
        observer.progress(Progress {
            inputs,
            outputs,
            elapsed: started.elapsed(),
        });
    }
    let flushed = session.flush()?;
    write_all(flushed, observer, &mut outputs)?;
    writer.finish().map_err(RunError::Output)?;
    let elapsed = started.elapsed();
    observer.progress(Progress {
        inputs,
        outputs,
        elapsed,
    });
    Ok(elapsed)
}
