//! Pipelining: one live session's chain split across workers, so picture k
//! may be in a later stage on one worker while picture k+1 is in an
//! earlier one on another. What must hold as for a whole chain: order,
//! accounting, failure of the session (only) when a stage traps, the flush
//! at the end, swaps, and each session's own instances. Functional, not
//! timed: `LiveConfig::pipeline_above: Some(0.0)` splits every session
//! from its start, whatever its stages cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use framechain::live::{LiveConfig, LiveEvent, LiveRuntime, LiveSession};
use framechain::{Error, Frame, Media, Plane, SessionStats, StageFailure};

use crate::support::{Owner, access_units, engine, flat_frame, pipeline, stage_spec};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 180;

/// A runtime that splits every session of two stages or more into up to
/// `workers` parts; nothing counts as late (this is not about load).
fn runtime(workers: usize) -> LiveRuntime {
    LiveRuntime::new(runtime_config(workers)).unwrap()
}

/// [`runtime`]'s settings.
fn runtime_config(workers: usize) -> LiveConfig {
    LiveConfig {
        workers,
        queue_depth: 1000,
        max_wait: Duration::from_secs(600),
        event_depth: 1000,
        pipeline_above: Some(0.0),
        ..LiveConfig::default()
    }
}

/// Picture `n`: flat at `luma`, its pts saying which it is.
fn picture(n: usize, luma: u8) -> Media {
    Media::Frame(flat_frame(WIDTH, HEIGHT, luma, n as i64 * 3000))
}

/// Every event of `session` up to `Ended`: the outputs' frames, the other
/// events, and the counts.
fn drain(owner: &Owner, session: &LiveSession) -> (Vec<Frame>, Vec<LiveEvent>, SessionStats) {
    let mut frames = Vec::new();
    let mut others = Vec::new();
    while let Some(event) = owner.recv(session.id()) {
        match event {
            LiveEvent::Output { media, .. } => frames.push(media.into_frame().unwrap()),
            LiveEvent::Ended(stats) => return (frames, others, *stats),
            other => others.push(other),
        }
    }
    panic!("no Ended event");
}

fn pictures_of(frames: &[Frame]) -> Vec<usize> {
    frames
        .iter()
        .map(|frame| (frame.pts / 3000) as usize)
        .collect()
}

