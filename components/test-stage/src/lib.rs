//! `test-stage`: a stage that misbehaves on request, for the host's
//! integration tests and benchmarks. Not shipped.
//!
//! Takes I420 frames, gives I420 frames. One parameter, `behaviour`:
//!
//! | value | on push |
//! |-------|---------|
//! | `passthrough` (default) | returns the input frame unchanged |
//! | `loop` | spins forever: the host's time limit must stop it |
//! | `alloc` | allocates 1 MiB blocks without end: the host's memory limit must stop it |
//! | `trap` | panics, which traps the component |
//! | `remember` | on the first push keeps the frame's first Y sample in a global; on every push writes the kept value into the frame's first Y sample. Two sessions see their own values only if their memories are separate |
//! | `read-plane` | reads the whole Y plane across the boundary and returns the frame (cost of one plane crossing) |
//! | `roundtrip` | reads the Y plane and writes it back |
//! | `hoard-frames` | creates 1080p frames without end and keeps them: the host's frame budget must stop it |
//! | `probe-sandbox` | tries files, environment, arguments and the network, and tags the frame with a `probe:...` region saying what it reached |
//!
//! ```text
//! test-stage behaviour=remember
//! test-stage behaviour=loop ! scale width=640
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

use framechain_stage::media::{empty_output, expect_frame, frame_error_text, frame_output};
use framechain_stage::spec::choice;
use framechain_stage::{
    Frame, Media, Output, ParamSpec, Params, PixelFormat, Plane, Port, ProcessorHandle, Rect,
    Stage, StageDescription, StageError, StageProcessor,
};

pub const STAGE_NAME: &str = "test-stage";

/// What the processor does with each frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Passthrough,
    Loop,
    Alloc,
    Trap,
    Remember,
    ReadPlane,
    Roundtrip,
    HoardFrames,
    ProbeSandbox,
}

impl Behaviour {
    const ALL: [(&'static str, Behaviour); 9] = [
        ("passthrough", Behaviour::Passthrough),
        ("loop", Behaviour::Loop),
        ("alloc", Behaviour::Alloc),
        ("trap", Behaviour::Trap),
        ("remember", Behaviour::Remember),
        ("read-plane", Behaviour::ReadPlane),
        ("roundtrip", Behaviour::Roundtrip),
        ("hoard-frames", Behaviour::HoardFrames),
        ("probe-sandbox", Behaviour::ProbeSandbox),
    ];

    fn from_name(name: &str) -> Option<Behaviour> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|&(_, b)| b)
    }
}

pub fn param_specs() -> Vec<ParamSpec> {
    let names: Vec<&str> = Behaviour::ALL.iter().map(|(n, _)| *n).collect();
    vec![choice(
        "behaviour",
        &names,
        "passthrough",
        "What to do on push: passthrough, loop forever, alloc without end, trap, remember the first Y sample, read-plane or roundtrip the Y plane, hoard-frames without end, probe-sandbox for capabilities.",
    )]
}

/// Reads the `behaviour` parameter; unknown values are a bad parameter.
pub fn behaviour_from_params(list: Vec<(String, String)>) -> Result<Behaviour, StageError> {
    let params = Params::parse(STAGE_NAME, &param_specs(), list)?;
    let name = params.choice("behaviour")?;
    Behaviour::from_name(name)
        .ok_or_else(|| params.error("behaviour", &format!("unknown behaviour \"{name}\"")))
}

/// The stage type registered with `export_stage!`.
pub struct TestStage;

impl Stage for TestStage {
    type Processor = TestProcessor;

    fn describe() -> StageDescription {
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary: "Test stage: passes frames on, or misbehaves on request (loop, alloc, trap)."
                .to_owned(),
            input: Port::Frames(vec![PixelFormat::I420]),
            output: Port::Frames(vec![PixelFormat::I420]),
            params: param_specs(),
        }
    }
}

pub struct TestProcessor {
    behaviour: Behaviour,
}

/// The first Y sample seen by `remember`, or -1 before the first push. A
/// global in linear memory: exactly what must not be shared between
/// sessions.
static REMEMBERED: AtomicI32 = AtomicI32::new(-1);

/// Blocks kept alive by `alloc`, so none can be freed or optimised away.
static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

