//! Stage authoring: one name for a stage, stages pinned by digest (in
//! pipeline files and in packaged images), `framechain new-stage` making a
//! crate outside the repository that builds and runs at once, and
//! `framechain check` judging good and misbehaving stages.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::{assert_one_line_error, framechain, path_str, scratch, stage_path, stderr};

/// A fresh folder of the test's own.
fn folder(name: &str) -> PathBuf {
    let dir = scratch().join(format!("authoring-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The built file of a stage, from the stage folders the tests use.
fn built(stage: &str) -> PathBuf {
    std::env::split_paths(&stage_path())
        .map(|dir| dir.join(format!("{stage}.wasm")))
        .find(|file| file.is_file())
        .unwrap_or_else(|| panic!("{stage}.wasm not built: run `cargo xtask build`"))
}

fn digest_of(file: &Path) -> String {
    let hash = Sha256::digest(std::fs::read(file).unwrap());
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_stage_is_known_by_the_name_it_describes_not_by_its_file_name() {
    let dir = folder("names");
    // A file called nothing like its stage, and cargo's spelling of one.
    std::fs::copy(built("scale"), dir.join("resize.wasm")).unwrap();
    std::fs::copy(built("parse-h264"), dir.join("parse_h264.wasm")).unwrap();
    let out = dir.join("out.y4m");
    let stage_dir = path_str(&dir);
    let output = framechain(&[
        "--stage-dir",
        stage_dir,
        "run",
        "resize width=64 height=36",
        "-i",
        "testsrc",
        "--frames",
        "2",
        "-o",
        path_str(&out),
    ]);
    assert_one_line_error(
        &output,
        &format!(
            "no stage describes itself as resize; the file {}/resize.wasm describes itself as scale: call it scale",
            dir.display()
        ),
    );
    // `stages` lists stages by the names they give themselves, and finds
    // the folder's parse_h264.wasm as `parse-h264` (it is in an earlier
    // folder than the built one, so its own summary is shown either way).
    let output = framechain(&["--stage-dir", stage_dir, "stages"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = stdout(&output);
    assert!(
        !listing.lines().any(|line| line.starts_with("resize ")),
        "{listing}"
    );
    assert!(
        !listing.lines().any(|line| line.starts_with("parse_h264 ")),
        "{listing}"
    );
    assert!(
        listing.lines().any(|line| line.starts_with("parse-h264 ")),
        "{listing}"
    );
    assert!(
        listing.lines().any(|line| line.starts_with("scale ")),
        "{listing}"
    );
    // By path the file name is free; the stage is named as it describes itself.
    let output = framechain(&["inspect", path_str(&dir.join("resize.wasm"))]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("scale"), "{}", stdout(&output));
}

/// A one-stage pipeline file running `scale`, pinned to `digest` if given.
fn scale_pipeline(dir: &Path, digest: Option<&str>) -> PathBuf {
    let pin = digest
        .map(|digest| format!("    digest: {digest}\n"))
        .unwrap_or_default();
    let file = dir.join("pipeline.yaml");
    std::fs::write(
        &file,
        format!(
            "version: 1\nname: pinned\nstages:\n  - stage: scale\n{pin}    params: {{width: 64, height: 36}}\n"
        ),
    )
    .unwrap();
    file
}

#[test]
fn a_pinned_stage_runs_only_when_its_file_matches() {
    let dir = folder("pinned");
    let out = dir.join("out.y4m");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let run = |pipeline: &Path| {
        framechain(&[
            "run",
            "--pipeline",
            path_str(pipeline),
            "-i",
            "testsrc",
            "--frames",
            "2",
            "-o",
            path_str(&out),
        ])
    };
    let actual = digest_of(&built("scale"));
    let output = run(&scale_pipeline(&dir, Some(&wrong)));
    assert_one_line_error(
        &output,
        &format!(
            "stage scale ({}) is pinned to {wrong} but the file is {actual}",
            built("scale").display()
        ),
    );
    let output = run(&scale_pipeline(&dir, Some(&actual)));
    assert!(output.status.success(), "{}", stderr(&output));
}

/// The file at `path` inside the (single) layer of an image tarball made by
/// `framechain package`.
fn file_in_image(image: &Path, path: &str) -> String {
    let mut blobs = std::collections::HashMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(image).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        blobs.insert(name, data);
    }
    let blob = |digest: &str| &blobs[&format!("blobs/sha256/{}", &digest["sha256:".len()..])];
    let json = |data: &[u8]| serde_json::from_slice::<serde_json::Value>(data).unwrap();
    let index = json(&blobs["index.json"]);
    let manifest = json(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    let layer = blob(manifest["layers"][0]["digest"].as_str().unwrap());
    let mut layer = tar::Archive::new(layer.as_slice());
    for entry in layer.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == path {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return text;
        }
    }
    panic!("{path} not in the image");
}

#[test]
fn package_pins_the_digest_of_every_stage_it_packages() {
    let dir = folder("package");
    let pipeline = scale_pipeline(&dir, None);
    let image = dir.join("image.tar");
    let output = framechain(&[
        "package",
        "--pipeline",
        path_str(&pipeline),
        "-o",
        path_str(&image),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("framechain.io/pipeline-stages: \"scale\""),
        "{}",
        stderr(&output)
    );
    let packaged = file_in_image(&image, "pipeline.yaml");
    let digest = digest_of(&built("scale"));
    assert!(
        packaged.contains(&format!("  - stage: \"scale\"\n    digest: \"{digest}\"\n")),
        "{packaged}"
    );
    // The packaged file runs as it is, and refuses another file by that name.
    let unpacked = dir.join("unpacked");
    std::fs::create_dir_all(unpacked.join("stages")).unwrap();
    std::fs::write(unpacked.join("pipeline.yaml"), &packaged).unwrap();
    std::fs::copy(built("redact"), unpacked.join("stages/scale.wasm")).unwrap();
    let output = framechain(&[
        "--stage-dir",
        path_str(&unpacked.join("stages")),
        "run",
        "--pipeline",
        path_str(&unpacked.join("pipeline.yaml")),
        "-i",
        "testsrc",
        "--frames",
        "2",
        "-o",
        path_str(&dir.join("out.y4m")),
    ]);
    assert_one_line_error(&output, &format!("is pinned to {digest}"));
}

#[test]
fn check_passes_a_good_stage_and_fails_misbehaving_ones() {
    let output = framechain(&["check", "scale", "width=160", "height=90", "--frames", "8"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(report.contains("accounting   ok: 8 in, 8 out"), "{report}");
    assert!(
        report.contains(
            "errors       ok: 5 invalid parameter values refused with bad-parameter (1 text parameter not tried: no value is invalid to every text parameter)\n"
        ),
        "{report}"
    );
    assert!(
        report.contains("errors       ok: a compressed packet refused with unsupported-input\n"),
        "{report}"
    );
    assert!(report.ends_with("result: ok\n"), "{report}");

    let output = framechain(&[
        "--log-level",
        "error", // the host's own warning about the lost frames
        "check",
        "test-stage",
        "behaviour=swallow",
        "--frames",
        "4",
    ]);
    assert_one_line_error(
        &output,
        "test-stage breaks the stage contract: accounting: 4 of 4 inputs were neither passed on nor reported dropped",
    );
    assert!(stdout(&output).contains("VIOLATION"), "{}", stdout(&output));

    // Errors are typed: an invalid value of each parameter is refused with
    // bad-parameter, not another kind. redact has a rect-list, a choice, a
    // colour and two integers (its text parameter is skipped).
    let output = framechain(&["check", "redact", "--frames", "2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(
        report.contains("errors       ok: 5 invalid parameter values refused with bad-parameter (1 text parameter not tried"),
        "{report}"
    );
    let output = framechain(&[
        "check",
        "test-stage",
        "behaviour=mistyped-param-error",
        "--frames",
        "2",
    ]);
    assert_one_line_error(
        &output,
        "test-stage breaks the stage contract: errors: integer parameter level=twelve was refused with internal (test-stage: level: expected a whole number, got \"twelve\"); an invalid value must be refused with bad-parameter",
    );
    assert!(
        stdout(&output)
            .contains("errors       ok: a compressed packet refused with unsupported-input"),
        "{}",
        stdout(&output)
    );

    let output = framechain(&["check", "test-stage", "behaviour=trap", "--frames", "2"]);
    assert_one_line_error(&output, "crashed instead of returning a typed error");

    let output = framechain(&[
        "check",
        "test-stage",
        "behaviour=loop",
        "--frames",
        "1",
        "--call-timeout",
        "100",
    ]);
    assert_one_line_error(&output, "time limit of 100 ms");
}

/// Runs cargo in `dir`, offline (the template needs only crates the
/// workspace already uses), with a target folder kept between test runs;
/// returns what it printed on stdout.
fn cargo(dir: &Path, args: &[&str]) -> String {
    let target = framechain_test_support::workspace_root().join("target/authoring-template");
    let output = Command::new(env!("CARGO"))
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo {args:?} in {}: {}",
        dir.display(),
        stderr(&output)
    );
    stdout(&output)
}

#[test]
fn a_new_stage_builds_outside_the_repository_and_runs_at_once() {
    let dir = folder("new-stage").join("my-square");
    let output = framechain(&["new-stage", "my-square", path_str(&dir)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.join(".cargo/config.toml").is_file());
    let config = std::fs::read_to_string(dir.join(".cargo/config.toml")).unwrap();
    assert!(config.contains("+simd128"), "{config}");
    // A second time into the same, now full, folder is refused.
    let again = framechain(&["new-stage", "my-square", path_str(&dir)]);
    assert_one_line_error(&again, "exists and is not empty");

    // The native tests include the per-frame logic run on a TestFrame.
    let tests = cargo(&dir, &["test", "--release"]);
    assert!(
        tests.contains("each_frame_gets_the_square_and_a_region_marking_it ... ok"),
        "{tests}"
    );
    cargo(&dir, &["build", "--release", "--target", "wasm32-wasip2"]);
    let wasm = framechain_test_support::workspace_root()
        .join("target/authoring-template/wasm32-wasip2/release/my_square.wasm");

    let output = framechain(&["inspect", path_str(&wasm)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("my-square"), "{}", stdout(&output));
    let output = framechain(&["check", path_str(&wasm), "--frames", "4"]);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );

    // In a chain, on real frames: the square is painted where asked and
    // nothing else changes.
    let first_luma = |chain: &str, name: &str| {
        let out = dir.join(name);
        let output = framechain(&[
            "run",
            chain,
            "-i",
            "testsrc",
            "--size",
            "64x48",
            "--frames",
            "3",
            "-o",
            path_str(&out),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("3 in, 3 out"),
            "{}",
            stderr(&output)
        );
        let y4m = std::fs::read(&out).unwrap();
        let start = y4m.windows(6).position(|w| w == b"FRAME\n").unwrap() + 6;
        y4m[start..start + 64 * 48].to_vec()
    };
    let painted = first_luma(
        &format!(
            "{} x=8 y=8 size=16 value=201 ! scale width=64 height=48",
            wasm.display()
        ),
        "painted.y4m",
    );
    let plain = first_luma("scale width=64 height=48", "plain.y4m");
    for y in 0..48 {
        for x in 0..64 {
            let inside = (8..24).contains(&x) && (8..24).contains(&y);
            let (got, before) = (painted[y * 64 + x], plain[y * 64 + x]);
            if inside {
                assert_eq!(got, 201, "inside the square at {x},{y}");
            } else {
                assert_eq!(got, before, "outside the square at {x},{y}");
            }
        }
    }

    // Copied into a stage folder as cargo named it, it runs by the name it
    // describes itself by (issue 18: it used to be listed as `my_square`
    // and `my-square` was unknown).
    let stages = dir.join("stage-folder");
    std::fs::create_dir_all(&stages).unwrap();
    std::fs::copy(&wasm, stages.join("my_square.wasm")).unwrap();
    let listing = framechain(&["--stage-dir", path_str(&stages), "stages"]);
    assert!(
        stdout(&listing)
            .lines()
            .any(|line| line.starts_with("my-square ")),
        "{}",
        stdout(&listing)
    );
    let out = dir.join("by-name.y4m");
    let output = framechain(&[
        "--stage-dir",
        path_str(&stages),
        "run",
        "my-square x=8 y=8 size=16 value=201 ! scale width=64 height=48",
        "-i",
        "testsrc",
        "--size",
        "64x48",
        "--frames",
        "3",
        "-o",
        path_str(&out),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let y4m = std::fs::read(&out).unwrap();
    let start = y4m.windows(6).position(|w| w == b"FRAME\n").unwrap() + 6;
    assert_eq!(
        y4m[start..start + 64 * 48],
        painted[..],
        "by name as by path"
    );
}
