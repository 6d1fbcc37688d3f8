//! A real browser: Debian's headless `chromium`, driven through
//! `chromedriver` with the W3C WebDriver protocol, publishes the publish
//! page's 1080p test pattern with WHIP; a second chromium watches with the
//! watch page over WHEP. The watched video must be the pipeline's 720p, its
//! redacted caption black, and the timestamp code readable (glass-to-glass
//! latency, printed, not asserted).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{publish_token, start_server, view_token};

const CHROMIUM: &str = "/usr/lib/chromium/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The caption the publish page's test pattern draws and the server's
/// pipeline (`support::TELEMEDICINE`) redacts: x, y, width, height at 1080p.
const CAPTION: [u32; 4] = [120, 67, 600, 135];
/// Frames the watcher must decode before the pictures are judged.
const FRAMES: u64 = 30;

/// The chromium and chromedriver binaries, or `None` (skip) when they are
/// not installed; in CI their absence fails the test.
fn browser() -> Option<(&'static Path, &'static Path)> {
    let found = Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file();
    if found {
        return Some((Path::new(CHROMIUM), Path::new(CHROMEDRIVER)));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMIUM} or {CHROMEDRIVER} not found: CI needs Debian's chromium and chromium-driver (scripts/setup.sh installs them)"
    );
    eprintln!(
        "skipping the browser test: {CHROMIUM} or {CHROMEDRIVER} not found (apt-get install chromium chromium-driver)"
    );
    None
}

