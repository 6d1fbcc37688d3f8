//! Media-level ends of a session: what the CLI and the containerd shim
//! read from and write to, whatever the container format.

use super::{FrameRate, FrameReader, FrameWriter, IoError};
use framechain::Media;
use framechain::Port;

/// A source of media items (frames or packets).
pub trait MediaReader {
    /// The next item, `None` at a clean end of stream.
    fn read_media(&mut self) -> Result<Option<Media>, IoError>;
    /// What the source gives.
    fn port(&self) -> Port;
    /// Frame rate of the stream, as declared or as configured: what the
    /// writer records and what pacing follows.
    fn frame_rate(&self) -> FrameRate;
}

/// A sink of media items.
pub trait MediaWriter {
    /// Writes one item out of the chain.
    fn write_media(&mut self, media: Media) -> Result<(), IoError>;
    /// What the sink takes.
    fn port(&self) -> Port;
    /// Flushes buffered output; a write error that was held back shows
    /// here.
    fn finish(&mut self) -> Result<(), IoError>;
}

/// Any frame reader is a media reader of I420 frames.
pub struct FramesIn<R>(pub R);

impl<R: FrameReader> MediaReader for FramesIn<R> {
    fn read_media(&mut self) -> Result<Option<Media>, IoError> {
        Ok(self.0.read_frame()?.map(Media::Frame))
    }

    fn port(&self) -> Port {
        Port::i420_frames()
    }

    fn frame_rate(&self) -> FrameRate {
        self.0.frame_rate()
    }
}

/// Any frame writer is a media writer of I420 frames.
pub struct FramesOut<W>(pub W);

impl<W: FrameWriter> MediaWriter for FramesOut<W> {
    fn write_media(&mut self, media: Media) -> Result<(), IoError> {
        match media {
            Media::Frame(frame) => self.0.write_frame(&frame),
            Media::Packet(_) => Err(IoError::Format("a frame output was given a packet".into())),
        }
    }

    fn port(&self) -> Port {
        Port::i420_frames()
    }

    fn finish(&mut self) -> Result<(), IoError> {
        self.0.finish()
    }
}
