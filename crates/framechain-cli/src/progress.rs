//! The progress bar on a terminal and the before/after snapshot.

use std::io::IsTerminal;
use std::path::PathBuf;

use framechain::{Frame, Media, Pipeline, Port};
use framechain_tools::run::{Progress, RunObserver};
use indicatif::{ProgressBar, ProgressStyle};

use crate::RunArgs;

pub struct Observer {
    bar: Option<ProgressBar>,
    snapshot: Option<Snapshot>,
}

/// The chosen frame where the chain first carries pictures ("before") and
/// the frame with the same pts where it last does ("after").
struct Snapshot {
    path: PathBuf,
    frame_index: u64,
    /// Chain positions (0 = input, i + 1 = output of stage i) of the
    /// first and last picture-carrying points; `None` if there is none.
    positions: Option<(usize, usize)>,
    frames_seen: u64,
    before: Option<Frame>,
    after: Option<Frame>,
}

/// The first and last chain positions whose media are frames.
fn picture_positions(pipeline: &Pipeline) -> Option<(usize, usize)> {
    let ports = std::iter::once(pipeline.input())
        .chain(pipeline.stages().map(|stage| &stage.description().output));
    let framed: Vec<usize> = ports
        .enumerate()
        .filter(|(_, port)| matches!(port, Port::Frames(_)))
        .map(|(position, _)| position)
        .collect();
    Some((*framed.first()?, *framed.last()?))
}

impl Observer {
    pub fn new(args: &RunArgs, total: Option<u64>, pipeline: &Pipeline) -> Observer {
        let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = match total {
                Some(total) => ProgressBar::new(total),
                None => ProgressBar::new_spinner(),
            };
            let template = if total.is_some() {
                "{bar:40} {pos}/{len} frames  {per_sec}  eta {eta}"
            } else {
                "{spinner} {pos} frames  {per_sec}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        let snapshot = args.snapshot.clone().map(|path| Snapshot {
            path,
            frame_index: args.snapshot_frame,
            positions: picture_positions(pipeline),
            frames_seen: 0,
            before: None,
            after: None,
        });
        Observer { bar, snapshot }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Writes the PNG if a snapshot was asked for; an error if the chosen
    /// frame never came out.
    pub fn write_snapshot(&self) -> Result<(), String> {
        let Some(snapshot) = &self.snapshot else {
            return Ok(());
        };
        match (&snapshot.before, &snapshot.after) {
            (Some(before), Some(after)) => {
                framechain_tools::io::write_before_after_png(&snapshot.path, before, after)
                    .map_err(|error| format!("snapshot: {error}"))
            }
            _ => Err(format!(
                "snapshot: frame {} did not pass through the chain (fewer frames, or dropped)",
                snapshot.frame_index
            )),
        }
    }
}

impl RunObserver for Observer {
    fn progress(&mut self, progress: Progress) {
        if let Some(bar) = &self.bar {
            bar.set_position(progress.inputs);
        }
    }

    fn passing(&mut self, position: usize, media: &Media) {
        let (Some(snapshot), Media::Frame(frame)) = (&mut self.snapshot, media) else {
            return;
        };
        let Some((first, last)) = snapshot.positions else {
            return;
        };
        if position == first {
            if snapshot.frames_seen == snapshot.frame_index {
                snapshot.before = Some(frame.clone());
            }
            snapshot.frames_seen += 1;
        }
        // Checked after "before" so that a chain whose only picture point is
        // one position (frames in, packets out) still pairs the frame with itself.
        if position == last
            && snapshot.after.is_none()
            && snapshot.before.as_ref().map(|before| before.pts) == Some(frame.pts)
        {
            snapshot.after = Some(frame.clone());
        }
    }
}