#[test]
fn chromium_publishes_the_test_pattern_and_another_chromium_watches_it_redacted_at_720p() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    assert!(
        crate::support::TELEMEDICINE.contains(&format!(
            "rect={}",
            CAPTION.map(|v| v.to_string()).join(",")
        )),
        "the caption the test pattern draws is the area the pipeline redacts"
    );
    let _slot = crate::support::realtime_slot();
    let server = start_server(&["room1"]);
    let (publish_token, view_token) = (publish_token("room1"), view_token("room1"));
    let base = format!("http://{}", server.http_addr());

    let driver = Driver::start(chromedriver);
    let publisher = driver.session(chromium);
    let viewer = driver.session(chromium);

    // Publish: the token typed into its field (never in the URL), the test
    // pattern chosen, Start clicked.
    publisher.navigate(&format!("{base}/publish?stream=room1"));
    publisher.send_keys(&publisher.find("#token"), &publish_token);
    publisher.click(&publisher.find("#source option[value=pattern]"));
    publisher.click(&publisher.find("#start"));
    let published = wait_for(&publisher, "window.framechainPublish", 30, |s| {
        s["state"] == "connected" && s["framesSent"].as_u64().unwrap_or(0) > 0
    });
    assert!(
        published.is_ok(),
        "the publisher did not connect: {published:?}"
    );

    // Watch: the token from a #token= fragment, which the page prefills.
    viewer.navigate(&format!("{base}/watch?stream=room1#token={view_token}"));
    viewer.click(&viewer.find("#start"));
    let watched = wait_for(&viewer, "window.framechainResults", 90, |r| {
        r["framesDecoded"].as_u64().unwrap_or(0) >= FRAMES
            && r["g2gSamples"].as_array().is_some_and(|s| s.len() >= 10)
    });
    let publish_status = publisher.execute("return window.framechainPublish", json!([]));
    let results = match watched {
        Ok(results) => results,
        Err(last) => panic!(
            "the viewer did not decode {FRAMES} frames with timestamp codes within 90 s\n\
             viewer: {}\npublisher: {publish_status}\nviewer console: {}\npublisher console: {}",
            brief(&last),
            viewer.console(),
            publisher.console()
        ),
    };
    eprintln!("publisher: {publish_status}");
    eprintln!("viewer: {}", brief(&results));

    assert_eq!(
        (results["width"].as_u64(), results["height"].as_u64()),
        (Some(1280), Some(720)),
        "the watched video is the pipeline's 720p"
    );

    // The caption, scaled to 720p (2/3) and shrunk by 8 px on every side
    // to stay clear of the encoder's ringing at its edges, is black.
    let scale = |v: u32| v * 2 / 3;
    let [x, y, w, h] = CAPTION.map(scale);
    let inside = sample(&viewer, [x + 8, y + 8, w - 16, h - 16]);
    assert!(
        inside["luma"].as_f64().unwrap() < 24.0 && inside["max"].as_f64().unwrap() < 64.0,
        "the redacted caption is not black: {inside}"
    );
    // The middle of the picture (the moving scene) is not.
    let outside = sample(&viewer, [320, 180, 640, 300]);
    assert!(
        outside["luma"].as_f64().unwrap() > 40.0 && outside["max"].as_f64().unwrap() > 100.0,
        "the picture outside the caption is black: {outside}"
    );

    let mut g2g: Vec<f64> = results["g2gSamples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    g2g.sort_by(f64::total_cmp);
    let at = |p: f64| g2g[((p / 100.0 * g2g.len() as f64).ceil() as usize).clamp(1, g2g.len()) - 1];
    let misses = results["codeMisses"].as_u64().unwrap_or(0);
    eprintln!(
        "glass-to-glass: p50 {:.0} ms, p99 {:.0} ms over {} frames ({misses} frames without a readable code)",
        at(50.0),
        at(99.0),
        g2g.len()
    );
    eprintln!(
        "server end-to-end: {}",
        results["server"]["latency_ms"]["end_to_end"]
    );
    // Most frames carry a readable code: a decoder that cannot read the
    // pattern it was made for is broken, not slow.
    assert!(
        g2g.len() as u64 > misses,
        "the timestamp code was unreadable in {misses} of {} frames",
        g2g.len() as u64 + misses
    );

    // The stream keeps flowing. On a shared machine the session falls
    // behind now and then and skips to a keyframe; a browser's encoder
    // sends one only when asked, so a request lost to rate limiting once
    // stalled the call for good (all later pictures dropped as late).
    let decoded = |r: &Value| r["framesDecoded"].as_u64().unwrap_or(0);
    let served = |r: &Value| r["server"]["frames"]["out"].as_u64().unwrap_or(0);
    let start = viewer.execute("return window.framechainResults", json!([]));
    std::thread::sleep(Duration::from_secs(6));
    let end = viewer.execute("return window.framechainResults", json!([]));
    eprintln!(
        "over 6 s more: {} pictures served, {} decoded; server: {}",
        served(&end) - served(&start),
        decoded(&end) - decoded(&start),
        end["server"]["frames"]
    );
    assert!(
        decoded(&end) - decoded(&start) >= 30,
        "the stream stalled: {} pictures decoded in 6 s\nbefore: {}\nafter: {}",
        decoded(&end) - decoded(&start),
        brief(&start),
        brief(&end)
    );

    // Chromium's transport-wide congestion feedback reached the server's
    // bandwidth estimator and set the encoder's target bitrate.
    let bitrate = &end["server"]["bitrate"];
    eprintln!("encoder target bitrate from the viewer's feedback: {bitrate}");
    assert!(
        bitrate["changes"].as_u64().unwrap_or(0) >= 1
            && bitrate["target"].as_u64().is_some_and(|bps| bps >= 100_000),
        "the viewer's congestion feedback never set the encoder's bitrate: {bitrate}"
    );

    publisher.click(&publisher.find("#stop"));
    drop(server);
}

/// The results without the long sample list.
fn brief(results: &Value) -> String {
    let mut shown = results.clone();
    if let Some(samples) = shown.get_mut("g2gSamples") {
        let n = samples.as_array().map_or(0, Vec::len);
        *samples = json!(format!("{n} samples"));
    }
    shown.to_string()
}

fn sample(viewer: &Session, [x, y, w, h]: [u32; 4]) -> Value {
    viewer.execute(
        "return window.framechainSample(arguments[0], arguments[1], arguments[2], arguments[3])",
        json!([x, y, w, h]),
    )
}

