//! GStreamer's `webrtcbin` (Debian bookworm, 1.22) as it ships, with its
//! own RSA certificate: it publishes through WHIP
//! (scripts/gst-whip-publish.py) and a second one watches through WHEP
//! (scripts/gst-whep-view.py), with no certificate swap and no fingerprint
//! rewriting. str0m's own DTLS refuses RSA peers; serve's DTLS is OpenSSL's
//! (crates/framechain-dtls, docs/webrtc-stack.md).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;

/// Pictures published: 5 s at 30 fps, the first GOPs of the 1080p clip,
/// long enough for a viewer to join after the publisher is up.
const FRAMES: u32 = 150;
/// Access units the viewer must receive: a second and a half of video.
const MIN_VIEWED: u64 = 45;

fn script(name: &str) -> PathBuf {
    framechain_test_support::workspace_root().join("scripts").join(name)
}

/// Debian's GStreamer Python bindings run on Debian's interpreter, not on
/// whatever `python3` comes first on PATH.
const PYTHON: &str = "/usr/bin/python3";

/// Whether webrtcbin and the bindings the scripts need are installed;
/// `Err` says what is missing.
fn gstreamer_available() -> Result<(), String> {
    let probe = "import gi\n\
        gi.require_version('Gst', '1.0')\n\
        gi.require_version('GstWebRTC', '1.0')\n\
        gi.require_version('GstSdp', '1.0')\n\
        gi.require_version('Nice', '0.1')\n\
        from gi.repository import Gst, GstWebRTC, GstSdp, Nice\n\
        Gst.init(None)\n\
        missing = [e for e in ('webrtcbin', 'nicesrc', 'dtlssrtpdec', 'rtph264pay', 'rtph264depay', 'h264parse') if Gst.ElementFactory.find(e) is None]\n\
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

/// Starts webrtcbin publishing `FRAMES` pictures of the clip to `stream`.
fn start_publisher(server: &framechain_serve::Server, stream: &str) -> Child {
    let url = format!("http://{}/whip/{stream}", server.http_addr());
    Command::new(PYTHON)
        .arg(script("gst-whip-publish.py"))
        .args(["--url", &url, "--file"])
        .arg(support::clip())
        .args(["--frames", &FRAMES.to_string()])
        // The server's candidate is on 127.0.0.1; libnice must gather there.
        .args(["--ice-address", "127.0.0.1"])
        .args(["--connect-timeout", "10", "--duration", "30"])
        .env("WHIP_TOKEN", support::publish_token(stream))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gst-whip-publish.py")
}

/// Starts webrtcbin watching `stream` until the publisher's end.
fn start_viewer(server: &framechain_serve::Server, stream: &str) -> Child {
    let url = format!("http://{}/whep/{stream}", server.http_addr());
    Command::new(PYTHON)
        .arg(script("gst-whep-view.py"))
        .args(["--url", &url])
        .args(["--min-frames", &MIN_VIEWED.to_string()])
        .args(["--ice-address", "127.0.0.1"])
        .args(["--connect-timeout", "10", "--duration", "8"])
        .env("WHEP_TOKEN", support::view_token(stream))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gst-whep-view.py")
}

/// Waits for `child` until `deadline` (then kills it); its success and
/// its output with the last lines of its errors.
fn finish(mut child: Child, deadline: Instant) -> (bool, String) {
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a script") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("reap a script");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    let tail: Vec<&str> = err.lines().rev().take(5).collect();
    (status.success(), format!("{out}{}", tail.join("\n")))
}

/// `KEY=N` of the script's `result:` line.
fn result_count(output: &str, key: &str) -> u64 {
    output
        .lines()
        .find(|line| line.starts_with("result:"))
        .and_then(|line| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn gstreamer_webrtcbin_publishes_and_watches_with_its_default_rsa_certificate() {
    if !require_gstreamer() {
        return;
    }
    let _slot = support::realtime_slot();
    let stream = "gst";
    let server = support::start_server(&[stream]);
    let publisher = start_publisher(&server, stream);
    let deadline = Instant::now() + Duration::from_secs(60);

    // The viewer joins once pictures arrive (the publisher is connected).
    let mut most = 0;
    let joined_by = Instant::now() + Duration::from_secs(15);
    while most == 0 && Instant::now() < joined_by {
        std::thread::sleep(Duration::from_millis(100));
        most = frames_in(&server, stream);
    }
    let viewer = start_viewer(&server, stream);
    let viewer_deadline = Instant::now() + Duration::from_secs(20);
    let (viewed, view_output) = finish(viewer, viewer_deadline);
    let (published, publish_output) = finish(publisher, deadline);
    // The session's count may settle a moment after the last packet.
    for _ in 0..10 {
        most = most.max(frames_in(&server, stream));
        std::thread::sleep(Duration::from_millis(100));
    }

    // The scripts' state lines and timings, for the record (docs/webrtc-stack.md).
    eprintln!("publisher:\n{publish_output}\nviewer:\n{view_output}");
    assert!(
        published,
        "webrtcbin with its default certificate must publish:\n{publish_output}"
    );
    assert!(publish_output.contains("dtls-state: connected"), "{publish_output}");
    let sent = result_count(&publish_output, "frames_sent");
    assert_eq!(
        sent,
        u64::from(FRAMES),
        "the publisher sent {sent} pictures:\n{publish_output}"
    );
    // Loopback loses nothing in practice; allow a picture or two at the
    // start or the end of the call rather than none at all.
    assert!(
        most + 2 >= sent && most <= sent,
        "the session received {most} of {sent} pictures:\n{publish_output}"
    );

    assert!(
        viewed,
        "webrtcbin with its default certificate must watch:\n{view_output}"
    );
    assert!(view_output.contains("dtls-state: connected"), "{view_output}");
    let received = result_count(&view_output, "frames_received");
    assert!(
        received >= MIN_VIEWED,
        "the viewer received {received} pictures:\n{view_output}"
    );
}
