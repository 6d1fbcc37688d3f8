//! YUV4MPEG2 (Y4M): a one-line text header, then `FRAME` lines each
//! followed by one raw picture.

use std::io::{BufRead, Write};

use super::{
    FrameRate, FrameReader, FrameWriter, IoError, MAX_FRAME_BYTES, check_frame_size, read_i420,
    write_i420,
};
use framechain::Frame;
use framechain::text::untrusted;

const SIGNATURE: &str = "YUV4MPEG2";
/// Longer header or `FRAME` lines are not Y4M from any real tool; the
/// bound keeps a garbage input from growing a line buffer without end.
const MAX_LINE: usize = 4096;
/// The 4:2:0 colour spaces Y4M writers use; they differ only in chroma siting.
const I420_COLOUR_SPACES: [&str; 4] = ["420", "420jpeg", "420paldv", "420mpeg2"];
/// Longest piece of a header value echoed in an error.
const MAX_ECHO: usize = 40;

/// Reads a Y4M stream frame by frame.
pub struct Y4mReader<R> {
    input: R,
    width: u32,
    height: u32,
    rate: FrameRate,
    frames_read: u64,
}

impl<R: BufRead> Y4mReader<R> {
    /// Reads and checks the stream header; frames up to [`MAX_FRAME_BYTES`].
    pub fn new(input: R) -> Result<Self, IoError> {
        Self::with_max_frame_bytes(input, MAX_FRAME_BYTES)
    }

    /// Reads and checks the stream header, refusing a frame size whose
    /// pictures would be over `max_frame_bytes` (all three planes).
    pub fn with_max_frame_bytes(mut input: R, max_frame_bytes: usize) -> Result<Self, IoError> {
        let header = read_line(&mut input, "the Y4M header")?
            .ok_or_else(|| IoError::Format("the input is empty (expected a Y4M stream)".into()))?;
        let mut words = header.split(' ');
        if words.next() != Some(SIGNATURE) {
            return Err(IoError::Format(
                "not a Y4M stream (no YUV4MPEG2 signature); for headerless I420 give --size".into(),
            ));
        }
        let (mut width, mut height, mut rate) = (None, None, FrameRate::DEFAULT);
        for word in words.filter(|word| !word.is_empty()) {
            // The tag is one character, which need not be one byte: split
            // after the first char, never at a byte index.
            let mut chars = word.chars();
            let tag = chars.next();
            let value = chars.as_str();
            match tag {
                Some('W') => width = value.parse::<u32>().ok(),
                Some('H') => height = value.parse::<u32>().ok(),
                Some('F') => {
                    rate = FrameRate::parse(value).ok_or_else(|| {
                        IoError::Format(format!(
                            "Y4M header has a bad frame rate \"{}\"",
                            untrusted(value, MAX_ECHO)
                        ))
                    })?
                }
                Some('C') if !I420_COLOUR_SPACES.contains(&value) => {
                    return Err(IoError::Format(format!(
                        "Y4M colour space C{} is not supported (framechain reads 8-bit 4:2:0: C420, C420jpeg, C420paldv, C420mpeg2)",
                        untrusted(value, MAX_ECHO)
                    )));
                }
                Some('I') if !matches!(value, "p" | "?") => {
                    return Err(IoError::Format(format!(
                        "Y4M interlacing I{} is not supported (framechain reads progressive video)",
                        untrusted(value, MAX_ECHO)
                    )));
                }
                _ => {}
            }
        }
        let (Some(width), Some(height)) = (width, height) else {
            return Err(IoError::Format(
                "Y4M header lacks a valid width (W) or height (H)".into(),
            ));
        };
        check_frame_size(width, height, max_frame_bytes, "Y4M")?;
        Ok(Y4mReader {
            input,
            width,
            height,
            rate,
            frames_read: 0,
        })
    }

    /// Width and height the stream header declared: every frame has them.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

impl<R: BufRead> FrameReader for Y4mReader<R> {
    fn read_frame(&mut self) -> Result<Option<Frame>, IoError> {
        let number = self.frames_read + 1;
        let Some(line) = read_line(&mut self.input, "a Y4M FRAME line")? else {
            return Ok(None);
        };
        if line != "FRAME" && !line.starts_with("FRAME ") {
            return Err(IoError::Format(format!(
                "Y4M stream is damaged: expected a FRAME line before frame {number}"
            )));
        }
        let mut frame = read_i420(
            &mut self.input,
            self.width,
            self.height,
            number,
            "the Y4M stream",
        )?
        .ok_or_else(|| {
            IoError::Format(format!(
                "the Y4M stream is truncated: frame {number} has no picture"
            ))
        })?;
        frame.pts = self.rate.pts_of(self.frames_read);
        frame.duration = self.rate.frame_ticks();
        self.frames_read = number;
        Ok(Some(frame))
    }

    fn frame_rate(&self) -> FrameRate {
        self.rate
    }
}

/// Reads one `\n`-terminated line; `None` at end of stream before any byte.
fn read_line(input: &mut impl BufRead, what: &str) -> Result<Option<String>, IoError> {
    let mut line = Vec::new();
    let mut limited = std::io::Read::take(&mut *input, MAX_LINE as u64 + 1);
    let n = limited.read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        let reason = if line.len() > MAX_LINE {
            "is too long"
        } else {
            "is cut off"
        };
        return Err(IoError::Format(format!(
            "{what} {reason} (is the input really Y4M?)"
        )));
    }
    line.pop();
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| IoError::Format(format!("{what} is not text (is the input really Y4M?)")))
}

/// Writes frames as a Y4M stream; the header is written with the first frame.
pub struct Y4mWriter<W: Write> {
    output: W,
    rate: FrameRate,
    size: Option<(u32, u32)>,
}

