//! The standing hostile-stage suite (issue 8): a stage written to attack
//! the host (`test-stage` with a hostile `behaviour`) ends its own session
//! with a clear one-line error, within its time limit, with what the host
//! holds for it bounded by the configured budgets, while a second session
//! carries on.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use framechain::limits::{MAX_DROP_REASON_CHARS, MAX_DROP_REASONS, MAX_STAGES};
use framechain::{
    ChainSpec, Engine, EngineConfig, Error, Frame, Media, Pipeline, StageFailure, StageSpec,
};

use crate::support::{config, flat_frame, pipeline};

const MEMORY_LIMIT: usize = 64 << 20;
const CALL_TIMEOUT: Duration = Duration::from_millis(300);
/// What a busy shared machine may add to a time limit before a stop is
/// seen: the stop itself must come within the limit plus this.
const STOP_MARGIN: Duration = Duration::from_secs(3);
/// For tests about memory, not time.
const GENEROUS_TIMEOUT: Duration = Duration::from_secs(20);

fn engine(call_timeout: Duration) -> Engine {
    Engine::new(EngineConfig {
        memory_limit: MEMORY_LIMIT,
        call_timeout,
        ..config()
    })
    .expect("engine")
}

/// The one-line, control-free text every error must be.
fn assert_trustworthy(error: &Error) -> String {
    let text = error.to_string();
    assert!(
        !text.chars().any(char::is_control),
        "control chars: {text:?}"
    );
    assert!(text.len() < 1_000, "{} bytes: {text:.200}", text.len());
    text
}

/// Runs `attack` (which must fail its session) while a healthy session of
/// `scale` runs on another thread; returns the attack's error and how many
/// frames the healthy session produced (all 40 of them, or it would panic).
fn attack_beside_a_healthy_session(
    engine: &Engine,
    attack: impl FnOnce(&Engine) -> Error,
) -> (Error, usize) {
    let good = pipeline(engine, "scale width=32 height=18");
    let (started_tx, started_rx) = mpsc::channel();
    let healthy = thread::spawn(move || {
        let mut session = good.start_session().expect("healthy session");
        started_tx.send(()).unwrap();
        let mut produced = 0;
        for index in 0..40 {
            produced += session
                .push(Media::Frame(flat_frame(64, 36, 100, index)))
                .expect("healthy push")
                .len();
            thread::sleep(Duration::from_millis(5));
        }
        produced + session.flush().expect("healthy flush").len()
    });
    started_rx.recv().unwrap();
    let error = attack(engine);
    (error, healthy.join().expect("healthy thread"))
}

fn push_one(session: &mut framechain::Session) -> Result<Vec<Media>, Error> {
    session.push(Media::Frame(flat_frame(64, 36, 100, 0)))
}

/// The stage failure inside `error`, if it is one.
fn failure_of(error: &Error) -> Option<&StageFailure> {
    match error {
        Error::StageFailed { failure, .. } => Some(failure),
        _ => None,
    }
}

fn time_limit_failure(error: &Error) -> bool {
    matches!(failure_of(error), Some(StageFailure::TimeLimit(_)))
}

#[test]
fn a_stage_sleeping_in_push_is_stopped_by_its_time_limit() {
    let engine = engine(CALL_TIMEOUT);
    let bad = pipeline(&engine, "test-stage behaviour=sleep");
    let (error, healthy) = attack_beside_a_healthy_session(&engine, |_| {
        let mut session = bad.start_session().unwrap();
        let started = Instant::now();
        let error = push_one(&mut session).expect_err("a sleeping stage must be stopped");
        assert!(
            started.elapsed() < CALL_TIMEOUT + STOP_MARGIN,
            "stopped after {:?}",
            started.elapsed()
        );
        assert!(matches!(
            push_one(&mut session),
            Err(Error::SessionFailed { .. })
        ));
        error
    });
    assert!(time_limit_failure(&error), "{error}");
    assert!(assert_trustworthy(&error).contains("time limit"));
    assert_eq!(healthy, 40);
}

