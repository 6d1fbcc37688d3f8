//! What the tests share: a runtime, a way to read the stream back, and the
//! checks every shipped chain must pass.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use framechain_events::chain::{GENESIS, Sealed};
use framechain_events::{Action, EVENTS_STREAM, Event, EventKind};
use redis::streams::StreamRangeReply;
use tokio::sync::watch;
use uuid::Uuid;

/// A runtime like serve's: several workers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A stop switch for a task, and the receiver to give it.
pub fn stop_switch() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// A participant joining: the record serve makes before letting one in.
pub fn joined(n: u32) -> EventKind {
    EventKind::ParticipantJoined {
        action: Action::Watch,
        role: "clinician".into(),
        address: format!("127.0.0.1:{}", 40000 + n),
        stream: "room-1/patient".into(),
        pipeline_digest: "forward".into(),
        decision: format!("allow: clinician watches patient #{n}"),
    }
}

/// One stream entry as the centre reads it.
#[derive(Debug)]
pub struct Entry {
    pub id: Uuid,
    pub event: Event,
    pub sealed: Sealed,
}

/// Every entry of the events stream, oldest first.
pub async fn stream_entries(url: &str) -> Vec<Entry> {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let reply: StreamRangeReply = redis::cmd("XRANGE")
        .arg(EVENTS_STREAM)
        .arg("-")
        .arg("+")
        .query_async(&mut connection)
        .await
        .expect("XRANGE");
    reply
        .ids
        .iter()
        .map(|entry| {
            let field = |name: &str| -> String {
                entry
                    .get(name)
                    .unwrap_or_else(|| panic!("entry {} has no {name}", entry.id))
            };
            let body = field("body");
            let event = Event::parse(&body).expect("a body parses as an event");
            let id: Uuid = field("id").parse().expect("id is a UUID");
            assert_eq!(id, event.id, "the id field is the body's id");
            Entry {
                id,
                event,
                sealed: Sealed {
                    body,
                    prev_hash: field("prev"),
                    hash: field("hash"),
                },
            }
        })
        .collect()
}

/// Asserts the stream holds exactly `ids`, each once, in that order, as
/// one unbroken chain `chain` from seq 0.
pub fn assert_chain(entries: &[Entry], chain: Uuid, ids: &[Uuid]) {
    let seen: HashSet<Uuid> = entries.iter().map(|entry| entry.id).collect();
    assert_eq!(seen.len(), entries.len(), "an id reached the stream twice");
    let shipped: Vec<Uuid> = entries.iter().map(|entry| entry.id).collect();
    assert_eq!(shipped, ids, "the stream holds every record once, in order");
    let mut prev = GENESIS.to_owned();
    for (seq, entry) in entries.iter().enumerate() {
        assert!(entry.sealed.is_intact(), "seq {seq}: hash matches body");
        assert_eq!(
            entry.sealed.prev_hash, prev,
            "seq {seq}: links to the one before"
        );
        assert_eq!(entry.event.seq, seq as u64, "seq without gaps");
        assert_eq!(entry.event.chain, chain, "one chain");
        prev.clone_from(&entry.sealed.hash);
    }
}

/// Polls `check` every 20 ms until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
