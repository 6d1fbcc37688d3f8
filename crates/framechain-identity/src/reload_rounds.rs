//! The loop that reads operator files again while a server runs, shared by
//! `serve` (its rooms file, keys and policy) and the centre (its ticket
//! key and rooms file): a round every interval, and one at once on
//! `SIGHUP`, until shutdown ([`Rounds`]); in each round a file is read
//! again only when its [`Stamp`] changed since the version last tried, or
//! always when the round was asked for by the signal ([`WatchedFile`]).
//!
//! ```no_run
//! # async fn example(mut shutdown: tokio::sync::watch::Receiver<bool>) {
//! use framechain_identity::{Rounds, WatchedFile};
//!
//! let mut rooms = WatchedFile::new(std::path::Path::new("rooms.json"));
//! let mut rounds = Rounds::new(std::time::Duration::from_secs(1));
//! while let Some(round) = rounds.next(&mut shutdown).await {
//!     if rooms.changed(round.forced()) {
//!         // read rooms.json again; on a passing failure, rooms.try_again()
//!     }
//! }
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use crate::file_watch::Stamp;

/// What started a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// The interval passed: read what changed.
    Tick,
    /// `SIGHUP`: the operator asks for everything to be read again.
    Hangup,
}

impl Round {
    /// Whether files are read again whether or not they changed.
    pub fn forced(self) -> bool {
        self == Round::Hangup
    }
}

/// The rounds of a reload loop: every interval (a late tick is delayed, not
/// made up for) and at once on `SIGHUP`. Make it inside a tokio runtime.
pub struct Rounds {
    tick: Interval,
    /// `None` when the signal handler could not be installed: rounds still
    /// come by the interval.
    hangup: Option<Signal>,
}

impl Rounds {
    /// Rounds every `every`, the first at once.
    ///
    /// # Panics
    /// Outside a tokio runtime with its timer enabled.
    pub fn new(every: Duration) -> Rounds {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Rounds {
            tick,
            hangup: signal(SignalKind::hangup()).ok(),
        }
    }

    /// Waits for the next round; `None` once `shutdown` changes (or its
    /// sender is gone): the loop ends then.
    pub async fn next(&mut self, shutdown: &mut watch::Receiver<bool>) -> Option<Round> {
        let hangup = async {
            match self.hangup.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.changed() => None,
            _ = self.tick.tick() => Some(Round::Tick),
            Some(()) = hangup => Some(Round::Hangup),
        }
    }
}

/// A file read again when it changes: its path and the [`Stamp`] of the
/// version last tried (loaded or refused, so that a bad file is reported
/// once, not every round). A file that cannot be looked at (gone for a
/// moment while a ConfigMap is swapped) is not a change: what is in force
/// stays.
#[derive(Debug)]
pub struct WatchedFile {
    path: PathBuf,
    tried: Option<Stamp>,
}

impl WatchedFile {
    /// Watches `path`, whose current version counts as tried: call it just
    /// before the file is first read.
    pub fn new(path: &Path) -> WatchedFile {
        WatchedFile {
            path: path.to_owned(),
            tried: Stamp::of(path),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file should be read now: it changed since the version
    /// last tried, or `force` (a `SIGHUP`) and it can be looked at. Makes
    /// the current version the tried one.
    pub fn changed(&mut self, force: bool) -> bool {
        let stamp = Stamp::of(&self.path);
        if stamp.is_none() || (stamp == self.tried && !force) {
            return false;
        }
        self.tried = stamp;
        true
    }

    /// Forgets the version tried, so that the next round reads the file
    /// again (what it held could not all be put in force for a passing
    /// reason, e.g. a database away).
    pub fn try_again(&mut self) {
        self.tried = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_file_is_read_again_when_it_changes_or_when_forced() {
        let dir = std::env::temp_dir().join(format!(
            "framechain-watched-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rooms.json");
        std::fs::write(&path, "[]").unwrap();
        let mut watched = WatchedFile::new(&path);
        assert!(!watched.changed(false), "the version read at start");
        assert!(watched.changed(true), "SIGHUP reads it anyway");
        assert!(!watched.changed(false));
        // A new version by rename, as a ConfigMap or Secret is swapped: a
        // new inode even when size and time agree.
        let swap = dir.join("rooms.json.new");
        std::fs::write(&swap, "[]").unwrap();
        std::fs::rename(&swap, &path).unwrap();
        assert!(watched.changed(false), "a swapped file is a change");
        assert!(!watched.changed(false), "once");
        watched.try_again();
        assert!(watched.changed(false), "tried again after try_again");
        std::fs::remove_file(&path).unwrap();
        assert!(
            !watched.changed(false),
            "a missing file keeps what is in force"
        );
        assert!(!watched.changed(true), "even on SIGHUP");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
