//! The in-place kernels of `redact` on plain byte slices, so tests and
//! benchmarks run them natively.
//!
//! Each works on one rectangle of samples: `height` rows of `width`
//! samples, `stride` bytes apart, starting at `samples[0]`. They read and
//! write nothing outside that rectangle, and no result depends on a sample
//! outside it: at the edges, windows and blocks are cut short instead of
//! reaching out.

use std::fmt;

/// Why a kernel refused its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// The rectangle has no samples.
    Empty { width: usize, height: usize },
    /// Rows overlap.
    StrideTooSmall { width: usize, stride: usize },
    /// The buffer ends before the rectangle does.
    BufferTooSmall { needed: usize, got: usize },
    /// A pixelate block of 0 samples.
    ZeroBlock,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Empty { width, height } => {
                write!(f, "area is {width}x{height}; both sides must be at least 1")
            }
            KernelError::StrideTooSmall { width, stride } => {
                write!(f, "stride {stride} is smaller than the width {width}")
            }
            KernelError::BufferTooSmall { needed, got } => {
                write!(f, "buffer holds {got} bytes but the area needs {needed}")
            }
            KernelError::ZeroBlock => write!(f, "block size must be at least 1"),
        }
    }
}

impl std::error::Error for KernelError {}

fn check(samples: &[u8], width: usize, height: usize, stride: usize) -> Result<(), KernelError> {
    if width == 0 || height == 0 {
        return Err(KernelError::Empty { width, height });
    }
    if stride < width {
        return Err(KernelError::StrideTooSmall { width, stride });
    }
    let needed = stride.saturating_mul(height - 1).saturating_add(width);
    if samples.len() < needed {
        return Err(KernelError::BufferTooSmall {
            needed,
            got: samples.len(),
        });
    }
    Ok(())
}

/// Replaces every `block` x `block` square (anchored at the rectangle's
/// top-left; cut short at the right and bottom edges) by the rounded mean of
/// its samples. Nothing but the block means remains.
pub fn pixelate(
    samples: &mut [u8],
    width: usize,
    height: usize,
    stride: usize,
    block: usize,
) -> Result<(), KernelError> {
    check(samples, width, height, stride)?;
    if block == 0 {
        return Err(KernelError::ZeroBlock);
    }
    // Column sums of the current band of rows, one per block column.
    let mut block_sums = vec![0u32; width.div_ceil(block)];
    for band_start in (0..height).step_by(block) {
        let band_end = (band_start + block).min(height);
        block_sums.fill(0);
        for y in band_start..band_end {
            let row = &samples[y * stride..y * stride + width];
            for (sum, chunk) in block_sums.iter_mut().zip(row.chunks(block)) {
                *sum += chunk.iter().map(|&s| u32::from(s)).sum::<u32>();
            }
        }
        let rows = (band_end - band_start) as u32;
        for y in band_start..band_end {
            let row = &mut samples[y * stride..y * stride + width];
            for (&sum, chunk) in block_sums.iter().zip(row.chunks_mut(block)) {
                let count = rows * chunk.len() as u32;
                chunk.fill(((sum + count / 2) / count) as u8);
            }
        }
    }
    Ok(())
}

/// Box-blur passes per direction. Three passes of a box of `2r + 1`
/// samples approximate a Gaussian with a standard deviation of about `r`.
pub const BLUR_PASSES: usize = 3;

/// Blurs the rectangle with a Gaussian-like filter of about `radius`
/// samples' standard deviation (three box blurs per direction). Near the
/// edges each window shrinks to the samples inside the rectangle, so
/// nothing from outside leaks in.
pub fn blur(
    samples: &mut [u8],
    width: usize,
    height: usize,
    stride: usize,
    radius: usize,
) -> Result<(), KernelError> {
    check(samples, width, height, stride)?;
    if radius == 0 {
        return Ok(());
    }
    let mut line = vec![0u8; width];
    let mut copy = vec![0u8; width * height];
    let mut column_sums = vec![0u32; width];
    let row_scales = window_scales(width, radius);
    let column_scales = window_scales(height, radius);
    for _ in 0..BLUR_PASSES {
        for y in 0..height {
            box_blur_row(
                &mut samples[y * stride..y * stride + width],
                radius,
                &row_scales,
                &mut line,
            );
        }
        box_blur_columns(
            samples,
            width,
            height,
            stride,
            radius,
            &column_scales,
            &mut copy,
            &mut column_sums,
        );
    }
    Ok(())
}

