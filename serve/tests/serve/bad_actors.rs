//! Bad actors get their answer, and nothing else happens: no token, wrong
//! tokens, oversized and malformed offers, offers without H.264, a second
//! publisher, calls that never connect, garbage on the media port, a full
//! node.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use framechain_serve::Server;
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, RtcConfig};

use crate::support::{self, Answer, publish_token, view_token};

/// An SDP offer as a client makes it: one video media in `direction`,
/// offering H.264 (mode 1) or only VP8.
pub fn offer(h264: bool, direction: Direction) -> String {
    let config = RtcConfig::new().clear_codecs();
    let config = if h264 {
        config.enable_h264(true)
    } else {
        config.enable_vp8(true)
    };
    let mut rtc = config.build(Instant::now());
    let candidate = Candidate::host("127.0.0.1:9".parse().unwrap(), "udp").unwrap();
    rtc.add_local_candidate(candidate);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Video, direction, None, None, None);
    let (offer, _pending) = api.apply().expect("an offer");
    offer.to_sdp_string()
}

fn whip(server: &Server, stream: &str, token: Option<&str>, body: &str) -> Answer {
    support::request(
        "POST",
        &format!("http://{}/whip/{stream}", server.http_addr()),
        token,
        "application/sdp",
        body.as_bytes(),
    )
}

fn whep(server: &Server, stream: &str, token: Option<&str>, body: &str) -> Answer {
    support::request(
        "POST",
        &format!("http://{}/whep/{stream}", server.http_addr()),
        token,
        "application/sdp",
        body.as_bytes(),
    )
}

