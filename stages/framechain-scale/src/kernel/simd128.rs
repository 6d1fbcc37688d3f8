//! The two passes with wasm's 128-bit SIMD, used when the stage is built for
//! wasm32 (`.cargo/config.toml` enables `simd128` there).
//!
//! They do exactly the integer arithmetic of the portable [`passes`]: the
//! same products, sums and rounding, so their output is identical, byte for
//! byte (`crates/framechain/tests/integration/redact_scale.rs` checks the wasm stage
//! against this crate's kernels built natively). What changes is the shape:
//! `i32x4.dot_i16x8_s` multiplies and adds two taps per lane at once, the
//! vertical pass keeps its sums in registers instead of a row of i32, and
//! the horizontal pass turns four windows of four taps into four outputs
//! with two dot products.
//!
//! [`passes`]: super::passes

use core::arch::wasm32::*;

use super::filter::WEIGHT_BITS;
use super::passes::EXTRA_BITS;

/// Taps handled per output by the horizontal pass: windows are padded to
/// this many with zero weights.
pub const QUAD: usize = 4;

/// Vertical windows longer than this go to the portable pass (large
/// reductions such as `method=area` to a thumbnail).
const MAX_VERTICAL_TAPS: usize = 16;

/// One output row of the vertical pass; returns false (doing nothing) when
/// the window is too long for this version.
///
/// Same contract as [`super::passes::vertical`]: rows `start..start +
/// weights.len()` of `source` exist and are at least `out.len()` long.
pub fn vertical(
    source: &[u8],
    stride: usize,
    start: usize,
    weights: &[i16],
    out: &mut [u16],
) -> bool {
    let taps = weights.len();
    if taps == 0 || taps > MAX_VERTICAL_TAPS {
        return false;
    }
    let width = out.len();
    // Every load below reads within the rows the contract promises.
    assert!((start + taps - 1) * stride + width <= source.len());

    // Rows in pairs, each pair with its two weights packed as i16 lanes
    // (w0, w1) repeated; an odd last row pairs with itself at weight 0.
    let mut pairs = [(0usize, 0usize, i32x4_splat(0)); MAX_VERTICAL_TAPS / 2];
    let pair_count = taps.div_ceil(2);
    for (p, pair) in pairs.iter_mut().take(pair_count).enumerate() {
        let k = 2 * p;
        let w0 = weights[k];
        let (row1, w1) = if k + 1 < taps {
            (k + 1, weights[k + 1])
        } else {
            (k, 0)
        };
        let packed = (i32::from(w1) << 16) | i32::from(w0 as u16);
        *pair = (
            (start + k) * stride,
            (start + row1) * stride,
            i32x4_splat(packed),
        );
    }
    let pairs = &pairs[..pair_count];

    const SHIFT: u32 = WEIGHT_BITS - EXTRA_BITS;
    let round = i32x4_splat(1 << (SHIFT - 1));
    let base = source.as_ptr();
    let mut x = 0;
    // The common case (bilinear reductions down to half: three or four
    // taps): both pairs in locals, no inner loop (each loop header costs
    // an epoch check in wasmtime, and the pairs would be reloaded).
    if let [(a0, a1, wa), (b0, b1, wb)] = *pairs {
        let out = out.as_mut_ptr();
        let eight = |x: usize| {
            // SAFETY: row + x + 8 <= row + width, within the assert above.
            let (a, b, c, d) = unsafe {
                (
                    u16x8_load_extend_u8x8(base.add(a0 + x)),
                    u16x8_load_extend_u8x8(base.add(a1 + x)),
                    u16x8_load_extend_u8x8(base.add(b0 + x)),
                    u16x8_load_extend_u8x8(base.add(b1 + x)),
                )
            };
            let low = i32x4_add(
                i32x4_dot_i16x8(i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(a, b), wa),
                i32x4_dot_i16x8(i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(c, d), wb),
            );
            let high = i32x4_add(
                i32x4_dot_i16x8(i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(a, b), wa),
                i32x4_dot_i16x8(i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(c, d), wb),
            );
            let low = i32x4_shr(i32x4_add(low, round), SHIFT);
            let high = i32x4_shr(i32x4_add(high, round), SHIFT);
            // SAFETY: x + 8 <= width = out.len().
            unsafe { v128_store(out.add(x) as *mut v128, u16x8_narrow_i32x4(low, high)) };
        };
        // Four blocks of eight per iteration. Wasmtime keeps no vector in
        // a register across a loop header: the epoch check there may call
        // into the runtime, and a call clobbers every vector register, so
        // the weights and the rounding constant go back to the stack at
        // the end of each iteration and are reloaded at its top. Fewer
        // iterations, fewer of those (and of the checks).
        while x + 32 <= width {
            eight(x);
            eight(x + 8);
            eight(x + 16);
            eight(x + 24);
            x += 32;
        }
        while x + 8 <= width {
            eight(x);
            x += 8;
        }
    }
    while x + 8 <= width {
        let mut low = i32x4_splat(0);
        let mut high = i32x4_splat(0);
        for &(row0, row1, packed) in pairs {
            // SAFETY: row + x + 8 <= row + width, within the assert above.
            let (a, b) = unsafe {
                (
                    u16x8_load_extend_u8x8(base.add(row0 + x)),
                    u16x8_load_extend_u8x8(base.add(row1 + x)),
                )
            };
            // Interleave so each i32 lane holds (a[x], b[x]) as two i16s.
            let first = i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(a, b);
            let second = i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(a, b);
            low = i32x4_add(low, i32x4_dot_i16x8(first, packed));
            high = i32x4_add(high, i32x4_dot_i16x8(second, packed));
        }
        let low = i32x4_shr(i32x4_add(low, round), SHIFT);
        let high = i32x4_shr(i32x4_add(high, round), SHIFT);
        let samples = u16x8_narrow_i32x4(low, high);
        // SAFETY: x + 8 <= width = out.len(); an unaligned store of the
        // eight lanes at once (one instruction, not eight extracts).
        unsafe { v128_store(out.as_mut_ptr().add(x) as *mut v128, samples) };
        x += 8;
    }
    // The last few samples, one at a time.
    for (x, o) in out.iter_mut().enumerate().skip(x) {
        let mut sum = 0i32;
        for (k, &weight) in weights.iter().enumerate() {
            sum += i32::from(source[(start + k) * stride + x]) * i32::from(weight);
        }
        *o = ((sum + (1 << (SHIFT - 1))) >> SHIFT) as u16;
    }
    true
}

