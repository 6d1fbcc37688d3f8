//! Native unit tests of a stage's per-frame logic: [`TestFrame`], a frame
//! that lives in the test's own memory and behaves as the host's frame does.
//!
//! The host's [`Frame`](crate::Frame) exists only inside the host: in a
//! native test its methods abort the whole test binary. A stage whose
//! per-frame logic is a function generic over [`FrameAccess`] runs that
//! function on the host's frame in `push` and on a [`TestFrame`] in its
//! tests:
//!
//! ```
//! use framechain_stage::testing::TestFrame;
//! use framechain_stage::{FrameAccess, FrameError, PixelFormat, Plane, Rect, Region};
//!
//! /// The per-frame logic: darkens the top row and marks it with a region.
//! /// `push` calls it with the host's frame, the test below with a TestFrame.
//! fn darken_top_row(frame: &impl FrameAccess) -> Result<(), FrameError> {
//!     let (width, _) = frame.plane_size(Plane::Y);
//!     let top_row = Rect::new(0, 0, width, 1);
//!     frame.fill_rect(Plane::Y, top_row, 16)?;
//!     frame.add_region(&Region::new("top-row", top_row));
//!     Ok(())
//! }
//!
//! let frame = TestFrame::from_planes(4, 2, &[100; 8], &[128; 2], &[128; 2])?;
//! darken_top_row(&frame)?;
//! assert_eq!(frame.read_plane(Plane::Y), [16, 16, 16, 16, 100, 100, 100, 100]);
//! assert_eq!(frame.regions()[0].label, "top-row");
//!
//! // What the host refuses, a TestFrame refuses with the same error.
//! let outside = Rect::new(1, 0, 2, 1);
//! assert_eq!(frame.fill_rect(Plane::U, outside, 0), Err(FrameError::OutOfBounds));
//! assert_eq!(TestFrame::create(0, 2, PixelFormat::I420), Err(FrameError::BadDimensions));
//! # Ok::<(), FrameError>(())
//! ```
//!
//! The rules (sizes, plane lengths, rectangle bounds, region limits) are
//! the frame contract's, `framechain-frame`, the same code the host's frame
//! (`crates/framechain/src/frame.rs`) applies. What the host does that a [`TestFrame`]
//! does not: charge the stage's memory budget and check its call's time
//! limit.

#![deny(missing_docs)]

use std::cell::RefCell;
use std::fmt;
use std::ops::Range;

use framechain_frame::{BLACK_Y, NEUTRAL_CHROMA};

use crate::frame::FrameAccess;
use crate::geometry::{I420_PLANES, contract_plane, i420_plane_size, plane_name};
use crate::{FrameError, FrameInfo, PixelFormat, Plane, Rect, Region};

/// An I420 frame owned by a native test, with the host frame's checks and
/// errors (see the [module](self) for an example).
///
/// Make one with [`FrameAccess::create`] (black) or
/// [`FrameAccess::from_planes`], hand `&frame` to the stage's per-frame
/// function, then read what it did with [`FrameAccess::read_plane`],
/// [`FrameAccess::read_rect`], [`FrameAccess::regions`] and
/// [`FrameAccess::info`]. Like the host's frame it changes through `&self`.
///
/// Where the host stops the stage (more than [`MAX_REGIONS_PER_FRAME`](crate::frame::MAX_REGIONS_PER_FRAME)
/// regions, a label longer than [`MAX_LABEL_BYTES`](crate::frame::MAX_LABEL_BYTES)), a `TestFrame` panics
/// with the host's reason, which fails the test that did it.
#[derive(Clone, PartialEq, Eq)]
pub struct TestFrame {
    width: u32,
    height: u32,
    contents: RefCell<Contents>,
}

/// What a test frame's methods read and change.
#[derive(Clone, PartialEq, Eq)]
struct Contents {
    /// Y, U and V, each row after row, no padding.
    planes: [Vec<u8>; 3],
    pts: i64,
    duration: i64,
    keyframe: bool,
    regions: Vec<Region>,
}

impl TestFrame {
    /// A frame of these planes, after checking the size and each plane's
    /// length as the host's `Frame::from_planes` does.
    fn with_planes(width: u32, height: u32, planes: [Vec<u8>; 3]) -> Result<Self, FrameError> {
        let lengths = [planes[0].len(), planes[1].len(), planes[2].len()];
        framechain_frame::check_plane_lengths(width, height, lengths).map_err(frame_error)?;
        Ok(TestFrame {
            width,
            height,
            contents: RefCell::new(Contents {
                planes,
                pts: 0,
                duration: 0,
                keyframe: false,
                regions: Vec::new(),
            }),
        })
    }

