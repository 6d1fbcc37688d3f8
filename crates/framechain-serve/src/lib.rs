//! `framechain serve`: WebRTC ingest (WHIP, RFC 9725) and egress (WHEP)
//! through a sandboxed live pipeline. One pipeline serves many calls; each
//! publisher is one [`framechain::live::LiveSession`] with its own stage
//! instances, and its viewers receive what the pipeline gives out.
//!
//! The pieces (private modules), in the order a call meets them:
//! - `front_door`: accepts HTTP connections and bounds each (caps per
//!   process and per client, header and body timeouts, buffer size);
//! - `http`: WHIP/WHEP requests are checked (size, type, token) and handed
//!   to the media loop;
//! - `offer`: the SDP offer becomes an ICE-lite, H.264-only connection;
//! - `call`: every call's WebRTC connection. `call::core` is sans-IO (no
//!   socket, no clock): it routes datagrams to calls, applies the keyframe
//!   and bitrate policy and says what to send and what to push into the
//!   sessions; `call::driver`, one tokio task, owns the UDP socket, the
//!   timer and the sessions, and does what the core says;
//! - `identity`: who a caller is (a JWT checked against the clinic's
//!   keys) and what they may do (a Rego policy); its `tools` make keys and
//!   tokens for the command line;
//! - `metrics` and `stream_stats`: what `/metrics` and the watch page show.
//!
//! ```no_run
//! use std::sync::Arc;
//! use framechain::{ChainSpec, Engine, EngineConfig, Pipeline};
//! use framechain_serve::{Server, ServeConfig, StreamSpec};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::new(EngineConfig::default())?;
//! let chain = ChainSpec::parse_launch(
//!     "decode-h264 alignment=access-unit ! scale width=1280 height=720 ! encode-h264",
//! )?;
//! let mut config = ServeConfig::new(Arc::new(Pipeline::build(&engine, &chain)?));
//! config.streams.push(StreamSpec::parse("room1:publish-secret:view-secret")?);
//! let server = Server::start(config)?;
//! println!("WHIP at http://{}/whip/room1", server.http_addr());
//! server.wait_for_signal();
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod args;
mod auth;
mod call;
mod config;
mod cors;
mod edge;
mod front_door;
#[doc(hidden)]
pub mod fuzzing;
mod http;
/// Who may join (the `framechain-identity` crate): tokens, keys, the policy.
pub use framechain_identity as identity;
mod metrics;
mod offer;
mod pages;
mod stream_stats;
mod visit;

pub use args::ServeArgs;
pub use config::{DEFAULT_AUDIENCE, EdgeConfig, ServeConfig, StreamSpec};
pub use front_door::HttpLimits;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use framechain::live::LiveRuntime;
use framechain::{ChainSpec, Engine, Pipeline};
use tokio::sync::{mpsc, watch};

/// The decoder a pipeline must start with, told to take whole access units.
const DECODER: &str = "decode-h264";
/// The UDP receive buffer asked for: a one-thread loop with the default
/// buffer starts losing packets near 100 publishers.
const UDP_RECEIVE_BUFFER: usize = 16 << 20;
/// Commands from the HTTP side waiting for the media loop, at most.
const COMMAND_QUEUE: usize = 256;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A command-line or configuration value is wrong.
    #[error("{0}")]
    Config(String),
    /// A socket could not be bound.
    #[error("cannot bind the {what} address {addr}: {source}")]
    Bind {
        /// `HTTP` or `media`.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error.
        source: std::io::Error,
    },
    /// The live runtime or the pipeline failed to start.
    #[error(transparent)]
    Framechain(#[from] framechain::Error),
}

/// A running server. Dropping it (or [`Server::shutdown`]) ends every call
/// and stops serving.
pub struct Server {
    http_addr: SocketAddr,
    media_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tokio: Option<tokio::runtime::Runtime>,
    live: Arc<LiveRuntime>,
    draining: Arc<AtomicBool>,
    drain_timeout: std::time::Duration,
}

