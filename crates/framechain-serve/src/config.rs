//! What a server serves: the pipeline, the addresses, the streams and
//! their tokens, and the caps.

use std::collections::HashSet;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use framechain::Pipeline;
use framechain::live::LiveConfig;

use crate::ServeError;
use crate::front_door::HttpLimits;

/// One stream: its name and its two bearer tokens.
#[derive(Clone)]
pub struct StreamSpec {
    /// The name in `/whip/NAME` and `/whep/NAME`.
    pub name: String,
    /// The token a publisher must present.
    pub publish_token: String,
    /// The token a viewer must present.
    pub view_token: String,
}

impl std::fmt::Debug for StreamSpec {
    // Tokens never reach a log line, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The longest stream name accepted.
pub const MAX_STREAM_NAME: usize = 64;
/// Tokens shorter than this are refused: a bearer token must not be guessable.
pub const MIN_TOKEN_LEN: usize = 8;
/// The longest token accepted.
pub const MAX_TOKEN_LEN: usize = 256;
/// Streams one server serves, at most.
pub const MAX_STREAMS: usize = 4096;
/// The largest `--streams-file` read: [`MAX_STREAMS`] lines of the longest
/// name and tokens fit in 2.3 MiB; the rest is room for comments.
pub const MAX_STREAMS_FILE: u64 = 4 << 20;
/// The largest `--admin-token-file` read: one token and white space.
pub const MAX_ADMIN_TOKEN_FILE: u64 = 4 << 10;

/// Why a stream (`NAME:PUBLISH_TOKEN:VIEW_TOKEN`), the streams or the admin
/// token are refused. No message quotes a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConfigProblem {
    #[error("a stream is NAME:PUBLISH_TOKEN:VIEW_TOKEN")]
    NotNameAndTokens,
    /// `name` is cut to [`MAX_STREAM_NAME`] characters and shown escaped.
    #[error("stream name {name:?}: use 1 to {MAX_STREAM_NAME} letters, digits, '-', '_' or '.'")]
    BadName { name: String },
    #[error(
        "stream {stream}: the {role} token must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} printable ASCII characters without spaces"
    )]
    BadToken { stream: String, role: &'static str },
    #[error("stream {stream}: the publish and view tokens must differ")]
    SameTokens { stream: String },
    #[error("stream {stream} is given twice")]
    GivenTwice { stream: String },
    #[error("more than {MAX_STREAMS} streams")]
    TooMany,
    #[error(
        "the admin token must be one line of {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} printable ASCII characters without spaces"
    )]
    BadAdminToken,
}

/// Why an operator's file (`--streams-file`, `--admin-token-file`) is
/// refused. No message quotes the file's content.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileProblem {
    #[error("cannot read it: {0}")]
    Unreadable(std::io::Error),
    #[error("it is a directory, not a file")]
    Directory,
    #[error("it is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("line {line} is not UTF-8 text")]
    NotText { line: usize },
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: ConfigProblem },
    #[error("it holds no token")]
    NoToken,
    #[error(transparent)]
    Content(ConfigProblem),
}

/// A [`FileProblem`] with the file it is about.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", framechain::text::untrusted(&.path.display().to_string(), 300))]
pub(crate) struct FileError {
    path: PathBuf,
    problem: FileProblem,
}

impl FileError {
    fn new(path: &Path, problem: FileProblem) -> FileError {
        FileError {
            path: path.to_owned(),
            problem,
        }
    }
}

// `ServeError` keeps configuration errors as their one-line text.
impl From<ConfigProblem> for ServeError {
    fn from(problem: ConfigProblem) -> ServeError {
        ServeError::Config(problem.to_string())
    }
}

impl From<FileError> for ServeError {
    fn from(error: FileError) -> ServeError {
        ServeError::Config(error.to_string())
    }
}

/// A bearer token as every token here must be: [`MIN_TOKEN_LEN`] to
/// [`MAX_TOKEN_LEN`] printable ASCII characters, no spaces or controls (so it
/// fits an `Authorization` header as it is).
fn token_is_valid(token: &str) -> bool {
    (MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len())
        && token.bytes().all(|b| b.is_ascii_graphic())
}

