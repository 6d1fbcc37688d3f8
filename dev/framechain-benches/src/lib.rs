//! Shared set-up for the benchmarks in `dev/framechain-benches/`: an engine
//! that finds the built stages, a realistic 1080p frame, and single-stage
//! sessions.
//!
//! Each benchmark measures one hot path twice, natively and inside the
//! sandbox, so the report shows what isolation costs. Run them with
//! `cargo xtask bench`; numbers and how to read them are in
//! `docs/performance.md`.

use framechain::{
    ChainSpec, Engine, EngineConfig, Frame, Media, Pipeline, Plane, Session, StageRegistry,
};

pub const WIDTH: u32 = 1920;
pub const HEIGHT: u32 = 1080;

/// An engine whose registry holds the shipped and the test stages.
pub fn engine() -> Engine {
    Engine::new(EngineConfig::default().with_bench_stages()).expect("engine")
}

/// Where the benches find stages: `$FRAMECHAIN_STAGE_PATH`, else the
/// workspace's `target/stages` and `target/test-stages`.
pub fn stage_registry() -> StageRegistry {
    StageRegistry::with_dirs(framechain_test_support::stage_dirs())
}

/// Engine settings with the benches' stage registry.
pub trait WithBenchStages {
    fn with_bench_stages(self) -> Self;
}

impl WithBenchStages for EngineConfig {
    fn with_bench_stages(self) -> Self {
        EngineConfig {
            registry: stage_registry(),
            ..self
        }
    }
}

/// A session of a one-line chain.
pub fn session(engine: &Engine, launch: &str) -> Session {
    let chain = ChainSpec::parse_launch(launch).expect("launch line");
    let pipeline = Pipeline::build(engine, &chain)
        .unwrap_or_else(|error| panic!("{launch}: {error} (run `cargo xtask build`)"));
    pipeline.start_session().expect("session")
}

/// A 1080p frame with detail everywhere (a scaler cannot take shortcuts on
/// flat areas).
pub fn frame_1080p() -> Frame {
    let mut frame = Frame::black(WIDTH, HEIGHT).expect("1080p");
    for plane in [Plane::Y, Plane::U, Plane::V] {
        let (width, _) = frame.plane_size(plane);
        for (index, sample) in frame.plane_mut(plane).iter_mut().enumerate() {
            let (x, y) = (index as u32 % width, index as u32 / width);
            *sample = ((x * 7 + y * 13 + (x * y) % 31) % 220 + 16) as u8;
        }
    }
    frame
}

/// Pushes one frame through a session and returns it (for the next round).
pub fn push_one(session: &mut Session, frame: Frame) -> Frame {
    let mut out = session.push(Media::Frame(frame)).expect("push");
    out.pop()
        .and_then(Media::into_frame)
        .expect("one frame out")
}
