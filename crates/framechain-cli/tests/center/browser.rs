//! A visit in two real browsers through the centre's URL: a centre and
//! two edge pods on a real Redis and PostgreSQL 15, and two headless
//! Chromiums (a patient and a clinician) on the call page with
//! `&center=URL`. Each page POSTs its WHIP and WHEP offers to the centre,
//! fetch follows the `307` (same method, same offer, no `Authorization`:
//! the placement ticket is in the URL) to the pod holding the room, and
//! the page then polls `/rooms/ROOM` and ends its calls at that pod.
//!
//! The pages are served by the *other* pod (the clinic's page host,
//! listed with `--cors-origin`), so every step crosses origins: the
//! redirected offers arrive with `Origin: null` and a ticket, the polls and
//! the `DELETE`s with the page's origin. Checked: pictures and sound both
//! ways, the pod the pages learnt is the room's, and the audit trail holds
//! both publications and both watches on that pod.

use framechain_test_support::webdriver::{Driver, Session, browser, wait_for};
use serde_json::{Value, json};

use super::fleet::Fleet;

const ROOM: &str = "visit-browsers";

#[test]
fn two_browsers_hold_a_visit_through_the_centre_s_url_on_the_pod_it_chose() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let pipeline = framechain_test_support::workspace_root().join("examples/telemedicine.yaml");
    // The call pages come from the last pod; every pod takes its origin.
    let fleet = Fleet::start(
        "framechain-center-browser",
        None,
        2,
        &pipeline,
        |_, urls| vec!["--cors-origin".into(), urls[urls.len() - 1].clone()],
    );
    // Both videos forwarded: this is about the way there, not the pipeline.
    fleet.add_room(&format!(
        r#"{{"room": "{ROOM}", "patient": "p-1", "clinicians": ["d-1"],
            "pipelines": {{"patient": "forward"}}}}"#
    ));
    // Two empty pods: the tie goes to the first name.
    let placed = fleet
        .placed_node(ROOM)
        .expect("the room is placed when added");
    assert_eq!(placed, "pod-0", "the room's pod");
    let pod = fleet.pods[0].url.clone();
    let page_host = fleet.pods[1].url.clone();
    let center = fleet.center.clone();

    let driver = Driver::start(chromedriver);
    let patient = driver.session_with(chromium, &["--window-size=640,600".to_owned()]);
    let clinician = driver.session_with(chromium, &["--window-size=640,600".to_owned()]);
    for (session, sub, role) in [
        (&patient, "p-1", "patient"),
        (&clinician, "d-1", "clinician"),
    ] {
        let token = fleet.token(sub, role, ROOM);
        session.navigate(&format!(
            "{page_host}/call?room={ROOM}&center={center}#token={token}"
        ));
        session.click(&session.find("#join"));
    }

    let sees_and_hears = |other: &'static str| {
        move |status: &Value| {
            let remote = &status["remotes"][other];
            remote["framesDecoded"].as_u64().unwrap_or(0) >= 30
                && remote["audioPackets"].as_u64().unwrap_or(0) >= 50
                && remote["width"].as_u64().unwrap_or(0) > 0
        }
    };
    let at_clinician = wait_for(
        &clinician,
        "window.framechainCall",
        60,
        sees_and_hears("p-1"),
    );
    let at_patient = wait_for(&patient, "window.framechainCall", 30, sees_and_hears("d-1"));
    let (at_clinician, at_patient) = match (at_clinician, at_patient) {
        (Ok(c), Ok(p)) => (c, p),
        (c, p) => panic!(
            "the visit did not carry both ways through the centre\nclinician: {c:?}\n\
             patient: {p:?}\nclinician console: {}\npatient console: {}",
            clinician.console(),
            patient.console()
        ),
    };
    // Both pages found the room's pod behind the centre's redirect, from
    // a page on another origin.
    for (name, status) in [("clinician", &at_clinician), ("patient", &at_patient)] {
        assert_eq!(status["pod"], pod.as_str(), "the {name}'s page: {status}");
        assert_eq!(
            status["people"].as_array().map(Vec::len),
            Some(2),
            "{status}"
        );
    }
    let origin = patient.execute("return location.origin", json!([]));
    assert_eq!(origin, page_host.as_str());

    // Real pictures: the fake camera's moving scene, not black.
    for (session, other, status) in [
        (&clinician, "p-1", &at_clinician),
        (&patient, "d-1", &at_patient),
    ] {
        let remote = &status["remotes"][other];
        let (w, h) = (
            remote["width"].as_u64().unwrap() as u32,
            remote["height"].as_u64().unwrap() as u32,
        );
        let picture = sample(session, other, [0, 0, w, h]);
        assert!(
            picture["max"].as_f64().unwrap_or(0.0) > 64.0
                && picture["max"].as_f64().unwrap_or(0.0) - picture["min"].as_f64().unwrap_or(0.0)
                    > 32.0,
            "{other}'s picture is blank where it arrives: {picture}"
        );
    }

    // The audit trail: both publications and both watches, on the pod.
    fleet.wait_for_joins(
        ROOM,
        &[
            ("publish", "p-1", &placed),
            ("publish", "d-1", &placed),
            ("watch", "p-1", &placed),
            ("watch", "d-1", &placed),
        ],
    );

    // Leaving ends the call at the pod (a DELETE across origins), and the
    // clinician's view of the patient with it.
    patient.click(&patient.find("#leave"));
    let gone = wait_for(&clinician, "window.framechainCall", 15, |status| {
        status["remotes"]["p-1"]["state"] == "ended"
    });
    assert!(
        gone.is_ok(),
        "the clinician still watches a patient who left: {gone:?}"
    );
    drop((patient, clinician));
    drop(driver);
}

/// The mean colour and luma range of a rectangle of one remote's video.
fn sample(session: &Session, participant: &str, [x, y, w, h]: [u32; 4]) -> Value {
    session.execute(
        "return window.framechainSampleRemote(arguments[0], arguments[1], arguments[2], arguments[3], arguments[4])",
        json!([participant, x, y, w, h]),
    )
}