impl Server {
    /// Binds the HTTP and media sockets and serves on threads of its own
    /// (two for the network, and the live runtime's workers for stages).
    /// It may be called from inside a tokio runtime (an embedder's
    /// `#[tokio::main]`): the server's runtime is separate, nothing here
    /// blocks on it, and dropping the [`Server`] there stops it without
    /// blocking (its threads end on their own). [`Server::wait_for_signal`]
    /// blocks, so call it only outside an async context.
    pub fn start(config: ServeConfig) -> Result<Server, ServeError> {
        config.check()?;
        check_pipeline(&config.pipeline)?;
        // The connection cap stays below the file limit, so the UDP socket
        // and stage files always get descriptors.
        let http_limits = match front_door::raise_open_file_limit() {
            Some(open_files) => config.http_limits.within_file_limit(open_files)?,
            None => config.http_limits.clone(),
        };
        // Every session, and every pipeline swapped in from this one,
        // takes pictures up to the server's bound.
        let (max_width, max_height) = config.max_picture.unzip();
        let pipeline = Arc::new(config.pipeline.with_max_picture(max_width, max_height));
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("framechain-serve")
            .enable_all()
            .build()
            .map_err(|error| {
                ServeError::Config(format!("cannot start the network threads: {error}"))
            })?;
        let mut live_config = config.live.clone();
        live_config.max_sessions = live_config.max_sessions.min(config.max_sessions);
        let live = Arc::new(LiveRuntime::new(live_config)?);
        // A spare made before the first call: a node's first call (one
        // failed over from another node, say) starts warm too.
        live.keep_warm(&pipeline);
        let live_events = live.events().expect("a new runtime's receiver");
        let udp = bind_media(config.media)?;
        let media_addr = udp.local_addr().map_err(|source| ServeError::Bind {
            what: "media",
            addr: config.media,
            source,
        })?;
        let tcp = std::net::TcpListener::bind(config.http).map_err(|source| ServeError::Bind {
            what: "HTTP",
            addr: config.http,
            source,
        })?;
        let http_addr = tcp.local_addr().map_err(|source| ServeError::Bind {
            what: "HTTP",
            addr: config.http,
            source,
        })?;
        tcp.set_nonblocking(true)
            .and_then(|()| udp.set_nonblocking(true))
            .map_err(|source| ServeError::Bind {
                what: "media",
                addr: config.media,
                source,
            })?;
        let candidate = match config.advertise {
            Some(ip) => SocketAddr::new(ip, media_addr.port()),
            None => media_addr,
        };
        let metrics = Arc::new(metrics::Metrics::new());
        let edge = match &config.edge {
            Some(edge) => Some(Arc::new(edge::Edge::open(
                edge,
                http_addr,
                metrics.clone(),
            )?)),
            None => None,
        };
        let start_health = Arc::new(call::start_health::StartHealth::default());
        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let core_settings = call::core::CoreSettings {
            streams: config.streams.iter().map(|s| s.name.clone()).collect(),
            stage_names: call::driver::stage_names(&pipeline),
            max_viewers: config.max_viewers,
            idle_timeout: config.idle_timeout,
            connect_timeout: config.connect_timeout,
            max_pending_offers_per_client: config.max_pending_offers_per_client,
            congestion_control: config.congestion_control,
            metrics: metrics.clone(),
            start_health: start_health.clone(),
        };
        let driver_settings = call::driver::DriverSettings {
            runtime: live.clone(),
            metrics: metrics.clone(),
            candidate,
            max_sessions: config.max_sessions,
            fps: config.fps,
            congestion_control: config.congestion_control,
            audit: edge.as_ref().map(|edge| edge.audit.clone()),
        };
        let visits = match config.visit_files() {
            Some(files) => Some(Arc::new(visit::Visits::start(
                &files,
                pipeline.clone(),
                config.streams.iter().map(|s| s.name.clone()).collect(),
            )?)),
            None => None,
        };
        // On a pod, each reload of the policy or the key set is recorded.
        if let (Some(visits), Some(edge)) = (&visits, &edge) {
            visits.policy.on_reload(edge.audit.reload_listener());
            visits.verifier.on_reload(edge.audit.reload_listener());
        }
        let draining = Arc::new(AtomicBool::new(false));
        let state = Arc::new(http::HttpState {
            tokens: auth::Tokens::new(&config.streams),
            admin: auth::AdminToken::new(config.admin_token.as_deref()),
            swapping: tokio::sync::Mutex::new(()),
            commands: commands_tx,
            metrics: metrics.clone(),
            runtime: live.clone(),
            max_sessions: config.max_sessions,
            draining: draining.clone(),
            start_health,
            visits: visits.clone(),
            edge: edge.clone(),
            cors: Arc::new(cors::CorsOrigins::new(
                edge.as_ref().and_then(|edge| edge.center.as_deref()),
                Some(
                    edge.as_ref()
                        .map_or_else(
                            || format!("http://{http_addr}"),
                            |edge| edge.address.clone(),
                        )
                        .as_str(),
                ),
                &config.cors_origins,
            )),
        });
        let status_state = state.clone();
        let rooms_commands = state.commands.clone();
        let max_connections = http_limits.max_connections;
        // Entered, not blocked on: `Server::start` may be called from a
        // task of the embedder's own tokio runtime, where `block_on`
        // would panic. The sockets register with the server's runtime.
        let started: Result<(), std::io::Error> = {
            let _entered = tokio.enter();
            (|| {
                let udp = tokio::net::UdpSocket::from_std(udp)?;
                let tcp = tokio::net::TcpListener::from_std(tcp)?;
                let media = call::driver::MediaDriver::new(
                    driver_settings,
                    pipeline,
                    core_settings,
                    Arc::new(udp),
                );
                tokio.spawn(media.run(commands_rx, live_events, shutdown_rx.clone()));
                if let Some(edge) = &edge {
                    let status = pod_status(status_state, edge.clone());
                    edge.start_tasks(
                        visits.clone(),
                        rooms_commands.clone(),
                        status,
                        shutdown_rx.clone(),
                    );
                }
                if let Some(visits) = visits.clone() {
                    tokio.spawn(visit::watcher::run(
                        visits,
                        rooms_commands,
                        shutdown_rx.clone(),
                    ));
                }
                let app = http::router(state);
                tokio.spawn(front_door::serve(
                    tcp,
                    app,
                    http_limits,
                    metrics,
                    shutdown_rx,
                ));
                Ok(())
            })()
        };
        started.map_err(|source| ServeError::Bind {
            what: "HTTP",
            addr: config.http,
            source,
        })?;
        if let Some(visits) = &visits {
            log::info!("rooms served: {} room(s) now", visits.registry.len());
        }
        log::info!(
            "serving {} stream(s): HTTP on {http_addr} (at most {} connections, {} per client), media on {media_addr} (candidate {candidate})",
            config.streams.len(),
            max_connections,
            config.http_limits.max_connections_per_client,
        );
        Ok(Server {
            http_addr,
            media_addr,
            shutdown,
            tokio: Some(tokio),
            live,
            draining,
            drain_timeout: config.drain_timeout,
        })
    }

