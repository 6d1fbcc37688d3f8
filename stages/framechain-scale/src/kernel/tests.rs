use super::*;

/// A deterministic picture with detail in both directions.
fn pattern(width: usize, height: usize) -> Vec<u8> {
    (0..width * height)
        .map(|i| {
            let (x, y) = (i % width, i / width);
            ((x * 37 + y * 91 + (x * y) % 23) % 256) as u8
        })
        .collect()
}

fn scaled(method: Method, source: &[u8], from: (usize, usize), to: (usize, usize)) -> Vec<u8> {
    let mut out = vec![0u8; to.0 * to.1];
    scale_plane(
        method,
        source,
        PlaneShape::tight(from.0, from.1),
        &mut out,
        PlaneShape::tight(to.0, to.1),
    )
    .unwrap();
    out
}

const METHODS: [Method; 2] = [Method::Bilinear, Method::Area];

#[test]
fn identity_scale_is_exact() {
    let source = pattern(13, 7);
    for method in METHODS {
        assert_eq!(scaled(method, &source, (13, 7), (13, 7)), source);
    }
}

#[test]
fn rows_scale_independently_when_only_the_width_changes() {
    // The vertical pass then has identity weights: every output row must be
    // exactly that source row scaled on its own.
    let source = pattern(6, 5);
    for method in METHODS {
        let whole = scaled(method, &source, (6, 5), (9, 5));
        for y in 0..5 {
            let row = scaled(method, &source[y * 6..(y + 1) * 6], (6, 1), (9, 1));
            assert_eq!(&whole[y * 9..(y + 1) * 9], &row[..], "{method:?} row {y}");
        }
    }
}

#[test]
fn constant_image_stays_constant() {
    for value in [0u8, 16, 127, 128, 235, 255] {
        let source = vec![value; 37 * 23];
        for method in METHODS {
            for to in [(1, 1), (5, 3), (18, 11), (37, 23), (64, 64), (100, 9)] {
                let out = scaled(method, &source, (37, 23), to);
                assert!(
                    out.iter().all(|&s| s == value),
                    "{method:?} {value} -> {to:?} gave {:?}",
                    &out[..out.len().min(8)]
                );
            }
        }
    }
}

#[test]
fn area_filter_averages_exactly() {
    // 4x4 -> 2x2: each output is the mean of one 2x2 block.
    let source = [
        10, 20, 0, 0, //
        30, 40, 0, 4, //
        200, 201, 7, 8, //
        202, 203, 9, 11,
    ];
    let out = scaled(Method::Area, &source, (4, 4), (2, 2));
    // Means 25, 1, 201.5 (rounds half up), 8.75.
    assert_eq!(out, [25, 1, 202, 9]);

    // 6x1 -> 2x1: thirds.
    let out = scaled(Method::Area, &[0, 0, 255, 30, 60, 90], (6, 1), (2, 1));
    assert_eq!(out, [85, 60]);
}

#[test]
fn area_filter_matches_exact_means_on_uneven_ratios() {
    let (from, to) = ((29, 17), (7, 5));
    let source = pattern(from.0, from.1);
    let out = scaled(Method::Area, &source, from, to);
    let (rx, ry) = (from.0 as f64 / to.0 as f64, from.1 as f64 / to.1 as f64);
    for oy in 0..to.1 {
        for ox in 0..to.0 {
            // Exact area-weighted mean over [ox*rx, (ox+1)*rx) x [oy*ry, (oy+1)*ry).
            let mut sum = 0.0;
            for y in 0..from.1 {
                let wy = overlap(y as f64, oy as f64 * ry, (oy + 1) as f64 * ry);
                for x in 0..from.0 {
                    let wx = overlap(x as f64, ox as f64 * rx, (ox + 1) as f64 * rx);
                    sum += wx * wy * f64::from(source[y * from.0 + x]);
                }
            }
            let mean = sum / (rx * ry);
            let got = f64::from(out[oy * to.0 + ox]);
            assert!(
                (got - mean).abs() <= 0.51,
                "({ox},{oy}): got {got}, exact {mean}"
            );
        }
    }
}

fn overlap(sample: f64, start: f64, end: f64) -> f64 {
    (end.min(sample + 1.0) - start.max(sample)).max(0.0)
}

#[test]
fn bilinear_upscale_interpolates_a_ramp() {
    // A horizontal ramp 0, 40, 80, 120 doubled: inner outputs sit at
    // source positions 0.25, 0.75, 1.25, ... so they step by 20.
    let source = [0, 40, 80, 120];
    let out = scaled(Method::Bilinear, &source, (4, 1), (8, 1));
    assert_eq!(out, [0, 10, 30, 50, 70, 90, 110, 120]);
}

