//! The `invert-box` test stage: inverts the luma samples (`255 - Y`) of one
//! rectangle of each I420 frame and passes the frame on.
//!
//! It does exactly what `examples/stages/python-invert-box` (Python) and
//! `examples/stages/js-invert-box` (JavaScript) do, so the three can be timed on
//! the same frames (`scripts/language-cost.sh`, docs/authoring-languages.md).
//! Only the rectangle crosses the component boundary: `read-rect`, invert,
//! `write-rect`. Chroma, timing and regions are left as they are.
//!
//! | name | kind | default | meaning |
//! |------|------|---------|---------|
//! | `rect` | rect | required | `x,y,width,height` in pixels; clipped to the frame, a box wholly outside is skipped |

use framechain_stage::geometry::clip_rect;
use framechain_stage::media::{empty_output, expect_frame, frame_error_text, frame_output};
use framechain_stage::spec::{ParamSpecExt, param};
use framechain_stage::{
    Control, Media, Output, ParamKind, Params, PixelFormat, Plane, Port, ProcessorHandle, Rect,
    Stage, StageDescription, StageError, StageProcessor,
};

/// The name `describe` gives, and the file name `cargo xtask build` writes.
pub const STAGE_NAME: &str = "invert-box";

/// Inverts every sample in place: `255 - v`.
pub fn invert(samples: &mut [u8]) {
    for sample in samples {
        *sample = 255 - *sample;
    }
}

/// The stage type registered with `export_stage!`.
pub struct InvertBox;

impl Stage for InvertBox {
    type Processor = InvertBoxProcessor;

    fn describe() -> StageDescription {
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary: "Inverts the luma of one rectangle of each frame (the Rust twin of python-invert-box and js-invert-box).".to_owned(),
            input: Port::Frames(vec![PixelFormat::I420]),
            output: Port::Frames(vec![PixelFormat::I420]),
            params: vec![
                param(
                    "rect",
                    ParamKind::Rect,
                    "The box to invert, x,y,width,height in pixels; clipped to the frame.",
                )
                .required(),
            ],
        }
    }
}

/// One session's processor: the box it inverts.
pub struct InvertBoxProcessor {
    rect: Rect,
}

impl StageProcessor for InvertBoxProcessor {
    fn create(params: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        let params = Params::parse(STAGE_NAME, &InvertBox::describe().params, params)?;
        Ok(ProcessorHandle::new(InvertBoxProcessor {
            rect: params.rect("rect")?,
        }))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let frame = expect_frame(STAGE_NAME, input)?;
        let info = frame.info();
        let Some(area) = clip_rect(self.rect, info.width, info.height) else {
            return Ok(frame_output(frame));
        };
        let failed = |action: &str, error| {
            StageError::Internal(format!(
                "{STAGE_NAME}: {action} the box failed: {}",
                frame_error_text(error)
            ))
        };
        let mut samples = frame
            .read_rect(Plane::Y, area)
            .map_err(|e| failed("reading", e))?;
        invert(&mut samples);
        frame
            .write_rect(Plane::Y, area, &samples)
            .map_err(|e| failed("writing", e))?;
        Ok(frame_output(frame))
    }

    fn flush(&self) -> Result<Output, StageError> {
        Ok(empty_output())
    }

    fn control(&self, event: Control) -> Result<(), StageError> {
        framechain_stage::control::ignore(event)
    }
}

#[cfg(target_arch = "wasm32")]
framechain_stage::export_stage!(InvertBox);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invert_maps_each_sample_to_its_complement() {
        let mut samples = vec![0, 16, 128, 235, 255];
        invert(&mut samples);
        assert_eq!(samples, [255, 239, 127, 20, 0]);
    }

    #[test]
    fn a_bad_rect_is_a_bad_parameter() {
        let Err(error) = InvertBoxProcessor::create(vec![("rect".into(), "1,2,3".into())]) else {
            panic!("three numbers are refused");
        };
        let StageError::BadParameter(message) = error else {
            panic!("expected bad-parameter, got {error:?}");
        };
        assert!(message.starts_with("invert-box: rect:"), "{message}");
    }
}
