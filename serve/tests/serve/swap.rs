//! Swapping a stage in running calls through `POST /admin/stages/STAGE`:
//! the operator's token, a refused stage that changes nothing, and a swap
//! that reaches a running publisher's session at its next keyframe.

use std::time::{Duration, Instant};

use framechain_loadgen::{Clip, Endpoint, PublishOptions, Publisher};
use framechain_serve::Server;

use crate::support::{self, Answer};

const ADMIN: &str = "admin-token-for-tests";

fn swap(server: &Server, stage: &str, token: Option<&str>, line: &str) -> Answer {
    support::request(
        "POST",
        &format!("http://{}/admin/stages/{stage}", server.http_addr()),
        token,
        "text/plain",
        line.as_bytes(),
    )
}

#[test]
fn the_admin_endpoint_is_off_without_a_token() {
    let server = support::start_server(&["room1"]);
    let answer = swap(&server, "redact", Some(ADMIN), "redact mode=fill");
    assert_eq!(answer.status, 404, "{}", answer.body);
}

#[test]
fn a_stage_is_swapped_in_a_running_call_and_a_bad_one_changes_nothing() {
    let Some(data) = support::testdata() else {
        return;
    };
    let clip = Clip::open(&data.join("h264/throughput/real1080p30_10s_cbp_6M.264")).unwrap();
    let _slot = support::realtime_slot();
    let mut config = support::config(support::TELEMEDICINE, &["room1"]);
    config.admin_token = Some(ADMIN.to_owned());
    let server = Server::start(config).unwrap();

    assert_eq!(
        swap(&server, "redact", None, "redact mode=fill").status,
        401
    );
    assert_eq!(
        swap(
            &server,
            "redact",
            Some("not-the-admin-token"),
            "redact mode=fill"
        )
        .status,
        403
    );
    assert_eq!(
        swap(
            &server,
            "redact",
            Some(&support::publish_token("room1")),
            "redact"
        )
        .status,
        403,
        "a stream's token is not the operator's"
    );

    let base = format!("http://{}", server.http_addr());
    let publisher = Publisher::start(
        &Endpoint::new(&base, "room1", support::publish_token("room1")),
        clip,
        PublishOptions {
            fps: 30.0,
            frames: Some(150),
            ..PublishOptions::default()
        },
    )
    .expect("WHIP offer accepted");
    publisher
        .wait_connected(Duration::from_secs(10))
        .expect("publisher connects");
    std::thread::sleep(Duration::from_millis(700));

    // Refused before anything changes: a parameter redact refuses, an
    // unknown stage position, two stages, a stage that does not fit.
    let bad_mode = swap(&server, "redact", Some(ADMIN), "redact mode=sparkle");
    assert_eq!(bad_mode.status, 400, "{}", bad_mode.body);
    assert!(bad_mode.body.contains("mode"), "{}", bad_mode.body);
    assert_eq!(
        swap(&server, "9", Some(ADMIN), "redact mode=fill").status,
        400
    );
    assert_eq!(
        swap(&server, "blur", Some(ADMIN), "redact mode=fill").status,
        404
    );
    assert_eq!(
        swap(&server, "redact", Some(ADMIN), "redact ! scale").status,
        400
    );
    let no_fit = swap(&server, "redact", Some(ADMIN), "encode-h264");
    assert_eq!(no_fit.status, 400, "{}", no_fit.body);

    let swapped = swap(
        &server,
        "redact",
        Some(ADMIN),
        "redact rect=0,0,1920,540 mode=fill",
    );
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    let answer: serde_json::Value = serde_json::from_str(&swapped.body).unwrap();
    assert_eq!(answer["sessions"], 1, "{answer}");
    assert_eq!(answer["stage"], "redact", "{answer}");
    assert_eq!(answer["position"], 1, "{answer}");

    // The clip has a keyframe every 60 pictures: the switch comes at the
    // next one, within 2 s.
    let ok = "framechain_stage_swaps_total{stage=\"redact\",result=\"ok\"}";
    let deadline = Instant::now() + Duration::from_secs(8);
    while support::metric(&server, ok) < 1.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(support::metric(&server, ok), 1.0);
    publisher
        .wait_finished(Duration::from_secs(15))
        .expect("the clip is sent");
    let sent = publisher.stats().sent;
    publisher.stop().expect("DELETE");

    // No picture was lost to the swap: everything in is out or counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.sessions() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let frames_in = support::metric(&server, "framechain_frames_in_total");
    let frames_out = support::metric(&server, "framechain_frames_out_total");
    let metrics = support::get(&server, "/metrics", None).body;
    let dropped: f64 = metrics
        .lines()
        .filter(|line| line.starts_with("framechain_frames_dropped_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(frames_in, sent as f64, "every sent picture arrived");
    assert_eq!(frames_out + dropped, frames_in, "in = out + dropped");
    let failed = "framechain_stage_swaps_total{stage=\"\",result=\"failed\"}";
    assert_eq!(support::metric(&server, failed), 0.0);
}