#[test]
fn bilinear_downscale_uses_every_source_sample() {
    // Alternating columns 0/200: point sampling at 2:1 would pick one phase
    // and produce 0 or 200; the widened triangle filter averages to 100.
    let source: Vec<u8> = (0..16 * 4)
        .map(|i| if i % 2 == 0 { 0 } else { 200 })
        .collect();
    let out = scaled(Method::Bilinear, &source, (16, 4), (8, 2));
    for row in out.chunks_exact(8) {
        // The first and last outputs replicate an edge sample into their
        // window, which tilts them; all others see both phases equally.
        assert!(row[1..7].iter().all(|&s| s == 100), "{row:?}");
        assert!(row.iter().all(|&s| (50..=150).contains(&s)), "{row:?}");
    }
}

#[test]
fn odd_sizes_scale_both_ways() {
    for (from, to) in [
        ((1, 1), (7, 3)),
        ((7, 3), (1, 1)),
        ((15, 9), (7, 5)),
        ((3, 5), (11, 13)),
    ] {
        let source = pattern(from.0, from.1);
        for method in METHODS {
            let out = scaled(method, &source, from, to);
            assert_eq!(out.len(), to.0 * to.1);
            let (min, max) = (source.iter().min().unwrap(), source.iter().max().unwrap());
            // A filter with non-negative weights never leaves the input range.
            assert!(
                out.iter().all(|s| s >= min && s <= max),
                "{method:?} {from:?}->{to:?}"
            );
        }
    }
}

#[test]
fn i420_chroma_planes_round_up() {
    assert_eq!(chroma_size((7, 5)), (4, 3));
    assert_eq!(chroma_size((1, 1)), (1, 1));
    // 7x5 -> 3x3: chroma 4x3 -> 2x2.
    let mut scaler = I420Scaler::new(Method::Bilinear, (7, 5), (3, 3)).unwrap();
    let y = vec![50u8; 35];
    let u = vec![60u8; 12];
    let v = vec![70u8; 12];
    let (mut oy, mut ou, mut ov) = (vec![0u8; 9], vec![0u8; 4], vec![0u8; 4]);
    scaler
        .scale(
            [&y, &u, &v],
            [
                (&mut oy, PlaneShape::tight(3, 3)),
                (&mut ou, PlaneShape::tight(2, 2)),
                (&mut ov, PlaneShape::tight(2, 2)),
            ],
        )
        .unwrap();
    assert_eq!((oy, ou, ov), (vec![50; 9], vec![60; 4], vec![70; 4]));
}

#[test]
fn padding_outside_the_destination_shape_is_untouched() {
    // Scale into the middle of a larger plane (letterboxing): stride 6,
    // picture 2x2 starting at column 2 of row 1.
    let source = vec![90u8; 4 * 4];
    let mut plane = vec![16u8; 6 * 4];
    let shape = PlaneShape {
        width: 2,
        height: 2,
        stride: 6,
    };
    scale_plane(
        Method::Area,
        &source,
        PlaneShape::tight(4, 4),
        &mut plane[6 + 2..],
        shape,
    )
    .unwrap();
    let expected: Vec<u8> = (0..24)
        .map(|i| {
            let (x, y) = (i % 6, i / 6);
            if (2..4).contains(&x) && (1..3).contains(&y) {
                90
            } else {
                16
            }
        })
        .collect();
    assert_eq!(plane, expected);
}

#[test]
fn strided_source_rows_ignore_their_padding() {
    // Row padding of 255 must not leak into the picture.
    let mut source = vec![255u8; 5 * 3];
    for y in 0..3 {
        source[y * 5..y * 5 + 3].fill(40);
    }
    let mut out = vec![0u8; 2 * 2];
    scale_plane(
        Method::Bilinear,
        &source,
        PlaneShape {
            width: 3,
            height: 3,
            stride: 5,
        },
        &mut out,
        PlaneShape::tight(2, 2),
    )
    .unwrap();
    assert_eq!(out, [40; 4]);
}

#[test]
fn bad_buffers_are_errors_not_panics() {
    let mut out = vec![0u8; 4];
    let too_small = scale_plane(
        Method::Bilinear,
        &[0u8; 10],
        PlaneShape::tight(4, 4),
        &mut out,
        PlaneShape::tight(2, 2),
    );
    assert_eq!(
        too_small.unwrap_err().to_string(),
        "source buffer holds 10 bytes but a 4x4 plane with stride 4 needs 16"
    );
    let empty = scale_plane(
        Method::Area,
        &[],
        PlaneShape::tight(0, 4),
        &mut out,
        PlaneShape::tight(2, 2),
    );
    assert!(matches!(empty, Err(KernelError::EmptyPlane { .. })));
    let narrow_stride = PlaneShape {
        width: 4,
        height: 1,
        stride: 3,
    };
    let strided = scale_plane(
        Method::Area,
        &[0; 16],
        narrow_stride,
        &mut out,
        PlaneShape::tight(2, 2),
    );
    assert!(matches!(strided, Err(KernelError::StrideTooSmall { .. })));

    let mut scaler = PlaneScaler::new(Method::Area, (4, 4), (2, 2)).unwrap();
    let mismatch = scaler.scale(
        &[0; 25],
        PlaneShape::tight(5, 5),
        &mut out,
        PlaneShape::tight(2, 2),
    );
    assert!(matches!(mismatch, Err(KernelError::SizeMismatch { .. })));
}
