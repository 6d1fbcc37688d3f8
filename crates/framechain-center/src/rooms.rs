//! The room object: the same JSON as serve's rooms file and `POST
//! /admin/rooms` body (crates/framechain-serve/src/visit/rooms.rs), plus the
//! optional `labels` a room asks of its pod. Parsed as strictly as serve
//! parses it, so that a room the centre takes is a room every pod takes;
//! only the pipelines are not built here (the pods build them).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::clock::parse_rfc3339;

/// The longest id (a room's, a participant's, a role's, a label's).
pub const MAX_ID: usize = 64;
/// Participants in one room, at most.
pub const MAX_PARTICIPANTS: usize = 16;
/// Rooms one rooms file holds, at most (serve's bound).
pub const MAX_ROOMS_FILE_ROOMS: usize = 4096;
/// The largest rooms file read.
pub const MAX_ROOMS_FILE: u64 = 8 << 20;
/// Labels a room may ask for, at most.
pub const MAX_LABELS: usize = 16;
/// The longest pipeline (launch line) a room may give for a role.
const MAX_PIPELINE_LINE: usize = 2048;

/// A room as the scheduling system declares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSpec {
    /// The room's id, the `ROOM` of `/whip/ROOM`.
    pub room: String,
    /// The patient's id (their tokens' `sub`).
    pub patient: String,
    /// The clinicians' ids.
    pub clinicians: Vec<String>,
    /// Others (an interpreter, a family member), each with a role.
    #[serde(default)]
    pub others: Vec<Other>,
    /// A launch line (or `forward`) per role, where not the default.
    #[serde(default)]
    pub pipelines: BTreeMap<String, String>,
    /// RFC 3339: no offer is taken before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// RFC 3339: no offer is taken after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Labels the room's pod must carry (`{"region": "eu"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A participant who is neither the patient nor a clinician.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Other {
    /// Their id.
    pub id: String,
    /// Their role.
    pub role: String,
}

/// A checked room: its spec and its window in Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Room {
    /// What was declared.
    pub spec: RoomSpec,
    /// `not_before`, Unix seconds.
    pub not_before: Option<i64>,
    /// `not_after`, Unix seconds.
    pub not_after: Option<i64>,
}

/// Why a room (or a rooms file) is refused: one line that quotes no more of
/// the input than an id cut to [`MAX_ID`] characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomProblem {
    /// Not JSON, or not a room object.
    #[error("not a room object: {0}")]
    Json(String),
    /// An id with characters other than letters, digits, `-`, `_`, `.`.
    #[error("{what} {id:?}: use 1 to {MAX_ID} letters, digits, '-', '_' or '.'")]
    BadId {
        /// Which kind of id.
        what: &'static str,
        /// The id, cut and escaped.
        id: String,
    },
    /// Too many participants.
    #[error("room {room}: more than {MAX_PARTICIPANTS} participants")]
    TooManyParticipants {
        /// The room.
        room: String,
    },
    /// One participant twice.
    #[error("room {room}: participant {id} is named twice")]
    ParticipantTwice {
        /// The room.
        room: String,
        /// The participant.
        id: String,
    },
    /// No clinician.
    #[error("room {room}: no clinician")]
    NoClinician {
        /// The room.
        room: String,
    },
    /// A time that is not RFC 3339.
    #[error("room {room}: {field} is not an RFC 3339 time (2026-12-05T12:00:00Z)")]
    BadTime {
        /// The room.
        room: String,
        /// `not_before` or `not_after`.
        field: &'static str,
    },
    /// `not_after` not after `not_before`.
    #[error("room {room}: not_after is not after not_before")]
    EmptyWindow {
        /// The room.
        room: String,
    },
    /// A pipeline for a role nobody has.
    #[error("room {room}: a pipeline for role {role}, which nobody in the room has")]
    PipelineForNobody {
        /// The room.
        room: String,
        /// The role.
        role: String,
    },
    /// An empty or too long pipeline.
    #[error(
        "room {room}: the pipeline of role {role} is empty or longer than {MAX_PIPELINE_LINE} bytes"
    )]
    PipelineLength {
        /// The room.
        room: String,
        /// The role.
        role: String,
    },
    /// Too many labels.
    #[error("room {room}: more than {MAX_LABELS} labels")]
    TooManyLabels {
        /// The room.
        room: String,
    },
    /// A room twice in one file.
    #[error("room {room} is given twice")]
    RoomTwice {
        /// The room.
        room: String,
    },
    /// More rooms than one file may hold.
    #[error("more than {MAX_ROOMS_FILE_ROOMS} rooms")]
    TooManyRooms,
}

/// An id as every id here must be (it is a path segment of the routes).
pub fn id_is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_id(what: &'static str, id: &str) -> Result<(), RoomProblem> {
    if id_is_valid(id) {
        Ok(())
    } else {
        Err(RoomProblem::BadId {
            what,
            id: framechain_text::untrusted(&id.chars().take(MAX_ID).collect::<String>(), MAX_ID),
        })
    }
}

fn json_problem(error: &serde_json::Error) -> RoomProblem {
    RoomProblem::Json(framechain_text::untrusted(&error.to_string(), 160))
}

impl Room {
    /// One room object (the admin API's body).
    ///
    /// # Errors
    /// The first [`RoomProblem`] found.
    pub fn parse(bytes: &[u8]) -> Result<Room, RoomProblem> {
        let spec: RoomSpec = serde_json::from_slice(bytes).map_err(|e| json_problem(&e))?;
        Room::check(spec)
    }