/// A horizontal filter bank re-laid for [`horizontal`]: exactly [`QUAD`]
/// weights per output, and the promise that every window of `QUAD` samples
/// from a start lies inside a row of `row_len` samples.
#[derive(Clone, Debug)]
pub struct Quads {
    starts: Vec<u32>,
    weights: Vec<i16>,
    row_len: usize,
}

impl Quads {
    /// None when the bank's windows are longer than [`QUAD`] taps.
    /// `row_len` is the length of the rows it will be given, which must
    /// leave room for a full quad after the last start (the scaler pads its
    /// intermediate row).
    pub fn new(starts: &[u32], weights: &[i16], taps: usize, row_len: usize) -> Option<Quads> {
        if taps > QUAD || starts.iter().any(|&s| s as usize + QUAD > row_len) {
            return None;
        }
        let mut padded = vec![0i16; starts.len() * QUAD];
        for (quad, window) in padded
            .chunks_exact_mut(QUAD)
            .zip(weights.chunks_exact(taps))
        {
            quad[..taps].copy_from_slice(window);
        }
        Some(Quads {
            starts: starts.to_vec(),
            weights: padded,
            row_len,
        })
    }
}

const FINAL_SHIFT: u32 = WEIGHT_BITS + EXTRA_BITS;

/// The horizontal pass over one intermediate row (`quads.row_len` long,
/// samples after the source width ignored by their zero weights).
pub fn horizontal(row: &[u16], quads: &Quads, out: &mut [u8]) {
    assert_eq!(row.len(), quads.row_len);
    let count = out.len().min(quads.starts.len());
    let round = i32x4_splat(1 << (FINAL_SHIFT - 1));
    let base = row.as_ptr();
    let weights = quads.weights.as_ptr();
    // Two outputs' windows side by side, dotted with their two quads of
    // weights: lanes (out0 taps 0+1, out0 taps 2+3, out1 ..., out1 ...).
    let starts = quads.starts.as_ptr();
    assert!(count <= quads.starts.len());
    let pair = |i: usize| -> v128 {
        // SAFETY: i + 1 < count <= starts.len() (the loop below);
        // Quads::new checked start + QUAD <= row_len = row.len(), and the
        // weights hold QUAD per output.
        unsafe {
            let v = v128_load64_zero(base.add(*starts.add(i) as usize) as *const u64);
            let v = v128_load64_lane::<1>(v, base.add(*starts.add(i + 1) as usize) as *const u64);
            i32x4_dot_i16x8(v, v128_load(weights.add(i * QUAD) as *const v128))
        }
    };
    let four = |i: usize| -> v128 {
        let (d01, d23) = (pair(i), pair(i + 2));
        let sums = i32x4_add(
            i32x4_shuffle::<0, 2, 4, 6>(d01, d23),
            i32x4_shuffle::<1, 3, 5, 7>(d01, d23),
        );
        i32x4_shr(i32x4_add(sums, round), FINAL_SHIFT)
    };
    // Saturating narrows clamp to 0..=255 as the portable pass does: i32
    // to u16 (negatives to 0), then u16 to u8, which reads the lanes as
    // i16; they fit, as an i32 shifted right by FINAL_SHIFT (20) lies
    // within -2048..2048. (With the signed i32 narrow, LLVM rewrote the
    // pair into clamps and byte shuffles: 12 instructions more per 16
    // outputs in wasmtime's code.)
    let mut i = 0;
    // Sixteen outputs per iteration where there are as many (see the
    // vertical pass on what an iteration costs in wasmtime beyond its work).
    while i + 16 <= count {
        let low = u16x8_narrow_i32x4(four(i), four(i + 4));
        let high = u16x8_narrow_i32x4(four(i + 8), four(i + 12));
        // SAFETY: i + 16 <= count <= out.len().
        unsafe {
            v128_store(
                out.as_mut_ptr().add(i) as *mut v128,
                u8x16_narrow_i16x8(low, high),
            )
        };
        i += 16;
    }
    while i + 8 <= count {
        let words = u16x8_narrow_i32x4(four(i), four(i + 4));
        let bytes = u8x16_narrow_i16x8(words, words);
        // SAFETY: i + 8 <= count <= out.len(): the low eight bytes stored
        // at once.
        unsafe { v128_store64_lane::<0>(bytes, out.as_mut_ptr().add(i) as *mut u64) };
        i += 8;
    }
    for (i, o) in out.iter_mut().enumerate().take(count).skip(i) {
        let start = quads.starts[i] as usize;
        let sum: i32 = (0..QUAD)
            .map(|k| i32::from(row[start + k]) * i32::from(quads.weights[i * QUAD + k]))
            .sum();
        *o = ((sum + (1 << (FINAL_SHIFT - 1))) >> FINAL_SHIFT).clamp(0, 255) as u8;
    }
}
