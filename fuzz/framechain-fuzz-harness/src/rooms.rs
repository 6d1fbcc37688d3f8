//! The room object's strict parser (`framechain-rooms`), which serve and
//! the centre both run on what a scheduling system or an admin client
//! sends: one room (`POST /admin/rooms`, a room placed by the centre), a
//! rooms file, and the RFC 3339 times of a room's window.

use framechain_rooms::clock::{format_rfc3339, parse_rfc3339};
use framechain_rooms::{MAX_PARTICIPANTS, MAX_ROOMS, PATIENT, Room, id_is_valid};

use crate::assert_one_line;

/// The first byte chooses what the rest is: `0` one room object, `1` a
/// rooms file, `2` a time. A room taken must be what the parser promises
/// (valid ids, a clinician, no one twice, a window that is not empty) and
/// must survive being written back and read again unchanged (the centre
/// stores rooms as JSON and pods read them back); a time read must survive
/// being written and read again.
pub fn rooms(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => match Room::parse(rest) {
            Ok(room) => check_room(&room),
            Err(problem) => assert_one_line(&problem.to_string()),
        },
        1 => match Room::parse_list(rest) {
            Ok(rooms) => {
                assert!(rooms.len() <= MAX_ROOMS);
                let mut names: Vec<&str> = rooms.iter().map(|r| r.spec.room.as_str()).collect();
                names.sort_unstable();
                names.dedup();
                assert_eq!(names.len(), rooms.len(), "a room twice in a file");
                rooms.iter().for_each(check_room);
            }
            Err(problem) => assert_one_line(&problem.to_string()),
        },
        _ => {
            if let Some(unix) = std::str::from_utf8(rest).ok().and_then(parse_rfc3339) {
                check_time(unix);
            }
        }
    }
}

fn check_room(room: &Room) {
    let spec = &room.spec;
    assert!(id_is_valid(&spec.room));
    assert!(!spec.clinicians.is_empty());
    let ids: Vec<&str> = room.participants().collect();
    assert!(ids.len() <= MAX_PARTICIPANTS);
    for id in &ids {
        assert!(id_is_valid(id), "{id:?}");
        assert!(room.role_of(id).is_some());
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "a participant twice");
    assert_eq!(room.role_of(&spec.patient), Some(PATIENT));
    if let (Some(from), Some(to)) = (room.not_before, room.not_after) {
        assert!(from < to);
        assert!(room.open_at(from) && !room.open_at(to));
    }
    for unix in [room.not_before, room.not_after].into_iter().flatten() {
        check_time(unix);
    }
    let again = Room::parse(room.to_json().as_bytes()).expect("a room written back parses");
    assert_eq!(&again, room);
}

/// A time that was read is written as `YYYY-MM-DDTHH:MM:SSZ` and reads back
/// as the same second, for every time in years 0000 to 9999 in UTC (an
/// offset can move a time read outside them; those are not written).
fn check_time(unix: i64) {
    let text = format_rfc3339(unix);
    if text.len() == 20 {
        assert_eq!(parse_rfc3339(&text), Some(unix), "{text}");
    }
}
