//! Compile bombs through the `framechain` command (issue 17, finding 3):
//! components of long straight-line functions that never run. The CLI
//! installs `framechain::compile_worker_main`, so stages are compiled in a
//! child process under a deadline and a memory limit; a bomb over a static
//! cap is refused before any compiling.
//!
//! Each run is watched from outside: its wall time, the CLI process's own
//! peak resident memory (`VmHWM` in /proc, read until it exits: the
//! worker's memory is not in it) and, from `wait4`, the peak of the CLI and
//! its reaped children together (`ru_maxrss` covers the worker too, and,
//! as crates/framechain-cli/tests/cli/hostile.rs explains, the test process's own memory at
//! the fork, so it is only an upper bound).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::watch::{Limits, watch};
use super::{path_str, scratch, stage_path};

#[path = "../../../framechain/tests/integration/compile_bomb_gen.rs"]
mod compile_bomb_gen;

/// Longest any run may take before the test kills it.
const HARD_DEADLINE: Duration = Duration::from_secs(60);

struct Finished {
    code: Option<i32>,
    stderr: String,
    wall: Duration,
    /// The CLI process alone, KiB.
    own_peak_kib: u64,
    /// The CLI process and its compile worker, KiB.
    tree_peak_kib: u64,
}

fn framechain_watched(args: &[&str], env: &[(&str, &str)], cache: &Path) -> Finished {
    let watched = watch(
        Command::new(env!("CARGO_BIN_EXE_framechain"))
            .args(args)
            .envs(env.iter().copied())
            .env("FRAMECHAIN_STAGE_PATH", stage_path())
            .env("XDG_CACHE_HOME", cache)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        &Limits {
            deadline: HARD_DEADLINE,
            // The deadline bounds a bomb here; memory is what is measured.
            kill_rss_kib: u64::MAX,
            kept_bytes: 1 << 20,
        },
    );
    Finished {
        code: watched.code,
        stderr: String::from_utf8_lossy(&watched.stderr).into_owned(),
        wall: watched.wall,
        own_peak_kib: watched.own_peak_kib,
        tree_peak_kib: watched.peak_rss_kib,
    }
}

fn assert_one_line(run: &Finished, expected: &str) {
    assert_eq!(run.code, Some(1), "exit status for: {}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("framechain: error: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(expected),
        "expected \"{expected}\" in: {}",
        run.stderr
    );
}

fn write_bomb(name: &str, bytes: &[u8]) -> String {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).expect("write the bomb");
    path_str(&path).to_owned()
}

#[test]
fn a_function_over_the_size_cap_is_refused_at_once() {
    // 13 functions of 3 MiB (39 MiB): before the caps, `inspect` compiled
    // them for tens of seconds at over a GB; now they are refused after
    // reading the first body's header.
    let bomb = write_bomb("over-cap.wasm", &compile_bomb_gen::component(13, 3 << 20));
    let cache = scratch().join("bomb-cache-over");
    let run = framechain_watched(&["inspect", &bomb], &[], &cache);
    assert_one_line(&run, "over the cap of 2097152 bytes on one function");
    assert!(
        run.stderr.contains("refused before compiling"),
        "{}",
        run.stderr
    );
    assert!(run.wall < Duration::from_secs(1), "{:?}", run.wall);
    // The file is read (39 MiB) and scanned; nothing is compiled (51 MiB
    // in all when measured; compiling it took 1.5 GB and more).
    assert!(
        run.own_peak_kib < 100 << 10,
        "peak {} MiB",
        run.own_peak_kib >> 10
    );
}

#[test]
fn a_slow_bomb_under_the_caps_is_stopped_at_the_deadline_in_a_worker() {
    // 12 functions of 900 KB: under every static cap, and several seconds
    // and hundreds of MiB to compile. With a 1 s deadline the worker is
    // killed and the CLI itself never holds the compiler's memory.
    let bomb = write_bomb("slow.wasm", &compile_bomb_gen::component(12, 900_000));
    let cache = scratch().join("bomb-cache-slow");
    let run = framechain_watched(
        &["inspect", &bomb],
        &[("FRAMECHAIN_COMPILE_DEADLINE", "1")],
        &cache,
    );
    assert_one_line(
        &run,
        &format!("stage {bomb}: compiling it took more than 1 s (compile deadline"),
    );
    assert!(run.wall < Duration::from_secs(4), "{:?}", run.wall);
    assert!(
        run.own_peak_kib < 100 << 10,
        "the CLI process peaked at {} MiB",
        run.own_peak_kib >> 10
    );
    // The worker compiled for a second before it was killed: it grew, the
    // parent did not.
    assert!(
        run.tree_peak_kib > run.own_peak_kib,
        "worker {} KiB, CLI {} KiB",
        run.tree_peak_kib,
        run.own_peak_kib
    );
}

#[test]
fn a_bomb_over_the_compile_memory_limit_is_stopped_in_the_worker() {
    let bomb = write_bomb("hungry.wasm", &compile_bomb_gen::component(12, 900_000));
    let cache = scratch().join("bomb-cache-hungry");
    let run = framechain_watched(
        &["inspect", &bomb],
        &[("FRAMECHAIN_COMPILE_MEMORY_MIB", "64")],
        &cache,
    );
    assert_one_line(
        &run,
        "compiling it needed more than 64 MiB (compile memory limit",
    );
    assert!(run.wall < Duration::from_secs(10), "{:?}", run.wall);
    // RLIMIT_DATA bounds the worker's heap; its code and stacks come on
    // top.
    assert!(
        run.tree_peak_kib < 120 << 10,
        "peak {} MiB",
        run.tree_peak_kib >> 10
    );
}

#[test]
fn a_bad_compile_limit_setting_is_one_line() {
    let cache = scratch().join("bomb-cache-settings");
    for (name, value) in [
        ("FRAMECHAIN_COMPILE_DEADLINE", "soon"),
        ("FRAMECHAIN_COMPILE_DEADLINE", "0"),
        ("FRAMECHAIN_COMPILE_MEMORY_MIB", "1"),
    ] {
        let run = framechain_watched(&["stages"], &[(name, value)], &cache);
        assert_one_line(&run, &format!("${name}: expected"));
    }
}

#[test]
fn a_stage_compiled_in_the_worker_is_cached_once_per_installation() {
    // The worker's output is stored in the signed cache by the parent: the
    // second process loads it from there without compiling. (The Python
    // and JavaScript stages, the largest, are compiled in the worker under
    // the default limits by crates/framechain-cli/tests/cli/languages.rs.)
    let cache = scratch().join("bomb-cache-once");
    let _ = std::fs::remove_dir_all(&cache);
    let inspect = || framechain_watched(&["--log-level", "info", "inspect", "redact"], &[], &cache);
    let first = inspect();
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(
        first.stderr.contains("in a compile worker process"),
        "{}",
        first.stderr
    );
    let second = inspect();
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert!(
        !second.stderr.contains("compiled stage"),
        "compiled again: {}",
        second.stderr
    );
}
