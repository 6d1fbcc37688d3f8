//! Swapping a stage in running calls through `POST /admin/stages/STAGE`:
//! the operator's token, a refused stage that changes nothing, and a swap
//! that reaches a running publisher's session at its next keyframe, and a
//! stage that passes its trial and fails afterwards, which is rolled back.

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

/// A chain with the test stage in the middle, small enough to be cheap.
const TEST_STAGE_CHAIN: &str = "decode-h264 alignment=access-unit ! test-stage ! scale width=320 height=180 ! encode-h264 fps=30 gop=30";

fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Publishes `frames` pictures of `clip` on room1; `None` when the offer
/// is refused or the call does not connect.
fn publish(server: &Server, clip: &Clip, frames: u64) -> Publisher {
    let base = format!("http://{}", server.http_addr());
    Publisher::start(
        &Endpoint::new(&base, "room1", support::publish_token("room1")),
        clip.clone(),
        PublishOptions {
            fps: 30.0,
            frames: Some(frames),
            ..PublishOptions::default()
        },
    )
    .expect("WHIP offer accepted")
}

fn wait_no_sessions(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.sessions() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.sessions(), 0);
}

/// The attack of issue 17: a stage whose trial `create` works and whose
/// later ones sleep past the time limit. The swap is accepted; the first
/// call after it fails at start, and that rolls the swap back, so the
/// next call runs the old stage and `/readyz` is right to say ready.
#[test]
fn a_swap_that_fails_after_its_trial_is_rolled_back() {
    let Some(data) = support::testdata() else {
        return;
    };
    let clip = Clip::open(&data.join("h264/throughput/real1080p30_10s_cbp_6M.264")).unwrap();
    let _slot = support::realtime_slot();
    let mut config = support::config(TEST_STAGE_CHAIN, &["room1"]);
    config.admin_token = Some(ADMIN.to_owned());
    let server = Server::start(config).unwrap();

    // Every create from 2 s on sleeps; the trial comes before.
    let after = unix_millis() + 2000;
    let swapped = swap(
        &server,
        "test-stage",
        Some(ADMIN),
        &format!("test-stage behaviour=sleep-in-create-after after={after}"),
    );
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    assert!(
        unix_millis() < after,
        "the trial took more than 2 s: this test cannot tell anything"
    );
    while unix_millis() <= after {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(support::get(&server, "/readyz", None).status, 200);

    // The first call after: its session cannot make the stage (1 s time
    // limit on create) and fails, which rolls the swap back.
    let victim = publish(&server, &clip, 30);
    std::thread::sleep(Duration::from_millis(500));
    wait_no_sessions(&server);
    let _ = victim.stop();

    // The next call runs the old stage: its pictures come out.
    assert_eq!(support::get(&server, "/readyz", None).status, 200);
    let out_before = support::metric(&server, "framechain_frames_out_total");
    let next = publish(&server, &clip, 30);
    next.wait_connected(Duration::from_secs(10))
        .expect("the next publisher connects");
    next.wait_finished(Duration::from_secs(15))
        .expect("the pictures are sent");
    let deadline = Instant::now() + Duration::from_secs(5);
    while support::metric(&server, "framechain_frames_out_total") < out_before + 20.0
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = support::metric(&server, "framechain_frames_out_total") - out_before;
    assert!(out >= 20.0, "{out} pictures out of 30 after the rollback");
    let _ = next.stop();
    let rolled_back = "framechain_stage_swaps_total{stage=\"test-stage\",result=\"rolled back\"}";
    assert_eq!(support::metric(&server, rolled_back), 1.0, "counted");
}

/// A pipeline whose sessions all fail before their first picture (the
/// server's own pipeline, so there is no swap to roll back): after 3 in a
/// row, `/readyz` says so, and the load balancer stops sending calls.
#[test]
fn readyz_is_not_ready_while_new_calls_fail_at_start() {
    // Building the pipeline creates the stage once, before `after`; the
    // stages are compiled first, on the same engine, so that the build
    // itself is quick.
    let engine = support::engine();
    let build = |launch: &str| {
        let chain = framechain::ChainSpec::parse_launch(launch).unwrap();
        std::sync::Arc::new(framechain::Pipeline::build(&engine, &chain).unwrap())
    };
    build("decode-h264 alignment=access-unit ! test-stage ! encode-h264");
    let after = unix_millis() + 2000;
    let pipeline = build(&format!(
        "decode-h264 alignment=access-unit ! test-stage behaviour=sleep-in-create-after after={after} ! encode-h264"
    ));
    assert!(
        unix_millis() < after,
        "building the pipeline took more than 2 s: this test cannot tell anything"
    );
    let mut config = framechain_serve::ServeConfig::new(pipeline);
    // No spares: serve would make one before `after` (it keeps its
    // pipeline warm), and the first call would start from it. This test
    // is about calls whose sessions make their stages and fail.
    config.live.spares = 0;
    config.streams.push(framechain_serve::StreamSpec {
        name: "room1".to_owned(),
        publish_token: support::publish_token("room1"),
        view_token: support::view_token("room1"),
    });
    let server = Server::start(config).unwrap();
    while unix_millis() <= after {
        std::thread::sleep(Duration::from_millis(50));
    }
    let offer = crate::bad_actors::offer(true, str0m::media::Direction::SendOnly);
    for call in 0..3 {
        assert_eq!(
            support::get(&server, "/readyz", None).status,
            200,
            "before call {call}"
        );
        let answer = support::request(
            "POST",
            &format!("http://{}/whip/room1", server.http_addr()),
            Some(&support::publish_token("room1")),
            "application/sdp",
            offer.as_bytes(),
        );
        assert_eq!(answer.status, 201, "{}", answer.body);
        // create sleeps past its 1 s limit: the session fails and ends.
        wait_no_sessions(&server);
    }
    let readyz = support::get(&server, "/readyz", None);
    assert_eq!(readyz.status, 503, "{}", readyz.body);
    assert_eq!(readyz.body.trim(), "new calls fail at start");
    assert_eq!(support::get(&server, "/healthz", None).status, 200);
}

/// A swapped-in stage that passes its trial `create` and then fails in
/// the running call it reaches (it traps on its first picture): the swap
/// is rolled back, so the next call runs the old stage.
#[test]
fn a_swap_that_fails_in_a_running_call_is_rolled_back() {
    let Some(data) = support::testdata() else {
        return;
    };
    let clip = Clip::open(&data.join("h264/throughput/real1080p30_10s_cbp_6M.264")).unwrap();
    let _slot = support::realtime_slot();
    let mut config = support::config(TEST_STAGE_CHAIN, &["room1"]);
    config.admin_token = Some(ADMIN.to_owned());
    let server = Server::start(config).unwrap();

    let running = publish(&server, &clip, 150);
    running
        .wait_connected(Duration::from_secs(10))
        .expect("the publisher connects");
    std::thread::sleep(Duration::from_millis(300));
    let swapped = swap(
        &server,
        "test-stage",
        Some(ADMIN),
        "test-stage behaviour=trap",
    );
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&swapped.body).unwrap()["sessions"],
        1
    );
    // The switch comes at the next keyframe (every 2 s); the new stage
    // traps and the call fails.
    wait_no_sessions(&server);
    let _ = running.stop();

    let out_before = support::metric(&server, "framechain_frames_out_total");
    let next = publish(&server, &clip, 30);
    next.wait_finished(Duration::from_secs(15))
        .expect("the pictures are sent");
    let deadline = Instant::now() + Duration::from_secs(5);
    while support::metric(&server, "framechain_frames_out_total") < out_before + 20.0
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = support::metric(&server, "framechain_frames_out_total") - out_before;
    assert!(out >= 20.0, "{out} pictures out of 30 after the rollback");
    let _ = next.stop();
    let rolled_back = "framechain_stage_swaps_total{stage=\"test-stage\",result=\"rolled back\"}";
    assert_eq!(support::metric(&server, rolled_back), 1.0, "counted");
}
