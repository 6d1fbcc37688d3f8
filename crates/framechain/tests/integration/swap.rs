//! Swapping a stage in running live sessions: at the next keyframe,
//! without losing a picture; a swap that cannot be made keeps the old
//! stage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use framechain::live::{LiveConfig, LiveEvent, LiveRuntime, LiveSession};
use framechain::{Engine, EngineConfig, Error, Frame, Media, Packet, Plane, SessionStats};

use crate::h264::test_frame;
use crate::support::{Owner, config, engine, pipeline, stage_spec};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 180;
/// Pictures per stream, and the distance between IDR pictures.
const PICTURES: usize = 40;
const GOP: usize = 10;
/// The old policy: a black box at the top left.
const OLD: &str = "redact rect=16,16,64,64 mode=fill color=black";
/// The new policy: a white box elsewhere.
const NEW: &str = "redact rect=160,64,64,64 mode=fill color=white";
const OLD_AREA: (u32, u32) = (16, 16);
const NEW_AREA: (u32, u32) = (160, 64);

/// A 320x180 stream of moving pictures with an IDR picture every
/// [`GOP`], one access unit per packet with its keyframe flag, as an RTP
/// depacketizer gives them.
fn stream(engine: &Engine) -> Vec<Packet> {
    let encoder = pipeline(
        engine,
        &format!("encode-h264 bitrate=800k gop={GOP} accel=none"),
    );
    let mut session = encoder.start_session().unwrap();
    let mut packets = Vec::new();
    for n in 0..PICTURES as u32 {
        for media in session
            .push(Media::Frame(test_frame(WIDTH, HEIGHT, n)))
            .unwrap()
        {
            packets.push(media.into_packet().unwrap());
        }
    }
    assert!(session.flush().unwrap().is_empty());
    let keys: Vec<usize> = (0..packets.len())
        .filter(|&n| packets[n].keyframe)
        .collect();
    assert_eq!(keys, vec![0, 10, 20, 30], "an IDR picture every {GOP}");
    packets
}

/// The 64x64 luma area at `(x, y)`.
fn area(frame: &Frame, (x, y): (u32, u32)) -> Vec<u8> {
    let plane = frame.plane(Plane::Y);
    (y..y + 64)
        .flat_map(|row| {
            let start = (row * WIDTH + x) as usize;
            plane[start..start + 64].to_vec()
        })
        .collect()
}

fn is_black(samples: &[u8]) -> bool {
    samples.iter().all(|&sample| sample <= 16)
}

fn is_white(samples: &[u8]) -> bool {
    samples.iter().all(|&sample| sample >= 235)
}

/// Which policy the picture shows: the old box and not the new one, or the
/// other way round; anything else fails.
fn policy(frame: &Frame) -> &'static str {
    let (old, new) = (area(frame, OLD_AREA), area(frame, NEW_AREA));
    match (is_black(&old), is_white(&new)) {
        (true, false) => "old",
        (false, true) => "new",
        (old, new) => panic!(
            "picture {}: old box black {old}, new box white {new}",
            frame.pts / 3000
        ),
    }
}

fn runtime(event_depth: usize) -> LiveRuntime {
    // Sessions count as behind by queue length only, and the queue holds a
    // whole stream: this test is about swaps, not about falling behind.
    LiveRuntime::new(LiveConfig {
        workers: 2,
        queue_depth: PICTURES + 1,
        max_wait: Duration::from_secs(600),
        event_depth,
        // Fair shares on, as served: its streams are pushed whole at once,
        // and twenty sessions on two workers have a share of 0.1 each. The
        // pictures that arrive at once count at the sessions' frame rate,
        // not as demand all at once, so no session is judged over its
        // share for its backlog.
        ..LiveConfig::default()
    })
    .unwrap()
}

fn push(session: &LiveSession, packets: &[Packet]) {
    for packet in packets {
        session.push(packet.clone(), Instant::now());
    }
}

/// Every event up to `Ended`, in order, and the counts.
fn drain(owner: &Owner, session: &LiveSession) -> (Vec<LiveEvent>, SessionStats) {
    let mut events = Vec::new();
    while let Some(event) = owner.recv(session.id()) {
        match event {
            LiveEvent::Ended(stats) => return (events, *stats),
            other => events.push(other),
        }
    }
    panic!("no Ended event");
}

/// Waits for `count` outputs (and nothing else) from a session.
fn outputs(owner: &Owner, session: &LiveSession, count: usize) -> Vec<Frame> {
    (0..count)
        .map(|_| match owner.recv(session.id()) {
            Some(LiveEvent::Output { media, .. }) => media.into_frame().unwrap(),
            other => panic!("expected an output, got {other:?}"),
        })
        .collect()
}

fn dropped_total(stats: &SessionStats) -> u64 {
    stats.dropped_total()
}

