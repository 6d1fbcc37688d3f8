//! Rooms: participants publish their own camera (`POST /whip/ROOM`) and
//! watch each other (`POST /whep/ROOM/PARTICIPANT`) with real str0m
//! clients on loopback and real signed tokens (`framechain keys new` and
//! `framechain token`'s code). Refusals answer one line before any media;
//! deleting a room, its window closing or the rooms file dropping it ends
//! its running calls, and the other rooms' calls go on.

use std::time::{Duration, Instant};

use framechain_loadgen::{Clip, Endpoint, PublishOptions, Publisher, ViewOptions, Viewer};
use framechain_serve::identity::tools::{KeyKind, new_keys};
use framechain_serve::{ServeConfig, Server};

use crate::support::{self, Answer};
use crate::visit_support::{ADMIN, CHAIN, Scratch, Visit, now_unix};

impl Visit {
    /// `sub` publishes in `room` (the clip, until stopped).
    fn publish(&self, room: &str, token: &str) -> Result<Publisher, framechain_loadgen::Error> {
        Publisher::start(
            &Endpoint::new(self.base(), room, token),
            clip(),
            PublishOptions::default(),
        )
    }

    /// A viewer of `participant` in `room`.
    fn watch(
        &self,
        room: &str,
        participant: &str,
        token: &str,
    ) -> Result<Viewer, framechain_loadgen::Error> {
        Viewer::start(
            &Endpoint::new(self.base(), format!("{room}/{participant}"), token),
            ViewOptions {
                keep_data: false,
                ..ViewOptions::default()
            },
        )
    }

    fn admin(&self, method: &str, path: &str, body: &str) -> Answer {
        support::request(
            method,
            &format!("{}{path}", self.base()),
            Some(ADMIN),
            "application/json",
            body.as_bytes(),
        )
    }

    fn ended(&self, reason: &str) -> f64 {
        support::metric(
            &self.server,
            &format!("framechain_sessions_ended_total{{reason=\"{reason}\"}}"),
        )
    }

    /// Waits until `reason` has ended `count` calls.
    fn wait_ended(&self, reason: &str, count: f64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.ended(reason) < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(self.ended(reason), count, "calls ended for {reason}");
    }
}

/// A small camera: 176x144, an IDR every few pictures, repeated.
fn clip() -> Clip {
    let path = framechain_test_support::testdata_dir().join("h264/conformance/MIDR_MW_D.264");
    Clip::open(&path).unwrap()
}

fn refusal(result: Result<impl Sized, framechain_loadgen::Error>) -> (u16, String) {
    match result {
        Ok(_) => panic!("the offer was taken"),
        Err(framechain_loadgen::Error::Refused { status, body, .. }) => (status, body),
        Err(error) => panic!("not a refusal: {error}"),
    }
}

const ROOMS: &str = r#"[
  {"room": "visit1", "patient": "p-1", "clinicians": ["d-1"]},
  {"room": "visit2", "patient": "p-2", "clinicians": ["d-2"]}
]"#;

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn two_participants_publish_and_each_watches_the_other() {
    if support::testdata().is_none() {
        return;
    }
    let _slot = support::realtime_slot();
    let visit = Visit::start("both-ways", ROOMS);
    let patient = visit.token("p-1", "patient", Some("visit1"));
    let doctor = visit.token("d-1", "clinician", Some("visit1"));
    // The doctor watches first: the call waits for the patient's camera.
    let doctor_sees = visit.watch("visit1", "p-1", &doctor).expect("watch");
    let patient_camera = visit.publish("visit1", &patient).expect("publish");
    let doctor_camera = visit.publish("visit1", &doctor).expect("publish");
    let patient_sees = visit.watch("visit1", "d-1", &patient).expect("watch");
    assert!(patient_camera.resource().contains("/whip/visit1/p-1/"));
    // The patient's video runs the pipeline; the clinician's, without a
    // pipeline of its role in the room, is forwarded as sent.
    assert_eq!(
        visit.server.sessions(),
        1,
        "one live session: the patient's"
    );
    doctor_sees
        .wait_units(20, WAIT)
        .expect("the doctor sees the patient");
    patient_sees
        .wait_units(20, WAIT)
        .expect("the patient sees the doctor");

    // A second publication by the same participant is busy, as a stream.
    let (status, line) = refusal(visit.publish("visit1", &patient));
    assert_eq!(
        (status, line.as_str()),
        (409, "the stream already has a publisher")
    );

    // Each ends their own call with DELETE on its Location.
    let doctor_view = doctor_sees.resource().to_owned();
    patient_camera.stop().expect("the patient hangs up");
    visit.wait_ended("stream ended", 1.0);
    assert_eq!(
        support::request("DELETE", &doctor_view, Some(&doctor), "text/plain", b"").status,
        404,
        "the doctor's view ended with the patient's publication"
    );
    doctor_camera.stop().expect("the doctor hangs up");
    drop((doctor_sees, patient_sees));
}

