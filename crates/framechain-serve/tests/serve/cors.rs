//! CORS on the room routes (WHIP, WHEP, their resources, `/rooms/ROOM`)
//! as hostile and ordinary browsers' requests meet it: the listed origins
//! and the server's own get their origin back, nobody gets a wildcard or
//! credentials, an opaque origin (`null`, what a page sends after the
//! centre's cross-origin redirect) only with a ticket, and the answer never
//! repeats what the request asked for. The front door's limits stand
//! before it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use framechain_serve::identity::tools::{KeyKind, TokenRequest, make_token, new_keys};
use framechain_serve::{ServeConfig, Server};

use crate::support;
use crate::visit_support::{CHAIN, Scratch, now_unix};

const APP: &str = "https://app.clinic.example";

/// An answer's status and headers (lower-case names), and its body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn has_no_cors(&self) -> bool {
        self.headers
            .iter()
            .all(|(key, _)| !key.starts_with("access-control-allow"))
    }
}

/// One request written by hand (so headers can be doubled or odd), its
/// answer read whole (`Connection: close`).
fn raw(server: &Server, method: &str, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut stream = TcpStream::connect(server.http_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Raw {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn preflight(server: &Server, path: &str, origin: &str) -> Raw {
    raw(
        server,
        "OPTIONS",
        path,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization,content-type",
            ),
        ],
    )
}

#[test]
fn the_room_routes_answer_cors_for_their_own_listed_and_ticketed_origins_only() {
    let scratch = Scratch::new("cors");
    let keys = new_keys(&scratch.0.join("keys"), KeyKind::Ed25519).unwrap();
    let rooms = scratch.file(
        "rooms.json",
        r#"[{"room": "visit1", "patient": "p-1", "clinicians": ["d-1"]}]"#,
    );
    let mut config = ServeConfig::new(support::pipeline(CHAIN));
    config.keys = Some(keys.jwks.clone());
    config.rooms = Some(rooms);
    config.cors_origins = vec![APP.to_owned()];
    let server = Server::start(config).expect("server starts");
    let own = format!("http://{}", server.http_addr());

    // The listed origin and the server's own: their origin back, the
    // fixed lists, no credentials.
    for origin in [APP, own.as_str()] {
        for path in [
            "/whip/visit1",
            "/whep/visit1/p-1",
            "/rooms/visit1",
            "/whip/visit1/p-1/r",
        ] {
            let answer = preflight(&server, path, origin);
            assert_eq!(answer.status, 204, "{origin} {path}: {}", answer.body);
            assert_eq!(answer.header("access-control-allow-origin"), Some(origin));
            assert_eq!(
                answer.header("access-control-allow-headers"),
                Some("Authorization, Content-Type, If-Match")
            );
            let methods = answer.header("access-control-allow-methods").unwrap();
            for method in ["POST", "GET", "PATCH", "DELETE"] {
                assert!(methods.contains(method), "{methods}");
            }
            assert_eq!(answer.header("access-control-allow-credentials"), None);
            assert_eq!(answer.header("vary"), Some("Origin"));
        }
    }

    // Foreign origins, look-alikes, a wildcard, an opaque origin without a
    // ticket, two origins at once: a one-line 403 and no CORS header.
    for origin in [
        "https://evil.example",
        "https://app.clinic.example.evil.example",
        "http://app.clinic.example",
        "*",
        "null",
        "HTTPS://APP.CLINIC.EXAMPLE",
    ] {
        let answer = preflight(&server, "/whip/visit1", origin);
        assert_eq!(answer.status, 403, "{origin}");
        assert!(answer.has_no_cors(), "{origin}: {:?}", answer.headers);
        assert_eq!(answer.body.lines().count(), 1, "{}", answer.body);
    }
    let doubled = raw(
        &server,
        "OPTIONS",
        "/whip/visit1",
        &[
            ("Origin", APP),
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
    );
    assert_eq!(doubled.status, 403);
    assert!(doubled.has_no_cors());

    // What the request asks for is never repeated: hostile header names
    // and methods get the fixed lists.
    let asked = raw(
        &server,
        "OPTIONS",
        "/whip/visit1",
        &[
            ("Origin", APP),
            ("Access-Control-Request-Method", "TRACE"),
            ("Access-Control-Request-Headers", "cookie,x-evil"),
        ],
    );
    assert_eq!(asked.status, 204);
    let allowed = format!("{:?}", asked.headers).to_ascii_lowercase();
    assert!(
        !allowed.contains("trace") && !allowed.contains("x-evil") && !allowed.contains("cookie")
    );

    // After the centre's redirect a page's origin is opaque: a ticketed
    // request (and only one) is answered for `null`, never `*`.
    let ticketed = preflight(&server, "/whip/visit1?ticket=T", "null");
    assert_eq!(ticketed.status, 204);
    assert_eq!(ticketed.header("access-control-allow-origin"), Some("null"));
    assert_eq!(ticketed.header("access-control-allow-credentials"), None);
    let empty_ticket = preflight(&server, "/whip/visit1?ticket=", "null");
    assert_eq!(empty_ticket.status, 403);
    // The refusal of a bad ticket is readable by the page that sent it.
    let refused = raw(
        &server,
        "POST",
        "/whip/visit1?ticket=T",
        &[("Origin", "null"), ("Content-Type", "application/sdp")],
    );
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.header("access-control-allow-origin"), Some("null"));

    // The real requests: an allowed origin reads the answer and its
    // Location/ETag/Link; another gets the answer without CORS headers
    // (its browser keeps it from the page).
    let token = make_token(&TokenRequest {
        key: keys.private.clone(),
        sub: "p-1".to_owned(),
        role: "patient".to_owned(),
        room: Some("visit1".to_owned()),
        ttl_s: 600,
        audience: "framechain".to_owned(),
        kid: None,
        now_unix: now_unix(),
    })
    .unwrap();
    let bearer = format!("Bearer {token}");
    let room = raw(
        &server,
        "GET",
        "/rooms/visit1",
        &[("Origin", APP), ("Authorization", &bearer)],
    );
    assert_eq!(room.status, 200, "{}", room.body);
    assert_eq!(room.header("access-control-allow-origin"), Some(APP));
    let exposed = room.header("access-control-expose-headers").unwrap();
    for name in ["Location", "ETag", "Link"] {
        assert!(exposed.contains(name), "{exposed}");
    }
    assert_eq!(room.header("access-control-allow-credentials"), None);
    let foreign = raw(
        &server,
        "GET",
        "/rooms/visit1",
        &[
            ("Origin", "https://evil.example"),
            ("Authorization", &bearer),
        ],
    );
    assert!(foreign.has_no_cors(), "{:?}", foreign.headers);
    // Routes a page never calls across origins get nothing.
    let admin = preflight(&server, "/admin/rooms", APP);
    assert!(admin.has_no_cors(), "{:?}", admin.headers);

    // The front door stands before CORS: an Origin over its header bound.
    let long = format!("https://{}.example", "a".repeat(9000));
    let too_long = preflight(&server, "/whip/visit1", &long);
    assert_eq!(too_long.status, 431);
}
