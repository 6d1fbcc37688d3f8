//! The live side: control events through real stages (keyframe requests,
//! bitrate changes, a decoder asking for a keyframe), and the live runtime
//! (one access unit at a time, backpressure, admission, async owners).

use std::sync::Arc;
use std::time::{Duration, Instant};

use framechain::live::{
    LATE_DROP, LiveConfig, LiveEvent, LiveRuntime, LiveSession, RECEIVER_BEHIND_DROP,
};
use framechain::{Busy, Error, Frame, Media, Plane, SessionEvent, SessionStats, StageFailure};

use crate::h264::{encode_requesting_keyframes, keyframes, test_frame};
use crate::support::{Owner, access_units, engine, flat_frame, pipeline};

#[test]
fn parse_h264_cuts_one_access_unit_per_packet_with_keyframes_marked() {
    let Some(units) = access_units(121) else {
        return;
    };
    let keys: Vec<usize> = (0..units.len()).filter(|&n| units[n].keyframe).collect();
    assert_eq!(keys, vec![0, 60, 120], "GOP 60: IDR pictures at 0, 60, 120");
    // Each starts with a start code and holds one picture: the decoder,
    // told so, gives one frame per packet with no delay.
    let engine = engine();
    let decoder = pipeline(&engine, "decode-h264 alignment=access-unit");
    let mut session = decoder.start_session().unwrap();
    for (n, unit) in units.iter().enumerate() {
        assert!(unit.data.starts_with(&[0, 0, 1]) || unit.data.starts_with(&[0, 0, 0, 1]));
        let out = session.push(Media::Packet(unit.clone())).unwrap();
        assert_eq!(out.len(), 1, "access unit {n} gives its picture at once");
    }
    assert!(session.flush().unwrap().is_empty());
}

#[test]
fn keyframe_request_makes_the_next_picture_an_idr() {
    let engine = engine();
    for accel in ["none", "native"] {
        let encoder = pipeline(
            &engine,
            &format!("encode-h264 bitrate=1000k gop=100 accel={accel}"),
        );
        let frames: Vec<Frame> = (0..20).map(|n| test_frame(320, 180, n)).collect();
        let (_, packets) = encode_requesting_keyframes(&encoder, frames.clone(), &[7, 13]);
        assert_eq!(keyframes(&packets), vec![0, 7, 13], "accel={accel}");
        // Without requests, only the first.
        let (_, packets) = encode_requesting_keyframes(&encoder, frames, &[]);
        assert_eq!(keyframes(&packets), vec![0], "accel={accel}");
    }
}

/// The moving test picture with film grain: detail the encoder spends
/// every bit it is allowed on, and can also code coarsely.
fn grainy_frame(n: u32) -> Frame {
    let mut frame = test_frame(320, 180, n);
    let mut state = u64::from(n) * 0x9E37_79B9_7F4A_7C15 + 1;
    for sample in frame.plane_mut(Plane::Y) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *sample = sample.saturating_add((state % 24) as u8).min(235);
    }
    frame
}

#[test]
fn bitrate_change_takes_effect() {
    let engine = engine();
    for accel in ["none", "native"] {
        let encoder = pipeline(
            &engine,
            &format!("encode-h264 bitrate=2000k gop=1000 accel={accel}"),
        );
        let mut session = encoder.start_session().unwrap();
        let mut bytes = [0usize; 2];
        for n in 0..120 {
            if n == 60 {
                session.set_bitrate(200_000).unwrap();
            }
            for media in session.push(Media::Frame(grainy_frame(n))).unwrap() {
                // Skip the first second of each half: rate control settles.
                if n % 60 >= 30 {
                    bytes[(n / 60) as usize] += media.into_packet().unwrap().data.len();
                }
            }
        }
        // One second at 2 Mbit/s is ~250 kB, at 200 kbit/s ~25 kB.
        assert!(
            bytes[1] * 3 < bytes[0],
            "accel={accel}: {} bytes/s before, {} after the change to 200k",
            bytes[0],
            bytes[1]
        );
    }
}

