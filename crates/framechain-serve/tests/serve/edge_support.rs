//! An edge pod for a test (`--redis`, `--node`, `--center`, a spool),
//! shared by `edge` and `edge_policy`: a real `redis-server` of its own on
//! loopback, on which the test plays the centre (it places rooms as the
//! centre does and reads the events stream as the centre would), a fresh
//! key pair for signed tokens, and real str0m clients for calls.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use framechain_events::chain::{GENESIS, link_hash};
use framechain_events::pod::{PLACEMENT_HASH, ROOMS_HASH};
use framechain_events::{EVENTS_STREAM, Event, EventKind};
use framechain_loadgen::{Endpoint, PublishOptions, Publisher, ViewOptions, Viewer};
use framechain_serve::identity::tools::{KeyKind, NewKeys, new_keys};
use framechain_serve::{EdgeConfig, ServeConfig, Server};
use framechain_test_support::services::RedisServer;

use crate::support;
use crate::visit_support::{CHAIN, Scratch, signed_token};

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
        signed_token(&self.keys, sub, role, room)
    }

    /// A POST of a valid offer to `path` (with its query); a redirect is
    /// an answer, not followed.
    pub(crate) fn post(&self, path: &str, token: Option<&str>) -> support::Answer {
        let direction = if path.starts_with("/whep/") {
            str0m::media::Direction::RecvOnly
        } else {
            str0m::media::Direction::SendOnly
        };
        let offer = crate::bad_actors::offer(true, direction);
        // A redirect is the answer: its Location is what the tests read.
        support::request_following(
            "POST",
            &format!("{}{path}", self.base()),
            token,
            "application/sdp",
            offer.as_bytes(),
            0,
        )
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
    pub(crate) fn patient_seen_by_doctor(&self) -> (Publisher, Viewer) {
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

    /// Stops the pod's Redis, then offers joins on `path` with `token`
    /// (hanging up each one taken) until one is refused because the audit
    /// trail's spool is full (503): the attempt that was, or `None` if 64
    /// were not enough.
    pub(crate) fn fill_the_spool(&mut self, path: &str, token: &str) -> Option<usize> {
        self.redis.stop();
        for attempt in 0..64 {
            let answer = self.post(path, Some(token));
            if answer.status == 503 && answer.body.contains("audit trail") {
                return Some(attempt);
            }
            if answer.status == 201
                && let Some(location) = &answer.location
            {
                let resource = format!("{}{location}", self.base());
                support::request("DELETE", &resource, Some(token), "text/plain", b"");
            }
        }
        None
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

pub(crate) fn joined(event: &Event, who: &str, watch: bool) -> bool {
    event.participant.as_deref() == Some(who)
        && matches!(&event.what, EventKind::ParticipantJoined { action, .. }
            if (*action == framechain_events::Action::Watch) == watch)
}

pub(crate) fn refused(event: &Event, status: u16, reason: &str) -> bool {
    matches!(&event.what, EventKind::ParticipantRefused { status: s, reason: r, .. }
        if *s == status && r.contains(reason))
}

/// The running call goes on: `view` gets `more` units beyond what it had.
pub(crate) fn keeps_flowing(view: &Viewer, more: u64, when: &str) {
    let before = view.stats().units;
    view.wait_units(before + more, WAIT)
        .unwrap_or_else(|error| panic!("the running call stopped {when}: {error}"));
}
