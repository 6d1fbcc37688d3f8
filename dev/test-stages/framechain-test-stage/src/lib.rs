//! `test-stage`: a stage that misbehaves on request, for the host's
//! integration tests and benchmarks. Not shipped.
//!
//! Takes I420 frames, gives I420 frames. Three parameters: `behaviour`;
//! `level` (an integer 0 to 100, default 0, otherwise unused), whose invalid
//! values are refused with `bad-parameter` except under
//! `behaviour=mistyped-param-error`; and `after` (a Unix time in
//! milliseconds, default 0), read only by `sleep-in-create-after`.
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
//! | `sleep` | sleeps an hour in WASI (clocks/poll, not a wasm loop): the time limit must hold for blocking calls too |
//! | `sleep-in-create` | sleeps an hour in `create`, after reading the parameters |
//! | `sleep-in-create-after` | passes frames on; but `create` sleeps an hour once the wall clock reads `after` or later: an instance made before then (a swap's trial) works, every later one fails. Instances share nothing, so the wall clock is how a stage tells its trial from later creates |
//! | `sleep-in-flush` | passes frames on; sleeps an hour in `flush` |
//! | `region-flood` | adds 1x1 `face` regions to the frame without end: the host's region cap must stop it |
//! | `long-label` | adds one region whose label is 1 MiB long |
//! | `metadata-clones` | sets 256 regions with 64-byte labels on the frame, then without end makes 2x2 frames, copies the metadata onto each and keeps them: the host must charge the cloned regions to the stage |
//! | `multiply` | returns 40 new frames (the input's size and metadata) per input, and not the input: two in a row turn 1 frame into 1600 |
//! | `drop-reasons` | returns nothing and reports 10,000 drops per push, each with its own 10 KB reason holding a quote, a backslash, a newline, an escape code and a forged `framechain: error:` line; the reasons of each instance start with a random tag, so every session's are new |
//! | `log-flood` | logs 100,000 lines of 64 KB per push, each with a forged `framechain: error:` line and an escape code, then returns the frame |
//! | `error-forgery` | fails with an internal error whose text holds a newline, a forged `framechain: error:` line, an escape code and 1 MB of `x` |
//! | `swallow` | returns nothing and reports no drop: the frame vanishes unreported |
//! | `stderr-flood` | writes 10 MB to stderr in 1 KB pieces, then returns the frame |
//! | `aliased-drops` | reports 4096 drops whose reasons all point at the same 16 MiB of text: 64 GiB if the host copied each one |
//! | `aliased-labels` | sets 200 regions whose labels all point at the same 16 MiB: 3.2 GB if the host copied each one |
//! | `create-internal-error` | `create` fails with an `internal` error (not a parameter's fault) |
//! | `mistyped-param-error` | passes frames on; an invalid `level` is refused with `internal` instead of `bad-parameter` |
//!
//! Built with the `sleepy-describe` feature (`cargo xtask build` makes
//! `target/test-stages/test-stage-sleepy-describe.wasm`), `describe` itself
//! sleeps an hour, so loading the stage must hit the time limit.
//!
//! ```text
//! test-stage behaviour=remember
//! test-stage behaviour=loop ! scale width=640
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use framechain_stage::media::{empty_output, expect_frame, frame_error_text, frame_output};
use framechain_stage::spec::{ParamSpecExt, choice, param};
use framechain_stage::{
    Control, DroppedFrame, Frame, Media, Output, ParamKind, ParamSpec, Params, PixelFormat, Plane,
    Port, ProcessorHandle, Rect, Region, Stage, StageDescription, StageError, StageProcessor,
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
    Sleep,
    SleepInCreate,
    SleepInCreateAfter,
    SleepInFlush,
    RegionFlood,
    LongLabel,
    MetadataClones,
    Multiply,
    DropReasons,
    LogFlood,
    ErrorForgery,
    Swallow,
    StderrFlood,
    AliasedDrops,
    AliasedLabels,
    Burn,
    CreateInternalError,
    MistypedParamError,
}

