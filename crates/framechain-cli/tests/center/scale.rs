//! Thirty rooms with media over three real pods: `framechain center`,
//! three `framechain serve` pods (capacities 10, 12 and 15) as processes,
//! a real Redis and PostgreSQL 15. Every room gets a publisher and a
//! viewer through the centre's URL (forward-only pipelines and a QCIF
//! clip, so that two cores carry sixty WebRTC peers); the test checks the
//! spread against the capacities, that every viewer received video, and
//! that the audit trail holds every join exactly once.
//!
//! About 22 s on the 2-core machine, beside the failover test's own:
//! `#[ignore]`d in CI, run by `scripts/center-scale.sh` (numbers in
//! docs/center.md, "Measured").

use std::collections::HashMap;
use std::time::{Duration, Instant};

use framechain_loadgen::{Endpoint, PublishOptions, Publisher, ViewOptions, Viewer};

use super::failover::clip;
use super::fleet::{Fleet, Setup, get_json, wait_for};

const ROOMS: usize = 30;
const CAPACITIES: [u32; 3] = [10, 12, 15];

#[test]
#[ignore = "about 22 s: scripts/center-scale.sh"]
fn thirty_rooms_with_media_spread_over_three_pods_within_capacity_and_audited_once() {
    let Some(clip) = clip() else {
        return;
    };
    let started = Instant::now();
    let rooms: Vec<String> = (0..ROOMS)
        .map(|index| format!("scale-{index:02}"))
        .collect();
    let list: Vec<String> = rooms
        .iter()
        .map(|room| {
            format!(
                r#"{{"room": "{room}", "patient": "p-{room}", "clinicians": ["d-{room}"],
                    "pipelines": {{"patient": "forward"}}}}"#
            )
        })
        .collect();
    let pipeline = framechain_test_support::workspace_root().join("examples/telemedicine.yaml");
    let fleet = Fleet::start_with(
        "framechain-center-scale",
        &Setup {
            rooms: None,
            capacities: &CAPACITIES,
            pipeline: &pipeline,
            pod_args: &|_, _| Vec::new(),
        },
    );
    let center = fleet.center.clone();
    // The rooms through the admin API, once the pods are known, so the
    // spread is the placement's, not the order the pods came up in.
    for room in &list {
        assert_eq!(fleet.add_room(room), 201);
    }
    let ready_at = started.elapsed();

    // A publisher and a viewer in every room, through the centre's URL.
    let connecting = Instant::now();
    let mut calls = Vec::new();
    for room in &rooms {
        let patient = fleet.token(&format!("p-{room}"), "patient", room);
        let clinician = fleet.token(&format!("d-{room}"), "clinician", room);
        let publisher = Publisher::start(
            &Endpoint::new(&center, room.as_str(), &patient),
            clip.clone(),
            PublishOptions {
                fps: 10.0,
                ..PublishOptions::default()
            },
        )
        .unwrap_or_else(|error| panic!("{room}: the publisher's offer: {error}"));
        let viewer = Viewer::start(
            &Endpoint::new(&center, format!("{room}/p-{room}"), &clinician),
            ViewOptions::default(),
        )
        .unwrap_or_else(|error| panic!("{room}: the viewer's offer: {error}"));
        calls.push((room.clone(), publisher, viewer));
    }
    for (room, publisher, viewer) in &calls {
        publisher
            .wait_connected(Duration::from_secs(20))
            .unwrap_or_else(|error| panic!("{room}: the publisher connects: {error}"));
        viewer
            .wait_connected(Duration::from_secs(20))
            .unwrap_or_else(|error| panic!("{room}: the viewer connects: {error}"));
    }
    for (room, _, viewer) in &calls {
        viewer
            .wait_units(10, Duration::from_secs(30))
            .unwrap_or_else(|error| panic!("{room}: video at the viewer: {error}"));
    }
    let flowing_after = connecting.elapsed();

    // The spread respects the capacities.
    let status = get_json(&format!("{center}/center/status.json")).unwrap();
    let mut held: HashMap<String, u32> = HashMap::new();
    for room in status["rooms"].as_array().unwrap() {
        let node = room["node"].as_str().expect("every room is placed");
        *held.entry(node.to_owned()).or_default() += 1;
    }
    assert_eq!(held.values().sum::<u32>(), ROOMS as u32);
    for (index, capacity) in CAPACITIES.iter().enumerate() {
        let count = held.get(&format!("pod-{index}")).copied().unwrap_or(0);
        assert!(
            count <= *capacity,
            "pod-{index}: {count} rooms > {capacity}"
        );
        assert!(count > 0, "pod-{index} holds no room: {held:?}");
    }

    // The audit trail holds every join once.
    let rows = wait_for(
        "every join in the audit trail",
        Duration::from_secs(30),
        || {
            let output =
                super::framechain(&["audit", "--postgres", &fleet.postgres.url(), "--json"]);
            assert!(output.status.success(), "{}", super::stderr(&output));
            let joins: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
                .filter(|row| row["what"] == "joined")
                .collect();
            (joins.len() >= 2 * ROOMS).then_some(joins)
        },
    );
    let mut seen: HashMap<(String, String, String), u32> = HashMap::new();
    for row in &rows {
        let text = |key: &str| row[key].as_str().unwrap_or_default().to_owned();
        *seen
            .entry((text("room"), text("participant"), text("action")))
            .or_default() += 1;
    }
    for room in &rooms {
        for (who, action) in [
            (format!("p-{room}"), "publish"),
            (format!("d-{room}"), "watch"),
        ] {
            let key = (room.clone(), who, action.to_owned());
            assert_eq!(seen.get(&key), Some(&1), "{key:?} in the audit trail");
        }
    }
    assert_eq!(rows.len(), 2 * ROOMS, "no join twice");
    eprintln!(
        "measured: {ROOMS} rooms over 3 pods {held:?} (capacities {CAPACITIES:?}); pods and rooms ready after {:.1} s; \
         {} calls connected and video at every viewer {:.1} s after the first offer; {} joins audited once each",
        ready_at.as_secs_f64(),
        2 * ROOMS,
        flowing_after.as_secs_f64(),
        rows.len()
    );
    drop(calls);
    drop(fleet);
}