impl StageProcessor for TestProcessor {
    fn create(params: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        Ok(ProcessorHandle::new(TestProcessor {
            behaviour: behaviour_from_params(params)?,
        }))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let frame = expect_frame(STAGE_NAME, input)?;
        match self.behaviour {
            Behaviour::Passthrough => {}
            Behaviour::Loop => spin_forever(),
            Behaviour::Alloc => allocate_forever(),
            // Deliberate: this behaviour exists to make the component trap.
            Behaviour::Trap => panic!("{STAGE_NAME}: trapping because behaviour=trap"),
            Behaviour::Remember => remember(&frame)?,
            Behaviour::ReadPlane => {
                std::hint::black_box(frame.read_plane(Plane::Y));
            }
            Behaviour::Roundtrip => {
                let samples = frame.read_plane(Plane::Y);
                frame
                    .write_plane(Plane::Y, &samples)
                    .map_err(|e| failure("writing back the Y plane", e))?;
            }
            Behaviour::HoardFrames => hoard_frames(),
            Behaviour::ProbeSandbox => frame.add_region(&framechain_stage::Region {
                label: probe_sandbox(),
                area: Rect {
                    x: 0,
                    y: 0,
                    width: 1,
                    height: 1,
                },
            }),
        }
        Ok(frame_output(frame))
    }

    fn flush(&self) -> Result<Output, StageError> {
        Ok(empty_output())
    }
}

fn spin_forever() -> ! {
    let mut turns: u64 = 0;
    loop {
        // black_box keeps the loop from being proven side-effect free and
        // removed.
        turns = std::hint::black_box(turns.wrapping_add(1));
    }
}

fn allocate_forever() -> ! {
    const BLOCK: usize = 1 << 20;
    loop {
        // A non-zero fill writes every byte, so the memory is really used.
        let block = vec![0xA5u8; BLOCK];
        match HOARD.lock() {
            Ok(mut hoard) => hoard.push(std::hint::black_box(block)),
            Err(poisoned) => poisoned.into_inner().push(std::hint::black_box(block)),
        }
    }
}

/// Frames kept alive by `hoard-frames`.
static FRAMES: Mutex<Vec<Frame>> = Mutex::new(Vec::new());

fn hoard_frames() -> ! {
    loop {
        match Frame::create(1920, 1080, PixelFormat::I420) {
            Ok(frame) => match FRAMES.lock() {
                Ok(mut frames) => frames.push(frame),
                Err(poisoned) => poisoned.into_inner().push(frame),
            },
            Err(error) => panic!(
                "{STAGE_NAME}: frame.create failed: {}",
                frame_error_text(error)
            ),
        }
    }
}

/// What the stage can reach from inside the sandbox, as
/// `probe:files=...,env=N,args=N,net=...`.
fn probe_sandbox() -> String {
    let reached = |ok: bool| if ok { "reached" } else { "denied" };
    let files = std::fs::read_dir("/").is_ok() || std::fs::read(".").is_ok();
    let env = std::env::vars_os().count();
    let args = std::env::args_os().count();
    let net = std::net::TcpStream::connect(("127.0.0.1", 22)).is_ok()
        || std::net::UdpSocket::bind(("0.0.0.0", 0)).is_ok();
    format!(
        "probe:files={},env={env},args={args},net={}",
        reached(files),
        reached(net)
    )
}

fn remember(frame: &Frame) -> Result<(), StageError> {
    let first = Rect {
        x: 0,
        y: 0,
        width: 1,
        height: 1,
    };
    let mut value = REMEMBERED.load(Ordering::Relaxed);
    if value < 0 {
        let sample = frame
            .read_rect(Plane::Y, first)
            .map_err(|e| failure("reading the first Y sample", e))?;
        value = i32::from(sample.first().copied().unwrap_or(0));
        REMEMBERED.store(value, Ordering::Relaxed);
    }
    frame
        .write_rect(Plane::Y, first, &[value as u8])
        .map_err(|e| failure("writing the first Y sample", e))
}

fn failure(action: &str, error: framechain_stage::FrameError) -> StageError {
    StageError::Internal(format!(
        "{STAGE_NAME}: {action}: {}",
        frame_error_text(error)
    ))
}

#[cfg(target_arch = "wasm32")]
framechain_stage::export_stage!(TestStage);

#[cfg(test)]
mod tests {
    use super::*;

    fn behaviour(value: &str) -> Result<Behaviour, StageError> {
        behaviour_from_params(vec![("behaviour".to_owned(), value.to_owned())])
    }

    #[test]
    fn every_behaviour_parses() {
        for (name, expected) in Behaviour::ALL {
            assert_eq!(behaviour(name), Ok(expected));
        }
        assert_eq!(behaviour_from_params(vec![]), Ok(Behaviour::Passthrough));
    }

    #[test]
    fn unknown_behaviours_are_bad_parameters() {
        assert_eq!(
            behaviour("explode"),
            Err(StageError::BadParameter(
                "test-stage: behaviour: expected one of passthrough, loop, alloc, trap, remember, read-plane, roundtrip, hoard-frames, probe-sandbox, got \"explode\"".to_owned()
            ))
        );
    }
}
