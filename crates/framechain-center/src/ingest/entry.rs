//! One entry of the events stream, as Redis gave it, and the checks that
//! make it a row of `audit_events` or a row of `audit_rejects`.
//!
//! Everything here comes from a pod, and a pod may be broken or hostile:
//! every field is checked, every failure is a one-line reason, and nothing
//! can panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use framechain_events::chain::link_hash;
use framechain_events::{Event, Sealed};
use redis::Value;
use uuid::Uuid;

/// Largest body stored, in bytes; a pod's events are a few hundred.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest pod, room or participant name stored, in bytes (an index entry
/// must stay well under PostgreSQL's limit).
const MAX_NAME_BYTES: usize = 1024;
/// How much of a rejected entry `audit_rejects.entry` keeps, in characters.
const MAX_REJECT_ENTRY_CHARS: usize = 4096;
/// The last millisecond PostgreSQL's `timestamptz` and every reader take
/// without surprise: 9999-12-31T23:59:59.999Z.
const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// One stream entry: its id and its fields, or `None` when the entry was
/// deleted from the stream while it was pending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry's id in the stream (`1733400000000-0`).
    pub stream_id: String,
    /// Its field/value pairs, in order.
    pub fields: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl StreamEntry {
    /// The entry a pod writes for a sealed event (`XADD … id <uuid> body
    /// <json> prev <hex> hash <hex>`), as if read back under `stream_id`.
    pub fn of(stream_id: &str, id: Uuid, sealed: &Sealed) -> StreamEntry {
        let field = |name: &str, value: &str| (name.as_bytes().to_vec(), value.as_bytes().to_vec());
        StreamEntry {
            stream_id: stream_id.to_owned(),
            fields: Some(vec![
                field("id", &id.to_string()),
                field("body", &sealed.body),
                field("prev", &sealed.prev_hash),
                field("hash", &sealed.hash),
            ]),
        }
    }

    fn field(&self, name: &str) -> Result<&str, String> {
        let fields = self
            .fields
            .as_ref()
            .ok_or("entry deleted from the stream")?;
        let mut found = fields.iter().filter(|(key, _)| key == name.as_bytes());
        let (_, value) = found.next().ok_or_else(|| format!("no field {name}"))?;
        if found.next().is_some() {
            return Err(format!("field {name} given twice"));
        }
        std::str::from_utf8(value).map_err(|_| format!("field {name} is not UTF-8"))
    }

    /// The entry's fields as text for `audit_rejects.entry`, cut to a bound.
    fn describe(&self) -> String {
        let Some(fields) = &self.fields else {
            return String::new();
        };
        let mut text = String::new();
        for (key, value) in fields {
            if text.len() > MAX_REJECT_ENTRY_CHARS * 4 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(key));
            text.push('=');
            text.push_str(&String::from_utf8_lossy(value));
            text.push(' ');
        }
        // PostgreSQL text takes no NUL; the bound keeps a hostile entry small.
        framechain_text::untrusted(&text.replace('\0', "\\0"), MAX_REJECT_ENTRY_CHARS)
    }
}

/// A checked event, ready for `audit_events`.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub stream_id: String,
    pub id: Uuid,
    pub pod: String,
    pub chain: Uuid,
    pub seq: i64,
    pub time: SystemTime,
    pub room: Option<String>,
    pub participant: Option<String>,
    pub kind: &'static str,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

/// An entry that is not a storable event, for `audit_rejects`.
#[derive(Clone, Debug)]
pub(crate) struct Reject {
    pub stream_id: String,
    pub reason: String,
    pub entry: String,
}

impl Reject {
    pub fn new(entry: &StreamEntry, reason: &str) -> Reject {
        Reject {
            stream_id: framechain_text::untrusted(&entry.stream_id, 64),
            reason: framechain_text::untrusted(&reason.replace('\0', "\\0"), 300),
            entry: entry.describe(),
        }
    }
}

/// Checks an entry: the four fields, the body an event, the id the body's,
/// the hash the link of `prev` and the body, names short and storable.
pub(crate) fn check(entry: &StreamEntry) -> Result<Row, Reject> {
    check_fields(entry).map_err(|reason| Reject::new(entry, &reason))
}

