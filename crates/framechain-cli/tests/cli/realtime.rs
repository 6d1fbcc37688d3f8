//! `framechain run --realtime`: an H.264 file played as a live camera
//! (cut into access units by `parse-h264`, paced at the frame rate, run
//! through a live session), checked with FFmpeg's ffprobe and the summary.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::telemedicine::testdata;
use super::{assert_one_line_error, framechain, path_str, scratch, stderr};

/// Pictures ffprobe decodes from `file`, asserting it reports no error.
fn ffprobe_pictures(file: &Path) -> u64 {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            path_str(file),
        ])
        .output()
        .expect("ffprobe runs");
    assert!(
        output.status.success(),
        "ffprobe failed on {}",
        file.display()
    );
    assert!(
        output.stderr.is_empty(),
        "ffprobe reported: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("ffprobe prints a picture count")
}

/// The counts and end-to-end latency a realtime summary reports.
#[derive(Debug)]
struct Summary {
    inputs: u64,
    outputs: u64,
    dropped: u64,
    /// p50, p99 and max of the end-to-end row, ms.
    end_to_end: [f64; 3],
}

/// Reads the summary's first line (`N in, M out, D dropped in ...`) and
/// its `end-to-end` row (`end-to-end IN OUT DROPPED P50 ms P99 ms MAX ms`).
fn summary(text: &str) -> Summary {
    let head = text
        .lines()
        .find(|line| line.starts_with("framechain: "))
        .unwrap_or_else(|| panic!("no summary in: {text}"));
    let words: Vec<&str> = head.split_whitespace().collect();
    let count = |at: usize| -> u64 { words[at].trim_end_matches(',').parse().unwrap() };
    let (inputs, outputs, dropped) = (count(1), count(3), count(5));
    let row = text
        .lines()
        .find(|line| line.trim_start().starts_with("end-to-end "))
        .unwrap_or_else(|| panic!("no end-to-end row in: {text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells.len(), 10, "end-to-end row: {row}");
    let row_counts: Vec<u64> = cells[1..4].iter().map(|c| c.parse().unwrap()).collect();
    assert_eq!(row_counts, [inputs, outputs, dropped], "{text}");
    let ms = |at: usize| -> f64 {
        assert_eq!(cells[at + 1], "ms", "{row}");
        cells[at].parse().unwrap()
    };
    Summary {
        inputs,
        outputs,
        dropped,
        end_to_end: [ms(4), ms(6), ms(8)],
    }
}

#[test]
fn realtime_h264_to_h264_decodes_and_reports_latency_from_arrival() {
    let Some(data) = testdata() else { return };
    // 19 pictures of 1280x720, Constrained Baseline.
    let source = data.join("h264/conformance/Zhling_1280x720.264");
    let output = scratch().join("realtime-640x360.h264");
    let run = framechain(&[
        "run",
        "decode-h264 ! scale width=640 height=360 ! encode-h264 bitrate=1000k fps=30 gop=30",
        "-i",
        path_str(&source),
        "-o",
        path_str(&output),
        "--realtime",
    ]);
    let text = stderr(&run);
    assert!(run.status.success(), "{text}");
    let summary = summary(&text);
    assert_eq!(summary.inputs, 19, "{text}");
    assert_eq!(summary.inputs, summary.outputs + summary.dropped, "{text}");
    assert!(summary.outputs > 0, "{text}");
    assert_eq!(ffprobe_pictures(&output), summary.outputs, "{text}");
    let [p50, p99, max] = summary.end_to_end;
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{text}");
    // The parser runs ahead of the chain in a session of its own, and the
    // note says what end-to-end means here.
    assert!(text.contains("  parse-h264 "), "{text}");
    assert!(text.contains("from each access unit's arrival"), "{text}");
}

#[test]
fn realtime_paces_access_units_at_the_frame_rate_into_y4m() {
    let Some(data) = testdata() else { return };
    // 50 pictures of 1024x768.
    let source = data.join("h264/conformance/Adobe_PDF_sample_a_1024x768_50Frms.264");
    let output = scratch().join("realtime-256x192.y4m");
    let started = Instant::now();
    let run = framechain(&[
        "run",
        "decode-h264 ! scale width=256 height=192",
        "-i",
        path_str(&source),
        "-o",
        path_str(&output),
        "--realtime",
        "--fps",
        "60",
    ]);
    let took = started.elapsed();
    let text = stderr(&run);
    assert!(run.status.success(), "{text}");
    let summary = summary(&text);
    assert_eq!(summary.inputs, 50, "{text}");
    assert_eq!(summary.inputs, summary.outputs + summary.dropped, "{text}");
    assert_eq!(ffprobe_pictures(&output), summary.outputs, "{text}");
    // Access unit 49 is not sent before 49/60 s: the file is played, not
    // read as fast as it goes.
    assert!(
        took >= Duration::from_millis(49_000 / 60),
        "50 access units at 60 fps took only {took:?}"
    );
    assert!(text.contains("realtime at 60 fps"), "{text}");
}

#[test]
fn realtime_refuses_inputs_that_are_not_h264() {
    let output = scratch().join("realtime-refused.y4m");
    let run = framechain(&[
        "run",
        "scale width=64 height=64",
        "-i",
        "testsrc",
        "-o",
        path_str(&output),
        "--realtime",
    ]);
    assert_one_line_error(
        &run,
        "--realtime plays an H.264 file (.h264, .264 or --input-format h264); input \"testsrc\" is testsrc",
    );
}
