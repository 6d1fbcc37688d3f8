//! Bad actors get their answer, and nothing else happens: no token, wrong
//! tokens, oversized and malformed offers, offers without H.264, a second
//! publisher, calls that never connect, garbage on the media port, a full
//! node; a stage that tries to break `/metrics`, offers whose errors would
//! leak addresses, junk tokens probing for stream names, and viewers'
//! offers squatting on a stream's places.

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
    // An unknown stream gets the wrong token's answer: see
    // unknown_streams_and_wrong_tokens_get_one_answer.
    let unknown = whip(&server, "room9", Some(&publish_token("room1")), &publish);
    assert_eq!(unknown.status, 403);
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
    assert_no_addresses(&malformed.body);

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
    // A viewer takes one of the stream's places once it connects: an
    // offer waiting for ICE holds none (see
    // offers_that_never_connect_do_not_keep_viewers_out).
    let second_viewer = whep(&server, "room1", Some(&view_token("room1")), &view);
    assert_eq!(second_viewer.status, 201, "{}", second_viewer.body);
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
    // All three calls are ended and counted: the publisher by its connect
    // timeout, each viewer by its own or, when the publisher's came first
    // (their offers were a few milliseconds apart), with its stream.
    let timed_out = support::metric(
        &server,
        "framechain_sessions_ended_total{reason=\"connect timeout\"}",
    );
    let with_stream = support::metric(
        &server,
        "framechain_sessions_ended_total{reason=\"stream ended\"}",
    );
    assert!(timed_out >= 1.0, "the publisher's connect timeout");
    assert_eq!(
        timed_out + with_stream,
        3.0,
        "every call ended and counted: {}",
        support::get(&server, "/metrics", None)
            .body
            .lines()
            .filter(|line| line.starts_with("framechain_sessions_ended"))
            .collect::<Vec<_>>()
            .join("; ")
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

/// Fails when `text` holds anything like an address of the server's
/// memory (str0m's parse errors print its parser state: `PointerOffset(0x7f…)`).
fn assert_no_addresses(text: &str) {
    assert!(
        !text.contains("0x") && !text.contains("Pointer"),
        "an address in: {text}"
    );
}

#[test]
fn sdp_errors_hold_no_addresses() {
    let server = support::start_server(&["room1"]);
    let good = offer(true, Direction::SendOnly);
    // Broken the ways a parser meets: garbage, a cut offer, a bad media
    // line, an offer without its ICE and DTLS lines, control bytes.
    let cut = &good[..good.len() / 2];
    let bad_media = good.replacen("m=video", "m=video x", 1);
    for body in [
        "v=0\r\nthis is not SDP\r\n",
        "hello",
        cut,
        bad_media.as_str(),
        "v=0\r\no=- 0 0 IN IP4 0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
        "\u{1}\u{2}\u{3}",
    ] {
        for answer in [
            whip(&server, "room1", Some(&publish_token("room1")), body),
            whep(&server, "room1", Some(&view_token("room1")), body),
        ] {
            assert!(
                [400, 406].contains(&answer.status),
                "{}: {}",
                answer.status,
                answer.body
            );
            assert_no_addresses(&answer.body);
            assert_eq!(answer.body.trim().lines().count(), 1, "{}", answer.body);
        }
    }
}

#[test]
fn unknown_streams_and_wrong_tokens_get_one_answer() {
    let server = support::start_server(&["room1"]);
    let base = format!("http://{}", server.http_addr());
    let publish = offer(true, Direction::SendOnly);
    let view = offer(true, Direction::RecvOnly);
    // A real call, so that its resource exists.
    let call = whip(&server, "room1", Some(&publish_token("room1")), &publish);
    assert_eq!(call.status, 201, "{}", call.body);
    let resource = call.location.expect("a Location");
    let resource = resource.rsplit('/').next().unwrap().to_owned();
    let junk = "junk-token";
    for (method, path, body, content_type) in [
        ("POST", "/whip/{}", publish.as_str(), "application/sdp"),
        ("POST", "/whep/{}", view.as_str(), "application/sdp"),
        ("DELETE", "/whip/{}/RESOURCE", "", "text/plain"),
        ("DELETE", "/whep/{}/RESOURCE", "", "text/plain"),
        ("GET", "/streams/{}/stats", "", "text/plain"),
    ] {
        let ask = |stream: &str| {
            let path = path.replace("{}", stream).replace("RESOURCE", &resource);
            support::request(
                method,
                &format!("{base}{path}"),
                Some(junk),
                content_type,
                body.as_bytes(),
            )
        };
        let existing = ask("room1");
        let unknown = ask("room9");
        assert_eq!(existing.status, 403, "{method} {path}: {}", existing.body);
        assert_eq!(
            (unknown.status, &unknown.body),
            (existing.status, &existing.body),
            "{method} {path}: an unknown stream is told apart from a wrong token"
        );
    }
    // The call was not touched by any of it.
    assert_eq!(server.sessions(), 1);
}

#[test]
fn offers_that_never_connect_do_not_keep_viewers_out() {
    use framechain_loadgen::{Endpoint, ViewOptions, Viewer};
    let mut config = support::config(support::TELEMEDICINE, &["room1"]);
    config.max_viewers = 2;
    let server = Server::start(config).unwrap();
    let base = format!("http://{}", server.http_addr());
    let endpoint = Endpoint::new(&base, "room1", view_token("room1"));
    let options = ViewOptions {
        keep_data: false,
        connect_timeout: Duration::from_secs(5),
    };
    // The squatter: 16 offers, none of which will ever connect, from an
    // address of its own (past its few pending offers, it gets 429).
    let view = offer(true, Direction::RecvOnly);
    let squat = || {
        for _ in 0..16 {
            let (status, body) = whep_from([127, 0, 0, 2], &server, "room1", &view);
            assert!([201, 429, 503].contains(&status), "{status}: {body}");
        }
    };
    squat();
    let first = Viewer::start(&endpoint, options.clone())
        .expect("a real viewer's offer is taken while squatters wait");
    first
        .wait_connected(Duration::from_secs(5))
        .expect("and it connects");
    squat();
    let second = Viewer::start(&endpoint, options.clone()).expect("a second real viewer");
    second
        .wait_connected(Duration::from_secs(5))
        .expect("connects");
    squat();
    // The stream's cap still holds for viewers that connect.
    let third = Viewer::start(&endpoint, options.clone());
    match third {
        Err(framechain_loadgen::Error::Refused { status, .. }) => assert_eq!(status, 503),
        Err(error) => panic!("{error}"),
        Ok(viewer) => assert!(
            viewer.wait_connected(Duration::from_secs(3)).is_err(),
            "a third viewer got past a cap of 2"
        ),
    }
    use framechain_loadgen::CallState;
    assert!(
        matches!(first.state(), CallState::Connected),
        "{:?}",
        first.state()
    );
    assert!(
        matches!(second.state(), CallState::Connected),
        "{:?}",
        second.state()
    );
}

/// A WHEP offer for `stream` with its view token from the loopback
/// address `from` (every 127/8 address is this machine's), on a
/// connection of its own: the status and the body.
fn whep_from(from: [u8; 4], server: &Server, stream: &str, offer: &str) -> (u16, String) {
    use socket2::{Domain, Socket, Type};
    use std::io::{Read, Write};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&std::net::SocketAddr::from((from, 0)).into())
        .expect("bind a loopback address");
    socket.connect(&server.http_addr().into()).expect("connect");
    let mut socket_conn = std::net::TcpStream::from(socket);
    socket_conn
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST /whep/{stream} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{offer}",
        view_token(stream),
        offer.len()
    );
    socket_conn.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    socket_conn
        .read_to_string(&mut answer)
        .expect("a whole answer");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// One client address may hold only a few viewers' offers that never