fn check_fields(entry: &StreamEntry) -> Result<Row, String> {
    let id = entry.field("id")?;
    let body = entry.field("body")?;
    let prev = entry.field("prev")?;
    let hash = entry.field("hash")?;
    if body.len() > MAX_BODY_BYTES {
        return Err(format!(
            "body of {} bytes, more than {MAX_BODY_BYTES}",
            body.len()
        ));
    }
    let id: Uuid = id
        .parse()
        .map_err(|_| "field id is not a UUID".to_owned())?;
    let event = Event::parse(body).map_err(|error| error.to_string())?;
    if event.id != id {
        return Err(format!("field id {id} is not the body's id {}", event.id));
    }
    if !is_hex_hash(prev) || !is_hex_hash(hash) {
        return Err("prev and hash must be 64 lower-case hex digits".to_owned());
    }
    if link_hash(prev, body) != hash {
        return Err("hash does not match prev and body".to_owned());
    }
    let seq = i64::try_from(event.seq).map_err(|_| format!("seq {} too large", event.seq))?;
    let time = time_of(event.time_ms)?;
    for (what, name) in [
        ("pod", Some(&event.pod)),
        ("room", event.room.as_ref()),
        ("participant", event.participant.as_ref()),
    ] {
        if let Some(name) = name
            && (name.len() > MAX_NAME_BYTES || name.contains('\0'))
        {
            return Err(format!(
                "{what} longer than {MAX_NAME_BYTES} bytes or with NUL"
            ));
        }
    }
    Ok(Row {
        stream_id: entry.stream_id.clone(),
        id,
        kind: event.what.name(),
        pod: event.pod,
        chain: event.chain,
        seq,
        time,
        room: event.room,
        participant: event.participant,
        body: body.to_owned(),
        prev_hash: prev.to_owned(),
        hash: hash.to_owned(),
    })
}

fn is_hex_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn time_of(time_ms: i64) -> Result<SystemTime, String> {
    if !(0..=MAX_TIME_MS).contains(&time_ms) {
        return Err(format!("time_ms {time_ms} outside 1970..9999"));
    }
    // In range, so non-negative and the addition cannot overflow.
    Ok(UNIX_EPOCH + Duration::from_millis(time_ms.unsigned_abs()))
}

/// The entries of an `XREADGROUP` reply (one stream) or of the second
/// element of an `XAUTOCLAIM` reply. A reply of another shape is an error
/// of the server's, not of a pod's.
pub(crate) fn entries_of_read(reply: Value) -> Result<Vec<StreamEntry>, String> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.remove(1)),
                other => Err(format!("unexpected stream in XREADGROUP reply: {other:?}")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        other => return Err(format!("unexpected XREADGROUP reply: {other:?}")),
    };
    let mut all = Vec::new();
    for entries in streams {
        all.extend(entries_of_list(entries)?);
    }
    Ok(all)
}

