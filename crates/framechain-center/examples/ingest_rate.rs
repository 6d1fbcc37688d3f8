//! How many events a second the centre's ingest stores, through Redis into
//! PostgreSQL, on this machine: `cargo run --release --example ingest_rate
//! -- [EVENTS] [PODS] [BATCH]` (docs/center.md, "The audit trail").
//!
//! It starts a Redis and a PostgreSQL 15 of its own on loopback ports
//! (`framechain_test_support::services`), then `PODS` tasks send `EVENTS`
//! sealed events in all with pipelined `XADD`s, as pods do, while one
//! consumer ingests them (one transaction per batch of `BATCH`, `XACK`
//! after each commit). It prints events per second from the first `XADD`
//! until the last row is committed and acknowledged, the sending rate,
//! and a final `audit verify`.
//!
//! PostgreSQL runs with `fsync=off` here (a test cluster); a production
//! disk's commit latency lowers the rate of small batches more than that
//! of large ones.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use framechain_center::audit::verify;
use framechain_center::db;
use framechain_center::ingest::{Ingest, IngestSettings};
use framechain_events::chain::GENESIS;
use framechain_events::{Action, EVENTS_STREAM, Event, EventKind, Sealed};
use framechain_test_support::services::{Postgres, RedisServer};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse().expect("numbers: EVENTS PODS BATCH"))
        .collect();
    let events = args.first().copied().unwrap_or(100_000);
    let pods = args.get(1).copied().unwrap_or(10).max(1);
    let batch = args.get(2).copied().unwrap_or(500).max(1) as usize;
    let postgres = Postgres::start();
    let redis_server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(measure(&postgres, &redis_server, events, pods, batch));
}

async fn measure(
    postgres: &Postgres,
    redis_server: &RedisServer,
    events: u64,
    pods: u64,
    batch: usize,
) {
    let mut client = db::connect(&postgres.url()).await.expect("connect");
    db::migrate(&mut client).await.expect("migrate");
    let ingest = Ingest::new(IngestSettings {
        batch,
        ..IngestSettings::default()
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = ingest.clone();
    let (redis_url, postgres_url) = (redis_server.url(), postgres.url());
    let consuming = tokio::spawn(async move {
        consumer
            .run(&redis_url, &postgres_url, "centre-bench", async {
                let _ = stopped.await;
            })
            .await
            .expect("ingest runs");
    });
    // Let the consumer create its group and block on an empty stream.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let per_pod = events / pods;
    let senders: Vec<_> = (0..pods)
        .map(|pod| {
            let url = redis_server.url();
            let count = per_pod + u64::from(pod < events % pods);
            tokio::spawn(send(url, format!("pod-{pod}"), count))
        })
        .collect();
    for sender in senders {
        sender.await.expect("a sender");
    }
    let sent_in = started.elapsed();
    while ingest.stats().ingested < events {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "ingest stalled: {:?}",
            ingest.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stored_in = started.elapsed();
    let _ = stop.send(());
    consuming.await.expect("the consumer");
    let rows: i64 = client
        .query_one("SELECT count(DISTINCT id) FROM audit_events", &[])
        .await
        .expect("count")
        .get(0);
    let report = verify(&client).await.expect("verify");
    let verified_in = started.elapsed() - stored_in;
    println!(
        "events {events}, pods {pods}, batch {batch}: sent in {:.2} s ({:.0}/s); stored in {:.2} s: {:.0} events/s; rows {rows}; verify {} ({} records, {} chains) in {:.2} s",
        sent_in.as_secs_f64(),
        events as f64 / sent_in.as_secs_f64(),
        stored_in.as_secs_f64(),
        events as f64 / stored_in.as_secs_f64(),
        if report.is_ok() { "ok" } else { "BAD" },
        report.records,
        report.chains,
        verified_in.as_secs_f64(),
    );
}

/// One pod: its chain, sent in pipelines of 200 `XADD`s.
async fn send(url: String, pod: String, count: u64) {
    let mut connection = redis::Client::open(url.as_str())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let chain = uuid::Uuid::now_v7();
    let mut prev = GENESIS.to_owned();
    let mut seq = 0;
    while seq < count {
        let mut pipe = redis::pipe();
        for _ in 0..200.min(count - seq) {
            let event = Event {
                id: uuid::Uuid::now_v7(),
                pod: pod.clone(),
                chain,
                seq,
                time_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("after 1970")
                    .as_millis() as i64,
                room: Some(format!("visit-{}", seq % 50)),
                participant: Some(format!("c-{}", seq % 7)),
                what: EventKind::ParticipantJoined {
                    action: Action::Watch,
                    role: "clinician".into(),
                    address: "10.0.3.7:50000".into(),
                    stream: format!("visit-{}/p-1", seq % 50),
                    pipeline_digest: "sha256:0123456789abcdef0123456789abcdef".into(),
                    decision: "allow: clinician watches patient".into(),
                },
            };
            let sealed = Sealed::new(&prev, event.body());
            prev = sealed.hash.clone();
            pipe.cmd("XADD")
                .arg(EVENTS_STREAM)
                .arg("*")
                .arg("id")
                .arg(event.id.to_string())
                .arg("body")
                .arg(&sealed.body)
                .arg("prev")
                .arg(&sealed.prev_hash)
                .arg("hash")
                .arg(&sealed.hash)
                .ignore();
            seq += 1;
        }
        let () = pipe.query_async(&mut connection).await.expect("XADD");
    }
}
