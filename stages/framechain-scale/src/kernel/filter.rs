//! Resampling weights for one dimension, computed once per (source length,
//! destination length) and reused for every row or column.
//!
//! Output sample `i` sits at source position `(i + 0.5) * ratio - 0.5`
//! (sample centres aligned, `ratio = source / destination`), the convention
//! of FFmpeg's swscale and Pillow, so the picture does not shift.

use super::Method;

/// Fixed-point precision of the weights: each output's weights sum to
/// exactly `1 << WEIGHT_BITS`, so a constant input stays exactly constant.
pub const WEIGHT_BITS: u32 = 14;
const WEIGHT_ONE: i32 = 1 << WEIGHT_BITS;

/// The weights of every output sample of one dimension.
///
/// Every output reads the same number of consecutive source samples
/// (`taps`), padded with zero weights where it needs fewer, so the inner
/// loops have a fixed trip count. Invariant: `start + taps <= source_len` for
/// every output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterBank {
    source_len: usize,
    taps: usize,
    starts: Vec<u32>,
    weights: Vec<i16>,
}

impl FilterBank {
    /// Weights to resample `source_len` samples to `destination_len`; both
    /// must be at least 1 (the callers check).
    pub fn new(method: Method, source_len: usize, destination_len: usize) -> FilterBank {
        let ratio = source_len as f64 / destination_len as f64;
        let windows: Vec<Window> = (0..destination_len)
            .map(|i| match method {
                Method::Bilinear => triangle_window(i, ratio, source_len),
                Method::Area => box_window(i, ratio, source_len),
            })
            .collect();
        let taps = windows
            .iter()
            .map(|w| w.weights.len())
            .max()
            .unwrap_or(1)
            .clamp(1, source_len);
        let mut starts = Vec::with_capacity(destination_len);
        let mut weights = vec![0i16; destination_len * taps];
        for (window, out) in windows.iter().zip(weights.chunks_exact_mut(taps)) {
            // Slide the fixed-width window left where it would run past the
            // end; the extra leading taps get zero weight.
            let start = window.first.min(source_len - taps);
            let offset = window.first - start;
            for (slot, &weight) in out[offset..].iter_mut().zip(&quantize(&window.weights)) {
                *slot = weight;
            }
            starts.push(start as u32);
        }
        FilterBank {
            source_len,
            taps,
            starts,
            weights,
        }
    }

    pub fn source_len(&self) -> usize {
        self.source_len
    }

    pub fn destination_len(&self) -> usize {
        self.starts.len()
    }

    /// Source samples each output reads.
    pub fn taps(&self) -> usize {
        self.taps
    }

    /// First source sample of each output.
    pub fn starts(&self) -> &[u32] {
        &self.starts
    }

    /// `taps` weights per output, in output order.
    pub fn weights(&self) -> &[i16] {
        &self.weights
    }

    /// The first source sample and the weights of output `index`.
    pub fn output(&self, index: usize) -> (usize, &[i16]) {
        (
            self.starts[index] as usize,
            &self.weights[index * self.taps..(index + 1) * self.taps],
        )
    }
}

/// Real-valued weights of consecutive source samples from `first` on.
struct Window {
    first: usize,
    weights: Vec<f64>,
}

/// Bilinear: a triangle ("tent") filter. Upscaling it is plain linear
/// interpolation between the two nearest samples; downscaling it widens by
/// the ratio so every source sample contributes (2-tap sampling would skip
/// samples and alias).
fn triangle_window(index: usize, ratio: f64, source_len: usize) -> Window {
    let centre = (index as f64 + 0.5) * ratio - 0.5;
    let half_width = ratio.max(1.0);
    // Samples strictly inside (centre - half_width, centre + half_width)
    // have a positive weight.
    let first = (centre - half_width).floor() as i64 + 1;
    let last = (centre + half_width).ceil() as i64 - 1;
    let weights = (first..=last)
        .map(|j| (j, 1.0 - (j as f64 - centre).abs() / half_width))
        .filter(|&(_, weight)| weight > 0.0);
    clamp_to_edges(weights, source_len)
}

/// Area: every output is the exact average of the source area it covers
/// (a box filter), the best choice for large reductions.
fn box_window(index: usize, ratio: f64, source_len: usize) -> Window {
    let area_start = index as f64 * ratio;
    let area_end = (index as f64 + 1.0) * ratio;
    let first = area_start.floor() as i64;
    let last = (area_end.ceil() as i64 - 1).max(first);
    let weights = (first..=last)
        .map(|j| {
            let overlap = (area_end.min(j as f64 + 1.0) - area_start.max(j as f64)).max(0.0);
            (j, overlap / ratio)
        })
        .filter(|&(_, weight)| weight > 0.0);
    clamp_to_edges(weights, source_len)
}