impl Behaviour {
    const ALL: [(&'static str, Behaviour); 27] = [
        ("passthrough", Behaviour::Passthrough),
        ("loop", Behaviour::Loop),
        ("alloc", Behaviour::Alloc),
        ("trap", Behaviour::Trap),
        ("remember", Behaviour::Remember),
        ("read-plane", Behaviour::ReadPlane),
        ("roundtrip", Behaviour::Roundtrip),
        ("hoard-frames", Behaviour::HoardFrames),
        ("probe-sandbox", Behaviour::ProbeSandbox),
        ("sleep", Behaviour::Sleep),
        ("sleep-in-create", Behaviour::SleepInCreate),
        ("sleep-in-create-after", Behaviour::SleepInCreateAfter),
        ("sleep-in-flush", Behaviour::SleepInFlush),
        ("region-flood", Behaviour::RegionFlood),
        ("long-label", Behaviour::LongLabel),
        ("metadata-clones", Behaviour::MetadataClones),
        ("multiply", Behaviour::Multiply),
        ("drop-reasons", Behaviour::DropReasons),
        ("log-flood", Behaviour::LogFlood),
        ("error-forgery", Behaviour::ErrorForgery),
        ("swallow", Behaviour::Swallow),
        ("stderr-flood", Behaviour::StderrFlood),
        ("aliased-drops", Behaviour::AliasedDrops),
        ("aliased-labels", Behaviour::AliasedLabels),
        ("burn", Behaviour::Burn),
        ("create-internal-error", Behaviour::CreateInternalError),
        ("mistyped-param-error", Behaviour::MistypedParamError),
    ];

    fn from_name(name: &str) -> Option<Behaviour> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|&(_, b)| b)
    }
}

/// The range of the `level` parameter.
const LEVELS: std::ops::RangeInclusive<i64> = 0..=100;

pub fn param_specs() -> Vec<ParamSpec> {
    let names: Vec<&str> = Behaviour::ALL.iter().map(|(n, _)| *n).collect();
    vec![
        choice(
            "behaviour",
            &names,
            "passthrough",
            "What to do on push: passthrough, loop forever, alloc without end, trap, remember the first Y sample, read-plane or roundtrip the Y plane, hoard-frames without end, probe-sandbox for capabilities; hostile: sleep (in push, create or flush), sleep-in-create-after (create sleeps once the wall clock reads `after`), region-flood, long-label, metadata-clones, multiply, drop-reasons, log-flood, error-forgery, swallow, stderr-flood, aliased-drops, aliased-labels; burn: spin 45 ms of CPU per frame, then pass it on (a stage using most of a 50 ms time limit on every call); create-internal-error: fail create with an internal error; mistyped-param-error: refuse an invalid level with internal instead of bad-parameter.",
        ),
        param(
            "level",
            ParamKind::Integer,
            "A whole number from 0 to 100, otherwise unused: for checks of how parameter errors are typed.",
        )
        .with_default("0"),
        param(
            "after",
            ParamKind::Integer,
            "A Unix time in milliseconds: under sleep-in-create-after, create sleeps an hour from then on.",
        )
        .with_default("0"),
    ]
}

/// The range of the `after` parameter (Unix milliseconds).
const AFTER: std::ops::RangeInclusive<i64> = 0..=i64::MAX;

/// The `after` parameter, in Unix milliseconds.
fn after_from_params(list: &[(String, String)]) -> Result<i64, StageError> {
    let after = list
        .iter()
        .filter(|(name, _)| name == "after")
        .cloned()
        .collect();
    Params::parse(STAGE_NAME, &param_specs(), after)?.integer("after", AFTER)
}

/// The wall clock (WASI `wall-clock`) in Unix milliseconds.
fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

