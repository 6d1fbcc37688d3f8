//! Redact then scale real 1080p footage and compare with FFmpeg's bilinear
//! scale of the same input: the redacted area is the fill colour, the rest
//! matches FFmpeg closely. And the wasm `scale` stage against its own kernels
//! built natively: identical bytes.

use std::path::Path;
use std::process::Command;

use framechain::{Frame, Media, Plane};
use framechain_tools::io::{FrameReader, RawReader, Y4mReader};

use crate::support::{engine, have_ffmpeg, pipeline, testdata};

const FRAMES: usize = 8;
/// The policy rectangle in source pixels, and the fill colour (black).
const RECT: (u32, u32, u32, u32) = (100, 100, 400, 200);
const BLACK: (u8, u8, u8) = (16, 128, 128);

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

fn read_y4m(path: &Path) -> Vec<Frame> {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = Y4mReader::new(file).unwrap();
    std::iter::from_fn(|| reader.read_frame().unwrap()).collect()
}

/// Where a source-pixel rectangle lands after scaling, as (left, top,
/// right, bottom) in output pixels, before rounding.
fn scaled(rect: (u32, u32, u32, u32), sx: f64, sy: f64) -> (f64, f64, f64, f64) {
    let (x, y, w, h) = rect;
    (
        x as f64 * sx,
        y as f64 * sy,
        (x + w) as f64 * sx,
        (y + h) as f64 * sy,
    )
}

fn inside(area: (f64, f64, f64, f64), x: u32, y: u32, margin: f64) -> bool {
    let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
    cx > area.0 + margin && cx < area.2 - margin && cy > area.1 + margin && cy < area.3 - margin
}

fn near(area: (f64, f64, f64, f64), x: u32, y: u32, margin: f64) -> bool {
    let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
    cx > area.0 - margin && cx < area.2 + margin && cy > area.1 - margin && cy < area.3 + margin
}