    /// The byte range of each row of `area` in `plane`, or `OutOfBounds`
    /// when the rectangle does not lie inside the plane (the contract's
    /// rule, as in the host).
    fn rows(
        &self,
        plane: Plane,
        area: Rect,
    ) -> Result<impl Iterator<Item = Range<usize>> + use<>, FrameError> {
        let area = framechain_frame::Area::new(area.x, area.y, area.width, area.height);
        framechain_frame::rect_rows(self.plane_size(plane), area).map_err(frame_error)
    }
}

/// The WIT error for a broken rule of the frame contract.
fn frame_error(error: framechain_frame::FrameError) -> FrameError {
    match error {
        framechain_frame::FrameError::OutOfBounds => FrameError::OutOfBounds,
        framechain_frame::FrameError::WrongLength => FrameError::WrongLength,
        framechain_frame::FrameError::BadDimensions => FrameError::BadDimensions,
    }
}

/// Index of a plane in [`Contents::planes`].
fn plane_index(plane: Plane) -> usize {
    contract_plane(plane).index()
}

/// Panics, with the host's reason, where the host would stop the stage for
/// the regions it gave a frame.
fn check_region_limits(regions: &[Region]) {
    if let Err(violation) =
        framechain_frame::check_regions(regions.iter().map(|region| region.label.len()))
    {
        panic!("{violation} (the host would stop the stage and fail its session)");
    }
}

impl FrameAccess for TestFrame {
    fn create(width: u32, height: u32, _format: PixelFormat) -> Result<Self, FrameError> {
        // Checked before allocating, as in the host: a side may be huge.
        let [luma, chroma, _] =
            framechain_frame::plane_lengths(width, height).map_err(frame_error)?;
        TestFrame::with_planes(
            width,
            height,
            [
                vec![BLACK_Y; luma],
                vec![NEUTRAL_CHROMA; chroma],
                vec![NEUTRAL_CHROMA; chroma],
            ],
        )
    }

    fn from_planes(
        width: u32,
        height: u32,
        y: &[u8],
        u: &[u8],
        v: &[u8],
    ) -> Result<Self, FrameError> {
        TestFrame::with_planes(width, height, [y.to_vec(), u.to_vec(), v.to_vec()])
    }

    fn info(&self) -> FrameInfo {
        let contents = self.contents.borrow();
        FrameInfo {
            width: self.width,
            height: self.height,
            format: PixelFormat::I420,
            pts: contents.pts,
            duration: contents.duration,
            keyframe: contents.keyframe,
        }
    }

    fn set_timing(&self, pts: i64, duration: i64, keyframe: bool) {
        let mut contents = self.contents.borrow_mut();
        contents.pts = pts;
        contents.duration = duration;
        contents.keyframe = keyframe;
    }

    fn plane_size(&self, plane: Plane) -> (u32, u32) {
        i420_plane_size(plane, self.width, self.height)
    }

    fn read_plane(&self, plane: Plane) -> Vec<u8> {
        self.contents.borrow().planes[plane_index(plane)].clone()
    }

    fn write_plane(&self, plane: Plane, data: &[u8]) -> Result<(), FrameError> {
        let mut contents = self.contents.borrow_mut();
        let target = &mut contents.planes[plane_index(plane)];
        if data.len() != target.len() {
            return Err(FrameError::WrongLength);
        }
        target.copy_from_slice(data);
        Ok(())
    }

    fn read_rect(&self, plane: Plane, area: Rect) -> Result<Vec<u8>, FrameError> {
        let rows = self.rows(plane, area)?;
        let contents = self.contents.borrow();
        let source = &contents.planes[plane_index(plane)];
        Ok(rows.flat_map(|row| source[row].iter().copied()).collect())
    }

    fn write_rect(&self, plane: Plane, area: Rect, data: &[u8]) -> Result<(), FrameError> {
        let rows = self.rows(plane, area)?;
        if data.len() != area.width as usize * area.height as usize {
            return Err(FrameError::WrongLength);
        }
        let mut contents = self.contents.borrow_mut();
        let target = &mut contents.planes[plane_index(plane)];
        let mut data = data;
        for row in rows {
            let (line, rest) = data.split_at(row.len());
            target[row].copy_from_slice(line);
            data = rest;
        }
        Ok(())
    }

    fn fill_rect(&self, plane: Plane, area: Rect, value: u8) -> Result<(), FrameError> {
        let rows = self.rows(plane, area)?;
        let mut contents = self.contents.borrow_mut();
        let target = &mut contents.planes[plane_index(plane)];
        for row in rows {
            target[row].fill(value);
        }
        Ok(())
    }

    fn regions(&self) -> Vec<Region> {
        self.contents.borrow().regions.clone()
    }

    fn set_regions(&self, regions: &[Region]) {
        check_region_limits(regions);
        self.contents.borrow_mut().regions = regions.to_vec();
    }

