//! Writing a batch of checked entries to PostgreSQL in one transaction:
//! events into `audit_events` (a second delivery of an id is a no-op),
//! rejects into `audit_rejects`.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;
use uuid::Uuid;

use super::entry::{Reject, Row, StreamEntry, check};

const INSERT_EVENTS: &str = "\
INSERT INTO audit_events (id, pod, chain, seq, time, room, participant, kind, body, prev_hash, hash)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int8[], $5::timestamptz[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
ON CONFLICT DO NOTHING
RETURNING id";

const INSERT_REJECTS: &str = "\
INSERT INTO audit_rejects (stream_id, reason, entry)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
ON CONFLICT DO NOTHING";

/// What one batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Events stored for the first time.
    pub inserted: u64,
    /// Events whose id was already stored with the same body (a second
    /// delivery).
    pub duplicates: u64,
    /// Entries stored in `audit_rejects` for the first time.
    pub rejected: u64,
    /// The entries of the batch found not storable, by reason (a second
    /// delivery of a reject counts again).
    pub rejects: RejectCounts,
}

/// Entries refused, by the kind of their reason: a bounded set, for the
/// metrics (the reason itself is in `audit_rejects`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RejectCounts {
    /// Not an event: a field missing, a body that does not parse, an id or
    /// hash that does not match, a bound passed, an entry deleted.
    pub not_an_event: u64,
    /// An id already stored with another body.
    pub id_conflict: u64,
    /// A (chain, seq) already holding another event.
    pub seq_conflict: u64,
    /// PostgreSQL refused the values.
    pub refused_by_database: u64,
}

impl RejectCounts {
    /// Each kind's label and count.
    pub fn labelled(&self) -> [(&'static str, u64); 4] {
        [
            ("not_an_event", self.not_an_event),
            ("id_conflict", self.id_conflict),
            ("seq_conflict", self.seq_conflict),
            ("refused_by_database", self.refused_by_database),
        ]
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &RejectCounts) {
        self.not_an_event += other.not_an_event;
        self.id_conflict += other.id_conflict;
        self.seq_conflict += other.seq_conflict;
        self.refused_by_database += other.refused_by_database;
    }
}

/// Stores `entries` in one transaction and commits; the caller may
/// acknowledge every one of them once this returns `Ok`.
///
/// An event whose id is already stored with another body, or whose
/// (chain, seq) already holds another event, becomes a reject: it is not
/// the same record delivered twice, and history already holds that place.
///
/// # Errors
/// The database's error; nothing of the batch is stored then.
pub async fn store(
    client: &mut Client,
    entries: &[StreamEntry],
) -> Result<Stored, tokio_postgres::Error> {
    let mut rejects = Vec::new();
    // The first entry of each id is inserted; a later one in the same
    // batch is a redelivery, checked against the first once it is stored.
    let mut unique_rows = Vec::new();
    let mut repeated = Vec::new();
    let mut seen = HashSet::new();
    for entry in entries {
        match check(entry) {
            Ok(row) if seen.insert(row.id) => unique_rows.push(row),
            Ok(row) => repeated.push(row),
            Err(reject) => rejects.push(reject),
        }
    }
    let mut counts = RejectCounts {
        not_an_event: rejects.len() as u64,
        ..RejectCounts::default()
    };
    let transaction = client.transaction().await?;
    let inserted_ids = insert_events(&transaction, &unique_rows).await?;
    let not_inserted: Vec<&Row> = unique_rows
        .iter()
        .filter(|row| !inserted_ids.contains(&row.id))
        .collect();
    let stored_bodies = bodies_of(
        &transaction,
        &not_inserted
            .iter()
            .copied()
            .chain(&repeated)
            .map(|row| row.id)
            .collect::<Vec<_>>(),
    )
    .await?;
    let mut duplicates = 0;
    for row in not_inserted.iter().copied().chain(&repeated) {
        match stored_bodies.get(&row.id) {
            Some(body) if *body == row.body => duplicates += 1,
            Some(_) => {
                counts.id_conflict += 1;
                rejects.push(reject_of(row, "id already stored with another body"));
            }
            None => {
                counts.seq_conflict += 1;
                rejects.push(reject_of(
                    row,
                    &format!(
                        "chain {} seq {} already holds another event",
                        row.chain, row.seq
                    ),
                ));
            }
        }
    }
    let rejected = insert_rejects(&transaction, &rejects).await?;
    transaction.commit().await?;
    Ok(Stored {
        inserted: inserted_ids.len() as u64,
        duplicates,
        rejected,
        rejects: counts,
    })
}

/// Stores `entries` one transaction each, after a batch the database
/// refused for its data (a value it cannot take that the checks did not
/// foresee): the entries it still refuses become rejects, so one bad entry
/// cannot stall the stream.
///
/// # Errors
/// The database's error, when even a reject cannot be stored.
pub(crate) async fn store_one_by_one(
    client: &mut Client,
    entries: &[StreamEntry],
) -> Result<Stored, tokio_postgres::Error> {
    let mut total = Stored::default();
    for entry in entries {
        let stored = match store(client, std::slice::from_ref(entry)).await {
            Ok(stored) => stored,
            Err(error) if is_about_the_data(&error) => {
                let reason = format!("PostgreSQL refused it: {}", one_line(&error));
                let transaction = client.transaction().await?;
                let rejected = insert_rejects(&transaction, &[Reject::new(entry, &reason)]).await?;
                transaction.commit().await?;
                Stored {
                    rejected,
                    rejects: RejectCounts {
                        refused_by_database: 1,
                        ..RejectCounts::default()
                    },
                    ..Stored::default()
                }
            }
            Err(error) => return Err(error),
        };
        total.inserted += stored.inserted;
        total.duplicates += stored.duplicates;
        total.rejected += stored.rejected;
        total.rejects.add(&stored.rejects);
    }
    Ok(total)
}

/// Whether PostgreSQL refused the values (data exception, integrity
/// violation, a program limit), not the connection or the server's state.
pub(crate) fn is_about_the_data(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        let class = &code.code()[..2];
        matches!(class, "22" | "23" | "54")
    })
}

