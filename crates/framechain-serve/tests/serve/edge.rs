//! serve as an edge pod of a centre (`--redis`, `--node`, `--center`),
//! against a real `redis-server` on loopback: the centre's side is played
//! by the test, which writes the placement hashes and the ticket keys as
//! the centre would and reads the events stream and the heartbeat as it
//! would. Calls are real str0m clients with real signed tokens.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use framechain_events::chain::{GENESIS, link_hash};
use framechain_events::pod::{PLACEMENT_HASH, ROOMS_HASH, TICKET_KEYS_KEY};
use framechain_events::{EVENTS_STREAM, Event, EventKind, PodStatus};
use framechain_loadgen::{Endpoint, PublishOptions, Publisher, ViewOptions, Viewer};
use framechain_serve::identity::tools::{KeyKind, NewKeys, TokenRequest, make_token, new_keys};
use framechain_serve::identity::{SigningKey, ticket_audience};
use framechain_serve::{EdgeConfig, ServeConfig, Server};
use framechain_test_support::services::RedisServer;

use crate::support;
use crate::visit_support::{CHAIN, Scratch, now_unix};

pub(crate) const NODE: &str = "pod-a";
/// Where the 307s point: nothing listens there; the test only reads them.
const CENTER: &str = "http://127.0.0.1:9";
pub(crate) const WAIT: Duration = Duration::from_secs(15);
pub(crate) const ROOM: &str = r#"{"room": "visit1", "patient": "p-1", "clinicians": ["d-1"], "labels": {"region": "eu-west"}}"#;

/// A pod on a Redis of its own.
pub(crate) struct Pod {
    pub(crate) redis: RedisServer,
    pub(crate) scratch: Scratch,
    pub(crate) keys: NewKeys,
    pub(crate) server: Server,
}

impl Pod {
    pub(crate) fn start(test: &str, spool_max_bytes: u64) -> Pod {
        Pod::start_with(test, spool_max_bytes, |_, _| {})
    }

