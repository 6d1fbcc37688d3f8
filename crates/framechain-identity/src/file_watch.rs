//! Whether a file given on the command line changed since it was read:
//! its inode (a Kubernetes ConfigMap or Secret is updated by swapping a
//! symbolic link, which gives a new inode), its size and its modification
//! time, looked at no more often than once per interval so that a request
//! costs no system call.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What identifies one version of a file. The centre watches its own
/// files (`--ticket-key`, `--rooms`) with it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified_s: i64,
    modified_ns: i64,
}

impl Stamp {
    /// The stamp of the file `path` names now (through symbolic links), or
    /// `None` when it cannot be looked at.
    pub fn of(path: &Path) -> Option<Stamp> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Stamp {
            device: metadata.dev(),
            inode: metadata.ino(),
            len: metadata.size(),
            modified_s: metadata.mtime(),
            modified_ns: metadata.mtime_nsec(),
        })
    }
}

/// One watched file: the stamp of the version last tried (loaded or
/// refused, so that a bad file is reported once, not every interval).
pub(crate) struct Watch {
    path: PathBuf,
    interval: Duration,
    state: Mutex<WatchState>,
}

struct WatchState {
    tried: Option<Stamp>,
    last_look: Option<Instant>,
}

impl Watch {
    /// Watches `path`, whose version `loaded` was just read.
    pub(crate) fn new(path: &Path, loaded: Option<Stamp>, interval: Duration) -> Watch {
        Watch {
            path: path.to_owned(),
            interval,
            state: Mutex::new(WatchState {
                tried: loaded,
                last_look: Some(Instant::now()),
            }),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file's new stamp when it is time to look and it changed since
    /// the version last tried (which this call makes the tried one).
    pub(crate) fn changed(&self, now: Instant) -> Option<Stamp> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(last) = state.last_look
            && now.saturating_duration_since(last) < self.interval
        {
            return None;
        }
        state.last_look = Some(now);
        let stamp = Stamp::of(&self.path)?;
        if state.tried == Some(stamp) {
            return None;
        }
        state.tried = Some(stamp);
        Some(stamp)
    }

    /// Marks the file's current version as tried (after a reload asked
    /// for by a signal), so that the next look does not load it again.
    pub(crate) fn mark_tried(&self, stamp: Option<Stamp>) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.tried = stamp;
    }
}
