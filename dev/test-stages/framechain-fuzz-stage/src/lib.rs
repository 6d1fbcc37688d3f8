//! `fuzz-stage`: a stage whose calls into the host are chosen by a fuzzer.
//! Not shipped.
//!
//! It takes H.264 packets (any bytes) and gives frames, but it reads each
//! packet's data as a program: every instruction is one opcode byte and its
//! operands, and runs one host call — frame create and from-planes with
//! chosen sizes, read/write/fill of chosen rects, plane reads and writes of
//! wrong lengths, regions, metadata copies, timing, dropping handles,
//! returning frames, reporting drops, logging, errors and traps. Frames it
//! keeps live on between calls, so handles outlive the call that made them.
//!
//! The host must survive every program: a failed session (a trap, an error,
//! a budget refused) is a fine outcome, a host panic or crash is a bug. The
//! `stage_calls` target of `fuzz/` drives it with coverage feedback.

use std::cell::RefCell;

use framechain_stage::log::{Level, log};
use framechain_stage::{
    Codec, Control, DroppedFrame, Frame, Media, Output, Params, PixelFormat, Plane, Port,
    ProcessorHandle, Rect, Region, Stage, StageDescription, StageError, StageProcessor,
};

pub const STAGE_NAME: &str = "fuzz-stage";

/// Frames the stage may keep at once; an instruction naming a slot takes it
/// modulo this, so every slot number means something.
const SLOTS: usize = 8;
/// Most bytes one instruction sends to the host in a list (planes, rects,
/// labels): enough for wrong lengths around small frames, small enough that
/// a fuzzer's executions stay fast.
const MAX_DATA: usize = 1 << 16;

/// The stage type registered with `export_stage!`.
pub struct FuzzStage;

impl Stage for FuzzStage {
    type Processor = FuzzProcessor;

    fn describe() -> StageDescription {
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary: "Test stage: runs each packet's bytes as a program of host calls (fuzzing)."
                .to_owned(),
            input: Port::Packets(Codec::H264),
            output: Port::Frames(vec![PixelFormat::I420]),
            params: Vec::new(),
        }
    }
}

pub struct FuzzProcessor {
    slots: RefCell<Vec<Option<Frame>>>,
}

impl StageProcessor for FuzzProcessor {
    fn create(params: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        Params::parse(STAGE_NAME, &[], params)?;
        Ok(ProcessorHandle::new(FuzzProcessor {
            slots: RefCell::new((0..SLOTS).map(|_| None).collect()),
        }))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let Media::Packet(packet) = input else {
            return Err(StageError::UnsupportedInput(format!(
                "{STAGE_NAME}: takes packets"
            )));
        };
        let mut slots = self.slots.borrow_mut();
        run(&mut Program::new(&packet.data), &mut slots)
    }

    fn flush(&self) -> Result<Output, StageError> {
        // Whatever is still held goes out: the host takes frames created in
        // earlier calls.
        let mut slots = self.slots.borrow_mut();
        Ok(Output {
            media: slots
                .iter_mut()
                .filter_map(Option::take)
                .map(Media::Frame)
                .collect(),
            dropped: Vec::new(),
            notices: Vec::new(),
        })
    }

    fn control(&self, event: Control) -> Result<(), StageError> {
        framechain_stage::control::ignore(event)
    }
}