    /// The bound HTTP address (with the real port when it was 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound media (UDP) address.
    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// Publishers' sessions open now.
    pub fn sessions(&self) -> usize {
        self.live.sessions()
    }

    /// Stops taking calls while the running ones go on: `/readyz` and
    /// every new WHIP or WHEP offer answer `503` (with `Retry-After`), so
    /// a load balancer sends new calls elsewhere. For a rolling update:
    /// drain, wait until [`Server::sessions`] is 0 or the grace period
    /// ends, then [`Server::shutdown`].
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether [`Server::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Blocks until SIGINT or SIGTERM, then drains for up to the
    /// configured [`ServeConfig::drain_timeout`] (until the last call
    /// ends, or a second signal), then shuts down.
    pub fn wait_for_signal(self) {
        if let Some(tokio) = &self.tokio {
            tokio.block_on(async {
                let mut terminate =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                let mut stop = async || {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = async {
                            match terminate.as_mut() {
                                Some(signal) => { signal.recv().await; }
                                None => std::future::pending::<()>().await,
                            }
                        } => {}
                    }
                };
                stop().await;
                if self.drain_timeout.is_zero() || self.sessions() == 0 {
                    return;
                }
                log::info!(
                    "draining: {} call(s) may go on for up to {} s (a second signal stops at once)",
                    self.sessions(),
                    self.drain_timeout.as_secs_f64()
                );
                self.start_draining();
                let drained = async {
                    while self.sessions() > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                };
                tokio::select! {
                    _ = stop() => {}
                    _ = drained => {}
                    _ = tokio::time::sleep(self.drain_timeout) => {}
                }
            });
        }
        log::info!("shutting down: ending {} call(s)", self.sessions());
        self.shutdown();
    }

    /// Ends every call and stops serving.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(tokio) = self.tokio.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // Dropped in a task of the embedder's runtime, which must
                // not block: the server's threads are told to stop and
                // end on their own.
                tokio.shutdown_background();
            } else {
                tokio.shutdown_timeout(std::time::Duration::from_secs(2));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the heartbeat tells the centre, read from the server's state at
/// each beat.
fn pod_status(
    state: Arc<http::HttpState>,
    edge: Arc<edge::Edge>,
) -> impl Fn() -> framechain_events::PodStatus + Send + 'static {
    move || framechain_events::PodStatus {
        node: edge.node.clone(),
        address: edge.address.clone(),
        capacity: edge.capacity,
        load: state
            .visits
            .as_ref()
            .map_or(0, |visits| visits.registry.len() as u32),
        calls: state.runtime.sessions() as u32,
        ready: http::readiness(&state).is_ok(),
        draining: state.draining.load(Ordering::Relaxed),
        labels: edge.labels.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64),
    }
}

/// The pipeline must take H.264 access units and give H.264 out.
pub(crate) fn check_pipeline(pipeline: &Pipeline) -> Result<(), ServeError> {
    pipeline.check_ends(
        &framechain::Port::h264_packets(),
        &framechain::Port::h264_packets(),
    )?;
    Ok(())
}

/// Gives a leading `decode-h264` without an `alignment` the alignment of
/// what a live source gives, one whole access unit per packet, so each
/// picture comes out of the push that brought it rather than one later.
pub fn align_leading_decoder(chain: &mut ChainSpec) {
    let Some(first) = chain.stages.first_mut() else {
        return;
    };
    let is_decoder = first.stage == DECODER
        || std::path::Path::new(&first.stage)
            .file_name()
            .is_some_and(|name| name == format!("{DECODER}.wasm").as_str());
    if is_decoder && !first.params.iter().any(|(key, _)| key == "alignment") {
        first
            .params
            .push(("alignment".to_owned(), "access-unit".to_owned()));
    }
}

/// `framechain serve`: builds the pipeline of `args.pipeline` on `engine`,
/// serves until SIGINT or SIGTERM, then ends every call.
pub fn run(args: &ServeArgs, engine: &Engine) -> Result<(), ServeError> {
    let mut chain = ChainSpec::read_pipeline_file(&args.pipeline)?;
    align_leading_decoder(&mut chain);
    let pipeline = Arc::new(Pipeline::build(engine, &chain)?);
    let config = args.config(pipeline)?;
    Server::start(config)?.wait_for_signal();
    Ok(())
}

/// The media socket, with a receive buffer for many publishers.
fn bind_media(addr: SocketAddr) -> Result<std::net::UdpSocket, ServeError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let bind_error = |source| ServeError::Bind {
        what: "media",
        addr,
        source,
    };
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(bind_error)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER);
    socket.bind(&addr.into()).map_err(bind_error)?;
    Ok(socket.into())
}