#[test]
fn tokens_open_only_their_own_door() {
    let server = support::start_server(&["room1", "room2"]);
    let publish = offer(true, Direction::SendOnly);
    let view = offer(true, Direction::RecvOnly);

    let none = whip(&server, "room1", None, &publish);
    assert_eq!(none.status, 401, "{}", none.body);
    assert_eq!(none.www_authenticate.as_deref(), Some("Bearer"));
    let wrong = whip(&server, "room1", Some("not-the-token"), &publish);
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let other_stream = whip(&server, "room1", Some(&publish_token("room2")), &publish);
    assert_eq!(other_stream.status, 403, "{}", other_stream.body);
    let view_token_publishing = whip(&server, "room1", Some(&view_token("room1")), &publish);
    assert_eq!(view_token_publishing.status, 403);
    let publish_token_viewing = whep(&server, "room1", Some(&publish_token("room1")), &view);
    assert_eq!(publish_token_viewing.status, 403);
    let stats_with_publish_token = support::get(
        &server,
        "/streams/room1/stats",
        Some(&publish_token("room1")),
    );
    assert_eq!(stats_with_publish_token.status, 403);
    let unknown = whip(&server, "room9", Some(&publish_token("room1")), &publish);
    assert_eq!(unknown.status, 404);
    // No refusal quotes a token back.
    for answer in [&none, &wrong, &other_stream] {
        assert!(!answer.body.contains("secret"), "{}", answer.body);
    }
    // Nothing was opened by any of them, and the right tokens still work.
    assert_eq!(server.sessions(), 0);
    let right = whip(&server, "room1", Some(&publish_token("room1")), &publish);
    assert_eq!(right.status, 201, "{}", right.body);
    let location = right.location.expect("a Location");
    assert!(location.starts_with("/whip/room1/"), "{location}");
    assert!(right.body.starts_with("v=0"), "{}", right.body);
    let viewer = whep(&server, "room1", Some(&view_token("room1")), &view);
    assert_eq!(viewer.status, 201, "{}", viewer.body);
    assert!(
        viewer
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/whep/room1/"))
    );
    // DELETE needs the token too, and ends the call.
    let url = format!("http://{}{location}", server.http_addr());
    let anonymous_delete = support::request("DELETE", &url, None, "text/plain", b"");
    assert_eq!(anonymous_delete.status, 401);
    let deleted = support::request(
        "DELETE",
        &url,
        Some(&publish_token("room1")),
        "text/plain",
        b"",
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let again = support::request(
        "DELETE",
        &url,
        Some(&publish_token("room1")),
        "text/plain",
        b"",
    );
    assert_eq!(again.status, 404);
    let patch = support::request(
        "PATCH",
        &url,
        Some(&publish_token("room1")),
        "application/trickle-ice-sdpfrag",
        b"a=candidate:1 1 udp 1 127.0.0.1 9 typ host",
    );
    assert_eq!(patch.status, 405);
}

/// POSTs a 10 MB offer the way a hostile client would, pushing bytes
/// until the server answers or stops reading; returns the status line.
fn huge_offer(server: &Server, token: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.http_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let size = 10 << 20;
    let head = format!(
        "POST /whip/room1 HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nContent-Type: application/sdp\r\nContent-Length: {size}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..size / chunk.len() {
        // The server may answer and close before it all went out.
        if stream.write_all(&chunk).is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn bad_offers_get_their_status() {
    let server = support::start_server(&["room1"]);
    let token = publish_token("room1");
    let url = format!("http://{}/whip/room1", server.http_addr());

    let too_big = huge_offer(&server, &token);
    assert!(too_big.starts_with("HTTP/1.1 413"), "{too_big}");

    let not_sdp = support::request(
        "POST",
        &url,
        Some(&token),
        "application/json",
        offer(true, Direction::SendOnly).as_bytes(),
    );
    assert_eq!(not_sdp.status, 415, "{}", not_sdp.body);

    let malformed = whip(&server, "room1", Some(&token), "v=0\r\nthis is not SDP\r\n");
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    assert_eq!(
        malformed.body.trim().lines().count(),
        1,
        "one line: {}",
        malformed.body
    );

    let vp8_only = whip(
        &server,
        "room1",
        Some(&token),
        &offer(false, Direction::SendOnly),
    );
    assert_eq!(vp8_only.status, 406, "{}", vp8_only.body);
    // A publisher must send: an offer that only receives has nothing to publish.
    let receive_only = whip(
        &server,
        "room1",
        Some(&token),
        &offer(true, Direction::RecvOnly),
    );
    assert_eq!(receive_only.status, 406, "{}", receive_only.body);

    assert_eq!(server.sessions(), 0, "no bad offer opened a session");
    let good = whip(
        &server,
        "room1",
        Some(&token),
        &offer(true, Direction::SendOnly),
    );
    assert_eq!(good.status, 201, "{}", good.body);
}

#[test]
fn one_publisher_per_stream_and_a_full_node_says_retry() {
    let mut config = support::config(support::TELEMEDICINE, &["room1", "room2"]);
    config.max_sessions = 1;
    let server = Server::start(config).unwrap();
    let publish = offer(true, Direction::SendOnly);
    assert_eq!(support::get(&server, "/readyz", None).status, 200);

    let first = whip(&server, "room1", Some(&publish_token("room1")), &publish);
    assert_eq!(first.status, 201, "{}", first.body);
    let second = whip(&server, "room1", Some(&publish_token("room1")), &publish);
    assert_eq!(second.status, 409, "{}", second.body);

    let full = whip(&server, "room2", Some(&publish_token("room2")), &publish);
    assert_eq!(full.status, 503, "{}", full.body);
    assert_eq!(full.retry_after.as_deref(), Some("5"));
    assert_eq!(support::get(&server, "/readyz", None).status, 503);
    assert_eq!(support::get(&server, "/healthz", None).status, 200);
    assert_eq!(
        support::metric(
            &server,
            "framechain_sessions_refused_total{reason=\"sessions\"}"
        ),
        1.0
    );
    assert_eq!(
        support::metric(
            &server,
            "framechain_sessions_refused_total{reason=\"stream busy\"}"
        ),
        1.0
    );
    assert_eq!(
        support::metric(&server, "framechain_sessions_admitted_total"),
        1.0
    );
}

#[test]
fn calls_that_never_connect_are_ended_and_free_their_place() {
    let mut config = support::config(support::TELEMEDICINE, &["room1"]);
    config.connect_timeout = Duration::from_millis(1500);
    config.max_viewers = 1;
    let server = Server::start(config).unwrap();
    let publisher = whip(
        &server,
        "room1",
        Some(&publish_token("room1")),
        &offer(true, Direction::SendOnly),
    );
    assert_eq!(publisher.status, 201);
    let view = offer(true, Direction::RecvOnly);
    let viewer = whep(&server, "room1", Some(&view_token("room1")), &view);
    assert_eq!(viewer.status, 201);
    let second_viewer = whep(&server, "room1", Some(&view_token("room1")), &view);
    assert_eq!(second_viewer.status, 503, "the stream's viewer cap");
    assert_eq!(server.sessions(), 1);

    // Neither ever sends a STUN request: both are ended, the session with
    // its publisher, and the places are free again.
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.sessions() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        server.sessions(),
        0,
        "the session of a silent publisher ends"
    );
    assert_eq!(
        support::metric(
            &server,
            "framechain_sessions_ended_total{reason=\"connect timeout\"}"
        ),
        2.0
    );
    let again = whip(
        &server,
        "room1",
        Some(&publish_token("room1")),
        &offer(true, Direction::SendOnly),
    );
    assert_eq!(again.status, 201, "{}", again.body);
    let viewer_again = whep(&server, "room1", Some(&view_token("room1")), &view);
    assert_eq!(viewer_again.status, 201, "{}", viewer_again.body);
}

#[test]
fn garbage_on_the_media_port_is_counted_and_ignored() {
    let server = support::start_server(&["room1"]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sent = 0;
    for length in [0usize, 1, 12, 20, 100, 1200, 1500] {
        let mut datagram: Vec<u8> = (0..length).map(|i| (i * 37 + length) as u8).collect();
        socket.send_to(&datagram, server.media_addr()).unwrap();
        sent += 1;
        if length >= 20 {
            // A STUN header with the magic cookie and no call's user name.
            datagram[0] = 0;
            datagram[1] = 1;
            datagram[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
            socket.send_to(&datagram, server.media_addr()).unwrap();
            sent += 1;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut counted = 0.0;
    while Instant::now() < deadline {
        counted = support::metric(&server, "framechain_udp_unmatched_total");
        if counted >= sent as f64 - 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The empty datagram may not be delivered as a read on every kernel.
    assert!(counted >= sent as f64 - 1.0, "{counted} of {sent} counted");
    // And the server still serves.
    let answer = whip(
        &server,
        "room1",
        Some(&publish_token("room1")),
        &offer(true, Direction::SendOnly),
    );
    assert_eq!(answer.status, 201);
}
