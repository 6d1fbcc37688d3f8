//! Compiling a stage under limits (issue 17, finding 3: compile bombs).
//!
//! Cranelift's time and memory grow with the size of a function's body, and
//! nothing of a stage runs before it is compiled, so the per-call time and
//! memory limits cannot help: a component of long straight-line functions
//! that never run took 13 s and 1.5 GB to compile at 13 MiB, and a 62 MiB one
//! was still compiling after 150 s at 2 GB. Two defences:
//!
//! 1. [`scan`]: static caps, checked with wasmparser before anything is
//!    compiled: the number of functions, the size of any one function's
//!    body and the total code, over the component and every core module
//!    nested in it. It reads only section and body headers, so refusing
//!    even a 64 MiB file takes milliseconds.
//! 2. [`compile_in_worker`]: compilation in a child process (this same
//!    executable, re-run through [`compile_worker_main`]) with a data-size
//!    limit (`RLIMIT_DATA`), a CPU-time limit and a wall-clock deadline
//!    after which it is killed. A bomb under the static caps can then cost
//!    the child, never the serving process, and its memory goes back to the
//!    system when the child exits. Without the hook (an embedder that does
//!    not call [`compile_worker_main`], the tests) the engine compiles in
//!    its own process with only the static caps.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{CompileLimit, Error, Result};

/// Default of [`crate::EngineConfig::max_functions`]. The stage with the
/// most, CPython in the Python test stage (`python-invert-box.wasm`), has
/// 13 395 (docs/security.md, "Compile limits"); 100 000 is 7.5 times that.
pub const DEFAULT_MAX_FUNCTIONS: usize = 100_000;
/// Default of [`crate::EngineConfig::max_function_bytes`]. The largest body
/// in any shipped or test stage is CPython's bytecode interpreter loop,
/// 426 843 bytes; 2 MiB is 4.9 times that. A straight-line body of 1 MiB
/// takes about 2 s and 165 MB to compile, and the cost grows with the body.
pub const DEFAULT_MAX_FUNCTION_BYTES: usize = 2 << 20;
/// Default of [`crate::EngineConfig::max_code_bytes`]: all function bodies
/// together. The JavaScript test stage (`js-invert-box.wasm`, an embedded
/// JavaScript engine) has the most, 9.2 MB; 32 MiB is 3.6 times that.
pub const DEFAULT_MAX_CODE_BYTES: usize = 32 << 20;
/// Default of [`crate::EngineConfig::compile_deadline`]. The slowest stage
/// to compile, the JavaScript one, took 31 s on the 2-core development VM
/// at a load average of 8 (about 12 s on idle cores); 120 s leaves room
/// for a busy node, where the worker also runs at a lower priority.
pub const DEFAULT_COMPILE_DEADLINE: Duration = Duration::from_secs(120);
/// Default of [`crate::EngineConfig::compile_memory_limit`]: the compile
/// worker's heap (`RLIMIT_DATA`). The JavaScript stage, the hungriest,
/// peaks at 400 MB resident in the worker (it fails at 256 MiB); 512 MiB
/// beside `framechain serve` (about 100 MB when idle) stays well under the
/// 1 GiB memory limit of the K3s Deployment (deploy/k3s/), and one process
/// runs one worker at a time.
pub const DEFAULT_COMPILE_MEMORY_LIMIT: usize = 512 << 20;

/// Environment variable that overrides [`DEFAULT_COMPILE_DEADLINE`]
/// (seconds, e.g. `2.5`) for every engine made with
/// `EngineConfig::default()` in this process, such as the CLI's.
pub const COMPILE_DEADLINE_ENV: &str = "FRAMECHAIN_COMPILE_DEADLINE";
/// Environment variable that overrides [`DEFAULT_COMPILE_MEMORY_LIMIT`]
/// (MiB) in the same way.
pub const COMPILE_MEMORY_ENV: &str = "FRAMECHAIN_COMPILE_MEMORY_MIB";

/// What the static scan counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeSize {
    /// Function bodies in the component and its nested modules.
    pub functions: usize,
    /// The largest single body, bytes.
    pub largest_function: usize,
    /// All bodies together, bytes.
    pub code_bytes: usize,
}

