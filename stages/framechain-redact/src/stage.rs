//! The `redact` stage: the component's entry points on top of the kernels.
//!
//! Every change goes through the frame resource and touches only the areas
//! being hidden: `fill-rect` for fill (no samples cross into the stage), and
//! `read-rect`/`write-rect` of just the area for pixelate and blur. The frame
//! handed in is the frame handed on.
//!
//! The per-frame work, [`RedactProcessor::redact`], is generic over
//! [`FrameAccess`]: `push` runs it on the host's frame, the tests below on
//! a [`TestFrame`](framechain_stage::testing::TestFrame).

use std::cell::{Cell, RefCell};

use framechain_stage::geometry::plane_name;
use framechain_stage::media::{empty_output, expect_frame, frame_error_text, frame_output};
use framechain_stage::{
    Control, FrameAccess, FrameError, Media, Output, PixelFormat, Plane, Port, ProcessorHandle,
    Rect, Stage, StageDescription, StageError, StageProcessor, log,
};

use crate::areas::{Area, Skipped, areas_to_hide, describe};
use crate::config::{LabelFilter, Mode, RedactConfig, STAGE_NAME, param_specs};
use crate::kernel;

/// The stage type registered with `export_stage!`.
pub struct RedactStage;

impl Stage for RedactStage {
    type Processor = RedactProcessor;

    fn describe() -> StageDescription {
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary: "Hides fixed areas and labelled regions of I420 frames by filling, pixelating or blurring them."
                .to_owned(),
            input: Port::Frames(vec![PixelFormat::I420]),
            output: Port::Frames(vec![PixelFormat::I420]),
            params: param_specs(),
        }
    }
}

pub struct RedactProcessor {
    config: RedactConfig,
    /// Which `rect` entries were already reported as outside the frame, so a
    /// misplaced policy rectangle warns once, not 30 times a second.
    warned_rects: RefCell<Vec<bool>>,
    warned_region: Cell<bool>,
}

impl StageProcessor for RedactProcessor {
    fn create(params: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        Ok(ProcessorHandle::new(RedactProcessor::new(params)?))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let frame = expect_frame(STAGE_NAME, input)?;
        self.redact(&frame)?;
        Ok(frame_output(frame))
    }

    fn flush(&self) -> Result<Output, StageError> {
        Ok(empty_output())
    }

    fn control(&self, event: Control) -> Result<(), StageError> {
        framechain_stage::control::ignore(event)
    }
}

impl RedactProcessor {
    /// The processor for these parameters (what `create` hands the host;
    /// native tests use it as it is).
    pub fn new(params: Vec<(String, String)>) -> Result<RedactProcessor, StageError> {
        let config = RedactConfig::from_params(params)?;
        let warned_rects = RefCell::new(vec![false; config.rects.len()]);
        Ok(RedactProcessor {
            config,
            warned_rects,
            warned_region: Cell::new(false),
        })
    }

    /// Hides this processor's areas of one frame, in place.
    pub fn redact(&self, frame: &impl FrameAccess) -> Result<(), StageError> {
        let info = frame.info();
        // Skip the call (and the copy of the list) when regions are ignored.
        let regions = match self.config.labels {
            LabelFilter::Ignore => Vec::new(),
            _ => frame.regions(),
        };
        let (areas, skipped) = areas_to_hide(
            &self.config.rects,
            &regions,
            &self.config.labels,
            info.width,
            info.height,
        );
        self.warn_once(&skipped, info.width, info.height);
        for area in areas {
            hide(frame, area, self.config.mode)?;
        }
        Ok(())
    }

    fn warn_once(&self, skipped: &[Skipped], width: u32, height: u32) {
        for skip in skipped {
            match skip {
                Skipped::Rect(index) => {
                    let mut warned = self.warned_rects.borrow_mut();
                    if let Some(flag @ false) = warned.get_mut(*index) {
                        *flag = true;
                        let rect = self.config.rects[*index];
                        log::warn(&format!(
                            "{STAGE_NAME}: rect {} lies wholly outside the {width}x{height} frame; skipping it",
                            describe(rect)
                        ));
                    }
                }
                Skipped::Region(region) => {
                    if !self.warned_region.replace(true) {
                        log::warn(&format!(
                            "{STAGE_NAME}: region \"{}\" at {} lies wholly outside the {width}x{height} frame; skipping it (later ones are not reported)",
                            region.label,
                            describe(region.area)
                        ));
                    }
                }
            }
        }
    }
}

