//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `setup`: installs what the build needs (wasm target, Debian packages).
//! - `build`: builds the stage components for `wasm32-wasip2` and the CLI.
//! - `stages`: builds only the stage components.
//! - `demo`: the main job on the built-in default input.
//! - `test`: formatting, lints and the whole test suite.
//! - `bench`: the criterion benchmarks.
//!
//! Each task does the set-up it needs itself, so a fresh clone needs
//! nothing but cargo.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A stage component crate and the file name its `.wasm` gets.
struct StageCrate {
    package: &'static str,
    stage: &'static str,
    /// Shipped stages go to `target/stages`, test-only ones to `target/test-stages`.
    shipped: bool,
}

const STAGE_CRATES: &[StageCrate] = &[
    StageCrate {
        package: "framechain-scale",
        stage: "scale",
        shipped: true,
    },
    StageCrate {
        package: "framechain-redact",
        stage: "redact",
        shipped: true,
    },
    StageCrate {
        package: "framechain-decode-h264",
        stage: "decode-h264",
        shipped: true,
    },
    StageCrate {
        package: "framechain-encode-h264",
        stage: "encode-h264",
        shipped: true,
    },
    StageCrate {
        package: "framechain-parse-h264",
        stage: "parse-h264",
        shipped: true,
    },
    StageCrate {
        package: "framechain-test-stage",
        stage: "test-stage",
        shipped: false,
    },
    StageCrate {
        package: "framechain-fuzz-stage",
        stage: "fuzz-stage",
        shipped: false,
    },
    StageCrate {
        package: "framechain-test-packets",
        stage: "test-packets",
        shipped: false,
    },
    StageCrate {
        package: "framechain-invert-box",
        stage: "invert-box",
        shipped: false,
    },
];

const WASM_TARGET: &str = "wasm32-wasip2";

