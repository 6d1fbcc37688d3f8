//! Shared set-up: an engine that finds the built stages, frames, and the
//! test data folder.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use framechain::live::{LiveEvent, LiveEvents, LiveRuntime, SessionId};
use framechain::{
    ChainSpec, Codec, Engine, EngineConfig, Frame, Media, Packet, Pipeline, Plane, StageRegistry,
};

/// Folders holding the built stage components.
fn stage_dirs() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os(framechain::STAGE_PATH_ENV) {
        return std::env::split_paths(&path).collect();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    vec![target.join("stages"), target.join("test-stages")]
}

pub fn config() -> EngineConfig {
    let registry = StageRegistry::with_dirs(stage_dirs());
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

/// A frame whose Y plane is `luma` everywhere, with the given pts.
pub fn flat_frame(width: u32, height: u32, luma: u8, pts: i64) -> Frame {
    let mut frame = Frame::black(width, height).expect("frame size");
    frame.plane_mut(Plane::Y).fill(luma);
    frame.pts = pts;
    frame
}

/// `../shared/testdata` (or `$FRAMECHAIN_TESTDATA`). In CI its absence is
/// a failure; elsewhere tests that need it are skipped with a note.
pub fn testdata() -> Option<PathBuf> {
    let path = std::env::var_os("FRAMECHAIN_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    if path.is_dir() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "test data not found at {} (CI needs it)",
        path.display()
    );
    eprintln!("skipping: test data not found at {}", path.display());
    None
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
    let parser = pipeline(&engine, "parse-h264");
    let mut session = parser.start_session().unwrap();
    let mut units = Vec::new();
    for chunk in data.chunks(64 << 10) {
        let packet = Packet {
            codec: Codec::H264,
            data: chunk.to_vec(),
            pts: -1,
            dts: -1,
            keyframe: false,
        };
        units.extend(session.push(Media::Packet(packet)).unwrap());
        if units.len() >= limit {
            break;
        }
    }
    if units.len() < limit {
        units.extend(session.flush().unwrap());
    }
    let units: Vec<Packet> = units
        .into_iter()
        .take(limit)
        .map(|media| media.into_packet().expect("parse-h264 gives packets"))
        .collect();
    assert_eq!(units.len(), limit, "the clip has {limit} access units");
    Some(units)
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