#[test]
fn redact_swapped_in_twenty_running_sessions_at_the_next_keyframe() {
    let engine = engine();
    let packets = stream(&engine);
    let old = Arc::new(pipeline(
        &engine,
        &format!("decode-h264 alignment=access-unit ! {OLD}"),
    ));
    let index = old.stage_index("redact").unwrap();
    assert_eq!(index, 1);
    let new = Arc::new(old.with_stage_replaced(index, &stage_spec(NEW)).unwrap());
    assert_ne!(new.fingerprint(), old.fingerprint());

    let runtime = runtime(2 * PICTURES);

    let owner = Owner::of(&runtime);
    let sessions: Vec<LiveSession> = (0..20)
        .map(|_| runtime.open_past_admission(&old, 30.0).unwrap())
        .collect();
    // Mid-stream, mid-GOP: 13 pictures in, all out with the old policy.
    let swap_after = 13;
    for session in &sessions {
        push(session, &packets[..swap_after]);
    }
    for session in &sessions {
        for frame in outputs(&owner, session, swap_after) {
            assert_eq!(policy(&frame), "old");
        }
    }
    assert_eq!(runtime.swap_pipeline(&old, &new).unwrap(), 20);
    // Asked twice, the sessions already wait for it.
    assert_eq!(runtime.swap_pipeline(&old, &new).unwrap(), 0);
    for session in &sessions {
        push(session, &packets[swap_after..]);
        session.finish();
    }

    let first_key_after = (swap_after..PICTURES)
        .find(|&n| packets[n].keyframe)
        .unwrap();
    assert_eq!(first_key_after, 20);
    for (number, session) in sessions.iter().enumerate() {
        let (events, stats) = drain(&owner, session);
        let mut seen = Vec::new();
        let mut swapped_at = None;
        for event in events {
            match event {
                LiveEvent::Output { media, .. } => {
                    let frame = media.into_frame().unwrap();
                    let picture = (frame.pts / 3000) as usize;
                    let expected = if swapped_at.is_some() { "new" } else { "old" };
                    assert_eq!(
                        policy(&frame),
                        expected,
                        "session {number}: picture {picture}"
                    );
                    seen.push(picture);
                }
                LiveEvent::Swapped { stages, pts } => {
                    assert!(swapped_at.is_none(), "session {number}: swapped twice");
                    assert_eq!(stages, vec![(1, "redact".to_owned())]);
                    swapped_at = Some(pts);
                }
                other => panic!("session {number}: unexpected {other:?}"),
            }
        }
        // At the keyframe boundary: the first picture of the next GOP is
        // the first with the new policy.
        assert_eq!(
            swapped_at,
            Some(packets[first_key_after].pts),
            "session {number}"
        );
        let expected: Vec<usize> = (swap_after..PICTURES).collect();
        assert_eq!(seen, expected, "session {number}: every picture, in order");
        assert_eq!(stats.inputs, PICTURES as u64, "session {number}");
        assert_eq!(stats.outputs, PICTURES as u64, "session {number}");
        assert_eq!(dropped_total(&stats), 0, "session {number}: {stats:?}");
        // The stage's counts go on across the swap.
        let redact = &stats.stages[index];
        assert_eq!(redact.name, "redact");
        assert_eq!(
            (redact.inputs, redact.outputs),
            (40, 40),
            "session {number}"
        );
        assert!(Arc::ptr_eq(&session.pipeline(), &new));
    }
}