/// Reads the parameters; unknown values are a bad parameter, except an
/// invalid `level` under `mistyped-param-error`, which is `internal`.
pub fn behaviour_from_params(list: Vec<(String, String)>) -> Result<Behaviour, StageError> {
    // `level` is read after `behaviour`, so that the behaviour can decide
    // how its errors are typed.
    let (level, rest): (Vec<_>, Vec<_>) = list.into_iter().partition(|(name, _)| name == "level");
    let params = Params::parse(STAGE_NAME, &param_specs(), rest)?;
    let name = params.choice("behaviour")?;
    let behaviour = Behaviour::from_name(name)
        .ok_or_else(|| params.error("behaviour", &format!("unknown behaviour \"{name}\"")))?;
    let level = Params::parse(STAGE_NAME, &param_specs(), level)
        .and_then(|params| params.integer("level", LEVELS));
    match level {
        Ok(_) => Ok(behaviour),
        Err(StageError::BadParameter(message)) if behaviour == Behaviour::MistypedParamError => {
            Err(StageError::Internal(message))
        }
        Err(error) => Err(error),
    }
}

/// The stage type registered with `export_stage!`.
pub struct TestStage;

impl Stage for TestStage {
    type Processor = TestProcessor;

    fn describe() -> StageDescription {
        // The `sleepy-describe` build blocks before saying anything, so the
        // host's time limit must cover loading a stage too.
        #[cfg(feature = "sleepy-describe")]
        sleep_an_hour();
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary: "Test stage: passes frames on, or misbehaves on request (loop, alloc, trap, sleep, floods, forgeries)."
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
        let after = after_from_params(&params)?;
        let behaviour = behaviour_from_params(params)?;
        match behaviour {
            Behaviour::SleepInCreate => sleep_an_hour(),
            Behaviour::SleepInCreateAfter if unix_millis() >= after => sleep_an_hour(),
            Behaviour::CreateInternalError => {
                return Err(StageError::Internal(format!(
                    "{STAGE_NAME}: failing create because behaviour=create-internal-error"
                )));
            }
            _ => {}
        }
        Ok(ProcessorHandle::new(TestProcessor { behaviour }))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let frame = expect_frame(STAGE_NAME, input)?;
        match self.behaviour {
            Behaviour::Passthrough
            | Behaviour::SleepInCreate
            | Behaviour::SleepInCreateAfter
            | Behaviour::SleepInFlush
            | Behaviour::CreateInternalError
            | Behaviour::MistypedParamError => {}
            Behaviour::Sleep => sleep_an_hour(),
            Behaviour::RegionFlood => flood_regions(&frame),
            Behaviour::LongLabel => frame.add_region(&long_label_region()),
            Behaviour::MetadataClones => clone_metadata_forever(&frame)?,
            Behaviour::Multiply => return multiply(&frame),
            Behaviour::DropReasons => return Ok(forged_drops(&frame)),
            Behaviour::LogFlood => flood_log(),
            Behaviour::ErrorForgery => return Err(forged_error()),
            // The frame is dropped here, and nothing says so.
            Behaviour::Swallow => return Ok(empty_output()),
            Behaviour::StderrFlood => flood_stderr(),
            Behaviour::AliasedDrops => return Ok(aliased_drops(&frame)),
            Behaviour::AliasedLabels => set_aliased_labels(&frame),
            Behaviour::Loop => spin_forever(),
            Behaviour::Burn => burn(BURN_PER_FRAME),
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
        if self.behaviour == Behaviour::SleepInFlush {
            sleep_an_hour();
        }
        Ok(empty_output())
    }

    fn control(&self, event: Control) -> Result<(), StageError> {
        framechain_stage::control::ignore(event)
    }
}

/// Blocks in WASI (`wasi:clocks` / `poll`), where no wasm runs and so no
/// epoch check fires: the host must stop the call some other way.
fn sleep_an_hour() {
    std::thread::sleep(Duration::from_secs(3600));
}

/// A 1x1 rectangle at the origin: regions whose cost is all host-side.
const PIXEL: Rect = Rect {
    x: 0,
    y: 0,
    width: 1,
    height: 1,
};

/// Adds regions without end: `add-region` cannot fail, so only the host
/// (a cap per frame, or the time limit) ends this.
fn flood_regions(frame: &Frame) -> ! {
    let region = Region {
        label: "face".to_owned(),
        area: PIXEL,
    };
    loop {
        frame.add_region(&region);
    }
}

/// One region with a 1 MiB label, far past any sane label length.
fn long_label_region() -> Region {
    Region {
        label: "a".repeat(1 << 20),
        area: PIXEL,
    }
}

/// Frames kept alive by `metadata-clones`, each carrying a host-side copy
/// of the input's regions.
static CLONES: Mutex<Vec<Frame>> = Mutex::new(Vec::new());

/// Sets as many 64-byte-label regions as the host takes (256 is what the
/// host's caps allow at most), then clones them onto tiny frames without
/// end. The frames cost almost no pixels; what grows is the host's copies
/// of the regions, which must be charged to this stage.
fn clone_metadata_forever(frame: &Frame) -> Result<(), StageError> {
    let regions: Vec<Region> = (0..256)
        .map(|i| Region {
            label: format!("{i:0>64}"),
            area: PIXEL,
        })
        .collect();
    frame.set_regions(&regions);
    loop {
        let clone = Frame::create(2, 2, PixelFormat::I420)
            .map_err(|e| failure("creating a 2x2 frame", e))?;
        clone.copy_metadata(frame);
        match CLONES.lock() {
            Ok(mut clones) => clones.push(clone),
            Err(poisoned) => poisoned.into_inner().push(clone),
        }
    }
}

/// Frames `multiply` returns per input.
const MULTIPLY_BY: usize = 40;

/// 40 new frames of the input's size and metadata, instead of the input:
/// a stage may return many frames per call, and two in a row multiply.
fn multiply(input: &Frame) -> Result<Output, StageError> {
    let info = input.info();
    let mut media = Vec::with_capacity(MULTIPLY_BY);
    for _ in 0..MULTIPLY_BY {
        let frame = Frame::create(info.width, info.height, PixelFormat::I420)
            .map_err(|e| failure("creating a copy of the input", e))?;
        frame.copy_metadata(input);
        frame.set_timing(info.pts, info.duration, info.keyframe);
        media.push(Media::Frame(frame));
    }
    Ok(Output {
        media,
        dropped: Vec::new(),
        notices: Vec::new(),
    })
}

/// A line a terminal would show as the host's own error: it starts a new
/// line, then turns the text red and clears the screen.
const FORGED_LINE: &str = "\nframechain: error: forged \x1b[31m\x1b[2J\n";

/// Counts drop reasons over the whole session, so every reason ever
/// reported is distinct (the host must not keep one map entry per reason).
static DROPS_REPORTED: AtomicU64 = AtomicU64::new(0);

/// A random tag for this instance's drop reasons (from WASI randomness,
/// through std's hash seed), so two sessions never report the same ones:
/// whatever keeps labels per process sees new values from each session.
fn instance_tag() -> u64 {
    use std::hash::BuildHasher;
    static TAG: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TAG.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u8))
}

