//! Rooms at a pod. The room object and its strict parser are
//! `framechain-rooms`' (the centre parses rooms with it too); what a pod
//! adds are the refusals only it can make: a role's pipeline that does not
//! build, a room named like a `--stream`, more rooms than it holds.

pub(crate) use framechain_rooms::{FORWARD, MAX_ROOMS, MAX_ROOMS_FILE, PATIENT, Room, RoomProblem};

/// Why serve refuses a room: the room object is wrong, or the pod cannot
/// take it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RoomRefused {
    #[error(transparent)]
    Invalid(#[from] RoomProblem),
    #[error("room {room}: the pipeline of role {role}: {reason}")]
    Pipeline {
        room: String,
        role: String,
        reason: String,
    },
    #[error("room {room}: its name is a --stream's")]
    StreamName { room: String },
    /// The server holds [`MAX_ROOMS`] already.
    #[error("more than {MAX_ROOMS} rooms")]
    TooManyRooms,
}
