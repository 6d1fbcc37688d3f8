//! The `{{name}}` stage: paints a filled square into each frame's luma
//! plane and marks it with a region labelled `square`. Replace the kernel
//! and `process_frame` with your own; the rest is what every frame stage
//! needs.
//!
//! The contract (framechain `docs/authoring.md`): every frame pushed is
//! either handed on in an output or counted as dropped; errors are typed
//! (`bad-parameter` for parameters, `unsupported-input` for media the stage
//! cannot take, `corrupt-input` for bad bytes, `internal` otherwise); a
//! frame's regions stay true (this stage does not move pixels, so the
//! regions a frame brings are kept as they are, and the one it adds lies
//! inside the frame).
//!
//! Testing natively (`cargo test`): the host's frame and `ProcessorHandle`
//! exist only inside the host, so the per-frame logic, `process_frame`, is
//! generic over `FrameAccess` and the tests run it on a `TestFrame` (a
//! frame in the test's memory that checks and refuses what the host does),
//! with a processor made by `SquareProcessor::new` instead of `create`.

use framechain_stage::geometry::clip_rect;
use framechain_stage::media::{empty_output, expect_frame, frame_error_text, frame_output};
use framechain_stage::spec::{ParamSpecExt, param};
use framechain_stage::{
    Control, FrameAccess, Media, Output, ParamKind, ParamSpec, Params, PixelFormat, Plane, Port,
    ProcessorHandle, Rect, Region, Stage, StageDescription, StageError, StageProcessor,
};

/// The name the stage gives itself: the name it is run by. Keep it equal to
/// the file name it is installed under (`{{name}}.wasm`).
pub const STAGE_NAME: &str = "{{name}}";

/// The kernel: sets the samples of the `size`x`size` square at (`x`, `y`)
/// of a plane `width` samples wide to `value`, clipped to the plane. Plain
/// Rust on a slice, so it is unit-tested natively.
pub fn fill_square(
    plane: &mut [u8],
    width: usize,
    x: usize,
    y: usize,
    size: usize,
    value: u8,
) {
    if width == 0 {
        return;
    }
    let height = plane.len() / width;
    for row in y.min(height)..(y.saturating_add(size)).min(height) {
        let line = &mut plane[row * width..(row + 1) * width];
        let start = x.min(width);
        let end = x.saturating_add(size).min(width);
        line[start..end].fill(value);
    }
}

fn param_specs() -> Vec<ParamSpec> {
    vec![
        param("x", ParamKind::Integer, "Left edge of the square, in pixels.").with_default("0"),
        param("y", ParamKind::Integer, "Top edge of the square, in pixels.").with_default("0"),
        param("size", ParamKind::Integer, "Side of the square, 1 to 4096 pixels.")
            .with_default("16"),
        param("value", ParamKind::Integer, "Luma of the square, 0 to 255.").with_default("235"),
    ]
}

/// The stage type registered with `export_stage!`.
pub struct SquareStage;

impl Stage for SquareStage {
    type Processor = SquareProcessor;

    fn describe() -> StageDescription {
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary: "Paints a filled square into the luma plane of I420 frames and marks it with a region.".to_owned(),
            input: Port::Frames(vec![PixelFormat::I420]),
            output: Port::Frames(vec![PixelFormat::I420]),
            params: param_specs(),
        }
    }
}

/// The label of the region marking the painted square.
pub const SQUARE_LABEL: &str = "square";

/// One session's state. Methods take `&self`: state that changes between
/// frames goes in a `Cell`/`RefCell`.
pub struct SquareProcessor {
    /// Where the square goes, in pixels (it may reach past the frame).
    square: Rect,
    value: u8,
}

impl SquareProcessor {
    /// The processor for these parameters, or a `bad-parameter` error
    /// naming the stage. `create` hands it to the host; native tests use
    /// it as it is (`ProcessorHandle::new` exists only inside the host).
    pub fn new(list: Vec<(String, String)>) -> Result<SquareProcessor, StageError> {
        // Checks names, required parameters and kinds; errors name the stage.
        let params = Params::parse(STAGE_NAME, &param_specs(), list)?;
        let int = |name, range| params.integer(name, range).map(|v| v as u32);
        let size = int("size", 1..=4096)?;
        Ok(SquareProcessor {
            square: Rect::new(int("x", 0..=16384)?, int("y", 0..=16384)?, size, size),
            value: int("value", 0..=255)? as u8,
        })
    }

