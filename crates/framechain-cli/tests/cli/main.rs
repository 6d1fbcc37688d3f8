//! The `framechain` command as users run it: real components, real files,
//! one-line errors and non-zero exits for every user mistake.

mod authoring;
mod compile_bombs;
mod hostile;
mod identity;
mod languages;
mod precompiled;
mod realtime;
mod run;
mod telemedicine;
mod tools_hostile;
mod watch;

use std::process::Command;

pub use run::{assert_one_line_error, framechain, path_str, scratch, stage_path, stderr};

#[test]
fn runs_the_default_chain_on_the_test_source_and_writes_a_snapshot() {
    let out = scratch().join("testsrc.y4m");
    let png = scratch().join("snapshot.png");
    let output = framechain(&[
        "run",
        "redact rect=100,100,400,200 mode=fill ! scale width=1280 height=720",
        "-i",
        "testsrc",
        "--frames",
        "6",
        "-o",
        path_str(&out),
        "--snapshot",
        path_str(&png),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stderr(&output);
    assert!(summary.contains("6 in, 6 out, 0 dropped"), "{summary}");
    assert!(
        summary.contains("redact") && summary.contains("scale") && summary.contains("p99"),
        "{summary}"
    );
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"YUV4MPEG2 W1280 H720 F30:1"));
    let frame_len = 1280 * 720 * 3 / 2 + "FRAME\n".len();
    let header_len = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(bytes.len() - header_len, 6 * frame_len);
    let png_bytes = std::fs::read(&png).unwrap();
    assert!(png_bytes.starts_with(b"\x89PNG"));
}

#[test]
fn the_pipeline_file_gives_the_same_output_as_the_launch_line() {
    let yaml = scratch().join("chain.yaml");
    std::fs::write(
        &yaml,
        "version: 1\nname: test\nstages:\n  - stage: redact\n    params: {rect: \"10,10,40,20\", mode: pixelate, block: 8}\n  - stage: scale\n    params: {width: 320, height: 180}\n",
    )
    .unwrap();
    let (from_file, from_line) = (scratch().join("file.y4m"), scratch().join("line.y4m"));
    let common = ["-i", "testsrc", "--size", "640x360", "--frames", "3", "-q"];
    let output = framechain(
        &[
            &[
                "run",
                "--pipeline",
                path_str(&yaml),
                "-o",
                path_str(&from_file),
            ],
            &common[..],
        ]
        .concat(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let chain = "redact rect=10,10,40,20 mode=pixelate block=8 ! scale width=320 height=180";
    let output = framechain(&[&["run", chain, "-o", path_str(&from_line)], &common[..]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(&from_file).unwrap(),
        std::fs::read(&from_line).unwrap()
    );
}

#[test]
fn stdin_and_stdout_carry_y4m() {
    let input = scratch().join("small.y4m");
    let output = framechain(&[
        "run",
        "scale width=32 height=16",
        "-i",
        "testsrc",
        "--size",
        "64x32",
        "--frames",
        "2",
        "-o",
        path_str(&input),
        "-q",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = Command::new(env!("CARGO_BIN_EXE_framechain"))
        .args(["run", "scale width=16 height=8", "-i", "-", "-o", "-", "-q"])
        .env("FRAMECHAIN_STAGE_PATH", stage_path())
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(output.stdout.starts_with(b"YUV4MPEG2 W16 H8"));
    let header_len = output.stdout.iter().position(|&b| b == b'\n').unwrap() + 1;
    let frame_len = "FRAME\n".len() + 16 * 8 * 3 / 2;
    assert_eq!(
        output.stdout.len() - header_len,
        2 * frame_len,
        "two 16x8 frames"
    );
}

#[test]
fn user_errors_are_one_line_and_exit_non_zero() {
    let truncated = scratch().join("truncated.y4m");
    let mut bytes = b"YUV4MPEG2 W64 H32 F30:1 C420jpeg\nFRAME\n".to_vec();
    bytes.extend(std::iter::repeat_n(0u8, 1000));
    std::fs::write(&truncated, &bytes).unwrap();
    let out = scratch().join("out.y4m");
    let out = path_str(&out);
    let truncated = path_str(&truncated);

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "run",
                "scale width=8 height=8",
                "-i",
                "/no/such/file.y4m",
                "-o",
                out,
            ],
            "cannot read /no/such/file.y4m: No such file or directory",
        ),
        (
            vec!["run", "scale width=8 height=8", "-i", truncated, "-o", out],
            "frame 1 has 1000 of its 3072 bytes",
        ),
        (
            vec!["run", "blur radius=3", "-i", "testsrc", "-o", out],
            "unknown stage \"blur\"",
        ),
        (
            vec!["run", "scale width=huge", "-i", "testsrc", "-o", out],
            "error: scale: width: expected a whole number",
        ),
        (
            vec!["run", "scale colour=red", "-i", "testsrc", "-o", out],
            "unknown parameter \"colour\"",
        ),
        (
            vec![
                "run",
                "test-packets ! scale width=8 height=8",
                "-i",
                "testsrc",
                "-o",
                out,
            ],
            "chain does not fit",
        ),
        (
            vec![
                "run",
                "scale width=8 height=8 ! test-packets",
                "-i",
                "testsrc",
                "-o",
                out,
            ],
            "the output takes i420 frames",
        ),
        (
            vec!["run", "scale width=8 height=8", "-i", "in.mp4", "-o", out],
            "cannot tell the format of input",
        ),
        (
            vec![
                "run",
                "scale width=8 height=8 !",
                "-i",
                "testsrc",
                "-o",
                out,
            ],
            "invalid chain",
        ),
        (
            vec![
                "run",
                "--pipeline",
                "/no/such.yaml",
                "-i",
                "testsrc",
                "-o",
                out,
            ],
            "cannot read /no/such.yaml",
        ),
        (
            vec![
                "run",
                "test-stage behaviour=trap",
                "-i",
                "testsrc",
                "--size",
                "32x32",
                "-o",
                out,
            ],
            "stage test-stage failed: crashed",
        ),
        (
            vec![
                "run",
                "encode-h264 accel=native",
                "-i",
                "testsrc",
                "--size",
                "64x64",
                "--no-native-encoder",
                "-o",
                "out.h264",
            ],
            "the native H.264 encoder is switched off on this host",
        ),
        (vec!["inspect", "no-such-stage"], "unknown stage"),
    ];
    for (args, expected) in cases {
        let output = framechain(&args);
        assert_one_line_error(&output, expected);
    }
}

#[test]
fn stages_and_inspect_describe_the_built_in_stages() {
    let output = framechain(&["stages"]);
    assert!(output.status.success());
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(
        listing.lines().any(|line| line.starts_with("scale ")),
        "{listing}"
    );
    assert!(
        listing.lines().any(|line| line.starts_with("redact ")),
        "{listing}"
    );

    let output = framechain(&["inspect", "redact"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("input:     i420 frames"), "{text}");
    assert!(text.contains("fill|pixelate|blur"), "{text}");
}
