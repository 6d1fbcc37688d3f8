//! The `scale` stage: the component's entry points on top of the kernels.

use std::cell::RefCell;

use framechain_stage::geometry::{I420_PLANES, i420_plane_size, plane_name};
use framechain_stage::media::{empty_output, expect_frame, frame_error_text, frame_output};
use framechain_stage::{
    Control, Frame, Media, Output, PixelFormat, Plane, Port, ProcessorHandle, Stage,
    StageDescription, StageError, StageProcessor,
};

use crate::config::{STAGE_NAME, ScaleConfig, param_specs};
use crate::kernel::{I420Scaler, PlaneShape};
use crate::layout::Layout;

/// The stage type registered with `export_stage!`.
pub struct ScaleStage;

impl Stage for ScaleStage {
    type Processor = ScaleProcessor;

    fn describe() -> StageDescription {
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary: "Resizes I420 frames to a given size, stretching or keeping the aspect ratio with padding.".to_owned(),
            input: Port::Frames(vec![PixelFormat::I420]),
            output: Port::Frames(vec![PixelFormat::I420]),
            params: param_specs(),
        }
    }
}

/// One session's scaler. The weights and output buffers depend only on the
/// input size, so they are prepared on the first frame (or at create, for
/// `expect-size`) and kept until the size changes.
pub struct ScaleProcessor {
    config: ScaleConfig,
    prepared: RefCell<Option<Prepared>>,
}

struct Prepared {
    source: (u32, u32),
    layout: Layout,
    scaler: I420Scaler,
    /// Output planes, tight. Padding is painted once, when prepared; each
    /// frame overwrites only the picture area.
    planes: [Vec<u8>; 3],
}

impl StageProcessor for ScaleProcessor {
    fn create(params: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        let processor = ScaleProcessor {
            config: ScaleConfig::from_params(params)?,
            prepared: RefCell::new(None),
        };
        if let Some((width, height)) = processor.config.expect_size {
            processor.prepare_ahead(width, height)?;
        }
        Ok(ProcessorHandle::new(processor))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let frame = expect_frame(STAGE_NAME, input)?;
        let info = frame.info();
        let layout = Layout::plan(&self.config, info.width, info.height)
            .map_err(StageError::UnsupportedInput)?;
        if layout.is_identity(info.width, info.height) {
            // Nothing to do: hand the same frame on, which copies nothing.
            return Ok(frame_output(frame));
        }
        let mut prepared = self.prepared.borrow_mut();
        let prepared = match prepared.as_mut() {
            Some(p) if p.source == (info.width, info.height) => p,
            _ => prepared.insert(self.prepare(info.width, info.height, layout)?),
        };
        let scaled = prepared.scale(&frame)?;
        Ok(frame_output(scaled))
    }

    fn flush(&self) -> Result<Output, StageError> {
        // Every push produces its frame at once; nothing is held back.
        Ok(empty_output())
    }

    fn control(&self, event: Control) -> Result<(), StageError> {
        framechain_stage::control::ignore(event)
    }
}

impl ScaleProcessor {
    /// What the first `width`x`height` picture would prepare, made at
    /// create: the filter and the output planes (written, so mapped), and
    /// the memory its source planes are read into (mapped, then handed
    /// back to the allocator, which gives it to those reads).
    fn prepare_ahead(&self, width: u32, height: u32) -> Result<(), StageError> {
        let bad = |problem: String| {
            StageError::BadParameter(format!("{STAGE_NAME}: expect-size: {problem}"))
        };
        let layout = Layout::plan(&self.config, width, height).map_err(bad)?;
        if layout.is_identity(width, height) {
            return Ok(());
        }
        let source_bytes = I420_PLANES
            .iter()
            .map(|plane| {
                let (w, h) = i420_plane_size(*plane, width, height);
                w as usize * h as usize
            })
            .sum();
        // The planes first, so that they do not take the block handed back.
        *self.prepared.borrow_mut() = Some(self.prepare(width, height, layout)?);
        framechain_stage::memory::prefault(source_bytes).map_err(bad)
    }

    fn prepare(&self, width: u32, height: u32, layout: Layout) -> Result<Prepared, StageError> {
        let picture = (
            layout.picture.width as usize,
            layout.picture.height as usize,
        );
        let scaler = I420Scaler::new(
            self.config.method,
            (width as usize, height as usize),
            picture,
        )
        .map_err(|e| internal(format!("cannot prepare scaling {width}x{height}: {e}")))?;
        let pad = self.config.pad_color;
        let planes = I420_PLANES.map(|plane| {
            let (w, h) = i420_plane_size(plane, layout.width, layout.height);
            let value = match plane {
                Plane::Y => pad.y,
                Plane::U => pad.u,
                Plane::V => pad.v,
            };
            vec![value; w as usize * h as usize]
        });
        Ok(Prepared {
            source: (width, height),
            layout,
            scaler,
            planes,
        })
    }
}

impl Prepared {
    /// Reads the source planes, scales them into the output planes and
    /// makes the new frame, with the source's timing and mapped regions.
    fn scale(&mut self, source: &Frame) -> Result<Frame, StageError> {
        let (width, height) = self.source;
        let source_planes = I420_PLANES.map(|plane| source.read_plane(plane));
        for (plane, data) in I420_PLANES.iter().zip(&source_planes) {
            let (w, h) = i420_plane_size(*plane, width, height);
            if data.len() != w as usize * h as usize {
                return Err(internal(format!(
                    "host gave {} bytes for the {} plane of a {width}x{height} frame, expected {}",
                    data.len(),
                    plane_name(*plane),
                    w as usize * h as usize
                )));
            }
        }

        let layout = self.layout;
        let [y, u, v] = &mut self.planes;
        let destination = [(y, Plane::Y), (u, Plane::U), (v, Plane::V)]
            .map(|(buffer, plane)| picture_area(buffer, plane, layout));
        let [sy, su, sv] = &source_planes;
        self.scaler
            .scale([sy, su, sv], destination)
            .map_err(|e| internal(e.to_string()))?;

        let [y, u, v] = &self.planes;
        let output = Frame::from_planes(layout.width, layout.height, y, u, v).map_err(|e| {
            internal(format!(
                "cannot make a {}x{} frame: {}",
                layout.width,
                layout.height,
                frame_error_text(e)
            ))
        })?;
        output.copy_metadata(source);
        let regions = source.regions();
        if !regions.is_empty() {
            output.set_regions(&layout.map_regions(&regions, width, height));
        }
        Ok(output)
    }
}

/// The part of a tight output plane the picture covers, as a slice starting
/// at the picture's first sample and the shape to write it with.
fn picture_area(buffer: &mut [u8], plane: Plane, layout: Layout) -> (&mut [u8], PlaneShape) {
    let (plane_width, _) = i420_plane_size(plane, layout.width, layout.height);
    let picture = layout.picture;
    let (x, y, w, h) = match plane {
        Plane::Y => (picture.x, picture.y, picture.width, picture.height),
        // Picture offsets are even (see `layout`), so halving is exact.
        _ => (
            picture.x / 2,
            picture.y / 2,
            picture.width.div_ceil(2),
            picture.height.div_ceil(2),
        ),
    };
    let start = y as usize * plane_width as usize + x as usize;
    (
        &mut buffer[start..],
        PlaneShape {
            width: w as usize,
            height: h as usize,
            stride: plane_width as usize,
        },
    )
}

fn internal(problem: String) -> StageError {
    StageError::Internal(format!("{STAGE_NAME}: {problem}"))
}