#[test]
fn tokens_and_the_policy_keep_strangers_out() {
    let visit = Visit::start("strangers", ROOMS);
    let offer = crate::bad_actors::offer(true, str0m::media::Direction::SendOnly);
    let post = |path: &str, token: Option<&str>| {
        support::request(
            "POST",
            &format!("{}{path}", visit.base()),
            token,
            "application/sdp",
            offer.as_bytes(),
        )
    };
    let cases = [
        // No token, a token of another key, junk: 401 with the reason.
        ("/whip/visit1", None, 401, "no token"),
        ("/whip/visit1", Some("a.b.c".to_owned()), 401, "malformed"),
        // A token for another room.
        (
            "/whip/visit1",
            Some(visit.token("p-2", "patient", Some("visit2"))),
            403,
            "another room",
        ),
        // A patient publishing, or watching, in another patient's room.
        (
            "/whip/visit1",
            Some(visit.token("p-2", "patient", None)),
            403,
            "policy",
        ),
        (
            "/whep/visit1/p-1",
            Some(visit.token("p-2", "patient", None)),
            403,
            "policy",
        ),
        // A clinician the room does not list.
        (
            "/whep/visit1/p-1",
            Some(visit.token("d-2", "clinician", None)),
            403,
            "policy",
        ),
        (
            "/whip/visit1",
            Some(visit.token("d-2", "clinician", None)),
            403,
            "policy",
        ),
        // Somebody not in the room, and a room that does not exist.
        (
            "/whep/visit1/x-9",
            Some(visit.token("d-1", "clinician", None)),
            404,
            "no such participant",
        ),
        (
            "/whip/visit9",
            Some(visit.token("d-1", "clinician", None)),
            404,
            "no such room",
        ),
    ];
    for (path, token, status, words) in cases {
        let answer = post(path, token.as_deref());
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(answer.body.contains(words), "{path}: {}", answer.body);
        assert_eq!(answer.body.trim().lines().count(), 1, "{}", answer.body);
        if let Some(token) = token {
            assert!(!answer.body.contains(&token), "the answer quotes the token");
        }
    }
    assert_eq!(
        visit.server.sessions(),
        0,
        "no refused offer opened a session"
    );
}

