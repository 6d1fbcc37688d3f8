//! `framechain serve`'s command line, shared by the CLI and the containerd
//! shim (which runs `serve` as a pod's process).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use framechain::Pipeline;

use crate::config;
use crate::{ServeConfig, ServeError, StreamSpec};

/// Serve one pipeline to many WebRTC calls: publishers send with WHIP,
/// viewers receive the processed video with WHEP (docs/serve.md).
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The pipeline file every call runs (H.264 in, H.264 out).
    #[arg(long, value_name = "FILE")]
    pub pipeline: PathBuf,
    /// Address of WHIP, WHEP, the pages, /healthz, /readyz and /metrics.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// The one UDP address all calls' media use (ICE-lite, DTLS-SRTP).
    #[arg(long, value_name = "IP:UDPPORT", default_value = "127.0.0.1:40000")]
    pub media: SocketAddr,
    /// The address callers reach the media port at, when --media binds 0.0.0.0.
    #[arg(long, value_name = "IP")]
    pub advertise: Option<IpAddr>,
    /// A stream and its bearer tokens; repeatable.
    #[arg(long = "stream", value_name = "NAME:PUBLISH_TOKEN:VIEW_TOKEN", value_parser = parse_stream)]
    pub streams: Vec<StreamSpec>,
    /// A file of streams, one NAME:PUBLISH_TOKEN:VIEW_TOKEN per line (# comments), e.g. a mounted Secret; at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub streams_file: Option<PathBuf>,
    /// Publishers (sessions) at once on this node, at most.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_sessions: usize,
    /// Viewers per stream, at most, counted once connected (offers still
    /// connecting are bounded apart: 8 per stream, the oldest ends first).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_viewers: usize,
    /// Viewers' offers (WHEP) from one client address (IPv6: its /64) still connecting (ICE/DTLS) at once, at most; more are answered 429. Each is ended after --connect-timeout if it never connects, which frees its place.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_pending_offers_per_client: usize,
    /// Seconds a call (publisher or viewer) may take to connect (ICE and DTLS) after its offer before it is ended.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// The frame rate admission assumes for a publisher.
    #[arg(long, value_name = "FPS", default_value_t = 30.0)]
    pub fps: f64,
    /// Seconds without media after which a publisher's call is ended.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub idle_timeout: f64,
    /// After SIGTERM, seconds the running calls may go on while no new ones are taken (/readyz and new offers answer 503) before they are ended; a second signal ends them at once. 0: at once.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub drain_timeout: f64,
    /// Congestion control: `on` sets the encoder's target bitrate from the viewers' bandwidth estimates (TWCC, REMB; the lowest wins, encode-h264's max-bitrate caps it); `off` keeps the pipeline's bitrate.
    #[arg(long, value_name = "MODE", default_value = "on", value_parser = ["on", "off"])]
    pub congestion_control: String,
    /// A file holding the operator's bearer token (one line, at most 4 KiB) for POST /admin/stages/STAGE (swap a stage in every running call) and, with --keys, the rooms' admin API; without it that endpoint is off. With --keys a swap takes the caller's own JWT instead of this token, and the policy's swap_stage decides.
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Worker threads running stage calls (default: the cores this process may use).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Seconds an HTTP request's header may take to arrive, counted from when the connection waits for it (also how long an idle kept-alive connection stays open).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub http_header_timeout: f64,
    /// Seconds an HTTP request's body may take after its header (a slower one gets 400 and its connection is closed), and an answer may wait for the client to read it.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub http_request_timeout: f64,
    /// Open HTTP connections at most (lowered to the open-file limit minus 256); more are answered 503 and closed at once.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub http_max_connections: usize,
    /// Open HTTP connections from one client address (IPv6: its /64) at most; more are answered 503 and closed at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub http_max_connections_per_client: usize,
    /// The clinic identity provider's public keys, a JWKS file (reloaded when it changes): with it, rooms are served, POST /whip/ROOM and POST /whep/ROOM/PARTICIPANT with Authorization: Bearer JWT (docs/visits.md).
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// The Rego policy deciding who may publish, watch or swap a stage (reloaded when it changes or on SIGHUP; one that does not compile keeps the old one). Without it, the built-in default policy. Needs --keys.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The rooms file, a JSON list of rooms ({"room": "visit1", "patient": "p-1", "clinicians": ["d-1"]}), reloaded when it changes or on SIGHUP (a bad new file keeps the old rooms); rooms also come from POST /admin/rooms. Needs --keys.
    #[arg(long, value_name = "FILE")]
    pub rooms: Option<PathBuf>,
    /// The audience (aud) every token must carry.
    #[arg(long, value_name = "AUD", default_value = crate::config::DEFAULT_AUDIENCE)]
    pub audience: String,
    /// The largest picture a publisher may send, WIDTHxHEIGHT, either way round (1080x1920 fits 1920x1080): a larger one out of the decoder ends the call before the rest of the pipeline spends anything on it (a pipeline file's max-width/max-height also hold; the tighter wins). `none`: no bound from the server.
    #[arg(long, value_name = "WxH", default_value = "1920x1080", value_parser = parse_max_size)]
    pub max_size: MaxSize,
    /// The centre's base URL (http:// or https://): rooms are placed here by the centre (read from Redis every second; --rooms is refused and /admin/rooms answers 409), placement tickets (?ticket=) are taken in place of a token, and a room not placed here is redirected (307) to the centre. Needs --redis, --node and --keys (docs/center.md).
    #[arg(long, value_name = "URL")]
    pub center: Option<String>,
    /// Redis (redis:// or rediss://): with it every audit event (joins, refusals, calls, reloads) is spooled and shipped to the stream framechain:events, and a heartbeat is sent every second; without it no event is recorded. Needs --node.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// This pod's name, unique in the fleet (1 to 63 letters, digits, '-', '_', '.'): events carry it, the centre places rooms on it, tickets are for it.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// The audit events' spool folder: every event is fsynced here before it counts, and kept until Redis has it (give a persistent volume; a pod restarted on it ships what was left).
    #[arg(long, value_name = "DIR", default_value = crate::config::DEFAULT_SPOOL_DIR)]
    pub spool: PathBuf,
    /// The spool's bound in bytes: when it is full (Redis away too long), new joins are refused with 503 while running calls go on.
    #[arg(long, value_name = "N", default_value_t = crate::config::DEFAULT_SPOOL_MAX_BYTES)]
    pub spool_max_bytes: u64,
    /// Rooms this pod may hold, told to the centre in its heartbeat.
    #[arg(long, value_name = "ROOMS", default_value_t = 64)]
    pub capacity: u32,
    /// A label rooms may ask for (region=eu-west), told to the centre; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// This pod's base URL as clients reach it, where the centre redirects them (default: http:// and the --http address).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// An origin (https://app.clinic.example) whose pages may call the room routes (WHIP, WHEP, /rooms) from the browser, beside the --center URL's origin and this pod's own (--public-url); repeatable. A request that followed the centre's redirect with a ticket is taken from any page (docs/center.md, "How a browser reaches a pod").
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| "expected KEY=VALUE".to_owned())
}

