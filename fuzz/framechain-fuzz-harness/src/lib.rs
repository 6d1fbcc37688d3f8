//! framechain's fuzz targets, one plain function each, so that the same code
//! runs under libFuzzer (`fuzz/`, with coverage feedback) and in `cargo test`
//! (`tests/corpus.rs` replays every file of every target's corpus, which is
//! how CI runs each target briefly).
//!
//! A target returns normally for every input the host handled: an error is
//! a fine outcome for bad input. It panics when the host broke a promise —
//! a host panic, an error that is not one printable line, a frame that is
//! not what its size says — and libFuzzer records that input as a crash.

mod events;
mod parse_h264;
mod rooms;
mod tickets;
mod webrtc;

pub use events::{event_body, ingest_entry, ingest_entry_is_row};
pub use parse_h264::parse_h264;
pub use rooms::rooms;
pub use tickets::{ticket, ticket_is_taken};
pub use webrtc::{OFFER, webrtc_datagrams, webrtc_offer};

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use framechain::{
    ChainSpec, Codec, Engine, EngineConfig, Frame, Media, Packet, Pipeline, Plane, StageRegistry,
};
use framechain_tools::io::{
    AnnexBReader, FrameRate, FrameReader, FrameWriter, MediaReader, RawReader, Y4mReader, Y4mWriter,
};

/// A fuzz target: runs one input, panics on a broken promise.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus folder and cargo-fuzz binary have.
pub const TARGETS: &[(&str, Target)] = &[
    ("y4m", y4m),
    ("raw", raw),
    ("annexb", annexb),
    ("pipeline_yaml", pipeline_yaml),
    ("launch_line", launch_line),
    ("decode_h264", decode_h264),
    ("stage_calls", stage_calls),
    ("parse_h264", parse_h264),
    ("webrtc_offer", webrtc_offer),
    ("webrtc_datagrams", webrtc_datagrams),
    ("rooms", rooms),
    ("event_body", event_body),
    ("ingest_entry", ingest_entry),
    ("ticket", ticket),
];

/// Largest frame the reader targets accept: fuzz inputs are small, and a
/// bigger declared size is still exercised (it fails as truncated).
const MAX_FRAME_BYTES: usize = 4 << 20;

/// A user-facing error must be one line a terminal shows as it is.
fn assert_one_line(error: &str) {
    assert!(
        !error.is_empty() && !error.chars().any(char::is_control),
        "an error is not one printable line: {error:?}"
    );
    assert!(error.len() < 2048, "an error of {} bytes", error.len());
}

fn assert_sound(frame: &Frame) {
    let (width, height) = (frame.width(), frame.height());
    assert_eq!(Frame::byte_len_for(width, height), Ok(frame.byte_len()));
    assert_eq!(frame.plane(Plane::Y).len(), (width * height) as usize);
}

/// Y4M: the header and every frame; what was read must survive a write and
/// a second read unchanged.
pub fn y4m(data: &[u8]) {
    let mut reader = match Y4mReader::with_max_frame_bytes(data, MAX_FRAME_BYTES) {
        Ok(reader) => reader,
        Err(error) => return assert_one_line(&error.to_string()),
    };
    let mut frames = Vec::new();
    loop {
        match reader.read_frame() {
            Ok(Some(frame)) => {
                assert_sound(&frame);
                assert_eq!((frame.width(), frame.height()), reader.size());
                frames.push(frame);
            }
            Ok(None) => break,
            Err(error) => {
                assert_one_line(&error.to_string());
                break;
            }
        }
    }
    let mut written = Vec::new();
    let mut writer = Y4mWriter::new(&mut written, reader.frame_rate());
    for frame in &frames {
        writer.write_frame(frame).expect("writing to memory");
    }
    writer.finish().expect("writing to memory");
    if frames.is_empty() {
        return;
    }
    let mut again = Y4mReader::new(&written[..]).expect("our own header");
    for frame in &frames {
        let copy = again.read_frame().expect("our own frame").expect("a frame");
        for plane in [Plane::Y, Plane::U, Plane::V] {
            assert_eq!(copy.plane(plane), frame.plane(plane));
        }
    }
    assert!(again.read_frame().expect("a clean end").is_none());
}