/// `1 / window size` for each position along a line of `len` samples: the
/// window of `2 * radius + 1` samples is cut short near both ends.
/// Multiplying by these (exact for the sums involved, which stay below
/// 2^24) replaces a division per sample.
fn window_scales(len: usize, radius: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let first = i.saturating_sub(radius);
            let last = (i + radius).min(len - 1);
            1.0 / (last - first + 1) as f32
        })
        .collect()
}

fn average(sum: u32, scale: f32) -> u8 {
    // `as` saturates, so this cannot wrap.
    (sum as f32 * scale + 0.5) as u8
}

/// One box pass along a row, window cut to the row.
fn box_blur_row(row: &mut [u8], radius: usize, scales: &[f32], original: &mut [u8]) {
    let width = row.len();
    original.copy_from_slice(row);
    let mut sum: u32 = original[..(radius + 1).min(width)]
        .iter()
        .map(|&s| u32::from(s))
        .sum();
    for x in 0..width {
        row[x] = average(sum, scales[x]);
        // Slide the window one sample right.
        if x + radius + 1 < width {
            sum += u32::from(original[x + radius + 1]);
        }
        if x >= radius {
            sum -= u32::from(original[x - radius]);
        }
    }
}

/// One box pass down the columns, a row at a time so the loops run along
/// contiguous memory (and vectorise); window cut to the rectangle.
#[allow(clippy::too_many_arguments)] // all plain geometry; a struct would only rename them
fn box_blur_columns(
    samples: &mut [u8],
    width: usize,
    height: usize,
    stride: usize,
    radius: usize,
    scales: &[f32],
    copy: &mut [u8],
    sums: &mut [u32],
) {
    for y in 0..height {
        copy[y * width..(y + 1) * width].copy_from_slice(&samples[y * stride..y * stride + width]);
    }
    let row = |y: usize| &copy[y * width..(y + 1) * width];
    sums.fill(0);
    for y in 0..(radius + 1).min(height) {
        add_row(sums, row(y));
    }
    for y in 0..height {
        let scale = scales[y];
        let out = &mut samples[y * stride..y * stride + width];
        for (o, &sum) in out.iter_mut().zip(sums.iter()) {
            *o = average(sum, scale);
        }
        if y + radius + 1 < height {
            add_row(sums, row(y + radius + 1));
        }
        if y >= radius {
            for (sum, &s) in sums.iter_mut().zip(row(y - radius)) {
                *sum -= u32::from(s);
            }
        }
    }
}

