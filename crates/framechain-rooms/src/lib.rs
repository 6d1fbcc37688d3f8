//! framechain's room object: one visit, its participants (a patient,
//! clinicians, others with their roles), a pipeline per role, the window in
//! which it may be used, and the labels it asks of its pod. `serve` reads
//! rooms from its rooms file, its admin API and the centre; the centre from
//! its own rooms file and admin API. Both parse them here, so the two
//! cannot drift apart: a room the centre takes is a room every pod takes.
//!
//! Every byte of a room comes from outside (a scheduling system, an admin
//! client): nothing here panics on it, and a refusal is one
//! [`RoomProblem`] line that names the room.
//!
//! ```
//! use framechain_rooms::{Room, RoomProblem};
//!
//! let room = Room::parse(br#"{"room": "visit1", "patient": "p-1", "clinicians": ["d-1"]}"#)?;
//! assert_eq!(room.role_of("d-1"), Some("clinician"));
//! assert!(room.open_at(framechain_rooms::clock::parse_rfc3339("2026-12-05T12:00:00Z").unwrap()));
//!
//! let refused = Room::parse(br#"{"room": "visit1", "patient": "p-1", "clinicians": []}"#);
//! assert_eq!(refused, Err(RoomProblem::NoClinician { room: "visit1".into() }));
//! # Ok::<(), RoomProblem>(())
//! ```
//!
//! - [`Room`], [`RoomSpec`], [`RoomProblem`]: the object, what was
//!   declared, and why one is refused;
//! - [`clock`]: RFC 3339 times to and from Unix seconds.

#![deny(missing_docs)]

pub mod clock;
mod room;

pub use room::{
    CLINICIAN, FORWARD, MAX_ID, MAX_LABELS, MAX_PARTICIPANTS, MAX_PIPELINE_LINE, MAX_ROOMS,
    MAX_ROOMS_FILE, Other, PATIENT, Room, RoomProblem, RoomSpec, id_is_valid,
};
