//! Carries the spool's records to Redis, in order, at least once.
//!
//! The shipper reads a batch from the spool's cursor, sends it as one
//! pipeline of `XADD framechain:events * id ID body BODY prev HASH hash
//! HASH`, and only then moves the cursor (fsynced) and drops shipped
//! segments. Any Redis error drops the connection and, after a backoff
//! (100 ms doubling to 5 s), sends again from the cursor: a record may
//! reach the stream twice, and the centre keeps one row per id.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::event::EVENTS_STREAM;
use crate::log::EventLog;
use crate::spool::{Batch, SpoolError};

/// Most records sent in one pipeline.
pub const BATCH_RECORDS: usize = 256;
/// First wait after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// After a stop, how long the shipper keeps sending what is left.
pub const STOP_FLUSH: Duration = Duration::from_secs(2);
/// How long a connection attempt or a reply may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the Redis address cannot be used. One line.
#[derive(Debug, thiserror::Error)]
#[error("bad Redis URL: {0}")]
pub struct BadRedisUrl(String);

/// Checks a Redis URL (`redis://HOST:PORT/`) the way [`ship`] and
/// [`crate::heartbeat::heartbeat`] will read it, so a wrong setting fails at
/// start rather than in a task's log.
///
/// # Errors
/// [`BadRedisUrl`] with the client's reason.
pub fn check_redis_url(url: &str) -> Result<(), BadRedisUrl> {
    redis::Client::open(url)
        .map(drop)
        .map_err(|error| BadRedisUrl(framechain_text::untrusted(&error.to_string(), 200)))
}

/// Connects with bounded waits. Shared by the heartbeat.
pub(crate) async fn connect(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Starts the shipper on the current tokio runtime: it runs until `stop`
/// turns `true` (or its sender is dropped), then keeps sending the backlog
/// for at most [`STOP_FLUSH`] and ends. A URL that cannot be parsed ends it
/// at once with an error in the log (check it first with
/// [`check_redis_url`]); an unreachable Redis is retried for as long as it
/// runs, while the spool keeps the records. Run one shipper per log.
///
/// # Panics
/// When called outside a tokio runtime.
pub fn ship(log: EventLog, redis_url: &str, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = redis::Client::open(redis_url);
    tokio::spawn(async move {
        match client {
            Ok(client) => Shipper::new(log, client, stop).run().await,
            Err(error) => log::error!(
                "event shipping: bad Redis URL: {}; events stay in the spool",
                framechain_text::untrusted(&error.to_string(), 200)
            ),
        }
    })
}

struct Shipper {
    log: EventLog,
    client: redis::Client,
    connection: Option<MultiplexedConnection>,
    stop: watch::Receiver<bool>,
    /// Set once stopping: sending ends then.
    deadline: Option<Instant>,
    backoff: Duration,
}

impl Shipper {
    fn new(log: EventLog, client: redis::Client, stop: watch::Receiver<bool>) -> Shipper {
        Shipper {
            log,
            client,
            connection: None,
            stop,
            deadline: None,
            backoff: BACKOFF_MIN,
        }
    }

    async fn run(mut self) {
        loop {
            self.notice_stop();
            if self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                let left = self.log.pending();
                if left > 0 {
                    log::warn!(
                        "event shipping stopped with {left} records in the spool; they ship when the pod starts again on the same folder"
                    );
                }
                return;
            }
            let batch = match self.read_batch().await {
                Ok(batch) => batch,
                Err(error) => {
                    log::error!("event shipping: {error}");
                    self.back_off().await;
                    continue;
                }
            };
            if batch.records.is_empty() {
                if self.deadline.is_some() {
                    return;
                }
                self.wait_for_records().await;
                continue;
            }
            match self.send(&batch).await {
                Ok(()) => {}
                Err(error) => {
                    log::warn!(
                        "event shipping: Redis: {}; {} records wait in the spool",
                        framechain_text::untrusted(&error, 200),
                        self.log.pending()
                    );
                    self.connection = None;
                    self.back_off().await;
                    continue;
                }
            }
            let last_hash = batch
                .records
                .last()
                .expect("the batch is not empty")
                .sealed
                .hash
                .clone();
            let log = self.log.clone();
            let marked =
                tokio::task::spawn_blocking(move || log.mark_shipped(batch.end, &last_hash))
                    .await
                    .unwrap_or_else(|join| Err(spool_task_failed(join)));
            match marked {
                Ok(()) => self.backoff = BACKOFF_MIN,
                Err(error) => {
                    // They reached Redis; they will be sent again, and the
                    // centre keeps one row per id.
                    log::error!("event shipping: {error}");
                    self.back_off().await;
                }
            }
        }
    }

    async fn read_batch(&self) -> Result<Batch, SpoolError> {
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || log.peek(BATCH_RECORDS))
            .await
            .unwrap_or_else(|join| Err(spool_task_failed(join)))
    }

    /// Sends a batch as one pipeline; errors as one line.
    async fn send(&mut self, batch: &Batch) -> Result<(), String> {
        let bounded = async {
            if self.connection.is_none() {
                self.connection = Some(connect(&self.client).await.map_err(|e| e.to_string())?);
            }
            let connection = self.connection.as_mut().expect("just connected");
            let mut pipe = redis::pipe();
            for record in &batch.records {
                pipe.cmd("XADD")
                    .arg(EVENTS_STREAM)
                    .arg("*")
                    .arg("id")
                    .arg(record.id.to_string())
                    .arg("body")
                    .arg(&record.sealed.body)
                    .arg("prev")
                    .arg(&record.sealed.prev_hash)
                    .arg("hash")
                    .arg(&record.sealed.hash)
                    .ignore();
            }
            pipe.query_async::<()>(connection)
                .await
                .map_err(|e| e.to_string())
        };
        // The connection's own timeouts bound each step; this bounds the
        // whole when stopping.
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, bounded)
                .await
                .unwrap_or_else(|_| Err("no answer before the stop deadline".to_owned())),
            None => bounded.await,
        }
    }

    fn notice_stop(&mut self) {
        let stopped = *self.stop.borrow() || self.stop.has_changed().is_err();
        if stopped && self.deadline.is_none() {
            self.deadline = Some(Instant::now() + STOP_FLUSH);
        }
    }

    async fn wait_for_records(&mut self) {
        let log = self.log.clone();
        tokio::select! {
            () = log.appended() => {}
            _ = self.stop.changed() => {}
        }
    }

    /// Waits the current backoff (cut short by a stop, never past the stop
    /// deadline) and doubles it.
    async fn back_off(&mut self) {
        let until = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        match self.deadline {
            Some(deadline) => tokio::time::sleep_until(until.min(deadline)).await,
            None => {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => {}
                    _ = self.stop.changed() => {}
                }
            }
        }
    }
}

fn spool_task_failed(join: tokio::task::JoinError) -> SpoolError {
    SpoolError::Io {
        path: "spool task".into(),
        source: std::io::Error::other(join.to_string()),
    }
}