/// `--max-size`: a bound, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxSize(pub Option<(u32, u32)>);

fn parse_max_size(text: &str) -> Result<MaxSize, String> {
    if text == "none" {
        return Ok(MaxSize(None));
    }
    let side = |side: &str| {
        side.parse::<u32>()
            .ok()
            .filter(|side| (1..=framechain::MAX_DIMENSION).contains(side))
    };
    match text.split_once('x').map(|(w, h)| (side(w), side(h))) {
        Some((Some(width), Some(height))) => Ok(MaxSize(Some((width, height)))),
        _ => Err(format!(
            "expected WIDTHxHEIGHT (each 1 to {}) or none",
            framechain::MAX_DIMENSION
        )),
    }
}

fn parse_stream(text: &str) -> Result<StreamSpec, String> {
    StreamSpec::parse(text).map_err(|error| error.to_string())
}

impl ServeArgs {
    /// The streams of `--stream` and `--streams-file`.
    pub fn all_streams(&self) -> Result<Vec<StreamSpec>, ServeError> {
        let mut streams = self.streams.clone();
        if let Some(path) = &self.streams_file {
            streams = config::read_streams_file(path, streams)?;
        }
        if streams.is_empty() && self.keys.is_none() {
            return Err(ServeError::Config(
                "no streams: give --stream NAME:PUBLISH_TOKEN:VIEW_TOKEN, --streams-file, or --keys for rooms"
                    .to_owned(),
            ));
        }
        Ok(streams)
    }