#[test]
fn decoder_missing_references_asks_for_a_keyframe_and_recovers() {
    let Some(units) = access_units(121) else {
        return;
    };
    let engine = engine();
    let chain = pipeline(
        &engine,
        "decode-h264 alignment=access-unit error-concealment=false ! scale width=320 height=180",
    );
    let mut session = chain.start_session().unwrap();
    let mut out = 0;
    let mut asked = Vec::new();
    // Pictures 10..=14 are lost on the way: 15..59 miss their references.
    for (n, unit) in units.iter().enumerate() {
        if (10..15).contains(&n) {
            continue;
        }
        out += session.push(Media::Packet(unit.clone())).unwrap().len();
        for event in session.take_events() {
            assert_eq!(
                event,
                SessionEvent::KeyframeNeeded {
                    stage: "decode-h264".into()
                }
            );
            asked.push(n);
        }
    }
    let memory = session.memory();
    assert!(
        memory.linear > 0 && memory.total() >= memory.linear,
        "{memory:?}"
    );
    out += session.flush().unwrap().len();
    assert_eq!(asked, vec![15], "asked once, at the first broken picture");
    let stats = session.stats();
    let decode = &stats.stages[0];
    assert_eq!(decode.inputs, 116);
    assert_eq!(
        decode.outputs + decode.dropped_total(),
        116,
        "every access unit is a picture or a drop: {:?}",
        decode.dropped
    );
    // 0..10 and 60..121 come out; some of 15..60 may not.
    assert!(out >= 10 + 61, "{out} pictures");
    assert!(decode.dropped_total() > 0, "broken pictures are reported");
}

/// Waits for a session's events up to `Ended`.
fn drain(owner: &Owner, session: &LiveSession) -> (Vec<Media>, Vec<LiveEvent>, SessionStats) {
    let mut outputs = Vec::new();
    let mut others = Vec::new();
    while let Some(event) = owner.recv(session.id()) {
        match event {
            LiveEvent::Output { media, .. } => outputs.push(media),
            LiveEvent::Ended(stats) => return (outputs, others, *stats),
            other => others.push(other),
        }
    }
    panic!("no Ended event");
}

/// A runtime whose sessions count as behind by queue length only: how long
/// an access unit waits depends on the test machine's load.
fn runtime(workers: usize, queue_depth: usize) -> LiveRuntime {
    LiveRuntime::new(LiveConfig {
        workers,
        queue_depth,
        max_wait: Duration::from_secs(60),
        ..LiveConfig::default()
    })
    .unwrap()
}

#[test]
fn live_session_decodes_each_access_unit_as_it_arrives() {
    let Some(units) = access_units(30) else {
        return;
    };
    let engine = engine();
    let chain = Arc::new(pipeline(
        &engine,
        "decode-h264 alignment=access-unit ! scale width=640 height=360 ! encode-h264 bitrate=800k",
    ));
    // Room for all 30: a loaded test machine may fall behind, and this
    // test is about the path, not the backpressure (tested below).
    let runtime = runtime(2, 30);
    let owner = Owner::of(&runtime);
    let session = runtime.open(&chain, 30.0).unwrap();
    let start = Instant::now();
    for (n, unit) in units.into_iter().enumerate() {
        let due = start + Duration::from_millis(n as u64 * 1000 / 30);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        session.push(unit, Instant::now());
    }
    session.finish();
    let (outputs, _, stats) = drain(&owner, &session);
    assert_eq!(stats.inputs, 30);
    assert_eq!(outputs.len(), 30, "{:?}", stats.dropped());
    assert!(outputs.iter().all(|m| matches!(m, Media::Packet(_))));
    assert_eq!(stats.arrival_latency.count(), outputs.len() as u64);
    assert!(stats.arrival_latency.max() > Duration::ZERO);
    // Three stages with their codecs' memories: more than a 1080p picture,
    // within what the limits allow (3 x (256 MiB linear + 256 MiB host)).
    assert!(
        stats.peak_memory_bytes > 1920 * 1080 * 3 / 2 && stats.peak_memory_bytes < 3 * (512 << 20),
        "{} bytes",
        stats.peak_memory_bytes
    );
    drop(session);
    assert_eq!(runtime.sessions(), 0, "an ended session leaves the runtime");
}

