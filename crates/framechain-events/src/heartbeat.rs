//! The pod's heartbeat: every [`HEARTBEAT_INTERVAL_MS`] its [`PodStatus`]
//! goes to `framechain:pod:NODE` with a [`HEARTBEAT_TTL_MS`] expiry, and
//! its name to [`PODS_SET`]. A pod that stops beating expires; one that
//! stops cleanly deletes its key, so the centre sees it gone at once.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::pod::{HEARTBEAT_INTERVAL_MS, HEARTBEAT_TTL_MS, PODS_SET, PodStatus};
use crate::ship::connect;

/// How long the goodbye (`DEL`) may take when stopping.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// Starts the heartbeat on the current tokio runtime. `status` is asked for
/// the pod's state at each beat. Redis errors are logged (once per outage)
/// and the next beat tries again with a new connection; it never panics.
/// When `stop` turns `true` (or its sender is dropped) it deletes the
/// pod's key and ends. A URL that cannot be parsed ends it at once with an
/// error in the log (check it first with [`crate::ship::check_redis_url`]).
///
/// # Panics
/// When called outside a tokio runtime.
pub fn heartbeat(
    redis_url: &str,
    status: impl Fn() -> PodStatus + Send + 'static,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let client = redis::Client::open(redis_url);
    tokio::spawn(async move {
        let client = match client {
            Ok(client) => client,
            Err(error) => {
                log::error!(
                    "heartbeat: bad Redis URL: {}",
                    framechain_text::untrusted(&error.to_string(), 200)
                );
                return;
            }
        };
        let mut connection: Option<MultiplexedConnection> = None;
        let mut node: Option<String> = None;
        let mut failing = false;
        let mut ticks = tokio::time::interval(Duration::from_millis(HEARTBEAT_INTERVAL_MS));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = ticks.tick() => {}
                changed = stop.changed() => {
                    if changed.is_err() { break; }
                    continue;
                }
            }
            let now = status();
            node = Some(now.node.clone());
            match beat(&client, &mut connection, &now).await {
                Ok(()) => {
                    if failing {
                        log::info!("heartbeat: Redis answers again");
                    }
                    failing = false;
                }
                Err(error) => {
                    connection = None;
                    if !failing {
                        log::warn!(
                            "heartbeat: Redis: {}; trying again every beat",
                            framechain_text::untrusted(&error.to_string(), 200)
                        );
                    }
                    failing = true;
                }
            }
        }
        if let Some(node) = node {
            goodbye(&client, &mut connection, &node).await;
        }
    })
}

async fn beat(
    client: &redis::Client,
    connection: &mut Option<MultiplexedConnection>,
    status: &PodStatus,
) -> redis::RedisResult<()> {
    if connection.is_none() {
        *connection = Some(connect(client).await?);
    }
    let connection = connection.as_mut().expect("just connected");
    let json = serde_json::to_string(status).expect("a pod status serialises");
    redis::pipe()
        .cmd("SET")
        .arg(PodStatus::key(&status.node))
        .arg(json)
        .arg("PX")
        .arg(HEARTBEAT_TTL_MS)
        .ignore()
        .cmd("SADD")
        .arg(PODS_SET)
        .arg(&status.node)
        .ignore()
        .query_async::<()>(connection)
        .await
}

async fn goodbye(
    client: &redis::Client,
    connection: &mut Option<MultiplexedConnection>,
    node: &str,
) {
    let delete = async {
        if connection.is_none() {
            *connection = Some(connect(client).await?);
        }
        let connection = connection.as_mut().expect("just connected");
        redis::cmd("DEL")
            .arg(PodStatus::key(node))
            .query_async::<()>(connection)
            .await
    };
    match tokio::time::timeout(GOODBYE_TIMEOUT, delete).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => log::warn!(
            "heartbeat: could not delete {} on stop ({}); it expires within {HEARTBEAT_TTL_MS} ms",
            PodStatus::key(node),
            framechain_text::untrusted(&error.to_string(), 200)
        ),
        Err(_) => log::warn!(
            "heartbeat: Redis did not answer the delete of {} on stop; it expires within {HEARTBEAT_TTL_MS} ms",
            PodStatus::key(node)
        ),
    }
}
