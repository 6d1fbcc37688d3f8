//! GStreamer's `webrtcbin` (Debian bookworm, 1.22) as a WHIP publisher,
//! through scripts/gst-whip-publish.py: with an ECDSA certificate it
//! connects and its pictures reach the session; with its own RSA
//! certificate str0m's DTLS refuses it (docs/webrtc-stack.md). The second
//! test pins that limit down: if the stack ever accepts RSA, it fails and
//! the documentation must change with it.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;

/// Pictures published: 3 s at 30 fps, two GOPs of the 1080p clip.
const FRAMES: u32 = 90;

fn script() -> PathBuf {
    framechain_test_support::workspace_root().join("scripts/gst-whip-publish.py")
}

/// Debian's GStreamer Python bindings run on Debian's interpreter, not on
/// whatever `python3` comes first on PATH.
const PYTHON: &str = "/usr/bin/python3";

/// Whether webrtcbin and the bindings the script needs are installed;
/// `Err` says what is missing.
fn gstreamer_available() -> Result<(), String> {
    let probe = "import gi\n\
        gi.require_version('Gst', '1.0')\n\
        gi.require_version('GstWebRTC', '1.0')\n\
        gi.require_version('GstSdp', '1.0')\n\
        gi.require_version('Nice', '0.1')\n\
        from gi.repository import Gst, GstWebRTC, GstSdp, Nice\n\
        Gst.init(None)\n\
        missing = [e for e in ('webrtcbin', 'nicesrc', 'dtlssrtpdec', 'rtph264pay', 'h264parse') if Gst.ElementFactory.find(e) is None]\n\
        assert not missing, 'GStreamer elements missing: ' + ', '.join(missing)\n";
    let output = Command::new(PYTHON)
        .args(["-c", probe])
        .output()
        .map_err(|error| format!("{PYTHON}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(stderr.lines().last().unwrap_or("probe failed").to_owned())
    }
}

/// Skips the test (with a note) when GStreamer is not installed, except in
/// CI, where scripts/setup.sh installs it and its absence is a failure.
fn require_gstreamer() -> bool {
    match gstreamer_available() {
        Ok(()) => true,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("GStreamer's webrtcbin is needed in CI (scripts/setup.sh installs it): {why}")
        }
        Err(why) => {
            eprintln!(
                "skipped: GStreamer's webrtcbin is not usable here ({why}); run scripts/setup.sh"
            );
            false
        }
    }
}

/// `frames.in` of the stream's stats, 0 when there is none yet.
fn frames_in(server: &framechain_serve::Server, stream: &str) -> u64 {
    let token = support::view_token(stream);
    let answer = support::get(server, &format!("/streams/{stream}/stats"), Some(&token));
    if answer.status != 200 {
        return 0;
    }
    serde_json::from_str::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|stats| stats["frames"]["in"].as_u64())
        .unwrap_or(0)
}

/// Publishes `FRAMES` pictures with certificate `cert`, polling the stream's
/// stats meanwhile. Returns the exit success, the script's output and the
/// most `frames.in` seen.
fn publish(server: &framechain_serve::Server, stream: &str, cert: &str) -> (bool, String, u64) {
    let url = format!("http://{}/whip/{stream}", server.http_addr());
    let mut child: Child = Command::new(PYTHON)
        .arg(script())
        .args(["--url", &url, "--file"])
        .arg(support::clip())
        .args(["--frames", &FRAMES.to_string(), "--cert", cert])
        // The server's candidate is on 127.0.0.1; libnice must gather there.
        .args(["--ice-address", "127.0.0.1"])
        .args(["--connect-timeout", "10", "--duration", "30"])
        .env("WHIP_TOKEN", support::publish_token(stream))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gst-whip-publish.py");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut most = 0;
    let status = loop {
        most = most.max(frames_in(server, stream));
        if let Some(status) = child.try_wait().expect("wait for the publisher") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("reap the publisher");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // The session's count may settle a moment after the last packet.
    for _ in 0..10 {
        most = most.max(frames_in(server, stream));
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    let tail: Vec<&str> = err.lines().rev().take(5).collect();
    (status.success(), format!("{out}{}", tail.join("\n")), most)
}

/// `frames_sent=N` of the script's `result:` line.
fn frames_sent(output: &str) -> u64 {
    output
        .lines()
        .find(|line| line.starts_with("result:"))
        .and_then(|line| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix("frames_sent="))
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn gstreamer_webrtcbin_publishes_with_an_ecdsa_certificate() {
    if !require_gstreamer() {
        return;
    }
    let _slot = support::realtime_slot();
    let server = support::start_server(&["gst-ecdsa"]);
    let (ok, output, received) = publish(&server, "gst-ecdsa", "ecdsa");
    assert!(
        ok,
        "webrtcbin with an ECDSA certificate must publish:\n{output}"
    );
    assert!(output.contains("dtls-state: connected"), "{output}");
    let sent = frames_sent(&output);
    assert_eq!(
        sent,
        u64::from(FRAMES),
        "the publisher sent {sent} pictures:\n{output}"
    );
    // Loopback loses nothing in practice; allow a picture or two at the
    // start or the end of the call rather than none at all.
    assert!(
        received + 2 >= sent && received <= sent,
        "the session received {received} of {sent} pictures:\n{output}"
    );
}

#[test]
fn gstreamer_webrtcbin_default_rsa_certificate_is_refused() {
    if !require_gstreamer() {
        return;
    }
    let _slot = support::realtime_slot();
    let server = support::start_server(&["gst-rsa"]);
    let (ok, output, received) = publish(&server, "gst-rsa", "default");
    assert!(
        !ok,
        "webrtcbin's own RSA certificate connected: str0m's DTLS now takes RSA, update docs/webrtc-stack.md and scripts/gst-whip-publish.py:\n{output}"
    );
    assert!(!output.contains("dtls-state: connected"), "{output}");
    assert_eq!(received, 0, "no picture may pass without DTLS:\n{output}");
}
