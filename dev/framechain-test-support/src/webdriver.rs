//! A WebDriver client for the browser tests: Debian's headless `chromium`
//! driven through `chromedriver` with the W3C WebDriver protocol, over
//! plain HTTP/1.1 (no client crate: four requests are all it takes).
//! Shared by serve's browser tests and the centre's end-to-end tests
//! (feature `webdriver`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/lib/chromium/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The chromium and chromedriver binaries, or `None` (skip) when they are
/// not installed; in CI their absence fails the test.
pub fn browser() -> Option<(&'static Path, &'static Path)> {
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

/// Polls `expression` every half second until `done` holds or `seconds`
/// pass; the last value either way.
pub fn wait_for(
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
pub struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Driver {
    /// Starts chromedriver (`binary`) on a free loopback port and waits
    /// until it answers.
    pub fn start(binary: &Path) -> Driver {
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
    pub fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        match self.request(method, path, body.as_ref()) {
            Ok((200, reply)) => reply["value"].clone(),
            Ok((status, reply)) => panic!("WebDriver {method} {path}: {status} {}", reply["value"]),
            Err(error) => panic!("WebDriver {method} {path}: {error}"),
        }
    }

    /// A new headless chromium with a fake camera, allowed to use loopback
    /// addresses for WebRTC.
    pub fn session(&self, chromium: &Path) -> Session<'_> {
        self.session_with(chromium, &[])
    }

    /// [`Driver::session`] with more command-line switches (a fake
    /// camera's or microphone's file, a window size).
    pub fn session_with(&self, chromium: &Path, extra: &[String]) -> Session<'_> {
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required",
        ]
        .map(str::to_owned)
        .to_vec();
        if !extra.iter().any(|a| a.starts_with("--window-size=")) {
            args.push("--window-size=1400,1000".to_owned());
        }
        args.extend(extra.iter().cloned());
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
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
pub struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Session<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.id)
    }

    /// Opens `url` and waits for its load.
    pub fn navigate(&self, url: &str) {
        self.driver
            .command("POST", &self.path("/url"), Some(json!({ "url": url })));
    }

    /// The element matching the CSS selector `css` (its WebDriver id).
    pub fn find(&self, css: &str) -> String {
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

    /// Clicks an element (a user gesture, as a person's click).
    pub fn click(&self, element: &str) {
        self.driver.command(
            "POST",
            &self.path(&format!("/element/{element}/click")),
            Some(json!({})),
        );
    }

    /// Types `text` into an element.
    pub fn send_keys(&self, element: &str, text: &str) {
        self.driver.command(
            "POST",
            &self.path(&format!("/element/{element}/value")),
            Some(json!({ "text": text })),
        );
    }

    /// Runs `script` in the page with `args` and gives its value.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.driver.command(
            "POST",
            &self.path("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// A PNG of the window, as the page shows it.
    pub fn screenshot(&self) -> Vec<u8> {
        let reply = self.driver.command("GET", &self.path("/screenshot"), None);
        decode_base64(reply.as_str().expect("a base64 screenshot"))
    }

    /// The page's console messages, for a failure's report.
    pub fn console(&self) -> String {
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

/// Standard base64 (WebDriver's screenshots), without a crate for it.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0);
    for sextet in text.bytes().filter_map(value) {
        bits = (bits << 6) | u32::from(sextet);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
