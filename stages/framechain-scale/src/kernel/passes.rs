//! The two one-dimensional passes of the separable resampler.
//!
//! The vertical pass runs first, once per output row, and leaves one row of
//! `source width` intermediate samples; the horizontal pass then reduces that
//! row to the output width. Doing vertical first keeps the intermediate to a
//! single row (it stays in L1 cache) and gives the vectorisable pass (same
//! weight for a whole row) the wide work, leaving the gather-like horizontal
//! pass only `output width x output height` samples.
//!
//! Intermediate samples keep [`EXTRA_BITS`] bits below the 8-bit value, so
//! rounding happens once, at the end.

use super::filter::WEIGHT_BITS;

/// Fraction bits kept in the intermediate row.
pub const EXTRA_BITS: u32 = 6;

/// One output row of the vertical pass: `out[x] = sum_k weights[k] *
/// rows[start + k][x]`, scaled to 8 + `EXTRA_BITS` bits.
///
/// `source` holds rows of `stride` bytes; rows `start..start + weights.len()`
/// must exist and be at least `out.len()` long (the caller checks).
pub fn vertical(
    source: &[u8],
    stride: usize,
    start: usize,
    weights: &[i16],
    accumulator: &mut [i32],
    out: &mut [u16],
) {
    let width = out.len();
    let accumulator = &mut accumulator[..width];
    accumulator.fill(0);
    for (k, &weight) in weights.iter().enumerate() {
        if weight == 0 {
            continue;
        }
        let row_start = (start + k) * stride;
        let row = &source[row_start..row_start + width];
        let weight = i32::from(weight);
        // Same-length slices and a loop-invariant weight: LLVM turns this
        // into i32x4 (wasm simd128) or wider multiply-adds.
        for (sum, &sample) in accumulator.iter_mut().zip(row) {
            *sum += i32::from(sample) * weight;
        }
    }
    const SHIFT: u32 = WEIGHT_BITS - EXTRA_BITS;
    const ROUND: i32 = 1 << (SHIFT - 1);
    for (o, &sum) in out.iter_mut().zip(accumulator.iter()) {
        // Weights are non-negative and sum to one, so the result fits.
        *o = ((sum + ROUND) >> SHIFT) as u16;
    }
}

/// The horizontal pass over one intermediate row: `out[i] = sum_k
/// weights[i * taps + k] * row[starts[i] + k]`, rounded back to 8 bits.
///
/// Every `starts[i] + taps` must be at most `row.len()` (a [`FilterBank`]
/// guarantees it).
///
/// [`FilterBank`]: super::FilterBank
pub fn horizontal(row: &[u16], starts: &[u32], weights: &[i16], taps: usize, out: &mut [u8]) {
    // Fixed tap counts let LLVM unroll the inner loop completely; these are
    // the counts bilinear and area filters need for common ratios.
    match taps {
        1 => horizontal_fixed::<1>(row, starts, weights, out),
        2 => horizontal_fixed::<2>(row, starts, weights, out),
        3 => horizontal_fixed::<3>(row, starts, weights, out),
        4 => horizontal_fixed::<4>(row, starts, weights, out),
        5 => horizontal_fixed::<5>(row, starts, weights, out),
        6 => horizontal_fixed::<6>(row, starts, weights, out),
        8 => horizontal_fixed::<8>(row, starts, weights, out),
        _ => horizontal_any(row, starts, weights, taps, out),
    }
}

const FINAL_SHIFT: u32 = WEIGHT_BITS + EXTRA_BITS;
const FINAL_ROUND: i32 = 1 << (FINAL_SHIFT - 1);

fn to_sample(sum: i32) -> u8 {
    ((sum + FINAL_ROUND) >> FINAL_SHIFT).clamp(0, 255) as u8
}

fn horizontal_fixed<const TAPS: usize>(
    row: &[u16],
    starts: &[u32],
    weights: &[i16],
    out: &mut [u8],
) {
    let weights = weights.chunks_exact(TAPS);
    for ((o, &start), weights) in out.iter_mut().zip(starts).zip(weights) {
        let start = start as usize;
        let window = &row[start..start + TAPS];
        let mut sum = 0i32;
        for k in 0..TAPS {
            sum += i32::from(window[k]) * i32::from(weights[k]);
        }
        *o = to_sample(sum);
    }
}

fn horizontal_any(row: &[u16], starts: &[u32], weights: &[i16], taps: usize, out: &mut [u8]) {
    let weights = weights.chunks_exact(taps);
    for ((o, &start), weights) in out.iter_mut().zip(starts).zip(weights) {
        let start = start as usize;
        let window = &row[start..start + taps];
        let sum: i32 = window
            .iter()
            .zip(weights)
            .map(|(&sample, &weight)| i32::from(sample) * i32::from(weight))
            .sum();
        *o = to_sample(sum);
    }
}
