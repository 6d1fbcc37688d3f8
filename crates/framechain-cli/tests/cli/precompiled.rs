//! A "stage" file that holds precompiled native code (issue 8, finding 1):
//! `framechain package --precompile` writes such files, and one patched by
//! hand ran the attacker's code as the host when named by `inspect`, a
//! launch line or a pipeline file. The command compiles stages from wasm
//! only: such a file is refused with one line, exit 1. Also a stage path
//! that is a device (finding 5).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use framechain::{Engine, EngineConfig, StageRegistry};

use super::{assert_one_line_error, framechain, path_str, scratch, stage_path};

/// A folder holding `x.wasm`: the test stage compiled to native code.
fn precompiled_stage() -> PathBuf {
    let dir = scratch().join("precompiled");
    std::fs::create_dir_all(&dir).unwrap();
    let registry = StageRegistry::with_dirs(std::env::split_paths(&stage_path()).collect());
    let wasm = std::fs::read(registry.resolve("test-stage").expect("test-stage built")).unwrap();
    let artifact = Engine::new(EngineConfig::default())
        .unwrap()
        .precompile(&wasm)
        .unwrap();
    std::fs::write(dir.join("x.wasm"), artifact).unwrap();
    dir
}

const REFUSED: &str = "it is precompiled native code, which would run outside the sandbox";

#[test]
fn inspect_refuses_a_precompiled_file_named_by_a_relative_path() {
    let dir = precompiled_stage();
    let output = Command::new(env!("CARGO_BIN_EXE_framechain"))
        .args(["inspect", "./x.wasm"])
        .current_dir(&dir)
        .env("FRAMECHAIN_STAGE_PATH", stage_path())
        .env("XDG_CACHE_HOME", scratch().join("cache"))
        .output()
        .unwrap();
    assert_one_line_error(&output, REFUSED);
}

#[test]
fn run_refuses_a_precompiled_file_in_a_launch_line_and_a_pipeline_file() {
    let dir = precompiled_stage();
    let stage = dir.join("x.wasm");
    let out = dir.join("out.y4m");
    let output = framechain(&[
        "run",
        path_str(&stage),
        "-i",
        "testsrc",
        "--frames",
        "2",
        "-o",
        path_str(&out),
    ]);
    assert_one_line_error(&output, REFUSED);

    let yaml = dir.join("pipeline.yaml");
    std::fs::write(
        &yaml,
        format!("version: 1\nstages:\n  - stage: {}\n", stage.display()),
    )
    .unwrap();
    let output = framechain(&[
        "run",
        "-p",
        path_str(&yaml),
        "-i",
        "testsrc",
        "--frames",
        "2",
        "-o",
        path_str(&out),
    ]);
    assert_one_line_error(&output, REFUSED);
    assert!(!out.exists(), "nothing ran, nothing was written");
}

#[test]
fn a_device_as_stage_path_fails_at_once() {
    for args in [
        vec!["inspect", "/dev/zero"],
        vec!["run", "/dev/zero", "-i", "testsrc", "-o", "/dev/null"],
    ] {
        let started = Instant::now();
        let output = framechain(&args);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
        assert_one_line_error(&output, "not a regular file (a character device)");
    }
}
