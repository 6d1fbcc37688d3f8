//! The pods' events into PostgreSQL: the centre's consumer of the
//! `framechain:events` stream (docs/center.md, "The audit trail").
//!
//! Each replica of the centre reads the stream through the consumer group
//! `framechain-center` under its own consumer name. A batch is written in
//! one transaction, and its entries are acknowledged (`XACK`) only after
//! the commit: a replica that dies between the two leaves them pending,
//! and they are delivered again, to itself when it comes back (it reads
//! its own pending entries first) or to another replica, which claims
//! entries idle for longer than [`IngestSettings::claim_idle`]
//! (`XAUTOCLAIM`). Delivery is at-least-once; the event id as primary key
//! makes it exactly one row.
//!
//! When Redis or PostgreSQL is away the loop backs off and tries again;
//! nothing is acknowledged that is not committed. An entry that is not a
//! storable event is kept in `audit_rejects`, acknowledged and counted:
//! never dropped in silence, never a reason to stop.

pub(crate) mod entry;
mod store;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use framechain_events::{CENTER_GROUP, EVENTS_STREAM};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use serde::Serialize;
use tokio::time::Instant;

pub use entry::{MAX_BODY_BYTES, StreamEntry};
pub use store::{RejectCounts, Stored, store};

use crate::db;

/// How the consumer reads, claims and backs off.
#[derive(Clone, Debug)]
pub struct IngestSettings {
    /// Most entries read and written in one batch (one transaction).
    pub batch: usize,
    /// How long one `XREADGROUP` waits for new entries.
    pub block: Duration,
    /// A pending entry idle this long belongs to a consumer that died:
    /// another takes it over (`XAUTOCLAIM`).
    pub claim_idle: Duration,
    /// How often to look for such entries, and to measure the lag.
    pub claim_every: Duration,
    /// The first wait after a failure; it doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// The longest wait between two attempts.
    pub backoff_max: Duration,
    /// Longest a batch's transaction may take before the connection is
    /// given up as hung.
    pub statement_timeout: Duration,
}

impl Default for IngestSettings {
    fn default() -> IngestSettings {
        IngestSettings {
            batch: 500,
            block: Duration::from_millis(1000),
            claim_idle: Duration::from_secs(10),
            claim_every: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the ingest cannot run at all. Outages of Redis or PostgreSQL are not
/// errors of [`Ingest::run`]: it waits them out.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// `--redis` is not a Redis URL.
    #[error("--redis: not a Redis URL: {0}")]
    RedisUrl(String),
    /// `--postgres` is not a PostgreSQL URL.
    #[error("--postgres: not a PostgreSQL URL: {0}")]
    PostgresUrl(String),
    /// The consumer name is empty, too long or has spaces or control
    /// characters.
    #[error("consumer name must be 1 to 128 visible characters without spaces: {0:?}")]
    ConsumerName(String),
}

/// Why one attempt ended; the loop logs it and tries again.
#[derive(Debug, thiserror::Error)]
enum Outage {
    #[error("Redis: {0}")]
    Redis(String),
    #[error("{0}")]
    Postgres(String),
}

impl From<redis::RedisError> for Outage {
    fn from(error: redis::RedisError) -> Outage {
        Outage::Redis(one_line(&error))
    }
}

impl From<tokio_postgres::Error> for Outage {
    fn from(error: tokio_postgres::Error) -> Outage {
        Outage::Postgres(format!("PostgreSQL: {}", one_line(&error)))
    }
}

impl From<db::DbError> for Outage {
    fn from(error: db::DbError) -> Outage {
        Outage::Postgres(error.to_string())
    }
}

/// What the ingest has done since it started, for the centre's status
/// JSON and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IngestStats {
    /// Events stored (first delivery).
    pub ingested: u64,
    /// Events delivered again and found already stored.
    pub duplicates: u64,
    /// Entries stored in `audit_rejects` instead.
    pub rejected: u64,
    /// Entries found not storable, by the kind of reason (a redelivered
    /// reject counts again).
    pub rejects: RejectCounts,
    /// Stream entries read: new, this consumer's pending, and claimed.
    pub read: u64,
    /// Entries taken over from a consumer that died (`XAUTOCLAIM`).
    pub claimed: u64,
    /// Attempts that ended because Redis or PostgreSQL failed.
    pub outages: u64,
    /// Entries in the stream not yet delivered to the group, at the last
    /// measurement (`XINFO GROUPS` lag); `None` before the first or when
    /// Redis cannot tell.
    pub lag: Option<u64>,
    /// Entries delivered to the group and not yet acknowledged, at the last
    /// measurement.
    pub pending: Option<u64>,
    /// Whether the last attempt reached both Redis and PostgreSQL.
    pub connected: bool,
}

#[derive(Default)]
struct Counters {
    ingested: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    rejects: std::sync::Mutex<RejectCounts>,
    read: AtomicU64,
    claimed: AtomicU64,
    batch_latency: crate::metrics::Histogram,
    outages: AtomicU64,
    /// `u64::MAX`: not known.
    lag: AtomicU64,
    pending: AtomicU64,
    connected: AtomicBool,
}

/// The centre's consumer of the events stream. Clones share their counters.
#[derive(Clone)]
pub struct Ingest {
    settings: IngestSettings,
    counters: Arc<Counters>,
}

impl Ingest {
    /// A consumer with these settings; nothing runs until [`Ingest::run`].
    pub fn new(settings: IngestSettings) -> Ingest {
        let counters = Counters::default();
        counters.lag.store(u64::MAX, Ordering::Relaxed);
        counters.pending.store(u64::MAX, Ordering::Relaxed);
        Ingest {
            settings,
            counters: Arc::new(counters),
        }
    }

