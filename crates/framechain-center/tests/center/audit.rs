//! The audit trail: events sealed in chains as a pod seals them, sent to
//! a real Redis with `XADD` as a pod sends them, ingested into a real
//! PostgreSQL, then counted by id, verified and tampered with.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use framechain_center::audit::{ProblemKind, verify};
use framechain_center::db;
use framechain_center::ingest::{Ingest, IngestSettings};
use framechain_events::chain::GENESIS;
use framechain_events::{Action, CENTER_GROUP, EVENTS_STREAM, Event, EventKind, Sealed};
use framechain_test_support::services::{Postgres, RedisServer};
use redis::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

/// A pod's chain, as `framechain-events` seals it.
struct Chain {
    pod: String,
    chain: Uuid,
    seq: u64,
    prev: String,
}

impl Chain {
    fn new(pod: &str) -> Chain {
        Chain {
            pod: pod.to_owned(),
            chain: Uuid::now_v7(),
            seq: 0,
            prev: GENESIS.to_owned(),
        }
    }

    fn record(&mut self, room: &str, participant: &str, what: EventKind) -> (Uuid, Sealed) {
        let event = Event {
            id: Uuid::now_v7(),
            pod: self.pod.clone(),
            chain: self.chain,
            seq: self.seq,
            time_ms: now_ms(),
            room: Some(room.to_owned()),
            participant: Some(participant.to_owned()),
            what,
        };
        let sealed = Sealed::new(&self.prev, event.body());
        self.prev = sealed.hash.clone();
        self.seq += 1;
        (event.id, sealed)
    }

    /// `n` joins and leaves in room `visit1`.
    fn records(&mut self, n: usize) -> Vec<(Uuid, Sealed)> {
        (0..n)
            .map(|i| {
                let participant = format!("c-{i}");
                if i % 2 == 0 {
                    self.record("visit1", &participant, joined(Action::Watch))
                } else {
                    self.record(
                        "visit1",
                        &participant,
                        EventKind::ParticipantLeft {
                            action: Action::Watch,
                            stream: "visit1/p-1".into(),
                            reason: "hung up".into(),
                        },
                    )
                }
            })
            .collect()
    }
}

