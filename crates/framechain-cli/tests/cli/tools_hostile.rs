//! The authoring tools under hostile input (issue 17, finding 6):
//! `package` reads its pipeline file, stage files and `--add` files as
//! `run` does (regular files under caps, never blocking on a FIFO, the
//! bytes checked are the bytes packaged), `check` judges a stage's outputs
//! as they come instead of holding them, and `new-stage` writes only
//! paths TOML and cargo read back as they were given.
//!
//! Each run is a real `framechain` process watched from outside: a run
//! that blocks or floods memory is killed by the test (after
//! [`DEADLINE`], or past [`KILL_RSS_MIB`]) so that a regression fails the
//! test instead of hanging CI or taking the machine's memory.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::watch::{Limits, watch};
use crate::{path_str, scratch, stage_path};

/// Longest a refusal may take, start-up included; a FIFO read blocks
/// forever, so the test kills the run then.
const DEADLINE: Duration = Duration::from_secs(20);
/// Past this resident size the test kills the run: well above what any
/// bounded run here needs (see [`BOUNDED_RSS_MIB`]), well below what the
/// unbounded reads reached (1.5 GB in 1 s from `/dev/zero`).
const KILL_RSS_MIB: u64 = 600;
/// Peak memory a bounded run of these tests may reach. `check` of a stage
/// returning 40 640x360 frames per input peaks at 26 MiB with its outputs
/// judged as they come, and at 544 MiB when it held them (1600 frames;
/// `scripts/tools-bounds.py`). Judged on the CLI's own peak (`VmHWM`, which
/// `exec` starts afresh), not on `wait4`'s `ru_maxrss`: that one also counts
/// this test binary's resident memory at the spawn (the child shares it
/// until `exec`), which reached 900 MiB while the telemedicine test held
/// decoded video beside these tests, and failed bounded runs.
const BOUNDED_RSS_MIB: u64 = 250;

/// One finished `framechain` process, as seen from outside.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    wall: Duration,
    peak_rss_mib: u64,
    /// Why the test killed it, if it did.
    killed: Option<String>,
}

impl Finished {
    fn shown(&self) -> String {
        format!(
            "exit {:?}, {:.2} s, peak RSS {} MiB{}: stderr {:?}",
            self.code,
            self.wall.as_secs_f64(),
            self.peak_rss_mib,
            self.killed
                .as_deref()
                .map(|why| format!(", killed by the test: {why}"))
                .unwrap_or_default(),
            self.stderr.chars().take(2000).collect::<String>()
        )
    }

    /// Exit 1, one line on stderr `framechain: error: ...`, holding each
    /// of `expected`; and quickly, in bounded memory.
    fn assert_refused(&self, expected: &[&str]) {
        assert!(self.killed.is_none(), "{}", self.shown());
        assert_eq!(self.code, Some(1), "exit 1 expected: {}", self.shown());
        assert_eq!(self.stderr.lines().count(), 1, "{}", self.shown());
        assert!(
            self.stderr.starts_with("framechain: error: "),
            "{}",
            self.shown()
        );
        for text in expected {
            assert!(
                self.stderr.contains(text),
                "expected {text:?}: {}",
                self.shown()
            );
        }
        assert!(self.peak_rss_mib < BOUNDED_RSS_MIB, "{}", self.shown());
    }
}