    /// The counters now.
    pub fn stats(&self) -> IngestStats {
        let known = |value: u64| (value != u64::MAX).then_some(value);
        IngestStats {
            ingested: self.counters.ingested.load(Ordering::Relaxed),
            duplicates: self.counters.duplicates.load(Ordering::Relaxed),
            rejected: self.counters.rejected.load(Ordering::Relaxed),
            rejects: *self
                .counters
                .rejects
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
            read: self.counters.read.load(Ordering::Relaxed),
            claimed: self.counters.claimed.load(Ordering::Relaxed),
            outages: self.counters.outages.load(Ordering::Relaxed),
            lag: known(self.counters.lag.load(Ordering::Relaxed)),
            pending: known(self.counters.pending.load(Ordering::Relaxed)),
            connected: self.counters.connected.load(Ordering::Relaxed),
        }
    }

    /// How long storing and acknowledging a batch took.
    pub fn batch_latency(&self) -> &crate::metrics::Histogram {
        &self.counters.batch_latency
    }

    /// Reads the events stream as `consumer` of the group and stores what
    /// it reads, until `stop` completes. Redis and PostgreSQL may come and
    /// go: each failure is logged as one line and the loop tries again
    /// after a growing pause.
    ///
    /// The tables must exist ([`db::migrate`]); the PostgreSQL role needs
    /// only `framechain_audit_writer`'s rights.
    ///
    /// # Errors
    /// [`IngestError`] for a URL or a consumer name that can never work.
    pub async fn run(
        &self,
        redis_url: &str,
        postgres_url: &str,
        consumer: &str,
        stop: impl Future<Output = ()>,
    ) -> Result<(), IngestError> {
        let redis = redis::Client::open(redis_url)
            .map_err(|error| IngestError::RedisUrl(one_line(&error)))?;
        postgres_url
            .parse::<tokio_postgres::Config>()
            .map_err(|error| IngestError::PostgresUrl(one_line(&error)))?;
        if consumer.is_empty()
            || consumer.len() > 128
            || consumer
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(IngestError::ConsumerName(framechain_text::untrusted(
                consumer, 140,
            )));
        }
        tokio::pin!(stop);
        let mut backoff = self.settings.backoff_min;
        loop {
            let mut progressed = false;
            let attempt = self.attempt(&redis, postgres_url, consumer, &mut progressed);
            let outage = tokio::select! {
                () = &mut stop => return Ok(()),
                result = attempt => match result {
                    Err(outage) => outage,
                    Ok(never) => match never {},
                },
            };
            self.counters.connected.store(false, Ordering::Relaxed);
            self.counters.outages.fetch_add(1, Ordering::Relaxed);
            if progressed {
                backoff = self.settings.backoff_min;
            }
            log::warn!("audit ingest: {outage}; trying again in {backoff:?}");
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.settings.backoff_max);
        }
    }

    /// One connection to each side, used until either fails.
    async fn attempt(
        &self,
        redis: &redis::Client,
        postgres_url: &str,
        consumer: &str,
        progressed: &mut bool,
    ) -> Result<std::convert::Infallible, Outage> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(self.settings.block + Duration::from_secs(5)));
        let mut redis = redis
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let mut postgres = db::connect(postgres_url).await?;
        create_group(&mut redis).await?;
        self.counters.connected.store(true, Ordering::Relaxed);

        // What this consumer read before and did not acknowledge (it died,
        // or lost Redis between commit and XACK): first, from the start.
        loop {
            let reply = self.read(&mut redis, consumer, "0", None).await?;
            let entries = entry::entries_of_read(reply).map_err(Outage::Redis)?;
            if entries.is_empty() {
                break;
            }
            self.write_and_ack(&mut redis, &mut postgres, &entries)
                .await?;
            *progressed = true;
        }

        let mut next_claim = Instant::now();
        loop {
            if Instant::now() >= next_claim {
                self.claim_abandoned(&mut redis, &mut postgres, consumer)
                    .await?;
                self.measure(&mut redis).await?;
                next_claim = Instant::now() + self.settings.claim_every;
            }
            let block = self
                .settings
                .block
                .min(next_claim.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1));
            let reply = self.read(&mut redis, consumer, ">", Some(block)).await?;
            let entries = entry::entries_of_read(reply).map_err(Outage::Redis)?;
            if !entries.is_empty() {
                self.write_and_ack(&mut redis, &mut postgres, &entries)
                    .await?;
                *progressed = true;
            }
        }
    }

    async fn read(
        &self,
        redis: &mut MultiplexedConnection,
        consumer: &str,
        from: &str,
        block: Option<Duration>,
    ) -> Result<Value, Outage> {
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(CENTER_GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(self.settings.batch);
        if let Some(block) = block {
            command.arg("BLOCK").arg(block.as_millis() as u64);
        }
        command.arg("STREAMS").arg(EVENTS_STREAM).arg(from);
        Ok(command.query_async(redis).await?)
    }

    /// Takes over the entries other consumers read and left idle for
    /// [`IngestSettings::claim_idle`], and stores them.
    async fn claim_abandoned(
        &self,
        redis: &mut MultiplexedConnection,
        postgres: &mut tokio_postgres::Client,
        consumer: &str,
    ) -> Result<(), Outage> {
        let mut cursor = "0-0".to_owned();
        // Bounded: each round moves the cursor on; a very long pending list
        // is finished in the next rounds.
        for _ in 0..100 {
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(EVENTS_STREAM)
                .arg(CENTER_GROUP)
                .arg(consumer)
                .arg(self.settings.claim_idle.as_millis() as u64)
                .arg(&cursor)
                .arg("COUNT")
                .arg(self.settings.batch)
                .query_async(redis)
                .await?;
            let (next, entries) = entry::entries_of_autoclaim(reply).map_err(Outage::Redis)?;
            if !entries.is_empty() {
                log::info!(
                    "audit ingest: took over {} entries another consumer left pending",
                    entries.len()
                );
                self.counters
                    .claimed
                    .fetch_add(entries.len() as u64, Ordering::Relaxed);
                self.write_and_ack(redis, postgres, &entries).await?;
            }
            if next == "0-0" {
                break;
            }
            cursor = next;
        }
        Ok(())
    }

    /// Stores `entries` in one transaction, then acknowledges them.
    async fn write_and_ack(
        &self,
        redis: &mut MultiplexedConnection,
        postgres: &mut tokio_postgres::Client,
        entries: &[StreamEntry],
    ) -> Result<(), Outage> {
        let timeout = self.settings.statement_timeout;
        let started = std::time::Instant::now();
        self.counters
            .read
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        let stored = match tokio::time::timeout(timeout, store::store(postgres, entries)).await {
            Err(_) => return Err(Outage::Postgres("PostgreSQL: a batch timed out".into())),
            Ok(Ok(stored)) => stored,
            Ok(Err(error)) if store::is_about_the_data(&error) => {
                log::warn!(
                    "audit ingest: PostgreSQL refused a batch ({}); storing its entries one by one",
                    one_line(&error)
                );
                tokio::time::timeout(timeout * 2, store::store_one_by_one(postgres, entries))
                    .await
                    .map_err(|_| Outage::Postgres("PostgreSQL: a batch timed out".into()))??
            }
            Ok(Err(error)) => return Err(error.into()),
        };
        let mut ack = redis::cmd("XACK");
        ack.arg(EVENTS_STREAM).arg(CENTER_GROUP);
        for entry in entries {
            ack.arg(&entry.stream_id);
        }
        let _: Value = ack.query_async(redis).await?;
        self.counters.batch_latency.observe(started.elapsed());
        self.counters
            .rejects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(&stored.rejects);
        self.counters
            .ingested
            .fetch_add(stored.inserted, Ordering::Relaxed);
        self.counters
            .duplicates
            .fetch_add(stored.duplicates, Ordering::Relaxed);
        self.counters
            .rejected
            .fetch_add(stored.rejected, Ordering::Relaxed);
        if stored.rejected > 0 {
            log::warn!(
                "audit ingest: {} stream entries were not events; kept in audit_rejects",
                stored.rejected
            );
        }
        Ok(())
    }

    /// The group's lag and pending count, from `XINFO GROUPS`.
    async fn measure(&self, redis: &mut MultiplexedConnection) -> Result<(), Outage> {
        let reply: Value = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(EVENTS_STREAM)
            .query_async(redis)
            .await?;
        let (lag, pending) = group_numbers(reply);
        self.counters
            .lag
            .store(lag.unwrap_or(u64::MAX), Ordering::Relaxed);
        self.counters
            .pending
            .store(pending.unwrap_or(u64::MAX), Ordering::Relaxed);
        Ok(())
    }
}

