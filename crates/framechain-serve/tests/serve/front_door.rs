//! The HTTP front door under clients that hold connections: half-sent
//! headers, dribbled bodies, oversized header lines, floods of
//! connections from one address, and a client that never reads. Raw TCP
//! on loopback, short limits set through `ServeConfig` so each test takes
//! a few seconds.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use framechain_serve::{HttpLimits, Server};
use socket2::{Domain, Socket, Type};

use crate::support;

/// The cheapest pipeline serve accepts (H.264 in and out).
const LIGHT: &str = "decode-h264 alignment=access-unit ! encode-h264";

fn server(limits: HttpLimits) -> Server {
    let mut config = support::config(LIGHT, &["room1"]);
    config.http_limits = limits;
    Server::start(config).expect("server starts")
}

/// A connection to `server` from the loopback address `from` (127.0.0.1,
/// 127.0.0.2, ...: every 127/8 address is this machine's).
fn connect_from(from: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::from((from, 0)).into())
        .expect("bind a loopback address");
    socket.connect(&server.into()).expect("connect");
    socket.into()
}

/// How a connection ended while we waited for it to.
#[derive(Debug)]
struct Ending {
    /// Whether the server closed it (EOF or reset) within the wait.
    closed: bool,
    /// When, from the start of the wait.
    after: Duration,
    /// What it answered before.
    answer: String,
}

/// Reads from `stream` until the server closes it or `wait` passes.
fn wait_for_close(stream: &mut TcpStream, wait: Duration) -> Ending {
    let start = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = wait.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ending {
                closed: false,
                after: start.elapsed(),
                answer: String::from_utf8_lossy(&answer).into_owned(),
            };
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // A reset is a close too.
            Err(_) => break,
        }
    }
    Ending {
        closed: true,
        after: start.elapsed(),
        answer: String::from_utf8_lossy(&answer).into_owned(),
    }
}

/// `GET path` from `from` on a connection of its own: the status and body,
/// or `None` when no whole answer came within 2 s.
fn get_from(from: [u8; 4], server: &Server, path: &str) -> Option<(u16, String)> {
    let mut stream = connect_from(from, server.http_addr());
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .ok()?;
    let ending = wait_for_close(&mut stream, Duration::from_secs(2));
    let status = ending
        .answer
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let body = ending.answer.split_once("\r\n\r\n")?.1.to_owned();
    ending.closed.then_some((status, body))
}

fn metric_from(from: [u8; 4], server: &Server, series: &str) -> f64 {
    let (status, text) = get_from(from, server, "/metrics").expect("/metrics answers");
    assert_eq!(status, 200);
    framechain_loadgen::metric_value(&text, series).unwrap_or(0.0)
}

#[test]
fn a_half_sent_header_and_an_idle_connection_are_closed_after_the_header_timeout() {
    let server = server(HttpLimits {
        header_timeout: Duration::from_secs(1),
        ..HttpLimits::default()
    });
    let mut half = connect_from([127, 0, 0, 1], server.http_addr());
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Unfinished: aaaa")
        .unwrap();
    // A kept-alive connection that asks once and then sends nothing.
    let mut idle = connect_from([127, 0, 0, 1], server.http_addr());
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    let ending = wait_for_close(&mut half, Duration::from_secs(5));
    assert!(ending.closed, "a half-sent header is held open: {ending:?}");
    assert!(
        ending.after >= Duration::from_millis(800),
        "closed before its timeout: {ending:?}"
    );
    let ending = wait_for_close(&mut idle, Duration::from_secs(5));
    assert!(ending.answer.starts_with("HTTP/1.1 200"), "{ending:?}");
    assert!(
        ending.closed,
        "an idle kept-alive connection is held open: {ending:?}"
    );
    assert_eq!(
        metric_from(
            [127, 0, 0, 1],
            &server,
            "framechain_http_timeouts_total{what=\"header\"}"
        ),
        2.0,
        "both are counted as header timeouts"
    );
}