fn one_line(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    framechain_text::untrusted(&text.split_whitespace().collect::<Vec<_>>().join(" "), 200)
}

fn reject_of(row: &Row, reason: &str) -> Reject {
    Reject {
        stream_id: row.stream_id.clone(),
        reason: reason.to_owned(),
        entry: framechain_text::untrusted(
            &format!(
                "id={} body={} prev={} hash={}",
                row.id, row.body, row.prev_hash, row.hash
            ),
            4096,
        ),
    }
}

async fn insert_events(
    transaction: &tokio_postgres::Transaction<'_>,
    rows: &[Row],
) -> Result<HashSet<Uuid>, tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let pods: Vec<&str> = rows.iter().map(|row| row.pod.as_str()).collect();
    let chains: Vec<Uuid> = rows.iter().map(|row| row.chain).collect();
    let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
    let times: Vec<std::time::SystemTime> = rows.iter().map(|row| row.time).collect();
    let rooms: Vec<Option<&str>> = rows.iter().map(|row| row.room.as_deref()).collect();
    let participants: Vec<Option<&str>> =
        rows.iter().map(|row| row.participant.as_deref()).collect();
    let kinds: Vec<&str> = rows.iter().map(|row| row.kind).collect();
    let bodies: Vec<&str> = rows.iter().map(|row| row.body.as_str()).collect();
    let prevs: Vec<&str> = rows.iter().map(|row| row.prev_hash.as_str()).collect();
    let hashes: Vec<&str> = rows.iter().map(|row| row.hash.as_str()).collect();
    let inserted = transaction
        .query(
            INSERT_EVENTS,
            &[
                &ids,
                &pods,
                &chains,
                &seqs,
                &times,
                &rooms,
                &participants,
                &kinds,
                &bodies,
                &prevs,
                &hashes,
            ],
        )
        .await?;
    inserted.iter().map(|row| row.try_get(0)).collect()
}

async fn bodies_of(
    transaction: &tokio_postgres::Transaction<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, tokio_postgres::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = transaction
        .query(
            "SELECT id, body FROM audit_events WHERE id = ANY($1)",
            &[&ids],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

async fn insert_rejects(
    transaction: &tokio_postgres::Transaction<'_>,
    rejects: &[Reject],
) -> Result<u64, tokio_postgres::Error> {
    if rejects.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&str> = rejects.iter().map(|r| r.stream_id.as_str()).collect();
    let reasons: Vec<&str> = rejects.iter().map(|r| r.reason.as_str()).collect();
    let entries: Vec<&str> = rejects.iter().map(|r| r.entry.as_str()).collect();
    transaction
        .execute(INSERT_REJECTS, &[&ids, &reasons, &entries])
        .await
}
