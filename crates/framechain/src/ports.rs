//! Whether one stage's output fits the next stage's input, in the manner of
//! GStreamer caps negotiation, and ports, codecs and pixel formats in
//! words. Methods on the generated WIT types, so an embedder finds them
//! where the types are.

use crate::bindings::types::{Codec, PixelFormat, Port};

impl Port {
    /// The port of raw I420 frames, what Y4M and raw files carry.
    pub fn i420_frames() -> Port {
        Port::Frames(vec![PixelFormat::I420])
    }

    /// The port of H.264 Annex-B packets.
    pub fn h264_packets() -> Port {
        Port::Packets(Codec::H264)
    }

    /// True when media leaving this port can enter `input`: frames of a
    /// pixel format both list, or packets of the same codec.
    pub fn fits(&self, input: &Port) -> bool {
        match (self, input) {
            (Port::Frames(produced), Port::Frames(accepted)) => {
                produced.iter().any(|format| accepted.contains(format))
            }
            (Port::Packets(produced), Port::Packets(accepted)) => produced == accepted,
            _ => false,
        }
    }

    /// The port in words, as messages and `framechain inspect` show it:
    /// `i420 frames`, `h264 packets`.
    pub fn describe(&self) -> String {
        match self {
            Port::Frames(formats) => {
                let names: Vec<&str> = formats.iter().map(|format| format.name()).collect();
                format!("{} frames", names.join("/"))
            }
            Port::Packets(codec) => format!("{} packets", codec.name()),
        }
    }
}

impl PixelFormat {
    /// The name of the pixel format as messages and `framechain inspect`
    /// show it (`i420`).
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::I420 => "i420",
        }
    }
}

impl Codec {
    /// The name of the codec as messages and `framechain inspect` show it
    /// (`h264`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fit_frames_and_packets_fit_their_codec() {
        assert!(Port::i420_frames().fits(&Port::i420_frames()));
        assert!(Port::h264_packets().fits(&Port::h264_packets()));
        assert!(!Port::h264_packets().fits(&Port::i420_frames()));
        assert!(!Port::i420_frames().fits(&Port::h264_packets()));
        assert!(!Port::Frames(vec![]).fits(&Port::i420_frames()));
        assert_eq!(Port::h264_packets().describe(), "h264 packets");
        assert_eq!(Port::i420_frames().describe(), "i420 frames");
    }
}
