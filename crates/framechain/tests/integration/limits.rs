//! A stage that loops, allocates without end or traps fails its own session;
//! the host and a second session running at the same time carry on.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use framechain::{Engine, Error, Media, Pipeline, StageFailure};

use crate::support::{engine_with, flat_frame, pipeline};

const MEMORY_LIMIT: usize = 64 << 20;
/// Short, so the endless loop is stopped quickly.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);
/// For the tests that are about memory, not time: long enough that a busy
/// CI machine never turns a memory failure into a time-out.
const GENEROUS_TIMEOUT: Duration = Duration::from_secs(20);

fn limited_engine(call_timeout: Duration) -> Engine {
    engine_with(MEMORY_LIMIT, call_timeout)
}

/// Runs a healthy session of `scale` on another thread while `misbehave`
/// runs; returns the failure and the frames the healthy session produced.
fn misbehave_beside_a_healthy_session(behaviour: &str, call_timeout: Duration) -> (Error, usize) {
    let engine = limited_engine(call_timeout);
    let bad = pipeline(&engine, &format!("test-stage behaviour={behaviour}"));
    let good = pipeline(&engine, "scale width=32 height=18");
    let (started_tx, started_rx) = mpsc::channel();
    let healthy = thread::spawn(move || {
        let mut session = good.start_session().expect("healthy session");
        let mut produced = 0;
        started_tx.send(()).unwrap();
        for index in 0..40 {
            let outputs = session
                .push(Media::Frame(flat_frame(64, 36, 100, index)))
                .expect("healthy push");
            produced += outputs.len();
            thread::sleep(Duration::from_millis(5));
        }
        produced + session.flush().expect("healthy flush").len()
    });
    started_rx.recv().unwrap();
    let mut session = bad.start_session().expect("misbehaving session starts");
    let error = session
        .push(Media::Frame(flat_frame(64, 36, 100, 0)))
        .expect_err("the stage must fail");
    // The failed session stays failed, with the reason.
    let again = session
        .push(Media::Frame(flat_frame(64, 36, 100, 1)))
        .unwrap_err();
    assert!(matches!(again, Error::SessionFailed { .. }), "{again:?}");
    // The engine still starts new sessions of the same pipeline.
    check_engine_still_works(&engine, &bad);
    (error, healthy.join().expect("healthy thread"))
}

fn check_engine_still_works(engine: &Engine, bad: &Pipeline) {
    let _fresh = bad
        .start_session()
        .expect("a new session after the failure");
    let mut fine = pipeline(engine, "test-stage").start_session().unwrap();
    let outputs = fine.push(Media::Frame(flat_frame(16, 16, 1, 0))).unwrap();
    assert_eq!(outputs.len(), 1);
}

fn failure_of(error: &Error) -> &StageFailure {
    match error {
        Error::StageFailed { stage, failure } => {
            assert_eq!(stage, "test-stage");
            failure
        }
        other => panic!("expected a stage failure, got {other:?}"),
    }
}

#[test]
fn an_endless_loop_is_stopped_by_the_time_limit() {
    let started = Instant::now();
    let (error, produced) = misbehave_beside_a_healthy_session("loop", CALL_TIMEOUT);
    assert_eq!(failure_of(&error), &StageFailure::TimeLimit(CALL_TIMEOUT));
    assert_eq!(
        error.to_string(),
        "stage test-stage failed: stopped after running past its time limit of 300 ms"
    );
    assert_eq!(produced, 40, "the healthy session lost frames");
    // Generous bound: the point is that it was stopped at all.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn endless_allocation_is_stopped_by_the_memory_limit() {
    let (error, produced) = misbehave_beside_a_healthy_session("alloc", GENEROUS_TIMEOUT);
    assert_eq!(failure_of(&error), &StageFailure::MemoryLimit(MEMORY_LIMIT));
    assert_eq!(
        error.to_string(),
        "stage test-stage failed: stopped for exceeding its memory limit of 64 MiB"
    );
    assert_eq!(produced, 40);
}

#[test]
fn a_trap_fails_only_its_session_and_says_why() {
    let (error, produced) = misbehave_beside_a_healthy_session("trap", GENEROUS_TIMEOUT);
    let StageFailure::Trap(message) = failure_of(&error) else {
        panic!("{error:?}")
    };
    assert!(
        message.contains("panicked"),
        "the panic message should be kept: {message}"
    );
    assert!(!error.to_string().contains('\n'), "{error}");
    assert_eq!(produced, 40);
}

#[test]
fn frames_handed_on_leave_the_stages_frame_budget() {
    // 16 frames of 4096x4096 I420 is 384 MiB, far above the 64 MiB budget,
    // but each leaves the stage when it is handed on: the host must stop
    // counting it then, or a long session would be stopped for nothing.
    let engine = limited_engine(GENEROUS_TIMEOUT);
    let mut session = pipeline(&engine, "scale width=4096 height=4096")
        .start_session()
        .unwrap();
    let mut failed = None;
    for pts in 0..16 {
        if let Err(error) = session.push(Media::Frame(flat_frame(16, 16, 1, pts))) {
            failed = Some(error);
            break;
        }
    }
    // A single 4096x4096 frame (24 MiB) fits; the stage drops its frames
    // after handing them on, so it should never be stopped.
    assert!(failed.is_none(), "{failed:?}");
}

#[test]
fn frames_a_stage_hoards_count_against_its_memory_limit() {
    // Frames live in host memory, outside the stage's linear memory; without
    // a budget of their own a stage could exhaust the node this way.
    let (error, produced) = misbehave_beside_a_healthy_session("hoard-frames", GENEROUS_TIMEOUT);
    assert_eq!(failure_of(&error), &StageFailure::MemoryLimit(MEMORY_LIMIT));
    assert_eq!(produced, 40);
}
