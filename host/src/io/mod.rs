//! Reading and writing video around the host: Y4M (what `ffmpeg -f
//! yuv4mpegpipe` speaks), headerless I420 with an explicit size, H.264
//! Annex-B streams, a synthetic test source, and PNG snapshots. Everything streams: one frame
//! in memory at a time.
//!
//! These readers parse only simple, fixed-layout headers of raw video a
//! local tool produced; compressed, untrusted bitstreams are parsed only by
//! stages inside the sandbox.

mod annexb;
mod raw;
mod snapshot;
mod stream;
mod testsrc;
mod y4m;

pub use annexb::{AnnexBReader, AnnexBWriter, CHUNK as ANNEXB_CHUNK, NO_PTS};
pub use raw::{RawReader, RawWriter};
pub use snapshot::write_before_after_png;
pub use stream::{FramesIn, FramesOut, MediaReader, MediaWriter};
pub use testsrc::TestSource;
pub use y4m::{Y4mReader, Y4mWriter};

use crate::frame::Frame;

/// 90 kHz ticks per second: the time base of `pts` and `duration`.
pub const TICKS_PER_SECOND: i64 = 90_000;

/// A frame rate as a fraction, e.g. 30000/1001.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRate {
    pub num: u32,
    pub den: u32,
}

impl FrameRate {
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
    fn write_frame(&mut self, frame: &Frame) -> Result<(), IoError>;
    /// Flushes buffered output.
    fn finish(&mut self) -> Result<(), IoError>;
}

/// A problem with an input or output stream, as one line.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
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

/// Reads the three planes of an I420 picture. `Ok(None)` for a clean end of
/// stream (no byte of the picture), an error for a truncated one.
pub(crate) fn read_i420(
    reader: &mut impl std::io::Read,
    width: u32,
    height: u32,
    frame_number: u64,
    what: &str,
) -> Result<Option<Frame>, IoError> {
    let mut frame = Frame::black(width, height)
        .map_err(|_| IoError::Format(format!("{what}: unsupported frame size {width}x{height}")))?;
    let total = frame.byte_len();
    let mut read = 0;
    for plane in [crate::Plane::Y, crate::Plane::U, crate::Plane::V] {
        let buffer = frame.plane_mut(plane);
        let n = read_full(reader, buffer)?;
        read += n;
        if n < buffer.len() {
            if read == 0 {
                return Ok(None);
            }
            return Err(IoError::Format(format!(
                "{what} is truncated: frame {frame_number} has {read} of its {total} bytes"
            )));
        }
    }
    Ok(Some(frame))
}

/// Writes the three planes of an I420 picture.
pub(crate) fn write_i420(writer: &mut impl std::io::Write, frame: &Frame) -> std::io::Result<()> {
    for plane in [crate::Plane::Y, crate::Plane::U, crate::Plane::V] {
        writer.write_all(frame.plane(plane))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_parse_and_time_frames() {
        assert_eq!(FrameRate::parse("30"), Some(FrameRate { num: 30, den: 1 }));
        assert_eq!(FrameRate::parse("30000/1001").unwrap().frame_ticks(), 3003);
        assert_eq!(FrameRate::parse("25:1").unwrap().pts_of(3), 10_800);
        assert_eq!(FrameRate::parse("0"), None);
        assert_eq!(FrameRate::parse("x/1"), None);
    }
}
