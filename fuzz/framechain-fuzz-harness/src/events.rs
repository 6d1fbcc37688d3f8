//! What pods send the centre: an audit event's body
//! (`framechain_events::Event::parse`, which the centre's ingest runs on
//! every body) and a whole entry of the events stream as the ingest checks
//! it (`framechain_center::fuzzing::ingest_entry`).

use framechain_center::ingest::StreamEntry;
use framechain_events::Event;
use framechain_events::chain::link_hash;

use crate::assert_one_line;

/// An event's body (any bytes). A body taken is written back as a body
/// that parses to the same record; a refusal is one line.
pub fn event_body(data: &[u8]) {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    match Event::parse(body) {
        Ok(event) => {
            let again = Event::parse(&event.body()).expect("an event written back parses");
            // Floats (latencies) may move by their last bit through JSON;
            // what the audit trail is read by must not.
            assert_eq!(
                (
                    &again.id,
                    &again.pod,
                    &again.chain,
                    again.seq,
                    again.time_ms
                ),
                (
                    &event.id,
                    &event.pod,
                    &event.chain,
                    event.seq,
                    event.time_ms
                )
            );
            assert_eq!(
                (&again.room, &again.participant, again.what.name()),
                (&event.room, &event.participant, event.what.name())
            );
        }
        Err(error) => assert_one_line(&error.to_string()),
    }
}

/// Marks in the ingest target's first byte: the harness fixes up what a
/// fuzzer cannot compute, so that mutations reach the checks behind it.
const ID_FROM_BODY: u8 = 1;
const SEALED: u8 = 2;
const DELETED: u8 = 4;

/// One stream entry: a flags byte, then byte strings split at `0xff`: the
/// entry's id, then field names and values in turn (`id`, `body`, `prev`,
/// `hash` in a good entry). With [`ID_FROM_BODY`] the `id` field is set to
/// the body's id when the body is an event; with [`SEALED`] the `hash`
/// field is set to the link of `prev` and the body; with [`DELETED`] the
/// entry has no fields (deleted from the stream while pending).
pub fn ingest_entry(data: &[u8]) {
    ingest_entry_is_row(data);
}

/// Runs [`ingest_entry`]: whether the entry became a row of the audit
/// trail (for tests that the seeds reach past the checks they should).
pub fn ingest_entry_is_row(data: &[u8]) -> bool {
    let Some((&flags, rest)) = data.split_first() else {
        return false;
    };
    let mut parts = rest.split(|&b| b == 0xff);
    let stream_id = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        fields.push((name.to_vec(), value.to_vec()));
    }
    let text = |fields: &[(Vec<u8>, Vec<u8>)], name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name.as_bytes())
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
            .map(str::to_owned)
    };
    let set = |fields: &mut Vec<(Vec<u8>, Vec<u8>)>, name: &str, value: String| match fields
        .iter_mut()
        .find(|(key, _)| key == name.as_bytes())
    {
        Some((_, old)) => *old = value.into_bytes(),
        None => fields.push((name.as_bytes().to_vec(), value.into_bytes())),
    };
    if flags & ID_FROM_BODY != 0
        && let Some(event) = text(&fields, "body").and_then(|body| Event::parse(&body).ok())
    {
        set(&mut fields, "id", event.id.to_string());
    }
    if flags & SEALED != 0
        && let (Some(prev), Some(body)) = (text(&fields, "prev"), text(&fields, "body"))
    {
        set(&mut fields, "hash", link_hash(&prev, &body));
    }
    let entry = StreamEntry {
        stream_id,
        fields: (flags & DELETED == 0).then_some(fields),
    };
    framechain_center::fuzzing::ingest_entry(&entry)
}
