//! The one frame contract of framechain: what an 8-bit I420 picture is
//! (plane sizes, storage order, strides), how large it may be, what a
//! rectangle access must satisfy, and what a frame's regions may hold.
//!
//! The host's frame (`framechain::Frame`, the samples behind the WIT
//! `frame` resource) and the stage SDK's native test frame
//! (`framechain_stage::testing::TestFrame`) both apply these rules, so a
//! stage's native test refuses exactly what the host refuses. The crate
//! has no dependencies and is `no_std`: it builds for the host and for
//! `wasm32-wasip2` stages alike.
//!
//! The WIT types (`plane`, `rect`, `frame-error`) are generated separately
//! on each side of the sandbox, so the contract speaks its own small types
//! ([`Plane`], [`Area`], [`FrameError`]) and each side converts.
//!
//! ```
//! use framechain_frame::{Area, Plane, FrameError, plane_lengths, plane_size, rect_rows};
//!
//! // Odd sizes keep their last chroma column and row.
//! assert_eq!(plane_size(Plane::U, 5, 3), (3, 2));
//! assert_eq!(plane_lengths(5, 3), Ok([15, 6, 6]));
//! assert_eq!(plane_lengths(0, 3), Err(FrameError::BadDimensions));
//!
//! // Rows 1 and 2, samples 2..5, of an 8-sample-wide plane.
//! let rows: Vec<_> = rect_rows((8, 4), Area::new(2, 1, 3, 2)).unwrap().collect();
//! assert_eq!(rows, [10..13, 18..21]);
//! assert_eq!(rect_rows((8, 4), Area::new(7, 0, 2, 1)).err(), Some(FrameError::OutOfBounds));
//! ```

#![no_std]
#![deny(missing_docs)]

use core::ops::Range;

/// Largest width or height a frame may have. Bounds every allocation a
/// stage can ask the host to make (`frame.create`, `frame.from-planes`):
/// 16384 x 16384 is about 400 MB of samples.
pub const MAX_DIMENSION: u32 = 16_384;

/// Most regions one frame may carry. Real stages mark a handful of faces or
/// text lines; the host stops a stage that sets more (its session fails).
pub const MAX_REGIONS_PER_FRAME: usize = 256;

/// Longest region label, in bytes (`face`, `phi-text`, `policy`, ...); the
/// host stops a stage that sets a longer one.
pub const MAX_LABEL_BYTES: usize = 64;

/// The Y of black in limited-range Y'CbCr: what a new frame is filled with.
pub const BLACK_Y: u8 = 16;

/// Cb and Cr of every grey in Y'CbCr: what a new frame's chroma planes are
/// filled with.
pub const NEUTRAL_CHROMA: u8 = 128;

/// One plane of an I420 frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plane {
    /// Luma, full size.
    Y,
    /// Blue-difference chroma, half size each side (rounded up).
    U,
    /// Red-difference chroma, half size each side (rounded up).
    V,
}

impl Plane {
    /// The three planes in storage order.
    pub const ALL: [Plane; 3] = [Plane::Y, Plane::U, Plane::V];

    /// The plane's position in storage order (Y 0, U 1, V 2).
    pub const fn index(self) -> usize {
        match self {
            Plane::Y => 0,
            Plane::U => 1,
            Plane::V => 2,
        }
    }
}

/// Why a frame could not be made or accessed: the same three answers the
/// WIT `frame-error` gives a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameError {
    /// A rectangle does not lie inside its plane (also when its right or
    /// bottom edge overflows `u32`).
    OutOfBounds,
    /// Data does not have the length of the plane or rectangle it is for.
    WrongLength,
    /// A side is 0 or larger than [`MAX_DIMENSION`].
    BadDimensions,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FrameError::OutOfBounds => "the rectangle does not lie inside the plane",
            FrameError::WrongLength => "the data length does not match the plane or rectangle",
            FrameError::BadDimensions => "a side is 0 or larger than 16384",
        })
    }
}

impl core::error::Error for FrameError {}

