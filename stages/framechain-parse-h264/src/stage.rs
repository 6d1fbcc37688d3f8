//! The `parse-h264` stage: the component's entry points on top of the
//! parser.

use std::cell::RefCell;

use framechain_stage::media::expect_packet;
use framechain_stage::spec::{ParamSpecExt, param};
use framechain_stage::{
    Codec, Control, DroppedFrame, Media, Output, Packet, ParamKind, ParamSpec, Params, Port,
    ProcessorHandle, Stage, StageDescription, StageError, StageProcessor, log,
};

use crate::parser::{Parsed, Parser};

pub const STAGE_NAME: &str = "parse-h264";

/// Ticks of the 90 kHz clock per second.
const CLOCK: f64 = 90_000.0;

pub fn param_specs() -> Vec<ParamSpec> {
    vec![
        param(
            "fps",
            ParamKind::Number,
            "Frame rate, 1 to 1000: access units whose packet carries no pts are numbered on from the previous one, 1/fps apart.",
        )
        .with_default("30"),
    ]
}

/// Ticks between access units without a pts, from the parameters.
pub fn frame_duration(list: Vec<(String, String)>) -> Result<i64, StageError> {
    let params = Params::parse(STAGE_NAME, &param_specs(), list)?;
    let fps = params.number("fps", 1.0..=1000.0)?;
    Ok((CLOCK / fps).round() as i64)
}

/// The stage type registered with `export_stage!`.
pub struct ParseStage;

impl Stage for ParseStage {
    type Processor = ParseProcessor;

    fn describe() -> StageDescription {
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary: "Cuts an H.264 Annex-B byte stream (packets cut anywhere) into packets of exactly one whole access unit each, keyframe set on IDR ones, with time stamps (like GStreamer's h264parse); each is held until the next one starts.".to_owned(),
            input: Port::Packets(Codec::H264),
            output: Port::Packets(Codec::H264),
            params: param_specs(),
        }
    }
}

/// One session's parser.
pub struct ParseProcessor {
    parser: RefCell<Parser>,
}

impl StageProcessor for ParseProcessor {
    fn create(params: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        let duration = frame_duration(params)?;
        Ok(ProcessorHandle::new(ParseProcessor {
            parser: RefCell::new(Parser::new(duration)),
        }))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let packet = expect_packet(STAGE_NAME, Codec::H264, input)?;
        let parsed = self
            .parser
            .borrow_mut()
            .push(&packet.data, packet.pts, packet.dts);
        Ok(to_output(parsed))
    }

    fn flush(&self) -> Result<Output, StageError> {
        Ok(to_output(self.parser.borrow_mut().flush()))
    }

    fn control(&self, event: Control) -> Result<(), StageError> {
        framechain_stage::control::ignore(event)
    }
}

fn to_output(parsed: Parsed) -> Output {
    if parsed.discarded > 0 {
        log::throttled(|| {
            log::warn(&format!(
                "{STAGE_NAME}: skipped {} bytes that are not part of any NAL unit",
                parsed.discarded
            ))
        });
    }
    Output {
        media: parsed
            .access_units
            .into_iter()
            .map(|au| {
                Media::Packet(Packet {
                    codec: Codec::H264,
                    data: au.data,
                    pts: au.pts,
                    dts: au.dts,
                    keyframe: au.keyframe,
                })
            })
            .collect(),
        dropped: parsed
            .dropped
            .into_iter()
            .map(|d| DroppedFrame {
                pts: d.pts,
                reason: d.reason,
            })
            .collect(),
        notices: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_and_parameters() {
        let d = <ParseStage as Stage>::describe();
        assert_eq!(d.name, STAGE_NAME);
        assert_eq!(
            (d.input, d.output),
            (Port::Packets(Codec::H264), Port::Packets(Codec::H264))
        );
        assert_eq!(frame_duration(vec![]), Ok(3000));
        assert_eq!(
            frame_duration(vec![("fps".into(), "29.97".into())]),
            Ok(3003)
        );
        assert!(matches!(
            frame_duration(vec![("fps".into(), "0".into())]),
            Err(StageError::BadParameter(_))
        ));
    }
}