/// `GET /rooms/ROOM` (the call page's view of its room) from outsiders:
/// no token, junk, a token for another room, names that do not exist,
/// oversize names and names with bytes that are not a room's. Each gets one
/// line that does not quote the name, without a token nobody learns
/// whether a room exists, and only a participant sees the room.
#[test]
fn room_views_refuse_strangers_and_hostile_names() {
    let visit = Visit::start("room-views", ROOMS);
    let get = |path: &str, token: Option<&str>| {
        support::request(
            "GET",
            &format!("{}{path}", visit.base()),
            token,
            "text/plain",
            b"",
        )
    };
    let doctor = visit.token("d-1", "clinician", None);
    let long = "a".repeat(4000);
    let cases: Vec<(String, Option<String>, u16, &str)> = vec![
        // No token or a bad one: 401 whether the room exists or not.
        ("/rooms/visit1".into(), None, 401, "no token"),
        ("/rooms/visit9".into(), None, 401, "no token"),
        (format!("/rooms/{long}"), None, 401, "no token"),
        (
            "/rooms/visit1".into(),
            Some("a.b.c".into()),
            401,
            "malformed",
        ),
        // A token for another room, and a patient of another room.
        (
            "/rooms/visit1".into(),
            Some(visit.token("p-2", "patient", Some("visit2"))),
            403,
            "another room",
        ),
        (
            "/rooms/visit1".into(),
            Some(visit.token("p-2", "patient", None)),
            403,
            "policy",
        ),
        // Names no room has: unknown, oversize, control characters, a
        // path, markup, a character outside ASCII.
        (
            "/rooms/visit9".into(),
            Some(doctor.clone()),
            404,
            "no such room",
        ),
        (
            format!("/rooms/{long}"),
            Some(doctor.clone()),
            404,
            "no such room",
        ),
        (
            "/rooms/visit1%0d%0aX-Evil:%201".into(),
            Some(doctor.clone()),
            404,
            "no such room",
        ),
        (
            "/rooms/visit1%00".into(),
            Some(doctor.clone()),
            404,
            "no such room",
        ),
        (
            "/rooms/..%2F..%2Fetc%2Fpasswd".into(),
            Some(doctor.clone()),
            404,
            "no such room",
        ),
        (
            "/rooms/%3Cscript%3E".into(),
            Some(doctor.clone()),
            404,
            "no such room",
        ),
        (
            "/rooms/visit%E2%80%AE1".into(),
            Some(doctor.clone()),
            404,
            "no such room",
        ),
    ];
    for (path, token, status, words) in &cases {
        let answer = get(path, token.as_deref());
        let shown = &path[..path.len().min(60)];
        assert_eq!(answer.status, *status, "{shown}: {}", answer.body);
        assert!(answer.body.contains(words), "{shown}: {}", answer.body);
        assert_eq!(
            answer.body.trim().lines().count(),
            1,
            "{shown}: {}",
            answer.body
        );
        let name = path.trim_start_matches("/rooms/");
        if name.len() > "visit1".len() {
            assert!(
                !answer.body.contains(name),
                "{shown}: the answer quotes the name"
            );
        }
        assert!(
            !answer.body.contains("<script>"),
            "{shown}: {}",
            answer.body
        );
        if let Some(token) = token {
            assert!(
                !answer.body.contains(token.as_str()),
                "the answer quotes the token"
            );
        }
    }
    // The room's own clinician sees it (the cases above are refusals, not
    // a route that refuses everything).
    let answer = get("/rooms/visit1", Some(&doctor));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let view: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
    assert_eq!(view["room"], "visit1");
    // A name that is not UTF-8 is refused before any room is looked up.
    let answer = get("/rooms/visit%FF", Some(&doctor));
    assert!((400..500).contains(&answer.status), "{}", answer.body);
    assert_eq!(answer.body.trim().lines().count(), 1, "{}", answer.body);
}

#[test]
fn a_deleted_room_ends_its_calls_and_refuses_its_tokens() {
    if support::testdata().is_none() {
        return;
    }
    let _slot = support::realtime_slot();
    let visit = Visit::start("deleted", "[]");
    // (A room's own pipeline compiles its stages when the room is added:
    // too slow for this test on a loaded machine; the default's is used.)
    let room = r#"{"room": "visit3", "patient": "p-3", "clinicians": ["d-3"],
                   "pipelines": {"clinician": "forward"}}"#;
    assert_eq!(visit.admin("POST", "/admin/rooms", room).status, 201);
    assert_eq!(
        visit.admin("POST", "/admin/rooms", room).status,
        200,
        "replaced"
    );
    let bad = r#"{"room": "visit4", "patient": "p", "clinicians": ["d"], "pipelines": {"patient": "decode-h264 ! ! encode-h264"}}"#;
    let answer = visit.admin("POST", "/admin/rooms", bad);
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer
            .body
            .contains("room visit4: the pipeline of role patient"),
        "{}",
        answer.body
    );

    let patient = visit.token("p-3", "patient", Some("visit3"));
    let doctor = visit.token("d-3", "clinician", Some("visit3"));
    let camera = visit.publish("visit3", &patient).expect("publish");
    let viewer = visit.watch("visit3", "p-3", &doctor).expect("watch");
    viewer
        .wait_units(10, WAIT)
        .expect("pictures through the room's pipeline");

    assert_eq!(visit.admin("DELETE", "/admin/rooms/visit3", "").status, 204);
    visit.wait_ended("room deleted", 2.0);
    assert_eq!(visit.admin("DELETE", "/admin/rooms/visit3", "").status, 404);
    // The same tokens, replayed: the room is gone.
    let (status, line) = refusal(visit.publish("visit3", &patient));
    assert_eq!((status, line.as_str()), (404, "no such room"));
    let (status, _) = refusal(visit.watch("visit3", "p-3", &doctor));
    assert_eq!(status, 404);
    drop((camera, viewer));
    // The admin API takes only the admin token.
    let answer = support::request(
        "POST",
        &format!("{}/admin/rooms", visit.base()),
        Some(&doctor),
        "application/json",
        room.as_bytes(),
    );
    assert_eq!(answer.status, 403);
}

