//! The frame operations a stage uses, as one trait, [`FrameAccess`], so a
//! stage's per-frame logic can be written once and run on two kinds of
//! frame:
//!
//! - the host's [`Frame`] (the `frame` resource of `wit/stage.wit`), in the
//!   component: its implementation only calls the generated bindings, so a
//!   stage written against the trait does in wasm exactly what it did
//!   calling [`Frame`] directly;
//! - [`TestFrame`](crate::testing::TestFrame), an owned plain-Rust frame
//!   for native unit tests, which checks and refuses what the host checks
//!   and refuses.
//!
//! A stage's `push` takes the host frame out of the input and hands it to
//! a function generic over [`FrameAccess`]; its tests hand the same
//! function a [`TestFrame`](crate::testing::TestFrame) (example in
//! [`testing`](crate::testing)).
//!
//! Every method takes `&self`, as the resource's methods do: a frame is a
//! handle to samples held elsewhere, and changing them does not need a
//! mutable borrow of the handle.

#![deny(missing_docs)]

use crate::{Frame, FrameError, FrameInfo, PixelFormat, Plane, Rect, Region};

// The frame's limits are the frame contract's (`framechain-frame`), the
// very constants the host enforces: [`FrameAccess::create`] and
// [`FrameAccess::from_planes`] refuse a side larger than `MAX_DIMENSION`
// with [`FrameError::BadDimensions`]; a stage that sets more regions or a
// longer label is stopped.
pub use framechain_frame::{MAX_DIMENSION, MAX_LABEL_BYTES, MAX_REGIONS_PER_FRAME};

/// What a stage can do with a frame: the methods of the `frame` resource in
/// `wit/stage.wit`, with its semantics and its errors.
///
/// Implemented by the host's [`Frame`] (in the component) and by
/// [`TestFrame`](crate::testing::TestFrame) (in native tests). Write
/// per-frame logic as a function generic over it.
pub trait FrameAccess: Sized {
    /// A new frame, all black (Y=16, U=V=128), pts and duration 0, no
    /// regions. [`FrameError::BadDimensions`] if either side is 0 or larger
    /// than 16384.
    fn create(width: u32, height: u32, format: PixelFormat) -> Result<Self, FrameError>;

    /// A new I420 frame holding these planes (each row after row, no
    /// padding, exactly [`FrameAccess::plane_size`] long;
    /// [`FrameError::WrongLength`] otherwise, [`FrameError::BadDimensions`]
    /// for a size [`FrameAccess::create`] refuses), timing 0, no regions.
    fn from_planes(
        width: u32,
        height: u32,
        y: &[u8],
        u: &[u8],
        v: &[u8],
    ) -> Result<Self, FrameError>;

    /// Size, pixel format and timing.
    fn info(&self) -> FrameInfo;

    /// Sets the presentation time stamp and duration (90 kHz ticks) and
    /// whether the frame starts a group of pictures.
    fn set_timing(&self, pts: i64, duration: i64, keyframe: bool);

    /// Width and height in samples of one plane (chroma planes: half of
    /// each side, rounded up).
    fn plane_size(&self, plane: Plane) -> (u32, u32);

    /// All samples of one plane, row after row, no padding.
    fn read_plane(&self, plane: Plane) -> Vec<u8>;

    /// Replaces all samples of one plane; [`FrameError::WrongLength`] unless
    /// `data` has exactly the plane's size.
    fn write_plane(&self, plane: Plane, data: &[u8]) -> Result<(), FrameError>;

    /// The samples of a rectangle of one plane, row after row;
    /// [`FrameError::OutOfBounds`] unless the rectangle lies inside the
    /// plane.
    fn read_rect(&self, plane: Plane, area: Rect) -> Result<Vec<u8>, FrameError>;

    /// Overwrites the samples of a rectangle of one plane with `data`, row
    /// after row; [`FrameError::OutOfBounds`] unless the rectangle lies
    /// inside the plane, then [`FrameError::WrongLength`] unless `data` has
    /// exactly `width * height` samples.
    fn write_rect(&self, plane: Plane, area: Rect, data: &[u8]) -> Result<(), FrameError>;

    /// Sets every sample of a rectangle of one plane to `value`;
    /// [`FrameError::OutOfBounds`] unless the rectangle lies inside the
    /// plane.
    fn fill_rect(&self, plane: Plane, area: Rect, value: u8) -> Result<(), FrameError>;

    /// The labelled areas the frame carries, in order.
    fn regions(&self) -> Vec<Region>;

    /// Replaces the frame's regions. More than 256 regions, or a label
    /// longer than 64 bytes, stops the stage (the host fails its session).
    fn set_regions(&self, regions: &[Region]);

    /// Adds one region, with the limits of [`FrameAccess::set_regions`].
    fn add_region(&self, region: &Region);

    /// Copies timing and regions from `source` (for stages that make a new
    /// frame from an old one).
    fn copy_metadata(&self, source: &Self);
}

/// The host's frame: every method is the generated binding's, unchanged.
/// (Inherent methods take precedence over trait methods, so `Frame::info`
/// below is the binding, not this trait again.)
impl FrameAccess for Frame {
    #[inline]
    fn create(width: u32, height: u32, format: PixelFormat) -> Result<Self, FrameError> {
        Frame::create(width, height, format)
    }

    #[inline]
    fn from_planes(
        width: u32,
        height: u32,
        y: &[u8],
        u: &[u8],
        v: &[u8],
    ) -> Result<Self, FrameError> {
        Frame::from_planes(width, height, y, u, v)
    }

    #[inline]
    fn info(&self) -> FrameInfo {
        Frame::info(self)
    }

    #[inline]
    fn set_timing(&self, pts: i64, duration: i64, keyframe: bool) {
        Frame::set_timing(self, pts, duration, keyframe)
    }

    #[inline]
    fn plane_size(&self, plane: Plane) -> (u32, u32) {
        Frame::plane_size(self, plane)
    }

    #[inline]
    fn read_plane(&self, plane: Plane) -> Vec<u8> {
        Frame::read_plane(self, plane)
    }

    #[inline]
    fn write_plane(&self, plane: Plane, data: &[u8]) -> Result<(), FrameError> {
        Frame::write_plane(self, plane, data)
    }

    #[inline]
    fn read_rect(&self, plane: Plane, area: Rect) -> Result<Vec<u8>, FrameError> {
        Frame::read_rect(self, plane, area)
    }

    #[inline]
    fn write_rect(&self, plane: Plane, area: Rect, data: &[u8]) -> Result<(), FrameError> {
        Frame::write_rect(self, plane, area, data)
    }

    #[inline]
    fn fill_rect(&self, plane: Plane, area: Rect, value: u8) -> Result<(), FrameError> {
        Frame::fill_rect(self, plane, area, value)
    }

    #[inline]
    fn regions(&self) -> Vec<Region> {
        Frame::regions(self)
    }

    #[inline]
    fn set_regions(&self, regions: &[Region]) {
        Frame::set_regions(self, regions)
    }

    #[inline]
    fn add_region(&self, region: &Region) {
        Frame::add_region(self, region)
    }

    #[inline]
    fn copy_metadata(&self, source: &Self) {
        Frame::copy_metadata(self, source)
    }
}