#[test]
fn a_stage_sleeping_in_create_or_flush_is_stopped_by_its_time_limit() {
    let engine = engine(CALL_TIMEOUT);
    // `create` runs first as the pipeline's parameter check.
    let started = Instant::now();
    let chain = ChainSpec::parse_launch("test-stage behaviour=sleep-in-create").unwrap();
    let error = Pipeline::build(&engine, &chain)
        .err()
        .expect("create must be stopped");
    assert!(started.elapsed() < CALL_TIMEOUT + STOP_MARGIN);
    assert!(time_limit_failure(&error), "{error}");

    let flushing = pipeline(&engine, "test-stage behaviour=sleep-in-flush");
    let mut session = flushing.start_session().unwrap();
    assert_eq!(push_one(&mut session).unwrap().len(), 1);
    let started = Instant::now();
    let error = session.flush().expect_err("flush must be stopped");
    assert!(started.elapsed() < CALL_TIMEOUT + STOP_MARGIN);
    assert!(time_limit_failure(&error), "{error}");
}

#[test]
fn a_stage_sleeping_in_describe_is_refused_within_its_time_limit() {
    let engine = engine(CALL_TIMEOUT);
    let dir = engine
        .registry()
        .dirs()
        .iter()
        .find(|dir| dir.join("test-stage-sleepy-describe.wasm").is_file())
        .expect("test-stage-sleepy-describe.wasm is built by `cargo xtask build`")
        .clone();
    let path = dir.join("test-stage-sleepy-describe.wasm");
    let started = Instant::now();
    let error = engine
        .load_stage(path.to_str().unwrap())
        .err()
        .expect("describe must be stopped");
    assert!(started.elapsed() < CALL_TIMEOUT + STOP_MARGIN);
    let text = assert_trustworthy(&error);
    assert!(time_limit_failure(&error), "{text}");
    assert!(text.contains("(in describe)"), "{text}");
}

#[test]
fn regions_are_capped_and_charged_to_the_stage() {
    let engine = engine(GENEROUS_TIMEOUT);
    for (behaviour, expected) in [
        ("region-flood", "at most 256 regions"),
        ("long-label", "label may be at most 64 bytes"),
    ] {
        let bad = pipeline(&engine, &format!("test-stage behaviour={behaviour}"));
        let mut session = bad.start_session().unwrap();
        let error = push_one(&mut session).expect_err(behaviour);
        assert!(
            matches!(failure_of(&error), Some(StageFailure::Limit(_))),
            "{behaviour}: {error}"
        );
        assert!(assert_trustworthy(&error).contains(expected), "{error}");
    }
    // Clones of a frame's regions on tiny frames: the planes are almost
    // nothing, the regions are what fills the budget, and it holds.
    let bad = pipeline(&engine, "test-stage behaviour=metadata-clones");
    let (error, healthy) = attack_beside_a_healthy_session(&engine, |_| {
        let mut session = bad.start_session().unwrap();
        let error = push_one(&mut session).expect_err("metadata-clones");
        let held = session.stats().stages[0].peak_host_bytes;
        assert!(held <= MEMORY_LIMIT, "host held {held} bytes for the stage");
        assert!(held > MEMORY_LIMIT / 2, "the regions were charged: {held}");
        error
    });
    assert!(
        matches!(failure_of(&error), Some(StageFailure::MemoryLimit(_))),
        "{error}"
    );
    assert_eq!(healthy, 40);
}

#[test]
fn outputs_run_depth_first_so_a_multiplying_chain_holds_little() {
    let engine = engine(GENEROUS_TIMEOUT);
    let chain = pipeline(
        &engine,
        "test-stage behaviour=multiply ! test-stage behaviour=multiply",
    );
    let mut session = chain.start_session().unwrap();
    let frame = flat_frame(640, 360, 90, 0);
    let frame_bytes = frame.held_bytes();
    let mut outputs = 0;
    session
        .push_into(Media::Frame(frame), &mut |_, _| {}, &mut |_| outputs += 1)
        .expect("1 frame in, 1600 out");
    session.flush().unwrap();
    assert_eq!(outputs, 1600);
    // Breadth-first, all 1600 frames (550 MB) were held at once; depth-first
    // it is one call's outputs per stage: 40 + 40 frames.
    let peak = session.stats().peak_in_flight_bytes;
    assert!(peak <= 80 * frame_bytes, "{peak} bytes in flight");
    assert!(peak >= 41 * frame_bytes, "{peak} bytes in flight");
    assert_eq!(session.stats().stages[1].inputs, 40);
    assert_eq!(session.stats().stages[1].outputs, 1600);

    // A budget smaller than one call's outputs ends the session.
    let tight = Engine::new(EngineConfig {
        memory_limit: MEMORY_LIMIT,
        call_timeout: GENEROUS_TIMEOUT,
        in_flight_limit: 8 << 20,
        ..config()
    })
    .unwrap();
    let chain = pipeline(&tight, "test-stage behaviour=multiply");
    let mut session = chain.start_session().unwrap();
    let error = session
        .push(Media::Frame(flat_frame(640, 360, 90, 0)))
        .expect_err("40 frames of 345 KB exceed 8 MiB");
    assert!(
        matches!(failure_of(&error), Some(StageFailure::InFlightLimit(_))),
        "{error}"
    );
}

