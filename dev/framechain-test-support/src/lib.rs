//! Test set-up that framechain's tests share, written once:
//!
//! - where the checkout is ([`workspace_root`]), for files the tests read
//!   from it (`examples/*.yaml`, `deploy/k3s/`, `scripts/`);
//! - where the third-party test streams are ([`testdata`],
//!   [`h264_testdata`]), which are read in place and never copied into the
//!   repository: `$FRAMECHAIN_TESTDATA`, else `../shared/testdata` beside
//!   the checkout. Outside CI a test without them skips; in CI (`CI` set)
//!   their absence fails the test;
//! - where the built stage components are ([`stage_dirs`], [`stage_path`]):
//!   `$FRAMECHAIN_STAGE_PATH`, else `target/stages` and
//!   `target/test-stages`, where `cargo xtask stages` puts them;
//! - real Redis and PostgreSQL servers on loopback ports of a test's own
//!   ([`services`]), for the centre's tests;
//! - a strict reader of the Prometheus text format ([`prometheus`]), for
//!   the tests of `GET /metrics`.
//!
//! - with the feature `webdriver`, a WebDriver client for headless Chromium
//!   ([`webdriver`]), for the browser tests of serve and the centre.
//!
//! Without that feature it has no dependencies and uses only `std`, so the
//! stage crates (built for `wasm32-wasip2`, tested natively) take it as a
//! dev-dependency as the host, the CLI and the server do.
//!
//! ```
//! // A test that needs the shared streams:
//! let Some(dir) = framechain_test_support::testdata() else {
//!     return; // skipped outside CI, with a note on stderr
//! };
//! let clip = dir.join("h264/throughput/real1080p30_10s_cbp_6M.264");
//! # let _ = clip;
//! ```

#![deny(missing_docs)]

pub mod prometheus;
pub mod services;
#[cfg(feature = "webdriver")]
pub mod webdriver;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The environment variable naming the test data folder.
pub const TESTDATA_ENV: &str = "FRAMECHAIN_TESTDATA";

/// The environment variable listing the stage folders, as the host reads it
/// (`framechain::STAGE_PATH_ENV`; the host's integration tests check that
/// the two are equal). This crate does not depend on the host so that the
/// stage crates can use it.
pub const STAGE_PATH_ENV: &str = "FRAMECHAIN_STAGE_PATH";

/// The root of the framechain checkout (the folder of the workspace's
/// `Cargo.toml`).
pub fn workspace_root() -> &'static Path {
    // This crate lives at dev/framechain-test-support.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("the test-support crate lives two folders below the workspace root")
}

/// cargo's target folder: `$CARGO_TARGET_DIR`, else `target/` in the
/// checkout.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Where the test data is looked for, whether it is there or not:
/// `$FRAMECHAIN_TESTDATA`, else `../shared/testdata` beside the checkout.
pub fn testdata_dir() -> PathBuf {
    std::env::var_os(TESTDATA_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/testdata"))
}

/// The test data folder ([`testdata_dir`]) if it is there. When it is not,
/// a test skips (`None`, with a note on stderr), except in CI (`CI` set),
/// where that panics: CI must not pass by skipping.
pub fn testdata() -> Option<PathBuf> {
    let dir = testdata_dir();
    let found = dir.is_dir();
    present(dir, found, in_ci())
}

/// The H.264 streams, `h264/` of the test data, if it is there (its
/// `README.md` is the mark). Skips and fails as [`testdata`] does.
pub fn h264_testdata() -> Option<PathBuf> {
    let dir = testdata_dir().join("h264");
    let found = dir.join("README.md").is_file();
    present(dir, found, in_ci())
}

/// The folders holding the built stage components: the entries of
/// `$FRAMECHAIN_STAGE_PATH`, else `stages/` and `test-stages/` of the
/// target folder ([`target_dir`]).
pub fn stage_dirs() -> Vec<PathBuf> {
    stage_dirs_from(std::env::var_os(STAGE_PATH_ENV).as_deref(), &target_dir())
}

/// [`stage_dirs`] as one search path, the value to give a child process
/// (a `framechain` command) as `$FRAMECHAIN_STAGE_PATH`.
pub fn stage_path() -> OsString {
    std::env::join_paths(stage_dirs()).expect("stage folders without the path separator")
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// `Some(dir)` if it was found; else a skip outside CI, a panic in it.
fn present(dir: PathBuf, found: bool, in_ci: bool) -> Option<PathBuf> {
    if found {
        return Some(dir);
    }
    assert!(
        !in_ci,
        "test data not found at {} (CI needs it; set {TESTDATA_ENV})",
        dir.display()
    );
    eprintln!("skipping: test data not found at {}", dir.display());
    None
}

fn stage_dirs_from(search_path: Option<&OsStr>, target: &Path) -> Vec<PathBuf> {
    match search_path {
        Some(path) => std::env::split_paths(path).collect(),
        None => vec![target.join("stages"), target.join("test-stages")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_root_is_the_checkout() {
        let root = workspace_root();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"), "{}", root.display());
        assert!(root.join("wit/stage.wit").is_file(), "{}", root.display());
    }

    #[test]
    fn test_data_that_is_there_is_given() {
        let dir = PathBuf::from("/somewhere");
        assert_eq!(present(dir.clone(), true, false), Some(dir.clone()));
        assert_eq!(present(dir.clone(), true, true), Some(dir));
    }

    #[test]
    fn missing_test_data_skips_outside_ci() {
        assert_eq!(present(PathBuf::from("/nowhere"), false, false), None);
    }

    #[test]
    #[should_panic(expected = "test data not found at /nowhere (CI needs it")]
    fn missing_test_data_fails_in_ci() {
        present(PathBuf::from("/nowhere"), false, true);
    }

    #[test]
    fn stage_folders_come_from_the_search_path_else_the_target_folder() {
        let target = Path::new("/t");
        assert_eq!(
            stage_dirs_from(None, target),
            [PathBuf::from("/t/stages"), PathBuf::from("/t/test-stages")]
        );
        let joined = std::env::join_paths(["/a", "/b/c"]).unwrap();
        assert_eq!(
            stage_dirs_from(Some(&joined), target),
            [PathBuf::from("/a"), PathBuf::from("/b/c")]
        );
    }
}