/// Polls `expression` every half second until `done` holds or `seconds`
/// pass; the last value either way.
fn wait_for(
    session: &Session,
    expression: &str,
    seconds: u64,
    done: impl Fn(&Value) -> bool,
) -> Result<Value, Value> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let value = session.execute(&format!("return {expression}"), json!([]));
        if done(&value) {
            return Ok(value);
        }
        if Instant::now() > deadline || !value["error"].is_null() {
            return Err(value);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A chromedriver process, ended when dropped.
struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Driver {
    fn start(binary: &Path) -> Driver {
        // chromedriver takes a port number, not a bound socket: take one
        // the system says is free.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        let driver = Driver {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((_, status)) = driver.request("GET", "/status", None)
                && status["value"]["ready"] == true
            {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One HTTP/1.1 request, `Connection: close`; the status and the JSON body.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .map_err(|e| format!("connect to chromedriver: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| e.to_string())?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("write to chromedriver: {e}"))?;
        // chromedriver keeps the connection open whatever the request
        // says, so the body is read by its length, not to the end.
        let mut response = Vec::new();
        let mut chunk = [0u8; 16 << 10];
        let (head, body_start) = loop {
            if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                break (
                    String::from_utf8_lossy(&response[..end]).into_owned(),
                    end + 4,
                );
            }
            let n = stream
                .read(&mut chunk)
                .map_err(|e| format!("read from chromedriver: {e}"))?;
            if n == 0 {
                return Err("chromedriver closed the connection".to_owned());
            }
            response.extend_from_slice(&chunk[..n]);
        };
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("chromedriver: no HTTP status")?;
        let length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .ok_or("chromedriver: no Content-Length")?;
        while response.len() < body_start + length {
            let n = stream
                .read(&mut chunk)
                .map_err(|e| format!("read from chromedriver: {e}"))?;
            if n == 0 {
                return Err("chromedriver closed the connection mid-answer".to_owned());
            }
            response.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&response[body_start..body_start + length]);
        let json = serde_json::from_str(&body).map_err(|e| format!("chromedriver: {e}: {body}"))?;
        Ok((status, json))
    }

    /// A WebDriver command; panics with the driver's message when it fails.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        match self.request(method, path, body.as_ref()) {
            Ok((200, reply)) => reply["value"].clone(),
            Ok((status, reply)) => panic!("WebDriver {method} {path}: {status} {}", reply["value"]),
            Err(error) => panic!("WebDriver {method} {path}: {error}"),
        }
    }

    /// A new headless chromium with a fake camera, allowed to use loopback
    /// addresses for WebRTC.
    fn session(&self, chromium: &Path) -> Session<'_> {
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    "--allow-loopback-in-peer-connection",
                    "--autoplay-policy=no-user-gesture-required",
                    "--window-size=1400,1000",
                ],
            },
        }}});
        let reply = self.command("POST", "/session", Some(capabilities));
        let id = reply["sessionId"]
            .as_str()
            .expect("a WebDriver session id")
            .to_owned();
        Session { driver: self, id }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser (a WebDriver session), closed when dropped.
struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Session<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.id)
    }

    fn navigate(&self, url: &str) {
        self.driver
            .command("POST", &self.path("/url"), Some(json!({ "url": url })));
    }

    fn find(&self, css: &str) -> String {
        let reply = self.driver.command(
            "POST",
            &self.path("/element"),
            Some(json!({ "using": "css selector", "value": css })),
        );
        reply[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    fn click(&self, element: &str) {
        self.driver.command(
            "POST",
            &self.path(&format!("/element/{element}/click")),
            Some(json!({})),
        );
    }

    fn send_keys(&self, element: &str, text: &str) {
        self.driver.command(
            "POST",
            &self.path(&format!("/element/{element}/value")),
            Some(json!({ "text": text })),
        );
    }

    fn execute(&self, script: &str, args: Value) -> Value {
        self.driver.command(
            "POST",
            &self.path("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The page's console messages, for a failure's report.
    fn console(&self) -> String {
        match self.driver.request(
            "POST",
            &self.path("/se/log"),
            Some(&json!({ "type": "browser" })),
        ) {
            Ok((200, reply)) => reply["value"]
                .as_array()
                .map(|entries| {
                    entries
                        .iter()
                        .map(|e| e["message"].as_str().unwrap_or("").to_owned())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default(),
            other => format!("(no console log: {other:?})"),
        }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.driver.request("DELETE", &self.path(""), None);
    }
}
