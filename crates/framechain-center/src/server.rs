//! Starting and stopping a centre: connect PostgreSQL (migrate or check the
//! schema) and Redis, load the keys, the admin token and the rooms file,
//! publish the ticket keys, then spawn the centre's tasks: the HTTP front
//! door, the placement loop ([`crate::failover`]), the files read again
//! and the ticket keys published ([`crate::reload`]) and the events ingest
//! ([`crate::ingest`], this replica's name as its consumer name).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use framechain_identity::Verifier;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::ingest::{Ingest, IngestSettings};
use crate::pods::RedisLink;
use crate::rooms::{MAX_ROOMS_FILE, Room};
use crate::state::{AdminToken, Center};
use crate::store::Store;
use crate::tickets::TicketSigner;

/// Connections open at once, at most; one more is closed unanswered.
pub const MAX_CONNECTIONS: usize = 4096;
/// How long a connection may wait for a request's headers (and idle
/// between requests).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one connection may live: a client dribbling a body cannot
/// hold its place longer.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// hyper's read buffer: the request line and headers must fit.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Everything a centre needs (`framechain center`'s options).
#[derive(Clone, Debug)]
pub struct CenterSettings {
    /// Where HTTP is served.
    pub http: SocketAddr,
    /// Redis, `redis://host:port`.
    pub redis: String,
    /// PostgreSQL, `postgres://user:password@host:port/db`.
    pub postgres: String,
    /// The clinic's JWKS (the users' tokens).
    pub keys: PathBuf,
    /// The audience the users' tokens carry.
    pub audience: String,
    /// The admin token file.
    pub admin_token_file: PathBuf,
    /// The ticket key (P-256 PKCS#8 PEM); a new one at each start if none.
    pub ticket_key: Option<PathBuf>,
    /// Rooms to add at start.
    pub rooms: Option<PathBuf>,
    /// This replica's name.
    pub name: String,
    /// Whether to apply the migrations (else the schema is checked).
    pub migrate: bool,
}

/// Why a centre could not start: one line.
#[derive(Debug, thiserror::Error)]
pub enum CenterError {
    /// A file, an option or a service that is not usable.
    #[error("{0}")]
    Config(String),
}

fn config(error: impl std::fmt::Display) -> CenterError {
    CenterError::Config(error.to_string())
}

/// A running centre.
pub struct RunningCenter {
    /// Where HTTP is served (the port the system chose for `:0`).
    pub address: SocketAddr,
    /// The shared state (tests look at it).
    pub center: Arc<Center>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

/// Starts a centre on the current tokio runtime.
///
/// # Errors
/// [`CenterError::Config`], naming what is not usable.
pub async fn start(settings: CenterSettings) -> Result<RunningCenter, CenterError> {
    let verifier = Verifier::load(&settings.keys, &settings.audience).map_err(config)?;
    let admin = AdminToken::read(&settings.admin_token_file).map_err(CenterError::Config)?;
    let tickets = match &settings.ticket_key {
        Some(path) => TicketSigner::read(path).map_err(config)?,
        None => {
            log::warn!("no --ticket-key: a new ticket key for this run; replicas must share one");
            TicketSigner::generate().map_err(config)?
        }
    };
    let rooms = match &settings.rooms {
        Some(path) => Some(read_rooms_file(path)?),
        None => None,
    };
    let store = Store::connect(&settings.postgres).await.map_err(config)?;
    store
        .prepare_schema(settings.migrate)
        .await
        .map_err(config)?;
    let redis = RedisLink::new(&settings.redis).map_err(config)?;
    let now = crate::http::now_unix().max(0) as u64;
    redis
        .publish_ticket_keys(now, &tickets.published(now))
        .await
        .map_err(config)?;
    let center = Arc::new(Center {
        name: settings.name.clone(),
        store,
        redis,
        verifier,
        admin,
        tickets,
        sight: crate::sight::Sight::new(),
        ingest: Ingest::new(IngestSettings::default()),
        metrics: crate::metrics::Metrics::default(),
    });
    if let Some(rooms) = &rooms {
        for room in rooms {
            crate::http::add_room(&center, room)
                .await
                .map_err(|refused| CenterError::Config(refused.1))?;
        }
        log::info!("{} room(s) from the rooms file", rooms.len());
    }
    let reloading = crate::reload::Reloading {
        ticket_key: settings.ticket_key.clone(),
        rooms: settings.rooms.clone().zip(rooms),
    };
    let listener = TcpListener::bind(settings.http)
        .await
        .map_err(|error| CenterError::Config(format!("--http {}: {error}", settings.http)))?;
    let address = listener.local_addr().map_err(config)?;
    let (shutdown, stopping) = watch::channel(false);
    // The centre's tasks.
    let ingest = {
        let center = center.clone();
        let (redis, postgres) = (settings.redis.clone(), settings.postgres.clone());
        let mut stop = stopping.clone();
        async move {
            let stop = async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            };
            if let Err(error) = center
                .ingest
                .run(&redis, &postgres, &center.name, stop)
                .await
            {
                log::error!("audit ingest: {error}");
            }
        }
    };
    let tasks = vec![
        ("ingest", tokio::spawn(ingest)),
        (
            "placement",
            tokio::spawn(crate::failover::run(center.clone(), stopping.clone())),
        ),
        (
            "reload",
            tokio::spawn(crate::reload::run(
                center.clone(),
                reloading,
                stopping.clone(),
            )),
        ),
        (
            "http",
            tokio::spawn(serve_http(
                listener,
                crate::http::router(center.clone()),
                stopping,
            )),
        ),
    ];
    log::info!("centre {} on http://{address}", settings.name);
    Ok(RunningCenter {
        address,
        center,
        shutdown,
        tasks,
    })
}