    /// The per-frame work, on any frame: the host's in `push`, a
    /// `TestFrame` in the tests. Paints the square into the luma plane and
    /// adds a region marking the part of it inside the frame; a square
    /// wholly outside changes nothing.
    pub fn process_frame(&self, frame: &impl FrameAccess) -> Result<(), StageError> {
        let (width, height) = frame.plane_size(Plane::Y);
        let Some(inside) = clip_rect(self.square, width, height) else {
            return Ok(());
        };
        let mut luma = frame.read_plane(Plane::Y);
        let (x, y) = (self.square.x as usize, self.square.y as usize);
        let size = self.square.width as usize;
        fill_square(&mut luma, width as usize, x, y, size, self.value);
        frame.write_plane(Plane::Y, &luma).map_err(|error| {
            StageError::Internal(format!("{STAGE_NAME}: {}", frame_error_text(error)))
        })?;
        frame.add_region(&Region::new(SQUARE_LABEL, inside));
        Ok(())
    }
}

impl StageProcessor for SquareProcessor {
    fn create(list: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        Ok(ProcessorHandle::new(SquareProcessor::new(list)?))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let frame = expect_frame(STAGE_NAME, input)?;
        self.process_frame(&frame)?;
        // The same frame goes on, with its timing and regions.
        Ok(frame_output(frame))
    }

    fn flush(&self) -> Result<Output, StageError> {
        // Nothing is held back between pushes.
        Ok(empty_output())
    }

    fn control(&self, event: Control) -> Result<(), StageError> {
        framechain_stage::control::ignore(event)
    }
}

// Only in the wasm build: native builds (`cargo test`) have no host to export to.
#[cfg(target_arch = "wasm32")]
framechain_stage::export_stage!(SquareStage);

#[cfg(test)]
mod tests {
    use super::*;
    use framechain_stage::testing::TestFrame;

    fn processor(params: &[(&str, &str)]) -> SquareProcessor {
        let list = params
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        SquareProcessor::new(list).expect("the parameters are valid")
    }

    #[test]
    fn each_frame_gets_the_square_and_a_region_marking_it() {
        let processor = processor(&[("x", "6"), ("y", "2"), ("size", "4"), ("value", "235")]);
        // A black 8x4 frame that already carries a region from an earlier stage.
        let frame = TestFrame::create(8, 4, PixelFormat::I420).unwrap();
        let face = Region::new("face", Rect::new(0, 0, 2, 2));
        frame.add_region(&face);

        processor.process_frame(&frame).unwrap();

        let luma = frame.read_plane(Plane::Y);
        let rows: Vec<&[u8]> = luma.chunks(8).collect();
        assert_eq!(rows[0], &[16; 8]);
        assert_eq!(rows[1], &[16; 8]);
        assert_eq!(rows[2], &[16, 16, 16, 16, 16, 16, 235, 235]);
        assert_eq!(rows[3], &[16, 16, 16, 16, 16, 16, 235, 235]);
        // Colour is untouched.
        assert_eq!(frame.read_plane(Plane::U), [128; 4 * 2]);
        assert_eq!(frame.read_plane(Plane::V), [128; 4 * 2]);
        // The region it brought is kept; the new one covers what was painted.
        let square = Region::new(SQUARE_LABEL, Rect::new(6, 2, 2, 2));
        assert_eq!(frame.regions(), [face, square]);
    }

    #[test]
    fn a_square_outside_the_frame_changes_nothing() {
        let processor = processor(&[("x", "64"), ("y", "0")]);
        let frame = TestFrame::create(8, 4, PixelFormat::I420).unwrap();
        let before = frame.clone();
        processor.process_frame(&frame).unwrap();
        assert_eq!(frame, before);
    }

    #[test]
    fn the_square_is_filled_and_clipped_to_the_plane() {
        let mut plane = vec![16u8; 8 * 4];
        fill_square(&mut plane, 8, 6, 2, 4, 235);
        let rows: Vec<&[u8]> = plane.chunks(8).collect();
        assert_eq!(rows[0], &[16; 8]);
        assert_eq!(rows[1], &[16; 8]);
        assert_eq!(rows[2], &[16, 16, 16, 16, 16, 16, 235, 235]);
        assert_eq!(rows[3], &[16, 16, 16, 16, 16, 16, 235, 235]);
    }

    #[test]
    fn bad_parameters_are_refused_with_the_stage_name() {
        let error = SquareProcessor::new(vec![("size".into(), "0".into())])
            .err()
            .expect("size 0 is refused");
        let StageError::BadParameter(message) = error else {
            panic!("expected bad-parameter, got {error:?}");
        };
        assert!(message.starts_with(STAGE_NAME), "{message}");
    }
}