/// The packet's bytes, read as instructions and operands. Past the end every
/// read gives zero, so every byte sequence is a complete program.
struct Program<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Program<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Program { bytes, at: 0 }
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn byte(&mut self) -> u8 {
        let value = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        value
    }

    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    /// A number: mostly small (sizes and offsets of small frames), with the
    /// boundaries where hosts break one byte away.
    fn number(&mut self) -> u32 {
        const EDGES: [u32; 16] = [
            0,
            1,
            2,
            3,
            255,
            256,
            4095,
            4096,
            16_383,
            16_384,
            16_385,
            65_535,
            65_536,
            i32::MAX as u32,
            u32::MAX - 1,
            u32::MAX,
        ];
        match self.byte() {
            small @ 0..=239 => u32::from(small),
            edge => EDGES[usize::from(edge - 240)],
        }
    }

    fn plane(&mut self) -> Plane {
        match self.byte() % 3 {
            0 => Plane::Y,
            1 => Plane::U,
            _ => Plane::V,
        }
    }

    fn rect(&mut self) -> Rect {
        Rect {
            x: self.number(),
            y: self.number(),
            width: self.number(),
            height: self.number(),
        }
    }

    /// A length near `expected` (off by a little either way), or a chosen one.
    fn length_near(&mut self, expected: usize) -> usize {
        let delta = self.byte() as i8;
        let length = if delta == i8::MIN {
            self.number() as usize
        } else {
            expected.saturating_add_signed(isize::from(delta % 4))
        };
        length.min(MAX_DATA)
    }

    fn data(&mut self, length: usize) -> Vec<u8> {
        let fill = self.byte();
        vec![fill; length]
    }

    fn text(&mut self) -> String {
        let length = match self.byte() {
            250..=255 => 1 << (self.byte() % 17), // up to 64 KiB
            short => usize::from(short % 40),
        };
        let start = self.at.min(self.bytes.len());
        let end = (start + length).min(self.bytes.len());
        self.at = start + length;
        // Lossy: text the host is handed may hold control characters and
        // anything else, but is valid UTF-8 by the component model's rules.
        let mut text = String::from_utf8_lossy(&self.bytes[start..end]).into_owned();
        text.extend(std::iter::repeat_n('x', length - (end - start)));
        text
    }

    fn region(&mut self) -> Region {
        Region {
            label: self.text(),
            area: self.rect(),
        }
    }
}