impl<W: Write> Y4mWriter<W> {
    /// A writer that declares `rate` in the header; the size is taken from
    /// the first frame.
    pub fn new(output: W, rate: FrameRate) -> Self {
        Y4mWriter {
            output,
            rate,
            size: None,
        }
    }
}

impl<W: Write> FrameWriter for Y4mWriter<W> {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), IoError> {
        let size = (frame.width(), frame.height());
        match self.size {
            None => {
                writeln!(
                    self.output,
                    "{SIGNATURE} W{} H{} F{}:{} Ip A1:1 C420jpeg XYSCSS=420JPEG",
                    size.0, size.1, self.rate.num, self.rate.den
                )?;
                self.size = Some(size);
            }
            Some(first) if first != size => {
                return Err(IoError::Format(format!(
                    "frame size changed from {}x{} to {}x{}; Y4M cannot change size mid-stream (add a scale stage)",
                    first.0, first.1, size.0, size.1
                )));
            }
            Some(_) => {}
        }
        self.output.write_all(b"FRAME\n")?;
        write_i420(&mut self.output, frame)?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), IoError> {
        Ok(self.output.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framechain::Plane;

    fn stream(header: &str, frames: usize, frame_len: usize) -> Vec<u8> {
        let mut bytes = format!("{header}\n").into_bytes();
        for index in 0..frames {
            bytes.extend_from_slice(b"FRAME\n");
            bytes.extend(std::iter::repeat_n(index as u8, frame_len));
        }
        bytes
    }

    #[test]
    fn reads_what_it_writes() {
        let mut frame = Frame::black(5, 3).unwrap();
        frame.plane_mut(Plane::U).fill(7);
        let mut bytes = Vec::new();
        let mut writer = Y4mWriter::new(&mut bytes, FrameRate { num: 25, den: 1 });
        writer.write_frame(&frame).unwrap();
        writer.write_frame(&frame).unwrap();
        writer.finish().unwrap();
        let mut reader = Y4mReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.frame_rate(), FrameRate { num: 25, den: 1 });
        let first = reader.read_frame().unwrap().unwrap();
        assert_eq!(first.plane(Plane::U), frame.plane(Plane::U));
        assert_eq!(reader.read_frame().unwrap().unwrap().pts, 3600);
        assert!(reader.read_frame().unwrap().is_none());
    }

    #[test]
    fn truncated_and_foreign_input_give_one_line_errors() {
        let mut truncated = stream("YUV4MPEG2 W4 H2 F30:1 C420jpeg", 2, 12);
        truncated.truncate(truncated.len() - 5);
        let mut reader = Y4mReader::new(&truncated[..]).unwrap();
        assert!(reader.read_frame().unwrap().is_some());
        let error = reader.read_frame().unwrap_err().to_string();
        assert_eq!(
            error,
            "the Y4M stream is truncated: frame 2 has 7 of its 12 bytes"
        );

        let error = Y4mReader::new(&b"RIFF...."[..]).err().unwrap().to_string();
        assert!(error.starts_with("the Y4M header is cut off"), "{error}");
        let error = Y4mReader::new(&b"P6 1 1 255\n"[..])
            .err()
            .unwrap()
            .to_string();
        assert!(error.starts_with("not a Y4M stream"), "{error}");
        let error = Y4mReader::new(&b"YUV4MPEG2 W4 H2 C444\n"[..])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("C444 is not supported"), "{error}");
        let error = Y4mReader::new(&b"YUV4MPEG2 W4\n"[..])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("lacks a valid width"), "{error}");
        assert!(Y4mReader::new(&b""[..]).is_err());
    }

    #[test]
    fn any_first_byte_of_a_tag_is_an_error_or_ignored_never_a_panic() {
        // `é` is two bytes: splitting the tag at byte 1 panicked.
        let error = Y4mReader::new("YUV4MPEG2 é W4 H2\n".as_bytes()).map(|r| r.size());
        assert_eq!(error.unwrap(), (4, 2));
        let error = Y4mReader::new("YUV4MPEG2 W4 H2 C\u{1b}[2J\n".as_bytes())
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "Y4M colour space C\\u{1b}[2J is not supported (framechain reads 8-bit 4:2:0: C420, C420jpeg, C420paldv, C420mpeg2)"
        );
    }

    #[test]
    fn a_huge_declared_size_is_refused_or_read_without_allocating_it() {
        let header = b"YUV4MPEG2 W16384 H16384\nFRAME\nabc";
        let ((header_ok, error), peak) = crate::io::test_alloc::peak_during(|| {
            let mut reader = Y4mReader::new(&header[..]).unwrap();
            let error = reader.read_frame().unwrap_err().to_string();
            (reader.size(), error)
        });
        assert_eq!(header_ok, (16384, 16384));
        assert_eq!(
            error,
            "the Y4M stream is truncated: frame 1 has 3 of its 402653184 bytes"
        );
        assert!(peak < 1 << 20, "{peak} bytes held for a 35-byte input");

        let error = Y4mReader::with_max_frame_bytes(&header[..], 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "Y4M frame size 16384x16384 (402653184 bytes) is over this reader's limit of 1048576 bytes"
        );
        let error = Y4mReader::new(&b"YUV4MPEG2 W16385 H2\n"[..])
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "Y4M frame size 16385x2 is not supported (1 to 16384 on each side)"
        );
    }

    #[test]
    fn refuses_a_size_change() {
        let mut writer = Y4mWriter::new(Vec::new(), FrameRate::DEFAULT);
        writer.write_frame(&Frame::black(4, 4).unwrap()).unwrap();
        let error = writer
            .write_frame(&Frame::black(8, 4).unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot change size"), "{error}");
    }
}