/// `XAUTOCLAIM`'s reply: the cursor to go on from and the claimed entries.
/// Entries that were pending but are no longer in the stream (Redis 7
/// lists their ids third and drops them from the pending list) come back
/// without fields, so they are recorded as rejects rather than vanishing.
pub(crate) fn entries_of_autoclaim(reply: Value) -> Result<(String, Vec<StreamEntry>), String> {
    let Value::Array(mut parts) = reply else {
        return Err("unexpected XAUTOCLAIM reply".to_owned());
    };
    if parts.len() < 2 {
        return Err("short XAUTOCLAIM reply".to_owned());
    }
    let deleted = if parts.len() > 2 {
        match parts.remove(2) {
            Value::Array(ids) => ids.into_iter().filter_map(text_of).collect(),
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let mut entries = entries_of_list(parts.remove(1))?;
    entries.extend(deleted.into_iter().map(|stream_id| StreamEntry {
        stream_id,
        fields: None,
    }));
    let cursor = text_of(parts.remove(0)).ok_or("XAUTOCLAIM cursor is not text")?;
    Ok((cursor, entries))
}

fn entries_of_list(list: Value) -> Result<Vec<StreamEntry>, String> {
    let Value::Array(list) = list else {
        return Err("stream entries are not a list".to_owned());
    };
    list.into_iter().map(entry_of).collect()
}

fn entry_of(entry: Value) -> Result<StreamEntry, String> {
    let Value::Array(mut parts) = entry else {
        return Err("a stream entry is not a list".to_owned());
    };
    if parts.len() != 2 {
        return Err("a stream entry is not [id, fields]".to_owned());
    }
    let fields = parts.remove(1);
    let stream_id = text_of(parts.remove(0)).ok_or("a stream entry's id is not text")?;
    let fields = match fields {
        Value::Nil => None,
        Value::Array(flat) => {
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let (Some(key), Some(value)) = (flat.next(), flat.next()) {
                pairs.push((bytes_of(key), bytes_of(value)));
            }
            Some(pairs)
        }
        Value::Map(map) => Some(
            map.into_iter()
                .map(|(key, value)| (bytes_of(key), bytes_of(value)))
                .collect(),
        ),
        _ => return Err("a stream entry's fields are not a list".to_owned()),
    };
    Ok(StreamEntry { stream_id, fields })
}

fn bytes_of(value: Value) -> Vec<u8> {
    match value {
        Value::BulkString(bytes) => bytes,
        Value::SimpleString(text) => text.into_bytes(),
        Value::Int(number) => number.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

fn text_of(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framechain_events::EventKind;
    use framechain_events::chain::GENESIS;

    fn sealed() -> (Uuid, Sealed) {
        let event = Event {
            id: Uuid::now_v7(),
            pod: "pod-a".into(),
            chain: Uuid::now_v7(),
            seq: 0,
            time_ms: 1_765_000_000_000,
            room: Some("visit1".into()),
            participant: None,
            what: EventKind::PolicyReloaded { digest: "d".into() },
        };
        (event.id, Sealed::new(GENESIS, event.body()))
    }

    #[test]
    fn autoclaim_keeps_deleted_entries_as_entries_without_fields() {
        let bulk = |text: &str| Value::BulkString(text.as_bytes().to_vec());
        let reply = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![Value::Array(vec![
                bulk("5-0"),
                Value::Array(vec![bulk("id"), bulk("x")]),
            ])]),
            Value::Array(vec![bulk("4-0")]),
        ]);
        let (cursor, entries) = entries_of_autoclaim(reply).unwrap();
        assert_eq!(cursor, "0-0");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].fields.as_ref().unwrap().len(), 1);
        assert_eq!(
            (entries[1].stream_id.as_str(), &entries[1].fields),
            ("4-0", &None)
        );
        let reject = check(&entries[1]).unwrap_err();
        assert!(reject.reason.contains("deleted"), "{}", reject.reason);
    }

    #[test]
    fn a_good_entry_is_a_row() {
        let (id, sealed) = sealed();
        let row = check(&StreamEntry::of("1-0", id, &sealed)).unwrap();
        assert_eq!(row.id, id);
        assert_eq!(row.kind, "policy_reloaded");
        assert_eq!(row.room.as_deref(), Some("visit1"));
    }

    #[test]
    fn bad_entries_are_rejects_with_a_reason() {
        let (id, sealed) = sealed();
        let good = StreamEntry::of("1-0", id, &sealed);
        let cases: Vec<(StreamEntry, &str)> = vec![
            (
                StreamEntry {
                    fields: None,
                    ..good.clone()
                },
                "deleted",
            ),
            (
                StreamEntry {
                    fields: Some(good.fields.clone().unwrap()[..3].to_vec()),
                    ..good.clone()
                },
                "no field hash",
            ),
            (
                StreamEntry::of("1-0", Uuid::now_v7(), &sealed),
                "is not the body's id",
            ),
            (
                StreamEntry::of(
                    "1-0",
                    id,
                    &Sealed {
                        hash: "0".repeat(64),
                        ..sealed.clone()
                    },
                ),
                "hash does not match",
            ),
            (
                StreamEntry::of(
                    "1-0",
                    id,
                    &Sealed::new(GENESIS, sealed.body.replace("\"seq\":0", "\"seq\":-1")),
                ),
                "not a framechain event",
            ),
            (
                StreamEntry::of(
                    "1-0",
                    id,
                    &Sealed::new(GENESIS, sealed.body.replace("visit1", "a\\u0000b")),
                ),
                "NUL",
            ),
            (
                StreamEntry::of(
                    "1-0",
                    id,
                    &Sealed::new(
                        GENESIS,
                        sealed.body.replace("1765000000000", "-1765000000000"),
                    ),
                ),
                "outside 1970..9999",
            ),
        ];
        for (entry, expected) in cases {
            let reject = check(&entry).unwrap_err();
            assert!(reject.reason.contains(expected), "{}", reject.reason);
            assert!(!reject.reason.contains('\n'));
        }
    }
}
