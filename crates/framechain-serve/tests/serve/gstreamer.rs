//! GStreamer's `webrtcbin` (Debian bookworm, 1.22) as it ships, with its
//! own RSA certificate: it publishes through WHIP
//! (scripts/gst-whip-publish.py) and a second one watches through WHEP
//! (scripts/gst-whep-view.py), with no certificate swap and no fingerprint
//! rewriting. str0m's own DTLS refuses RSA peers; serve's DTLS is OpenSSL's
//! (crates/framechain-dtls, docs/webrtc-stack.md). The publisher sends a
//! sine tone as Opus with the video; the viewer's Opus, decoded by
//! GStreamer's `opusdec`, must be that tone, without gaps.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;

/// Pictures published: 5 s at 30 fps, the first GOPs of the 1080p clip,
/// long enough for a viewer to join after the publisher is up.
const FRAMES: u32 = 150;
/// Access units the viewer must receive: half a second of video. The
/// session drops pictures it cannot process in time, which on a loaded
/// machine is most of them; the pictures' path is not what this tests.
const MIN_VIEWED: u64 = 15;
/// The publisher's tone, in Hz.
const TONE: f64 = 440.0;
/// Opus's (and the decoded sound's) sample rate.
const RATE: usize = 48_000;
/// Sound the viewer must receive: a second and a half.
const MIN_HEARD: usize = RATE * 3 / 2;

fn script(name: &str) -> PathBuf {
    framechain_test_support::workspace_root()
        .join("scripts")
        .join(name)
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

/// `--verbose` (the SDP and GStreamer's warnings) when
/// `FRAMECHAIN_GST_VERBOSE` is set.
fn verbose() -> Vec<&'static str> {
    match std::env::var_os("FRAMECHAIN_GST_VERBOSE") {
        Some(_) => vec!["--verbose"],
        None => Vec::new(),
    }
}

/// Starts webrtcbin publishing `FRAMES` pictures of the clip to `stream`.
fn start_publisher(server: &framechain_serve::Server, stream: &str) -> Child {
    let url = format!("http://{}/whip/{stream}", server.http_addr());
    Command::new(PYTHON)
        .arg(script("gst-whip-publish.py"))
        .args(["--url", &url, "--file"])
        .arg(support::clip())
        .args(["--frames", &FRAMES.to_string()])
        .args(["--tone", &TONE.to_string()])
        // The server's candidate is on 127.0.0.1; libnice must gather there.
        .args(["--ice-address", "127.0.0.1"])
        .args(["--connect-timeout", "10", "--duration", "30"])
        .args(verbose())
        .env("WHIP_TOKEN", support::publish_token(stream))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gst-whip-publish.py")
}