    /// A rooms file: a JSON list of room objects, no room twice.
    ///
    /// # Errors
    /// The first [`RoomProblem`] found.
    pub fn parse_list(bytes: &[u8]) -> Result<Vec<Room>, RoomProblem> {
        let values: Vec<serde_json::Value> =
            serde_json::from_slice(bytes).map_err(|e| json_problem(&e))?;
        if values.len() > MAX_ROOMS_FILE_ROOMS {
            return Err(RoomProblem::TooManyRooms);
        }
        let mut names = HashSet::new();
        let mut rooms = Vec::with_capacity(values.len());
        for value in values {
            let spec: RoomSpec = serde_json::from_value(value).map_err(|e| json_problem(&e))?;
            let room = Room::check(spec)?;
            if !names.insert(room.spec.room.clone()) {
                return Err(RoomProblem::RoomTwice {
                    room: room.spec.room,
                });
            }
            rooms.push(room);
        }
        Ok(rooms)
    }

    /// Checks a spec already parsed (one read back from PostgreSQL, too).
    ///
    /// # Errors
    /// The first [`RoomProblem`] found.
    pub fn check(spec: RoomSpec) -> Result<Room, RoomProblem> {
        check_id("room", &spec.room)?;
        let room = spec.room.clone();
        if spec.clinicians.is_empty() {
            return Err(RoomProblem::NoClinician { room });
        }
        if 1 + spec.clinicians.len() + spec.others.len() > MAX_PARTICIPANTS {
            return Err(RoomProblem::TooManyParticipants { room });
        }
        let mut ids = HashSet::new();
        let participants = std::iter::once(&spec.patient)
            .chain(&spec.clinicians)
            .chain(spec.others.iter().map(|other| &other.id));
        for id in participants {
            check_id("participant", id)?;
            if !ids.insert(id.as_str()) {
                return Err(RoomProblem::ParticipantTwice {
                    room,
                    id: id.clone(),
                });
            }
        }
        for other in &spec.others {
            check_id("role", &other.role)?;
        }
        for (role, line) in &spec.pipelines {
            check_id("role", role)?;
            let someone = role == "patient"
                || role == "clinician"
                || spec.others.iter().any(|other| &other.role == role);
            if !someone {
                return Err(RoomProblem::PipelineForNobody {
                    room,
                    role: role.clone(),
                });
            }
            if line.trim().is_empty() || line.len() > MAX_PIPELINE_LINE {
                return Err(RoomProblem::PipelineLength {
                    room,
                    role: role.clone(),
                });
            }
        }
        if spec.labels.len() > MAX_LABELS {
            return Err(RoomProblem::TooManyLabels { room });
        }
        for (name, value) in &spec.labels {
            check_id("label", name)?;
            check_id("label value", value)?;
        }
        let time = |field: &'static str, value: &Option<String>| match value {
            None => Ok(None),
            Some(text) => parse_rfc3339(text).map(Some).ok_or(RoomProblem::BadTime {
                room: room.clone(),
                field,
            }),
        };
        let not_before = time("not_before", &spec.not_before)?;
        let not_after = time("not_after", &spec.not_after)?;
        if let (Some(from), Some(to)) = (not_before, not_after)
            && to <= from
        {
            return Err(RoomProblem::EmptyWindow { room });
        }
        Ok(Room {
            spec,
            not_before,
            not_after,
        })
    }

    /// The role `id` has in this room, or `None` when the room does not
    /// name them.
    pub fn role_of(&self, id: &str) -> Option<&str> {
        if self.spec.patient == id {
            Some("patient")
        } else if self.spec.clinicians.iter().any(|c| c == id) {
            Some("clinician")
        } else {
            self.spec
                .others
                .iter()
                .find(|other| other.id == id)
                .map(|other| other.role.as_str())
        }
    }

    /// Whether offers are taken at `now` (Unix seconds).
    pub fn open_at(&self, now: i64) -> bool {
        self.not_before.is_none_or(|from| now >= from) && self.not_after.is_none_or(|to| now < to)
    }

    /// The room as the JSON pods read from `framechain:rooms`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.spec).expect("a room serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_parse_as_serve_parses_them_with_labels() {
        let room = Room::parse(
            br#"{"room": "v1", "patient": "p-1", "clinicians": ["d-1"], "labels": {"region": "eu"},
                 "not_before": "2026-12-05T12:00:00Z", "not_after": "2026-12-05T13:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(room.role_of("d-1"), Some("clinician"));
        assert!(room.open_at(1_796_472_000));
        assert!(!room.open_at(1_796_472_000 + 3600));
        let again = Room::parse(room.to_json().as_bytes()).unwrap();
        assert_eq!(again, room);
        // Without labels the JSON is exactly serve's room object.
        let plain = Room::parse(br#"{"room": "v2", "patient": "p", "clinicians": ["d"]}"#).unwrap();
        assert!(!plain.to_json().contains("labels"));
        for (json, expected) in [
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "x": 1}"#,
                "unknown field",
            ),
            (
                r#"{"room": "v/1", "patient": "p", "clinicians": ["d"]}"#,
                "room \"v/1\"",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": []}"#,
                "no clinician",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "labels": {"a b": "x"}}"#,
                "label \"a b\"",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "not_after": "soon"}"#,
                "RFC 3339",
            ),
        ] {
            let line = Room::parse(json.as_bytes()).unwrap_err().to_string();
            assert!(line.contains(expected), "{json}: {line}");
        }
    }
}
