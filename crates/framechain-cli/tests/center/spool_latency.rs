//! The latency of a running call with an empty spool and with a full one
//! (issue 21: "a full spool refuses new joins, and the running calls keep
//! their latency"). One `framechain serve` pod with a small spool
//! (`--spool-max-bytes`), the centre, a real Redis and PostgreSQL 15; a
//! publisher paced at 30 fps and a viewer in one room, forward-only, and a
//! join (and leave) through the centre every few hundred milliseconds
//! beside it. Two windows: Redis up and the spool empty (the joins are
//! admitted, each record fsynced and shipped), then Redis stopped and the
//! spool full (the joins are refused with `503`). Each picture's latency
//! is the viewer's arrival minus the publisher's send time of the same
//! RTP timestamp, on the test's clock, both WebRTC legs included.
//!
//! A measurement, not a check: `#[ignore]`d, run three times by
//! `scripts/center-spool-latency.sh`, which prints the medians
//! (docs/performance.md, "A running call's latency under a full spool").

use std::time::{Duration, Instant};

use framechain_loadgen::{Publisher, Viewer};

use super::failover::clip;
use super::faults::{Joins, Outcome, SMALL_SPOOL, pod_metric, publish, room_json, watch};
use super::fleet::{Fleet, Setup};

const ROOM: &str = "faults-a";
/// How long each window measures.
const WINDOW: Duration = Duration::from_secs(10);
/// Time between two joins in a window.
const JOIN_EVERY: Duration = Duration::from_millis(300);

/// p50 and p99 of `values` (milliseconds), sorted in place.
fn percentiles(values: &mut [f64]) -> (f64, f64) {
    assert!(!values.is_empty(), "no picture arrived in the window");
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}

/// Measures `WINDOW` of the running call while a join is tried every
/// `JOIN_EVERY`; the latencies (ms) and the joins' outcomes.
fn window(
    fleet: &Fleet,
    joins: &mut Joins,
    publisher: &Publisher,
    viewer: &Viewer,
) -> (Vec<f64>, Vec<Outcome>) {
    let first = viewer.units().len();
    let started = Instant::now();
    let mut outcomes = Vec::new();
    while started.elapsed() < WINDOW {
        let tried = Instant::now();
        outcomes.push(joins.one(fleet, ROOM));
        std::thread::sleep(JOIN_EVERY.saturating_sub(tried.elapsed()));
    }
    let sent = publisher.send_times();
    let latencies = viewer
        .units_since(first)
        .iter()
        .filter_map(|unit| {
            let sent = sent.get(&unit.rtp_time)?;
            Some(unit.arrival.saturating_duration_since(*sent).as_secs_f64() * 1000.0)
        })
        .collect();
    (latencies, outcomes)
}

#[test]
#[ignore = "a measurement of about 40 s: scripts/center-spool-latency.sh"]
fn a_running_call_s_latency_with_an_empty_and_a_full_spool() {
    let Some(clip) = clip() else {
        return;
    };
    let pipeline = framechain_test_support::workspace_root().join("examples/telemedicine.yaml");
    let rooms = format!("[{}]", room_json(ROOM, "a"));
    let mut fleet = Fleet::start_with(
        "framechain-center-spool-latency",
        &Setup {
            rooms: Some(&rooms),
            capacities: &[10],
            pipeline: &pipeline,
            pod_args: &|_, _| {
                vec![
                    "--label".into(),
                    "site=a".into(),
                    "--spool-max-bytes".into(),
                    SMALL_SPOOL.into(),
                ]
            },
        },
    );
    let mut joins = Joins::new(&fleet);
    let publisher = publish(&fleet, ROOM, &clip, 30.0);
    let viewer = watch(&fleet, ROOM);
    viewer
        .wait_units(60, Duration::from_secs(20))
        .expect("the call's video");

    let (mut empty, outcomes) = window(&fleet, &mut joins, &publisher, &viewer);
    assert!(
        outcomes.iter().all(|outcome| *outcome == Outcome::Admitted),
        "joins with an empty spool: {outcomes:?}"
    );

    // Redis away: the spool fills and refuses.
    fleet.redis.stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    while joins.one(&fleet, ROOM) != Outcome::AuditRefused {
        assert!(Instant::now() < deadline, "the spool never filled");
    }
    let spool_bytes = pod_metric(&fleet.pods[0], "framechain_audit_spool_bytes").unwrap_or(0.0);
    let (mut full, outcomes) = window(&fleet, &mut joins, &publisher, &viewer);
    assert!(
        outcomes
            .iter()
            .all(|outcome| *outcome == Outcome::AuditRefused),
        "joins with a full spool: {outcomes:?}"
    );
    fleet.redis.start_again();

    let (empty_p50, empty_p99) = percentiles(&mut empty);
    let (full_p50, full_p99) = percentiles(&mut full);
    println!(
        "spool-latency empty_p50_ms={empty_p50:.1} empty_p99_ms={empty_p99:.1} empty_pictures={} \
         full_p50_ms={full_p50:.1} full_p99_ms={full_p99:.1} full_pictures={} full_spool_bytes={spool_bytes} \
         spool_max_bytes={SMALL_SPOOL}",
        empty.len(),
        full.len()
    );
    drop(viewer);
    drop(publisher);
    drop(fleet);
}