/// Creates the consumer group when missing, at the stream's start: a new
/// centre takes everything not yet acknowledged, even events sent before it
/// first ran.
async fn create_group(redis: &mut MultiplexedConnection) -> Result<(), Outage> {
    let created: Result<Value, redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(EVENTS_STREAM)
        .arg(CENTER_GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(redis)
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some("BUSYGROUP") => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// `lag` and `pending` of [`CENTER_GROUP`] in an `XINFO GROUPS` reply.
fn group_numbers(reply: Value) -> (Option<u64>, Option<u64>) {
    let Value::Array(groups) = reply else {
        return (None, None);
    };
    for group in groups {
        let pairs: Vec<(Value, Value)> = match group {
            Value::Map(pairs) => pairs,
            Value::Array(flat) => {
                let mut flat = flat.into_iter();
                let mut pairs = Vec::new();
                while let (Some(key), Some(value)) = (flat.next(), flat.next()) {
                    pairs.push((key, value));
                }
                pairs
            }
            _ => continue,
        };
        let text = |value: &Value| match value {
            Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Value::SimpleString(text) => text.clone(),
            _ => String::new(),
        };
        let number = |value: &Value| match value {
            Value::Int(number) => u64::try_from(*number).ok(),
            _ => None,
        };
        let get = |name: &str| pairs.iter().find(|(key, _)| text(key) == name);
        if get("name").map(|(_, value)| text(value)).as_deref() == Some(CENTER_GROUP) {
            return (
                get("lag").and_then(|(_, value)| number(value)),
                get("pending").and_then(|(_, value)| number(value)),
            );
        }
    }
    (None, None)
}

fn one_line(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    framechain_text::untrusted(&text.split_whitespace().collect::<Vec<_>>().join(" "), 300)
}
