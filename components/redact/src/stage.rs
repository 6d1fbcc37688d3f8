//! The `redact` stage: the component's entry points on top of the kernels.
//!
//! Every change goes through the frame resource and touches only the areas
//! being hidden: `fill-rect` for fill (no samples cross into the stage), and
//! `read-rect`/`write-rect` of just the area for pixelate and blur. The frame
//! handed in is the frame handed on.

use std::cell::{Cell, RefCell};

use framechain_stage::geometry::plane_name;
use framechain_stage::media::{empty_output, expect_frame, frame_error_text, frame_output};
use framechain_stage::{
    Control, Frame, FrameError, Media, Output, PixelFormat, Plane, Port, ProcessorHandle, Rect,
    Stage, StageDescription, StageError, StageProcessor, log,
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
        let config = RedactConfig::from_params(params)?;
        let warned_rects = RefCell::new(vec![false; config.rects.len()]);
        Ok(ProcessorHandle::new(RedactProcessor {
            config,
            warned_rects,
            warned_region: Cell::new(false),
        }))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let frame = expect_frame(STAGE_NAME, input)?;
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
            hide(&frame, area, self.config.mode)?;
        }
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
fn hide(frame: &Frame, area: Area, mode: Mode) -> Result<(), StageError> {
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

fn fill(frame: &Frame, plane: Plane, rect: Rect, value: u8) -> Result<(), StageError> {
    frame
        .fill_rect(plane, rect, value)
        .map_err(|e| frame_failure("filling", plane, rect, e))
}

/// Reads the area of each plane, runs `kernel` on it and writes it back.
fn each_plane(
    frame: &Frame,
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