/// A rectangle in the sample grid of one plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Area {
    /// Column of the top-left sample.
    pub x: u32,
    /// Row of the top-left sample.
    pub y: u32,
    /// Samples per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl Area {
    /// The `width` x `height` rectangle whose top-left sample is at
    /// (`x`, `y`).
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Area {
        Area {
            x,
            y,
            width,
            height,
        }
    }

    /// Samples the rectangle covers: the length data for it must have.
    pub const fn samples(self) -> usize {
        self.width as usize * self.height as usize
    }
}

/// [`FrameError::BadDimensions`] for a side of 0 or larger than
/// [`MAX_DIMENSION`]. Checked before anything is allocated: a side may be
/// huge.
pub const fn check_dimensions(width: u32, height: u32) -> Result<(), FrameError> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(FrameError::BadDimensions);
    }
    Ok(())
}

/// Size of each chroma plane (U and V) of a `width` x `height` I420
/// picture: half each side, rounded up, so odd sizes keep their last column
/// and row of colour.
pub const fn chroma_size(width: u32, height: u32) -> (u32, u32) {
    (width.div_ceil(2), height.div_ceil(2))
}

/// Width and height in samples of one plane of a `width` x `height` I420
/// picture. A plane's stride is its width: rows are stored without padding.
pub const fn plane_size(plane: Plane, width: u32, height: u32) -> (u32, u32) {
    match plane {
        Plane::Y => (width, height),
        Plane::U | Plane::V => chroma_size(width, height),
    }
}

/// Bytes of the Y, U and V planes of a `width` x `height` I420 picture, or
/// [`FrameError::BadDimensions`].
pub const fn plane_lengths(width: u32, height: u32) -> Result<[usize; 3], FrameError> {
    if let Err(violation) = check_dimensions(width, height) {
        return Err(violation);
    }
    let (chroma_width, chroma_height) = chroma_size(width, height);
    let chroma = chroma_width as usize * chroma_height as usize;
    Ok([width as usize * height as usize, chroma, chroma])
}

/// Bytes of a whole `width` x `height` I420 picture (all three planes), or
/// [`FrameError::BadDimensions`]: lets a caller check a budget before
/// allocating.
pub const fn frame_bytes(width: u32, height: u32) -> Result<usize, FrameError> {
    match plane_lengths(width, height) {
        Ok([y, u, v]) => Ok(y + u + v),
        Err(violation) => Err(violation),
    }
}

/// [`FrameError::WrongLength`] unless three planes have exactly the lengths
/// of a `width` x `height` picture (or [`FrameError::BadDimensions`] for
/// the size): what `from-planes` checks.
pub fn check_plane_lengths(width: u32, height: u32, lengths: [usize; 3]) -> Result<(), FrameError> {
    if plane_lengths(width, height)? != lengths {
        return Err(FrameError::WrongLength);
    }
    Ok(())
}

/// The byte range of each row of `area` in a plane of `plane_size` (width,
/// height) samples stored row after row, or [`FrameError::OutOfBounds`]
/// when the rectangle does not lie inside the plane (also when its right
/// or bottom edge overflows `u32`).
pub fn rect_rows(
    plane_size: (u32, u32),
    area: Area,
) -> Result<impl Iterator<Item = Range<usize>>, FrameError> {
    let (width, height) = plane_size;
    match (
        area.x.checked_add(area.width),
        area.y.checked_add(area.height),
    ) {
        (Some(right), Some(bottom)) if right <= width && bottom <= height => {}
        _ => return Err(FrameError::OutOfBounds),
    }
    let (stride, x, row_len) = (width as usize, area.x as usize, area.width as usize);
    Ok(
        (area.y as usize..(area.y + area.height) as usize).map(move |row| {
            let start = row * stride + x;
            start..start + row_len
        }),
    )
}

/// Why a list of regions breaks the contract, with the numbers to say so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionViolation {
    /// More than [`MAX_REGIONS_PER_FRAME`] regions.
    TooMany {
        /// Regions the stage gave the frame.
        count: usize,
    },
    /// A label longer than [`MAX_LABEL_BYTES`].
    LabelTooLong {
        /// Bytes of the first label over the limit.
        bytes: usize,
    },
}

