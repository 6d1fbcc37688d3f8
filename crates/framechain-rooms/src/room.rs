//! The room object, the same in a rooms file (a JSON list) and in the
//! body of `POST /admin/rooms`, at serve and at the centre, parsed
//! strictly: unknown fields, bad ids, too many participants or labels, or a
//! window that ends before it begins are refused with one line that names
//! the room. Pipelines are checked for their length only: a pod builds
//! them, and refuses a room whose pipeline does not build.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::clock::parse_rfc3339;

/// The longest id (a room's, a participant's, a role's, a label's name or
/// value).
pub const MAX_ID: usize = 64;
/// Participants in one room, at most (its patient, clinicians and others).
pub const MAX_PARTICIPANTS: usize = 16;
/// Rooms in one rooms file, at most; serve holds no more than this in all
/// (file and API together).
pub const MAX_ROOMS: usize = 4096;
/// The largest rooms file read: [`MAX_ROOMS`] rooms of about 2 KiB.
pub const MAX_ROOMS_FILE: u64 = 8 << 20;
/// The longest pipeline (launch line) a room may give for a role.
pub const MAX_PIPELINE_LINE: usize = 2048;
/// Labels a room may ask of its pod, at most.
pub const MAX_LABELS: usize = 16;
/// A role's pipeline that forwards the video as sent.
pub const FORWARD: &str = "forward";
/// The patient's role name.
pub const PATIENT: &str = "patient";
/// The clinicians' role name.
pub const CLINICIAN: &str = "clinician";

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
    /// A launch line (or [`FORWARD`]) per role, where not the default.
    #[serde(default)]
    pub pipelines: BTreeMap<String, String>,
    /// RFC 3339: no offer is taken before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// RFC 3339: no offer is taken after, and running calls end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Labels the room's pod must carry (`{"region": "eu"}`): the centre
    /// places by them; a pod takes them and leaves placement to the centre.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A participant who is neither the patient nor a clinician.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Other {
    /// Their id (their tokens' `sub`).
    pub id: String,
    /// Their role (`interpreter`, `family`).
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

/// Why a room (or a rooms file) is refused: one line that quotes no more
/// of the input than an id cut to [`MAX_ID`] characters, escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomProblem {
    /// Not JSON, or not a room object (a serde message, cut to one line).
    #[error("not a room object: {0}")]
    Json(String),
    /// An id with other characters than letters, digits, `-`, `_`, `.`,
    /// empty or too long.
    #[error("{what} {id:?}: use 1 to {MAX_ID} letters, digits, '-', '_' or '.'")]
    BadId {
        /// Which kind of id (`room`, `participant`, `role`, `label`,
        /// `label value`).
        what: &'static str,
        /// The id, cut to [`MAX_ID`] characters and escaped.
        id: String,
    },
    /// More than [`MAX_PARTICIPANTS`] participants.
    #[error("room {room}: more than {MAX_PARTICIPANTS} participants")]
    TooManyParticipants {
        /// The room.
        room: String,
    },
    /// One participant named twice.
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
    /// A pipeline for a role nobody in the room has.
    #[error("room {room}: a pipeline for role {role}, which nobody in the room has")]
    PipelineForNobody {
        /// The room.
        room: String,
        /// The role.
        role: String,
    },
    /// An empty pipeline, or one longer than [`MAX_PIPELINE_LINE`].
    #[error(
        "room {room}: the pipeline of role {role} is empty or longer than {MAX_PIPELINE_LINE} bytes"
    )]
    PipelineLength {
        /// The room.
        room: String,
        /// The role.
        role: String,
    },
    /// More than [`MAX_LABELS`] labels.
    #[error("room {room}: more than {MAX_LABELS} labels")]
    TooManyLabels {
        /// The room.
        room: String,
    },
    /// A room twice in one rooms file.
    #[error("room {room} is given twice")]
    RoomTwice {
        /// The room.
        room: String,
    },
    /// More than [`MAX_ROOMS`] rooms.
    #[error("more than {MAX_ROOMS} rooms")]
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
        let cut: String = id.chars().take(MAX_ID).collect();
        Err(RoomProblem::BadId {
            what,
            id: framechain_text::untrusted(&cut, MAX_ID),
        })
    }
}

/// A serde message cut to one short line (it may quote the input).
fn json_problem(error: &serde_json::Error) -> RoomProblem {
    RoomProblem::Json(framechain_text::untrusted(&error.to_string(), 160))
}

