//! A real browser: Debian's headless `chromium`, driven through
//! `chromedriver` with the W3C WebDriver protocol, publishes the publish
//! page's 1080p test pattern with WHIP; a second chromium watches with the
//! watch page over WHEP. The watched video must be the pipeline's 720p, its
//! redacted caption black, and the timestamp code readable (glass-to-glass
//! latency, printed, not asserted).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{publish_token, start_server, view_token};
use crate::webdriver::{Driver, Session, browser, wait_for};

/// The caption the publish page's test pattern draws and the server's
/// pipeline (`support::TELEMEDICINE`) redacts: x, y, width, height at 1080p.
const CAPTION: [u32; 4] = [120, 67, 600, 135];
/// Frames the watcher must decode before the pictures are judged.
const FRAMES: u64 = 30;

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
