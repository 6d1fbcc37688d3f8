//! Running the built `framechain` the way the tests do, shared by the
//! `cli` and `center` test binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `$FRAMECHAIN_STAGE_PATH` for the `framechain` commands the tests run:
/// the built stage folders.
pub fn stage_path() -> String {
    framechain_test_support::stage_path()
        .into_string()
        .expect("stage folders with UTF-8 names")
}

pub fn framechain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_framechain"))
        .args(args)
        .env("FRAMECHAIN_STAGE_PATH", stage_path())
        .env("XDG_CACHE_HOME", scratch().join("cache"))
        .output()
        .expect("framechain runs")
}

/// A scratch folder for this test process: fresh at its first use, and
/// under cargo's target folder, so that each run replaces the last one's
/// (its stage cache is about 200 MiB) instead of leaving it in `/tmp`.
pub fn scratch() -> PathBuf {
    static SCRATCH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SCRATCH
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("framechain-{}", env!("CARGO_CRATE_NAME")));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        })
        .clone()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The command failed with exactly one line on stderr, and the command
/// itself did not panic (a stage's own panic message may be quoted).
pub fn assert_one_line_error(output: &Output, expected: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(1), "exit status for: {text}");
    assert_eq!(text.lines().count(), 1, "one line expected, got: {text}");
    assert!(text.starts_with("framechain: error: "), "{text}");
    assert!(
        text.contains(expected),
        "expected \"{expected}\" in: {text}"
    );
    assert!(!text.contains("thread 'main' panicked"), "{text}");
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
