//! The progress bar on a terminal and the before/after snapshot.

use std::io::IsTerminal;
use std::path::PathBuf;

use framechain::run::{Progress, RunObserver};
use framechain::{Frame, Media};
use indicatif::{ProgressBar, ProgressStyle};

use crate::RunArgs;

pub struct Observer {
    bar: Option<ProgressBar>,
    snapshot: Option<Snapshot>,
    inputs_seen: u64,
}

/// The input frame chosen for the snapshot, then the output with its pts.
struct Snapshot {
    path: PathBuf,
    frame_index: u64,
    before: Option<Frame>,
    after: Option<Frame>,
}

impl Observer {
    pub fn new(args: &RunArgs, total: Option<u64>) -> Observer {
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
            before: None,
            after: None,
        });
        Observer {
            bar,
            snapshot,
            inputs_seen: 0,
        }
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
                framechain::io::write_before_after_png(&snapshot.path, before, after)
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

    fn input(&mut self, media: &Media) {
        if let (Some(snapshot), Media::Frame(frame)) = (&mut self.snapshot, media)
            && self.inputs_seen == snapshot.frame_index
        {
            snapshot.before = Some(frame.clone());
        }
        self.inputs_seen += 1;
    }

    fn output(&mut self, media: &Media) {
        if let (Some(snapshot), Media::Frame(frame)) = (&mut self.snapshot, media)
            && snapshot.after.is_none()
            && snapshot.before.as_ref().map(|before| before.pts) == Some(frame.pts)
        {
            snapshot.after = Some(frame.clone());
        }
    }
}