/// Folds weights of positions outside the source onto the nearest edge
/// sample (edge replication) and normalises the weights to sum to 1.
fn clamp_to_edges(weights: impl Iterator<Item = (i64, f64)>, source_len: usize) -> Window {
    let last_index = source_len as i64 - 1;
    let weights: Vec<(usize, f64)> = weights
        .map(|(j, weight)| (j.clamp(0, last_index) as usize, weight))
        .collect();
    let first = weights.iter().map(|&(j, _)| j).min().unwrap_or(0);
    let last = weights.iter().map(|&(j, _)| j).max().unwrap_or(0);
    let mut folded = vec![0.0; last - first + 1];
    for (j, weight) in weights {
        folded[j - first] += weight;
    }
    let total: f64 = folded.iter().sum();
    if total > 0.0 {
        folded.iter_mut().for_each(|w| *w /= total);
    } else {
        // Unreachable for valid lengths (every output overlaps the source);
        // fall back to copying the nearest sample rather than emitting black.
        folded = vec![1.0];
    }
    Window {
        first,
        weights: folded,
    }
}

/// Rounds weights to fixed point, then puts the rounding error on the
/// largest weight so they sum to exactly `WEIGHT_ONE`.
fn quantize(weights: &[f64]) -> Vec<i16> {
    let mut fixed: Vec<i32> = weights
        .iter()
        .map(|w| (w * f64::from(WEIGHT_ONE)).round() as i32)
        .collect();
    let error = WEIGHT_ONE - fixed.iter().sum::<i32>();
    // The first of the largest weights absorbs the error; it is the one
    // whose relative change is smallest.
    let largest = (0..fixed.len()).max_by_key(|&i| (fixed[i], std::cmp::Reverse(i)));
    if let Some(largest) = largest {
        fixed[largest] += error;
    }
    // Weights are in 0..=WEIGHT_ONE (16384), which fits i16.
    fixed.into_iter().map(|w| w as i16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(bank: &FilterBank) -> Vec<i32> {
        bank.weights()
            .chunks_exact(bank.taps())
            .map(|w| w.iter().map(|&x| i32::from(x)).sum())
            .collect()
    }

    #[test]
    fn weights_always_sum_to_one() {
        for method in [Method::Bilinear, Method::Area] {
            for (source, destination) in [
                (1920, 1280),
                (1080, 720),
                (7, 3),
                (3, 7),
                (1, 5),
                (5, 1),
                (960, 1),
            ] {
                let bank = FilterBank::new(method, source, destination);
                assert!(
                    sums(&bank).iter().all(|&s| s == WEIGHT_ONE),
                    "{method:?} {source}->{destination}"
                );
                assert!(bank.weights().iter().all(|&w| w >= 0));
                for i in 0..destination {
                    let (start, _) = bank.output(i);
                    assert!(start + bank.taps() <= source);
                }
            }
        }
    }

    #[test]
    fn identity_is_a_single_full_weight() {
        for method in [Method::Bilinear, Method::Area] {
            let bank = FilterBank::new(method, 9, 9);
            for i in 0..9 {
                let (start, weights) = bank.output(i);
                let full: Vec<usize> = (0..bank.taps())
                    .filter(|&k| weights[k] == WEIGHT_ONE as i16)
                    .collect();
                assert_eq!(full.len(), 1, "{method:?} output {i}: {weights:?}");
                assert_eq!(start + full[0], i);
            }
        }
    }

    #[test]
    fn upscaling_by_two_interpolates_quarter_and_three_quarters() {
        let bank = FilterBank::new(Method::Bilinear, 4, 8);
        assert_eq!(bank.taps(), 2);
        // Output 3 sits at source 1.25: 3/4 of sample 1, 1/4 of sample 2.
        assert_eq!(bank.output(3), (1, &[12288, 4096][..]));
        // Output 0 sits at -0.25, before the first sample: replicated edge.
        let (start, weights) = bank.output(0);
        assert_eq!(start, 0);
        assert_eq!(weights[0], WEIGHT_ONE as i16);
    }

    #[test]
    fn downscaling_bilinear_widens_with_the_ratio() {
        // Halving: centre between two samples, half-width 2 samples, so four
        // samples with weights 1/8, 3/8, 3/8, 1/8.
        let bank = FilterBank::new(Method::Bilinear, 16, 8);
        assert_eq!(bank.taps(), 4);
        assert_eq!(bank.output(3), (5, &[2048, 6144, 6144, 2048][..]));
        // Quartering spreads over eight samples.
        assert_eq!(FilterBank::new(Method::Bilinear, 32, 8).taps(), 8);
    }

    #[test]
    fn area_weights_are_the_covered_fractions() {
        let bank = FilterBank::new(Method::Area, 4, 2);
        assert_eq!(bank.output(1), (2, &[8192, 8192][..]));
        // 3 -> 2: output 0 covers sample 0 and half of sample 1.
        let bank = FilterBank::new(Method::Area, 3, 2);
        assert_eq!(bank.output(0), (0, &[10923, 5461][..]));
    }
}
