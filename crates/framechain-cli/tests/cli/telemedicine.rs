//! The main job end to end: real 1080p30 H.264 footage through
//! `decode-h264 ! redact ! scale ! encode-h264` with the `framechain`
//! command, checked with FFmpeg (a decoder nobody here wrote).

use std::path::Path;
use std::process::Command;

use super::{framechain, path_str, scratch, stderr};

const FRAMES: usize = 300;
const SECONDS: f64 = 10.0;
const BITRATE: f64 = 2_000_000.0;
/// The policy rectangle of examples/telemedicine.yaml, in 1080p pixels.
const RECT: (f64, f64, f64, f64) = (120.0, 67.0, 600.0, 135.0);
const SCALE: f64 = 1280.0 / 1920.0;
const LUMA: usize = 1280 * 720;
const FRAME: usize = LUMA * 3 / 2;

pub use framechain_test_support::testdata;

/// Decodes with FFmpeg to raw I420, asserting it reports no error at all.
fn ffmpeg_decode(input: &Path, filter: Option<&str>) -> Vec<u8> {
    let mut command = Command::new("ffmpeg");
    command.args(["-v", "error", "-i", path_str(input)]);
    if let Some(filter) = filter {
        command.args(["-vf", filter]);
    }
    let output = command
        .args(["-pix_fmt", "yuv420p", "-f", "rawvideo", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        output.status.success(),
        "ffmpeg failed on {}",
        input.display()
    );
    assert!(
        output.stderr.is_empty(),
        "ffmpeg reported: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Where the rectangle lands in 720p, grown (`margin` > 0) or shrunk.
fn rect_720p(margin: f64) -> (f64, f64, f64, f64) {
    let (x, y, w, h) = RECT;
    (
        x * SCALE - margin,
        y * SCALE - margin,
        (x + w) * SCALE + margin,
        (y + h) * SCALE + margin,
    )
}

fn in_rect(area: (f64, f64, f64, f64), x: usize, y: usize) -> bool {
    let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
    cx > area.0 && cx < area.2 && cy > area.1 && cy < area.3
}

#[test]
fn real_1080p_footage_through_the_telemedicine_chain() {
    let Some(data) = testdata() else { return };
    let source = data.join("h264/throughput/real1080p30_10s_cbp_6M.264");
    let output = scratch().join("telemedicine-720p.h264");
    let pipeline = framechain_test_support::workspace_root().join("examples/telemedicine.yaml");
    let run = framechain(&[
        "run",
        "--pipeline",
        path_str(&pipeline),
        "-i",
        path_str(&source),
        "-o",
        path_str(&output),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let summary = stderr(&run);
    assert!(summary.contains(" 0 dropped"), "{summary}");

    // FFmpeg decodes it without a single complaint, to 300 720p frames.
    let ours = ffmpeg_decode(&output, None);
    assert_eq!(ours.len(), FRAMES * FRAME, "300 frames of 1280x720");

    // The bitrate is what was asked, within 10 %.
    let bits = std::fs::metadata(&output).unwrap().len() as f64 * 8.0;
    let bitrate = bits / SECONDS;
    assert!(
        (bitrate / BITRATE - 1.0).abs() <= 0.10,
        "bitrate {bitrate:.0} bit/s, asked 2000k"
    );

    // Outside the redacted area it is the source, scaled (FFmpeg bilinear), within 32 dB.
    let reference = ffmpeg_decode(&source, Some("scale=1280:720:flags=bilinear"));
    assert_eq!(reference.len(), ours.len());
    let near_rect = rect_720p(8.0);
    let (mut error, mut count) = (0f64, 0u64);
    for (frame, theirs) in ours.chunks_exact(FRAME).zip(reference.chunks_exact(FRAME)) {
        for (index, (&a, &b)) in frame[..LUMA].iter().zip(&theirs[..LUMA]).enumerate() {
            if !in_rect(near_rect, index % 1280, index / 1280) {
                error += (a as f64 - b as f64).powi(2);
                count += 1;
            }
        }
    }
    let psnr = 10.0 * (255.0f64.powi(2) / (error / count as f64)).log10();
    assert!(
        psnr >= 32.0,
        "PSNR outside the redacted area {psnr:.2} dB, want >= 32"
    );

    // Inside it, no trace of the source: flat black in every frame, where
    // the source shows bright sky (mean far from black).
    let inside = rect_720p(-6.0);
    let area = |frame: &[u8]| -> Vec<u8> {
        (0..LUMA)
            .filter(|&i| in_rect(inside, i % 1280, i / 1280))
            .map(|i| frame[i])
            .collect()
    };
    let mean =
        |samples: &[u8]| samples.iter().map(|&s| s as f64).sum::<f64>() / samples.len() as f64;
    for (number, (frame, theirs)) in ours
        .chunks_exact(FRAME)
        .zip(reference.chunks_exact(FRAME))
        .enumerate()
    {
        let (redacted, source) = (area(frame), area(theirs));
        let (lowest, highest) = (
            redacted.iter().min().unwrap(),
            redacted.iter().max().unwrap(),
        );
        assert!(
            *lowest >= 12 && *highest <= 20,
            "frame {number}: redacted area spans {lowest}..{highest}, not flat black"
        );
        assert!(
            mean(&source) - mean(&redacted) > 80.0,
            "frame {number}: the source there should be far from black"
        );
    }
}
