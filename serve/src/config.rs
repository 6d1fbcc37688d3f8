//! What a server serves: the pipeline, the addresses, the streams and
//! their tokens, and the caps.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use framechain::Pipeline;
use framechain::live::LiveConfig;

use crate::ServeError;

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

impl StreamSpec {
    /// Parses `NAME:PUBLISH_TOKEN:VIEW_TOKEN`.
    pub fn parse(text: &str) -> Result<StreamSpec, ServeError> {
        let mut parts = text.trim().splitn(3, ':');
        let (Some(name), Some(publish), Some(view)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ServeError::Config(
                "a stream is NAME:PUBLISH_TOKEN:VIEW_TOKEN".to_owned(),
            ));
        };
        let spec = StreamSpec {
            name: name.to_owned(),
            publish_token: publish.to_owned(),
            view_token: view.to_owned(),
        };
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), ServeError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= MAX_STREAM_NAME
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !name_ok {
            return Err(ServeError::Config(format!(
                "stream name {:?}: use 1 to {MAX_STREAM_NAME} letters, digits, '-', '_' or '.'",
                self.name.chars().take(MAX_STREAM_NAME).collect::<String>()
            )));
        }
        for (what, token) in [("publish", &self.publish_token), ("view", &self.view_token)] {
            let token_ok = (MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len())
                && token.bytes().all(|b| b.is_ascii_graphic());
            if !token_ok {
                // The token itself is never printed.
                return Err(ServeError::Config(format!(
                    "stream {}: the {what} token must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} printable ASCII characters without spaces",
                    self.name
                )));
            }
        }
        if self.publish_token == self.view_token {
            return Err(ServeError::Config(format!(
                "stream {}: the publish and view tokens must differ",
                self.name
            )));
        }
        Ok(())
    }
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
    /// The live runtime's settings (`max_sessions` is taken from above).
    pub live: LiveConfig,
    /// The operator's bearer token for `POST /admin/stages/STAGE` (swapping
    /// a stage in every running call); `None` turns the endpoint off.
    pub admin_token: Option<String>,
}

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
            live: LiveConfig::default(),
            admin_token: None,
        }
    }

    /// Checks the streams: valid, at most [`MAX_STREAMS`], names unique.
    pub fn check(&self) -> Result<(), ServeError> {
        if self.streams.len() > MAX_STREAMS {
            return Err(ServeError::Config(format!(
                "{} streams: at most {MAX_STREAMS}",
                self.streams.len()
            )));
        }
        let mut names = std::collections::HashSet::new();
        for stream in &self.streams {
            stream.check()?;
            if !names.insert(stream.name.as_str()) {
                return Err(ServeError::Config(format!(
                    "stream {} is given twice",
                    stream.name
                )));
            }
        }
        if let Some(token) = &self.admin_token
            && !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len())
        {
            return Err(ServeError::Config(format!(
                "the admin token must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} characters"
            )));
        }
        if self.media.ip().is_unspecified() && self.advertise.is_none() {
            return Err(ServeError::Config(
                "--media binds an unspecified address: give --advertise IP, the address callers reach".to_owned(),
            ));
        }
        Ok(())
    }
}
