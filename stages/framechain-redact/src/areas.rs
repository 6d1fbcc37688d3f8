//! Which parts of a frame to hide: the fixed `rect` areas and the selected
//! regions, clipped to the frame, each with the chroma area that covers it.

use framechain_stage::geometry::{chroma_rect_covering, clip_rect};
use framechain_stage::{Rect, Region};

use crate::config::LabelFilter;

/// One area to hide, in the Y plane and in the U and V planes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area {
    pub luma: Rect,
    /// Covers every chroma sample the luma area touches.
    pub chroma: Rect,
}

/// An area that lies wholly outside the frame and was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// The `rect` parameter's rectangle at this index.
    Rect(usize),
    Region(Region),
}

/// The areas of a `width` x `height` frame to hide, in order: fixed
/// rectangles first, then the accepted regions; and what was skipped.
pub fn areas_to_hide(
    rects: &[Rect],
    regions: &[Region],
    labels: &LabelFilter,
    width: u32,
    height: u32,
) -> (Vec<Area>, Vec<Skipped>) {
    let mut areas = Vec::with_capacity(rects.len() + regions.len());
    let mut skipped = Vec::new();
    for (index, rect) in rects.iter().enumerate() {
        match clip_rect(*rect, width, height) {
            Some(luma) => areas.push(area(luma)),
            None => skipped.push(Skipped::Rect(index)),
        }
    }
    for region in regions.iter().filter(|r| labels.accepts(&r.label)) {
        match clip_rect(region.area, width, height) {
            Some(luma) => areas.push(area(luma)),
            // A zero-sized region hides nothing and is not worth a warning.
            None if region.area.width == 0 || region.area.height == 0 => {}
            None => skipped.push(Skipped::Region(region.clone())),
        }
    }
    (areas, skipped)
}

fn area(luma: Rect) -> Area {
    Area {
        luma,
        chroma: chroma_rect_covering(luma),
    }
}

/// A rectangle as people write it in a launch line.
pub fn describe(rect: Rect) -> String {
    format!("{},{},{},{}", rect.x, rect.y, rect.width, rect.height)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect::new(x, y, width, height)
    }

    fn region(label: &str, area: Rect) -> Region {
        Region::new(label, area)
    }

    #[test]
    fn rects_come_first_then_accepted_regions() {
        let regions = [
            region("face", rect(10, 10, 4, 4)),
            region("badge", rect(0, 0, 2, 2)),
        ];
        let labels = LabelFilter::Only(vec!["face".to_owned()]);
        let (areas, skipped) = areas_to_hide(&[rect(1, 1, 2, 2)], &regions, &labels, 64, 48);
        let luma: Vec<Rect> = areas.iter().map(|a| a.luma).collect();
        assert_eq!(luma, vec![rect(1, 1, 2, 2), rect(10, 10, 4, 4)]);
        assert!(skipped.is_empty());
    }

    #[test]
    fn chroma_covers_odd_luma_areas() {
        let (areas, _) = areas_to_hide(&[rect(3, 5, 4, 3)], &[], &LabelFilter::Ignore, 64, 48);
        // Luma columns 3..=6 -> chroma 1..=3; rows 5..=7 -> chroma 2..=3.
        assert_eq!(areas[0].chroma, rect(1, 2, 3, 2));
    }

    #[test]
    fn areas_are_clipped_and_outside_ones_skipped() {
        let regions = [
            region("face", rect(60, 40, 100, 100)),
            region("face", rect(64, 0, 5, 5)),
        ];
        let (areas, skipped) = areas_to_hide(
            &[rect(100, 100, 5, 5), rect(0, 0, 2, 2)],
            &regions,
            &LabelFilter::All,
            63,
            47,
        );
        let luma: Vec<Rect> = areas.iter().map(|a| a.luma).collect();
        assert_eq!(luma, vec![rect(0, 0, 2, 2), rect(60, 40, 3, 7)]);
        // Odd frame: the chroma plane is 32x24 and the chroma area ends on it.
        assert_eq!(areas[1].chroma, rect(30, 20, 2, 4));
        assert_eq!(
            skipped,
            vec![Skipped::Rect(0), Skipped::Region(regions[1].clone())]
        );
    }

    #[test]
    fn ignored_labels_select_no_region() {
        let regions = [region("face", rect(0, 0, 8, 8))];
        let (areas, _) = areas_to_hide(&[], &regions, &LabelFilter::Ignore, 64, 48);
        assert!(areas.is_empty());
    }
}
