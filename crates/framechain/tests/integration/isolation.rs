//! No two sessions share stage memory.

use framechain::{Media, Plane};

use crate::support::{engine, flat_frame, pipeline};

/// `remember` keeps the first luma sample it sees in a global of its linear
/// memory and stamps it into every frame. With shared memory, the second
/// session would see the first one's value.
#[test]
fn two_sessions_of_one_stage_cannot_see_each_others_data() {
    let engine = engine();
    let pipeline = pipeline(&engine, "test-stage behaviour=remember");
    let mut alice = pipeline.start_session().unwrap();
    let mut bob = pipeline.start_session().unwrap();
    for pts in 0..5 {
        // After the first frame each session gets frames with other values;
        // the stamp must stay that session's own first value.
        let alice_out = alice
            .push(Media::Frame(flat_frame(32, 32, 200 - pts as u8, pts)))
            .unwrap();
        let bob_out = bob
            .push(Media::Frame(flat_frame(32, 32, 50 + pts as u8, pts)))
            .unwrap();
        let first_sample = |out: Vec<Media>| {
            out.into_iter()
                .next()
                .unwrap()
                .into_frame()
                .unwrap()
                .plane(Plane::Y)[0]
        };
        assert_eq!(first_sample(alice_out), 200, "alice's frame {pts}");
        assert_eq!(first_sample(bob_out), 50, "bob's frame {pts}");
    }
}

#[test]
fn a_session_started_after_another_ended_starts_clean() {
    let engine = engine();
    let remember = pipeline(&engine, "test-stage behaviour=remember");
    let mut first = remember.start_session().unwrap();
    first.push(Media::Frame(flat_frame(8, 8, 77, 0))).unwrap();
    drop(first);
    let mut second = remember.start_session().unwrap();
    let out = second.push(Media::Frame(flat_frame(8, 8, 11, 0))).unwrap();
    assert_eq!(out[0].pts(), 0);
    let Media::Frame(frame) = &out[0] else {
        panic!("a frame")
    };
    assert_eq!(
        frame.plane(Plane::Y)[0],
        11,
        "a new instance must not inherit a dropped one's memory"
    );
}

#[test]
fn every_frame_is_accounted_for() {
    let engine = engine();
    let pipeline = pipeline(&engine, "redact rect=0,0,8,8 ! scale width=16 height=8");
    let mut session = pipeline.start_session().unwrap();
    let mut outputs = 0;
    for pts in 0..25 {
        outputs += session
            .push(Media::Frame(flat_frame(48, 24, 90, pts * 3000)))
            .unwrap()
            .len();
    }
    outputs += session.flush().unwrap().len();
    let stats = session.stats();
    assert_eq!(
        (stats.inputs, stats.outputs, stats.dropped_total()),
        (25, 25, 0)
    );
    assert_eq!(outputs, 25);
    for stage in &stats.stages {
        assert_eq!((stage.inputs, stage.outputs), (25, 25), "{}", stage.name);
        // 25 pushes and one flush were timed.
        assert_eq!(stage.latency.count(), 26, "{}", stage.name);
        assert!(stage.latency.p99() >= stage.latency.p50());
    }
    // Each frame out is timed through the whole chain, so it cannot be much
    // faster than the slowest stage (half its median leaves room for the
    // histogram's rounding and the untimed-out flush call).
    let chain = &stats.output_latency;
    assert_eq!(chain.count(), 25);
    let slowest_stage_p50 = stats.stages.iter().map(|s| s.latency.p50()).max().unwrap();
    assert!(
        chain.p50() >= slowest_stage_p50 / 2,
        "{:?} vs {slowest_stage_p50:?}",
        chain.p50()
    );
}

/// A stage gets no files, environment, arguments or network.
#[test]
fn a_stage_reaches_no_files_environment_arguments_or_network() {
    // The test process itself has an environment; the stage must not.
    assert!(std::env::vars_os().count() > 0);
    let engine = engine();
    let mut session = pipeline(&engine, "test-stage behaviour=probe-sandbox")
        .start_session()
        .unwrap();
    let out = session.push(Media::Frame(flat_frame(8, 8, 1, 0))).unwrap();
    let Media::Frame(frame) = &out[0] else {
        panic!("a frame")
    };
    let labels: Vec<&str> = frame
        .regions
        .iter()
        .map(|region| region.label.as_str())
        .collect();
    assert_eq!(labels, ["probe:files=denied,env=0,args=0,net=denied"]);
}

#[test]
fn sessions_run_under_the_pooling_allocator() {
    let config = framechain::EngineConfig {
        pooling: Some(16),
        ..crate::support::config()
    };
    let engine = framechain::Engine::new(config).unwrap();
    let pipeline = pipeline(&engine, "redact rect=0,0,4,4 ! scale width=8 height=8");
    // Eight sessions of two stages each fit a pool of sixteen instances.
    let mut sessions: Vec<_> = (0..8).map(|_| pipeline.start_session().unwrap()).collect();
    for (index, session) in sessions.iter_mut().enumerate() {
        let out = session
            .push(Media::Frame(flat_frame(16, 16, index as u8, 0)))
            .unwrap();
        assert_eq!(out.len(), 1);
    }
    // The pool is full: a ninth session is refused cleanly, not with a crash.
    let error = pipeline
        .start_session()
        .err()
        .expect("the pool is exhausted");
    assert!(
        error
            .to_string()
            .starts_with("wasmtime: cannot start an instance of stage redact: "),
        "{error}"
    );
    drop(sessions);
    pipeline
        .start_session()
        .expect("slots are reused once sessions end");
}