/// Waits until the session runs split (it is split on its worker, after
/// its start).
fn wait_split(session: &LiveSession, parts: usize) {
    let until = Instant::now() + Duration::from_secs(30);
    while session.parts() != parts {
        assert!(Instant::now() < until, "never split into {parts} parts");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_pipelined_session_keeps_order_and_accounts_for_every_picture() {
    const PICTURES: usize = 120;
    let engine = engine();
    // Three stages on two workers: two parts, handing each picture over.
    let chain = Arc::new(pipeline(
        &engine,
        "test-stage behaviour=roundtrip ! scale width=160 height=90 ! test-stage behaviour=roundtrip",
    ));
    let runtime = runtime(2);
    let owner = Owner::of(&runtime);
    let session = runtime.open_past_admission(&chain, 30.0).unwrap();
    wait_split(&session, 2);
    for n in 0..PICTURES {
        session.push_media(picture(n, 100), Instant::now());
    }
    session.finish();
    let (frames, others, stats) = drain(&owner, &session);
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(pictures_of(&frames), (0..PICTURES).collect::<Vec<_>>());
    assert!(frames.iter().all(|f| (f.width(), f.height()) == (160, 90)));
    let inputs = PICTURES as u64;
    assert_eq!(
        (stats.inputs, stats.outputs, stats.dropped_total()),
        (inputs, inputs, 0)
    );
    // Every stage's own counts, in chain order, as if whole.
    let names: Vec<_> = stats.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["test-stage", "scale", "test-stage"]);
    for stage in &stats.stages {
        assert_eq!(
            (stage.inputs, stage.outputs),
            (inputs, inputs),
            "{}",
            stage.name
        );
    }
    assert_eq!(stats.arrival_latency.count(), inputs);
}

#[test]
fn a_trap_in_the_middle_stage_fails_only_its_session_with_pictures_in_flight() {
    let engine = engine();
    // One part per stage on three workers. The first stage spends 45 ms a
    // picture, so later pictures are in it when the middle one traps.
    let dear = Arc::new(pipeline(
        &engine,
        "test-stage behaviour=burn ! test-stage behaviour=trap ! test-stage",
    ));
    let healthy = Arc::new(pipeline(&engine, "test-stage ! scale width=160 height=90"));
    let runtime = runtime(3);
    let owner = Owner::of(&runtime);
    let failing = runtime.open_past_admission(&dear, 30.0).unwrap();
    let other = runtime.open_past_admission(&healthy, 30.0).unwrap();
    wait_split(&failing, 3);
    wait_split(&other, 2);
    for n in 0..6 {
        failing.push_media(picture(n, 50), Instant::now());
        other.push_media(picture(n, 150), Instant::now());
    }
    let (frames, others, stats) = drain(&owner, &failing);
    assert!(frames.is_empty(), "the trap came with the first picture");
    match others.as_slice() {
        [
            LiveEvent::Failed(Error::StageFailed {
                stage,
                failure: StageFailure::Trap(_),
            }),
        ] => assert_eq!(stage, "test-stage"),
        other => panic!("expected one Failed with the trap, got {other:?}"),
    }
    // Its stages' counts are whole: the middle stage took the one picture
    // it trapped on; the first stage took more of them, in flight.
    assert_eq!(stats.stages.len(), 3);
    assert_eq!(stats.stages[1].inputs, 1);
    assert!(stats.stages[0].inputs >= 1);
    assert_eq!(stats.stages[2].inputs, 0);
    // Pushes after the failure are ignored.
    failing.push_media(picture(6, 50), Instant::now());
    // The other session, split as well, is untouched.
    other.finish();
    let (frames, others, stats) = drain(&owner, &other);
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(pictures_of(&frames), (0..6).collect::<Vec<_>>());
    assert_eq!((stats.inputs, stats.outputs), (6, 6));
}

#[test]
fn finishing_a_pipelined_session_flushes_what_is_in_flight() {
    const PICTURES: usize = 8;
    let engine = engine();
    // 45 ms a picture in each of two parts: when `finish` comes, most
    // pictures are still waiting or in flight between the parts.
    let chain = Arc::new(pipeline(
        &engine,
        "test-stage behaviour=burn ! test-stage behaviour=burn",
    ));
    let runtime = runtime(2);
    let owner = Owner::of(&runtime);
    // At 15 fps: 1.35 workers, which two parts carry. At 30 it would want
    // 2.7 workers of 2 and be judged over its share (its 8 pictures,
    // pushed at once, count at its frame rate).
    let session = runtime.open_past_admission(&chain, 15.0).unwrap();
    wait_split(&session, 2);
    for n in 0..PICTURES {
        session.push_media(picture(n, 100), Instant::now());
    }
    // Wait until a picture is in the second part, then finish at once.
    match owner.recv(session.id()) {
        Some(LiveEvent::Output { .. }) => {}
        other => panic!("expected an output, got {other:?}"),
    }
    session.finish();
    let (frames, others, stats) = drain(&owner, &session);
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(pictures_of(&frames), (1..PICTURES).collect::<Vec<_>>());
    let n = PICTURES as u64;
    assert_eq!(
        (stats.inputs, stats.outputs, stats.dropped_total()),
        (n, n, 0)
    );
    assert!(stats.stages.iter().all(|s| (s.inputs, s.outputs) == (n, n)));
}

#[test]
fn a_pipelined_session_swaps_a_stage_at_its_next_keyframe_losing_nothing() {
    const PICTURES: usize = 30;
    let engine = engine();
    let old = Arc::new(pipeline(
        &engine,
        "redact rect=16,16,64,64 mode=fill color=black ! test-stage ! test-stage behaviour=roundtrip",
    ));
    let stage = stage_spec("redact rect=160,64,64,64 mode=fill color=white");
    let new = Arc::new(old.with_stage_replaced(0, &stage).unwrap());
    let runtime = runtime(2);
    let owner = Owner::of(&runtime);
    let session = runtime.open_past_admission(&old, 30.0).unwrap();
    wait_split(&session, 2);
    for n in 0..10 {
        session.push_media(picture(n, 128), Instant::now());
    }
    // Once pictures went through both parts, with more in flight: the
    // swap waits for them, joins the parts and switches before the next
    // picture it runs (any raw picture is a keyframe).
    let mut first = Vec::new();
    while first.len() < 2 {
        match owner.recv(session.id()) {
            Some(LiveEvent::Output { media, .. }) => first.push(media.into_frame().unwrap()),
            other => panic!("expected an output, got {other:?}"),
        }
    }
    session.swap_pipeline(&new).unwrap();
    for n in 10..PICTURES {
        session.push_media(picture(n, 128), Instant::now());
    }
    session.finish();
    let (rest, others, stats) = drain(&owner, &session);
    let frames: Vec<Frame> = first.into_iter().chain(rest).collect();
    let swapped_at = match others.as_slice() {
        [LiveEvent::Swapped { stages, pts }] => {
            assert_eq!(stages, &vec![(0, "redact".to_owned())]);
            (*pts / 3000) as usize
        }
        other => panic!("expected one Swapped, got {other:?}"),
    };
    assert!((2..PICTURES).contains(&swapped_at), "{swapped_at}");
    assert_eq!(pictures_of(&frames), (0..PICTURES).collect::<Vec<_>>());
    for (n, frame) in frames.iter().enumerate() {
        let black = frame.plane(Plane::Y)[16 * WIDTH as usize + 16] < 32;
        let white = frame.plane(Plane::Y)[64 * WIDTH as usize + 160] > 224;
        assert_eq!(
            (black, white),
            (n < swapped_at, n >= swapped_at),
            "picture {n}"
        );
    }
    let n = PICTURES as u64;
    assert_eq!(
        (stats.inputs, stats.outputs, stats.dropped_total()),
        (n, n, 0)
    );
}

#[test]
fn a_pipelined_session_stays_split_until_the_keyframe_its_swap_waits_for() {
    const UNITS: usize = 64;
    let Some(units) = access_units(UNITS) else {
        return;
    };
    // The clip's GOP is 60: keyframes at #0 and #60 only.
    let keyframes: Vec<usize> = (0..UNITS).filter(|&n| units[n].keyframe).collect();
    assert_eq!(keyframes, [0, 60]);
    let engine = engine();
    let old = Arc::new(pipeline(
        &engine,
        "decode-h264 alignment=access-unit ! scale width=320 height=180 ! encode-h264 bitrate=300k",
    ));
    let new = Arc::new(
        old.with_stage_replaced(2, &stage_spec("encode-h264 bitrate=200k"))
            .unwrap(),
    );
    // Without fair shares: 1080p pictures on a machine busy with the
    // other tests would be held to a share, which is not this test's.
    let runtime = LiveRuntime::new(LiveConfig {
        fair_share: None,
        ..runtime_config(2)
    })
    .unwrap();
    let owner = Owner::of(&runtime);
    let session = runtime.open_past_admission(&old, 30.0).unwrap();
    wait_split(&session, 2);
    let mut outputs = 0;
    let mut take_outputs = |until: usize| {
        while outputs < until {
            match owner.recv(session.id()) {
                Some(LiveEvent::Output { .. }) => outputs += 1,
                Some(LiveEvent::Failed(error)) => panic!("{error}"),
                Some(LiveEvent::Ended(_)) | None => panic!("the session ended early"),
                Some(_) => {}
            }
        }
    };
    for unit in &units[..5] {
        session.push(unit.clone(), Instant::now());
    }
    take_outputs(2);
    // The swap waits for #60; the GOP before it runs split, as it ran.
    session.swap_pipeline(&new).unwrap();
    for unit in &units[5..60] {
        session.push(unit.clone(), Instant::now());
    }
    take_outputs(60);
    assert_eq!(
        session.parts(),
        2,
        "the session ran whole while its swap waited for a keyframe"
    );
    for unit in &units[60..] {
        session.push(unit.clone(), Instant::now());
    }
    session.finish();
    let (_, others, stats) = drain_packets(&owner, &session);
    match others.as_slice() {
        [LiveEvent::Swapped { stages, pts }] => {
            assert_eq!(stages, &vec![(2, "encode-h264".to_owned())]);
            assert_eq!(
                *pts, units[60].pts,
                "swapped elsewhere than at the keyframe"
            );
        }
        other => panic!("expected one Swapped, got {other:?}"),
    }
    let n = UNITS as u64;
    assert_eq!(
        (stats.inputs, stats.outputs, stats.dropped_total()),
        (n, n, 0)
    );
}

/// [`drain`] for a chain that ends in an encoder: how many outputs, the
/// other events and the counts.
fn drain_packets(owner: &Owner, session: &LiveSession) -> (usize, Vec<LiveEvent>, SessionStats) {
    let mut outputs = 0;
    let mut others = Vec::new();
    while let Some(event) = owner.recv(session.id()) {
        match event {
            LiveEvent::Output { .. } => outputs += 1,
            LiveEvent::Ended(stats) => return (outputs, others, *stats),
            other => others.push(other),
        }
    }
    panic!("no Ended event");
}

#[test]
fn pipelined_sessions_on_different_workers_never_share_an_instance() {
    const PICTURES: usize = 40;
    let engine = engine();
    // `remember` keeps the first picture's first sample in its instance's
    // memory and writes it into every later picture: a session whose part
    // ran in another session's instance shows the other's value.
    let chain = Arc::new(pipeline(
        &engine,
        "test-stage behaviour=remember ! test-stage behaviour=roundtrip ! test-stage behaviour=remember",
    ));
    let runtime = runtime(2);
    let owner = Owner::of(&runtime);
    let lumas = [40u8, 90, 140, 190];
    let sessions: Vec<LiveSession> = lumas
        .iter()
        .map(|_| runtime.open_past_admission(&chain, 30.0).unwrap())
        .collect();
    for session in &sessions {
        wait_split(session, 2);
    }
    // Interleaved, so every worker runs parts of every session.
    for n in 0..PICTURES {
        for (session, luma) in sessions.iter().zip(lumas) {
            // Only the first picture carries the session's value.
            let luma = if n == 0 { luma } else { 7 };
            session.push_media(picture(n, luma), Instant::now());
        }
    }
    for session in &sessions {
        session.finish();
    }
    for (session, luma) in sessions.iter().zip(lumas) {
        let (frames, others, stats) = drain(&owner, session);
        assert!(others.is_empty(), "{others:?}");
        assert_eq!(pictures_of(&frames), (0..PICTURES).collect::<Vec<_>>());
        for frame in &frames {
            assert_eq!(
                frame.plane(Plane::Y)[0],
                luma,
                "picture {}",
                frame.pts / 3000
            );
        }
        assert_eq!(stats.outputs, PICTURES as u64);
    }
}

#[test]
fn only_a_session_dearer_than_its_budget_is_split_once_warm() {
    let engine = engine();
    // 45 ms a picture at 30 fps: past 0.75 of its 33 ms interval. The same
    // kind of chain at 1 fps has 750 ms: it stays whole.
    let dear = Arc::new(pipeline(&engine, "test-stage behaviour=burn ! test-stage"));
    let cheap = Arc::new(pipeline(&engine, "test-stage ! test-stage"));
    let runtime = LiveRuntime::new(LiveConfig {
        workers: 2,
        queue_depth: 1000,
        max_wait: Duration::from_secs(600),
        event_depth: 1000,
        // The suggested setting (off by default).
        pipeline_above: Some(0.75),
        // Fair shares on, as served: the dear session (1.35 workers, its
        // 24 pictures queued at once) may be split, so its share counts
        // the room the cheap one leaves, and its backlog counts at its
        // frame rate: it is split, not throttled.
        ..LiveConfig::default()
    })
    .unwrap();
    let owner = Owner::of(&runtime);
    let heavy = runtime.open_past_admission(&dear, 30.0).unwrap();
    let light = runtime.open_past_admission(&cheap, 1.0).unwrap();
    const PICTURES: usize = 24;
    for n in 0..PICTURES {
        heavy.push_media(picture(n, 60), Instant::now());
        light.push_media(picture(n, 60), Instant::now());
    }
    // Whole for its first pictures (they are measured), then split.
    wait_split(&heavy, 2);
    let light_frames: Vec<Frame> = (0..PICTURES)
        .map(|_| match owner.recv(light.id()) {
            Some(LiveEvent::Output { media, .. }) => media.into_frame().unwrap(),
            other => panic!("expected an output, got {other:?}"),
        })
        .collect();
    assert_eq!(light.parts(), 1, "a cheap session stays whole");
    assert_eq!(
        pictures_of(&light_frames),
        (0..PICTURES).collect::<Vec<_>>()
    );
    heavy.finish();
    light.finish();
    let (frames, others, stats) = drain(&owner, &heavy);
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(pictures_of(&frames), (0..PICTURES).collect::<Vec<_>>());
    let n = PICTURES as u64;
    assert_eq!(
        (stats.inputs, stats.outputs, stats.dropped_total()),
        (n, n, 0)
    );
    let (_, _, stats) = drain(&owner, &light);
    assert_eq!(stats.outputs, n);
}