impl StreamSpec {
    /// Parses `NAME:PUBLISH_TOKEN:VIEW_TOKEN`.
    pub fn parse(text: &str) -> Result<StreamSpec, ServeError> {
        Ok(StreamSpec::parse_checked(text)?)
    }

    fn parse_checked(text: &str) -> Result<StreamSpec, ConfigProblem> {
        let mut parts = text.trim().splitn(3, ':');
        let (Some(name), Some(publish), Some(view)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ConfigProblem::NotNameAndTokens);
        };
        let spec = StreamSpec {
            name: name.to_owned(),
            publish_token: publish.to_owned(),
            view_token: view.to_owned(),
        };
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), ConfigProblem> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= MAX_STREAM_NAME
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !name_ok {
            return Err(ConfigProblem::BadName {
                name: self.name.chars().take(MAX_STREAM_NAME).collect(),
            });
        }
        for (role, token) in [("publish", &self.publish_token), ("view", &self.view_token)] {
            if !token_is_valid(token) {
                return Err(ConfigProblem::BadToken {
                    stream: self.name.clone(),
                    role,
                });
            }
        }
        if self.publish_token == self.view_token {
            return Err(ConfigProblem::SameTokens {
                stream: self.name.clone(),
            });
        }
        Ok(())
    }
}

/// Reads at most `limit` bytes of text from `path`: a larger file (a
/// sparse one, `/dev/zero`) is refused after `limit + 1` bytes at most, a
/// regular one by its size before anything is read.
pub(crate) fn read_operator_file(path: &Path, limit: u64) -> Result<String, FileError> {
    let fail = |problem| FileError::new(path, problem);
    let file = std::fs::File::open(path).map_err(|error| fail(FileProblem::Unreadable(error)))?;
    let metadata = file
        .metadata()
        .map_err(|error| fail(FileProblem::Unreadable(error)))?;
    if metadata.is_dir() {
        return Err(fail(FileProblem::Directory));
    }
    if metadata.is_file() && metadata.len() > limit {
        return Err(fail(FileProblem::TooLarge { limit }));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| fail(FileProblem::Unreadable(error)))?;
    if bytes.len() as u64 > limit {
        return Err(fail(FileProblem::TooLarge { limit }));
    }
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        fail(FileProblem::NotText { line })
    })
}

/// `streams` and those of the streams file `path` (one
/// `NAME:PUBLISH_TOKEN:VIEW_TOKEN` a line, `#` comments): every stream
/// valid, no name twice, at most [`MAX_STREAMS`] in all.
pub(crate) fn read_streams_file(
    path: &Path,
    mut streams: Vec<StreamSpec>,
) -> Result<Vec<StreamSpec>, FileError> {
    let text = read_operator_file(path, MAX_STREAMS_FILE)?;
    let mut names: HashSet<String> = streams.iter().map(|s| s.name.clone()).collect();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at_line = |problem| {
            FileError::new(
                path,
                FileProblem::Line {
                    line: index + 1,
                    problem,
                },
            )
        };
        let spec = StreamSpec::parse_checked(line).map_err(at_line)?;
        if !names.insert(spec.name.clone()) {
            return Err(at_line(ConfigProblem::GivenTwice { stream: spec.name }));
        }
        if streams.len() == MAX_STREAMS {
            return Err(at_line(ConfigProblem::TooMany));
        }
        streams.push(spec);
    }
    Ok(streams)
}

/// The admin token in the file `path`: one token, white space around it
/// ignored.
pub(crate) fn read_admin_token_file(path: &Path) -> Result<String, FileError> {
    let text = read_operator_file(path, MAX_ADMIN_TOKEN_FILE)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(FileError::new(path, FileProblem::NoToken));
    }
    if !token_is_valid(token) {
        return Err(FileError::new(
            path,
            FileProblem::Content(ConfigProblem::BadAdminToken),
        ));
    }
    Ok(token.to_owned())
}