#[test]
fn drop_reasons_are_capped_escaped_and_cut() {
    // 10,000 reasons of 10 KB are 100 MB in the stage's own memory.
    let engine = Engine::new(EngineConfig {
        memory_limit: 256 << 20,
        call_timeout: GENEROUS_TIMEOUT,
        ..config()
    })
    .unwrap();
    let bad = pipeline(&engine, "test-stage behaviour=drop-reasons");
    let mut session = bad.start_session().unwrap();
    for pts in 0..3 {
        let out = session
            .push(Media::Frame(flat_frame(64, 36, 1, pts)))
            .unwrap();
        assert!(out.is_empty());
    }
    let stats = &session.stats().stages[0];
    assert_eq!(stats.dropped_total(), 30_000, "every drop is counted");
    assert!(stats.dropped.len() <= MAX_DROP_REASONS + 1);
    for reason in stats.dropped.keys() {
        assert!(!reason.chars().any(char::is_control), "{reason:?}");
        assert!(reason.chars().count() <= MAX_DROP_REASON_CHARS + 20);
    }
}

#[test]
fn stage_text_reaches_errors_escaped_and_cut() {
    let engine = engine(GENEROUS_TIMEOUT);
    let bad = pipeline(&engine, "test-stage behaviour=error-forgery");
    let mut session = bad.start_session().unwrap();
    let error = push_one(&mut session).expect_err("error-forgery");
    let text = assert_trustworthy(&error);
    assert!(
        text.contains("line one\\nframechain: error: forged\\u{1b}[2J"),
        "{text}"
    );

    let flooding = pipeline(&engine, "test-stage behaviour=log-flood");
    let mut session = flooding.start_session().unwrap();
    assert_eq!(push_one(&mut session).unwrap().len(), 1);
    assert!(
        session.suppressed_log_lines() >= 100_000 - 64,
        "{} suppressed",
        session.suppressed_log_lines()
    );
}

#[test]
fn frames_a_stage_swallows_are_counted_as_dropped() {
    let engine = engine(GENEROUS_TIMEOUT);
    let bad = pipeline(
        &engine,
        "test-stage behaviour=swallow ! scale width=32 height=18",
    );
    let mut session = bad.start_session().unwrap();
    for pts in 0..10 {
        assert!(
            session
                .push(Media::Frame(flat_frame(64, 36, 1, pts)))
                .unwrap()
                .is_empty()
        );
    }
    session.flush().unwrap();
    let stats = session.stats();
    let swallower = &stats.stages[0];
    assert_eq!(swallower.dropped.get("unreported by stage"), Some(&10));
    assert_eq!(
        swallower.inputs,
        swallower.outputs + swallower.dropped_total()
    );
    assert_eq!(stats.stages[1].inputs, 0);
}

#[test]
fn input_frames_are_charged_before_the_stage_sees_them() {
    let small = Engine::new(EngineConfig {
        memory_limit: 16 << 20,
        call_timeout: GENEROUS_TIMEOUT,
        ..config()
    })
    .unwrap();
    let chain = pipeline(&small, "test-stage");
    let mut session = chain.start_session().unwrap();
    // 3840x2160 I420 is 12 MB: fits. 4096x4096 is 25 MB: refused.
    assert_eq!(
        session
            .push(Media::Frame(Frame::black(3840, 2160).unwrap()))
            .unwrap()
            .len(),
        1
    );
    let error = session
        .push(Media::Frame(Frame::black(4096, 4096).unwrap()))
        .expect_err("an input larger than the stage's budget");
    assert!(
        matches!(failure_of(&error), Some(StageFailure::MemoryLimit(_))),
        "{error}"
    );
}

