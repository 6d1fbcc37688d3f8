//! Reading and writing video around the host: Y4M (what `ffmpeg -f
//! yuv4mpegpipe` speaks), headerless I420 with an explicit size, H.264
//! Annex-B streams, a synthetic test source, and PNG snapshots. Everything streams: one frame
//! in memory at a time.
//!
//! These readers parse only simple, fixed-layout headers of raw video a
//! local tool produced; compressed, untrusted bitstreams are parsed only by
//! stages inside the sandbox.

mod annexb;
mod open;
mod raw;
mod snapshot;
mod stream;
mod testsrc;
mod y4m;

pub use annexb::{AnnexBReader, AnnexBWriter, CHUNK as ANNEXB_CHUNK, NO_PTS};
pub use open::{IO_BUFFER, STDIO, open_sink, open_source};
pub use raw::{RawReader, RawWriter};
pub use snapshot::write_before_after_png;
pub use stream::{FramesIn, FramesOut, MediaReader, MediaWriter};
pub use testsrc::TestSource;
pub use y4m::{Y4mReader, Y4mWriter};

use framechain::Frame;

/// 90 kHz ticks per second: the time base of `pts` and `duration`.
pub const TICKS_PER_SECOND: i64 = 90_000;

/// A frame rate as a fraction, e.g. 30000/1001.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRate {
    /// Frames per `den` seconds (30000 in 30000/1001).
    pub num: u32,
    /// Seconds per `num` frames (1001 in 30000/1001); never 0 from `parse`.
    pub den: u32,
}

impl FrameRate {
    /// 30 fps: the rate of streams that do not say theirs (raw files,
    /// H.264 without timing) unless the user gives one.
    pub const DEFAULT: FrameRate = FrameRate { num: 30, den: 1 };

    /// Duration of one frame in 90 kHz ticks.
    pub fn frame_ticks(self) -> i64 {
        TICKS_PER_SECOND * self.den as i64 / self.num.max(1) as i64
    }

    /// Presentation time of frame `index`, in 90 kHz ticks.
    pub fn pts_of(self, index: u64) -> i64 {
        (index as i128 * TICKS_PER_SECOND as i128 * self.den as i128 / self.num.max(1) as i128)
            as i64
    }

    /// Frames per second as a number, e.g. 29.97: for pacing and display.
    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den.max(1) as f64
    }

    /// Parses `30`, `30000/1001` or `30:1`.
    pub fn parse(text: &str) -> Option<FrameRate> {
        let (num, den) = match text.split_once(['/', ':']) {
            Some((num, den)) => (num.parse().ok()?, den.parse().ok()?),
            None => (text.parse().ok()?, 1),
        };
        (num > 0 && den > 0).then_some(FrameRate { num, den })
    }
}

/// A source of frames.
pub trait FrameReader {
    /// The next frame, `None` at a clean end of stream.
    fn read_frame(&mut self) -> Result<Option<Frame>, IoError>;
    /// Frame rate of the stream (as declared, or as configured).
    fn frame_rate(&self) -> FrameRate;
}

/// A sink of frames.
pub trait FrameWriter {
    /// Writes one picture (a format with a header writes it before the
    /// first).
    fn write_frame(&mut self, frame: &Frame) -> Result<(), IoError>;
    /// Flushes buffered output.
    fn finish(&mut self) -> Result<(), IoError>;
}

/// A problem with an input or output stream, as one line.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The operating system refused a read or write.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not what the format says (a bad header, a truncated
    /// frame), or a file could not be opened; the text is the whole line.
    #[error("{0}")]
    Format(String),
}

/// Reads until `buffer` is full. Returns how many bytes were read: fewer
/// than `buffer.len()` only at end of stream.
pub(crate) fn read_full(
    reader: &mut impl std::io::Read,
    buffer: &mut [u8],
) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Largest frame (all three planes, in bytes) a reader accepts unless told
/// otherwise: a `MAX_DIMENSION` x `MAX_DIMENSION` picture, about 400 MB.
pub const MAX_FRAME_BYTES: usize = 16_384 * 16_384 * 3 / 2;

/// Checks a frame size from its numbers alone, before anything is
/// allocated: a header is a few bytes an attacker writes, and must not cost
/// the host a whole frame to validate.
pub(crate) fn check_frame_size(
    width: u32,
    height: u32,
    max_frame_bytes: usize,
    what: &str,
) -> Result<usize, IoError> {
    let bytes = Frame::byte_len_for(width, height).map_err(|_| {
        IoError::Format(format!(
            "{what} frame size {width}x{height} is not supported (1 to {} on each side)",
            framechain::MAX_DIMENSION
        ))
    })?;
    if bytes > max_frame_bytes {
        return Err(IoError::Format(format!(
            "{what} frame size {width}x{height} ({bytes} bytes) is over this reader's limit of {max_frame_bytes} bytes"
        )));
    }
    Ok(bytes)
}

/// Bytes read from the input at a time while a plane fills; the plane's
/// buffer grows only as data arrives, so a truncated stream that declares a
/// huge frame costs what it holds, not what it declares.
const READ_STEP: usize = 256 * 1024;