/// A decoder cut on start codes (`alignment=none`) holds each picture until
/// the next packet: swapping it (a fixed build, here other parameters)
/// must flush that picture through the rest of the chain, or it is lost.
#[test]
fn a_swapped_stage_is_flushed_through_the_rest_of_the_chain() {
    let engine = engine();
    let packets = stream(&engine);
    let old = Arc::new(pipeline(&engine, &format!("decode-h264 ! {OLD}")));
    let new = Arc::new(
        old.with_stage_replaced(0, &stage_spec("decode-h264 fps=30 error-concealment=false"))
            .unwrap(),
    );
    let runtime = runtime(2 * PICTURES);
    let owner = Owner::of(&runtime);
    let sessions: Vec<LiveSession> = (0..2)
        .map(|_| runtime.open_past_admission(&old, 30.0).unwrap())
        .collect();
    for session in &sessions {
        push(session, &packets[..15]);
        // One packet late: picture 14 is still in the decoder.
        outputs(&owner, session, 14);
        session.swap_pipeline(&new).unwrap();
        push(session, &packets[15..]);
        session.finish();
    }
    for session in &sessions {
        let (events, stats) = drain(&owner, session);
        let mut seen = Vec::new();
        let mut swapped_at = None;
        for event in events {
            match event {
                LiveEvent::Output { media, .. } => {
                    let frame = media.into_frame().unwrap();
                    assert_eq!(policy(&frame), "old");
                    let picture = (frame.pts / 3000) as usize;
                    // The old decoder's pictures come before the switch.
                    assert_eq!(picture < 20, swapped_at.is_none(), "picture {picture}");
                    seen.push(picture);
                }
                LiveEvent::Swapped { stages, pts } => {
                    assert_eq!(stages, vec![(0, "decode-h264".to_owned())]);
                    swapped_at = Some(pts);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(swapped_at, Some(packets[20].pts));
        assert_eq!(seen, (14..PICTURES).collect::<Vec<_>>());
        assert_eq!((stats.inputs, stats.outputs), (40, 40));
        assert_eq!(dropped_total(&stats), 0, "{stats:?}");
    }
}

#[test]
fn swaps_that_cannot_be_made_are_refused_before_any_session_is_touched() {
    let engine = engine();
    let old = pipeline(
        &engine,
        &format!("decode-h264 alignment=access-unit ! {OLD}"),
    );
    // Parameters the stage refuses in `create`.
    let error = old
        .with_stage_replaced(1, &stage_spec("redact rect=16,16,64,64 mode=smudge"))
        .err()
        .expect("an unknown mode");
    assert!(
        matches!(&error, Error::BadParameter { stage, .. } if stage == "redact"),
        "{error}"
    );
    // A parameter the stage does not have.
    let error = old
        .with_stage_replaced(1, &stage_spec("redact colour=white"))
        .err()
        .unwrap();
    assert!(matches!(error, Error::BadParameter { .. }), "{error}");
    // Ports that do not fit: frames where packets came in.
    let error = old
        .with_stage_replaced(0, &stage_spec("scale width=160 height=90"))
        .err()
        .unwrap();
    assert!(matches!(error, Error::ChainMismatch(_)), "{error}");
    // The chain's output would change kind (frames to packets).
    let error = old
        .with_stage_replaced(1, &stage_spec("encode-h264 bitrate=1M"))
        .err()
        .unwrap();
    assert!(matches!(error, Error::ChainMismatch(_)), "{error}");
    let error = old.with_stage_replaced(2, &stage_spec(NEW)).err().unwrap();
    assert!(matches!(error, Error::InvalidChain(_)), "{error}");
    // A create that breaks the time limit.
    let error = old
        .with_stage_replaced(1, &stage_spec("test-stage behaviour=sleep-in-create"))
        .err()
        .unwrap();
    assert!(matches!(error, Error::StageFailed { .. }), "{error}");
    // Another number of stages.
    let longer = pipeline(
        &engine,
        &format!("decode-h264 alignment=access-unit ! {OLD} ! {NEW}"),
    );
    let runtime = runtime(8);
    let owner = Owner::of(&runtime);
    let session = runtime.open_past_admission(&Arc::new(old), 30.0).unwrap();
    let longer = Arc::new(longer);
    let from = session.pipeline();
    let error = runtime.swap_pipeline(&from, &longer).unwrap_err();
    assert!(matches!(error, Error::InvalidChain(_)), "{error}");
    assert!(session.swap_pipeline(&longer).is_err());
    session.finish();
    let (events, stats) = drain(&owner, &session);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(stats.inputs, 0);
}

/// The engine has room for the sessions' instances and no more: the new
/// instance cannot be made when the swap comes, so the old stage goes on,
/// the owner hears why, and no picture is lost.
#[test]
fn a_swap_whose_new_instance_cannot_be_made_keeps_the_old_stage() {
    let sessions = 2;
    let engine = Engine::new(EngineConfig {
        pooling: Some(2 * sessions),
        ..config()
    })
    .unwrap();
    let packets = stream(&engine);
    let old = Arc::new(pipeline(
        &engine,
        &format!("decode-h264 alignment=access-unit ! {OLD}"),
    ));
    let new = Arc::new(old.with_stage_replaced(1, &stage_spec(NEW)).unwrap());
    let runtime = runtime(2 * PICTURES);
    let owner = Owner::of(&runtime);
    let sessions: Vec<LiveSession> = (0..sessions)
        .map(|_| runtime.open_past_admission(&old, 30.0).unwrap())
        .collect();
    for session in &sessions {
        push(session, &packets[..5]);
        outputs(&owner, session, 5);
    }
    assert_eq!(runtime.swap_pipeline(&old, &new).unwrap(), 2);
    for session in &sessions {
        push(session, &packets[5..]);
        session.finish();
    }
    for session in &sessions {
        let (events, stats) = drain(&owner, session);
        let mut outputs = 0;
        let mut failures = Vec::new();
        for event in events {
            match event {
                LiveEvent::Output { media, .. } => {
                    assert_eq!(policy(&media.into_frame().unwrap()), "old");
                    outputs += 1;
                }
                LiveEvent::SwapFailed { error } => failures.push(error.to_string()),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("redact"), "{}", failures[0]);
        assert_eq!(outputs, PICTURES - 5);
        assert_eq!((stats.inputs, stats.outputs), (40, 40));
        assert_eq!(dropped_total(&stats), 0, "{stats:?}");
        assert!(Arc::ptr_eq(&session.pipeline(), &old));
    }
}