/// Everything a [`crate::Server`] needs.
#[derive(Clone)]
pub struct ServeConfig {
    /// The pipeline every publisher's session runs (H.264 in, H.264 out).
    pub pipeline: Arc<Pipeline>,
    /// WHIP, WHEP, the pages, the probes and the metrics.
    pub http: SocketAddr,
    /// The one UDP socket of all calls' media.
    pub media: SocketAddr,
    /// The address the SDP answers give as the server's candidate, when
    /// `media` is unspecified (`0.0.0.0`).
    pub advertise: Option<IpAddr>,
    /// The streams and their tokens.
    pub streams: Vec<StreamSpec>,
    /// Publishers at once, at most (the runtime's admission may refuse
    /// earlier).
    pub max_sessions: usize,
    /// Viewers per stream, at most.
    pub max_viewers: usize,
    /// The frame rate admission assumes for a publisher.
    pub fps: f64,
    /// A publisher with no media for this long is ended.
    pub idle_timeout: Duration,
    /// A call whose ICE and DTLS have not completed this long after its
    /// offer is ended.
    pub connect_timeout: Duration,
    /// Viewers' offers (WHEP) from one client address (IPv6: its /64) that
    /// may be waiting for ICE and DTLS at once; one more is answered `429`.
    /// Each waits [`ServeConfig::connect_timeout`] at most.
    pub max_pending_offers_per_client: usize,
    /// After SIGTERM, how long running calls may go on (no new ones are
    /// taken) before the server ends them; zero ends them at once.
    pub drain_timeout: Duration,
    /// Whether the viewers' bandwidth estimates set the encoder's target
    /// bitrate (docs/serve.md, "Congestion"); off keeps the pipeline's.
    pub congestion_control: bool,
    /// The live runtime's settings (`max_sessions` is taken from above).
    pub live: LiveConfig,
    /// The largest picture a publisher may send, width by height (`None`:
    /// no bound from the server; a pipeline file's `max-width` and
    /// `max-height` still hold, and the tighter wins). A larger picture
    /// out of the decoder ends the publisher's call before the rest of
    /// the pipeline spends anything on it. A picture may fit either way
    /// round (a phone's upright 1080x1920 fits 1920x1080). Default
    /// 1920x1080.
    pub max_picture: Option<(u32, u32)>,
    /// The operator's bearer token for `POST /admin/stages/STAGE` (swapping
    /// a stage in every running call); `None` turns the endpoint off.
    pub admin_token: Option<String>,
    /// The HTTP front door's timeouts and caps (`docs/serve.md`, "The
    /// front door").
    pub http_limits: HttpLimits,
    /// The clinic identity provider's public keys (a JWKS file, reloaded
    /// when it changes): with it, rooms are served (`POST /whip/ROOM`,
    /// `POST /whep/ROOM/PARTICIPANT`, `/admin/rooms`; docs/visits.md).
    pub keys: Option<PathBuf>,
    /// The Rego policy deciding who may publish, watch or swap a stage
    /// (reloaded when it changes); `None`: the built-in default policy.
    pub policy: Option<PathBuf>,
    /// The rooms file (a JSON list of rooms, reloaded when it changes).
    pub rooms: Option<PathBuf>,
    /// The `aud` every token must carry.
    pub audience: String,
    /// This server as an edge pod of a centre (`--redis`, `--node`,
    /// `--center`; docs/center.md): audit events, heartbeats, rooms placed
    /// by the centre and placement tickets. `None`: an island.
    pub edge: Option<EdgeConfig>,
    /// Origins (`https://app.clinic.example`) whose pages may call the
    /// room routes, beside the centre's and the pod's own (`--cors-origin`;
    /// docs/center.md, "How a browser reaches a pod").
    pub cors_origins: Vec<String>,
}

/// The longest node name (`--node`): a DNS label's length.
pub const MAX_NODE_NAME: usize = 63;
/// Labels one pod carries, at most.
pub const MAX_LABELS: usize = 16;
/// The spool's bound when `--spool-max-bytes` is not given: 64 MiB, about
/// 200 000 events (a day of a busy pod without Redis).
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 64 << 20;
/// The smallest spool bound taken: a few records.
pub const MIN_SPOOL_MAX_BYTES: u64 = 1024;
/// Where the spool is when `--spool` is not given: a folder in the
/// working directory (a pod mounts a volume and gives `--spool`).
pub const DEFAULT_SPOOL_DIR: &str = "framechain-spool";

