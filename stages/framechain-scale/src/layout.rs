//! Where the scaled picture goes: the output frame size for an input size,
//! the area the picture covers inside it (smaller when letterboxing), and
//! regions mapped into output coordinates.

use framechain_stage::geometry::clip_rect;
use framechain_stage::{Rect, Region};

use crate::config::{MAX_SIDE, STAGE_NAME, ScaleConfig};

/// The output of scaling one input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    /// The part of the output the picture covers; the rest is padding.
    pub picture: Rect,
}

impl Layout {
    /// Plans the output for a `source_width` x `source_height` input. Fails
    /// (with a message for the person who set the parameters) when a derived
    /// side would exceed the frame size limit.
    pub fn plan(
        config: &ScaleConfig,
        source_width: u32,
        source_height: u32,
    ) -> Result<Layout, String> {
        if source_width == 0 || source_height == 0 {
            // The contract makes such frames impossible; refuse rather than
            // divide by zero if a host ever sends one.
            return Err(format!(
                "{STAGE_NAME}: cannot scale a {source_width}x{source_height} frame"
            ));
        }
        let (width, height) = match (config.width, config.height) {
            (Some(width), Some(height)) => (width, height),
            (Some(width), None) => (
                width,
                derived_side("height", width, source_height, source_width)?,
            ),
            (None, Some(height)) => (
                derived_side("width", height, source_width, source_height)?,
                height,
            ),
            (None, None) => (source_width, source_height),
        };
        let picture = if config.keep_aspect {
            fitted(width, height, source_width, source_height)
        } else {
            full(width, height)
        };
        Ok(Layout {
            width,
            height,
            picture,
        })
    }

    /// True when the output is the input as it is.
    pub fn is_identity(&self, source_width: u32, source_height: u32) -> bool {
        self.picture == full(source_width, source_height)
            && (self.width, self.height) == (source_width, source_height)
    }

    /// True when part of the output is padding.
    pub fn has_padding(&self) -> bool {
        self.picture != full(self.width, self.height)
    }

    /// Maps regions of the source into the output picture. A region grows
    /// to cover every output pixel it touches (start rounded down, end up),
    /// so a later `redact` never leaves a sliver of it visible; regions
    /// wholly outside the source are dropped.
    pub fn map_regions(
        &self,
        regions: &[Region],
        source_width: u32,
        source_height: u32,
    ) -> Vec<Region> {
        regions
            .iter()
            .filter_map(|region| {
                let area = clip_rect(region.area, source_width, source_height)?;
                let (x, width) = map_span(
                    area.x,
                    area.width,
                    source_width,
                    self.picture.x,
                    self.picture.width,
                );
                let (y, height) = map_span(
                    area.y,
                    area.height,
                    source_height,
                    self.picture.y,
                    self.picture.height,
                );
                Some(Region {
                    label: region.label.clone(),
                    area: Rect {
                        x,
                        y,
                        width,
                        height,
                    },
                })
            })
            .collect()
    }
}

fn full(width: u32, height: u32) -> Rect {
    Rect {
        x: 0,
        y: 0,
        width,
        height,
    }
}

/// The side that keeps the aspect ratio: `other_side * source_this /
/// source_other`, rounded to an even number (chroma subsampling works on
/// pixel pairs), at least 2.
fn derived_side(
    name: &str,
    other_side: u32,
    source_this: u32,
    source_other: u32,
) -> Result<u32, String> {
    let side = round_to_even(
        u64::from(other_side) * u64::from(source_this),
        u64::from(source_other),
    );
    if side > u64::from(MAX_SIDE) {
        return Err(format!(
            "{STAGE_NAME}: keeping the aspect ratio of a {source_this}-by-{source_other} input makes the {name} {side}, over the limit of {MAX_SIDE}; give both width and height"
        ));
    }
    Ok(side as u32)
}

/// `numerator / denominator` rounded to the nearest even number, at least 2.
fn round_to_even(numerator: u64, denominator: u64) -> u64 {
    let pairs = (numerator + denominator) / (2 * denominator);
    (pairs * 2).max(2)
}

/// The largest area with the source's aspect ratio inside `width` x
/// `height`, centred. The derived side is even, and offsets are even so the
/// chroma of the picture starts on a whole chroma sample.
fn fitted(width: u32, height: u32, source_width: u32, source_height: u32) -> Rect {
    let (w, h) = (u64::from(width), u64::from(height));
    let (sw, sh) = (u64::from(source_width), u64::from(source_height));
    let (picture_width, picture_height) = if sw * h <= sh * w {
        // Relatively taller than the frame: full height, narrower picture.
        (round_to_even(h * sw, sh).min(w), h)
    } else {
        (w, round_to_even(w * sh, sw).min(h))
    };
    let offset = |outer: u64, inner: u64| (((outer - inner) / 2) & !1) as u32;
    Rect {
        x: offset(w, picture_width),
        y: offset(h, picture_height),
        // Both are at most width/height, so they fit in u32.
        width: picture_width as u32,
        height: picture_height as u32,
    }
}

