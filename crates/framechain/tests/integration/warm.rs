//! Warm starts (issue 20): spare sessions made ahead per pipeline, and the
//! codecs' `expect-size`, which makes a first picture's memory ready at
//! create. Functional, not timed: the same output as a cold start, a spare
//! for one session only, nothing of a session ever going back to the
//! spares, and spares bounded and dropped when their pipeline is unused.
//! How much they save is measured by `live coldstart` and `live one`
//! (docs/performance.md, "Warm starts").

use std::sync::Arc;
use std::time::{Duration, Instant};

use framechain::live::{LiveConfig, LiveEvent, LiveRuntime, LiveSession};
use framechain::{Media, Packet};

use crate::support::{Owner, access_units, engine, flat_frame, pipeline, stage_spec};

/// A runtime keeping `spares` spares per pipeline, dropped after `idle`;
/// sessions behind only by queue length, without fair shares: these tests
/// push whole streams at once.
fn runtime(spares: usize, idle: Duration) -> LiveRuntime {
    LiveRuntime::new(LiveConfig {
        workers: 2,
        queue_depth: 64,
        max_wait: Duration::from_secs(600),
        fair_share: None,
        spares,
        spare_idle: idle,
        ..LiveConfig::default()
    })
    .unwrap()
}

/// Waits (at most 30 s) until `runtime` holds `count` spares.
fn wait_spares(runtime: &LiveRuntime, count: usize) {
    let until = Instant::now() + Duration::from_secs(30);
    while runtime.spares() != count {
        assert!(
            Instant::now() < until,
            "{} spares after 30 s, expected {count}",
            runtime.spares()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Pushes `media` into `session`, finishes it and returns the bytes of
/// every output (encoded access units) and whether it failed.
fn run(owner: &Owner, session: &LiveSession, media: Vec<Media>) -> (Vec<Vec<u8>>, Option<String>) {
    for item in media {
        session.push_media(item, Instant::now());
    }
    session.finish();
    let mut outputs = Vec::new();
    let mut failed = None;
    while let Some(event) = owner.recv(session.id()) {
        match event {
            LiveEvent::Output { media, .. } => match media {
                Media::Packet(packet) => outputs.push(packet.data),
                Media::Frame(_) => panic!("the chains here end in an encoder"),
            },
            LiveEvent::Failed(error) => failed = Some(error.to_string()),
            LiveEvent::Ended(_) => return (outputs, failed),
            _ => {}
        }
    }
    panic!("no Ended event");
}

fn packets(units: &[Packet]) -> Vec<Media> {
    units.iter().cloned().map(Media::Packet).collect()
}

/// Pictures for the raw chains: flat, brightening, 64x64.
fn frames(count: i64) -> Vec<Media> {
    (0..count)
        .map(|n| Media::Frame(flat_frame(64, 64, 40 + n as u8 * 3, n * 3000)))
        .collect()
}

#[test]
fn expect_size_changes_no_output_byte() {
    let Some(units) = access_units(20) else {
        return;
    };
    let engine = engine();
    let outputs = |launch: &str| {
        let mut session = pipeline(&engine, launch).start_session().unwrap();
        let mut out = Vec::new();
        for unit in &units {
            for media in session.push(Media::Packet(unit.clone())).unwrap() {
                out.push(media.into_packet().unwrap().data);
            }
        }
        out
    };
    let cold = outputs(
        "decode-h264 alignment=access-unit ! scale width=640 height=360 ! encode-h264 bitrate=800k",
    );
    let warm = outputs(
        "decode-h264 alignment=access-unit expect-size=1920x1080 ! scale width=640 height=360 ! encode-h264 bitrate=800k expect-size=640x360",
    );
    assert_eq!(cold.len(), 20);
    assert!(cold == warm, "the encoded stream differs with expect-size");
    // A size other than the one expected is encoded as well: the encoder
    // opened at create is replaced, as at any change of size.
    let other = outputs(
        "decode-h264 alignment=access-unit expect-size=1280x720 ! scale width=640 height=360 ! encode-h264 bitrate=800k expect-size=1280x720",
    );
    assert!(cold == other, "a wrong expected size changes the stream");
}

#[test]
fn a_session_from_a_spare_gives_the_same_output_as_a_cold_one() {
    let Some(units) = access_units(30) else {
        return;
    };
    let engine = engine();
    let chain = Arc::new(pipeline(
        &engine,
        "decode-h264 alignment=access-unit expect-size=1920x1080 ! scale width=640 height=360 ! encode-h264 bitrate=800k expect-size=640x360",
    ));
    let runtime = runtime(1, Duration::from_secs(60));
    let owner = Owner::of(&runtime);
    let cold = runtime.open(&chain, 30.0).unwrap();
    assert!(!cold.started_from_spare(), "nothing was opened before it");
    let (cold_out, failed) = run(&owner, &cold, packets(&units));
    assert_eq!(failed, None);
    assert_eq!(cold_out.len(), 30);
    // The first session's opening asked for a spare.
    wait_spares(&runtime, 1);
    let warm = runtime.open(&chain, 30.0).unwrap();
    assert!(warm.started_from_spare());
    let (warm_out, failed) = run(&owner, &warm, packets(&units));
    assert_eq!(failed, None);
    assert!(
        warm_out == cold_out,
        "a spare's session encoded another stream ({} access units)",
        warm_out.len()
    );
}

#[test]
fn spares_are_bounded_per_pipeline_and_dropped_when_it_is_unused() {
    let engine = engine();
    let chain = Arc::new(pipeline(&engine, "scale width=32 height=32 ! encode-h264"));
    let other = Arc::new(pipeline(&engine, "scale width=48 height=48 ! encode-h264"));
    let idle = Duration::from_millis(600);
    let runtime = runtime(2, idle);
    let owner = Owner::of(&runtime);
    let mut warm = 0;
    let mut opened = Vec::new();
    for _ in 0..6 {
        let session = runtime.open(&chain, 30.0).unwrap();
        warm += usize::from(session.started_from_spare());
        assert!(runtime.spares() <= 2, "{} spares", runtime.spares());
        opened.push(session);
        std::thread::sleep(Duration::from_millis(20));
        assert!(runtime.spares() <= 2, "{} spares", runtime.spares());
    }
    wait_spares(&runtime, 2);
    // Another pipeline has spares of its own, within its own bound.
    let session = runtime.open(&other, 30.0).unwrap();
    opened.push(session);
    wait_spares(&runtime, 4);
    assert!(warm >= 1, "no session of six started from a spare");
    for session in &opened {
        let (outputs, failed) = run(&owner, session, frames(2));
        assert_eq!((outputs.len(), failed), (2, None));
    }
    // Nothing opened for `idle`: every spare goes, with its memory.
    let quiet = Instant::now();
    wait_spares(&runtime, 0);
    assert!(quiet.elapsed() < idle * 4);
    // A pipeline nobody holds any more gets none either.
    let gone = Arc::new(pipeline(&engine, "scale width=16 height=16 ! encode-h264"));
    let session = runtime.open(&gone, 30.0).unwrap();
    drop(session);
    drop(gone);
    wait_spares(&runtime, 0);
}

#[test]
fn a_pipeline_kept_warm_has_a_spare_before_its_first_session_and_while_none_opens() {
    let engine = engine();
    let chain = Arc::new(pipeline(&engine, "scale width=32 height=32 ! encode-h264"));
    let idle = Duration::from_millis(300);
    let runtime = runtime(1, idle);
    let owner = Owner::of(&runtime);
    assert!(runtime.keep_warm(&chain));
    wait_spares(&runtime, 1);
    // Long past `idle` with no session opened: the spare stays.
    std::thread::sleep(idle * 4);
    assert_eq!(
        runtime.spares(),
        1,
        "the spare of a pipeline kept warm went"
    );
    let session = runtime.open(&chain, 30.0).unwrap();
    assert!(
        session.started_from_spare(),
        "the first session started cold"
    );
    let (outputs, failed) = run(&owner, &session, frames(2));
    assert_eq!((outputs.len(), failed), (2, None));
    wait_spares(&runtime, 1);
    // The pipeline dropped, its spares go with it.
    drop(session);
    drop(chain);
    wait_spares(&runtime, 0);
    // Without spares there is nothing to keep warm.
    let cold = self::runtime(0, idle);
    let other = Arc::new(pipeline(&engine, "scale width=16 height=16 ! encode-h264"));
    assert!(!cold.keep_warm(&other));
    assert_eq!(cold.spares(), 0);
}

#[test]
fn failed_and_swapped_sessions_leave_nothing_of_theirs_to_the_spares() {
    let engine = engine();
    // Pictures of at most 64x64: a bigger one fails the session.
    let chain = Arc::new(
        pipeline(
            &engine,
            "scale width=64 height=64 ! encode-h264 bitrate=300k",
        )
        .with_max_picture(Some(64), Some(64)),
    );
    let runtime = runtime(1, Duration::from_secs(60));
    let owner = Owner::of(&runtime);
    // The reference: a cold session of the same pipeline.
    let reference = runtime.open(&chain, 30.0).unwrap();
    let (expected, failed) = run(&owner, &reference, frames(12));
    assert_eq!((expected.len(), failed), (12, None));
    wait_spares(&runtime, 1);

    // A session that encodes a few pictures and then fails.
    let failing = runtime.open(&chain, 30.0).unwrap();
    let mut media = frames(5);
    media.push(Media::Frame(flat_frame(128, 128, 90, 20_000)));
    let (_, failed) = run(&owner, &failing, media);
    let failed = failed.expect("the 128x128 picture fails the session");
    assert!(failed.contains("128x128"), "{failed}");
    // A session whose encoder is swapped for another bitrate mid-stream.
    wait_spares(&runtime, 1);
    let swapping = runtime.open(&chain, 30.0).unwrap();
    let swapped_to = Arc::new(
        chain
            .with_stage_replaced(1, &stage_spec("encode-h264 bitrate=200k"))
            .unwrap(),
    );
    for item in frames(4) {
        swapping.push_media(item, Instant::now());
    }
    swapping.swap_pipeline(&swapped_to).unwrap();
    let (outputs, failed) = run(&owner, &swapping, frames(4));
    assert_eq!((outputs.len(), failed), (8, None));

    // Every later session starts from a fresh spare, never from what a
    // session used: each encodes exactly what the cold one did.
    for _ in 0..3 {
        wait_spares(&runtime, 1);
        let session = runtime.open(&chain, 30.0).unwrap();
        assert!(session.started_from_spare());
        let (outputs, failed) = run(&owner, &session, frames(12));
        assert_eq!(failed, None);
        assert!(
            outputs == expected,
            "a spare carried another session's state"
        );
        assert!(runtime.spares() <= 1);
    }
}

#[test]
fn a_swap_takes_instances_made_ahead_and_encodes_as_one_made_at_its_keyframe() {
    let engine = engine();
    let chain = Arc::new(pipeline(
        &engine,
        "scale width=64 height=64 ! encode-h264 bitrate=300k",
    ));
    let to = |launch: &str| Arc::new(chain.with_stage_replaced(1, &stage_spec(launch)).unwrap());
    let (first, second) = (
        to("encode-h264 rc=off qp=12"),
        to("encode-h264 rc=off qp=44"),
    );
    // Four pictures through the old encoder, then the swaps asked for,
    // then four more: what comes out and how many swaps took instances
    // made ahead.
    let swapped = |spares: usize, swaps: &[&Arc<framechain::Pipeline>]| {
        let runtime = runtime(spares, Duration::from_secs(60));
        let owner = Owner::of(&runtime);
        let session = runtime.open(&chain, 30.0).unwrap();
        let mut pictures = frames(8);
        let later = pictures.split_off(4);
        for item in pictures {
            session.push_media(item, Instant::now());
        }
        let mut outputs = Vec::new();
        while outputs.len() < 4 {
            match owner.recv(session.id()) {
                Some(LiveEvent::Output { media, .. }) => {
                    outputs.push(media.into_packet().unwrap().data);
                }
                Some(LiveEvent::Failed(error)) => panic!("{error}"),
                Some(_) => {}
                None => panic!("the session ended early"),
            }
        }
        for to in swaps {
            session.swap_pipeline(to).unwrap();
            if spares > 0 {
                // The spares thread makes them; the worker is idle.
                let until = Instant::now() + Duration::from_secs(30);
                while !session.swap_ready() {
                    assert!(Instant::now() < until, "no instances made ahead in 30 s");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        let (rest, failed) = run(&owner, &session, later);
        assert_eq!(failed, None);
        outputs.extend(rest);
        (outputs, session.swaps_made_ahead())
    };
    // The reference: no spares thread, so the instances are made on the
    // worker at the keyframe.
    let (at_keyframe, made_ahead) = swapped(0, &[&second]);
    assert_eq!((at_keyframe.len(), made_ahead), (8, 0));
    // A swap replaced before its keyframe: the instances made for it are
    // dropped, and the one made is made with fresh instances of its own
    // (those of the first would encode at qp 12).
    let (ahead, made_ahead) = swapped(1, &[&first, &second]);
    assert_eq!(made_ahead, 1, "the swap made its instances at the keyframe");
    assert!(
        ahead == at_keyframe,
        "instances made ahead encoded another stream"
    );
}
