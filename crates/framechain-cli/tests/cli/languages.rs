//! Stages written in Python (componentize-py) and JavaScript
//! (componentize-js) in a chain with the built-in stages, on real decoded
//! frames, checked sample by sample against FFmpeg's decode of the same
//! stream. `cargo xtask build` builds them (scripts/build-language-stages.sh)
//! with their Rust twin `invert-box` into target/test-stages.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use super::telemedicine::testdata;
use super::{assert_one_line_error, framechain, path_str, scratch, stderr};

/// Real camera content, 19 pictures, which FFmpeg and OpenH264 decode
/// bit-exactly alike (shared/testdata/h264/hashes).
const STREAM: &str = "h264/conformance/Zhling_1280x720.264";
const WIDTH: usize = 1280;
const HEIGHT: usize = 720;
const FRAMES: usize = 19;

/// The Python stage is an 18 MB component (CPython inside) and the
/// JavaScript one 12 MB (SpiderMonkey): compiling each takes seconds. The
/// tests here take turns so that the first compiles them into the run's
/// stage cache and the others load them from it, instead of compiling both
/// at once on every core.
static TURNS: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TURNS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone, Copy, Debug)]
struct Rect {
    x: usize,
    y: usize,
    width: usize,
    height: usize,
}

impl Rect {
    const fn new(x: usize, y: usize, width: usize, height: usize) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    fn contains(self, x: usize, y: usize) -> bool {
        (self.x..self.x + self.width).contains(&x) && (self.y..self.y + self.height).contains(&y)
    }

    fn param(self) -> String {
        format!("{},{},{},{}", self.x, self.y, self.width, self.height)
    }
}