/// The static caps of one engine.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StaticCaps {
    pub max_functions: usize,
    pub max_function_bytes: usize,
    pub max_code_bytes: usize,
}

/// Counts the functions and code of `wasm` (a component or a core module,
/// nested modules included) and refuses it at the first cap it passes.
/// Only section and body headers are read. A file wasmparser cannot read is
/// refused as invalid, as compiling it would be.
pub(crate) fn scan(path: &Path, wasm: &[u8], caps: StaticCaps) -> Result<CodeSize> {
    let over = |limit| Error::CompileLimit {
        path: path.to_owned(),
        limit,
    };
    let mut size = CodeSize::default();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|error| Error::InvalidComponent {
            path: path.to_owned(),
            reason: crate::text::untrusted(&error.to_string(), crate::text::MAX_MESSAGE_CHARS),
        })?;
        match payload {
            // The count is known before any body is read: a section that
            // declares too many is refused without walking it.
            wasmparser::Payload::CodeSectionStart { count, .. } => {
                let total = size.functions.saturating_add(count as usize);
                if total > caps.max_functions {
                    return Err(over(CompileLimit::Functions {
                        count: total,
                        max: caps.max_functions,
                    }));
                }
            }
            wasmparser::Payload::CodeSectionEntry(body) => {
                let bytes = body.range().len();
                if bytes > caps.max_function_bytes {
                    return Err(over(CompileLimit::FunctionBytes {
                        index: size.functions,
                        bytes,
                        max: caps.max_function_bytes,
                    }));
                }
                size.functions += 1;
                size.largest_function = size.largest_function.max(bytes);
                size.code_bytes = size.code_bytes.saturating_add(bytes);
                if size.code_bytes > caps.max_code_bytes {
                    return Err(over(CompileLimit::CodeBytes {
                        bytes: size.code_bytes,
                        max: caps.max_code_bytes,
                    }));
                }
            }
            _ => {}
        }
    }
    Ok(size)
}

/// The function and code counts of a component or core module, without
/// caps: what `scripts/compile-bomb.sh` and the docs' measurements of the
/// real stages use to set the defaults.
pub fn code_size(wasm: &[u8]) -> Result<CodeSize> {
    scan(
        Path::new("<bytes>"),
        wasm,
        StaticCaps {
            max_functions: usize::MAX,
            max_function_bytes: usize::MAX,
            max_code_bytes: usize::MAX,
        },
    )
}

/// The marker argument a compile worker is started with (`argv[1]`).
const WORKER_ARG: &str = "--framechain-compile-worker";
/// Set once [`compile_worker_main`] has run in this process: the executable
/// knows how to be a compile worker, so engines compile in one.
static WORKER_INSTALLED: AtomicBool = AtomicBool::new(false);
/// Set when starting a worker failed because this root lacks the
/// executable or its ELF interpreter (the containerd shim runs jobs and
/// `serve` inside the image's root, which holds neither).
static WORKER_UNREACHABLE: AtomicBool = AtomicBool::new(false);

/// Call first thing in `main` of a program that loads stages (the
/// `framechain` CLI, `framechain serve` and the containerd shim do). When
/// the process was started as a compile worker it compiles the component
/// on its stdin, writes the result to its stdout and exits: it never
/// returns then. Otherwise it records that this executable can be re-run
/// as a worker, so that every [`crate::Engine`] in the process compiles
/// stages in a child process under [`crate::EngineConfig::compile_deadline`]
/// and [`crate::EngineConfig::compile_memory_limit`], and returns.
///
/// It also checks [`COMPILE_DEADLINE_ENV`] and [`COMPILE_MEMORY_ENV`]: a
/// value that is not a positive number ends the program with one line.
pub fn compile_worker_main() {
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() == Some(WORKER_ARG.as_ref()) {
        let settings: Vec<OsString> = args.collect();
        std::process::exit(worker(&settings));
    }
    let problems = [
        parse_deadline_env()
            .and_then(Result::err)
            .map(|e| (COMPILE_DEADLINE_ENV, e)),
        env_memory()
            .and_then(Result::err)
            .map(|e| (COMPILE_MEMORY_ENV, e)),
    ];
    if let Some((name, message)) = problems.into_iter().flatten().next() {
        eprintln!("framechain: error: ${name}: {message}");
        std::process::exit(1);
    }
    WORKER_INSTALLED.store(true, Ordering::Relaxed);
}