#[test]
fn falling_behind_drops_whole_pictures_up_to_the_next_keyframe() {
    let Some(units) = access_units(100) else {
        return;
    };
    let engine = engine();
    let chain = Arc::new(pipeline(&engine, "decode-h264 alignment=access-unit"));
    let runtime = runtime(1, 3);
    let owner = Owner::of(&runtime);
    let session = runtime.open(&chain, 30.0).unwrap();
    // All 100 at once: far more than the session can take ahead.
    let arrival = Instant::now();
    for unit in &units {
        session.push(unit.clone(), arrival);
    }
    session.finish();
    let (outputs, events, stats) = drain(&owner, &session);
    let late = stats.session_drops.get(LATE_DROP).copied().unwrap_or(0);
    assert_eq!(stats.inputs, 100, "late drops count as inputs");
    assert_eq!(
        outputs.len() as u64 + stats.dropped_total(),
        100,
        "every access unit comes out or is counted: {:?}",
        stats.dropped()
    );
    assert!(late >= 50, "{late} late");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LiveEvent::KeyframeNeeded))
    );
    assert!(events.iter().any(
        |e| matches!(e, LiveEvent::Dropped { reason, count } if reason == "session: late" && *count > 0)
    ));
    // Whole pictures were skipped: the decoder never saw a picture without
    // its references, and the keyframe at 60 was kept.
    let decode = &stats.stages[0];
    assert_eq!(decode.dropped_total(), 0, "{:?}", decode.dropped);
    let pts: Vec<i64> = outputs.iter().map(Media::pts).collect();
    assert!(
        pts.contains(&(60 * 3000)),
        "the keyframe at 60 came through: {pts:?}"
    );
}

#[test]
fn a_session_behind_keeps_at_most_its_queue_and_restarts_at_a_keyframe() {
    let Some(units) = access_units(100) else {
        return;
    };
    // One worker, held by a stage that sleeps until its time limit: the
    // second session takes all 100 access units while it cannot run.
    let engine = crate::support::engine_with(64 << 20, Duration::from_millis(400));
    let sleepy = Arc::new(pipeline(&engine, "test-stage behaviour=sleep"));
    let decoder = Arc::new(pipeline(&engine, "decode-h264 alignment=access-unit"));
    let runtime = LiveRuntime::new(LiveConfig {
        workers: 1,
        queue_depth: 3,
        max_wait: Duration::from_millis(150),
        ..LiveConfig::default()
    })
    .unwrap();
    let owner = Owner::of(&runtime);
    let blocker = runtime.open(&sleepy, 30.0).unwrap();
    blocker.push_media(Media::Frame(flat_frame(64, 36, 50, 0)), Instant::now());
    std::thread::sleep(Duration::from_millis(100));
    let session = runtime.open(&decoder, 30.0).unwrap();
    for unit in &units {
        session.push(unit.clone(), Instant::now());
    }
    session.finish();
    let (outputs, _, stats) = drain(&owner, &session);
    // 0, 1, 2 wait; 3..59 are dropped (no keyframe); 60 replaces 0, 1, 2;
    // 61, 62 wait; 63..99 are dropped. When the worker is free, 60 is
    // kept though it waited past max_wait (a keyframe restarts the
    // stream); 61 and 62 have waited too long and are dropped.
    let pts: Vec<i64> = outputs.iter().map(|m| m.pts() / 3000).collect();
    assert_eq!(pts, vec![60]);
    assert_eq!(stats.session_drops.get(LATE_DROP), Some(&99));
    assert_eq!(stats.inputs, 100);
    blocker.finish();
    drain(&owner, &blocker);
}

