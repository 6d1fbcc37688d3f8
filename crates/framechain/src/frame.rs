//! The host-owned picture that flows between stages.

//!
//! The rules of a frame (plane sizes, size limits, what a rectangle access
//! must satisfy) are the contract crate's, `framechain-frame`, which the
//! stage SDK's native test frame applies too; this module keeps the
//! samples and speaks the WIT types.

use crate::bindings::types::{self, Plane, Rect, Region};
use framechain_frame::{BLACK_Y, NEUTRAL_CHROMA};
pub use framechain_frame::{FrameError, MAX_DIMENSION, chroma_size};

/// An 8-bit I420 picture with its timing and regions.
///
/// Stages see a frame only through the `frame` resource of the WIT
/// contract: the samples stay here, and moving a frame from one stage to the
/// next moves this value between the stages' resource tables, copying nothing.
#[derive(Clone, Debug)]
pub struct Frame {
    width: u32,
    height: u32,
    planes: [Vec<u8>; 3],
    /// Presentation time stamp in 90 kHz ticks.
    pub pts: i64,
    /// Display duration in 90 kHz ticks (0 if unknown).
    pub duration: i64,
    /// True when the frame starts a group of pictures.
    pub keyframe: bool,
    /// Labelled areas attached by earlier stages.
    pub regions: Vec<Region>,
}

impl Frame {
    /// A black I420 frame. Fails with `BadDimensions` for a zero or
    /// oversized side.
    pub fn black(width: u32, height: u32) -> Result<Frame, FrameError> {
        let [luma, chroma, _] = plane_lengths(width, height)?;
        Ok(Frame::with_planes(
            width,
            height,
            [
                vec![BLACK_Y; luma],
                vec![NEUTRAL_CHROMA; chroma],
                vec![NEUTRAL_CHROMA; chroma],
            ],
        ))
    }

    /// A frame from its three planes, which must have exactly the I420 sizes
    /// (`WrongLength` otherwise). The buffers are taken over, not copied.
    pub fn from_planes(width: u32, height: u32, planes: [Vec<u8>; 3]) -> Result<Frame, FrameError> {
        let lengths = [planes[0].len(), planes[1].len(), planes[2].len()];
        framechain_frame::check_plane_lengths(width, height, lengths)?;
        Ok(Frame::with_planes(width, height, planes))
    }

    /// Bytes a `width` x `height` frame holds (all three planes), or
    /// `BadDimensions`: lets a caller check a budget before allocating.
    pub fn byte_len_for(width: u32, height: u32) -> Result<usize, FrameError> {
        framechain_frame::frame_bytes(width, height)
    }

    fn with_planes(width: u32, height: u32, planes: [Vec<u8>; 3]) -> Frame {
        Frame {
            width,
            height,
            planes,
            pts: 0,
            duration: 0,
            keyframe: false,
            regions: Vec::new(),
        }
    }

    /// Width of the picture in luma samples (the Y plane).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height of the picture in luma rows (the Y plane).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Width and height in samples of one plane.
    pub fn plane_size(&self, plane: Plane) -> (u32, u32) {
        framechain_frame::plane_size(contract_plane(plane), self.width, self.height)
    }

    /// The samples of one plane, row after row, no padding.
    pub fn plane(&self, plane: Plane) -> &[u8] {
        &self.planes[plane_index(plane)]
    }

    /// The samples of one plane, to change in place (its size is fixed:
    /// a stage that resizes makes a new frame).
    pub fn plane_mut(&mut self, plane: Plane) -> &mut [u8] {
        &mut self.planes[plane_index(plane)]
    }

    /// Replaces a whole plane; `data` must have the plane's exact size.
    pub fn write_plane(&mut self, plane: Plane, data: &[u8]) -> Result<(), FrameError> {
        let target = self.plane_mut(plane);
        if data.len() != target.len() {
            return Err(FrameError::WrongLength);
        }
        target.copy_from_slice(data);
        Ok(())
    }

    /// Like [`Frame::write_plane`], but takes the buffer over instead of
    /// copying it: a stage's plane arrives from wasm as a fresh `Vec`
    /// already, and a 1080p frame is 3 MB.
    pub fn replace_plane(&mut self, plane: Plane, data: Vec<u8>) -> Result<(), FrameError> {
        let target = &mut self.planes[plane_index(plane)];
        if data.len() != target.len() {
            return Err(FrameError::WrongLength);
        }
        *target = data;
        Ok(())
    }

