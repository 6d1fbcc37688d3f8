//! The rooms the server knows, from the rooms file and from the admin
//! API, with each role's pipeline built when the room is added.
//!
//! How the two sources combine: the file is the scheduling system's list,
//! the API its changes in between. A reload of the file sets every room
//! the file names (replacing an API room of the same name) and removes the
//! file's rooms it no longer names; rooms added by the API live until they
//! are deleted or the file names them. `POST /admin/rooms` replaces a room
//! whatever its source, and `DELETE` removes it (a file room comes back
//! when the file changes and still names it).
//!
//! Every change says which calls must end ([`EndCalls`]): all of a room's
//! when it is removed or its window closes, a participant's when a
//! replaced room no longer names them. The caller hands them to the media
//! loop.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use framechain::{ChainSpec, Pipeline};

use super::rooms::{FORWARD, MAX_ROOMS, PATIENT, Room, RoomRefused};

/// What a role's video runs through.
#[derive(Clone)]
pub(crate) enum RolePipeline {
    /// The server's `--pipeline` (it follows stage swaps).
    Default,
    /// Forwarded as sent, no live session.
    Forward,
    /// The room's own chain for this role.
    Chain(Arc<Pipeline>),
}

/// A room with its pipelines built.
pub(crate) struct RoomEntry {
    pub room: Room,
    /// From the rooms file (else from the API).
    from_file: bool,
    /// Each role the room gives a pipeline for (others: see
    /// [`RoomEntry::pipeline_for`]).
    pipelines: HashMap<String, RolePipeline>,
}

impl RoomEntry {
    /// What the video of a participant of `role` runs: the room's
    /// pipeline for the role; without one, the patient's runs the default
    /// pipeline and everybody else's is forwarded.
    pub(crate) fn pipeline_for(&self, role: &str) -> RolePipeline {
        match self.pipelines.get(role) {
            Some(pipeline) => pipeline.clone(),
            None if role == PATIENT => RolePipeline::Default,
            None => RolePipeline::Forward,
        }
    }
}

/// Calls to end: `participants` of `room` (all of them when `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndCalls {
    pub room: String,
    pub participants: Option<Vec<String>>,
    pub reason: &'static str,
}

/// Builds a room's pipelines like the server's own: H.264 in and out, a
/// leading decoder aligned to access units, the server's picture bound.
pub(crate) struct PipelineBuilder {
    /// The server's pipeline, whose engine and picture bound room
    /// pipelines share.
    pub base: Arc<Pipeline>,
}

impl PipelineBuilder {
    fn build(&self, line: &str) -> Result<Arc<Pipeline>, String> {
        let mut chain = ChainSpec::parse_launch(line).map_err(|error| error.to_string())?;
        crate::align_leading_decoder(&mut chain);
        let pipeline = Pipeline::build(self.base.engine(), &chain).map_err(|e| e.to_string())?;
        crate::check_pipeline(&pipeline).map_err(|error| error.to_string())?;
        let (width, height) = self.base.max_picture();
        Ok(Arc::new(pipeline.with_max_picture(width, height)))
    }
}

/// A room checked and its pipelines built, ready to go in.
pub(crate) struct Prepared(RoomEntry);

struct State {
    rooms: HashMap<String, Arc<RoomEntry>>,
    /// Rooms whose window has closed and whose calls were ended for it.
    closed: HashSet<String>,
}

/// Every room, shared by the HTTP handlers and the rooms watcher.
pub(crate) struct Registry {
    state: Mutex<State>,
    builder: PipelineBuilder,
    /// The `--stream` names, which no room may take.
    stream_names: HashSet<String>,
}

