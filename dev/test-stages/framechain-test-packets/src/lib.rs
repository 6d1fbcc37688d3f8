//! `test-packets`: turns I420 frames into fake H.264 packets, for the host's
//! tests of chain checking. Not shipped.
//!
//! Its ports (frames i420 in, packets h264 out) are what matter: a chain
//! such as `test-packets ! scale` does not fit and the host must refuse it.
//! Each packet's data is the first row of the frame's Y plane (not a real
//! H.264 stream); pts and dts are the frame's pts. No parameters.
//!
//! ```text
//! test-packets ! scale width=640     # must be refused: scale takes frames
//! ```

use framechain_stage::media::{empty_output, expect_frame, frame_error_text, packet_output};
use framechain_stage::{
    Codec, Control, Media, Output, Packet, Params, PixelFormat, Plane, Port, ProcessorHandle, Rect,
    Stage, StageDescription, StageError, StageProcessor,
};

pub const STAGE_NAME: &str = "test-packets";

/// The stage type registered with `export_stage!`.
pub struct TestPacketsStage;

impl Stage for TestPacketsStage {
    type Processor = TestPacketsProcessor;

    fn describe() -> StageDescription {
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary:
                "Test stage: turns each frame into a fake H.264 packet holding its first Y row."
                    .to_owned(),
            input: Port::Frames(vec![PixelFormat::I420]),
            output: Port::Packets(Codec::H264),
            params: Vec::new(),
        }
    }
}

pub struct TestPacketsProcessor;

impl StageProcessor for TestPacketsProcessor {
    fn create(params: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        // Rejects any parameter, naming it.
        Params::parse(STAGE_NAME, &[], params)?;
        Ok(ProcessorHandle::new(TestPacketsProcessor))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let frame = expect_frame(STAGE_NAME, input)?;
        let info = frame.info();
        let first_row = Rect {
            x: 0,
            y: 0,
            width: info.width,
            height: 1,
        };
        let data = frame.read_rect(Plane::Y, first_row).map_err(|e| {
            StageError::Internal(format!(
                "{STAGE_NAME}: reading the first Y row: {}",
                frame_error_text(e)
            ))
        })?;
        Ok(packet_output(Packet {
            codec: Codec::H264,
            data,
            pts: info.pts,
            dts: info.pts,
            keyframe: info.keyframe,
        }))
    }

    fn flush(&self) -> Result<Output, StageError> {
        Ok(empty_output())
    }

    fn control(&self, event: Control) -> Result<(), StageError> {
        framechain_stage::control::ignore(event)
    }
}

#[cfg(target_arch = "wasm32")]
framechain_stage::export_stage!(TestPacketsStage);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_frames_in_packets_out() {
        let description = <TestPacketsStage as Stage>::describe();
        assert_eq!(description.input, Port::Frames(vec![PixelFormat::I420]));
        assert_eq!(description.output, Port::Packets(Codec::H264));
        assert!(description.params.is_empty());
    }
}
