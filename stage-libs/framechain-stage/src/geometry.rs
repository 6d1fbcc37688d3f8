//! Rectangle arithmetic shared by stages: clipping to a plane, the chroma
//! area that covers a luma area, and plane sizes of I420 frames; and short
//! constructors, [`Rect::new`] and [`Region::new`].
//!
//! All arithmetic is done in `u64`, so no rectangle a parameter or a region
//! can describe overflows.

use crate::{Plane, Rect, Region};

impl Rect {
    /// The `width` x `height` rectangle whose top-left sample is at
    /// (`x`, `y`).
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }
}

impl Region {
    /// A region labelled `label` (lower-case kebab-case by convention:
    /// `face`, `phi-text`) covering `area`, in pixels.
    pub fn new(label: impl Into<String>, area: Rect) -> Region {
        Region {
            label: label.into(),
            area,
        }
    }
}

/// Width and height of one plane of a `width` x `height` I420 frame: chroma
/// planes are half size, rounded up, so odd sizes keep their last column and
/// row.
pub fn i420_plane_size(plane: Plane, width: u32, height: u32) -> (u32, u32) {
    framechain_frame::plane_size(contract_plane(plane), width, height)
}

/// The frame contract's name for a WIT plane.
pub(crate) fn contract_plane(plane: Plane) -> framechain_frame::Plane {
    match plane {
        Plane::Y => framechain_frame::Plane::Y,
        Plane::U => framechain_frame::Plane::U,
        Plane::V => framechain_frame::Plane::V,
    }
}

/// The three planes of an I420 frame, in storage order.
pub const I420_PLANES: [Plane; 3] = [Plane::Y, Plane::U, Plane::V];

/// The plane's name as people write it: `Y`, `U` or `V`.
pub fn plane_name(plane: Plane) -> &'static str {
    match plane {
        Plane::Y => "Y",
        Plane::U => "U",
        Plane::V => "V",
    }
}

/// The part of `rect` inside a `width` x `height` plane, or `None` when
/// nothing of it is inside.
pub fn clip_rect(rect: Rect, width: u32, height: u32) -> Option<Rect> {
    let x_end = (u64::from(rect.x) + u64::from(rect.width)).min(u64::from(width));
    let y_end = (u64::from(rect.y) + u64::from(rect.height)).min(u64::from(height));
    let (x, y) = (u64::from(rect.x), u64::from(rect.y));
    if x >= x_end || y >= y_end {
        return None;
    }
    // Both ends are at most `width`/`height`, so they fit in u32.
    Some(Rect {
        x: rect.x,
        y: rect.y,
        width: (x_end - x) as u32,
        height: (y_end - y) as u32,
    })
}

/// The chroma-plane rectangle covering every chroma sample that a luma
/// rectangle touches in 4:2:0 (start rounded down, end rounded up), so
/// acting on it leaves no colour of the luma area untouched.
pub fn chroma_rect_covering(luma: Rect) -> Rect {
    let x_start = luma.x / 2;
    let y_start = luma.y / 2;
    let x_end = (u64::from(luma.x) + u64::from(luma.width)).div_ceil(2);
    let y_end = (u64::from(luma.y) + u64::from(luma.height)).div_ceil(2);
    // Halved u33 values fit in u32.
    Rect {
        x: x_start,
        y: y_start,
        width: (x_end - u64::from(x_start)) as u32,
        height: (y_end - u64::from(y_start)) as u32,
    }
}

/// True when the rectangle has no samples.
pub fn is_empty(rect: Rect) -> bool {
    rect.width == 0 || rect.height == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect::new(x, y, width, height)
    }

    #[test]
    fn chroma_planes_round_up_for_odd_sizes() {
        assert_eq!(i420_plane_size(Plane::Y, 7, 5), (7, 5));
        assert_eq!(i420_plane_size(Plane::U, 7, 5), (4, 3));
        assert_eq!(i420_plane_size(Plane::V, 1, 1), (1, 1));
        assert_eq!(i420_plane_size(Plane::U, 1920, 1080), (960, 540));
    }

    #[test]
    fn clipping_keeps_the_inside_part() {
        assert_eq!(clip_rect(rect(2, 3, 4, 5), 10, 10), Some(rect(2, 3, 4, 5)));
        assert_eq!(clip_rect(rect(8, 8, 4, 4), 10, 10), Some(rect(8, 8, 2, 2)));
        assert_eq!(
            clip_rect(rect(0, 0, u32::MAX, u32::MAX), 10, 6),
            Some(rect(0, 0, 10, 6))
        );
    }

    #[test]
    fn clipping_drops_rectangles_wholly_outside() {
        assert_eq!(clip_rect(rect(10, 0, 4, 4), 10, 10), None);
        assert_eq!(clip_rect(rect(0, 10, 4, 4), 10, 10), None);
        assert_eq!(
            clip_rect(rect(u32::MAX, u32::MAX, u32::MAX, 1), 10, 10),
            None
        );
        assert_eq!(clip_rect(rect(1, 1, 0, 4), 10, 10), None);
    }

    #[test]
    fn chroma_rect_covers_odd_luma_edges() {
        // Luma columns 3..=6 touch chroma columns 1..=3.
        assert_eq!(chroma_rect_covering(rect(3, 3, 4, 4)), rect(1, 1, 3, 3));
        // Even-aligned rectangles map exactly.
        assert_eq!(chroma_rect_covering(rect(2, 4, 6, 2)), rect(1, 2, 3, 1));
        // A single luma pixel still needs a chroma sample.
        assert_eq!(chroma_rect_covering(rect(5, 0, 1, 1)), rect(2, 0, 1, 1));
    }

    #[test]
    fn chroma_rect_of_a_clipped_luma_rect_stays_inside_the_chroma_plane() {
        let (width, height) = (7, 5);
        let luma = clip_rect(rect(0, 0, 100, 100), width, height).unwrap();
        let chroma = chroma_rect_covering(luma);
        let (chroma_width, chroma_height) = i420_plane_size(Plane::U, width, height);
        assert_eq!(chroma, rect(0, 0, chroma_width, chroma_height));
    }
}