/// Headerless I420: the size comes from the first four bytes (any `u16`s,
/// zero and oversized ones included), the frame rate from the fifth.
pub fn raw(data: &[u8]) {
    if data.len() < 5 {
        return;
    }
    let width = u32::from(u16::from_le_bytes([data[0], data[1]]));
    let height = u32::from(u16::from_le_bytes([data[2], data[3]]));
    let rate = FrameRate {
        num: u32::from(data[4]),
        den: 1,
    };
    let mut reader =
        match RawReader::with_max_frame_bytes(&data[5..], width, height, rate, MAX_FRAME_BYTES) {
            Ok(reader) => reader,
            Err(error) => return assert_one_line(&error.to_string()),
        };
    let mut total = 0;
    loop {
        match reader.read_frame() {
            Ok(Some(frame)) => {
                assert_sound(&frame);
                total += frame.byte_len();
            }
            Ok(None) => break assert_eq!(total, data.len() - 5),
            Err(error) => break assert_one_line(&error.to_string()),
        }
    }
}

/// Annex-B: the chunks must cover the input exactly, in order.
pub fn annexb(data: &[u8]) {
    let mut reader = AnnexBReader::new(data, FrameRate::DEFAULT);
    let mut joined = Vec::new();
    while let Some(media) = reader.read_media().expect("reading memory") {
        let packet = media.into_packet().expect("packets");
        assert!(!packet.data.is_empty() && packet.data.len() <= framechain_tools::io::ANNEXB_CHUNK);
        joined.extend_from_slice(&packet.data);
    }
    assert_eq!(joined, data);
}

/// A pipeline file's text (the bytes as UTF-8, lossily).
pub fn pipeline_yaml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match ChainSpec::parse_pipeline_yaml(&text) {
        Ok(chain) => check_chain(&chain),
        Err(error) => assert_one_line(&error),
    }
}

/// A launch line (the bytes as UTF-8, lossily).
pub fn launch_line(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match ChainSpec::parse_launch(&text) {
        Ok(chain) => {
            check_chain(&chain);
            // Parsing is whitespace-insensitive: the chain written back as a
            // launch line parses to the same chain.
            let again = chain.to_launch();
            // (Unless the spaces added around `!` made it longer than a
            // launch line may be: crates/framechain/src/chain.rs MAX_LAUNCH_LINE.)
            if again.len() <= 128 * 1024 {
                assert_eq!(ChainSpec::parse_launch(&again).ok(), Some(chain));
            }
        }
        Err(error) => assert_one_line(&error.to_string()),
    }
}

fn check_chain(chain: &ChainSpec) {
    assert!(!chain.stages.is_empty() && chain.stages.len() <= framechain::limits::MAX_STAGES);
    for stage in &chain.stages {
        assert!(stage.params.len() <= framechain::limits::MAX_PARAMS);
        let mut names: Vec<&str> = stage.params.iter().map(|(key, _)| key.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), stage.params.len(), "a repeated parameter");
    }
}

/// The stage folders: `$FRAMECHAIN_STAGE_PATH` if set, else this
/// workspace's `target/stages` and `target/test-stages` (where `cargo xtask
/// build` puts them; cargo-fuzz builds in another target folder).
fn registry() -> StageRegistry {
    let mut dirs: Vec<PathBuf> = std::env::var_os(framechain::STAGE_PATH_ENV)
        .map(|value| std::env::split_paths(&value).collect())
        .unwrap_or_default();
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
    dirs.extend([target.join("stages"), target.join("test-stages")]);
    StageRegistry::with_dirs(dirs)
}

/// One engine per fuzzing process, with small limits so that a hostile
/// input is stopped fast, and compiled components cached across runs.
fn engine() -> Engine {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-cache");
    Engine::new(EngineConfig {
        memory_limit: 64 << 20,
        in_flight_limit: 64 << 20,
        call_timeout: Duration::from_millis(500),
        pooling: Some(4),
        cache_dir: std::fs::create_dir_all(&cache).is_ok().then_some(cache),
        registry: registry(),
        native_h264: false,
        ..EngineConfig::default()
    })
    .expect("the fuzzing engine")
}