/// Hides one area in all three planes.
fn hide(frame: &impl FrameAccess, area: Area, mode: Mode) -> Result<(), StageError> {
    match mode {
        Mode::Fill { color } => {
            fill(frame, Plane::Y, area.luma, color.y)?;
            fill(frame, Plane::U, area.chroma, color.u)?;
            fill(frame, Plane::V, area.chroma, color.v)
        }
        // Chroma planes have half the resolution, so half the block and
        // radius cover the same picture area.
        Mode::Pixelate { block } => each_plane(frame, area, |samples, rect, plane| {
            let block = chroma_halved(plane, block);
            kernel::pixelate(
                samples,
                rect.width as usize,
                rect.height as usize,
                rect.width as usize,
                block,
            )
        }),
        Mode::Blur { radius } => each_plane(frame, area, |samples, rect, plane| {
            let radius = chroma_halved(plane, radius);
            kernel::blur(
                samples,
                rect.width as usize,
                rect.height as usize,
                rect.width as usize,
                radius,
            )
        }),
    }
}

fn chroma_halved(plane: Plane, size: u32) -> usize {
    match plane {
        Plane::Y => size as usize,
        Plane::U | Plane::V => size.div_ceil(2) as usize,
    }
}

fn fill(frame: &impl FrameAccess, plane: Plane, rect: Rect, value: u8) -> Result<(), StageError> {
    frame
        .fill_rect(plane, rect, value)
        .map_err(|e| frame_failure("filling", plane, rect, e))
}

/// Reads the area of each plane, runs `kernel` on it and writes it back.
fn each_plane(
    frame: &impl FrameAccess,
    area: Area,
    kernel: impl Fn(&mut [u8], Rect, Plane) -> Result<(), kernel::KernelError>,
) -> Result<(), StageError> {
    for (plane, rect) in [
        (Plane::Y, area.luma),
        (Plane::U, area.chroma),
        (Plane::V, area.chroma),
    ] {
        let mut samples = frame
            .read_rect(plane, rect)
            .map_err(|e| frame_failure("reading", plane, rect, e))?;
        kernel(&mut samples, rect, plane).map_err(|e| {
            StageError::Internal(format!(
                "{STAGE_NAME}: {} plane area {}: {e}",
                plane_name(plane),
                describe(rect)
            ))
        })?;
        frame
            .write_rect(plane, rect, &samples)
            .map_err(|e| frame_failure("writing", plane, rect, e))?;
    }
    Ok(())
}

/// Areas are clipped to the frame before use, so a refusal means the host
/// and the stage disagree about the frame: an internal error.
fn frame_failure(action: &str, plane: Plane, rect: Rect, error: FrameError) -> StageError {
    StageError::Internal(format!(
        "{STAGE_NAME}: {action} {} plane area {} failed: {}",
        plane_name(plane),
        describe(rect),
        frame_error_text(error)
    ))
}

#[cfg(test)]
mod tests {
    //! `redact` on whole frames, natively: the processor's per-frame work on
    //! a `TestFrame`, checked sample by sample.

    use framechain_stage::Region;
    use framechain_stage::color::Rgb;
    use framechain_stage::testing::TestFrame;

    use super::*;

    /// 16x8: every luma sample its own index, every chroma sample 100 + its
    /// index, so a changed sample shows wherever it is.
    fn numbered_frame() -> TestFrame {
        let luma: Vec<u8> = (0..16 * 8).collect();
        let chroma: Vec<u8> = (100..100 + 8 * 4).collect();
        TestFrame::from_planes(16, 8, &luma, &chroma, &chroma).unwrap()
    }

    fn processor(params: &[(&str, &str)]) -> RedactProcessor {
        let params = params
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        RedactProcessor::new(params).unwrap()
    }