    /// [`Pod::start`], with `configure` changing the configuration (given
    /// the test's folder) before the pod starts.
    pub(crate) fn start_with(
        test: &str,
        spool_max_bytes: u64,
        configure: impl FnOnce(&mut ServeConfig, &Scratch),
    ) -> Pod {
        let redis = RedisServer::start();
        let scratch = Scratch::new(&format!("edge-{test}"));
        let keys = new_keys(&scratch.0.join("keys"), KeyKind::Ed25519).unwrap();
        let mut config = ServeConfig::new(support::pipeline(CHAIN));
        config.keys = Some(keys.jwks.clone());
        config.edge = Some(EdgeConfig {
            redis: redis.url(),
            node: NODE.to_owned(),
            center: Some(CENTER.to_owned()),
            spool: scratch.0.join("spool"),
            spool_max_bytes,
            capacity: 4,
            labels: BTreeMap::from([("region".to_owned(), "eu-west".to_owned())]),
            public_url: None,
        });
        configure(&mut config, &scratch);
        let server = Server::start(config).expect("the pod starts");
        Pod {
            redis,
            scratch,
            keys,
            server,
        }
    }

    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.server.http_addr())
    }

    pub(crate) fn redis(&self) -> redis::Connection {
        redis::Client::open(self.redis.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Places `room` (its object) on `node`, as the centre does.
    pub(crate) fn place(&self, room: &str, object: &str, node: &str) {
        let mut redis = self.redis();
        let _: () = redis::cmd("HSET")
            .arg(ROOMS_HASH)
            .arg(room)
            .arg(object)
            .query(&mut redis)
            .unwrap();
        let _: () = redis::cmd("HSET")
            .arg(PLACEMENT_HASH)
            .arg(room)
            .arg(node)
            .query(&mut redis)
            .unwrap();
    }

    /// Waits until the pod serves `room` (a request for it is no longer
    /// sent to the centre).
    pub(crate) fn wait_placed(&self, room: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.post(&format!("/whip/{room}"), None);
            if answer.status != 307 {
                return;
            }
            assert!(Instant::now() < deadline, "room {room} never served");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn token(&self, sub: &str, role: &str) -> String {
        self.token_for(sub, role, Some("visit1"))
    }

    /// A token for `room`, or for no room in particular.
    pub(crate) fn token_for(&self, sub: &str, role: &str, room: Option<&str>) -> String {
        make_token(&TokenRequest {
            key: self.keys.private.clone(),
            sub: sub.to_owned(),
            role: role.to_owned(),
            room: room.map(str::to_owned),
            ttl_s: 600,
            audience: "framechain".to_owned(),
            kid: None,
            now_unix: now_unix(),
        })
        .unwrap()
    }

    /// A POST of a valid offer to `path` (with its query); a redirect is
    /// an answer, not followed.
    pub(crate) fn post(&self, path: &str, token: Option<&str>) -> Answer {
        let direction = if path.starts_with("/whep/") {
            str0m::media::Direction::RecvOnly
        } else {
            str0m::media::Direction::SendOnly
        };
        let offer = crate::bad_actors::offer(true, direction);
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(20))
            .redirects(0)
            .build();
        let mut request = agent
            .post(&format!("{}{path}", self.base()))
            .set("Content-Type", "application/sdp");
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = match request.send_bytes(offer.as_bytes()) {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("POST {path}: {error}"),
        };
        Answer {
            status: response.status(),
            location: response.header("Location").map(str::to_owned),
            body: response.into_string().unwrap_or_default(),
        }
    }

    pub(crate) fn publish(
        &self,
        path: &str,
        token: &str,
    ) -> Result<Publisher, framechain_loadgen::Error> {
        let clip = framechain_test_support::testdata_dir().join("h264/conformance/MIDR_MW_D.264");
        Publisher::start(
            &Endpoint::new(self.base(), path, token),
            framechain_loadgen::Clip::open(&clip).unwrap(),
            PublishOptions::default(),
        )
    }

    pub(crate) fn watch(
        &self,
        path: &str,
        token: &str,
    ) -> Result<Viewer, framechain_loadgen::Error> {
        Viewer::start(
            &Endpoint::new(self.base(), path, token),
            ViewOptions {
                keep_data: false,
                ..ViewOptions::default()
            },
        )
    }

    /// `visit1` placed on this pod by the centre, its patient `p-1`
    /// publishing and its doctor `d-1` watching them, pictures arriving.
    fn patient_seen_by_doctor(&self) -> (Publisher, Viewer) {
        self.place("visit1", ROOM, NODE);
        self.wait_placed("visit1");
        let patient = self.token("p-1", "patient");
        let doctor = self.token("d-1", "clinician");
        let camera = self
            .publish("visit1", &patient)
            .expect("the patient publishes");
        let view = self
            .watch("visit1/p-1", &doctor)
            .expect("the doctor watches");
        view.wait_units(10, WAIT)
            .expect("the doctor sees the patient");
        (camera, view)
    }

    /// Every event in the stream, checked as the centre checks them: each
    /// entry's hash covers its body after the hash before it, and the
    /// chain's `seq` runs from 0 without gaps.
    pub(crate) fn events(&self) -> Vec<Event> {
        let mut redis = self.redis();
        let entries: Vec<(String, BTreeMap<String, String>)> = redis::cmd("XRANGE")
            .arg(EVENTS_STREAM)
            .arg("-")
            .arg("+")
            .query(&mut redis)
            .unwrap();
        let mut prev = GENESIS.to_owned();
        let mut events = Vec::new();
        for (index, (_, fields)) in entries.iter().enumerate() {
            let body = &fields["body"];
            let event = Event::parse(body).expect("an event");
            assert_eq!(event.seq, index as u64, "seq without gaps");
            assert_eq!(fields["id"], event.id.to_string());
            assert_eq!(
                fields["prev"], prev,
                "entry {index} links to the one before"
            );
            assert_eq!(
                fields["hash"],
                link_hash(&prev, body),
                "entry {index}'s hash"
            );
            assert_eq!(event.pod, NODE);
            prev = fields["hash"].clone();
            events.push(event);
        }
        events
    }

    /// Waits until the stream holds an event that `wanted` picks.
    pub(crate) fn wait_event(&self, what: &str, wanted: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(event) = self.events().into_iter().find(&wanted) {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} event in {:#?}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// An answer: its status, `Location` and body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

pub(crate) fn joined(event: &Event, who: &str, watch: bool) -> bool {
    event.participant.as_deref() == Some(who)
        && matches!(&event.what, EventKind::ParticipantJoined { action, .. }
            if (*action == framechain_events::Action::Watch) == watch)
}

pub(crate) fn refused(event: &Event, status: u16, reason: &str) -> bool {
    matches!(&event.what, EventKind::ParticipantRefused { status: s, reason: r, .. }
        if *s == status && r.contains(reason))
}

#[test]
fn a_visit_on_a_pod_is_recorded_in_the_stream_and_its_rooms_come_from_the_centre() {
    if support::testdata().is_none() {
        return;
    }
    let _slot = support::realtime_slot();
    let pod = Pod::start("visit", 64 << 20);

    // Not placed yet: sent to the centre, same path and query.
    let answer = pod.post("/whip/visit1?ticket=abc", None);
    assert_eq!(answer.status, 307);
    assert_eq!(
        answer.location.as_deref(),
        Some("http://127.0.0.1:9/whip/visit1?ticket=abc")
    );

    // The heartbeat registers the pod.
    let mut redis = pod.redis();
    let deadline = Instant::now() + WAIT;
    let status: PodStatus = loop {
        let beat: Option<String> = redis::cmd("GET")
            .arg(PodStatus::key(NODE))
            .query(&mut redis)
            .unwrap();
        if let Some(beat) = beat {
            break serde_json::from_str(&beat).unwrap();
        }
        assert!(Instant::now() < deadline, "no heartbeat");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.address, pod.base());
    assert_eq!((status.capacity, status.ready), (4, true));
    assert_eq!(status.labels["region"], "eu-west");

    // Placed by the centre: served.
    let (camera, view) = pod.patient_seen_by_doctor();
    // A stranger is refused, and that is recorded too.
    let stranger = pod.token("x-9", "clinician");
    assert_eq!(pod.post("/whep/visit1/p-1", Some(&stranger)).status, 403);

    let published = pod.wait_event("patient joined", |e| joined(e, "p-1", false));
    let EventKind::ParticipantJoined {
        role,
        address,
        stream,
        pipeline_digest,
        decision,
        ..
    } = &published.what
    else {
        unreachable!()
    };
    assert_eq!((role.as_str(), stream.as_str()), ("patient", "visit1/p-1"));
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert_eq!(pipeline_digest.len(), 64, "the patient's pipeline's digest");
    assert!(decision.starts_with("allow"), "{decision}");
    assert_eq!(published.room.as_deref(), Some("visit1"));
    let watched = pod.wait_event("doctor joined", |e| joined(e, "d-1", true));
    let EventKind::ParticipantJoined { role, stream, .. } = &watched.what else {
        unreachable!()
    };
    assert_eq!(
        (role.as_str(), stream.as_str()),
        ("clinician", "visit1/p-1")
    );
    let refusal = pod.wait_event("stranger refused", |e| refused(e, 403, "policy"));
    assert_eq!(refusal.participant.as_deref(), Some("x-9"));
    pod.wait_event(
        "call started",
        |e| matches!(&e.what, EventKind::CallStarted { stream, .. } if stream == "visit1/p-1"),
    );

    // The doctor hangs up: recorded as left.
    view.stop().expect("the doctor hangs up");
    pod.wait_event("doctor left", |e| {
        e.participant.as_deref() == Some("d-1")
            && matches!(&e.what, EventKind::ParticipantLeft { .. })
    });

    // The centre places the room elsewhere: its calls end here, and a
    // client coming back is sent to the centre.
    pod.place("visit1", ROOM, "pod-b");
    let patient = pod.token("p-1", "patient");
    let deadline = Instant::now() + WAIT;
    while pod.post("/whip/visit1", Some(&patient)).status != 307 {
        assert!(Instant::now() < deadline, "the room stayed here");
        std::thread::sleep(Duration::from_millis(100));
    }
    pod.wait_event(
        "call ended",
        |e| matches!(&e.what, EventKind::CallEnded { stream, .. } if stream == "visit1/p-1"),
    );
    assert!(
        support::metric(
            &pod.server,
            "framechain_audit_events_total{kind=\"participant_joined\"}"
        ) >= 2.0
    );
    drop(camera);
}

#[test]
fn a_placement_ticket_opens_its_own_door_only() {
    if support::testdata().is_none() {
        return;
    }
    let pod = Pod::start("tickets", 64 << 20);
    let centre_key = SigningKey::generate(KeyKind::P256).unwrap();
    let kid = centre_key.thumbprint();
    let jwks = serde_json::json!({ "keys": [centre_key.public_jwk(&kid)] }).to_string();
    let mut redis = pod.redis();
    let _: () = redis::cmd("SET")
        .arg(TICKET_KEYS_KEY)
        .arg(&jwks)
        .query(&mut redis)
        .unwrap();
    pod.place("visit1", ROOM, NODE);
    pod.wait_placed("visit1");
    let ticket = |node: &str, act: &str, room: &str, sub: &str, role: &str| {
        let now = now_unix();
        centre_key
            .sign(
                &serde_json::json!({
                    "iss": "framechain-center", "aud": ticket_audience(node),
                    "sub": sub, "role": role, "room": room, "act": act,
                    "exp": now + 30, "iat": now,
                    "jti": format!("{node}-{act}-{room}-{sub}-{}", rand_suffix()),
                }),
                &kid,
            )
            .unwrap()
    };
    // The ticket keys reach the pod with the rooms; the first good
    // ticket may come before them (401 "no ticket keys yet").
    let deadline = Instant::now() + WAIT;
    let camera = loop {
        let path = format!(
            "visit1?ticket={}",
            ticket(NODE, "publish", "visit1", "p-1", "patient")
        );
        match pod.publish(&path, "no-token-only-the-ticket") {
            Ok(camera) => break camera,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "the ticket never let in: {error}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert!(camera.resource().contains("/whip/visit1/p-1/"));

    let cases = [
        (
            "/whip/visit1",
            ticket("pod-b", "publish", "visit1", "d-1", "clinician"),
            401,
            "audience",
        ),
        (
            "/whip/visit1",
            ticket(NODE, "watch", "visit1", "d-1", "clinician"),
            403,
            "not to publish",
        ),
        (
            "/whep/visit1/p-1",
            ticket(NODE, "watch", "visit2", "d-1", "clinician"),
            403,
            "another room",
        ),
    ];
    for (path, ticket, status, reason) in cases {
        let answer = pod.post(&format!("{path}?ticket={ticket}"), None);
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(answer.body.contains(reason), "{}", answer.body);
        pod.wait_event(reason, |e| refused(e, status, reason));
    }
    // A good ticket used twice is refused the second time.
    let watch = ticket(NODE, "watch", "visit1", "d-1", "clinician");
    let view = pod
        .watch(&format!("visit1/p-1?ticket={watch}"), "unused")
        .expect("watch");
    let again = pod.post(&format!("/whep/visit1/p-1?ticket={watch}"), None);
    assert_eq!(
        (again.status, again.body.contains("used already")),
        (401, true)
    );
    // The policy still runs on a ticket's claims: a stranger's ticket for
    // the room is refused by it.
    let stranger = ticket(NODE, "watch", "visit1", "x-9", "clinician");
    assert_eq!(
        pod.post(&format!("/whep/visit1/p-1?ticket={stranger}"), None)
            .status,
        403
    );
    drop((view, camera));
}

#[test]
fn a_full_spool_refuses_new_joins_while_the_running_call_goes_on() {
    if support::testdata().is_none() {
        return;
    }
    let _slot = support::realtime_slot();
    let mut pod = Pod::start("spool", 4096);
    let (camera, view) = pod.patient_seen_by_doctor();
    let doctor = pod.token("d-1", "clinician");

    // Redis goes away: events stay in the spool until it is full.
    pod.redis.stop();
    let mut refused_at = None;
    for attempt in 0..64 {
        let answer = pod.post("/whep/visit1/p-1", Some(&doctor));
        if answer.status == 503 && answer.body.contains("audit trail") {
            refused_at = Some(attempt);
            break;
        }
        if answer.status == 201
            && let Some(location) = &answer.location
        {
            let resource = format!("{}{location}", pod.base());
            support::request("DELETE", &resource, Some(&doctor), "text/plain", b"");
        }
    }
    assert!(refused_at.is_some(), "a full spool refused no join");
    assert!(support::metric(&pod.server, "framechain_audit_refused_joins_total") >= 1.0);
    // The running call goes on.
    let before = view.stats().units;
    view.wait_units(before + 20, WAIT)
        .expect("the running call keeps flowing");
    drop((view, camera));
}

/// A few random hex digits, so that tickets made in one second differ.
fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