pub(crate) fn read_rooms_file(path: &std::path::Path) -> Result<Vec<Room>, CenterError> {
    use std::io::Read as _;
    let named = |what: String| CenterError::Config(format!("{}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(|error| named(error.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_ROOMS_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| named(error.to_string()))?;
    if bytes.len() as u64 > MAX_ROOMS_FILE {
        return Err(named(format!("larger than {MAX_ROOMS_FILE} bytes")));
    }
    Room::parse_list(&bytes).map_err(|problem| named(problem.to_string()))
}

impl RunningCenter {
    /// Stops every task and waits for them (a few seconds at most).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for (name, task) in self.tasks {
            match tokio::time::timeout(Duration::from_secs(10), task).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => log::warn!("centre task {name} ended: {error}"),
                Err(_) => log::warn!("centre task {name} did not stop within 10 s"),
            }
        }
    }
}

/// Applies the schema's migrations on `postgres` and returns how many ran
/// (`framechain center --postgres URL --migrate-only`).
///
/// # Errors
/// [`CenterError::Config`] when PostgreSQL cannot be reached or a
/// migration fails.
pub fn migrate_only(postgres: &str) -> Result<usize, CenterError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(config)?;
    runtime.block_on(async {
        let mut client = crate::db::connect(postgres).await.map_err(config)?;
        crate::db::migrate(&mut client).await.map_err(config)
    })
}

/// Runs a centre until SIGINT or SIGTERM (`framechain center`).
///
/// # Errors
/// What [`start`] says.
pub fn run(settings: CenterSettings) -> Result<(), CenterError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(config)?;
    runtime.block_on(async {
        let running = start(settings).await?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(config)?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        log::info!("stopping");
        running.stop().await;
        Ok(())
    })
}

/// The front door: our own accept loop, a cap on open connections, and
/// hyper's HTTP/1 with a header timeout and a small header buffer, as
/// serve's front door (crates/framechain-serve/src/front_door.rs) does for
/// the same reasons; every connection ends after [`CONNECTION_LIFETIME`].
async fn serve_http(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    log::warn!("HTTP accept: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let Ok(place) = places.clone().try_acquire_owned() else {
            log::warn!("{MAX_CONNECTIONS} HTTP connections open; one more closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _place = place;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .keep_alive(true);
            let serving = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(serving);
            let lifetime = tokio::time::sleep(CONNECTION_LIFETIME);
            tokio::pin!(lifetime);
            tokio::select! {
                _ = serving.as_mut() => {}
                _ = &mut lifetime => {}
                _ = shutdown.changed() => {
                    serving.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
                }
            }
        });
    }
}