/// Runs `framechain args`, killing it after [`DEADLINE`] or past
/// [`KILL_RSS_MIB`]; its peak memory is its own `VmHWM`.
fn run_watched(args: &[&str]) -> Finished {
    let watched = watch(
        Command::new(env!("CARGO_BIN_EXE_framechain"))
            .args(args)
            .env("FRAMECHAIN_STAGE_PATH", stage_path())
            .env("XDG_CACHE_HOME", scratch().join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        &Limits {
            deadline: DEADLINE,
            kill_rss_kib: KILL_RSS_MIB << 10,
            kept_bytes: 1 << 20,
        },
    );
    Finished {
        code: watched.code,
        stdout: String::from_utf8_lossy(&watched.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&watched.stderr).into_owned(),
        wall: watched.wall,
        // The CLI's own high-water mark, sampled until it exits (it keeps
        // its peak, so a late sample still sees an early spike).
        peak_rss_mib: watched.own_peak_kib >> 10,
        killed: watched.killed,
    }
}

/// A fresh folder of the test's own.
fn folder(name: &str) -> PathBuf {
    let dir = scratch().join(format!("tools-{name}"));
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

fn digest_of(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let name = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let made = unsafe { libc::mkfifo(name.as_ptr(), 0o600) };
    assert_eq!(made, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

/// A sparse file of `bytes` (no disk used): a huge file that costs nothing
/// to make, and all of it to read.
fn sparse(path: &Path, bytes: u64) {
    std::fs::File::create(path).unwrap().set_len(bytes).unwrap();
}

/// A pipeline file in `dir` naming `stages` (one `- stage:` line each).
fn pipeline(dir: &Path, stages: &[&str]) -> PathBuf {
    let mut text = String::from("version: 1\nstages:\n");
    for stage in stages {
        text.push_str(&format!("  - stage: \"{stage}\"\n"));
    }
    let file = dir.join("pipeline.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

fn package(pipeline: &Path, image: &Path, extra: &[&str]) -> Finished {
    let mut args = vec!["package", "-p", path_str(pipeline), "-o", path_str(image)];
    args.extend_from_slice(extra);
    run_watched(&args)
}

#[test]
fn package_refuses_a_device_as_pipeline_stage_or_added_file() {
    let dir = folder("device");
    let image = dir.join("image.tar");
    package(Path::new("/dev/zero"), &image, &[]).assert_refused(&[
        "pipeline file /dev/zero",
        "character device",
        "1 MiB",
    ]);
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.wasm")).unwrap();
    package(&pipeline(&dir, &["./zero.wasm"]), &image, &[]).assert_refused(&[
        "zero.wasm",
        "not a regular file",
        "64 MiB",
    ]);
    package(
        &pipeline(&dir, &["scale"]),
        &image,
        &["--add", "/dev/zero:clip.y4m"],
    )
    .assert_refused(&["--add file /dev/zero", "character device", "256 MiB"]);
    assert!(!image.exists(), "no image is written on a refusal");
}

#[test]
fn package_refuses_a_fifo_without_blocking() {
    let dir = folder("fifo");
    let image = dir.join("image.tar");
    // Nobody ever writes to these: reading one would block forever.
    let fifo = dir.join("pipeline.fifo");
    mkfifo(&fifo);
    package(&fifo, &image, &[]).assert_refused(&["pipeline.fifo", "FIFO", "1 MiB"]);
    let stage = dir.join("stage.wasm");
    mkfifo(&stage);
    package(&pipeline(&dir, &["./stage.wasm"]), &image, &[])
        .assert_refused(&["stage.wasm", "FIFO"]);
    let add = format!("{}:clip.y4m", fifo.display());
    package(&pipeline(&dir, &["scale"]), &image, &["--add", &add]).assert_refused(&[
        "--add file",
        "pipeline.fifo",
        "FIFO",
        "256 MiB",
    ]);
}

#[test]
fn package_refuses_huge_files_before_reading_them() {
    let dir = folder("huge");
    let image = dir.join("image.tar");
    // 4 GiB, sparse: reading it would take 4 GiB of memory.
    let huge = dir.join("huge");
    sparse(&huge, 4 << 30);
    package(&huge, &image, &[]).assert_refused(&[
        "pipeline file",
        "4294967296 bytes",
        "over the limit of 1 MiB",
    ]);
    let stage = dir.join("huge.wasm");
    sparse(&stage, 4 << 30);
    package(&pipeline(&dir, &["./huge.wasm"]), &image, &[])
        .assert_refused(&["huge.wasm", "64 MiB"]);
    let add = format!("{}:clip.y4m", huge.display());
    package(&pipeline(&dir, &["scale"]), &image, &["--add", &add]).assert_refused(&[
        "--add file",
        "4294967296 bytes",
        "over the limit of 256 MiB",
    ]);
}

/// Every file of an image tarball made by `package` (tar-layer form),
/// by its path in the image.
fn files_in_image(image: &Path) -> std::collections::HashMap<String, Vec<u8>> {
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
    let mut files = std::collections::HashMap::new();
    for entry in tar::Archive::new(layer.as_slice()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        files.insert(path, data);
    }
    files
}

#[test]
fn package_packs_the_bytes_it_checked_and_one_file_per_image_path() {
    let dir = folder("same-bytes");
    std::fs::create_dir_all(dir.join("stages")).unwrap();
    let image = dir.join("image.tar");
    // The built-in `scale` goes to /stages/scale.wasm; so does a stage the
    // file names by the path ./stages/scale.wasm.
    std::fs::copy(built("scale"), dir.join("stages/scale.wasm")).unwrap();
    let run = package(
        &pipeline(
            &dir,
            &["scale", "./stages/scale.wasm", "./stages/scale.wasm"],
        ),
        &image,
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.shown());
    let files = files_in_image(&image);
    let packaged = &files["stages/scale.wasm"];
    let wanted = digest_of(&std::fs::read(built("scale")).unwrap());
    assert_eq!(
        digest_of(packaged),
        wanted,
        "the packaged bytes are the file's"
    );
    let yaml = String::from_utf8(files["pipeline.yaml"].clone()).unwrap();
    assert_eq!(
        yaml.matches(&format!("digest: \"{wanted}\"")).count(),
        3,
        "each stage is pinned to the bytes packaged: {yaml}"
    );
    // Another file under the same image path would be packaged as the
    // first one, though the host checked the second: refused.
    std::fs::copy(built("redact"), dir.join("stages/scale.wasm")).unwrap();
    package(
        &pipeline(&dir, &["scale", "./stages/scale.wasm"]),
        &image,
        &[],
    )
    .assert_refused(&["/stages/scale.wasm", "different file"]);
}

#[test]
fn check_judges_outputs_as_they_come_in_bounded_memory() {
    // 40 new 640x360 frames per input: 1600 frames (530 MiB) from 40
    // inputs if the outputs were kept.
    let run = run_watched(&[
        "check",
        "test-stage",
        "behaviour=multiply",
        "--size",
        "640x360",
        "--frames",
        "40",
    ]);
    assert!(run.killed.is_none(), "{}", run.shown());
    assert!(
        run.stdout
            .contains("inside their frames in 1600 output frames"),
        "every output is still judged: {}\n{}",
        run.stdout,
        run.shown()
    );
    assert!(
        run.peak_rss_mib < BOUNDED_RSS_MIB,
        "peak RSS under {BOUNDED_RSS_MIB} MiB: {}",
        run.shown()
    );
}

/// A folder cargo takes for the stage SDK, under a name of our choosing.
fn fake_sdk(dir: &Path, name: &str) -> PathBuf {
    let sdk = dir.join(name);
    std::fs::create_dir_all(sdk.join("src")).unwrap();
    std::fs::write(
        sdk.join("Cargo.toml"),
        "[package]\nname = \"framechain-stage\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    )
    .unwrap();
    std::fs::write(sdk.join("src/lib.rs"), "").unwrap();
    sdk
}

#[test]
fn new_stage_refuses_an_sdk_path_that_breaks_cargo_toml() {
    let dir = folder("sdk-control");
    for (name, shown) in [
        ("sdk\nname = \"evil\"", "\\u{a}"),
        ("sdk\u{7f}", "\\u{7f}"),
        ("sdk\t", "\\u{9}"),
    ] {
        let sdk = fake_sdk(&dir, name);
        let crate_dir = dir.join("crate");
        let run = run_watched(&[
            "new-stage",
            "box",
            path_str(&crate_dir),
            "--sdk",
            path_str(&sdk),
        ]);
        run.assert_refused(&["--sdk", "control character", shown, "Cargo.toml"]);
        assert!(
            !crate_dir.join("Cargo.toml").exists(),
            "nothing is written on a refusal"
        );
    }
    // The crate's folder is printed in the next steps to run (`cd DIR`).
    let sdk = fake_sdk(&dir, "sdk");
    let crate_dir = dir.join("crate\nrm -rf x");
    let run = run_watched(&[
        "new-stage",
        "box",
        path_str(&crate_dir),
        "--sdk",
        path_str(&sdk),
    ]);
    run.assert_refused(&["refusing folder", "control character", "\\u{a}"]);
    assert!(!crate_dir.exists(), "nothing is written on a refusal");
}

#[test]
fn new_stage_writes_quotes_and_backslashes_in_the_sdk_path_as_cargo_reads_them() {
    let dir = folder("sdk-quotes");
    let sdk = fake_sdk(&dir, r#"my "sdk" \ copy"#);
    let crate_dir = dir.join("crate");
    let run = run_watched(&[
        "new-stage",
        "box",
        path_str(&crate_dir),
        "--sdk",
        path_str(&sdk),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.shown());
    // Cargo reads the manifest back, path dependency and all.
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo reads the manifest: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let dependency = &metadata["packages"][0]["dependencies"][0];
    assert_eq!(dependency["name"], "framechain-stage");
    assert_eq!(
        dependency["path"].as_str(),
        Some(path_str(&std::fs::canonicalize(&sdk).unwrap())),
        "{dependency}"
    );
}