/// PSNR between two planes over the samples `keep` selects.
fn psnr(ours: &[u8], theirs: &[u8], width: u32, keep: impl Fn(u32, u32) -> bool) -> f64 {
    let (mut sum, mut count) = (0f64, 0u64);
    for (index, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        let (x, y) = (index as u32 % width, index as u32 / width);
        if keep(x, y) {
            let d = a as f64 - b as f64;
            sum += d * d;
            count += 1;
        }
    }
    let mse = sum / count.max(1) as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

#[test]
fn redact_and_scale_match_ffmpeg_outside_the_redacted_area() {
    let Some(data) = testdata() else { return };
    if !have_ffmpeg() {
        return;
    }
    let work = std::env::temp_dir().join(format!("framechain-redact-scale-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let source = data.join("h264/throughput/real1080p30_10s_cbp_6M.264");
    let input = work.join("in.y4m");
    let reference = work.join("reference.yuv");
    let frames = FRAMES.to_string();
    ffmpeg(&[
        "-i",
        source.to_str().unwrap(),
        "-frames:v",
        &frames,
        "-pix_fmt",
        "yuv420p",
        "-f",
        "yuv4mpegpipe",
        input.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-vf",
        "scale=1280:720:flags=bilinear",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "rawvideo",
        reference.to_str().unwrap(),
    ]);

    let engine = engine();
    let (x, y, w, h) = RECT;
    let pipeline = pipeline(
        &engine,
        &format!("redact rect={x},{y},{w},{h} mode=fill ! scale width=1280 height=720"),
    );
    let mut session = pipeline.start_session().unwrap();
    let mut ours = Vec::new();
    for frame in read_y4m(&input) {
        assert_eq!((frame.width(), frame.height()), (1920, 1080));
        ours.extend(session.push(Media::Frame(frame)).unwrap());
    }
    ours.extend(session.flush().unwrap());
    assert_eq!(ours.len(), FRAMES, "same frame count out as in");

    let mut theirs = RawReader::new(
        std::fs::File::open(&reference).unwrap(),
        1280,
        720,
        framechain_tools::io::FrameRate::DEFAULT,
    )
    .unwrap();
    let luma_area = scaled(RECT, 1280.0 / 1920.0, 720.0 / 1080.0);
    let chroma_area = scaled(RECT, 640.0 / 1920.0, 360.0 / 1080.0);
    for (index, media) in ours.into_iter().enumerate() {
        let ours = media.into_frame().expect("frames out");
        let theirs = theirs.read_frame().unwrap().expect("reference frame");
        assert_eq!((ours.width(), ours.height()), (1280, 720));
        for (plane, area, fill, width) in [
            (Plane::Y, luma_area, BLACK.0, 1280),
            (Plane::U, chroma_area, BLACK.1, 640),
            (Plane::V, chroma_area, BLACK.2, 640),
        ] {
            let samples = ours.plane(plane);
            // Inside (2 samples in from the edge, past the filter's reach
            // across it): exactly the fill colour.
            for (at, &value) in samples.iter().enumerate() {
                let (sx, sy) = (at as u32 % width, at as u32 / width);
                if inside(area, sx, sy, 2.0) {
                    assert_eq!(
                        value, fill,
                        "frame {index} {plane:?} ({sx},{sy}) is not the fill colour"
                    );
                }
            }
            // Outside (3 samples clear of the edge): close to FFmpeg.
            let quality = psnr(samples, theirs.plane(plane), width, |sx, sy| {
                !near(area, sx, sy, 3.0)
            });
            assert!(
                quality >= 35.0,
                "frame {index} {plane:?}: PSNR {quality:.2} dB vs FFmpeg, want >= 35"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// A frame whose three planes hold different, busy patterns.
fn textured_frame(width: u32, height: u32, seed: u32) -> Frame {
    let mut frame = Frame::black(width, height).unwrap();
    for (index, plane) in [Plane::Y, Plane::U, Plane::V].into_iter().enumerate() {
        let (plane_width, _) = frame.plane_size(plane);
        let salt = seed.wrapping_mul(31).wrapping_add(index as u32 * 97);
        for (i, sample) in frame.plane_mut(plane).iter_mut().enumerate() {
            let (x, y) = (i as u32 % plane_width, i as u32 / plane_width);
            // Edges, ramps and noise: every tap weight matters somewhere.
            let noise = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729) ^ salt)
                .wrapping_mul(2_654_435_761)
                >> 24;
            *sample = if (x / 13 + y / 7) % 5 == 0 {
                noise as u8
            } else {
                (x * 3 + y * 2 + salt) as u8
            };
        }
    }
    frame
}

/// The wasm build of `scale` uses SIMD128 passes; the native build the
/// portable ones. Both must give the same bytes for every filter shape:
/// short windows (upscaling), the 1.5x reduction of 1080p to 720p, windows
/// too long for the SIMD horizontal pass and too long for its vertical pass,
/// odd sizes that leave a tail after the last full vector.
#[test]
fn scale_stage_in_wasm_matches_the_native_kernels_exactly() {
    use framechain_scale::kernel::{I420Scaler, Method, PlaneShape, chroma_size};

    let engine = engine();
    let cases = [
        ((1920, 1080), (1280, 720), "bilinear"),
        ((1920, 1080), (1280, 720), "area"),
        ((333, 197), (1001, 603), "bilinear"),
        ((1920, 1080), (480, 270), "bilinear"),
        ((1280, 720), (96, 34), "area"),
        ((64, 48), (17, 9), "bilinear"),
    ];
    for (index, ((sw, sh), (dw, dh), method)) in cases.into_iter().enumerate() {
        let source = textured_frame(sw, sh, index as u32);
        let launch = format!("scale width={dw} height={dh} method={method}");
        let mut session = pipeline(&engine, &launch).start_session().unwrap();
        let mut out = session.push(Media::Frame(source.clone())).unwrap();
        out.extend(session.flush().unwrap());
        assert_eq!(out.len(), 1, "{launch}");
        let ours = out.pop().unwrap().into_frame().expect("a frame");

        let kernel_method = if method == "area" {
            Method::Area
        } else {
            Method::Bilinear
        };
        let (sw, sh, dw, dh) = (sw as usize, sh as usize, dw as usize, dh as usize);
        let mut scaler = I420Scaler::new(kernel_method, (sw, sh), (dw, dh)).unwrap();
        let (cw, ch) = chroma_size((dw, dh));
        let mut planes = [vec![0u8; dw * dh], vec![0u8; cw * ch], vec![0u8; cw * ch]];
        let [y, u, v] = &mut planes;
        scaler
            .scale(
                [
                    source.plane(Plane::Y),
                    source.plane(Plane::U),
                    source.plane(Plane::V),
                ],
                [
                    (y.as_mut_slice(), PlaneShape::tight(dw, dh)),
                    (u.as_mut_slice(), PlaneShape::tight(cw, ch)),
                    (v.as_mut_slice(), PlaneShape::tight(cw, ch)),
                ],
            )
            .unwrap();
        for (plane, expected) in [Plane::Y, Plane::U, Plane::V].into_iter().zip(&planes) {
            let got = ours.plane(plane);
            let first_difference = got.iter().zip(expected).position(|(a, b)| a != b);
            assert_eq!(
                first_difference, None,
                "{launch}, {sw}x{sh} source, {plane:?}: wasm and native differ"
            );
        }
    }
}
