//! Whether one stage's output fits the next stage's input, in the manner of
//! GStreamer caps negotiation.

use crate::bindings::types::{Codec, PixelFormat, Port};

/// True when media leaving `output` can enter `input`.
pub fn fits(output: &Port, input: &Port) -> bool {
    match (output, input) {
        (Port::Frames(produced), Port::Frames(accepted)) => {
            produced.iter().any(|format| accepted.contains(format))
        }
        (Port::Packets(produced), Port::Packets(accepted)) => produced == accepted,
        _ => false,
    }
}

/// A port in words: `i420 frames`, `h264 packets`.
pub fn describe(port: &Port) -> String {
    match port {
        Port::Frames(formats) => {
            let names: Vec<&str> = formats
                .iter()
                .map(|format| pixel_format_name(*format))
                .collect();
            format!("{} frames", names.join("/"))
        }
        Port::Packets(codec) => format!("{} packets", codec_name(*codec)),
    }
}

/// The name of a pixel format as messages and `framechain inspect` show
/// it (`i420`).
pub fn pixel_format_name(format: PixelFormat) -> &'static str {
    match format {
        PixelFormat::I420 => "i420",
    }
}

/// The name of a codec as messages and `framechain inspect` show it
/// (`h264`).
pub fn codec_name(codec: Codec) -> &'static str {
    match codec {
        Codec::H264 => "h264",
    }
}

/// The port of raw I420 frames, what Y4M and raw files carry.
pub fn i420_frames() -> Port {
    Port::Frames(vec![PixelFormat::I420])
}

/// The port of H.264 Annex-B packets.
pub fn h264_packets() -> Port {
    Port::Packets(Codec::H264)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fit_frames_and_packets_fit_their_codec() {
        assert!(fits(&i420_frames(), &i420_frames()));
        assert!(fits(&h264_packets(), &h264_packets()));
        assert!(!fits(&h264_packets(), &i420_frames()));
        assert!(!fits(&i420_frames(), &h264_packets()));
        assert!(!fits(&Port::Frames(vec![]), &i420_frames()));
        assert_eq!(describe(&h264_packets()), "h264 packets");
    }
}