thread_local! {
    // Built once per thread (libFuzzer runs inputs on one): compiling a
    // stage takes seconds, a session microseconds.
    static DECODE: RefCell<Option<Pipeline>> = const { RefCell::new(None) };
    static FUZZ_STAGE: RefCell<Option<Pipeline>> = const { RefCell::new(None) };
}

fn with_pipeline(
    cell: &'static std::thread::LocalKey<RefCell<Option<Pipeline>>>,
    launch: &str,
    run: impl FnOnce(&Pipeline),
) {
    cell.with(|cell| {
        let mut cell = cell.borrow_mut();
        let pipeline = cell.get_or_insert_with(|| {
            let chain = ChainSpec::parse_launch(launch).expect("a fixed launch line");
            Pipeline::build(&engine(), &chain).unwrap_or_else(|error| {
                panic!("building `{launch}` (run `cargo xtask build` first): {error}")
            })
        });
        run(pipeline);
    });
}

/// Runs `data` as [`stage_calls`] does and returns the session's outputs (or
/// its error): for tests of what the host lets a stage hand out.
pub fn stage_calls_outputs(data: &[u8]) -> Result<Vec<Media>, String> {
    let mut result = Err(String::new());
    with_pipeline(&FUZZ_STAGE, "fuzz-stage", |pipeline| {
        let mut session = pipeline.start_session().expect("starting a session");
        let packet = Packet {
            codec: Codec::H264,
            data: data.to_vec(),
            pts: -1,
            dts: -1,
            keyframe: false,
        };
        result = session
            .push(Media::Packet(packet))
            .and_then(|mut outputs| {
                outputs.extend(session.flush()?);
                Ok(outputs)
            })
            .map_err(|error| error.to_string());
    });
    result
}

/// Pushes `packets` through one new session and flushes it. Any error ends
/// the session; it must be one line, and whatever came out must be sound.
fn run_session(pipeline: &Pipeline, packets: impl IntoIterator<Item = Vec<u8>>) {
    // Starting a session runs the stage's `create` under the time limit: on
    // a loaded machine that can time out, which is a clean outcome too.
    let mut session = match pipeline.start_session() {
        Ok(session) => session,
        Err(error) => return assert_one_line(&error.to_string()),
    };
    let check = |outputs: Vec<Media>| {
        for media in outputs {
            match media {
                Media::Frame(frame) => assert_sound(&frame),
                // The host stops a stage whose output does not match its
                // declared port (tests/corpus.rs has the reproducer).
                Media::Packet(_) => panic!("a frame port gave a packet"),
            }
        }
    };
    for data in packets {
        let packet = Packet {
            codec: Codec::H264,
            data,
            pts: -1,
            dts: -1,
            keyframe: false,
        };
        match session.push(Media::Packet(packet)) {
            Ok(outputs) => check(outputs),
            Err(error) => return assert_one_line(&error.to_string()),
        }
    }
    match session.flush() {
        Ok(outputs) => check(outputs),
        Err(error) => assert_one_line(&error.to_string()),
    }
}

/// The real `decode-h264` stage in wasmtime behind the host, fed the input
/// as one H.264 packet.
pub fn decode_h264(data: &[u8]) {
    with_pipeline(&DECODE, "decode-h264", |pipeline| {
        run_session(pipeline, [data.to_vec()]);
    });
}

/// The `fuzz-stage` test component, which runs each packet as a program of
/// host calls. Bytes `0xff 0xfe` split the input into packets (calls), so
/// that frames and handles live across calls.
pub fn stage_calls(data: &[u8]) {
    with_pipeline(&FUZZ_STAGE, "fuzz-stage", |pipeline| {
        let mut packets = Vec::new();
        let mut rest = data;
        while let Some(at) = rest.windows(2).position(|pair| pair == [0xff, 0xfe]) {
            packets.push(rest[..at].to_vec());
            rest = &rest[at + 2..];
        }
        packets.push(rest.to_vec());
        run_session(pipeline, packets);
    });
}