fn joined(action: Action) -> EventKind {
    EventKind::ParticipantJoined {
        action,
        role: "clinician".into(),
        address: "127.0.0.1:50000".into(),
        stream: "visit1/p-1".into(),
        pipeline_digest: "sha256:0123456789abcdef".into(),
        decision: "allow: clinician watches patient".into(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Quick settings: faults last seconds here, not minutes.
fn quick(batch: usize) -> IngestSettings {
    IngestSettings {
        batch,
        block: Duration::from_millis(200),
        claim_idle: Duration::from_millis(1000),
        claim_every: Duration::from_millis(300),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        statement_timeout: Duration::from_secs(10),
    }
}

async fn redis(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test's Redis")
}

/// `XADD framechain:events * id … body … prev … hash …`, as a pod does.
async fn xadd(url: &str, records: &[(Uuid, Sealed)]) {
    let mut connection = redis(url).await;
    let mut pipe = redis::pipe();
    for (id, sealed) in records {
        pipe.cmd("XADD")
            .arg(EVENTS_STREAM)
            .arg("*")
            .arg("id")
            .arg(id.to_string())
            .arg("body")
            .arg(&sealed.body)
            .arg("prev")
            .arg(&sealed.prev_hash)
            .arg("hash")
            .arg(&sealed.hash)
            .ignore();
    }
    let () = pipe.query_async(&mut connection).await.expect("XADD");
}

/// Entries of the group delivered and not acknowledged.
async fn pending(url: &str) -> i64 {
    let reply: Value = redis::cmd("XPENDING")
        .arg(EVENTS_STREAM)
        .arg(CENTER_GROUP)
        .query_async(&mut redis(url).await)
        .await
        .expect("XPENDING");
    match reply {
        Value::Array(parts) => match parts.first() {
            Some(Value::Int(count)) => *count,
            other => panic!("XPENDING count: {other:?}"),
        },
        other => panic!("XPENDING: {other:?}"),
    }
}

/// A test's own PostgreSQL (migrated) and Redis, with `sent` records of
/// pod-a's chain in the stream that a replica of the centre read and died
/// with before its commit: they are pending for the group.
struct ReadByADeadReplica {
    postgres: Postgres,
    redis_server: RedisServer,
    client: tokio_postgres::Client,
    sent: usize,
}

impl ReadByADeadReplica {
    async fn new(sent: usize, dead_consumer: &str) -> ReadByADeadReplica {
        let postgres = Postgres::start();
        let redis_server = RedisServer::start();
        let client = migrated(&postgres).await;
        xadd(&redis_server.url(), &Chain::new("pod-a").records(sent)).await;
        read_and_die(&redis_server.url(), dead_consumer).await;
        assert_eq!(pending(&redis_server.url()).await, sent as i64);
        ReadByADeadReplica {
            postgres,
            redis_server,
            client,
            sent,
        }
    }

    /// Waits `within` for every record to be one row, then for nothing to
    /// be pending, and verifies the chain; returns when the rows were in.
    async fn lands_once_and_verifies(&self, ingest: &Ingest, within: Duration) -> Instant {
        let url = self.postgres.url();
        let all = Some((self.sent as i64, self.sent as i64));
        let landed = wait_until(within, || {
            let url = url.clone();
            async move { counted(&url).await == all }
        })
        .await;
        assert!(landed, "{:?}", ingest.stats());
        let landed_at = Instant::now();
        assert!(
            wait_until(Duration::from_secs(5), || async {
                pending(&self.redis_server.url()).await == 0
            })
            .await
        );
        assert!(verify(&self.client).await.unwrap().is_ok());
        landed_at
    }
}

/// A replica of the centre that creates the group, reads every entry as
/// `consumer` and dies before its commit: the entries stay pending.
async fn read_and_die(url: &str, consumer: &str) {
    let mut connection = redis(url).await;
    let _: Value = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(EVENTS_STREAM)
        .arg(CENTER_GROUP)
        .arg("0")
        .query_async(&mut connection)
        .await
        .unwrap();
    let read: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(CENTER_GROUP)
        .arg(consumer)
        .arg("COUNT")
        .arg(100)
        .arg("STREAMS")
        .arg(EVENTS_STREAM)
        .arg(">")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(matches!(read, Value::Array(_)), "{read:?}");
}

async fn migrated(postgres: &Postgres) -> tokio_postgres::Client {
    let mut client = db::connect(&postgres.url()).await.expect("connect");
    db::migrate(&mut client).await.expect("migrate");
    client
}

/// (rows, distinct ids) in `audit_events`; `None` while PostgreSQL is away.
async fn counted(url: &str) -> Option<(i64, i64)> {
    let client = db::connect(url).await.ok()?;
    let row = client
        .query_one("SELECT count(*), count(DISTINCT id) FROM audit_events", &[])
        .await
        .ok()?;
    Some((row.get(0), row.get(1)))
}

/// Polls `check` every 50 ms until it holds or `within` passes.
async fn wait_until<F: Future<Output = bool>>(
    within: Duration,
    mut check: impl FnMut() -> F,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// An ingest running on the test's runtime until the sender is used or
/// dropped.
fn spawn_ingest(
    settings: IngestSettings,
    redis_url: String,
    postgres_url: String,
    consumer: &str,
) -> (Ingest, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let ingest = Ingest::new(settings);
    let (stop, stopped) = oneshot::channel::<()>();
    let running = ingest.clone();
    let consumer = consumer.to_owned();
    let task = tokio::spawn(async move {
        running
            .run(&redis_url, &postgres_url, &consumer, async {
                let _ = stopped.await;
            })
            .await
            .expect("ingest runs");
    });
    (ingest, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_become_one_row_each_and_bad_entries_are_kept_aside() {
    let postgres = Postgres::start();
    let redis_server = RedisServer::start();
    let client = migrated(&postgres).await;
    let mut a = Chain::new("pod-a");
    let mut b = Chain::new("pod-b");
    let a_records = a.records(20);
    let b_records = b.records(10);
    // At-least-once from the pods: pod-a's records all arrive twice.
    xadd(&redis_server.url(), &a_records).await;
    xadd(&redis_server.url(), &b_records).await;
    xadd(&redis_server.url(), &a_records).await;
    // Three entries that are not storable events, on a chain of their own.
    let mut bad = Chain::new("pod-bad");
    let (id, sealed) = bad.record("visit1", "x", joined(Action::Publish));
    let mut connection = redis(&redis_server.url()).await;
    let missing_body: String = redis::cmd("XADD")
        .arg(EVENTS_STREAM)
        .arg("*")
        .arg("id")
        .arg(id.to_string())
        .arg("prev")
        .arg(&sealed.prev_hash)
        .arg("hash")
        .arg(&sealed.hash)
        .query_async(&mut connection)
        .await
        .unwrap();
    let forged = Sealed {
        hash: "f".repeat(64),
        ..sealed.clone()
    };
    xadd(&redis_server.url(), &[(id, forged)]).await;
    xadd(
        &redis_server.url(),
        &[(id, Sealed::new(GENESIS, "{\"not\":\"an event\"}".into()))],
    )
    .await;

    let (ingest, stop, task) =
        spawn_ingest(quick(7), redis_server.url(), postgres.url(), "centre-1");
    let done = wait_until(Duration::from_secs(20), || {
        let stats = ingest.stats();
        async move { stats.ingested == 30 && stats.duplicates == 20 && stats.rejected == 3 }
    })
    .await;
    assert!(done, "ingest did not finish: {:?}", ingest.stats());
    assert_eq!(counted(&postgres.url()).await, Some((30, 30)));
    for (id, _) in a_records.iter().chain(&b_records) {
        let rows = client
            .query("SELECT 1 FROM audit_events WHERE id = $1", &[id])
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "event {id}");
    }
    let rejects = client
        .query(
            "SELECT stream_id, reason FROM audit_rejects ORDER BY stream_id",
            &[],
        )
        .await
        .unwrap();
    let reasons: Vec<String> = rejects.iter().map(|row| row.get(1)).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(rejects[0].get::<_, String>(0), missing_body);
    assert!(reasons[0].contains("no field body"), "{reasons:?}");
    assert!(reasons[1].contains("hash does not match"), "{reasons:?}");
    assert!(reasons[2].contains("not a framechain event"), "{reasons:?}");
    // Everything read was acknowledged, the bad entries too.
    assert!(
        wait_until(Duration::from_secs(5), || async {
            pending(&redis_server.url()).await == 0
        })
        .await
    );
    let report = verify(&client).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.records, report.chains), (30, 2));
    let _ = stop.send(());
    task.await.unwrap();
}

/// How long each service stays down in the fault test: a few seconds in
/// CI; `scripts/center-faults.sh` sets `FRAMECHAIN_FAULT_SECONDS=30` for
/// the 30 s outages.
fn outage() -> Duration {
    let seconds = std::env::var("FRAMECHAIN_FAULT_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(2);
    Duration::from_secs(seconds)
}

/// Records sent before each outage.
const PER_PHASE: usize = 6000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_and_postgres_stopped_mid_ingest_lose_nothing_and_repeat_nothing() {
    let mut postgres = Postgres::start();
    let mut redis_server = RedisServer::start();
    let client = migrated(&postgres).await;
    drop(client);
    let mut chain = Chain::new("pod-a");
    // Enough records, in batches of 5, that the ingest is still busy when
    // each service goes away, even on a quiet machine.
    let first = chain.records(PER_PHASE);
    xadd(&redis_server.url(), &first).await;
    let (ingest, stop, task) =
        spawn_ingest(quick(5), redis_server.url(), postgres.url(), "centre-1");

    // Redis goes away while batches are being written.
    assert!(
        wait_until(Duration::from_secs(20), || {
            let stats = ingest.stats();
            async move { stats.ingested >= 50 }
        })
        .await
    );
    tokio::task::block_in_place(|| redis_server.stop());
    let at_stop = ingest.stats().ingested;
    assert!(
        at_stop < PER_PHASE as u64,
        "Redis stopped after the ingest finished"
    );
    tokio::time::sleep(outage()).await;
    tokio::task::block_in_place(|| redis_server.start_again());
    let second = chain.records(PER_PHASE);
    xadd(&redis_server.url(), &second).await;

    // PostgreSQL goes away while batches are being written.
    assert!(
        wait_until(Duration::from_secs(30), || {
            let stats = ingest.stats();
            async move { stats.ingested >= PER_PHASE as u64 + 50 }
        })
        .await,
        "{:?}",
        ingest.stats()
    );
    tokio::task::block_in_place(|| postgres.stop());
    let at_stop = ingest.stats().ingested;
    assert!(
        at_stop < 2 * PER_PHASE as u64,
        "PostgreSQL stopped after the ingest finished"
    );
    tokio::time::sleep(outage() / 2).await;
    // What the stream costs Redis while PostgreSQL is away (docs/center.md,
    // "Measured"): the entries stay in the stream, acknowledged or not.
    let mut connection = redis(&redis_server.url()).await;
    let length: u64 = redis::cmd("XLEN")
        .arg(EVENTS_STREAM)
        .query_async(&mut connection)
        .await
        .unwrap();
    let stream_bytes: u64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(EVENTS_STREAM)
        .arg("SAMPLES")
        .arg(0)
        .query_async(&mut connection)
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut connection)
        .await
        .unwrap();
    let used = info
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .unwrap_or("?")
        .trim()
        .to_owned();
    eprintln!(
        "measured: PostgreSQL away: {length} entries in {EVENTS_STREAM}, MEMORY USAGE {stream_bytes} bytes ({} a entry), INFO used_memory {used} bytes, {} pending",
        stream_bytes / length.max(1),
        pending(&redis_server.url()).await
    );
    tokio::time::sleep(outage() - outage() / 2).await;
    tokio::task::block_in_place(|| postgres.start_again());

    let url = postgres.url();
    let all_in = wait_until(Duration::from_secs(30), || {
        let url = url.clone();
        async move { counted(&url).await == Some((2 * PER_PHASE as i64, 2 * PER_PHASE as i64)) }
    })
    .await;
    assert!(
        all_in,
        "rows, distinct ids: {:?}; {:?}",
        counted(&url).await,
        ingest.stats()
    );
    let stats = ingest.stats();
    assert!(stats.outages >= 2, "{stats:?}");
    assert_eq!(stats.rejected, 0);
    assert!(
        wait_until(Duration::from_secs(5), || async {
            pending(&redis_server.url()).await == 0
        })
        .await
    );
    let client = db::connect(&url).await.unwrap();
    for (id, _) in first.iter().chain(&second) {
        let rows = client
            .query("SELECT 1 FROM audit_events WHERE id = $1", &[id])
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "event {id}");
    }
    let report = verify(&client).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.records, report.chains), (2 * PER_PHASE as u64, 1));
    let size = client
        .query_one(
            "SELECT pg_total_relation_size('audit_events'), count(*) FROM audit_events",
            &[],
        )
        .await
        .unwrap();
    let (bytes, rows): (i64, i64) = (size.get(0), size.get(1));
    eprintln!(
        "measured: audit_events: {rows} rows in {bytes} bytes with its indexes, {} a row",
        bytes / rows.max(1)
    );
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_pending_entries_are_taken_over_and_land_once() {
    let trail = ReadByADeadReplica::new(12, "centre-dead").await;
    let started = Instant::now();
    let (ingest, stop, task) = spawn_ingest(
        quick(5),
        trail.redis_server.url(),
        trail.postgres.url(),
        "centre-2",
    );
    let landed_at = trail
        .lands_once_and_verifies(&ingest, Duration::from_secs(15))
        .await;
    // Not before they were idle for claim_idle: a live replica's entries
    // are not taken from it.
    assert!(landed_at - started >= Duration::from_millis(900));
    assert_eq!(ingest.stats().ingested, 12);
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_each_altered_and_removed_row_and_the_centre_cannot_rewrite() {
    let postgres = Postgres::start();
    let redis_server = RedisServer::start();
    let superuser = migrated(&postgres).await;
    // The centre's login role: a member of framechain_audit_writer only.
    postgres.psql(
        "CREATE ROLE centre LOGIN PASSWORD 'centre'; GRANT framechain_audit_writer TO centre;",
    );
    let centre_url = postgres.url_for("centre", "centre");
    let mut chain = Chain::new("pod-a");
    let records = chain.records(10);
    xadd(&redis_server.url(), &records).await;
    // The ingest runs as the centre's role: its rights are enough.
    let (ingest, stop, task) = spawn_ingest(
        quick(50),
        redis_server.url(),
        centre_url.clone(),
        "centre-1",
    );
    assert!(
        wait_until(Duration::from_secs(15), || {
            let stats = ingest.stats();
            async move { stats.ingested == 10 }
        })
        .await,
        "{:?}",
        ingest.stats()
    );
    let _ = stop.send(());
    task.await.unwrap();

    // The centre's role may not change history.
    let centre = db::connect(&centre_url).await.unwrap();
    for sql in [
        "UPDATE audit_events SET participant = 'mallory'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE audit_rejects SET reason = ''",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    ] {
        let error = centre.batch_execute(sql).await.unwrap_err();
        let error = error.as_db_error().expect("a database error").clone();
        // Refused by the grants, not only by the triggers.
        assert_eq!(error.code().code(), "42501", "{sql}: {error}");
        assert!(
            error.message().contains("permission denied")
                || error.message().contains("must be owner"),
            "{sql}: {error}"
        );
    }
    // Not even the owner, without lifting the trigger first.
    let error = superuser
        .batch_execute("DELETE FROM audit_events")
        .await
        .unwrap_err();
    assert!(
        error
            .as_db_error()
            .unwrap()
            .message()
            .contains("append-only"),
        "{error}"
    );
    assert!(verify(&superuser).await.unwrap().is_ok());

    // Tampering behind everyone's back, as a superuser with the triggers off.
    let id_of = |seq: usize| records[seq].0;
    postgres.tamper(&format!(
        "UPDATE audit_events SET body = replace(body, 'hung up', 'stayed') WHERE id = '{}';
         UPDATE audit_events SET participant = 'someone-else' WHERE id = '{}';
         DELETE FROM audit_events WHERE id = '{}';",
        id_of(3),
        id_of(6),
        id_of(8),
    ));
    let report = verify(&superuser).await.unwrap();
    let found: BTreeMap<i64, (ProblemKind, Option<Uuid>)> = report
        .problems
        .iter()
        .map(|problem| (problem.seq, (problem.kind, problem.id)))
        .collect();
    let expected = BTreeMap::from([
        (3, (ProblemKind::Altered, Some(id_of(3)))),
        (6, (ProblemKind::Altered, Some(id_of(6)))),
        (8, (ProblemKind::Removed, None)),
    ]);
    assert_eq!(found, expected, "{:#?}", report.problems);
    assert_eq!(report.problem_count, 3);
    assert!(report.problems[1].detail.contains("participant"));
    assert_eq!(report.records, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_batch_stores_what_it_had_read_when_it_comes_back() {
    // centre-1 read the entries and was killed before its commit.
    let trail = ReadByADeadReplica::new(8, "centre-1").await;
    // It comes back under the same name; nobody would claim its entries
    // within this test (claim_idle one minute): it must re-read its own.
    let settings = IngestSettings {
        claim_idle: Duration::from_secs(60),
        ..quick(5)
    };
    let (ingest, stop, task) = spawn_ingest(
        settings,
        trail.redis_server.url(),
        trail.postgres.url(),
        "centre-1",
    );
    trail
        .lands_once_and_verifies(&ingest, Duration::from_secs(10))
        .await;
    let _ = stop.send(());
    task.await.unwrap();
}