/// An edge pod's settings (`--redis`, `--node`, `--center` and the rest).
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Redis (`redis://` or `rediss://`): the events stream, the
    /// heartbeat, the placed rooms and the ticket keys.
    pub redis: String,
    /// This pod's name, unique in the fleet: events carry it, the
    /// heartbeat key and the tickets' audience name it.
    pub node: String,
    /// The centre's base URL (`http(s)://`); with it, rooms come from the
    /// centre, placement tickets are taken, and a room not placed here is
    /// redirected there. `None` (only `--redis`): events and heartbeats.
    pub center: Option<String>,
    /// The events' spool folder (fsynced, kept across restarts).
    pub spool: PathBuf,
    /// The spool's bound in bytes: at it, joins are refused (`503`).
    pub spool_max_bytes: u64,
    /// Rooms this pod may hold (told to the centre).
    pub capacity: u32,
    /// Labels rooms may ask for (`region=eu-west`).
    pub labels: std::collections::BTreeMap<String, String>,
    /// This pod's base URL as clients reach it; `None`: `http://` and the
    /// bound HTTP address.
    pub public_url: Option<String>,
}

impl EdgeConfig {
    /// Checks every value; the error names the flag.
    pub fn check(&self) -> Result<(), ServeError> {
        check_url("--redis", &self.redis, &["redis://", "rediss://"])?;
        framechain_events::check_redis_url(&self.redis)
            .map_err(|error| ServeError::Config(format!("--redis: {error}")))?;
        if let Some(center) = &self.center {
            check_url("--center", center, &["http://", "https://"])?;
        }
        if let Some(public) = &self.public_url {
            check_url("--public-url", public, &["http://", "https://"])?;
        }
        if !node_name_is_valid(&self.node) {
            return Err(ServeError::Config(format!(
                "--node: use 1 to {MAX_NODE_NAME} letters, digits, '-', '_' or '.'"
            )));
        }
        if self.spool_max_bytes < MIN_SPOOL_MAX_BYTES {
            return Err(ServeError::Config(format!(
                "--spool-max-bytes must be at least {MIN_SPOOL_MAX_BYTES}"
            )));
        }
        if self.capacity == 0 {
            return Err(ServeError::Config(
                "--capacity must be at least 1 room".to_owned(),
            ));
        }
        if self.labels.len() > MAX_LABELS {
            return Err(ServeError::Config(format!(
                "at most {MAX_LABELS} --label flags"
            )));
        }
        for (key, value) in &self.labels {
            if !label_part_is_valid(key, false) || !label_part_is_valid(value, true) {
                return Err(ServeError::Config(format!(
                    "--label {}: KEY=VALUE of at most {MAX_NODE_NAME} letters, digits, '-', '_', '.' or '/' each (KEY not empty)",
                    framechain::text::untrusted(key, MAX_NODE_NAME)
                )));
            }
        }
        Ok(())
    }
}