#[test]
fn chains_and_parameter_lists_are_capped_in_every_entry_point() {
    let engine = engine(GENEROUS_TIMEOUT);
    // A ChainSpec an embedder builds itself skips the parsers' caps; the
    // pipeline applies them again.
    let long = ChainSpec {
        name: None,
        stages: vec![StageSpec::new("test-stage", vec![]); MAX_STAGES + 1],
        ..ChainSpec::default()
    };
    let error = Pipeline::build(&engine, &long)
        .err()
        .expect("too many stages");
    assert!(error.to_string().contains("at most 64"), "{error}");
    let many_params = ChainSpec {
        name: None,
        stages: vec![StageSpec::new(
            "test-stage",
            (0..100_000)
                .map(|n| (format!("p{n}"), "1".to_owned()))
                .collect(),
        )],
        ..ChainSpec::default()
    };
    let error = Pipeline::build(&engine, &many_params)
        .err()
        .expect("too many parameters");
    assert!(error.to_string().contains("at most 256"), "{error}");
}

#[test]
fn a_native_encoder_is_charged_to_its_stage() {
    let engine = Engine::new(EngineConfig {
        memory_limit: 48 << 20,
        call_timeout: GENEROUS_TIMEOUT,
        ..config()
    })
    .unwrap();
    let chain = pipeline(&engine, "encode-h264 accel=native");
    let mut session = chain.start_session().unwrap();
    // 640x360 fits: a frame and a small encoder.
    let small = session.push(Media::Frame(flat_frame(640, 360, 80, 0)));
    assert_eq!(small.expect("a small encoder fits").len(), 1);
    // A 4K encoder is charged about 90 MiB, far beyond 48 MiB: refused
    // before OpenH264 allocates anything.
    let mut session = chain.start_session().unwrap();
    let error = session
        .push(Media::Frame(flat_frame(3840, 2160, 80, 0)))
        .expect_err("a 4K native encoder does not fit a 48 MiB stage");
    let text = assert_trustworthy(&error);
    assert!(text.contains("native encoder"), "{text}");
}

#[test]
fn strings_a_stage_aliases_are_not_copied_again_and_again() {
    // Both attacks hand the host (pointer, length) pairs that all point at
    // one 16 MiB buffer: copied one by one, 64 GiB and 3.2 GB of host
    // memory. Read within a budget (the stage's memory limit), they end the
    // session instead.
    let engine = Engine::new(EngineConfig {
        memory_limit: 128 << 20,
        call_timeout: GENEROUS_TIMEOUT,
        ..config()
    })
    .unwrap();
    for (behaviour, expected) in [
        ("aliased-drops", "more than 128 MiB to copy"),
        ("aliased-labels", "label may be at most 64 bytes"),
    ] {
        let bad = pipeline(&engine, &format!("test-stage behaviour={behaviour}"));
        let (error, healthy) = attack_beside_a_healthy_session(&engine, |_| {
            let mut session = bad.start_session().unwrap();
            push_one(&mut session).expect_err(behaviour)
        });
        assert!(
            matches!(failure_of(&error), Some(StageFailure::Limit(_))),
            "{behaviour}: {error}"
        );
        assert!(assert_trustworthy(&error).contains(expected), "{error}");
        assert_eq!(healthy, 40);
    }
}

#[test]
fn a_file_that_is_not_a_component_gets_one_line_that_quotes_none_of_it() {
    let engine = engine(GENEROUS_TIMEOUT);
    let dir = std::env::temp_dir().join(format!("framechain-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Text, then a wasm header followed by garbage (wasmparser's error for
    // that spans several lines).
    let text = dir.join("text.wasm");
    std::fs::write(&text, "hello\nframechain: error: forged\x1b[2J").unwrap();
    let broken = dir.join("broken.wasm");
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.extend((0..4096u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8));
    std::fs::write(&broken, bytes).unwrap();
    for path in [&text, &broken] {
        let error = engine
            .load_stage(path.to_str().unwrap())
            .err()
            .expect("not a component");
        let shown = assert_trustworthy(&error);
        assert!(
            shown.contains("is not a framechain stage component"),
            "{shown}"
        );
        assert!(
            !shown.contains("forged") && !shown.contains("hello"),
            "{shown}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