fn add_row(sums: &mut [u32], row: &[u8]) {
    for (sum, &s) in sums.iter_mut().zip(row) {
        *sum += u32::from(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixelate_replaces_blocks_by_their_means() {
        #[rustfmt::skip]
        let mut samples = [
            10, 20,  0,  0,
            30, 40,  0,  4,
            200, 201, 7, 8,
            202, 203, 9, 11,
        ];
        pixelate(&mut samples, 4, 4, 4, 2).unwrap();
        #[rustfmt::skip]
        let expected = [
            25, 25, 1, 1,
            25, 25, 1, 1,
            202, 202, 9, 9,
            202, 202, 9, 9,
        ];
        assert_eq!(samples, expected);
    }

    #[test]
    fn pixelate_cuts_edge_blocks_short() {
        // 5x3 with 2x2 blocks: a 1-wide last column, a 1-high last row.
        #[rustfmt::skip]
        let mut samples = [
            0, 2, 4, 6, 100,
            8, 10, 12, 14, 50,
            1, 3, 5, 7, 9,
        ];
        pixelate(&mut samples, 5, 3, 5, 2).unwrap();
        #[rustfmt::skip]
        let expected = [
            5, 5, 9, 9, 75,
            5, 5, 9, 9, 75,
            2, 2, 6, 6, 9,
        ];
        assert_eq!(samples, expected);
    }

    #[test]
    fn pixelate_leaves_samples_outside_the_rectangle_alone() {
        // A 2x2 rectangle at (1,1) of a 4x4 plane, stride 4.
        let mut plane: Vec<u8> = (0..16).map(|i| i as u8 * 10).collect();
        let before = plane.clone();
        pixelate(&mut plane[5..], 2, 2, 4, 8).unwrap();
        // (50 + 60 + 90 + 100) / 4
        let mean = 75;
        for (i, (&after, &was)) in plane.iter().zip(&before).enumerate() {
            let inside = [5, 6, 9, 10].contains(&i);
            assert_eq!(after, if inside { mean } else { was }, "sample {i}");
        }
    }

    #[test]
    fn blur_keeps_a_constant_area_constant() {
        let mut samples = vec![77u8; 9 * 7];
        blur(&mut samples, 9, 7, 9, 3).unwrap();
        assert!(samples.iter().all(|&s| s == 77));
    }

    #[test]
    fn blur_reads_nothing_outside_the_rectangle() {
        // A dark 6x5 rectangle at (2,3) of a bright 12x10 plane: if any
        // bright sample leaked in, some inside sample would rise above 0.
        let (plane_width, x, y, width, height) = (12, 2, 3, 6, 5);
        let mut plane = vec![255u8; plane_width * 10];
        for row in y..y + height {
            plane[row * plane_width + x..row * plane_width + x + width].fill(0);
        }
        let before = plane.clone();
        blur(
            &mut plane[y * plane_width + x..],
            width,
            height,
            plane_width,
            4,
        )
        .unwrap();
        assert_eq!(plane, before);
    }

    #[test]
    fn blur_smooths_an_edge_within_the_rectangle() {
        // Left half 0, right half 200.
        let mut samples: Vec<u8> = (0..16 * 4)
            .map(|i| if i % 16 < 8 { 0 } else { 200 })
            .collect();
        blur(&mut samples, 16, 4, 16, 2).unwrap();
        let row = &samples[..16];
        assert!(
            row.windows(2).all(|w| w[0] <= w[1]),
            "not monotonic: {row:?}"
        );
        assert!(row[7] > 0 && row[8] < 200, "edge not softened: {row:?}");
        assert!(
            row[0] < 10 && row[15] > 190,
            "far ends moved too much: {row:?}"
        );
        // Every row of a vertically uniform input blurs the same way.
        assert!(samples.chunks_exact(16).all(|r| r == row));
    }

    #[test]
    fn a_radius_larger_than_the_area_averages_it() {
        let mut samples: Vec<u8> = (0..15).map(|i| i as u8 * 10).collect();
        blur(&mut samples, 5, 3, 5, 100).unwrap();
        // Mean of 0, 10, ..., 140.
        assert!(samples.iter().all(|&s| s == 70), "{samples:?}");
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut samples = [0u8; 8];
        assert_eq!(
            pixelate(&mut samples, 4, 3, 4, 2),
            Err(KernelError::BufferTooSmall { needed: 12, got: 8 })
        );
        assert_eq!(
            pixelate(&mut samples, 2, 2, 2, 0),
            Err(KernelError::ZeroBlock)
        );
        assert_eq!(
            blur(&mut samples, 4, 2, 3, 1),
            Err(KernelError::StrideTooSmall {
                width: 4,
                stride: 3
            })
        );
        assert_eq!(
            blur(&mut samples, 0, 2, 3, 1),
            Err(KernelError::Empty {
                width: 0,
                height: 2
            })
        );
        assert_eq!(
            KernelError::BufferTooSmall { needed: 12, got: 8 }.to_string(),
            "buffer holds 8 bytes but the area needs 12"
        );
    }
}
