//! A synthetic clip for demos and tests: a moving gradient, a bouncing
//! box, and a high-contrast "name plate" standing in for patient text
//! burnt into the picture at a fixed place.

use super::{FrameRate, FrameReader, IoError};
use framechain::Frame;
use framechain::{Plane, Rect};

/// Generates `frames` frames of `width` x `height`.
pub struct TestSource {
    width: u32,
    height: u32,
    frames: u64,
    rate: FrameRate,
    next: u64,
}

impl TestSource {
    /// A clip of `frames` pictures of `width` x `height` (at least 16x16,
    /// so the name plate fits) at `rate`.
    pub fn new(width: u32, height: u32, frames: u64, rate: FrameRate) -> Result<Self, IoError> {
        // Checked from the numbers: validating must not allocate a frame.
        if width < 16 || height < 16 || Frame::byte_len_for(width, height).is_err() {
            return Err(IoError::Format(format!(
                "test source size {width}x{height} is not supported (16x16 or more)"
            )));
        }
        Ok(TestSource {
            width,
            height,
            frames,
            rate,
            next: 0,
        })
    }

    /// Where the name plate is drawn, in pixels: the area a policy would redact.
    pub fn name_plate(width: u32, height: u32) -> Rect {
        Rect {
            x: width / 16,
            y: height / 16,
            width: width * 5 / 16,
            height: height / 8,
        }
    }

    fn render(&self, index: u64) -> Frame {
        let (width, height) = (self.width, self.height);
        let mut frame = Frame::black(width, height).expect("size checked in new()");
        let t = index as u32;
        let luma = frame.plane_mut(Plane::Y);
        for y in 0..height {
            for x in 0..width {
                // A diagonal gradient drifting right: smooth content that a
                // good scaler keeps close to the reference.
                let value = 40 + ((x + y / 2 + t * 4) % 512) * 160 / 512;
                luma[(y * width + x) as usize] = value as u8;
            }
        }
        let (chroma_width, chroma_height) = frame.plane_size(Plane::U);
        for (plane, phase) in [(Plane::U, 0u32), (Plane::V, 128)] {
            let samples = frame.plane_mut(plane);
            for y in 0..chroma_height {
                for x in 0..chroma_width {
                    let value = 96 + ((x * 2 + y + phase + t * 2) % 256) * 64 / 256;
                    samples[(y * chroma_width + x) as usize] = value as u8;
                }
            }
        }
        // A bouncing box.
        let size = (width.min(height) / 6).max(4);
        let span_x = width - size;
        let span_y = height - size;
        let bounce = |position: u32, span: u32| {
            let period = span.max(1) * 2;
            let p = position % period;
            if p < span { p } else { period - p }
        };
        let x = bounce(t * 7, span_x);
        let y = bounce(t * 5, span_y);
        let area = Rect {
            x,
            y,
            width: size,
            height: size,
        };
        let _ = frame.fill_rect(Plane::Y, area, 210);
        // Name plate: white stripes on black, like burnt-in caption text.
        let plate = Self::name_plate(width, height);
        let _ = frame.fill_rect(Plane::Y, plate, 20);
        let stripe = (plate.height / 5).max(1);
        for row in 0..plate.height / stripe {
            if row % 2 == 1 {
                for column in (0..plate.width).step_by(12) {
                    let glyph = Rect {
                        x: plate.x + column,
                        y: plate.y + row * stripe,
                        width: 8.min(plate.width - column),
                        height: stripe,
                    };
                    let _ = frame.fill_rect(Plane::Y, glyph, 235);
                }
            }
        }
        frame.pts = self.rate.pts_of(index);
        frame.duration = self.rate.frame_ticks();
        frame.keyframe = index == 0;
        frame
    }
}

impl FrameReader for TestSource {
    fn read_frame(&mut self) -> Result<Option<Frame>, IoError> {
        if self.next >= self.frames {
            return Ok(None);
        }
        let frame = self.render(self.next);
        self.next += 1;
        Ok(Some(frame))
    }

    fn frame_rate(&self) -> FrameRate {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_the_requested_frames_which_move() {
        let mut source = TestSource::new(64, 48, 3, FrameRate::DEFAULT).unwrap();
        let first = source.read_frame().unwrap().unwrap();
        let second = source.read_frame().unwrap().unwrap();
        assert_ne!(first.plane(Plane::Y), second.plane(Plane::Y));
        assert_eq!(second.pts, 3000);
        assert!(source.read_frame().unwrap().is_some());
        assert!(source.read_frame().unwrap().is_none());
    }

    #[test]
    fn checking_the_size_allocates_no_frame() {
        let (source, peak) = crate::io::test_alloc::peak_during(|| {
            TestSource::new(16384, 16384, 1, FrameRate::DEFAULT)
        });
        assert!(source.is_ok());
        assert!(peak < 1 << 20, "{peak} bytes held to check a size");
        let error = TestSource::new(16385, 16, 1, FrameRate::DEFAULT)
            .err()
            .unwrap();
        assert!(error.to_string().contains("not supported"), "{error}");
    }
}