/// [`COMPILE_DEADLINE_ENV`], if set.
pub(crate) fn parse_deadline_env() -> Option<Result<Duration, String>> {
    let text = std::env::var(COMPILE_DEADLINE_ENV).ok()?;
    Some(match text.trim().parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 86_400.0 => Ok(Duration::from_secs_f64(seconds)),
        _ => Err(format!(
            "expected a compile deadline in seconds, more than 0 and at most 86400, got \"{}\"",
            crate::text::untrusted(&text, 40)
        )),
    })
}

/// [`COMPILE_MEMORY_ENV`], if set, in bytes.
pub(crate) fn env_memory() -> Option<Result<usize, String>> {
    let text = std::env::var(COMPILE_MEMORY_ENV).ok()?;
    Some(match text.trim().parse::<usize>() {
        Ok(mib @ 16..=1_048_576) => Ok(mib << 20),
        _ => Err(format!(
            "expected a compile memory limit in MiB, from 16 to 1048576, got \"{}\"",
            crate::text::untrusted(&text, 40)
        )),
    })
}

/// Whether stages are compiled in a worker process: [`compile_worker_main`]
/// ran in this process, and the process can start its own executable.
/// When the hook ran but no worker can start here (inside a container's
/// root, which lacks `/proc`, the executable or its ELF interpreter),
/// stages are compiled in this process under the static caps only, with
/// one warning per process; the container's memory limit then bounds what
/// a compile can take.
pub(crate) fn worker_installed() -> bool {
    if !WORKER_INSTALLED.load(Ordering::Relaxed) {
        return false;
    }
    if !WORKER_UNREACHABLE.load(Ordering::Relaxed) && worker_executable().is_some() {
        return true;
    }
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        log::warn!(
            "no compile worker: this process cannot start its own executable (not in this \
             root), so stages are compiled in this process under the static caps only"
        );
    });
    false
}

/// The settings that change the code wasmtime generates; the worker's
/// engine must be made with the same ones, or the parent's engine refuses
/// the artifact (wasmtime checks its flags and tunables on deserialize).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CodeSettings {
    /// `Some(bytes)`: the pooling allocator's memory reservation, which
    /// turns bounds checks explicit.
    pub pooled_reservation: Option<u64>,
    pub perfmap: bool,
}

impl CodeSettings {
    fn to_args(self) -> Vec<String> {
        vec![
            self.pooled_reservation
                .map_or_else(|| "on-demand".to_owned(), |bytes| bytes.to_string()),
            if self.perfmap {
                "perfmap"
            } else {
                "no-perfmap"
            }
            .to_owned(),
        ]
    }

    fn from_args(args: &[OsString]) -> Option<CodeSettings> {
        let [reservation, perfmap] = args else {
            return None;
        };
        let pooled_reservation = match reservation.to_str()? {
            "on-demand" => None,
            bytes => Some(bytes.parse().ok()?),
        };
        let perfmap = match perfmap.to_str()? {
            "perfmap" => true,
            "no-perfmap" => false,
            _ => return None,
        };
        Some(CodeSettings {
            pooled_reservation,
            perfmap,
        })
    }

    /// The wasmtime configuration for compiling (shared by the engine and
    /// the worker).
    pub fn wasmtime_config(self) -> wasmtime::Config {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        // Fill tables at instantiation, not at each first indirect call:
        // OpenH264 reaches its kernels through function-pointer tables, and
        // a lazy table costs every indirect call a check. 1.2 % fewer
        // instructions per frame of the transcoding chain
        // (docs/performance.md, "Instructions per frame").
        config.table_lazy_init(false);
        if self.perfmap {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(reservation) = self.pooled_reservation {
            config
                .memory_reservation(reservation)
                .memory_guard_size(POOLED_GUARD_BYTES)
                .memory_reservation_for_growth(0);
        }
        config
    }
}

/// What the worker writes first on stdout: the artifact follows.
const REPLY_OK: u8 = 0;
/// What the worker writes first on stdout when wasmtime refused the
/// component: one line of reason follows.
const REPLY_INVALID: u8 = 1;

/// The worker: reads the component from stdin, compiles it with an engine
/// of the parent's code settings (on-demand allocation: the allocator does
/// not change the code, and a pool would reserve address space for
/// nothing) and writes the reply. The exit status is for the parent only.
fn worker(settings: &[OsString]) -> i32 {
    let Some(settings) = CodeSettings::from_args(settings) else {
        return 3;
    };
    let mut wasm = Vec::new();
    if std::io::stdin().lock().read_to_end(&mut wasm).is_err() {
        return 3;
    }
    let Ok(engine) = wasmtime::Engine::new(&settings.wasmtime_config()) else {
        return 3;
    };
    let reply = match engine.precompile_component(&wasm) {
        Ok(artifact) => [&[REPLY_OK][..], &artifact].concat(),
        Err(error) => [
            &[REPLY_INVALID][..],
            compile_error_reason(&error).as_bytes(),
        ]
        .concat(),
    };
    drop(wasm);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&reply).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(_) => 3,
    }
}

