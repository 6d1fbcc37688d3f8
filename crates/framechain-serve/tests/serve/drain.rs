//! Draining before a rolling update: no new calls, the running ones go on.

use std::time::{Duration, Instant};

use framechain_loadgen::{Clip, Endpoint, Error, PublishOptions, Publisher, ViewOptions, Viewer};

use crate::support;

#[test]
fn a_draining_server_refuses_new_calls_and_keeps_the_running_one() {
    let Some(data) = support::testdata() else {
        return;
    };
    let clip = Clip::open(&data.join("h264/throughput/real1080p30_10s_cbp_6M.264")).unwrap();
    let _slot = support::realtime_slot();
    let server = support::start_server(&["room1", "room2"]);
    let base = format!("http://{}", server.http_addr());
    let endpoint = |stream: &str| Endpoint::new(&base, stream, support::publish_token(stream));
    let options = PublishOptions {
        fps: 30.0,
        frames: Some(90),
        ..PublishOptions::default()
    };
    let publisher = Publisher::start(&endpoint("room1"), clip.clone(), options.clone())
        .expect("WHIP offer accepted");
    publisher
        .wait_connected(Duration::from_secs(10))
        .expect("publisher connects");
    assert_eq!(support::get(&server, "/readyz", None).status, 200);

    server.start_draining();
    assert!(server.is_draining());
    let ready = support::get(&server, "/readyz", None);
    assert_eq!((ready.status, ready.body.trim()), (503, "draining"));
    // New calls, a publisher of another stream and a viewer of the running
    // one, are sent to another node.
    let sent_elsewhere = |error: Error| match error {
        Error::Refused {
            status: 503,
            retry_after: Some(retry),
            body,
            ..
        } => assert!(body.contains("draining") && !retry.is_empty(), "{body}"),
        other => panic!("expected 503 with Retry-After, got {other}"),
    };
    sent_elsewhere(
        Publisher::start(&endpoint("room2"), clip, options)
            .err()
            .expect("no new publisher while draining"),
    );
    let view = Endpoint::new(&base, "room1", support::view_token("room1"));
    sent_elsewhere(
        Viewer::start(&view, ViewOptions::default())
            .err()
            .expect("no new viewer while draining"),
    );

    // The running call goes on to its end.
    let frames_in = || support::metric(&server, "framechain_frames_in_total");
    let before = frames_in();
    publisher
        .wait_finished(Duration::from_secs(15))
        .expect("the clip is sent");
    publisher.stop().expect("DELETE");
    assert!(
        frames_in() > before,
        "the running call's pictures kept arriving"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.sessions() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.sessions(), 0, "the drained call ended");
}