/// No frames out, and 10,000 drops for the one input, each with its own
/// 10 KB reason carrying a forged error line.
/// Drop reasons that all share one 16 MiB buffer. Each `String` is made
/// from the same raw parts, which Rust would never allow: the point is the
/// (pointer, length) pairs the host is handed, 4096 of them for 16 MiB.
/// The stage's own frees after the call are its own problem.
fn aliased_drops(frame: &Frame) -> Output {
    const DROPS: usize = 4096;
    const TEXT_BYTES: usize = 16 << 20;
    let pts = frame.info().pts;
    let text: &'static mut str = Box::leak("x".repeat(TEXT_BYTES).into_boxed_str());
    let (ptr, len) = (text.as_mut_ptr(), text.len());
    let dropped = (0..DROPS)
        .map(|_| DroppedFrame {
            pts,
            // SAFETY: deliberately not (the strings alias); see above.
            reason: unsafe { String::from_raw_parts(ptr, len, len) },
        })
        .collect();
    Output {
        media: Vec::new(),
        dropped,
        notices: Vec::new(),
    }
}

/// Regions whose labels share one 16 MiB buffer, as `aliased-drops` does
/// with drop reasons. The strings are leaked, never freed.
fn set_aliased_labels(frame: &Frame) {
    const REGIONS: usize = 200;
    let text: &'static mut str = Box::leak("x".repeat(16 << 20).into_boxed_str());
    let (ptr, len) = (text.as_mut_ptr(), text.len());
    let regions: Vec<Region> = (0..REGIONS)
        .map(|_| Region {
            // SAFETY: deliberately not (the strings alias); see above.
            label: unsafe { String::from_raw_parts(ptr, len, len) },
            area: PIXEL,
        })
        .collect();
    frame.set_regions(&regions);
    std::mem::forget(regions);
}

