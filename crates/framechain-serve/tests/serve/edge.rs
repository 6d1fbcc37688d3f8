//! serve as an edge pod of a centre (`--redis`, `--node`, `--center`),
//! against a real `redis-server` on loopback: the centre's side is played
//! by the test, which writes the placement hashes and the ticket keys as
//! the centre would and reads the events stream and the heartbeat as it
//! would. Calls are real str0m clients with real signed tokens.

use std::time::{Duration, Instant};

use framechain_events::pod::TICKET_KEYS_KEY;
use framechain_events::{EventKind, PodStatus};
use framechain_serve::identity::tools::KeyKind;
use framechain_serve::identity::{SigningKey, ticket_audience};

use crate::edge_support::{NODE, Pod, ROOM, WAIT, joined, keeps_flowing, refused};
use crate::support;
use crate::visit_support::now_unix;

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
    let refused_at = pod.fill_the_spool("/whep/visit1/p-1", &doctor);
    assert!(refused_at.is_some(), "a full spool refused no join");
    assert!(support::metric(&pod.server, "framechain_audit_refused_joins_total") >= 1.0);
    keeps_flowing(&view, 20, "after the spool filled");
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