    /// Copies out the samples of a rectangle of one plane.
    pub fn read_rect(&self, plane: Plane, area: Rect) -> Result<Vec<u8>, FrameError> {
        let rows = self.rows(plane, area)?;
        let source = self.plane(plane);
        let mut out = Vec::with_capacity((area.width as usize) * (area.height as usize));
        for row in rows {
            out.extend_from_slice(&source[row]);
        }
        Ok(out)
    }

    /// Overwrites the samples of a rectangle of one plane.
    pub fn write_rect(&mut self, plane: Plane, area: Rect, data: &[u8]) -> Result<(), FrameError> {
        let rows = self.rows(plane, area)?;
        if data.len() != (area.width as usize) * (area.height as usize) {
            return Err(FrameError::WrongLength);
        }
        let target = self.plane_mut(plane);
        let row_len = area.width as usize;
        for (row, chunk) in rows.zip(data.chunks_exact(row_len.max(1))) {
            target[row].copy_from_slice(chunk);
        }
        Ok(())
    }

    /// Sets every sample of a rectangle of one plane to `value`.
    pub fn fill_rect(&mut self, plane: Plane, area: Rect, value: u8) -> Result<(), FrameError> {
        let rows = self.rows(plane, area)?;
        let target = self.plane_mut(plane);
        for row in rows {
            target[row].fill(value);
        }
        Ok(())
    }

    /// Timing and regions: what travels with the frame besides its samples.
    pub fn metadata(&self) -> FrameMetadata {
        FrameMetadata {
            pts: self.pts,
            duration: self.duration,
            keyframe: self.keyframe,
            regions: self.regions.clone(),
        }
    }

    /// Takes over timing and regions (e.g. another frame's [`Frame::metadata`]).
    pub fn set_metadata(&mut self, metadata: FrameMetadata) {
        self.pts = metadata.pts;
        self.duration = metadata.duration;
        self.keyframe = metadata.keyframe;
        self.regions = metadata.regions;
    }

    /// The frame's size in bytes (all three planes).
    pub fn byte_len(&self) -> usize {
        self.planes.iter().map(Vec::len).sum()
    }

    /// Host memory the frame stands for: its samples and its regions. What
    /// a stage's budget is charged while the frame is in its hands.
    pub fn held_bytes(&self) -> usize {
        self.byte_len() + regions_bytes(&self.regions)
    }

    /// [`Frame::black`], filled piece by piece, giving up (`Ok(None)`) once
    /// `deadline` has passed: a 16384x16384 frame is 400 MB to write, and a
    /// stage's call must end by its deadline even inside the host.
    pub(crate) fn black_by(
        width: u32,
        height: u32,
        deadline: std::time::Instant,
    ) -> Result<Option<Frame>, FrameError> {
        /// Bytes written between two looks at the clock (well under 1 ms).
        const PIECE: usize = 1 << 20;
        let lengths = plane_lengths(width, height)?;
        let mut planes: [Vec<u8>; 3] = Default::default();
        for (index, (plane, len)) in planes.iter_mut().zip(lengths).enumerate() {
            let value = if index == 0 { BLACK_Y } else { NEUTRAL_CHROMA };
            // Zeroed memory comes from the kernel untouched; writing it is
            // the cost, so the writing is what is cut into pieces.
            *plane = vec![0; len];
            for piece in plane.chunks_mut(PIECE) {
                if std::time::Instant::now() >= deadline {
                    return Ok(None);
                }
                piece.fill(value);
            }
        }
        Ok(Some(Frame::with_planes(width, height, planes)))
    }

    /// The byte range of each row of `area` in `plane`, or `OutOfBounds`
    /// when it does not lie inside the plane (the contract's rule).
    fn rows(
        &self,
        plane: Plane,
        area: Rect,
    ) -> Result<impl Iterator<Item = std::ops::Range<usize>> + use<>, FrameError> {
        let area = framechain_frame::Area::new(area.x, area.y, area.width, area.height);
        framechain_frame::rect_rows(self.plane_size(plane), area)
    }
}

/// Host bytes a list of regions is charged: each label plus a fixed
/// overhead per region.
pub(crate) fn regions_bytes(regions: &[Region]) -> usize {
    regions
        .iter()
        .map(|region| region.label.len() + crate::limits::REGION_OVERHEAD_BYTES)
        .sum()
}