    /// The edge settings, when `--redis` is given; the flags that need it
    /// are refused without it.
    fn edge(&self) -> Result<Option<config::EdgeConfig>, ServeError> {
        let Some(redis) = &self.redis else {
            for (flag, given) in [
                ("--center", self.center.is_some()),
                ("--node", self.node.is_some()),
                ("--label", !self.labels.is_empty()),
                ("--public-url", self.public_url.is_some()),
            ] {
                if given {
                    return Err(ServeError::Config(format!(
                        "{flag} needs --redis URL: an edge pod talks to its centre through Redis"
                    )));
                }
            }
            return Ok(None);
        };
        let Some(node) = &self.node else {
            return Err(ServeError::Config(
                "--redis needs --node NAME: every event and heartbeat names its pod".to_owned(),
            ));
        };
        let mut labels = std::collections::BTreeMap::new();
        for (key, value) in &self.labels {
            if labels.insert(key.clone(), value.clone()).is_some() {
                return Err(ServeError::Config(format!(
                    "--label {} is given twice",
                    framechain::text::untrusted(key, config::MAX_NODE_NAME)
                )));
            }
        }
        Ok(Some(config::EdgeConfig {
            redis: redis.clone(),
            node: node.clone(),
            center: self
                .center
                .as_ref()
                .map(|center| center.trim_end_matches('/').to_owned()),
            spool: self.spool.clone(),
            spool_max_bytes: self.spool_max_bytes,
            capacity: self.capacity,
            labels,
            public_url: self
                .public_url
                .as_ref()
                .map(|url| url.trim_end_matches('/').to_owned()),
        }))
    }

    /// The server's configuration around an already built pipeline.
    pub fn config(&self, pipeline: Arc<Pipeline>) -> Result<ServeConfig, ServeError> {
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= 240.0) {
            return Err(ServeError::Config(
                "--fps must be above 0 and at most 240".to_owned(),
            ));
        }
        if !(self.idle_timeout.is_finite()
            && self.idle_timeout >= 0.5
            && self.idle_timeout <= 3600.0)
        {
            return Err(ServeError::Config(
                "--idle-timeout must be 0.5 to 3600 seconds".to_owned(),
            ));
        }
        let mut config = ServeConfig::new(pipeline);
        config.http = self.http;
        config.media = self.media;
        config.advertise = self.advertise;
        config.streams = self.all_streams()?;
        config.max_sessions = self.max_sessions.max(1);
        config.max_viewers = self.max_viewers.max(1);
        config.fps = self.fps;
        config.idle_timeout = Duration::from_secs_f64(self.idle_timeout);
        if !(self.connect_timeout.is_finite()
            && self.connect_timeout >= 0.5
            && self.connect_timeout <= 600.0)
        {
            return Err(ServeError::Config(
                "--connect-timeout must be 0.5 to 600 seconds".to_owned(),
            ));
        }
        config.connect_timeout = Duration::from_secs_f64(self.connect_timeout);
        config.max_pending_offers_per_client = self.max_pending_offers_per_client.max(1);
        config.congestion_control = self.congestion_control == "on";
        if !(self.drain_timeout.is_finite() && (0.0..=86_400.0).contains(&self.drain_timeout)) {
            return Err(ServeError::Config(
                "--drain-timeout must be 0 to 86400 seconds".to_owned(),
            ));
        }
        config.drain_timeout = Duration::from_secs_f64(self.drain_timeout);
        if let Some(path) = &self.admin_token_file {
            config.admin_token = Some(config::read_admin_token_file(path)?);
        }
        for (flag, secs) in [
            ("--http-header-timeout", self.http_header_timeout),
            ("--http-request-timeout", self.http_request_timeout),
        ] {
            if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) {
                return Err(ServeError::Config(format!(
                    "{flag} must be above 0 and at most 3600 seconds"
                )));
            }
        }
        config.http_limits.header_timeout = Duration::from_secs_f64(self.http_header_timeout);
        config.http_limits.request_timeout = Duration::from_secs_f64(self.http_request_timeout);
        config.http_limits.max_connections = self.http_max_connections;
        config.http_limits.max_connections_per_client = self.http_max_connections_per_client;
        config.cors_origins = self.cors_origins.clone();
        if let Some(workers) = self.workers {
            config.live.workers = workers.max(1);
        }
        config.max_picture = self.max_size.0;
        config.keys = self.keys.clone();
        config.policy = self.policy.clone();
        config.rooms = self.rooms.clone();
        config.audience = self.audience.clone();
        config.edge = self.edge()?;
        config.check()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_size_is_width_by_height_or_none() {
        assert_eq!(parse_max_size("1920x1080"), Ok(MaxSize(Some((1920, 1080)))));
        assert_eq!(parse_max_size("none"), Ok(MaxSize(None)));
        for bad in [
            "0x1080",
            "1920",
            "1920x",
            "x1080",
            "16385x16",
            "-1x5",
            "1920X1080",
        ] {
            assert_eq!(
                parse_max_size(bad),
                Err("expected WIDTHxHEIGHT (each 1 to 16384) or none".to_owned()),
                "{bad}"
            );
        }
    }
}