/// Runs one program. Host calls that fail are expected outcomes and ignored;
/// only the `error` and `trap` instructions end the call early.
fn run(program: &mut Program<'_>, slots: &mut [Option<Frame>]) -> Result<Output, StageError> {
    let mut output = Output {
        media: Vec::new(),
        dropped: Vec::new(),
        notices: Vec::new(),
    };
    while !program.done() {
        let slot = |program: &mut Program<'_>| usize::from(program.byte()) % SLOTS;
        match program.byte() % 20 {
            0 => {
                let (to, width, height) = (slot(program), program.number(), program.number());
                if let Ok(frame) = Frame::create(width, height, PixelFormat::I420) {
                    slots[to] = Some(frame);
                }
            }
            1 => {
                let (to, width, height) = (slot(program), program.number(), program.number());
                let luma = (width as usize).saturating_mul(height as usize);
                let chroma =
                    (width.div_ceil(2) as usize).saturating_mul(height.div_ceil(2) as usize);
                let y = program.length_near(luma);
                let y = program.data(y);
                let u = program.length_near(chroma);
                let u = program.data(u);
                let v = program.length_near(chroma);
                let v = program.data(v);
                if let Ok(frame) = Frame::from_planes(width, height, &y, &u, &v) {
                    slots[to] = Some(frame);
                }
            }
            2 => {
                let (from, plane, area) = (slot(program), program.plane(), program.rect());
                if let Some(frame) = &slots[from] {
                    let _ = frame.read_rect(plane, area);
                }
            }
            3 => {
                let (to, plane, area) = (slot(program), program.plane(), program.rect());
                let expected = (area.width as usize).saturating_mul(area.height as usize);
                let length = program.length_near(expected);
                let data = program.data(length);
                if let Some(frame) = &slots[to] {
                    let _ = frame.write_rect(plane, area, &data);
                }
            }
            4 => {
                let (to, plane, area, value) = (
                    slot(program),
                    program.plane(),
                    program.rect(),
                    program.byte(),
                );
                if let Some(frame) = &slots[to] {
                    let _ = frame.fill_rect(plane, area, value);
                }
            }
            5 => {
                let (from, plane) = (slot(program), program.plane());
                if let Some(frame) = &slots[from] {
                    let _ = (frame.plane_size(plane), frame.read_plane(plane).len());
                }
            }
            6 => {
                let (to, plane) = (slot(program), program.plane());
                let expected = slots[to].as_ref().map_or(0, |frame| {
                    let (width, height) = frame.plane_size(plane);
                    width as usize * height as usize
                });
                let length = program.length_near(expected);
                let data = program.data(length);
                if let Some(frame) = &slots[to] {
                    let _ = frame.write_plane(plane, &data);
                }
            }
            7 => {
                let to = slot(program);
                let count = match program.byte() {
                    255 => 300, // past the host's cap on regions per frame
                    count => usize::from(count % 8),
                };
                let regions: Vec<Region> = (0..count).map(|_| program.region()).collect();
                if let Some(frame) = &slots[to] {
                    frame.set_regions(&regions);
                }
            }
            8 => {
                let (to, region) = (slot(program), program.region());
                if let Some(frame) = &slots[to] {
                    frame.add_region(&region);
                }
            }
            9 => {
                let (to, from) = (slot(program), slot(program));
                // `to == from` copies a frame's metadata onto itself.
                if let (Some(target), Some(source)) = (&slots[to], &slots[from]) {
                    target.copy_metadata(source);
                }
            }
            10 => {
                let from = slot(program);
                if let Some(frame) = &slots[from] {
                    let _ = (frame.info(), frame.regions().len());
                }
            }
            11 => {
                let (to, pts, duration, keyframe) = (
                    slot(program),
                    program.i64(),
                    program.i64(),
                    program.byte() & 1 == 1,
                );
                if let Some(frame) = &slots[to] {
                    frame.set_timing(pts, duration, keyframe);
                }
            }
            12 => {
                // Dropping the handle gives the frame back to the host.
                slots[slot(program)] = None;
            }
            13 => {
                if let Some(frame) = slots[slot(program)].take() {
                    output.media.push(Media::Frame(frame));
                }
            }
            14 => {
                let (pts, reason) = (program.i64(), program.text());
                output.dropped.push(DroppedFrame { pts, reason });
            }
            15 => {
                let level = match program.byte() % 5 {
                    0 => Level::Trace,
                    1 => Level::Debug,
                    2 => Level::Info,
                    3 => Level::Warn,
                    _ => Level::Error,
                };
                log(level, &program.text());
            }
            16 => {
                let kind = program.byte();
                let text = program.text();
                return Err(match kind % 4 {
                    0 => StageError::BadParameter(text),
                    1 => StageError::UnsupportedInput(text),
                    2 => StageError::CorruptInput(text),
                    _ => StageError::Internal(text),
                });
            }
            17 => {
                // A stage may return the same kind of output many times.
                let (from, copies) = (slot(program), program.byte() % 16);
                for _ in 0..copies {
                    if let Some(source) = &slots[from] {
                        let info = source.info();
                        if let Ok(copy) = Frame::create(info.width, info.height, PixelFormat::I420)
                        {
                            copy.copy_metadata(source);
                            output.media.push(Media::Frame(copy));
                        }
                    }
                }
            }
            18 => {
                // Hands a packet out of a frame port: the host must refuse it.
                if program.byte() == 0xa5 {
                    output.media.push(Media::Packet(framechain_stage::Packet {
                        codec: Codec::H264,
                        data: program.data(16),
                        pts: 0,
                        dts: 0,
                        keyframe: false,
                    }));
                }
            }
            _ => {
                if program.byte() == 0x5a {
                    panic!("{STAGE_NAME}: trap asked for by the program");
                }
            }
        }
    }
    Ok(output)
}

#[cfg(target_arch = "wasm32")]
framechain_stage::export_stage!(FuzzStage);
