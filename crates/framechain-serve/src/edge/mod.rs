//! This server as an edge pod of a centre (docs/center.md), with
//! `--redis`, `--node` and (for rooms placed by the centre) `--center`:
//!
//! - `audit`: the audit events, spooled and fsynced on the pod's disk
//!   (`framechain_events::EventLog`) and shipped to Redis;
//! - the heartbeat: the pod's status in Redis every second
//!   (`framechain_events::heartbeat`);
//! - `placed`: the rooms the centre placed here, and its ticket keys,
//!   read from Redis every second;
//! - `redis_link`: one Redis connection a task keeps.
//!
//! The routes ask [`Edge`] for what a pod does differently: a placement
//! ticket in place of a token, a `307` to the centre for a room not
//! placed here, and the record of each join before its answer.

mod audit;
mod placed;
mod redis_link;

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use framechain_events::{EventKind, EventLog, PodStatus};
use framechain_identity::TicketVerifier;
use tokio::sync::{mpsc, watch};

pub(crate) use audit::Audit;

use crate::ServeError;
use crate::call::driver::Command;
use crate::config::EdgeConfig;
use crate::metrics::Metrics;
use crate::visit::Visits;

/// What the routes and the media loop need of the pod's centre.
pub(crate) struct Edge {
    /// `--node`.
    pub node: String,
    /// `--center`, without a trailing `/`.
    pub center: Option<String>,
    /// Where the centre sends clients: `--public-url`, or the HTTP address.
    pub address: String,
    pub capacity: u32,
    pub labels: std::collections::BTreeMap<String, String>,
    pub redis: String,
    pub audit: Audit,
    /// Placement tickets for this node (keys from Redis).
    pub tickets: TicketVerifier,
    /// Asks the placed rooms' reader for a read now.
    pub read_placement: tokio::sync::Notify,
    /// Reads of the placement finished so far, and whether one is under
    /// way: a ticketed request for a room not known yet waits for a read
    /// that began after it.
    pub placement_reads: watch::Sender<(u64, bool)>,
}

/// Longest a ticketed request waits for a fresh read of the placement.
const PLACEMENT_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

impl Edge {
    /// Opens the spool (a folder that cannot be used is an error naming
    /// it) and records the pod's start.
    pub(crate) fn open(
        config: &EdgeConfig,
        http: std::net::SocketAddr,
        metrics: Arc<Metrics>,
    ) -> Result<Edge, ServeError> {
        let log = EventLog::open(&config.spool, config.spool_max_bytes, &config.node).map_err(
            |error| {
                ServeError::Config(format!(
                    "--spool {}: {error}",
                    framechain::text::untrusted(&config.spool.display().to_string(), 300)
                ))
            },
        )?;
        let audit = Audit::new(log, metrics).map_err(|error| {
            ServeError::Config(format!("cannot start the audit writer: {error}"))
        })?;
        let address = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{http}"));
        let edge = Edge {
            node: config.node.clone(),
            center: config.center.clone(),
            address: address.clone(),
            capacity: config.capacity,
            labels: config.labels.clone(),
            redis: config.redis.clone(),
            audit,
            tickets: TicketVerifier::new(&config.node),
            read_placement: tokio::sync::Notify::new(),
            placement_reads: watch::Sender::new((0, false)),
        };
        edge.audit.record_later(
            None,
            None,
            EventKind::PodStarted {
                address,
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
        );
        Ok(edge)
    }

    /// Starts shipping the spool, the heartbeat and (with `--center`)
    /// the placed rooms' reader, on the current tokio runtime.
    pub(crate) fn start_tasks(
        self: &Arc<Edge>,
        visits: Option<Arc<Visits>>,
        commands: mpsc::Sender<Command>,
        status: impl Fn() -> PodStatus + Send + 'static,
        shutdown: watch::Receiver<bool>,
    ) {
        self.audit.log().ship(&self.redis, shutdown.clone());
        tokio::spawn(self.audit.clone().report_spool(shutdown.clone()));
        framechain_events::heartbeat(&self.redis, status, shutdown.clone());
        if let (Some(visits), Some(_)) = (visits, &self.center) {
            match redis_link::RedisLink::new(&self.redis, "placed rooms") {
                Ok(link) => {
                    tokio::spawn(placed::run(link, self.clone(), visits, commands, shutdown));
                }
                // The URL was checked with the configuration.
                Err(error) => log::error!("{error}"),
            }
        }
    }

    /// Reads the placement now and waits (at most [`PLACEMENT_WAIT`]) for
    /// a read that began after this call. The centre publishes a room's
    /// placement before it answers its `307`, so a client with a fresh
    /// ticket finds its room here even between two periodic reads.
    pub(crate) async fn read_placement_now(&self) {
        if self.center.is_none() {
            return;
        }
        let mut reads = self.placement_reads.subscribe();
        let (done, under_way) = *reads.borrow_and_update();
        // A read under way may have begun before the centre's publication.
        let wanted = done + if under_way { 2 } else { 1 };
        self.read_placement.notify_one();
        let _ =
            tokio::time::timeout(PLACEMENT_WAIT, reads.wait_for(|(done, _)| *done >= wanted)).await;
    }

    /// With `--center`, the `307` that sends a client asking for a room
    /// not placed here to the centre, which knows where it is now (`path`
    /// is the request's path and query).
    pub(crate) fn to_centre(&self, path_and_query: &str) -> Option<Response> {
        let center = self.center.as_ref()?;
        let location = format!("{center}{path_and_query}");
        let value = HeaderValue::from_str(&location).ok()?;
        let mut response = (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "this room is not placed on this pod; ask the centre\n",
        )
            .into_response();
        response.headers_mut().insert(header::LOCATION, value);
        Some(response)
    }
}