/// A node name: 1 to [`MAX_NODE_NAME`] of `[A-Za-z0-9._-]` (a Kubernetes
/// pod name fits; it is part of a Redis key and of the tickets' audience).
pub(crate) fn node_name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NODE_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn label_part_is_valid(part: &str, may_be_empty: bool) -> bool {
    (may_be_empty || !part.is_empty())
        && part.len() <= MAX_NODE_NAME
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// `text` is a URL of one of `schemes` with a host, printable ASCII, at
/// most 2048 bytes, without a fragment (or, but for Redis, a query).
fn check_url(flag: &str, text: &str, schemes: &[&str]) -> Result<(), ServeError> {
    let bad = |why: &str| {
        ServeError::Config(format!(
            "{flag}: {why} (expected {})",
            schemes
                .iter()
                .map(|scheme| format!("{scheme}HOST"))
                .collect::<Vec<_>>()
                .join(" or ")
        ))
    };
    if text.len() > 2048 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("not a URL of printable ASCII"));
    }
    let Some(rest) = schemes.iter().find_map(|scheme| text.strip_prefix(scheme)) else {
        return Err(bad("an unexpected scheme"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(bad("no host"));
    }
    let http = schemes.iter().any(|scheme| scheme.starts_with("http"));
    if text.contains('#') || (http && text.contains('?')) {
        return Err(bad("a query or fragment"));
    }
    Ok(())
}

/// The audience tokens carry when none is configured.
pub const DEFAULT_AUDIENCE: &str = "framechain";

impl ServeConfig {
    /// Defaults around a pipeline: loopback ports chosen by the system, no
    /// streams.
    pub fn new(pipeline: Arc<Pipeline>) -> ServeConfig {
        ServeConfig {
            pipeline,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            media: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            streams: Vec::new(),
            max_sessions: 1024,
            max_viewers: 16,
            fps: 30.0,
            idle_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            // A viewer connects within a second; a few behind one NAT
            // address may open at once.
            max_pending_offers_per_client: 4,
            congestion_control: true,
            drain_timeout: Duration::ZERO,
            live: LiveConfig::default(),
            max_picture: Some((1920, 1080)),
            admin_token: None,
            http_limits: HttpLimits::default(),
            keys: None,
            policy: None,
            rooms: None,
            audience: DEFAULT_AUDIENCE.to_owned(),
            edge: None,
            cors_origins: Vec::new(),
        }
    }

    /// The visit files, when rooms are served.
    pub(crate) fn visit_files(&self) -> Option<crate::visit::VisitFiles> {
        self.keys.as_ref().map(|keys| crate::visit::VisitFiles {
            keys: keys.clone(),
            policy: self.policy.clone(),
            rooms: self.rooms.clone(),
            audience: self.audience.clone(),
        })
    }

    /// Checks the streams (valid, at most [`MAX_STREAMS`], names unique)
    /// and the admin token, and the HTTP limits.
    pub fn check(&self) -> Result<(), ServeError> {
        self.http_limits.check()?;
        if self.streams.len() > MAX_STREAMS {
            return Err(ConfigProblem::TooMany.into());
        }
        let mut names = HashSet::new();
        for stream in &self.streams {
            stream.check()?;
            if !names.insert(stream.name.as_str()) {
                return Err(ConfigProblem::GivenTwice {
                    stream: stream.name.clone(),
                }
                .into());
            }
        }
        if let Some(token) = &self.admin_token
            && !token_is_valid(token)
        {
            return Err(ConfigProblem::BadAdminToken.into());
        }
        if self.keys.is_none() {
            for (flag, given) in [
                ("--rooms", self.rooms.is_some()),
                ("--policy", self.policy.is_some()),
            ] {
                if given {
                    return Err(ServeError::Config(format!(
                        "{flag} needs --keys FILE: rooms admit participants by the tokens the keys verify"
                    )));
                }
            }
        }
        if self.audience.is_empty()
            || self.audience.len() > 256
            || self.audience.chars().any(char::is_control)
        {
            return Err(ServeError::Config(
                "--audience must be 1 to 256 characters without control characters".to_owned(),
            ));
        }
        crate::cors::check_origins(&self.cors_origins)?;
        if let Some(edge) = &self.edge {
            edge.check()?;
            if edge.center.is_some() {
                if self.keys.is_none() {
                    return Err(ServeError::Config(
                        "--center needs --keys FILE: the pod still verifies tokens and runs its policy".to_owned(),
                    ));
                }
                if self.rooms.is_some() {
                    return Err(ServeError::Config(
                        "--rooms and --center exclude each other: with --center, rooms are placed by the centre".to_owned(),
                    ));
                }
            }
        }
        if self.media.ip().is_unspecified() && self.advertise.is_none() {
            return Err(ServeError::Config(
                "--media binds an unspecified address: give --advertise IP, the address callers reach".to_owned(),
            ));
        }
        Ok(())
    }
}