/// Decodes with FFmpeg to raw I420 (the stream is yuv420p already, so no
/// conversion), asserting it reports nothing.
fn ffmpeg_decode(input: &Path) -> Vec<u8> {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i", path_str(input)])
        .args(["-fps_mode", "passthrough", "-f", "rawvideo", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(output.status.success(), "ffmpeg failed on {input:?}");
    assert!(
        output.stderr.is_empty(),
        "ffmpeg reported: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The pictures of a Y4M file of `width` x `height` I420 frames, each
/// Y then U then V.
fn y4m_frames(path: &Path, width: usize, height: usize) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let header = String::from_utf8_lossy(&bytes[..header_end]);
    assert!(
        header.starts_with(&format!("YUV4MPEG2 W{width} H{height} ")),
        "{header}"
    );
    let frame = width * height * 3 / 2;
    let body = &bytes[header_end..];
    assert_eq!(body.len() % (frame + 6), 0, "whole frames");
    body.chunks_exact(frame + 6)
        .map(|chunk| {
            assert_eq!(&chunk[..6], b"FRAME\n");
            chunk[6..].to_vec()
        })
        .collect()
}

fn run_chain(chain: &str, input: &Path, output: &Path) -> String {
    let run = framechain(&["run", chain, "-i", path_str(input), "-o", path_str(output)]);
    let text = stderr(&run);
    assert!(run.status.success(), "{chain}: {text}");
    assert!(text.contains(" 0 dropped"), "{text}");
    text
}

#[test]
fn python_and_javascript_stages_invert_their_boxes_between_decode_and_redact() {
    let Some(data) = testdata() else { return };
    let _turn = take_turn();
    let source = data.join(STREAM);
    // The two boxes overlap (there the luma is inverted twice: the
    // source again), and redact hides a third area after both.
    let python = Rect::new(100, 100, 320, 240);
    let js = Rect::new(260, 220, 320, 240);
    let hidden = Rect::new(800, 400, 200, 100);
    let output = scratch().join("languages-720p.y4m");
    let chain = format!(
        "decode-h264 ! python-invert-box rect={} ! js-invert-box rect={} ! redact rect={}",
        python.param(),
        js.param(),
        hidden.param()
    );
    let summary = run_chain(&chain, &source, &output);
    for stage in ["python-invert-box", "js-invert-box", "redact"] {
        assert!(summary.contains(&format!("  {stage} ")), "{summary}");
    }

    let ours = y4m_frames(&output, WIDTH, HEIGHT);
    let reference = ffmpeg_decode(&source);
    let frame_len = WIDTH * HEIGHT * 3 / 2;
    assert_eq!(ours.len(), FRAMES);
    assert_eq!(reference.len(), FRAMES * frame_len);
    let luma = WIDTH * HEIGHT;
    let (chroma_width, chroma_height) = (WIDTH / 2, HEIGHT / 2);
    // Even-aligned, so the chroma area redact fills is exactly half of it.
    let hidden_chroma = Rect::new(
        hidden.x / 2,
        hidden.y / 2,
        hidden.width / 2,
        hidden.height / 2,
    );
    let mut inverted = 0usize;
    for (number, (ours, theirs)) in ours
        .iter()
        .zip(reference.chunks_exact(frame_len))
        .enumerate()
    {
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let (got, source) = (ours[y * WIDTH + x], theirs[y * WIDTH + x]);
                let want = if hidden.contains(x, y) {
                    16
                } else if python.contains(x, y) != js.contains(x, y) {
                    inverted += usize::from(source != 255 - source);
                    255 - source
                } else {
                    source
                };
                assert_eq!(got, want, "frame {number}: Y at {x},{y} (source {source})");
            }
        }
        for (plane, offset) in [("U", luma), ("V", luma + luma / 4)] {
            for y in 0..chroma_height {
                for x in 0..chroma_width {
                    let index = offset + y * chroma_width + x;
                    let want = if hidden_chroma.contains(x, y) {
                        128
                    } else {
                        theirs[index]
                    };
                    assert_eq!(ours[index], want, "frame {number}: {plane} at {x},{y}");
                }
            }
        }
    }
    // Real content: the boxes are not a flat mid-grey that inverts to itself.
    assert!(inverted > FRAMES * 100_000, "{inverted} samples changed");
}

#[test]
fn after_scale_the_python_and_javascript_stages_give_what_their_rust_twin_gives() {
    let Some(data) = testdata() else { return };
    let _turn = take_turn();
    let source = data.join(STREAM);
    let (first, second) = (Rect::new(0, 0, 200, 120), Rect::new(500, 300, 400, 400));
    let scale = "decode-h264 ! scale width=640 height=360";
    let theirs = scratch().join("languages-python-js.y4m");
    run_chain(
        &format!(
            "{scale} ! python-invert-box rect={} ! js-invert-box rect={}",
            first.param(),
            second.param()
        ),
        &source,
        &theirs,
    );
    let rust = scratch().join("languages-rust.y4m");
    run_chain(
        &format!(
            "{scale} ! invert-box rect={} ! invert-box rect={}",
            first.param(),
            second.param()
        ),
        &source,
        &rust,
    );
    let plain = scratch().join("languages-plain.y4m");
    run_chain(scale, &source, &plain);
    let theirs = y4m_frames(&theirs, 640, 360);
    assert_eq!(theirs.len(), FRAMES);
    assert_eq!(theirs, y4m_frames(&rust, 640, 360));
    // The second box reaches past the frame and was clipped to it; the
    // pixels right of and below the first box are the plain chain's.
    let plain = y4m_frames(&plain, 640, 360);
    for (ours, plain) in theirs.iter().zip(&plain) {
        assert_eq!(ours[0], 255 - plain[0], "top-left sample inverted");
        assert_eq!(ours[200], plain[200], "right of the first box: untouched");
        assert_eq!(ours[639 + 359 * 640], 255 - plain[639 + 359 * 640]);
        assert_eq!(ours[640 * 360..], plain[640 * 360..], "chroma untouched");
    }
}

#[test]
fn python_and_javascript_stages_describe_themselves_and_refuse_bad_parameters() {
    let _turn = take_turn();
    for (stage, language) in [
        ("python-invert-box", "Python"),
        ("js-invert-box", "JavaScript"),
    ] {
        let inspect = framechain(&["inspect", stage]);
        assert!(inspect.status.success(), "{}", stderr(&inspect));
        let text = String::from_utf8_lossy(&inspect.stdout);
        assert!(text.starts_with(&format!("{stage} 0.1.0\n")), "{text}");
        assert!(text.contains(&format!("written in {language}")), "{text}");
        assert!(text.contains("rect x,y,w,h (required)"), "{text}");

        let output = scratch().join(format!("{stage}-bad.y4m"));
        let run = framechain(&[
            "run",
            &format!("{stage} rect=1,2,3"),
            "-i",
            "testsrc",
            "--frames",
            "1",
            "-o",
            path_str(&output),
        ]);
        assert_one_line_error(
            &run,
            &format!(
                "{stage}: rect: expected x,y,width,height (four whole numbers), got \"1,2,3\""
            ),
        );
    }
}