impl Room {
    /// One room object (the admin API's body, a placed room's object).
    ///
    /// # Errors
    /// The first [`RoomProblem`] found.
    pub fn parse(bytes: &[u8]) -> Result<Room, RoomProblem> {
        let spec: RoomSpec = serde_json::from_slice(bytes).map_err(|e| json_problem(&e))?;
        Room::check(spec)
    }

    /// A rooms file: a JSON list of room objects, no room twice, at most
    /// [`MAX_ROOMS`].
    ///
    /// # Errors
    /// The first [`RoomProblem`] found.
    pub fn parse_list(bytes: &[u8]) -> Result<Vec<Room>, RoomProblem> {
        let values: Vec<serde_json::Value> =
            serde_json::from_slice(bytes).map_err(|e| json_problem(&e))?;
        if values.len() > MAX_ROOMS {
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

    /// Checks a spec already parsed (one read back from a database, too).
    ///
    /// # Errors
    /// The first [`RoomProblem`] found.
    pub fn check(spec: RoomSpec) -> Result<Room, RoomProblem> {
        check_id("room", &spec.room)?;
        let room = spec.room.clone();
        check_id("participant", &spec.patient)?;
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
            let someone = role == PATIENT
                || role == CLINICIAN
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

    /// The role `id` has in this room: [`PATIENT`], [`CLINICIAN`], an
    /// other's role, or `None` when the room does not name them.
    pub fn role_of(&self, id: &str) -> Option<&str> {
        if self.spec.patient == id {
            Some(PATIENT)
        } else if self.spec.clinicians.iter().any(|c| c == id) {
            Some(CLINICIAN)
        } else {
            self.spec
                .others
                .iter()
                .find(|other| other.id == id)
                .map(|other| other.role.as_str())
        }
    }

    /// Every participant's id.
    pub fn participants(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.spec.patient.as_str())
            .chain(self.spec.clinicians.iter().map(String::as_str))
            .chain(self.spec.others.iter().map(|other| other.id.as_str()))
    }

    /// Whether offers are taken at `now` (Unix seconds).
    pub fn open_at(&self, now: i64) -> bool {
        self.not_before.is_none_or(|from| now >= from) && self.not_after.is_none_or(|to| now < to)
    }

    /// The room as serve's policy input's `resource.room` (docs/visits.md):
    /// who is in it, not its pipelines, window or labels.
    pub fn policy_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.spec.room,
            "patient": self.spec.patient,
            "clinicians": self.spec.clinicians,
            "others": self.spec.others.iter().map(|other| serde_json::json!({"id": other.id, "role": other.role})).collect::<Vec<_>>(),
        })
    }

    /// The room as JSON, the room object it was read from: what the centre
    /// stores and what pods read back. Without labels or a window it is the
    /// minimal object, field for field.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.spec).expect("a room of strings and maps serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(json: &str) -> String {
        Room::parse(json.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn the_minimal_room_and_the_full_room_parse() {
        let room =
            Room::parse(br#"{"room": "visit1", "patient": "p-1", "clinicians": ["d-1"]}"#).unwrap();
        assert_eq!(room.role_of("p-1"), Some(PATIENT));
        assert_eq!(room.role_of("d-1"), Some(CLINICIAN));
        assert_eq!(room.role_of("x"), None);
        assert!(room.open_at(0));
        let full = Room::parse(
            br#"{"room": "visit1", "patient": "p-1", "clinicians": ["d-1"],
                 "others": [{"id": "i-1", "role": "interpreter"}],
                 "pipelines": {"patient": "decode-h264 ! encode-h264", "clinician": "forward"},
                 "not_before": "2026-12-05T12:00:00Z", "not_after": "2026-12-05T13:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(full.role_of("i-1"), Some("interpreter"));
        assert!(!full.open_at(1_796_472_000 - 1));
        assert!(full.open_at(1_796_472_000));
        assert!(!full.open_at(1_796_472_000 + 3600));
        assert_eq!(full.participants().count(), 3);
        // The centre publishes rooms with the labels they asked it for.
        let labelled = Room::parse(
            br#"{"room": "visit1", "patient": "p-1", "clinicians": ["d-1"], "labels": {"region": "eu"}}"#,
        )
        .unwrap();
        assert_eq!(
            labelled.spec.labels.get("region").map(String::as_str),
            Some("eu")
        );
    }

    #[test]
    fn bad_rooms_are_refused_with_one_line() {
        let cases = [
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "extra": 1}"#,
                "unknown field",
            ),
            (r#"{"room": "v", "patient": "p"}"#, "missing field"),
            (
                r#"{"room": "v/1", "patient": "p", "clinicians": ["d"]}"#,
                "room \"v/1\"",
            ),
            (
                r#"{"room": "", "patient": "p", "clinicians": ["d"]}"#,
                "room \"\"",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": []}"#,
                "no clinician",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["p"]}"#,
                "named twice",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "others": [{"id": "o", "role": "a b"}]}"#,
                "role \"a b\"",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "pipelines": {"nurse": "forward"}}"#,
                "nobody",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "pipelines": {"patient": " "}}"#,
                "empty",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "not_before": "tomorrow"}"#,
                "RFC 3339",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "not_before": "2026-12-05T12:00:00Z", "not_after": "2026-12-05T12:00:00Z"}"#,
                "not after",
            ),
        ];
        for (json, expected) in cases {
            let line = problem(json);
            assert!(line.contains(expected), "{json}: {line}");
            assert!(!line.contains('\n'), "{line}");
        }
        let crowd: Vec<String> = (0..16).map(|i| format!("\"d{i}\"")).collect();
        let json = format!(
            r#"{{"room": "v", "patient": "p", "clinicians": [{}]}}"#,
            crowd.join(",")
        );
        assert!(problem(&json).contains("more than 16"));
        let long = "x".repeat(65);
        assert!(
            problem(&format!(
                r#"{{"room": "{long}", "patient": "p", "clinicians": ["d"]}}"#
            ))
            .contains("1 to 64")
        );
    }

    #[test]
    fn a_rooms_file_is_a_list_without_a_room_twice() {
        let two = br#"[{"room": "a", "patient": "p", "clinicians": ["d"]},
                       {"room": "b", "patient": "p", "clinicians": ["d"]}]"#;
        assert_eq!(Room::parse_list(two).unwrap().len(), 2);
        let twice = br#"[{"room": "a", "patient": "p", "clinicians": ["d"]},
                         {"room": "a", "patient": "q", "clinicians": ["d"]}]"#;
        assert_eq!(
            Room::parse_list(twice).unwrap_err(),
            RoomProblem::RoomTwice { room: "a".into() }
        );
        assert!(Room::parse_list(b"{}").is_err());
        assert_eq!(Room::parse_list(b"[]").unwrap(), vec![]);
    }

    #[test]
    fn labels_are_checked_and_a_room_round_trips_through_its_json() {
        let room = Room::parse(
            br#"{"room": "v1", "patient": "p-1", "clinicians": ["d-1"], "labels": {"region": "eu"},
                 "not_before": "2026-12-05T12:00:00Z", "not_after": "2026-12-05T13:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(room.role_of("d-1"), Some(CLINICIAN));
        let again = Room::parse(room.to_json().as_bytes()).unwrap();
        assert_eq!(again, room);
        // Without labels the JSON is exactly the minimal room object.
        let plain = Room::parse(br#"{"room": "v2", "patient": "p", "clinicians": ["d"]}"#).unwrap();
        assert_eq!(
            plain.to_json(),
            r#"{"room":"v2","patient":"p","clinicians":["d"],"others":[],"pipelines":{}}"#
        );
        for (json, expected) in [
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "labels": {"a b": "x"}}"#,
                "label \"a b\"",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "labels": {"zone": ""}}"#,
                "label value \"\"",
            ),
            (
                r#"{"room": "v", "patient": "p", "clinicians": ["d"], "not_after": "soon"}"#,
                "RFC 3339",
            ),
        ] {
            let line = problem(json);
            assert!(line.contains(expected), "{json}: {line}");
        }
        let many: Vec<String> = (0..17).map(|i| format!("\"l{i}\": \"x\"")).collect();
        let json = format!(
            r#"{{"room": "v", "patient": "p", "clinicians": ["d"], "labels": {{{}}}}}"#,
            many.join(",")
        );
        assert!(problem(&json).contains("more than 16 labels"));
    }

    #[test]
    fn an_id_is_quoted_on_one_line_and_escaped() {
        let line = problem(
            "{\"room\": \"v\\n\\u202eforged\", \"patient\": \"p\", \"clinicians\": [\"d\"]}",
        );
        assert!(!line.contains('\n') && !line.contains('\u{202e}'), "{line}");
    }
}
