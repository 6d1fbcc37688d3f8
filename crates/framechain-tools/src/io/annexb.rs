//! H.264 Annex-B byte streams (`.h264`, `.264`): read as blind chunks,
//! written as packets arrive.
//!
//! The reader does not look inside the bitstream: it cuts the file into
//! fixed-size chunks and leaves finding NAL units to the decode stage, so
//! untrusted bytes are parsed only inside the sandbox.

use std::io::{Read, Write};

use super::stream::{MediaReader, MediaWriter};
use super::{FrameRate, IoError, read_full};
use framechain::Media;
use framechain::{Codec, Packet, Port};

/// Chunk size. Small enough that one chunk never holds more than a few
/// access units (each `push` stays far below the per-call time limit), big
/// enough that call overhead does not matter.
pub const CHUNK: usize = 64 * 1024;

/// "No time stamp": the decoder numbers frames in display order itself.
pub const NO_PTS: i64 = -1;

/// Reads an Annex-B file as packets of at most [`CHUNK`] bytes.
pub struct AnnexBReader<R> {
    input: R,
    rate: FrameRate,
}

impl<R: Read> AnnexBReader<R> {
    /// Chunks of `input`; `rate` is reported as the stream's frame rate,
    /// since the reader does not read the stream's own timing.
    pub fn new(input: R, rate: FrameRate) -> Self {
        AnnexBReader { input, rate }
    }
}

impl<R: Read> MediaReader for AnnexBReader<R> {
    fn read_media(&mut self) -> Result<Option<Media>, IoError> {
        let mut data = vec![0u8; CHUNK];
        let n = read_full(&mut self.input, &mut data)?;
        if n == 0 {
            return Ok(None);
        }
        data.truncate(n);
        Ok(Some(Media::Packet(Packet {
            codec: Codec::H264,
            data,
            pts: NO_PTS,
            dts: NO_PTS,
            keyframe: false,
        })))
    }

    fn port(&self) -> Port {
        Port::h264_packets()
    }

    fn frame_rate(&self) -> FrameRate {
        self.rate
    }
}

/// Writes H.264 packets back to back: an Annex-B stream.
pub struct AnnexBWriter<W: Write> {
    output: W,
}

impl<W: Write> AnnexBWriter<W> {
    /// Writes packets to `output` as they come, unchanged.
    pub fn new(output: W) -> Self {
        AnnexBWriter { output }
    }
}

impl<W: Write> MediaWriter for AnnexBWriter<W> {
    fn write_media(&mut self, media: Media) -> Result<(), IoError> {
        match media {
            Media::Packet(packet) if packet.codec == Codec::H264 => {
                Ok(self.output.write_all(&packet.data)?)
            }
            Media::Packet(_) => Err(IoError::Format(
                "an H.264 output was given a packet of another codec".into(),
            )),
            Media::Frame(_) => Err(IoError::Format(
                "an H.264 output was given a raw frame".into(),
            )),
        }
    }

    fn port(&self) -> Port {
        Port::h264_packets()
    }

    fn finish(&mut self) -> Result<(), IoError> {
        Ok(self.output.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_stream_exactly() {
        let stream: Vec<u8> = (0..(CHUNK * 2 + 100)).map(|i| i as u8).collect();
        let mut reader = AnnexBReader::new(&stream[..], FrameRate::DEFAULT);
        let mut joined = Vec::new();
        let mut writer = AnnexBWriter::new(&mut joined);
        let mut chunks = 0;
        while let Some(media) = reader.read_media().unwrap() {
            chunks += 1;
            assert_eq!(media.pts(), NO_PTS);
            writer.write_media(media).unwrap();
        }
        assert_eq!(chunks, 3);
        assert_eq!(joined, stream);
    }
}