impl Registry {
    pub(crate) fn new(builder: PipelineBuilder, stream_names: HashSet<String>) -> Registry {
        Registry {
            state: Mutex::new(State {
                rooms: HashMap::new(),
                closed: HashSet::new(),
            }),
            builder,
            stream_names,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The room named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<RoomEntry>> {
        self.state().rooms.get(name).cloned()
    }

    /// Rooms known now.
    pub(crate) fn len(&self) -> usize {
        self.state().rooms.len()
    }

    /// Checks `room` against the streams and builds its pipelines (slow:
    /// stages are compiled; call it off the network threads). A pipeline
    /// used by a room already known is shared, not built again.
    pub(crate) fn prepare(&self, room: Room, from_file: bool) -> Result<Prepared, RoomRefused> {
        let name = room.spec.room.clone();
        if self.stream_names.contains(&name) {
            return Err(RoomRefused::StreamName { room: name });
        }
        let known: HashMap<String, Arc<Pipeline>> = {
            let state = self.state();
            state
                .rooms
                .values()
                .flat_map(|entry| {
                    entry.room.spec.pipelines.iter().filter_map(|(role, line)| {
                        match entry.pipelines.get(role) {
                            Some(RolePipeline::Chain(pipeline)) => {
                                Some((line.clone(), pipeline.clone()))
                            }
                            _ => None,
                        }
                    })
                })
                .collect()
        };
        let mut pipelines = HashMap::new();
        for (role, line) in &room.spec.pipelines {
            let pipeline = if line.trim() == FORWARD {
                RolePipeline::Forward
            } else if let Some(pipeline) = known.get(line) {
                RolePipeline::Chain(pipeline.clone())
            } else {
                let pipeline =
                    self.builder
                        .build(line)
                        .map_err(|reason| RoomRefused::Pipeline {
                            room: name.clone(),
                            role: role.clone(),
                            reason: framechain::text::untrusted(&reason, 300).to_string(),
                        })?;
                RolePipeline::Chain(pipeline)
            };
            pipelines.insert(role.clone(), pipeline);
        }
        Ok(Prepared(RoomEntry {
            room,
            from_file,
            pipelines,
        }))
    }

    /// Adds or replaces a room (the API's `POST`): `true` when it is new.
    /// A replaced room's calls go on, but those of participants it no
    /// longer names end, and all end if its window is now closed at `now`.
    pub(crate) fn put(
        &self,
        prepared: Prepared,
        now: i64,
    ) -> Result<(bool, Vec<EndCalls>), RoomRefused> {
        let mut state = self.state();
        let name = prepared.0.room.spec.room.clone();
        if !state.rooms.contains_key(&name) && state.rooms.len() >= MAX_ROOMS {
            return Err(RoomRefused::TooManyRooms);
        }
        let mut ends = Vec::new();
        let created = put_entry(&mut state, prepared.0, now, &mut ends);
        Ok((created, ends))
    }

    /// Removes a room (the API's `DELETE`): its calls end. `false` when it
    /// is not known.
    pub(crate) fn delete(&self, name: &str) -> Option<EndCalls> {
        let mut state = self.state();
        state.closed.remove(name);
        state.rooms.remove(name).map(|_| EndCalls {
            room: name.to_owned(),
            participants: None,
            reason: "room deleted",
        })
    }

    /// The rooms file's rooms, read again: they replace the file's rooms
    /// of before (and API rooms of the same names).
    pub(crate) fn replace_file_rooms(
        &self,
        rooms: Vec<Prepared>,
        now: i64,
    ) -> Result<Vec<EndCalls>, RoomRefused> {
        self.replace_listed(rooms, now, "room removed from the rooms file")
    }

    /// The rooms the centre placed on this pod, read again: they replace
    /// the rooms of before as a set (with `--center` every room is the
    /// centre's: the rooms file and the admin API are off). A room no
    /// longer placed here has its calls ended, and its clients, coming
    /// back, are redirected to the centre.
    pub(crate) fn replace_centre_rooms(
        &self,
        rooms: Vec<Prepared>,
        now: i64,
    ) -> Result<Vec<EndCalls>, RoomRefused> {
        self.replace_listed(rooms, now, "room no longer placed on this pod")
    }

    fn replace_listed(
        &self,
        rooms: Vec<Prepared>,
        now: i64,
        gone_reason: &'static str,
    ) -> Result<Vec<EndCalls>, RoomRefused> {
        let mut state = self.state();
        let named: HashSet<String> = rooms.iter().map(|p| p.0.room.spec.room.clone()).collect();
        let api_rooms = state
            .rooms
            .iter()
            .filter(|(name, entry)| !entry.from_file && !named.contains(*name))
            .count();
        if named.len() + api_rooms > MAX_ROOMS {
            return Err(RoomRefused::TooManyRooms);
        }
        let mut ends = Vec::new();
        let gone: Vec<String> = state
            .rooms
            .iter()
            .filter(|(name, entry)| entry.from_file && !named.contains(*name))
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            state.rooms.remove(&name);
            state.closed.remove(&name);
            ends.push(EndCalls {
                room: name,
                participants: None,
                reason: gone_reason,
            });
        }
        for prepared in rooms {
            put_entry(&mut state, prepared.0, now, &mut ends);
        }
        Ok(ends)
    }

    /// Rooms whose window closed by `now` (Unix seconds) and whose calls
    /// have not been ended for it yet.
    pub(crate) fn close_windows(&self, now: i64) -> Vec<EndCalls> {
        let mut state = self.state();
        let closing: Vec<String> = state
            .rooms
            .iter()
            .filter(|(name, entry)| {
                entry.room.not_after.is_some_and(|to| now >= to) && !state.closed.contains(*name)
            })
            .map(|(name, _)| name.clone())
            .collect();
        closing
            .into_iter()
            .map(|name| {
                state.closed.insert(name.clone());
                EndCalls {
                    room: name,
                    participants: None,
                    reason: "room window closed",
                }
            })
            .collect()
    }
}

/// Puts `entry` in, noting the calls a replacement ends; `true` when new.
fn put_entry(state: &mut State, entry: RoomEntry, now: i64, ends: &mut Vec<EndCalls>) -> bool {
    let name = entry.room.spec.room.clone();
    let keep: HashSet<&str> = entry.room.participants().collect();
    let old = state.rooms.get(&name).cloned();
    if let Some(old) = &old {
        let dropped: Vec<String> = old
            .room
            .participants()
            .filter(|id| !keep.contains(id))
            .map(str::to_owned)
            .collect();
        if !dropped.is_empty() {
            ends.push(EndCalls {
                room: name.clone(),
                participants: Some(dropped),
                reason: "participant removed from the room",
            });
        }
    }
    // A new window is judged afresh (by the watcher, at its next look).
    state.closed.remove(&name);
    if old.is_some() && entry.room.not_after.is_some_and(|to| now >= to) {
        state.closed.insert(name.clone());
        ends.push(EndCalls {
            room: name.clone(),
            participants: None,
            reason: "room window closed",
        });
    }
    state.rooms.insert(name, Arc::new(entry));
    old.is_none()
}