/// A frame's timing and regions, without its samples.
#[derive(Clone, Debug)]
pub struct FrameMetadata {
    /// Presentation time, 90 kHz ticks.
    pub pts: i64,
    /// How long the picture shows, 90 kHz ticks (0 when unknown).
    pub duration: i64,
    /// Whether the picture came from (or must become) a keyframe.
    pub keyframe: bool,
    /// Labelled areas of the picture that stages found or were told about
    /// (e.g. text to redact), handed on to the next stage.
    pub regions: Vec<Region>,
}

/// Bytes of the Y, U and V planes of a `width` x `height` I420 frame, or
/// `BadDimensions` for a zero or oversized side.
fn plane_lengths(width: u32, height: u32) -> Result<[usize; 3], FrameError> {
    framechain_frame::plane_lengths(width, height)
}

/// The WIT `frame-error` a stage gets for a broken rule of the frame
/// contract.
pub(crate) fn wit_frame_error(error: FrameError) -> types::FrameError {
    match error {
        FrameError::OutOfBounds => types::FrameError::OutOfBounds,
        FrameError::WrongLength => types::FrameError::WrongLength,
        FrameError::BadDimensions => types::FrameError::BadDimensions,
    }
}

/// The contract's name for a WIT plane.
fn contract_plane(plane: Plane) -> framechain_frame::Plane {
    match plane {
        Plane::Y => framechain_frame::Plane::Y,
        Plane::U => framechain_frame::Plane::U,
        Plane::V => framechain_frame::Plane::V,
    }
}

fn plane_index(plane: Plane) -> usize {
    contract_plane(plane).index()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let frame = Frame::black(5, 3).unwrap();
        assert_eq!(frame.plane_size(Plane::U), (3, 2));
        assert_eq!(frame.plane(Plane::V).len(), 6);
        assert_eq!(frame.byte_len(), 15 + 6 + 6);
    }

    #[test]
    fn rejects_zero_and_oversized_frames() {
        assert!(matches!(
            Frame::black(0, 10),
            Err(FrameError::BadDimensions)
        ));
        assert!(matches!(
            Frame::black(10, MAX_DIMENSION + 1),
            Err(FrameError::BadDimensions)
        ));
    }

    #[test]
    fn from_planes_takes_exact_planes_and_refuses_others() {
        let planes = || [vec![1u8; 15], vec![2u8; 6], vec![3u8; 6]];
        let frame = Frame::from_planes(5, 3, planes()).unwrap();
        assert_eq!(frame.plane(Plane::Y), &[1u8; 15][..]);
        assert_eq!(frame.plane(Plane::V), &[3u8; 6][..]);
        assert_eq!(Frame::byte_len_for(5, 3), Ok(frame.byte_len()));
        let [y, u, _] = planes();
        assert!(matches!(
            Frame::from_planes(5, 3, [y, u, vec![3u8; 5]]),
            Err(FrameError::WrongLength)
        ));
        assert!(matches!(
            Frame::from_planes(0, 3, planes()),
            Err(FrameError::BadDimensions)
        ));
        assert!(matches!(
            Frame::byte_len_for(MAX_DIMENSION + 1, 2),
            Err(FrameError::BadDimensions)
        ));
    }

    #[test]
    fn rect_round_trip_touches_only_the_rect() {
        let mut frame = Frame::black(8, 4).unwrap();
        frame
            .write_rect(Plane::Y, rect(2, 1, 3, 2), &[1, 2, 3, 4, 5, 6])
            .unwrap();
        assert_eq!(
            frame.read_rect(Plane::Y, rect(2, 1, 3, 2)).unwrap(),
            [1, 2, 3, 4, 5, 6]
        );
        let y = frame.plane(Plane::Y);
        assert_eq!(&y[8..16], &[16, 16, 1, 2, 3, 16, 16, 16]);
        assert_eq!(y.iter().filter(|&&s| s == 16).count(), 32 - 6);
    }

    #[test]
    fn out_of_bounds_and_overflowing_rects_are_refused() {
        let mut frame = Frame::black(8, 4).unwrap();
        assert_eq!(
            frame.fill_rect(Plane::U, rect(3, 0, 2, 1), 0),
            Err(FrameError::OutOfBounds)
        );
        assert_eq!(
            frame.read_rect(Plane::Y, rect(u32::MAX, 0, 2, 1)),
            Err(FrameError::OutOfBounds)
        );
        assert_eq!(
            frame.write_rect(Plane::Y, rect(0, 0, 2, 2), &[0; 3]),
            Err(FrameError::WrongLength)
        );
    }
}