/// Reads up to `len` bytes into a buffer that grows with the data (at most
/// twice what was read, and never past `len`). Fewer than `len` bytes only at
/// end of stream.
fn read_growing(reader: &mut impl std::io::Read, len: usize) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(len.min(READ_STEP));
    while data.len() < len {
        if data.len() == data.capacity() {
            // Doubling keeps the number of copies logarithmic; `reserve_exact`
            // to at most `len` keeps the last buffer the plane's exact size.
            let target = (data.capacity() * 2).max(READ_STEP).min(len);
            data.reserve_exact(target - data.len());
        }
        let start = data.len();
        let want = (data.capacity() - start).min(len - start);
        data.resize(start + want, 0);
        let n = read_full(reader, &mut data[start..])?;
        data.truncate(start + n);
        if n < want {
            break;
        }
    }
    Ok(data)
}

/// Reads the three planes of an I420 picture. `Ok(None)` for a clean end of
/// stream (no byte of the picture), an error for a truncated one. The size
/// must have been checked (see [`check_frame_size`]).
pub(crate) fn read_i420(
    reader: &mut impl std::io::Read,
    width: u32,
    height: u32,
    frame_number: u64,
    what: &str,
) -> Result<Option<Frame>, IoError> {
    let unsupported =
        || IoError::Format(format!("{what}: unsupported frame size {width}x{height}"));
    let total = Frame::byte_len_for(width, height).map_err(|_| unsupported())?;
    let (chroma_width, chroma_height) = framechain::chroma_size(width, height);
    let chroma = chroma_width as usize * chroma_height as usize;
    let lengths = [width as usize * height as usize, chroma, chroma];
    let mut planes: [Vec<u8>; 3] = Default::default();
    let mut read = 0;
    for (plane, len) in planes.iter_mut().zip(lengths) {
        *plane = read_growing(reader, len)?;
        read += plane.len();
        if plane.len() < len {
            if read == 0 {
                return Ok(None);
            }
            return Err(IoError::Format(format!(
                "{what} is truncated: frame {frame_number} has {read} of its {total} bytes"
            )));
        }
    }
    let [y, u, v] = planes;
    Frame::from_planes(width, height, [y, u, v])
        .map(Some)
        .map_err(|_| unsupported())
}

/// Writes the three planes of an I420 picture.
pub(crate) fn write_i420(writer: &mut impl std::io::Write, frame: &Frame) -> std::io::Result<()> {
    for plane in [
        framechain::Plane::Y,
        framechain::Plane::U,
        framechain::Plane::V,
    ] {
        writer.write_all(frame.plane(plane))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_huge_frame_costs_what_it_holds() {
        let bytes = vec![7u8; 1000];
        let (error, peak) = test_alloc::peak_during(|| {
            read_i420(&mut &bytes[..], 16_384, 16_384, 1, "the input")
                .unwrap_err()
                .to_string()
        });
        assert_eq!(
            error,
            "the input is truncated: frame 1 has 1000 of its 402653184 bytes"
        );
        assert!(peak < 1 << 20, "{peak} bytes allocated for 1000 bytes read");
    }

    #[test]
    fn planes_grow_to_their_exact_size() {
        let bytes: Vec<u8> = (0..(1000 * 700 * 3 / 2)).map(|i| i as u8).collect();
        let frame = read_i420(&mut &bytes[..], 1000, 700, 1, "the input")
            .unwrap()
            .unwrap();
        assert_eq!(frame.plane(framechain::Plane::Y), &bytes[..700_000]);
        assert_eq!(frame.plane(framechain::Plane::V), &bytes[875_000..]);
        assert!(
            read_i420(&mut &[][..], 1000, 700, 2, "the input")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn frame_rates_parse_and_time_frames() {
        assert_eq!(FrameRate::parse("30"), Some(FrameRate { num: 30, den: 1 }));
        assert_eq!(FrameRate::parse("30000/1001").unwrap().frame_ticks(), 3003);
        assert_eq!(FrameRate::parse("25:1").unwrap().pts_of(3), 10_800);
        assert_eq!(FrameRate::parse("0"), None);
        assert_eq!(FrameRate::parse("x/1"), None);
    }
}

/// A counting allocator for this crate's unit tests: how many bytes a piece
/// of code held at its peak, on the calling thread only (tests run in
/// parallel threads), so tests can measure what an input costs the host.
#[cfg(test)]
pub(crate) mod test_alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    struct Counting;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn add(delta: isize) {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + delta;
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    // SAFETY: every call is forwarded to the system allocator unchanged; the
    // bookkeeping touches only const-initialised thread-locals, which do not
    // allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            add(layout.size() as isize);
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            add(layout.size() as isize);
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            add(-(layout.size() as isize));
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            add(new_size as isize - layout.size() as isize);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// Runs `f` and returns its result with the most bytes it held at once.
    pub(crate) fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let start = LIVE.with(Cell::get);
        PEAK.with(|peak| peak.set(start));
        let result = f();
        let peak = PEAK.with(Cell::get) - start;
        (result, peak.max(0) as usize)
    }
}