/// The default job: a generated 1080p clip stands in for a patient's
/// camera (encoded to H.264 first), then the telemedicine pipeline.
const DEMO_PIPELINE: &str = "examples/telemedicine.yaml";
/// Seconds of generated camera footage at 30 fps.
const DEMO_FRAMES: &str = "150";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let result = match task {
        "setup" => setup(),
        "build" => setup().and_then(|()| build()),
        "stages" => setup().and_then(|()| build_stages()),
        "demo" => setup().and_then(|()| build()).and_then(|()| demo()),
        "test" => test(),
        "bench" => setup()
            .and_then(|()| build())
            .and_then(|()| bench(&args[1..])),
        "help" | "--help" | "-h" => {
            println!("usage: cargo xtask <setup|build|stages|demo|test|bench [criterion args]>");
            Ok(())
        }
        other => Err(format!(
            "unknown task \"{other}\" (tasks: setup, build, stages, demo, test, bench)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    eprintln!("xtask: {shown}");
    let status = command
        .current_dir(root())
        .status()
        .map_err(|error| format!("cannot start {shown}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn setup() -> Result<(), String> {
    run(Command::new("bash").arg(root().join("scripts/setup.sh")))
}

/// Builds every stage component in release mode for wasm32-wasip2, copies
/// them to `target/stages` and `target/test-stages` under their stage
/// names, then builds the CLI.
fn build() -> Result<(), String> {
    build_stages()?;
    run(cargo().args(["build", "--release", "-p", "framechain-cli"]))
}

/// The stage components (Rust, then Python and JavaScript), into
/// `target/stages` and `target/test-stages`.
fn build_stages() -> Result<(), String> {
    let mut command = cargo();
    command.args(["build", "--release", "--target", WASM_TARGET]);
    for stage in STAGE_CRATES {
        command.args(["-p", stage.package]);
    }
    run(&mut command)?;
    let built = target_dir().join(WASM_TARGET).join("release");
    for stage in STAGE_CRATES {
        let folder = target_dir().join(if stage.shipped {
            "stages"
        } else {
            "test-stages"
        });
        std::fs::create_dir_all(&folder)
            .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
        let from = built.join(format!("{}.wasm", stage.package.replace('-', "_")));
        let to = folder.join(format!("{}.wasm", stage.stage));
        copy(&from, &to)?;
    }
    build_sleepy_describe()?;
    build_language_stages()
}

/// The test stage again, with `describe` sleeping an hour (feature
/// `sleepy-describe`), as `target/test-stages/test-stage-sleepy-describe.wasm`.
/// Runs after the normal build has been copied: both builds write the same
/// `framechain_test_stage.wasm`, so the copies must not cross.
fn build_sleepy_describe() -> Result<(), String> {
    run(cargo().args([
        "build",
        "--release",
        "--target",
        WASM_TARGET,
        "-p",
        "framechain-test-stage",
        "--features",
        "sleepy-describe",
    ]))?;
    let built = target_dir().join(WASM_TARGET).join("release");
    copy(
        &built.join("framechain_test_stage.wasm"),
        &target_dir().join("test-stages/test-stage-sleepy-describe.wasm"),
    )
}

/// The Python and JavaScript stages (componentize-py, componentize-js),
/// as `target/test-stages/python-invert-box.wasm` and `js-invert-box.wasm`:
/// the script installs the pinned tools and builds only what changed.
fn build_language_stages() -> Result<(), String> {
    run(Command::new("bash")
        .arg(root().join("scripts/build-language-stages.sh"))
        .env("CARGO_TARGET_DIR", target_dir()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to).map(drop).map_err(|error| {
        format!(
            "cannot copy {} to {}: {error}",
            from.display(),
            to.display()
        )
    })
}

/// Environment that lets tests and benches find the built stages.
fn stage_path() -> String {
    let target = target_dir();
    format!(
        "{}:{}",
        target.join("stages").display(),
        target.join("test-stages").display()
    )
}

fn demo() -> Result<(), String> {
    let out = root().join("demo-output");
    std::fs::create_dir_all(&out)
        .map_err(|error| format!("cannot create {}: {error}", out.display()))?;
    let framechain = target_dir().join("release/framechain");
    let camera = out.join("camera-1080p.h264");
    let output = out.join("redacted-720p.h264");
    let snapshot = out.join("before-after.png");
    // 1. The "patient camera": a generated 1080p30 clip with a burnt-in name
    //    plate, encoded to H.264 at 6 Mbit/s.
    run(Command::new(&framechain)
        .args([
            "run",
            "encode-h264 bitrate=6M fps=30 gop=60",
            "-i",
            "testsrc",
            "--size",
            "1920x1080",
        ])
        .args(["--frames", DEMO_FRAMES, "-q", "-o"])
        .arg(&camera))?;
    // 2. The telemedicine pipeline: decode, redact, scale, encode.
    run(Command::new(&framechain)
        .args(["run", "--pipeline", DEMO_PIPELINE, "-i"])
        .arg(&camera)
        .arg("-o")
        .arg(&output)
        .arg("--snapshot")
        .arg(&snapshot))?;
    println!("demo: camera stream  {}", camera.display());
    println!("demo: redacted 720p  {}", output.display());
    println!(
        "demo: snapshot       {} (left: decoded input, right: redacted and scaled, before encoding)",
        snapshot.display()
    );
    Ok(())
}

/// What CI runs (`.ci/run`), phase by phase; each phase's wall time is
/// printed at the end, whether it passed or not.
///
/// Every native build here selects the whole workspace the way
/// `cargo test --workspace` does, so cargo resolves one set of features
/// and builds each dependency (wasmtime above all) once: a build of
/// `-p framechain-cli` alone, or of the shim alone, resolves other features
/// and compiled wasmtime again, several minutes each. The binaries the
/// scripts run (`framechain`, the shim) are the ones `cargo test` built.
fn test() -> Result<(), String> {
    let mut phases = Phases::default();
    let result = test_phases(&mut phases);
    phases.report();
    result
}

fn test_phases(phases: &mut Phases) -> Result<(), String> {
    phases.time("setup", setup)?;
    phases.time("stages (wasm32-wasip2, Python, JavaScript)", build_stages)?;
    phases.time("fmt", || run(cargo().args(["fmt", "--all", "--check"])))?;
    phases.time("clippy (native)", || {
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    phases.time("clippy (wasm32-wasip2)", || {
        let mut clippy_wasm = cargo();
        clippy_wasm.args(["clippy", "--release", "--target", WASM_TARGET]);
        for stage in STAGE_CRATES {
            clippy_wasm.args(["-p", stage.package]);
        }
        run(clippy_wasm.args(["--", "-D", "warnings"]))?;
        run(cargo().args([
            "clippy",
            "--release",
            "--target",
            WASM_TARGET,
            "-p",
            "framechain-test-stage",
            "--features",
            "sleepy-describe",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    phases.time("build (host, CLI, shim, tests)", || {
        run(cargo().args(["test", "--workspace", "--release", "--no-run"]))
    })?;
    phases.time("tests", || {
        run(cargo()
            .args(["test", "--workspace", "--release"])
            .env("FRAMECHAIN_STAGE_PATH", stage_path()))
    })?;
    // The embedding example for async servers, run as built by the test
    // build (`cargo test` builds examples): it checks its own outcome.
    phases.time("example (live_tokio)", || {
        run(
            Command::new(target_dir().join("release/examples/live_tokio"))
                .env("FRAMECHAIN_STAGE_PATH", stage_path()),
        )
    })?;
    // The manifests of deploy/k3s against Kubernetes 1.30's API schemas,
    // offline (kubernetes-validate; about 1 s, plus a one-time pip install).
    phases.time("manifests", || {
        run(Command::new("bash").arg(root().join("scripts/validate-manifests.sh")))
    })?;
    // The contract as a binary WIT package (what authors in any language
    // build against), and every built stage exporting its version
    // (wasm-tools; a few seconds, plus a one-time pip install).
    phases.time("WIT package", || {
        run(Command::new("sh").arg(root().join("scripts/wit-package.sh")))
    })?;
    // The containerd shim end to end: a private containerd, `ctr run` and
    // the CRI path on a real clip. Fails (never skips) when it cannot run.
    // It runs the binaries the workspace test build made.
    phases.time("containerd", || {
        run(Command::new("bash")
            .arg(root().join("crates/containerd-shim-framechain/tests/containerd.sh"))
            .env("FRAMECHAIN_TEST_BIN", target_dir().join("release")))
    })
}

/// Wall time of each phase of a task, printed as a table at the end.
#[derive(Default)]
struct Phases {
    done: Vec<(&'static str, std::time::Duration, bool)>,
}

impl Phases {
    fn time(
        &mut self,
        name: &'static str,
        phase: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        let start = std::time::Instant::now();
        let result = phase();
        self.done.push((name, start.elapsed(), result.is_ok()));
        result
    }

    fn report(&self) {
        let total: std::time::Duration = self.done.iter().map(|(_, time, _)| *time).sum();
        eprintln!("xtask: phase times");
        for (name, time, ok) in &self.done {
            let status = if *ok { "" } else { "  (failed)" };
            eprintln!("xtask:   {:>7.1} s  {name}{status}", time.as_secs_f64());
        }
        eprintln!("xtask:   {:>7.1} s  total", total.as_secs_f64());
    }
}

fn bench(extra: &[String]) -> Result<(), String> {
    run(cargo()
        .args(["bench", "-p", "framechain-benches", "--"])
        .args(extra)
        .env("FRAMECHAIN_STAGE_PATH", stage_path()))
}