/// Held while a compile worker runs (see [`compile_in_worker`]).
static WORKER_SLOT: std::sync::Mutex<()> = std::sync::Mutex::new(());
/// The worker's niceness (0 is the default, 19 the lowest priority).
const WORKER_NICENESS: libc::c_int = 10;

/// The limits of one compile in a worker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorkerLimits {
    pub deadline: Duration,
    pub memory: usize,
    /// Largest artifact accepted back.
    pub max_artifact: usize,
}

/// Compiles `wasm` in a child process of this executable under `limits`
/// and returns wasmtime's serialized component.
///
/// The parent deserializes what the worker sends back: it is native code,
/// but produced by this installation's own compiler from the bytes the
/// parent gave it, in a process of the same executable and user, which is
/// the same trust as the signed cache (artifacts.rs), whose entries the
/// parent also writes. The worker never runs any of the stage's code; it
/// only compiles.
pub(crate) fn compile_in_worker(
    path: &Path,
    wasm: &[u8],
    settings: CodeSettings,
    limits: WorkerLimits,
) -> Result<Vec<u8>> {
    let failed = |reason: String| {
        Error::Runtime(format!(
            "cannot compile stage {} in a worker process: {reason}",
            path.display()
        ))
    };
    let over = |limit| Error::CompileLimit {
        path: path.to_owned(),
        limit,
    };
    let Some(executable) = worker_executable() else {
        return Err(failed(
            "this process cannot reach its own executable".into(),
        ));
    };
    let mut command = Command::new(executable);
    command
        .arg(WORKER_ARG)
        .args(settings.to_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Its only other output would be an allocation failure's message
        // when it reaches its memory limit: that is reported from the exit
        // status instead.
        .stderr(Stdio::null());
    let memory = limits.memory as libc::rlim_t;
    // CPU time is a backstop for the case the parent dies before the
    // deadline: every compiler thread counts, so allow the deadline on
    // every core, plus a second.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let cpu = (limits.deadline.as_secs().saturating_add(1)).saturating_mul(cores) as libc::rlim_t;
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only async-signal-safe functions (setrlimit, prctl, getppid, _exit).
    unsafe {
        use std::os::unix::process::CommandExt;
        let parent = libc::getpid();
        command.pre_exec(move || {
            // RLIMIT_DATA, not RLIMIT_AS: it counts the heap (and every
            // private writable mapping) that compiling grows, but not
            // address space reserved without access.
            let data = libc::rlimit {
                rlim_cur: memory,
                rlim_max: memory,
            };
            let cpu = libc::rlimit {
                rlim_cur: cpu,
                rlim_max: cpu,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &data) != 0
                || libc::setrlimit(libc::RLIMIT_CPU, &cpu) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // Below the serving threads: a compile (a swap, a bomb) takes
            // the cores live calls leave idle rather than theirs. Raising
            // one's own niceness is always allowed; failing it is harmless.
            libc::setpriority(libc::PRIO_PROCESS, 0, WORKER_NICENESS);
            // Dies with the parent, so a killed server leaves no compiler.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    // One worker at a time per process: each may use the whole memory
    // limit, so concurrent loads of different stages (several admin
    // requests) must not multiply it. The deadline starts once it is ours.
    let _slot = WORKER_SLOT
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let start = Instant::now();
    let mut child = command.spawn().map_err(|error| {
        if matches!(
            error.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
        ) {
            // The executable, or its ELF interpreter, is not in this root
            // (a shim container): no worker can start in this process.
            WORKER_UNREACHABLE.store(true, Ordering::Relaxed);
        }
        failed(format!("cannot start it ({error})"))
    })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    // Both ends are served by threads so the deadline holds whatever the
    // child does with its pipes.
    let max_reply = limits.max_artifact.saturating_add(1);
    let reader = std::thread::Builder::new()
        .name("framechain-compile-reply".into())
        .spawn(move || {
            let mut reply = Vec::new();
            stdout
                .take(max_reply as u64 + 1)
                .read_to_end(&mut reply)
                .map(|_| reply)
        })
        .map_err(|error| failed(format!("cannot start its reader thread ({error})")))?;
    let input = wasm.to_vec();
    let writer = std::thread::Builder::new()
        .name("framechain-compile-input".into())
        .spawn(move || {
            // A child that died early makes this fail with a broken pipe;
            // its exit status says why.
            let _ = stdin.write_all(&input);
        })
        .map_err(|error| failed(format!("cannot start its writer thread ({error})")))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= limits.deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!("cannot wait for it ({error})")));
            }
        }
    };
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        let _ = writer.join();
        let _ = reader.join();
        return Err(over(CompileLimit::Deadline(limits.deadline)));
    };
    let _ = writer.join();
    let reply = reader
        .join()
        .map_err(|_| failed("its reader thread panicked".into()))?
        .map_err(|error| failed(format!("cannot read its reply ({error})")))?;
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => {}
        // Running out of heap aborts (SIGABRT, or SIGSEGV when a stack
        // guard cannot be mapped); the CPU limit sends SIGXCPU, then SIGKILL.
        (_, Some(libc::SIGXCPU | libc::SIGKILL)) => {
            return Err(over(CompileLimit::Deadline(limits.deadline)));
        }
        (_, Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS)) | (Some(101), _) => {
            return Err(over(CompileLimit::Memory(limits.memory)));
        }
        (code, signal) => {
            return Err(failed(match signal {
                Some(signal) => format!("it was ended by signal {signal}"),
                None => format!("it exited with status {}", code.unwrap_or(-1)),
            }));
        }
    }
    match reply.split_first() {
        Some((&REPLY_OK, artifact)) if artifact.len() <= limits.max_artifact => {
            Ok(artifact.to_vec())
        }
        Some((&REPLY_OK, _)) => Err(failed(format!(
            "its compiled code is larger than {} MiB",
            limits.max_artifact >> 20
        ))),
        Some((&REPLY_INVALID, reason)) => Err(Error::InvalidComponent {
            path: path.to_owned(),
            reason: crate::text::untrusted(
                &String::from_utf8_lossy(reason),
                crate::text::MAX_MESSAGE_CHARS,
            ),
        }),
        _ => Err(failed("it sent no reply".into())),
    }
}

/// This executable, if this process can reach it to start a worker:
/// `/proc/self/exe` names it even after it was replaced or deleted on disk
/// (an upgrade), so the worker is always the same build as the parent.
/// Inside a container whose root holds no `/proc` (the containerd shim runs
/// a job or `serve` in the image's own root) there is none.
pub(crate) fn worker_executable() -> Option<PathBuf> {
    let proc = PathBuf::from("/proc/self/exe");
    if proc.exists() {
        return Some(proc);
    }
    std::env::current_exe().ok().filter(|path| path.is_file())
}

/// Guard region after each pooled memory: catches most out-of-bounds
/// accesses with a fault instead of a check. Here, not in the engine, as
/// the compile worker must compile for the engine's exact memory layout
/// (and the engine depends on this module, never the reverse).
pub(crate) const POOLED_GUARD_BYTES: u64 = 2 << 20;

/// wasmtime's reason for refusing a component, as one bounded line: its
/// errors chain several causes and a parser error spans lines, quoting
/// names and offsets from the (untrusted) file.
pub(crate) fn compile_error_reason(error: &wasmtime::Error) -> String {
    let joined = format!("{error:#}")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    crate::text::untrusted(&joined, crate::text::MAX_MESSAGE_CHARS)
}
