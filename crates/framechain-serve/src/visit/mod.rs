//! Visits: rooms of participants who publish their own camera and watch
//! each other, admitted by the clinic's tokens and policy (docs/visits.md).
//!
//! - `rooms`: what a pod refuses of a room beyond the room object's own
//!   checks (the object and its strict parser are `framechain-rooms`');
//! - `registry`: the rooms known now, from the file and the API, with each
//!   role's pipeline built; what a change ends;
//! - `routes`: `POST /whip/ROOM`, `POST /whep/ROOM/PARTICIPANT`, their
//!   `DELETE`s, and `POST /admin/rooms`, `DELETE /admin/rooms/ROOM`;
//! - `swap_policy`: who may swap a stage when rooms are served: the
//!   caller's token and the policy's `swap_stage` decision, recorded;
//! - `watcher`: the rooms file reloaded when it changes, windows that
//!   close, SIGHUP;
//! - `clock`: RFC 3339 times (`framechain-rooms`').
//!
//! A participant's publication is the call core's stream
//! `ROOM/PARTICIPANT` (a `/` cannot appear in a `--stream` name, so the
//! two never clash); removing a room removes its streams, which ends every
//! call of them at once.

mod registry;
mod rooms;
pub(crate) mod routes;
pub(crate) mod swap_policy;
pub(crate) mod watcher;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use framechain::Pipeline;
use framechain_rooms::clock;

use crate::ServeError;
use crate::identity::{Policy, Verifier, WatchedFile};
pub(crate) use registry::EndCalls;
use registry::{PipelineBuilder, Registry};
use rooms::{MAX_ROOMS_FILE, Room, RoomProblem, RoomRefused};

/// One room object (the admin API's body, a placed room's object).
pub(crate) fn parse_room(bytes: &[u8]) -> Result<Room, RoomProblem> {
    Room::parse(bytes)
}

/// What `--keys`, `--policy`, `--rooms` and `--audience` give.
#[derive(Clone, Debug)]
pub(crate) struct VisitFiles {
    pub keys: PathBuf,
    pub policy: Option<PathBuf>,
    pub rooms: Option<PathBuf>,
    pub audience: String,
}

/// Tokens, policy and rooms, shared by the HTTP handlers and the watcher.
pub(crate) struct Visits {
    pub verifier: Verifier,
    pub policy: Policy,
    pub registry: Registry,
    rooms_file: Option<PathBuf>,
    /// The rooms file and the version of it last read (`None` without
    /// one).
    rooms_watch: Mutex<Option<WatchedFile>>,
}

/// Unix seconds now.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

impl Visits {
    /// Loads the keys, the policy and the rooms file; any of them unusable
    /// is a one-line error naming its file. Room pipelines are built on
    /// `base`'s engine and picture bound.
    pub(crate) fn start(
        files: &VisitFiles,
        base: Arc<Pipeline>,
        stream_names: std::collections::HashSet<String>,
    ) -> Result<Visits, ServeError> {
        let config = |error: crate::identity::IdentityError| ServeError::Config(error.to_string());
        let verifier = Verifier::load(&files.keys, &files.audience).map_err(config)?;
        let policy = match &files.policy {
            Some(path) => Policy::load(path).map_err(config)?,
            None => Policy::default_policy(),
        };
        let visits = Visits {
            verifier,
            policy,
            registry: Registry::new(PipelineBuilder { base }, stream_names),
            rooms_file: files.rooms.clone(),
            // Stamped before the first read, so a change made while it is
            // read is seen at the next round.
            rooms_watch: Mutex::new(files.rooms.as_deref().map(WatchedFile::new)),
        };
        if let Some(path) = &files.rooms {
            let prepared = visits.read_rooms_file(path)?;
            let count = prepared.len();
            visits
                .registry
                .replace_file_rooms(prepared, now_unix())
                .map_err(|problem| ServeError::Config(format!("{}: {problem}", path.display())))?;
            log::info!("{}: {count} room(s)", path.display());
        }
        Ok(visits)
    }

    /// Reads, checks and prepares the rooms file (slow: pipelines are
    /// built).
    fn read_rooms_file(&self, path: &Path) -> Result<Vec<registry::Prepared>, ServeError> {
        let text = crate::config::read_operator_file(path, MAX_ROOMS_FILE)?;
        let in_file =
            |problem: RoomRefused| ServeError::Config(format!("{}: {problem}", path.display()));
        let rooms = Room::parse_list(text.as_bytes()).map_err(|p| in_file(p.into()))?;
        rooms
            .into_iter()
            .map(|room| self.registry.prepare(room, true).map_err(in_file))
            .collect()
    }

    /// Reads the rooms file again when it changed (or `force`, SIGHUP):
    /// the calls its changes end, or `None` when nothing was read. A file
    /// that is not usable keeps the rooms of before and logs one line.
    pub(crate) fn reload_rooms_file(&self, force: bool) -> Option<Vec<EndCalls>> {
        let path = self.rooms_file.as_deref()?;
        let changed = self
            .rooms_watch
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .as_mut()
            .is_some_and(|watched| watched.changed(force));
        if !changed {
            return None;
        }
        let result = self.read_rooms_file(path).and_then(|prepared| {
            let count = prepared.len();
            let ends = self
                .registry
                .replace_file_rooms(prepared, now_unix())
                .map_err(|problem| ServeError::Config(format!("{}: {problem}", path.display())))?;
            log::info!("{}: reloaded, {count} room(s)", path.display());
            Ok(ends)
        });
        match result {
            Ok(ends) => Some(ends),
            Err(error) => {
                log::warn!("{error}; the rooms of before stay");
                None
            }
        }
    }
}
