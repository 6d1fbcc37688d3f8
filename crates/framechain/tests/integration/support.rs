//! Shared set-up: an engine that finds the built stages, frames, and the
//! test data folder.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use framechain::live::{LiveEvent, LiveEvents, LiveRuntime, SessionId};
use framechain::{
    ChainSpec, Engine, EngineConfig, Frame, Packet, Pipeline, Plane, StageRegistry, StageSpec,
};
use framechain_tools::AccessUnitSplitter;

/// `../shared/testdata` (or `$FRAMECHAIN_TESTDATA`). In CI its absence is
/// a failure; elsewhere tests that need it are skipped with a note.
pub use framechain_test_support::testdata;

pub fn config() -> EngineConfig {
    let registry = StageRegistry::with_dirs(framechain_test_support::stage_dirs());
    assert!(
        registry
            .builtin_names()
            .iter()
            .any(|name| name == "test-stage"),
        "stage components not found in {:?}: run `cargo xtask build` first",
        registry.dirs()
    );
    EngineConfig {
        registry,
        ..EngineConfig::default()
    }
}

pub fn engine() -> Engine {
    Engine::new(config()).expect("engine")
}

pub fn engine_with(memory_limit: usize, call_timeout: Duration) -> Engine {
    Engine::new(EngineConfig {
        memory_limit,
        call_timeout,
        ..config()
    })
    .expect("engine")
}

pub fn pipeline(engine: &Engine, launch: &str) -> Pipeline {
    let chain = ChainSpec::parse_launch(launch).expect("launch line");
    Pipeline::build(engine, &chain).unwrap_or_else(|error| panic!("{launch}: {error}"))
}

/// The one stage of a launch line (`encode-h264 bitrate=200k`): what
/// `Pipeline::with_stage_replaced` takes.
pub fn stage_spec(launch: &str) -> StageSpec {
    ChainSpec::parse_launch(launch)
        .expect("launch line")
        .stages
        .remove(0)
}

/// A frame whose Y plane is `luma` everywhere, with the given pts.
pub fn flat_frame(width: u32, height: u32, luma: u8, pts: i64) -> Frame {
    let mut frame = Frame::black(width, height).expect("frame size");
    frame.plane_mut(Plane::Y).fill(luma);
    frame.pts = pts;
    frame
}

/// True when an FFmpeg binary runs here. Required in CI.
pub fn have_ffmpeg() -> bool {
    let found = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found || std::env::var_os("CI").is_none(),
        "ffmpeg is required in CI"
    );
    found
}

/// The first `limit` access units of the 1080p Constrained Baseline clip
/// (GOP 60), cut by the sandboxed `parse-h264` stage.
pub fn access_units(limit: usize) -> Option<Vec<Packet>> {
    let clip = testdata()?.join("h264/throughput/real1080p30_10s_cbp_6M.264");
    let data = std::fs::read(&clip).expect("the throughput clip");
    let engine = engine();
    let mut splitter = AccessUnitSplitter::new(&engine).unwrap();
    let mut units = Vec::new();
    for piece in data.chunks(64 << 10) {
        units.extend(splitter.push(piece).unwrap());
        if units.len() >= limit {
            break;
        }
    }
    if units.len() < limit {
        units.extend(splitter.finish().unwrap());
    }
    units.truncate(limit);
    assert_eq!(units.len(), limit, "the clip has {limit} access units");
    Some(units)
}

/// The test-support crate does not depend on the host (the stage crates use
/// it), so it names the stage path variable itself.
#[test]
fn test_support_reads_the_stage_path_variable_the_host_reads() {
    assert_eq!(
        framechain_test_support::STAGE_PATH_ENV,
        framechain::STAGE_PATH_ENV
    );
}

/// A live runtime's owner for tests that read one session at a time: the
/// runtime has one receiver for every session, so the events of sessions
/// not being read wait here (without bound: a test's sessions are few and
/// short; a server routes each event as it comes instead). Read from one
/// thread at a time.
pub struct Owner {
    events: LiveEvents,
    waiting: Mutex<HashMap<SessionId, VecDeque<LiveEvent>>>,
    ended: Mutex<HashSet<SessionId>>,
}

impl Owner {
    /// Takes `runtime`'s receiver.
    pub fn of(runtime: &LiveRuntime) -> Owner {
        Owner {
            events: runtime.events().expect("the receiver is taken once"),
            waiting: Mutex::default(),
            ended: Mutex::default(),
        }
    }

    /// The next event of `session`, waiting for it; `None` once its
    /// `Ended` was taken, or the runtime is gone and nothing of it waits.
    pub fn recv(&self, session: SessionId) -> Option<LiveEvent> {
        self.take(session, true)
    }

    /// The next event of `session` if one is there, without waiting.
    pub fn try_recv(&self, session: SessionId) -> Option<LiveEvent> {
        self.take(session, false)
    }

    fn take(&self, session: SessionId, wait: bool) -> Option<LiveEvent> {
        loop {
            let mine = self
                .waiting
                .lock()
                .unwrap()
                .get_mut(&session)
                .and_then(VecDeque::pop_front);
            if let Some(event) = mine {
                return Some(self.note(session, event));
            }
            if self.ended.lock().unwrap().contains(&session) {
                return None;
            }
            let next = if wait {
                self.events.recv()
            } else {
                self.events.try_recv()
            };
            let (id, event) = next?;
            if id == session {
                return Some(self.note(session, event));
            }
            self.waiting
                .lock()
                .unwrap()
                .entry(id)
                .or_default()
                .push_back(event);
        }
    }

    fn note(&self, session: SessionId, event: LiveEvent) -> LiveEvent {
        if matches!(event, LiveEvent::Ended(_)) {
            self.ended.lock().unwrap().insert(session);
        }
        event
    }
}
