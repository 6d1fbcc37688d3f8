//! A `framechain` process watched from outside, for the tests that attack
//! it (hostile stages, hostile files, compile bombs): its exit, its wall
//! time, its memory and its output, with the test killing a run that
//! hangs or floods memory, so that a regression fails the test instead of
//! hanging CI or taking the machine's memory.
//!
//! Two measures of memory, both read from /proc (`VmHWM`, the high-water
//! mark of resident memory) every couple of milliseconds until the process
//! exits: `own_peak_kib` is the CLI process alone, `peak_rss_kib` the
//! largest of it and its descendants (a compile worker). Not `wait4`'s
//! `ru_maxrss`: the kernel charges a child, at its `exec`, with the peak
//! of the memory it was forked from, the test binary's, which other tests
//! running beside it in the same binary make hundreds of MiB.

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

/// When the test ends a run, and how much of its output it keeps.
pub struct Limits {
    /// Longest the run may take before the test kills it.
    pub deadline: Duration,
    /// Resident memory past which the test kills it, KiB.
    pub kill_rss_kib: u64,
    /// Bytes of stdout and of stderr kept for the checks (the rest is only
    /// counted).
    pub kept_bytes: usize,
}

/// One finished process, as seen from outside.
pub struct Watched {
    /// The exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// The first [`Limits::kept_bytes`] of stdout (empty when it was not
    /// piped).
    pub stdout: Vec<u8>,
    /// The first [`Limits::kept_bytes`] of stderr (empty when it was not
    /// piped).
    pub stderr: Vec<u8>,
    /// All bytes written to stderr.
    pub stderr_len: usize,
    pub wall: Duration,
    /// The largest peak of the process and its descendants, KiB.
    pub peak_rss_kib: u64,
    /// The process's own peak (`VmHWM`), KiB.
    pub own_peak_kib: u64,
    /// Why the test killed it, if it did.
    pub killed: Option<String>,
}

/// Starts `command` and watches it until it ends, killing it past
/// `limits`. Piped stdout and stderr are drained all along, so the child
/// never blocks on a full pipe.
pub fn watch(command: &mut Command, limits: &Limits) -> Watched {
    let start = Instant::now();
    #[allow(
        clippy::zombie_processes,
        reason = "reaped by waitpid below, after its memory was read from /proc"
    )]
    let mut child = command.spawn().expect("framechain starts");
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    let kept_bytes = limits.kept_bytes;
    let drain = move |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let (mut kept, mut total) = (Vec::new(), 0);
            let Some(mut pipe) = pipe else {
                return (kept, total);
            };
            let mut buffer = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                total += n;
                let room = kept_bytes.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
            }
            (kept, total)
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let mut killed = None;
    let mut own_peak_kib = 0;
    let mut tree_peak_kib = 0;
    // One thread both watches and reaps, so the pid killed is always still
    // our unreaped child.
    let status = loop {
        // Read before reaping: after waitpid the process is gone.
        if let Some(peak) = proc_status_kib(pid, "VmHWM:") {
            own_peak_kib = own_peak_kib.max(peak);
            tree_peak_kib = tree_peak_kib.max(peak);
        }
        for descendant in descendants(pid) {
            if let Some(peak) = proc_status_kib(descendant, "VmHWM:") {
                tree_peak_kib = tree_peak_kib.max(peak);
            }
        }
        let mut status = 0;
        // SAFETY: the pointer is to a live local of the right type.
        let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if reaped == pid {
            break status;
        }
        assert_eq!(reaped, 0, "waitpid: {}", std::io::Error::last_os_error());
        if killed.is_none() {
            if start.elapsed() > limits.deadline {
                killed = Some(format!("still running after {:?}", limits.deadline));
            } else if let Some(rss) = proc_status_kib(pid, "VmRSS:")
                && rss > limits.kill_rss_kib
            {
                killed = Some(format!("resident memory {} MiB", rss >> 10));
            }
            if killed.is_some() {
                // SAFETY: pid is our child and not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let wall = start.elapsed();
    let (stdout, _) = stdout.join().expect("the stdout reader does not panic");
    let (stderr, stderr_len) = stderr.join().expect("the stderr reader does not panic");
    Watched {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        stdout,
        stderr,
        stderr_len,
        wall,
        peak_rss_kib: tree_peak_kib,
        own_peak_kib,
        killed,
    }
}

/// The processes below `pid` (its children, theirs, ...), as /proc lists
/// them per thread now; at most a few levels (the CLI's compile worker has
/// none of its own).
fn descendants(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let mut found = Vec::new();
    let mut level = vec![pid];
    for _ in 0..4 {
        let mut next = Vec::new();
        for parent in level {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
                continue;
            };
            for task in tasks.flatten() {
                let children =
                    std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                next.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<libc::pid_t>().ok()),
                );
            }
        }
        if next.is_empty() {
            break;
        }
        found.extend_from_slice(&next);
        level = next;
    }
    found
}

/// A `KEY: N kB` line of a running process's /proc status, KiB.
fn proc_status_kib(pid: libc::pid_t, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
