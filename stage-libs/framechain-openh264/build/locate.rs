//! Finds OpenH264's C++ source on this machine.
//!
//! framechain does not ship OpenH264. The `openh264-sys2` crate on crates.io
//! bundles an OpenH264 release under `upstream/`, but its build script
//! refuses wasm32-wasip2, so this crate lists it only as a (featureless,
//! nothing-compiling) build dependency: that makes cargo download it into
//! the registry on every fresh build. Here we find that unpacked copy.

use std::path::{Path, PathBuf};

/// The openh264-sys2 release whose sources we compile. Must match the
/// build-dependency in Cargo.toml.
pub const SYS2_VERSION: &str = "0.9.9";

/// Environment variable that points at an OpenH264 tree (the directory that
/// holds `codec/`), for vendored or offline builds.
pub const SOURCE_ENV: &str = "FRAMECHAIN_OPENH264_SRC";

/// Returns the OpenH264 source root (the directory containing `codec/`).
pub fn openh264_source() -> PathBuf {
    println!("cargo:rerun-if-env-changed={SOURCE_ENV}");
    if let Some(dir) = std::env::var_os(SOURCE_ENV) {
        let dir = PathBuf::from(dir);
        check(&dir).unwrap_or_else(|e| panic!("{SOURCE_ENV}={}: {e}", dir.display()));
        return dir;
    }
    let crate_dir = format!("openh264-sys2-{SYS2_VERSION}");
    let mut tried = Vec::new();
    for src in registry_src_dirs() {
        // One directory per registry index, e.g. index.crates.io-1949cf8c6b5b557f.
        let Ok(entries) = std::fs::read_dir(&src) else {
            continue;
        };
        for index in entries.flatten() {
            let dir = index.path().join(&crate_dir).join("upstream");
            if check(&dir).is_ok() {
                return dir;
            }
            tried.push(dir);
        }
    }
    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    panic!(
        "OpenH264 source not found. cargo should have downloaded openh264-sys2 {SYS2_VERSION} \
         (a build-dependency of this crate); looked in: [{}]. Set {SOURCE_ENV} to an OpenH264 \
         tree (the directory holding codec/) to build from elsewhere.",
        tried.join(", ")
    );
}

/// `$CARGO_HOME/registry/src` candidates: cargo does not tell build scripts
/// where its home is, so use the same rules cargo does.
fn registry_src_dirs() -> Vec<PathBuf> {
    let mut homes = Vec::new();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        homes.push(PathBuf::from(home));
    }
    if let Some(home) = std::env::var_os("HOME") {
        homes.push(PathBuf::from(home).join(".cargo"));
    }
    homes
        .into_iter()
        .map(|h| h.join("registry").join("src"))
        .collect()
}

fn check(dir: &Path) -> Result<(), String> {
    let header = dir.join("codec/api/wels/codec_api.h");
    if header.is_file() {
        Ok(())
    } else {
        Err(format!("{} is missing", header.display()))
    }
}