fn forged_drops(frame: &Frame) -> Output {
    const DROPS: usize = 10_000;
    const REASON_BYTES: usize = 10 * 1024;
    let pts = frame.info().pts;
    let dropped = (0..DROPS)
        .map(|_| {
            let n = DROPS_REPORTED.fetch_add(1, Ordering::Relaxed);
            let tag = instance_tag();
            let mut reason = format!("reason \"{tag:x}\\{n}\"{FORGED_LINE}");
            reason.extend(std::iter::repeat_n('r', REASON_BYTES - reason.len()));
            DroppedFrame { pts, reason }
        })
        .collect();
    Output {
        media: Vec::new(),
        dropped,
        notices: Vec::new(),
    }
}

/// 100,000 log lines of 64 KB per push, each forging an error line and
/// clearing the screen: the host must escape, cut and cap stage logs.
fn flood_log() {
    const LINES: usize = 100_000;
    const LINE_BYTES: usize = 64 * 1024;
    let mut line = format!("{STAGE_NAME}: log-flood{FORGED_LINE}");
    line.extend(std::iter::repeat_n('l', LINE_BYTES - line.len()));
    for _ in 0..LINES {
        framechain_stage::log::info(&line);
    }
}

/// An error text that tries to end the host's error line early, print a
/// forged one, clear the screen, and fill the terminal.
fn forged_error() -> StageError {
    let mut text = "line one\nframechain: error: forged\x1b[2J".to_owned();
    text.extend(std::iter::repeat_n('x', 1 << 20));
    StageError::Internal(text)
}

/// 10 MB on the stage's stderr in 1 KB pieces: the host's capture of it
/// must neither fail nor grow.
fn flood_stderr() {
    let piece = "e".repeat(1023) + "\n";
    for _ in 0..10 * 1024 {
        eprint!("{piece}");
    }
}

/// CPU time `burn` spends on every frame.
const BURN_PER_FRAME: std::time::Duration = std::time::Duration::from_millis(45);

/// Spins for `time` by the monotonic clock (WASI's), then returns.
fn burn(time: std::time::Duration) {
    let until = std::time::Instant::now() + time;
    let mut turns: u64 = 0;
    while std::time::Instant::now() < until {
        turns = std::hint::black_box(turns.wrapping_add(1));
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
                "test-stage: behaviour: expected one of passthrough, loop, alloc, trap, remember, read-plane, roundtrip, hoard-frames, probe-sandbox, sleep, sleep-in-create, sleep-in-create-after, sleep-in-flush, region-flood, long-label, metadata-clones, multiply, drop-reasons, log-flood, error-forgery, swallow, stderr-flood, aliased-drops, aliased-labels, burn, create-internal-error, mistyped-param-error, got \"explode\"".to_owned()
            ))
        );
    }

    #[test]
    fn an_invalid_level_is_typed_wrongly_only_when_asked() {
        let with_level = |behaviour: &str, level: &str| {
            behaviour_from_params(vec![
                ("level".to_owned(), level.to_owned()),
                ("behaviour".to_owned(), behaviour.to_owned()),
            ])
        };
        assert_eq!(with_level("passthrough", "7"), Ok(Behaviour::Passthrough));
        assert!(matches!(
            with_level("passthrough", "twelve"),
            Err(StageError::BadParameter(_))
        ));
        assert!(matches!(
            with_level("passthrough", "101"),
            Err(StageError::BadParameter(_))
        ));
        let Err(StageError::Internal(message)) = with_level("mistyped-param-error", "twelve")
        else {
            panic!("expected an internal error");
        };
        assert!(message.starts_with("test-stage: level: "), "{message}");
    }
}