    fn add_region(&self, region: &Region) {
        let mut contents = self.contents.borrow_mut();
        let mut regions = contents.regions.clone();
        regions.push(region.clone());
        check_region_limits(&regions);
        contents.regions = regions;
    }

    fn copy_metadata(&self, source: &Self) {
        // Read out first: `source` may be this very frame.
        let (pts, duration, keyframe, regions) = {
            let source = source.contents.borrow();
            (
                source.pts,
                source.duration,
                source.keyframe,
                source.regions.clone(),
            )
        };
        let mut contents = self.contents.borrow_mut();
        contents.pts = pts;
        contents.duration = duration;
        contents.keyframe = keyframe;
        contents.regions = regions;
    }
}

/// Size, timing, regions and plane lengths; not the samples, which would
/// be megabytes for a real picture (compare [`FrameAccess::read_plane`] or
/// [`FrameAccess::read_rect`] for those).
impl fmt::Debug for TestFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let contents = self.contents.borrow();
        let planes: Vec<String> = I420_PLANES
            .iter()
            .map(|&plane| {
                let samples = contents.planes[plane_index(plane)].len();
                format!("{}: {samples} samples", plane_name(plane))
            })
            .collect();
        f.debug_struct("TestFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("pts", &contents.pts)
            .field("duration", &contents.duration)
            .field("keyframe", &contents.keyframe)
            .field("regions", &contents.regions)
            .field("planes", &planes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    //! The host's own frame tests (crates/framechain/src/frame.rs), asked of a
    //! `TestFrame`, plus the region rules of crates/framechain/src/imports/frame.rs.

    use super::*;
    use crate::frame::{MAX_DIMENSION, MAX_LABEL_BYTES, MAX_REGIONS_PER_FRAME};

    const fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect::new(x, y, width, height)
    }

    fn region(label: &str, area: Rect) -> Region {
        Region::new(label, area)
    }

    fn black(width: u32, height: u32) -> TestFrame {
        TestFrame::create(width, height, PixelFormat::I420).unwrap()
    }

    #[test]
    fn a_new_frame_is_black_with_zero_timing_and_no_regions() {
        let frame = black(5, 3);
        assert_eq!(frame.read_plane(Plane::Y), [16; 15]);
        assert_eq!(frame.read_plane(Plane::U), [128; 6]);
        assert_eq!(frame.read_plane(Plane::V), [128; 6]);
        let info = frame.info();
        assert_eq!(
            (info.width, info.height, info.format),
            (5, 3, PixelFormat::I420)
        );
        assert_eq!((info.pts, info.duration, info.keyframe), (0, 0, false));
        assert!(frame.regions().is_empty());
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let frame = black(5, 3);
        assert_eq!(frame.plane_size(Plane::Y), (5, 3));
        assert_eq!(frame.plane_size(Plane::U), (3, 2));
        assert_eq!(frame.read_plane(Plane::V).len(), 6);
    }

    #[test]
    fn zero_and_oversized_frames_are_refused() {
        for (width, height) in [(0, 10), (10, 0), (10, MAX_DIMENSION + 1)] {
            assert_eq!(
                TestFrame::create(width, height, PixelFormat::I420),
                Err(FrameError::BadDimensions),
                "{width}x{height}"
            );
        }
        assert!(TestFrame::create(MAX_DIMENSION, 1, PixelFormat::I420).is_ok());
    }

    #[test]
    fn from_planes_takes_exact_planes_and_refuses_others() {
        let frame = TestFrame::from_planes(5, 3, &[1; 15], &[2; 6], &[3; 6]).unwrap();
        assert_eq!(frame.read_plane(Plane::Y), [1; 15]);
        assert_eq!(frame.read_plane(Plane::V), [3; 6]);
        assert_eq!(
            TestFrame::from_planes(5, 3, &[1; 15], &[2; 6], &[3; 5]),
            Err(FrameError::WrongLength)
        );
        // The size is checked first, as in the host.
        assert_eq!(
            TestFrame::from_planes(0, 3, &[1; 15], &[2; 6], &[3; 5]),
            Err(FrameError::BadDimensions)
        );
    }

    #[test]
    fn write_plane_needs_the_exact_plane_size() {
        let frame = black(4, 2);
        frame.write_plane(Plane::U, &[7, 8]).unwrap();
        assert_eq!(frame.read_plane(Plane::U), [7, 8]);
        assert_eq!(
            frame.write_plane(Plane::Y, &[0; 7]),
            Err(FrameError::WrongLength)
        );
        assert_eq!(frame.read_plane(Plane::Y), [16; 8]);
    }

    #[test]
    fn rect_round_trip_touches_only_the_rect() {
        let frame = black(8, 4);
        frame
            .write_rect(Plane::Y, rect(2, 1, 3, 2), &[1, 2, 3, 4, 5, 6])
            .unwrap();
        assert_eq!(
            frame.read_rect(Plane::Y, rect(2, 1, 3, 2)).unwrap(),
            [1, 2, 3, 4, 5, 6]
        );
        let y = frame.read_plane(Plane::Y);
        assert_eq!(&y[8..16], &[16, 16, 1, 2, 3, 16, 16, 16]);
        assert_eq!(&y[16..24], &[16, 16, 4, 5, 6, 16, 16, 16]);
        assert_eq!(y.iter().filter(|&&s| s == 16).count(), 32 - 6);
    }

    #[test]
    fn fill_rect_sets_only_the_rect() {
        let frame = black(4, 4);
        frame.fill_rect(Plane::V, rect(1, 0, 1, 2), 9).unwrap();
        assert_eq!(frame.read_plane(Plane::V), [128, 9, 128, 9]);
        assert_eq!(frame.read_plane(Plane::U), [128; 4]);
    }

    #[test]
    fn out_of_bounds_and_overflowing_rects_are_refused() {
        let frame = black(8, 4);
        assert_eq!(
            frame.fill_rect(Plane::U, rect(3, 0, 2, 1), 0),
            Err(FrameError::OutOfBounds)
        );
        assert_eq!(
            frame.read_rect(Plane::Y, rect(u32::MAX, 0, 2, 1)),
            Err(FrameError::OutOfBounds)
        );
        assert_eq!(
            frame.read_rect(Plane::Y, rect(0, 1, 1, u32::MAX)),
            Err(FrameError::OutOfBounds)
        );
        assert_eq!(
            frame.write_rect(Plane::Y, rect(0, 0, 2, 2), &[0; 3]),
            Err(FrameError::WrongLength)
        );
        // Bounds are checked before the length, as in the host.
        assert_eq!(
            frame.write_rect(Plane::Y, rect(7, 0, 2, 2), &[0; 3]),
            Err(FrameError::OutOfBounds)
        );
        assert_eq!(frame.read_plane(Plane::Y), [16; 32]);
    }

    #[test]
    fn empty_rects_inside_the_plane_are_taken() {
        let frame = black(8, 4);
        assert_eq!(frame.read_rect(Plane::Y, rect(8, 4, 0, 0)), Ok(vec![]));
        assert_eq!(frame.write_rect(Plane::Y, rect(3, 0, 0, 4), &[]), Ok(()));
        assert_eq!(frame.fill_rect(Plane::U, rect(0, 2, 4, 0), 0), Ok(()));
    }

    #[test]
    fn timing_and_regions_are_set_added_and_copied() {
        let source = black(4, 4);
        source.set_timing(3000, 3000, true);
        source.set_regions(&[region("face", rect(0, 0, 2, 2))]);
        source.add_region(&region("phi-text", rect(1, 1, 3, 1)));
        let copy = black(2, 2);
        copy.copy_metadata(&source);
        let info = copy.info();
        assert_eq!((info.pts, info.duration, info.keyframe), (3000, 3000, true));
        assert_eq!(copy.regions(), source.regions());
        assert_eq!(copy.regions()[1].label, "phi-text");
        // Copying from itself changes nothing (and does not panic).
        copy.copy_metadata(&copy);
        assert_eq!(copy.regions().len(), 2);
    }

    #[test]
    fn regions_up_to_the_limits_are_taken() {
        let frame = black(2, 2);
        let label = "x".repeat(MAX_LABEL_BYTES);
        frame.set_regions(&vec![
            region(&label, rect(0, 0, 1, 1));
            MAX_REGIONS_PER_FRAME
        ]);
        assert_eq!(frame.regions().len(), MAX_REGIONS_PER_FRAME);
    }

    #[test]
    #[should_panic(expected = "a frame may carry at most 256 regions, the stage gave it 257")]
    fn one_region_too_many_stops_the_stage() {
        let frame = black(2, 2);
        frame.set_regions(&vec![
            region("face", rect(0, 0, 1, 1));
            MAX_REGIONS_PER_FRAME
        ]);
        frame.add_region(&region("face", rect(0, 0, 1, 1)));
    }

    #[test]
    #[should_panic(expected = "a region label may be at most 64 bytes, the stage gave one of 65")]
    fn a_too_long_label_stops_the_stage() {
        black(2, 2).set_regions(&[region(&"x".repeat(65), rect(0, 0, 1, 1))]);
    }

    #[test]
    fn debug_output_leaves_the_samples_out() {
        let text = format!("{:?}", black(64, 48));
        assert!(text.contains("Y: 3072 samples"), "{text}");
        assert!(text.len() < 300, "{text}");
    }
}
