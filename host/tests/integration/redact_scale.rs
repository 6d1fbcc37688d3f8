//! Redact then scale real 1080p footage and compare with FFmpeg's bilinear
//! scale of the same input: the redacted area is the fill colour, the rest
//! matches FFmpeg closely.

use std::path::Path;
use std::process::Command;

use framechain::io::{FrameReader, RawReader, Y4mReader};
use framechain::{Frame, Media, Plane};

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
        framechain::io::FrameRate::DEFAULT,
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
