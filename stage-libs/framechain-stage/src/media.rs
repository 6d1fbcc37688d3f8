//! Small helpers for the media a processor takes in and hands back.

use crate::{Codec, Frame, FrameError, Media, Output, Packet, StageError};

/// The frame inside `input`, or an `unsupported-input` error naming the
/// stage when it is a packet (the host should never route one here, but a
/// stage must not trust that).
pub fn expect_frame(stage: &str, input: Media) -> Result<Frame, StageError> {
    match input {
        Media::Frame(frame) => Ok(frame),
        Media::Packet(_) => Err(StageError::UnsupportedInput(format!(
            "{stage}: takes raw frames, got a compressed packet"
        ))),
    }
}

/// The packet inside `input`, or an `unsupported-input` error naming the
/// stage and the `codec` it takes when it is a raw frame.
pub fn expect_packet(stage: &str, codec: Codec, input: Media) -> Result<Packet, StageError> {
    match input {
        Media::Packet(packet) => Ok(packet),
        Media::Frame(_) => {
            let codec = match codec {
                Codec::H264 => "h264",
            };
            Err(StageError::UnsupportedInput(format!(
                "{stage}: takes {codec} packets, got a raw frame"
            )))
        }
    }
}

/// An output carrying one frame and no drops.
pub fn frame_output(frame: Frame) -> Output {
    Output {
        media: vec![Media::Frame(frame)],
        dropped: Vec::new(),
        notices: Vec::new(),
    }
}

/// An output carrying one packet and no drops.
pub fn packet_output(packet: Packet) -> Output {
    Output {
        media: vec![Media::Packet(packet)],
        dropped: Vec::new(),
        notices: Vec::new(),
    }
}

/// An output with nothing in it (what a stage without buffered media
/// returns from `flush`).
pub fn empty_output() -> Output {
    Output {
        media: Vec::new(),
        dropped: Vec::new(),
        notices: Vec::new(),
    }
}

/// A frame access error as one readable phrase, e.g. `out-of-bounds (the
/// rectangle does not lie inside the plane)`.
pub fn frame_error_text(error: FrameError) -> String {
    let message = error.message().trim_end_matches('.');
    let mut chars = message.chars();
    let message: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{} ({message})", error.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_errors_read_as_one_phrase() {
        assert_eq!(
            frame_error_text(FrameError::OutOfBounds),
            "out-of-bounds (the rectangle does not lie inside the plane)"
        );
    }
}
