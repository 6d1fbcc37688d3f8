//! What flows through a session: frames or compressed packets.

use crate::frame::Frame;

pub use crate::bindings::types::Packet;

/// One item of media entering or leaving a stage.
#[derive(Debug)]
pub enum Media {
    /// A decoded I420 picture, between decoder and encoder.
    Frame(Frame),
    /// Compressed bytes (H.264): what a decoder takes and an encoder gives.
    Packet(Packet),
}

impl Media {
    /// Presentation time stamp, 90 kHz ticks.
    pub fn pts(&self) -> i64 {
        match self {
            Media::Frame(frame) => frame.pts,
            Media::Packet(packet) => packet.pts,
        }
    }

    /// The picture, or `None` for a packet: for a sink that only writes
    /// pictures.
    pub fn into_frame(self) -> Option<Frame> {
        match self {
            Media::Frame(frame) => Some(frame),
            Media::Packet(_) => None,
        }
    }

    /// The packet, or `None` for a picture: for a sink that only writes
    /// compressed bytes.
    pub fn into_packet(self) -> Option<Packet> {
        match self {
            Media::Packet(packet) => Some(packet),
            Media::Frame(_) => None,
        }
    }
}
