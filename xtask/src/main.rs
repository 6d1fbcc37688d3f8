//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `setup`: installs what the build needs (wasm target, Debian packages).
//! - `build`: builds the stage components for `wasm32-wasip2` and the CLI.
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
        package: "framechain-test-stage",
        stage: "test-stage",
        shipped: false,
    },
    StageCrate {
        package: "framechain-test-packets",
        stage: "test-packets",
        shipped: false,
    },
];

const WASM_TARGET: &str = "wasm32-wasip2";

/// The default job: a generated 1080p clip, a policy rectangle filled,
/// scaled to 720p.
const DEMO_CHAIN: &str = "redact rect=120,67,600,135 mode=fill ! scale width=1280 height=720";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let result = match task {
        "setup" => setup(),
        "build" => setup().and_then(|()| build()),
        "demo" => setup().and_then(|()| build()).and_then(|()| demo()),
        "test" => setup().and_then(|()| build()).and_then(|()| test()),
        "bench" => setup()
            .and_then(|()| build())
            .and_then(|()| bench(&args[1..])),
        "help" | "--help" | "-h" => {
            println!("usage: cargo xtask <setup|build|demo|test|bench [criterion args]>");
            Ok(())
        }
        other => Err(format!(
            "unknown task \"{other}\" (tasks: setup, build, demo, test, bench)"
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
        std::fs::copy(&from, &to).map_err(|error| {
            format!(
                "cannot copy {} to {}: {error}",
                from.display(),
                to.display()
            )
        })?;
    }
    run(cargo().args(["build", "--release", "-p", "framechain-cli"]))
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
    let output = out.join("redacted-720p.y4m");
    let snapshot = out.join("before-after.png");
    run(Command::new(target_dir().join("release/framechain"))
        .args([
            "run",
            DEMO_CHAIN,
            "-i",
            "testsrc",
            "--size",
            "1920x1080",
            "--frames",
            "90",
            "-o",
        ])
        .arg(&output)
        .arg("--snapshot")
        .arg(&snapshot))?;
    println!("demo: wrote {}", output.display());
    println!(
        "demo: wrote {} (left: input frame 0, right: output frame 0)",
        snapshot.display()
    );
    Ok(())
}

fn test() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let mut clippy_wasm = cargo();
    clippy_wasm.args(["clippy", "--release", "--target", WASM_TARGET]);
    for stage in STAGE_CRATES {
        clippy_wasm.args(["-p", stage.package]);
    }
    run(clippy_wasm.args(["--", "-D", "warnings"]))?;
    run(cargo()
        .args(["test", "--workspace", "--release"])
        .env("FRAMECHAIN_STAGE_PATH", stage_path()))
}

fn bench(extra: &[String]) -> Result<(), String> {
    run(cargo()
        .args(["bench", "-p", "framechain-benches", "--"])
        .args(extra)
        .env("FRAMECHAIN_STAGE_PATH", stage_path()))
}