/// Starts webrtcbin watching `stream` until the publisher's end, writing
/// the decoded sound to `audio`.
fn start_viewer(server: &framechain_serve::Server, stream: &str, audio: &std::path::Path) -> Child {
    let url = format!("http://{}/whep/{stream}", server.http_addr());
    Command::new(PYTHON)
        .arg(script("gst-whep-view.py"))
        .args(["--url", &url])
        .args(["--min-frames", &MIN_VIEWED.to_string()])
        .arg("--audio-output")
        .arg(audio)
        .args(["--ice-address", "127.0.0.1"])
        .args(["--connect-timeout", "10", "--duration", "8"])
        .args(verbose())
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
    let keep = if verbose().is_empty() { 5 } else { usize::MAX };
    let mut tail: Vec<&str> = err.lines().rev().take(keep).collect();
    tail.reverse();
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

/// What the decoded sound is: its frequency from its rising zero
/// crossings (with hysteresis against noise at the crossing), and its
/// samples in silent stretches (a lost packet that was not concealed).
struct Tone {
    frequency: f64,
    silent: usize,
}

fn analyse(samples: &[i16]) -> Tone {
    // Whole periods between the first and the last rising crossing.
    let (mut first, mut last, mut crossings) = (None, 0, 0usize);
    let mut below = false;
    for (index, &sample) in samples.iter().enumerate() {
        if sample < -1000 {
            below = true;
        } else if below && sample > 1000 {
            below = false;
            first.get_or_insert(index);
            last = index;
            crossings += 1;
        }
    }
    let span = last.saturating_sub(first.unwrap_or(0));
    let frequency = if crossings > 1 && span > 0 {
        (crossings - 1) as f64 * RATE as f64 / span as f64
    } else {
        0.0
    };
    // A sine at half scale is near zero only around its crossings (a few
    // samples); a run of 2 ms near zero is missing sound.
    let mut silent = 0;
    let mut run = 0;
    for &sample in samples.iter().chain(std::iter::once(&i16::MAX)) {
        if sample.unsigned_abs() < 300 {
            run += 1;
        } else {
            if run >= RATE / 500 {
                silent += run;
            }
            run = 0;
        }
    }
    Tone { frequency, silent }
}

#[test]
fn the_tone_analysis_finds_the_frequency_and_the_gaps() {
    let sine = |n: usize| {
        (0..n)
            .map(|i| {
                ((i as f64 * TONE * std::f64::consts::TAU / RATE as f64).sin() * 16000.0) as i16
            })
            .collect::<Vec<i16>>()
    };
    let mut samples = sine(RATE);
    let tone = analyse(&samples);
    assert!((tone.frequency - TONE).abs() < 0.5, "{}", tone.frequency);
    assert_eq!(tone.silent, 0);
    // 20 ms of silence (a lost Opus packet) in the middle.
    samples.splice(RATE / 2..RATE / 2, std::iter::repeat_n(0, RATE / 50));
    assert!(analyse(&samples).silent >= RATE / 50);
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
    let audio =
        std::env::temp_dir().join(format!("framechain-gst-audio-{}.raw", std::process::id()));
    let viewer = start_viewer(&server, stream, &audio);
    let viewer_deadline = Instant::now() + Duration::from_secs(20);
    let (viewed, view_output) = finish(viewer, viewer_deadline);
    let heard = std::fs::read(&audio).unwrap_or_default();
    let _ = std::fs::remove_file(&audio);
    let stats = support::get(
        &server,
        &format!("/streams/{stream}/stats"),
        Some(&support::view_token(stream)),
    );
    let (published, publish_output) = finish(publisher, deadline);
    // The session's count may settle a moment after the last packet.
    for _ in 0..10 {
        most = most.max(frames_in(&server, stream));
        std::thread::sleep(Duration::from_millis(100));
    }

    // The scripts' state lines and timings, for the record (docs/webrtc-stack.md).
    eprintln!(
        "publisher:\n{publish_output}\nviewer:\n{view_output}\nstats while watching: {}",
        stats.body
    );
    assert!(
        published,
        "webrtcbin with its default certificate must publish:\n{publish_output}"
    );
    assert!(
        publish_output.contains("dtls-state: connected"),
        "{publish_output}"
    );
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
    assert!(
        view_output.contains("dtls-state: connected"),
        "{view_output}"
    );
    let received = result_count(&view_output, "frames_received");
    assert!(
        received >= MIN_VIEWED,
        "the viewer received {received} pictures:\n{view_output}"
    );

    // The sound: the publisher's tone, decoded by opusdec, without gaps
    // (samples the timestamps skip, or silent stretches) over 1 %.
    let samples: Vec<i16> = heard
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    assert!(
        samples.len() >= MIN_HEARD,
        "the viewer decoded {} samples of sound:\n{view_output}",
        samples.len()
    );
    // The decoder's first frames ramp up; judge from 100 ms on.
    let tone = analyse(&samples[RATE / 10..]);
    assert!(
        (tone.frequency - TONE).abs() <= TONE / 100.0,
        "the viewer heard {:.1} Hz, not {TONE} Hz",
        tone.frequency
    );
    let skipped = result_count(&view_output, "audio_gap_samples") as usize;
    let gaps = skipped + tone.silent;
    eprintln!(
        "audio: {} samples, {:.2} Hz, {skipped} samples skipped, {} silent",
        samples.len(),
        tone.frequency,
        tone.silent
    );
    assert!(
        gaps * 100 < samples.len() + skipped,
        "{gaps} samples of gaps in {}:\n{view_output}",
        samples.len() + skipped
    );
}