    const fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect::new(x, y, width, height)
    }

    fn region(label: &str, area: Rect) -> Region {
        Region::new(label, area)
    }

    /// Whether (x, y) of a plane `width` samples wide lies in `area`.
    fn inside(area: Rect, width: u32, index: usize) -> bool {
        let (x, y) = (index as u32 % width, index as u32 / width);
        (area.x..area.x + area.width).contains(&x) && (area.y..area.y + area.height).contains(&y)
    }

    /// Checks that the samples of `plane` in `area` are `value` and all
    /// others are as in `before`.
    fn assert_filled(frame: &TestFrame, before: &TestFrame, plane: Plane, area: Rect, value: u8) {
        let (width, _) = frame.plane_size(plane);
        let (now, was) = (frame.read_plane(plane), before.read_plane(plane));
        for (index, (&now, &was)) in now.iter().zip(&was).enumerate() {
            let expected = if inside(area, width, index) {
                value
            } else {
                was
            };
            assert_eq!(now, expected, "{} plane, sample {index}", plane_name(plane));
        }
    }

    #[test]
    fn fill_paints_the_rect_in_all_planes_and_keeps_the_regions() {
        let frame = numbered_frame();
        let face = region("face", rect(0, 0, 2, 2));
        frame.add_region(&face);
        frame.set_timing(3000, 3000, true);
        let before = frame.clone();

        processor(&[
            ("rect", "3,1,4,3"),
            ("labels", "none"),
            ("color", "#ff0000"),
        ])
        .redact(&frame)
        .unwrap();

        let red = Rgb::new(255, 0, 0).to_ycbcr();
        assert_filled(&frame, &before, Plane::Y, rect(3, 1, 4, 3), red.y);
        // Luma columns 3..=6, rows 1..=3 touch chroma columns 1..=3, rows 0..=1.
        assert_filled(&frame, &before, Plane::U, rect(1, 0, 3, 2), red.u);
        assert_filled(&frame, &before, Plane::V, rect(1, 0, 3, 2), red.v);
        assert_eq!(frame.regions(), [face]);
        assert_eq!(frame.info(), before.info());
    }

    #[test]
    fn regions_are_hidden_by_label_and_clipped_to_the_frame() {
        let frame = numbered_frame();
        frame.set_regions(&[
            region("face", rect(14, 6, 8, 8)),
            region("phi-text", rect(0, 0, 4, 2)),
        ]);
        let before = frame.clone();

        processor(&[("labels", "face")]).redact(&frame).unwrap();

        // Only the part of the face inside the frame, black; the text region
        // is not selected and stays as it was.
        assert_filled(&frame, &before, Plane::Y, rect(14, 6, 2, 2), 16);
        assert_filled(&frame, &before, Plane::U, rect(7, 3, 1, 1), 128);
        assert_filled(&frame, &before, Plane::V, rect(7, 3, 1, 1), 128);
        assert_eq!(frame.regions(), before.regions());
    }

    #[test]
    fn pixelate_makes_each_block_one_value_and_touches_nothing_else() {
        let frame = numbered_frame();
        frame.add_region(&region("face", rect(4, 0, 8, 4)));
        let before = frame.clone();

        processor(&[("mode", "pixelate"), ("block", "4")])
            .redact(&frame)
            .unwrap();

        for block_x in [4, 8] {
            let block = frame.read_rect(Plane::Y, rect(block_x, 0, 4, 4)).unwrap();
            assert!(block.iter().all(|&s| s == block[0]), "{block:?}");
            assert_ne!(
                block,
                before.read_rect(Plane::Y, rect(block_x, 0, 4, 4)).unwrap()
            );
        }
        let luma = frame.read_plane(Plane::Y);
        let was = before.read_plane(Plane::Y);
        for (index, (now, was)) in luma.iter().zip(&was).enumerate() {
            if !inside(rect(4, 0, 8, 4), 16, index) {
                assert_eq!(now, was, "luma sample {index} outside the face");
            }
        }
        // Chroma: half the block, so each 2x2 chroma block is one value.
        let chroma = frame.read_rect(Plane::V, rect(2, 0, 2, 2)).unwrap();
        assert!(chroma.iter().all(|&s| s == chroma[0]), "{chroma:?}");
    }

    #[test]
    fn a_rect_wholly_outside_the_frame_changes_nothing() {
        let frame = numbered_frame();
        let before = frame.clone();
        processor(&[("rect", "100,100,8,8")])
            .redact(&frame)
            .unwrap();
        assert_eq!(frame, before);
    }
}
