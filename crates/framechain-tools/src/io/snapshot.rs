//! Before/after PNG snapshots a person can look at.

use std::io::BufWriter;
use std::path::Path;

use super::IoError;
use framechain::Frame;
use framechain::Plane;

/// Pixels between the two pictures.
const GAP: u32 = 16;

/// Writes `before` and `after` side by side (top-aligned, gray gap) as an
/// RGB PNG, converting with BT.601 limited-range coefficients.
pub fn write_before_after_png(path: &Path, before: &Frame, after: &Frame) -> Result<(), IoError> {
    let width = before.width() + GAP + after.width();
    let height = before.height().max(after.height());
    let mut rgb = vec![64u8; (width * height * 3) as usize];
    paste(&mut rgb, width, 0, before);
    paste(&mut rgb, width, before.width() + GAP, after);
    let file = std::fs::File::create(path)
        .map_err(|error| IoError::Format(format!("cannot write {}: {error}", path.display())))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(&rgb).map_err(png_error)?;
    writer.finish().map_err(png_error)
}

fn png_error(error: png::EncodingError) -> IoError {
    IoError::Format(format!("cannot write PNG: {error}"))
}

fn paste(rgb: &mut [u8], canvas_width: u32, left: u32, frame: &Frame) {
    let (luma, u, v) = (
        frame.plane(Plane::Y),
        frame.plane(Plane::U),
        frame.plane(Plane::V),
    );
    let chroma_width = frame.plane_size(Plane::U).0;
    for y in 0..frame.height() {
        for x in 0..frame.width() {
            let chroma = ((y / 2) * chroma_width + x / 2) as usize;
            let pixel = yuv_to_rgb(luma[(y * frame.width() + x) as usize], u[chroma], v[chroma]);
            let at = ((y * canvas_width + left + x) * 3) as usize;
            rgb[at..at + 3].copy_from_slice(&pixel);
        }
    }
}

/// BT.601 limited range to full-range RGB.
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (y as f32 - 16.0) * 1.164;
    let d = u as f32 - 128.0;
    let e = v as f32 - 128.0;
    let clamp = |value: f32| value.round().clamp(0.0, 255.0) as u8;
    [
        clamp(c + 1.596 * e),
        clamp(c - 0.392 * d - 0.813 * e),
        clamp(c + 2.017 * d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_and_white_convert_to_rgb_extremes() {
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
    }
}