#[test]
fn a_closing_window_and_a_rooms_file_reload_end_only_their_rooms_calls() {
    if support::testdata().is_none() {
        return;
    }
    let _slot = support::realtime_slot();
    let format = |unix: u64| {
        let output = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    let now = now_unix();
    let closing = format!(
        r#"{{"room": "short", "patient": "p-5", "clinicians": ["d-5"], "not_before": "{}", "not_after": "{}"}}"#,
        format(now - 60),
        format(now + 8)
    );
    let later = format!(
        r#"{{"room": "later", "patient": "p-6", "clinicians": ["d-6"], "not_before": "{}"}}"#,
        format(now + 3600)
    );
    let stays = r#"{"room": "stays", "patient": "p-7", "clinicians": ["d-7"]}"#;
    let goes = r#"{"room": "goes", "patient": "p-8", "clinicians": ["d-8"]}"#;
    let visit = Visit::start("window", &format!("[{closing}, {later}, {stays}, {goes}]"));
    let (status, line) = refusal(visit.publish("later", &visit.token("p-6", "patient", None)));
    assert_eq!(status, 403);
    assert!(line.starts_with("the room opens at "), "{line}");

    let short = visit
        .publish("short", &visit.token("p-5", "patient", None))
        .expect("publish");
    let staying = visit
        .publish("stays", &visit.token("p-7", "patient", None))
        .expect("publish");
    let staying_view = visit
        .watch("stays", "p-7", &visit.token("d-7", "clinician", None))
        .expect("watch");
    let going = visit
        .publish("goes", &visit.token("p-8", "patient", None))
        .expect("publish");
    staying_view.wait_units(5, WAIT).expect("pictures");

    // The rooms file drops `goes` (a bad file first: the rooms stay).
    std::fs::write(&visit.rooms_file, "[{").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(visit.ended("room removed from the rooms file"), 0.0);
    visit
        .scratch
        .file("rooms.json", &format!("[{closing}, {later}, {stays}]"));
    visit.wait_ended("room removed from the rooms file", 1.0);
    // The window of `short` closes.
    visit.wait_ended("room window closed", 1.0);
    let (status, line) = refusal(visit.publish("short", &visit.token("p-5", "patient", None)));
    assert_eq!(status, 403, "{line}");

    // `stays` went on through all of it.
    let before = staying_view.stats().units;
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        staying_view.stats().units > before,
        "the other room's call goes on"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while visit.server.sessions() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        visit.server.sessions(),
        1,
        "only the staying room's session runs"
    );
    drop((short, going, staying, staying_view));
}

#[test]
fn rooms_need_keys_and_a_bad_rooms_file_is_one_line() {
    let scratch = Scratch::new("start");
    let keys = new_keys(&scratch.0.join("keys"), KeyKind::Ed25519).unwrap();
    let mut config = ServeConfig::new(support::pipeline(CHAIN));
    config.rooms = Some(scratch.file("rooms.json", "[]"));
    let error = Server::start(config.clone())
        .err()
        .expect("refused")
        .to_string();
    assert_eq!(
        error,
        "--rooms needs --keys FILE: rooms admit participants by the tokens the keys verify"
    );
    config.keys = Some(keys.jwks.clone());
    config.rooms = Some(scratch.file(
        "rooms.json",
        r#"[{"room": "a", "patient": "p", "clinicians": ["d"], "colour": 1}]"#,
    ));
    let error = Server::start(config).err().expect("refused").to_string();
    assert!(
        error.contains("rooms.json: not a room object: unknown field `colour`"),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1);
}
