//! H.264 Annex-B streams in and out of the container, as the `framechain`
//! CLI reads and writes them: the input is cut into blind chunks (the bytes
//! are parsed only by the decode stage, inside the sandbox) and packets
//! leaving the chain are written back to back.

use std::io::{Read, Write};

use framechain::io::{FrameRate, IoError, MediaReader, MediaWriter};
use framechain::{Codec, Media, Packet, Port};

/// Bytes per packet handed to the first stage: a few access units at most,
/// so that one call stays far below the per-call time limit.
const CHUNK: usize = 64 * 1024;
/// "No time stamp": the decoder numbers frames itself.
const NO_PTS: i64 = -1;

pub struct AnnexBIn<R> {
    input: R,
    rate: FrameRate,
}

impl<R: Read> AnnexBIn<R> {
    pub fn new(input: R, rate: FrameRate) -> Self {
        AnnexBIn { input, rate }
    }
}

impl<R: Read> MediaReader for AnnexBIn<R> {
    fn read_media(&mut self) -> Result<Option<Media>, IoError> {
        let mut data = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match self.input.read(&mut data[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error.into()),
            }
        }
        if filled == 0 {
            return Ok(None);
        }
        data.truncate(filled);
        Ok(Some(Media::Packet(Packet {
            codec: Codec::H264,
            data,
            pts: NO_PTS,
            dts: NO_PTS,
            keyframe: false,
        })))
    }

    fn port(&self) -> Port {
        Port::Packets(Codec::H264)
    }

    fn frame_rate(&self) -> FrameRate {
        self.rate
    }
}

pub struct AnnexBOut<W: Write> {
    output: W,
}

impl<W: Write> AnnexBOut<W> {
    pub fn new(output: W) -> Self {
        AnnexBOut { output }
    }
}

impl<W: Write> MediaWriter for AnnexBOut<W> {
    fn write_media(&mut self, media: Media) -> Result<(), IoError> {
        match media {
            Media::Packet(packet) => Ok(self.output.write_all(&packet.data)?),
            Media::Frame(_) => Err(IoError::Format(
                "an H.264 output was given a frame; end the chain with encode-h264".into(),
            )),
        }
    }

    fn port(&self) -> Port {
        Port::Packets(Codec::H264)
    }

    fn finish(&mut self) -> Result<(), IoError> {
        Ok(self.output.flush()?)
    }
}
