//! Starting a server for a test: the built stages, a pipeline, streams and
//! tokens, and plain HTTP requests to it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use framechain::{ChainSpec, Engine, EngineConfig, Pipeline, StageRegistry};
use framechain_serve::{ServeConfig, Server, StreamSpec};

/// The telemedicine chain on a 1080p camera: the caption area is filled,
/// the picture scaled to 720p and encoded.
pub const TELEMEDICINE: &str = "decode-h264 alignment=access-unit ! redact rect=120,67,600,135 mode=fill ! scale width=1280 height=720 ! encode-h264 bitrate=2000k fps=30 gop=60";

/// Publish and view tokens of stream `room1`, `room2`, ...
pub fn publish_token(stream: &str) -> String {
    format!("publish-{stream}-secret")
}

pub fn view_token(stream: &str) -> String {
    format!("view-{stream}-secret")
}

pub fn engine() -> Engine {
    let registry = StageRegistry::with_dirs(framechain_test_support::stage_dirs());
    assert!(
        registry
            .builtin_names()
            .iter()
            .any(|name| name == "decode-h264"),
        "stage components not found in {:?}: run `cargo xtask build` first",
        registry.dirs()
    );
    Engine::new(EngineConfig {
        registry,
        ..EngineConfig::default()
    })
    .expect("engine")
}

pub fn pipeline(launch: &str) -> Arc<Pipeline> {
    let chain = ChainSpec::parse_launch(launch).expect("launch line");
    Arc::new(Pipeline::build(&engine(), &chain).unwrap_or_else(|error| panic!("{launch}: {error}")))
}

/// A configuration of `launch` with streams `names`, tokens from
/// [`publish_token`] and [`view_token`], on loopback ports the system picks.
pub fn config(launch: &str, names: &[&str]) -> ServeConfig {
    let mut config = ServeConfig::new(pipeline(launch));
    for name in names {
        config.streams.push(StreamSpec {
            name: (*name).to_owned(),
            publish_token: publish_token(name),
            view_token: view_token(name),
        });
    }
    config
}

/// A server of the telemedicine chain with streams `names`.
pub fn start_server(names: &[&str]) -> Server {
    Server::start(config(TELEMEDICINE, names)).expect("server starts")
}

/// The third-party test data (`../shared/testdata` or
/// `$FRAMECHAIN_TESTDATA`); `None` (the test skips) when it is absent,
/// except in CI, where that is a failure.
pub use framechain_test_support::testdata;

/// The 1080p Constrained Baseline clip (300 pictures, GOP 60).
pub fn clip() -> PathBuf {
    framechain_test_support::testdata_dir().join("h264/throughput/real1080p30_10s_cbp_6M.264")
}

/// An HTTP answer: status, headers that matter, body.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub www_authenticate: Option<String>,
    pub body: String,
}

/// `method url` with an optional bearer token and body (sent as
/// `content_type`). Any status is an answer, not an error.
pub fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Answer {
    request_following(method, url, token, content_type, body, 5)
}

/// [`request`], following at most `redirects` redirects (0: a redirect
/// is the answer, its `Location` to be read).
pub fn request_following(
    method: &str,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
    redirects: u32,
) -> Answer {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .redirects(redirects)
        .build();
    let mut request = agent.request(method, url).set("Content-Type", content_type);
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let response = match request.send_bytes(body) {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{method} {url}: {error}"),
    };
    Answer {
        status: response.status(),
        location: response.header("Location").map(str::to_owned),
        retry_after: response.header("Retry-After").map(str::to_owned),
        www_authenticate: response.header("WWW-Authenticate").map(str::to_owned),
        body: response.into_string().unwrap_or_default(),
    }
}

pub fn get(server: &Server, path: &str, token: Option<&str>) -> Answer {
    request(
        "GET",
        &format!("http://{}{path}", server.http_addr()),
        token,
        "text/plain",
        b"",
    )
}

/// The value of a metric line `name{labels} value` (labels exactly as
/// written, or none), 0 when absent.
pub fn metric(server: &Server, series: &str) -> f64 {
    framechain_loadgen::metric_value(&get(server, "/metrics", None).body, series).unwrap_or(0.0)
}

/// Held by the tests that run real-time calls (a browser, GStreamer, the
/// 1080p clip): on a 2-core machine two of them at once make each other's
/// pictures late, and a test would measure the machine, not the server.
pub fn realtime_slot() -> std::sync::MutexGuard<'static, ()> {
    static SLOT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SLOT.lock().unwrap_or_else(|poison| poison.into_inner())
}
