//! The `{{name}}` stage: paints a filled square into each frame's luma
//! plane. Replace the kernel with your own; the rest is what every frame
//! stage needs.
//!
//! The contract (framechain `docs/authoring.md`): every frame pushed is
//! either handed on in an output or counted as dropped; errors are typed
//! (`bad-parameter` for parameters, `unsupported-input` for media the stage
//! cannot take, `corrupt-input` for bad bytes, `internal` otherwise); a
//! frame's regions stay true (this stage does not move pixels, so they are
//! kept as they are).

use framechain_stage::media::{empty_output, expect_frame, frame_error_text, frame_output};
use framechain_stage::spec::{ParamSpecExt, param};
use framechain_stage::{
    Control, Media, Output, ParamKind, ParamSpec, Params, PixelFormat, Plane, Port,
    ProcessorHandle, Stage, StageDescription, StageError, StageProcessor,
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
            summary: "Paints a filled square into the luma plane of I420 frames.".to_owned(),
            input: Port::Frames(vec![PixelFormat::I420]),
            output: Port::Frames(vec![PixelFormat::I420]),
            params: param_specs(),
        }
    }
}

/// One session's state. Methods take `&self`: state that changes between
/// frames goes in a `Cell`/`RefCell`.
pub struct SquareProcessor {
    x: usize,
    y: usize,
    size: usize,
    value: u8,
}

impl StageProcessor for SquareProcessor {
    fn create(list: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        // Checks names, required parameters and kinds; errors name the stage.
        let params = Params::parse(STAGE_NAME, &param_specs(), list)?;
        let int = |name, range| params.integer(name, range).map(|v| v as usize);
        Ok(ProcessorHandle::new(SquareProcessor {
            x: int("x", 0..=16384)?,
            y: int("y", 0..=16384)?,
            size: int("size", 1..=4096)?,
            value: int("value", 0..=255)? as u8,
        }))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let frame = expect_frame(STAGE_NAME, input)?;
        let (width, _) = frame.plane_size(Plane::Y);
        let mut luma = frame.read_plane(Plane::Y);
        fill_square(&mut luma, width as usize, self.x, self.y, self.size, self.value);
        frame.write_plane(Plane::Y, &luma).map_err(|error| {
            StageError::Internal(format!("{STAGE_NAME}: {}", frame_error_text(error)))
        })?;
        // The same frame goes on: timing and regions are kept.
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
        let error = SquareProcessor::create(vec![("size".into(), "0".into())])
            .err()
            .expect("size 0 is refused");
        let StageError::BadParameter(message) = error else {
            panic!("expected bad-parameter, got {error:?}");
        };
        assert!(message.starts_with(STAGE_NAME), "{message}");
    }
}
