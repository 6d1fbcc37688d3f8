//! The centre's ticket key rotated under a real pod: a ticket signed with
//! the old key before the rotation and one signed with the new key after
//! it both open a real WebRTC call on a real `framechain serve` pod (the
//! publisher with the old key's ticket, the viewer with the new key's),
//! because the new key is published before it signs and the old one stays
//! published for a ticket's life.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use framechain_loadgen::{Endpoint, PublishOptions, Publisher, ViewOptions, Viewer};
use framechain_serve::identity::tools::{KeyKind, new_keys};

use super::failover::clip;
use super::fleet::{Fleet, get_json, wait_for};

const ROOM: &str = "visit-rotation";

/// The centre's `307` for `path` (`whip/ROOM`, `whep/ROOM/P`): the pod's
/// base URL, the path and query, and the ticket's `kid`.
fn redirect(center: &str, path: &str, token: &str) -> (String, String, String) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let response = agent
        .post(&format!("{center}/{path}"))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/sdp")
        .send_string("v=0\r\n")
        .expect("the centre answers");
    assert_eq!(response.status(), 307);
    let location = response.header("Location").unwrap().to_owned();
    let ticket = location.split("ticket=").nth(1).unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(ticket.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let kid = header["kid"].as_str().unwrap().to_owned();
    let (base, rest) = location.split_at(location.find("/wh").unwrap());
    (base.to_owned(), rest.to_owned(), kid)
}

fn published_kids(center: &str) -> Vec<String> {
    get_json(&format!("{center}/center/ticket-keys.json")).unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_ticket_key_rotates_while_a_pod_takes_tickets_of_both_keys() {
    let Some(clip) = clip() else {
        return;
    };
    let pipeline = framechain_test_support::workspace_root().join("examples/telemedicine.yaml");
    let rooms = format!(
        r#"[{{"room": "{ROOM}", "patient": "p-1", "clinicians": ["d-1"],
            "pipelines": {{"patient": "forward"}}}}]"#
    );
    let fleet = Fleet::start(
        "framechain-center-rotation",
        Some(&rooms),
        1,
        &pipeline,
        |_, _| Vec::new(),
    );
    let center = fleet.center.clone();
    let new = new_keys(&fleet.dir.join("new"), KeyKind::P256).unwrap();
    let ticket_key = fleet.ticket_key.clone();
    let patient = fleet.token("p-1", "patient", ROOM);
    let clinician = fleet.token("d-1", "clinician", ROOM);

    // A ticket of the old key, not yet used.
    let (pod, publish_path, old_kid) = redirect(&center, &format!("whip/{ROOM}"), &patient);
    assert_eq!(published_kids(&center), std::slice::from_ref(&old_kid));

    // The key file is replaced (a Secret's update swaps the file).
    let swap = fleet.dir.join("ticket-key.pem.new");
    std::fs::copy(&new.private, &swap).unwrap();
    std::fs::rename(&swap, &ticket_key).unwrap();
    // The new key is published beside the old one before it signs.
    let (watch_path, new_kid) = wait_for(
        "tickets signed with the new key",
        Duration::from_secs(15),
        || {
            let kids = published_kids(&center);
            let (_, path, kid) = redirect(&center, &format!("whep/{ROOM}/p-1"), &clinician);
            if kid == old_kid {
                return None;
            }
            assert!(kids.contains(&kid), "{kid} signs before it is published");
            Some((path, kid))
        },
    );
    let kids = published_kids(&center);
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );

    // The pod takes both: the old key's ticket publishes, the new key's
    // ticket watches, and the media flows.
    let stream = |path: &str, kind: &str| path.strip_prefix(kind).unwrap().to_owned();
    let publisher = Publisher::start(
        &Endpoint::new(&pod, stream(&publish_path, "/whip/"), "no-token"),
        clip,
        PublishOptions {
            fps: 30.0,
            ..PublishOptions::default()
        },
    )
    .expect("the old key's ticket is taken after the rotation");
    publisher
        .wait_connected(Duration::from_secs(10))
        .expect("the publisher connects");
    let viewer = Viewer::start(
        &Endpoint::new(&pod, stream(&watch_path, "/whep/"), "no-token"),
        ViewOptions::default(),
    )
    .expect("the new key's ticket is taken");
    viewer
        .wait_connected(Duration::from_secs(10))
        .expect("the viewer connects");
    viewer
        .wait_units(10, Duration::from_secs(15))
        .expect("the video flows");
    let metrics = framechain_loadgen::get_text(&format!("{center}/metrics"), None).unwrap();
    let samples = framechain_test_support::prometheus::parse_exposition(&metrics);
    let rotations = framechain_test_support::prometheus::value_of(
        &samples,
        "framechain_center_ticket_key_rotations_total",
        &[],
    );
    assert_eq!(rotations, Some(1.0));
    drop(publisher);
    drop(viewer);
    drop(fleet);
}