/// A browser's encoder sends a keyframe only when asked, so one request
/// lost or rate-limited away must not leave a session skipping for good:
/// every picture skipped asks again.
#[test]
fn a_session_waiting_for_a_keyframe_asks_again_with_every_picture_it_skips() {
    let Some(units) = access_units(12) else {
        return;
    };
    // The only worker is held by a sleeping stage, so the decoder's
    // session cannot run and falls behind after three access units.
    let engine = crate::support::engine_with(64 << 20, Duration::from_millis(400));
    let sleepy = Arc::new(pipeline(&engine, "test-stage behaviour=sleep"));
    let decoder = Arc::new(pipeline(&engine, "decode-h264 alignment=access-unit"));
    let runtime = runtime(1, 3);
    let owner = Owner::of(&runtime);
    let blocker = runtime.open(&sleepy, 30.0).unwrap();
    blocker.push_media(Media::Frame(flat_frame(64, 36, 50, 0)), Instant::now());
    let session = runtime.open(&decoder, 30.0).unwrap();
    let asks = |session: &LiveSession| {
        std::iter::from_fn(|| owner.try_recv(session.id()))
            .filter(|event| matches!(event, LiveEvent::KeyframeNeeded))
            .count()
    };
    for unit in &units[..4] {
        session.push(unit.clone(), Instant::now());
    }
    assert_eq!(
        asks(&session),
        1,
        "the fourth access unit found the queue full"
    );
    // Access units 4..12 are not keyframes (the clip has one every 60).
    for unit in &units[4..] {
        assert!(!unit.keyframe);
        session.push(unit.clone(), Instant::now());
        assert_eq!(asks(&session), 1, "skipped at pts {}", unit.pts);
    }
    session.finish();
    let (_, _, stats) = drain(&owner, &session);
    assert_eq!(stats.session_drops.get(LATE_DROP), Some(&9));
    blocker.finish();
    drain(&owner, &blocker);
}

#[test]
fn owners_hear_when_the_runtime_shuts_down() {
    let engine = engine();
    let chain = Arc::new(pipeline(&engine, "scale width=32 height=18"));
    let runtime = runtime(1, 3);
    let owner = Owner::of(&runtime);
    let session = runtime.open(&chain, 30.0).unwrap();
    session.push_media(Media::Frame(flat_frame(64, 36, 50, 0)), Instant::now());
    drop(runtime);
    // Whatever ran before, the owner is told and nothing blocks for ever.
    let (_, events, _) = drain(&owner, &session);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LiveEvent::Failed(Error::Runtime(reason)) if reason.contains("shut down"))),
        "{events:?}"
    );
}

#[test]
fn admission_refuses_with_a_typed_error() {
    let engine = engine();
    let chain = Arc::new(pipeline(&engine, "scale width=64 height=36"));
    let runtime = LiveRuntime::new(LiveConfig {
        workers: 1,
        max_sessions: 2,
        ..LiveConfig::default()
    })
    .unwrap();
    let owner = Owner::of(&runtime);
    let first = runtime.open(&chain, 30.0).unwrap();
    let _second = runtime.open(&chain, 30.0).unwrap();
    match runtime.open(&chain, 30.0) {
        Err(Error::Busy(Busy::Sessions { open: 2, max: 2 })) => {}
        other => panic!("expected busy, got {:?}", other.map(|_| ())),
    }
    first.finish();
    drain(&owner, &first);
    runtime
        .open(&chain, 30.0)
        .expect("room again after one ended");
}

#[test]
fn many_sessions_share_the_workers_and_each_gets_its_own_frames() {
    let engine = engine();
    let chain = Arc::new(pipeline(&engine, "scale width=32 height=18"));
    let runtime = runtime(2, 64);
    let owner = Owner::of(&runtime);
    let sessions: Vec<LiveSession> = (0..24)
        .map(|_| runtime.open(&chain, 30.0).unwrap())
        .collect();
    for (index, session) in sessions.iter().enumerate() {
        for n in 0..20 {
            let frame = flat_frame(64, 36, 16 + index as u8, n);
            session.push_media(Media::Frame(frame), Instant::now());
        }
        session.finish();
    }
    for (index, session) in sessions.iter().enumerate() {
        let (outputs, _, stats) = drain(&owner, session);
        assert_eq!(outputs.len(), 20, "session {index}: {:?}", stats.dropped());
        for (n, media) in outputs.into_iter().enumerate() {
            let frame = media.into_frame().unwrap();
            assert_eq!(frame.pts, n as i64);
            assert!(
                frame.plane(Plane::Y).iter().all(|&y| y == 16 + index as u8),
                "session {index} got another session's picture"
            );
        }
    }
}