impl core::fmt::Display for RegionViolation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RegionViolation::TooMany { count } => write!(
                f,
                "a frame may carry at most {MAX_REGIONS_PER_FRAME} regions, the stage gave it {count}"
            ),
            RegionViolation::LabelTooLong { bytes } => write!(
                f,
                "a region label may be at most {MAX_LABEL_BYTES} bytes, the stage gave one of {bytes}"
            ),
        }
    }
}

impl core::error::Error for RegionViolation {}

/// Checks a frame's regions, given as the byte length of each label: at
/// most [`MAX_REGIONS_PER_FRAME`] of them, each label at most
/// [`MAX_LABEL_BYTES`].
pub fn check_regions(
    label_lengths: impl ExactSizeIterator<Item = usize>,
) -> Result<(), RegionViolation> {
    let count = label_lengths.len();
    if count > MAX_REGIONS_PER_FRAME {
        return Err(RegionViolation::TooMany { count });
    }
    let mut label_lengths = label_lengths;
    match label_lengths.find(|&bytes| bytes > MAX_LABEL_BYTES) {
        Some(bytes) => Err(RegionViolation::LabelTooLong { bytes }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    #[test]
    fn odd_sizes_round_chroma_up() {
        assert_eq!(plane_size(Plane::Y, 7, 5), (7, 5));
        assert_eq!(plane_size(Plane::U, 7, 5), (4, 3));
        assert_eq!(plane_size(Plane::V, 1, 1), (1, 1));
        assert_eq!(plane_size(Plane::U, 1920, 1080), (960, 540));
        assert_eq!(frame_bytes(5, 3), Ok(15 + 6 + 6));
    }

    #[test]
    fn zero_and_oversized_sides_are_refused() {
        for (width, height) in [(0, 10), (10, 0), (10, MAX_DIMENSION + 1), (u32::MAX, 1)] {
            assert_eq!(frame_bytes(width, height), Err(FrameError::BadDimensions));
        }
        assert_eq!(
            frame_bytes(MAX_DIMENSION, MAX_DIMENSION),
            Ok(16_384 * 16_384 * 3 / 2)
        );
    }

    #[test]
    fn planes_must_have_their_exact_lengths() {
        assert_eq!(check_plane_lengths(5, 3, [15, 6, 6]), Ok(()));
        assert_eq!(
            check_plane_lengths(5, 3, [15, 6, 5]),
            Err(FrameError::WrongLength)
        );
        assert_eq!(
            check_plane_lengths(0, 3, [0, 0, 0]),
            Err(FrameError::BadDimensions)
        );
    }

    #[test]
    fn rectangles_outside_or_overflowing_are_refused() {
        let rows: Vec<_> = rect_rows((8, 4), Area::new(2, 1, 3, 2)).unwrap().collect();
        assert_eq!(rows, [10..13, 18..21]);
        assert!(rect_rows((8, 4), Area::new(0, 0, 8, 4)).is_ok());
        assert!(rect_rows((8, 4), Area::new(8, 4, 0, 0)).is_ok());
        for area in [
            Area::new(7, 0, 2, 1),
            Area::new(0, 3, 1, 2),
            Area::new(u32::MAX, 0, 2, 1),
            Area::new(0, u32::MAX, 1, 2),
        ] {
            assert_eq!(rect_rows((8, 4), area).err(), Some(FrameError::OutOfBounds));
        }
    }

    #[test]
    fn regions_are_bounded_in_count_and_label_length() {
        let at_limit = [MAX_LABEL_BYTES; MAX_REGIONS_PER_FRAME];
        assert_eq!(check_regions(at_limit.iter().copied()), Ok(()));
        let too_many = [1; MAX_REGIONS_PER_FRAME + 1];
        assert_eq!(
            check_regions(too_many.iter().copied()),
            Err(RegionViolation::TooMany {
                count: MAX_REGIONS_PER_FRAME + 1
            })
        );
        let long = [3, MAX_LABEL_BYTES + 1];
        let violation = check_regions(long.iter().copied()).unwrap_err();
        assert_eq!(
            violation.to_string(),
            "a region label may be at most 64 bytes, the stage gave one of 65"
        );
    }
}