/// Maps the span `start..start + len` of a `source_len` axis onto an axis
/// of `target_len` samples starting at `target_start`, covering every
/// touched target sample.
fn map_span(
    start: u32,
    len: u32,
    source_len: u32,
    target_start: u32,
    target_len: u32,
) -> (u32, u32) {
    let (source_len, target_len) = (u64::from(source_len), u64::from(target_len));
    let first = u64::from(start) * target_len / source_len;
    let end = ((u64::from(start) + u64::from(len)) * target_len).div_ceil(source_len);
    // end <= target_len because the span lies inside the source.
    (target_start + first as u32, (end - first) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Method;
    use framechain_stage::color::YCbCr;

    fn config(width: Option<u32>, height: Option<u32>, keep_aspect: bool) -> ScaleConfig {
        ScaleConfig {
            width,
            height,
            method: Method::Bilinear,
            keep_aspect,
            pad_color: YCbCr {
                y: 16,
                u: 128,
                v: 128,
            },
            expect_size: None,
        }
    }

    fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn both_sides_stretch_by_default() {
        let layout = Layout::plan(&config(Some(1280), Some(1280), false), 1920, 1080).unwrap();
        assert_eq!(
            layout,
            Layout {
                width: 1280,
                height: 1280,
                picture: rect(0, 0, 1280, 1280)
            }
        );
        assert!(!layout.has_padding());
    }

    #[test]
    fn one_side_derives_the_other_rounded_to_even() {
        let layout = Layout::plan(&config(Some(1280), None, false), 1920, 1080).unwrap();
        assert_eq!((layout.width, layout.height), (1280, 720));
        // 1080 * 641 / 1920 = 360.56 -> 360 (nearest even).
        let layout = Layout::plan(&config(Some(641), None, false), 1920, 1080).unwrap();
        assert_eq!((layout.width, layout.height), (641, 360));
        // 720 * 4 / 3 = 960.
        let layout = Layout::plan(&config(None, Some(720), false), 640, 480).unwrap();
        assert_eq!((layout.width, layout.height), (960, 720));
        // Tiny results are at least 2.
        let layout = Layout::plan(&config(Some(1), None, false), 1920, 1080).unwrap();
        assert_eq!((layout.width, layout.height), (1, 2));
    }

    #[test]
    fn derived_sides_over_the_limit_are_refused() {
        let error = Layout::plan(&config(None, Some(16384), false), 16384, 2).unwrap_err();
        assert!(error.contains("over the limit of 16384"), "{error}");
    }

    #[test]
    fn keep_aspect_letterboxes_and_pillarboxes_centred_on_even_offsets() {
        // 16:9 into 4:3: full width, bars top and bottom.
        let layout = Layout::plan(&config(Some(640), Some(480), true), 1920, 1080).unwrap();
        assert_eq!(layout.picture, rect(0, 60, 640, 360));
        assert!(layout.has_padding());
        // 4:3 into 16:9: full height, bars left and right.
        let layout = Layout::plan(&config(Some(1280), Some(720), true), 640, 480).unwrap();
        assert_eq!(layout.picture, rect(160, 0, 960, 720));
        // Odd leftover: offset rounded down to even.
        let layout = Layout::plan(&config(Some(101), Some(50), true), 100, 100).unwrap();
        assert_eq!(layout.picture, rect(24, 0, 50, 50));
        // Same aspect: no padding.
        let layout = Layout::plan(&config(Some(1280), Some(720), true), 1920, 1080).unwrap();
        assert!(!layout.has_padding());
    }

    #[test]
    fn empty_inputs_are_refused() {
        let error = Layout::plan(&config(Some(64), None, false), 0, 48).unwrap_err();
        assert_eq!(error, "scale: cannot scale a 0x48 frame");
    }

    #[test]
    fn identity_is_detected() {
        let layout = Layout::plan(&config(Some(640), Some(480), false), 640, 480).unwrap();
        assert!(layout.is_identity(640, 480));
        assert!(!layout.is_identity(640, 482));
    }

    #[test]
    fn regions_grow_to_cover_what_they_touch() {
        let layout = Layout::plan(&config(Some(1280), Some(720), false), 1920, 1080).unwrap();
        let regions = [Region {
            label: "face".to_owned(),
            area: rect(101, 99, 300, 151),
        }];
        let mapped = layout.map_regions(&regions, 1920, 1080);
        // x: 101 * 2/3 = 67.33 -> 67; end 401 * 2/3 = 267.33 -> 268.
        // y: 99 * 2/3 = 66; end 250 * 2/3 = 166.67 -> 167.
        assert_eq!(
            mapped,
            vec![Region {
                label: "face".to_owned(),
                area: rect(67, 66, 201, 101)
            }]
        );
    }

    #[test]
    fn regions_follow_the_picture_into_the_letterbox_and_are_clipped() {
        let layout = Layout::plan(&config(Some(640), Some(480), true), 1920, 1080).unwrap();
        let regions = [
            Region {
                label: "phi-text".to_owned(),
                area: rect(0, 0, 1920, 1080),
            },
            Region {
                label: "edge".to_owned(),
                area: rect(1800, 1000, 500, 500),
            },
            Region {
                label: "outside".to_owned(),
                area: rect(1920, 0, 10, 10),
            },
        ];
        let mapped = layout.map_regions(&regions, 1920, 1080);
        assert_eq!(
            mapped,
            vec![
                Region {
                    label: "phi-text".to_owned(),
                    area: rect(0, 60, 640, 360)
                },
                Region {
                    label: "edge".to_owned(),
                    area: rect(600, 393, 40, 27)
                },
            ]
        );
    }
}