#[test]
fn async_owners_never_run_stage_code_on_their_executor() {
    // A stage that sleeps waits in WASI; on a tokio worker that used to
    // panic in wasmtime-wasi's block_on. Here it runs on the runtime's own
    // workers and is stopped by its time limit like any other.
    let engine = crate::support::engine_with(64 << 20, Duration::from_millis(200));
    let sleepy = Arc::new(pipeline(&engine, "test-stage behaviour=sleep"));
    let healthy = Arc::new(pipeline(&engine, "scale width=32 height=18"));
    // Room for the whole burst: this is not about backpressure.
    let runtime = runtime(2, 16);
    let events = runtime.events().unwrap();
    let executor = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    executor.block_on(async {
        let bad = runtime.open(&sleepy, 30.0).unwrap();
        let good = runtime.open(&healthy, 30.0).unwrap();
        bad.push_media(Media::Frame(flat_frame(64, 36, 50, 0)), Instant::now());
        for n in 0..10 {
            good.push_media(Media::Frame(flat_frame(64, 36, 50, n)), Instant::now());
        }
        good.finish();
        bad.finish();
        // One receiver for both: route by session id, as a server does.
        let (mut failure, mut frames, mut ended) = (None, 0, 0);
        while let Some((id, event)) = events.next().await {
            match event {
                LiveEvent::Failed(Error::StageFailed { failure: f, .. }) if id == bad.id() => {
                    failure = Some(f)
                }
                LiveEvent::Output { .. } if id == good.id() => frames += 1,
                LiveEvent::Ended(_) => {
                    ended += 1;
                    if ended == 2 {
                        break;
                    }
                }
                _ => {}
            }
        }
        assert!(
            matches!(failure, Some(StageFailure::TimeLimit(_))),
            "{failure:?}"
        );
        assert_eq!(frames, 10);
    });
}

/// Waits (at most 10 s) until every session of `runtime` has ended.
fn wait_all_ended(runtime: &LiveRuntime) {
    let until = Instant::now() + Duration::from_secs(10);
    while runtime.sessions() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(runtime.sessions(), 0, "the sessions did not end in 10 s");
}

#[test]
fn an_owner_that_does_not_read_loses_counted_outputs_per_session_never_the_end() {
    let engine = engine();
    let chain = Arc::new(pipeline(&engine, "scale width=32 height=18"));
    let runtime = LiveRuntime::new(LiveConfig {
        workers: 1,
        queue_depth: 64,
        max_wait: Duration::from_secs(60),
        event_depth: 4,
        ..LiveConfig::default()
    })
    .unwrap();
    let owner = Owner::of(&runtime);
    let (flood, quiet) = (
        runtime.open(&chain, 30.0).unwrap(),
        runtime.open(&chain, 30.0).unwrap(),
    );
    for n in 0..20 {
        flood.push_media(Media::Frame(flat_frame(64, 36, 50, n)), Instant::now());
    }
    for n in 0..3 {
        quiet.push_media(Media::Frame(flat_frame(64, 36, 60, n)), Instant::now());
    }
    flood.finish();
    quiet.finish();
    // Nobody reads until both have ended: every event waits meanwhile.
    wait_all_ended(&runtime);
    let (outputs, _, stats) = drain(&owner, &flood);
    assert_eq!(
        outputs.len(),
        4,
        "the session's bound: {:?}",
        stats.dropped()
    );
    assert_eq!(stats.session_drops.get(RECEIVER_BEHIND_DROP), Some(&16));
    assert_eq!(runtime.receiver_behind_drops(), 16, "counted runtime-wide");
    // Another session's room is its own.
    let (outputs, _, stats) = drain(&owner, &quiet);
    assert_eq!(outputs.len(), 3, "{:?}", stats.dropped());
}

#[test]
fn a_dropped_handle_still_ends_through_the_receiver() {
    let engine = engine();
    let chain = Arc::new(pipeline(&engine, "scale width=32 height=18"));
    let runtime = runtime(1, 8);
    let events = runtime.events().unwrap();
    assert!(runtime.events().is_none(), "one receiver per runtime");
    let session = runtime.open(&chain, 30.0).unwrap();
    let id = session.id();
    session.push_media(Media::Frame(flat_frame(64, 36, 50, 0)), Instant::now());
    drop(session);
    let ended = std::iter::from_fn(|| events.recv())
        .find(|(_, event)| matches!(event, LiveEvent::Ended(_)));
    assert_eq!(ended.map(|(session, _)| session), Some(id));
    drop(runtime);
    assert!(
        events.recv().is_none(),
        "the receiver ends with its runtime"
    );
}