#[test]
fn a_dribbled_body_is_cut_by_the_request_timeout() {
    let server = server(HttpLimits {
        request_timeout: Duration::from_secs(1),
        ..HttpLimits::default()
    });
    let mut stream = connect_from([127, 0, 0, 1], server.http_addr());
    stream
        .write_all(
            b"POST /whip/room1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\n\
Content-Length: 4000\r\n\r\nv=0\r\n",
        )
        .unwrap();
    // One byte every 100 ms, each well inside any per-read timeout, for
    // longer than the request may take.
    let mut writer = stream.try_clone().unwrap();
    let dribble = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(6) {
            if writer.write_all(b"a").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let ending = wait_for_close(&mut stream, Duration::from_secs(5));
    dribble.join().unwrap();
    assert!(
        ending.closed,
        "a dribbled body holds its request: {ending:?}"
    );
    assert!(
        ending.answer.starts_with("HTTP/1.1 400") && ending.answer.contains("did not arrive"),
        "{ending:?}"
    );
    assert!(ending.after < Duration::from_secs(3), "{ending:?}");
    assert_eq!(
        metric_from(
            [127, 0, 0, 1],
            &server,
            "framechain_http_timeouts_total{what=\"body\"}"
        ),
        1.0
    );
}

#[test]
fn an_oversized_header_line_is_refused_at_once_instead_of_buffered() {
    // A long header timeout: only the size bound can end this quickly.
    let server = server(HttpLimits {
        header_timeout: Duration::from_secs(30),
        ..HttpLimits::default()
    });
    let mut stream = connect_from([127, 0, 0, 1], server.http_addr());
    let mut request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ".to_vec();
    request.resize(request.len() + 100 * 1024, b'a');
    // The server may close while this is still being written.
    let _ = stream.write_all(&request);
    let ending = wait_for_close(&mut stream, Duration::from_secs(3));
    assert!(
        ending.closed && ending.after < Duration::from_secs(2),
        "a 100 KiB header line is buffered: {ending:?}"
    );
    // The 431 arrives unless the close overtook it (a reset, as the rest
    // of the line was never read).
    assert!(
        ending.answer.is_empty() || ending.answer.starts_with("HTTP/1.1 431"),
        "{ending:?}"
    );
    assert_eq!(
        get_from([127, 0, 0, 1], &server, "/healthz").map(|(status, _)| status),
        Some(200)
    );
}

#[test]
fn a_flood_from_one_address_is_capped_and_the_probes_answer_another() {
    let per_client = 16;
    let server = server(HttpLimits {
        max_connections_per_client: per_client,
        header_timeout: Duration::from_secs(20),
        ..HttpLimits::default()
    });
    let addr = server.http_addr();
    // The flood: half-sent headers from 127.0.0.1, all held.
    let mut flood = Vec::new();
    for _ in 0..per_client {
        let mut stream = connect_from([127, 0, 0, 1], addr);
        stream.write_all(b"GET / HTTP/1.1\r\nX-Slow: a").unwrap();
        flood.push(stream);
    }
    // The cap's next connection from that address is closed at once, with
    // a 503 when the socket took it.
    let started = Instant::now();
    let mut refused = connect_from([127, 0, 0, 1], addr);
    let ending = wait_for_close(&mut refused, Duration::from_secs(3));
    assert!(
        ending.closed && ending.after < Duration::from_secs(1),
        "connection {} from one address was not refused: {ending:?}",
        per_client + 1
    );
    assert!(
        ending.answer.is_empty() || ending.answer.starts_with("HTTP/1.1 503"),
        "{ending:?}"
    );
    // More of the flood, each refused as quickly.
    for _ in 0..100 {
        let mut stream = connect_from([127, 0, 0, 1], addr);
        let _ = stream.write_all(b"GET / HTTP/1.1\r\nX-Slow: a");
        flood.push(stream);
    }
    // Another address is served meanwhile: the probes answer at once.
    for path in ["/healthz", "/readyz"] {
        let probe = Instant::now();
        let answer = get_from([127, 0, 0, 2], &server, path);
        assert_eq!(answer.map(|(status, _)| status), Some(200), "{path}");
        assert!(probe.elapsed() < Duration::from_secs(1), "{path} was slow");
    }
    let refusals = metric_from(
        [127, 0, 0, 2],
        &server,
        "framechain_http_connections_refused_total{reason=\"client\"}",
    );
    assert_eq!(refusals, 101.0);
    // The held flood and the /metrics request itself; a probe's place is
    // given back just after its close is seen, so look again briefly.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut open = metric_from([127, 0, 0, 2], &server, "framechain_http_connections");
    while open != per_client as f64 + 1.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        open = metric_from([127, 0, 0, 2], &server, "framechain_http_connections");
    }
    assert_eq!(open, per_client as f64 + 1.0);
    assert!(started.elapsed() < Duration::from_secs(10));

    // Places are given back when the flood goes.
    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut back = None;
    while Instant::now() < deadline {
        // Until the server has seen the closes, a 503 is still right.
        back = get_from([127, 0, 0, 1], &server, "/healthz");
        if back.as_ref().is_some_and(|(status, _)| *status == 200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(back.map(|(status, _)| status), Some(200));
}

#[test]
fn a_client_that_never_reads_its_answers_is_let_go() {
    let server = server(HttpLimits {
        request_timeout: Duration::from_secs(1),
        ..HttpLimits::default()
    });
    // A small receive window, then many pipelined requests whose answers
    // are never read: the server's writes block.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.http_addr().into()).unwrap();
    let mut stream: TcpStream = socket.into();
    let requests = b"GET /assets/webrtc.js HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2000);
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(&requests);
    // Past the request timeout, the server has given up on the blocked
    // write: what is read now is what was in flight, then the close.
    std::thread::sleep(Duration::from_secs(3));
    let ending = wait_for_close(&mut stream, Duration::from_secs(5));
    let answers = ending.answer.matches("HTTP/1.1 200").count();
    assert!(
        ending.closed && answers < 2000,
        "the connection is still served after {answers} answers"
    );
    let timeouts = support::metric(&server, "framechain_http_timeouts_total{what=\"write\"}");
    assert_eq!(timeouts, 1.0);
}

#[test]
fn at_the_process_cap_a_waiting_connection_makes_room_for_a_probe() {
    // Slow connections from many addresses fill the process's places.
    let cap = 8;
    let server = server(HttpLimits {
        max_connections: cap,
        max_connections_per_client: 2,
        header_timeout: Duration::from_secs(20),
        ..HttpLimits::default()
    });
    let addr = server.http_addr();
    let mut flood: Vec<TcpStream> = (0..cap)
        .map(|i| {
            let mut stream = connect_from([127, 0, 1, 1 + (i / 2) as u8], addr);
            stream.write_all(b"GET / HTTP/1.1\r\nX-Slow: a").unwrap();
            // One at a time, so the oldest is known.
            std::thread::sleep(Duration::from_millis(50));
            stream
        })
        .collect();
    // The probe from an address of its own still gets in.
    for path in ["/healthz", "/readyz"] {
        let answer = get_from([127, 0, 0, 2], &server, path);
        assert_eq!(answer.map(|(status, _)| status), Some(200), "{path}");
    }
    // The first probe took the place of the oldest of the flood (the
    // next ones may find a place the earlier probes gave back, or make
    // room again); the newest of the flood keep theirs.
    let ending = wait_for_close(&mut flood[0], Duration::from_millis(500));
    assert!(
        ending.closed,
        "the oldest waiting connection is open: {ending:?}"
    );
    for (index, stream) in flood.iter_mut().enumerate().skip(cap - 3) {
        let ending = wait_for_close(stream, Duration::from_millis(100));
        assert!(!ending.closed, "flood connection {index}: {ending:?}");
    }
    let evicted = metric_from(
        [127, 0, 0, 2],
        &server,
        "framechain_http_connections_refused_total{reason=\"evicted\"}",
    );
    assert!((1.0..=3.0).contains(&evicted), "{evicted}");
}
