//! The room object, the same in the rooms file (a JSON list) and in the
//! body of `POST /admin/rooms`, parsed strictly: unknown fields, bad ids,
//! too many participants or a window that ends before it begins are
//! refused with one line that names the room.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::clock::parse_rfc3339;

/// The longest id (a room's, a participant's, a role's).
pub(crate) const MAX_ID: usize = 64;
/// Participants in one room, at most (its patient, clinicians and others).
pub(crate) const MAX_PARTICIPANTS: usize = 16;
/// Rooms one server holds, at most (file and API together).
pub(crate) const MAX_ROOMS: usize = 4096;
/// The largest rooms file read: [`MAX_ROOMS`] rooms of about 2 KiB.
pub(crate) const MAX_ROOMS_FILE: u64 = 8 << 20;
/// The longest pipeline (launch line) a room may give for a role.
pub(crate) const MAX_PIPELINE_LINE: usize = 2048;
/// A role's pipeline that forwards the video as sent.
pub(crate) const FORWARD: &str = "forward";
/// The patient's role name.
pub(crate) const PATIENT: &str = "patient";
/// The clinicians' role name.
pub(crate) const CLINICIAN: &str = "clinician";

/// A room as the scheduling system declares it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoomSpec {
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
    #[serde(default)]
    pub not_before: Option<String>,
    /// RFC 3339: no offer is taken after, and running calls end.
    #[serde(default)]
    pub not_after: Option<String>,
    /// Pod labels the room asks the centre for (`{"region": "eu"}`): the
    /// centre publishes rooms with it, so it is taken here, and ignored
    /// (placement is the centre's business).
    #[serde(default)]
    #[allow(dead_code)]
    pub labels: BTreeMap<String, String>,
}

/// A participant who is neither the patient nor a clinician.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Other {
    pub id: String,
    pub role: String,
}

/// A checked room: its spec and its window in Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Room {
    pub spec: RoomSpec,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
}

/// Why a room (or the rooms file) is refused. No message quotes more of
/// the input than an id cut to [`MAX_ID`] characters, escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RoomProblem {
    #[error("not a room object: {0}")]
    Json(String),
    #[error("{what} {id:?}: use 1 to {MAX_ID} letters, digits, '-', '_' or '.'")]
    BadId { what: &'static str, id: String },
    #[error("room {room}: more than {MAX_PARTICIPANTS} participants")]
    TooManyParticipants { room: String },
    #[error("room {room}: participant {id} is named twice")]
    ParticipantTwice { room: String, id: String },
    #[error("room {room}: no clinician")]
    NoClinician { room: String },
    #[error("room {room}: {field} is not an RFC 3339 time (2026-12-05T12:00:00Z)")]
    BadTime { room: String, field: &'static str },
    #[error("room {room}: not_after is not after not_before")]
    EmptyWindow { room: String },
    #[error("room {room}: a pipeline for role {role}, which nobody in the room has")]
    PipelineForNobody { room: String, role: String },
    #[error(
        "room {room}: the pipeline of role {role} is empty or longer than {MAX_PIPELINE_LINE} bytes"
    )]
    PipelineLength { room: String, role: String },
    #[error("room {room}: the pipeline of role {role}: {reason}")]
    Pipeline {
        room: String,
        role: String,
        reason: String,
    },
    #[error("room {room}: its name is a --stream's")]
    StreamName { room: String },
    #[error("room {room} is given twice")]
    RoomTwice { room: String },
    #[error("more than {MAX_ROOMS} rooms")]
    TooManyRooms,
}

/// An id as every id here must be (it is a path segment of the routes).
pub(crate) fn id_is_valid(id: &str) -> bool {
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
            id: id.chars().take(MAX_ID).collect(),
        })
    }
}

/// A serde message cut to one short line (it may quote the input).
fn json_problem(error: &serde_json::Error) -> RoomProblem {
    let text = error.to_string();
    RoomProblem::Json(framechain::text::untrusted(&text, 160).to_string())
}

impl Room {
    /// One room object (the API's body).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Room, RoomProblem> {
        let spec: RoomSpec = serde_json::from_slice(bytes).map_err(|e| json_problem(&e))?;
        Room::check(spec)
    }

    /// A rooms file: a JSON list of room objects, no room twice, at most
    /// [`MAX_ROOMS`].
    pub(crate) fn parse_list(bytes: &[u8]) -> Result<Vec<Room>, RoomProblem> {
        let specs: Vec<serde_json::Value> =
            serde_json::from_slice(bytes).map_err(|e| json_problem(&e))?;
        if specs.len() > MAX_ROOMS {
            return Err(RoomProblem::TooManyRooms);
        }
        let mut names = HashSet::new();
        let mut rooms = Vec::with_capacity(specs.len());
        for value in specs {
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

    fn check(spec: RoomSpec) -> Result<Room, RoomProblem> {
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

    /// The role `id` has in this room: `patient`, `clinician`, an other's
    /// role, or `None` when the room does not name them.
    pub(crate) fn role_of(&self, id: &str) -> Option<&str> {
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
    pub(crate) fn participants(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.spec.patient.as_str())
            .chain(self.spec.clinicians.iter().map(String::as_str))
            .chain(self.spec.others.iter().map(|other| other.id.as_str()))
    }

    /// Whether offers are taken at `now` (Unix seconds).
    pub(crate) fn open_at(&self, now: i64) -> bool {
        self.not_before.is_none_or(|from| now >= from) && self.not_after.is_none_or(|to| now < to)
    }

    /// The room as the policy input's `resource.room`.
    pub(crate) fn policy_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.spec.room,
            "patient": self.spec.patient,
            "clinicians": self.spec.clinicians,
            "others": self.spec.others.iter().map(|other| serde_json::json!({"id": other.id, "role": other.role})).collect::<Vec<_>>(),
        })
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
}