/// connect (ICE and DTLS never done); past them it gets `429` with one
/// line, counted as `pending offers`; other addresses are not touched, and
/// once the connect timeout has ended its offers, the client may offer
/// again.
#[test]
fn one_address_holds_only_a_few_offers_that_never_connect() {
    let mut config = support::config(support::TELEMEDICINE, &["room1"]);
    config.max_pending_offers_per_client = 2;
    config.connect_timeout = Duration::from_secs(1);
    let server = Server::start(config).unwrap();
    let view = offer(true, Direction::RecvOnly);
    for _ in 0..2 {
        let (status, body) = whep_from([127, 0, 0, 2], &server, "room1", &view);
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = whep_from([127, 0, 0, 2], &server, "room1", &view);
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body.trim_end(),
        "too many viewer offers from this address are still connecting; connect or wait"
    );
    assert_eq!(body.lines().count(), 1, "{body}");
    // Another address has its own places.
    let (status, body) = whep_from([127, 0, 0, 3], &server, "room1", &view);
    assert_eq!(status, 201, "{body}");
    let metrics = support::get(&server, "/metrics", None).body;
    assert!(
        metrics.lines().any(|line| line
            .starts_with("framechain_sessions_refused_total{reason=\"pending offers\"} 1")),
        "{metrics}"
    );
    // The connect timeout (1 s here) ends them and gives the places back.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = whep_from([127, 0, 0, 2], &server, "room1", &view);
        if status == 201 {
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(
            Instant::now() < until,
            "the pending offers were never reaped"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

// ---- /metrics against a hostile stage ------------------------------

use framechain_test_support::prometheus::parse_exposition_line;

/// Every line of `text` parses; returns the `reason` label values of
/// `framechain_frames_dropped_total`.
fn check_exposition(text: &str) -> Vec<String> {
    let errors: Vec<String> = text
        .lines()
        .filter_map(|line| parse_exposition_line(line).err())
        .collect();
    assert!(
        errors.is_empty(),
        "{} of {} lines of /metrics do not parse, e.g. {}",
        errors.len(),
        text.lines().count(),
        errors[0]
    );
    text.lines()
        .filter(|line| line.starts_with("framechain_frames_dropped_total{"))
        .flat_map(|line| parse_exposition_line(line).unwrap())
        .filter(|(label, _)| label == "reason")
        .map(|(_, value)| value)
        .collect()
}

#[test]
fn the_strict_parser_refuses_what_breaks_a_scrape() {
    for good in [
        "# HELP framechain_sessions Publishers' sessions open.",
        "# TYPE framechain_sessions gauge",
        "framechain_sessions 2",
        "framechain_frames_dropped_total{reason=\"a \\\"b\\\" \\\\ c\\nd\"} 7",
        "framechain_http_requests_total{endpoint=\"whip\",code=\"201\"} 1",
        "framechain_end_to_end_latency_seconds_bucket{le=\"+Inf\"} 3",
        "# EOF",
    ] {
        assert!(parse_exposition_line(good).is_ok(), "{good}");
    }
    for bad in [
        "framechain_frames_dropped_total{reason=\"a \"b\"\"} 7",
        "framechain_frames_dropped_total{reason=\"a \\u{1b}\"} 7",
        "framechain_frames_dropped_total{reason=\"cut",
        "framechain_frames_dropped_total{reason=\"x\"} seven",
        "rrrrrr\"} 7",
        "framechain_sessions",
    ] {
        assert!(parse_exposition_line(bad).is_err(), "{bad}");
    }
}

/// A stage reporting drops with quotes, backslashes, newlines and escape
/// codes in their reasons, new ones in every session: every line of
/// `/metrics` still parses, and the reasons it shows stay a bounded set.
#[test]
fn a_stage_cannot_break_metrics_or_grow_its_labels() {
    use framechain_loadgen::{Clip, Endpoint, PublishOptions, Publisher};
    let Some(data) = support::testdata() else {
        return;
    };
    let clip = Clip::open(&data.join("h264/throughput/real1080p30_10s_cbp_6M.264")).unwrap();
    let config = support::config(
        "decode-h264 alignment=access-unit ! test-stage behaviour=drop-reasons ! encode-h264",
        &["room1"],
    );
    let server = Server::start(config).unwrap();
    let base = format!("http://{}", server.http_addr());
    // Each session adds up to 32 new reasons (the host's cap per stage):
    // three are past the server's cap of 64 label values.
    const SESSIONS: usize = 3;
    for session in 0..SESSIONS {
        let publisher = Publisher::start(
            &Endpoint::new(&base, "room1", publish_token("room1")),
            clip.clone(),
            PublishOptions {
                fps: 30.0,
                frames: Some(8),
                ..PublishOptions::default()
            },
        )
        .expect("WHIP offer accepted");
        publisher
            .wait_finished(Duration::from_secs(20))
            .expect("the pictures are sent");
        // Time for the stage to see some pictures before the call ends.
        std::thread::sleep(Duration::from_millis(500));
        publisher.stop().expect("DELETE");
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.sessions() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // The watch page's numbers stay small too (the host gives up to 32
        // reasons per stage, plus its own).
        let stats = support::get(&server, "/streams/room1/stats", Some(&view_token("room1")));
        let report: serde_json::Value = serde_json::from_str(&stats.body).unwrap();
        let shown = report["frames"]["dropped"]
            .as_object()
            .map_or(0, |reasons| reasons.len());
        assert!(
            (16..=32).contains(&shown),
            "session {session}: {shown} drop reasons on the watch page: {}",
            stats.body
        );
        let reasons = check_exposition(&support::get(&server, "/metrics", None).body);
        assert!(
            reasons.len() > 32 * session.min(1),
            "session {session}: the stage's reasons reached /metrics: {reasons:?}"
        );
    }
    let reasons = check_exposition(&support::get(&server, "/metrics", None).body);
    assert!(
        reasons.len() <= 64 + 1,
        "{} distinct drop reasons after {SESSIONS} sessions",
        reasons.len()
    );
    assert!(
        reasons.iter().any(|reason| reason == "other"),
        "past the cap, reasons are counted as other: {reasons:?}"
    );
}
