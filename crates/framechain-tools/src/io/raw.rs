//! Headerless I420: picture after picture, the size given by the user.

use std::io::{Read, Write};

use super::{
    FrameRate, FrameReader, FrameWriter, IoError, MAX_FRAME_BYTES, check_frame_size, read_i420,
    write_i420,
};
use framechain::Frame;

/// Reads raw I420 pictures of a known size.
pub struct RawReader<R> {
    input: R,
    width: u32,
    height: u32,
    rate: FrameRate,
    frames_read: u64,
}

impl<R: Read> RawReader<R> {
    /// Frames of `width` x `height`, up to [`MAX_FRAME_BYTES`].
    pub fn new(input: R, width: u32, height: u32, rate: FrameRate) -> Result<Self, IoError> {
        Self::with_max_frame_bytes(input, width, height, rate, MAX_FRAME_BYTES)
    }

    /// As [`RawReader::new`], refusing a size whose pictures would be over
    /// `max_frame_bytes` (all three planes).
    pub fn with_max_frame_bytes(
        input: R,
        width: u32,
        height: u32,
        rate: FrameRate,
        max_frame_bytes: usize,
    ) -> Result<Self, IoError> {
        check_frame_size(width, height, max_frame_bytes, "raw I420")?;
        Ok(RawReader {
            input,
            width,
            height,
            rate,
            frames_read: 0,
        })
    }
}

impl<R: Read> FrameReader for RawReader<R> {
    fn read_frame(&mut self) -> Result<Option<Frame>, IoError> {
        let number = self.frames_read + 1;
        let Some(mut frame) = read_i420(
            &mut self.input,
            self.width,
            self.height,
            number,
            "the raw I420 input",
        )?
        else {
            return Ok(None);
        };
        frame.pts = self.rate.pts_of(self.frames_read);
        frame.duration = self.rate.frame_ticks();
        self.frames_read = number;
        Ok(Some(frame))
    }

    fn frame_rate(&self) -> FrameRate {
        self.rate
    }
}

/// Writes raw I420 pictures.
pub struct RawWriter<W: Write> {
    output: W,
}

impl<W: Write> RawWriter<W> {
    /// Writes the planes of each picture to `output`, with nothing between.
    pub fn new(output: W) -> Self {
        RawWriter { output }
    }
}

impl<W: Write> FrameWriter for RawWriter<W> {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), IoError> {
        Ok(write_i420(&mut self.output, frame)?)
    }

    fn finish(&mut self) -> Result<(), IoError> {
        Ok(self.output.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_pictures_and_reports_a_partial_one() {
        let bytes = [1u8; 10 + 5]; // one 2x3 picture (6 + 2*2 bytes) and 5 bytes of the next
        let mut reader = RawReader::new(&bytes[..], 2, 3, FrameRate::DEFAULT).unwrap();
        assert!(reader.read_frame().unwrap().is_some());
        let error = reader.read_frame().unwrap_err().to_string();
        assert_eq!(
            error,
            "the raw I420 input is truncated: frame 2 has 5 of its 10 bytes"
        );
    }

    #[test]
    fn a_huge_size_is_checked_from_its_numbers() {
        let (error, peak) = crate::io::test_alloc::peak_during(|| {
            let mut reader = RawReader::new(&[1u8; 45][..], 16384, 16384, FrameRate::DEFAULT)
                .expect("the largest size is allowed");
            reader.read_frame().unwrap_err().to_string()
        });
        assert_eq!(
            error,
            "the raw I420 input is truncated: frame 1 has 45 of its 402653184 bytes"
        );
        assert!(peak < 1 << 20, "{peak} bytes held for 45 bytes of input");
        let error = RawReader::new(&[][..], 0, 2, FrameRate::DEFAULT)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "raw I420 frame size 0x2 is not supported (1 to 16384 on each side)"
        );
    }
}
