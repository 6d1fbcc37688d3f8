# The default policy of `framechain serve`: who may take part in a visit.
#
# The input document (docs/visits.md):
#   {"user": {"id": "p-1", "role": "patient", "room": "visit1" or null},
#    "action": "publish" | "watch" | "swap_stage",
#    "resource": {"room": {"id", "patient", "clinicians", "others": [{"id", "role"}]} or null,
#                 "participant": "d-1"   (watch only),
#                 swap_stage only: "stage": "redact" (the new stage's name),
#                 "position": 1, "digest": "sha256:…" (the new stage's component),
#                 "replaces": {"stage", "digest"}, "pipeline": "…" (its digest)},
#    "time": "2026-12-05T12:00:00Z"}
#
# The rules: a patient may publish and watch only in the room whose patient
# they are; a clinician in rooms that list them; someone in a room's
# `others` (with the role the room gives them) in that room; one watches
# only participants of the same room; only an admin, with a token that
# names no room, may swap a stage (a swap changes every call's pipeline);
# nobody else may do anything. A token that names a room is good for that
# room only. Everything not allowed here is denied.
package framechain

default allow := false

user := input.user

room := input.resource.room

media_actions := {"publish", "watch"}

allow if {
    input.action in media_actions
    token_fits_room
    participant_of_room
    target_in_room
}

allow if {
    input.action == "swap_stage"
    user.role == "admin"
    object.get(user, "room", null) == null
}

# A token without a room claim is good for any room it is a participant of.
token_fits_room if object.get(user, "room", null) == null

token_fits_room if user.room == room.id

participant_of_room if {
    user.role == "patient"
    room.patient == user.id
}

participant_of_room if {
    user.role == "clinician"
    some clinician in room.clinicians
    clinician == user.id
}

participant_of_room if {
    some other in room.others
    other.id == user.id
    other.role == user.role
}

members contains room.patient

members contains clinician if some clinician in room.clinicians

members contains other.id if some other in room.others

target_in_room if input.action == "publish"

target_in_room if {
    input.action == "watch"
    input.resource.participant in members
}

# Why a request is denied: one line, for the log and the 403 body.
reason := "the token is for another room" if {
    input.action in media_actions
    not token_fits_room
} else := "the user is not a participant of this room with that role" if {
    input.action in media_actions
    not participant_of_room
} else := "the participant watched is not in this room" if {
    input.action == "watch"
    not target_in_room
} else := "only an admin may swap a stage" if {
    input.action == "swap_stage"
    user.role != "admin"
} else := "a token for one room may not swap a stage of every call" if {
    input.action == "swap_stage"
} else := "the policy allows no such action"
