//! A container whose first argument is `serve`: `framechain serve` (WHIP in,
//! the pipeline, WHEP out; docs/serve.md) as the pod's long-running process.
//!
//! ```text
//! serve --pipeline /config/pipeline.yaml --http 0.0.0.0:8080 --media 0.0.0.0:40000
//!       --advertise NODE_IP --streams-file /secrets/streams [...]
//! ```
//!
//! The options are `framechain serve`'s own ([`framechain_serve::ServeArgs`]),
//! parsed by the same clap definition as the CLI. The server binds its
//! sockets in the container's network namespace: runwasi calls
//! `run_wasi` in the container's init process, which libcontainer has
//! already moved into the pod's namespaces, so `--http` and `--media` are
//! the pod's ports (the node's with `hostNetwork`).
//!
//! It runs until the container is stopped: the kubelet (or `ctr task
//! kill`) sends SIGTERM, the server ends every call, and the container
//! exits 0 (see [`install_stop_handler`] for how the signal is taken).

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

use clap::{Args, FromArgMatches};
use framechain::{ChainSpec, Engine, EngineConfig, Pipeline, StageRegistry, TrustedPrecompiled};
use framechain_serve::{ServeArgs, Server};

/// The first argument that selects the server instead of a batch job.
pub const COMMAND: &str = "serve";

/// The container's arguments after `serve`, read as `framechain serve`
/// reads its command line. `--help` is answered with the help text as the
/// error (the container's log is the only place it can go).
pub fn parse(args: &[String]) -> Result<ServeArgs, String> {
    let command = ServeArgs::augment_args(
        clap::Command::new(COMMAND)
            .about("framechain serve in a container (docs/serve.md)")
            .no_binary_name(true),
    );
    let matches = command.try_get_matches_from(args).map_err(|error| {
        if matches!(
            error.kind(),
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
        ) {
            return error.to_string();
        }
        // clap's message is several lines (usage, a tip); the log gets the
        // first, which says what is wrong.
        let text = error.to_string();
        let first = text
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("bad arguments")
            .trim_start_matches("error: ")
            .to_owned();
        format!("serve: {first} (options: docs/serve.md)")
    })?;
    ServeArgs::from_arg_matches(&matches).map_err(|error| format!("serve: {error}"))
}

/// Serves until SIGTERM or SIGINT; returns the line for the log.
pub fn serve(
    args: ServeArgs,
    envs: &[String],
    trusted: Vec<TrustedPrecompiled>,
) -> Result<String, String> {
    // First, so that a stop during the pipeline's build is not lost.
    let stop = install_stop_handler()?;
    // Beside the pipeline file, $FRAMECHAIN_STAGE_PATH, then the image's
    // own stage folder: a pipeline from a ConfigMap finds the image's stages.
    let mut dirs = crate::job::stage_dirs(&args.pipeline, envs);
    dirs.push(crate::IMAGE_STAGE_DIR.into());
    let registry = StageRegistry::with_dirs(dirs);
    let engine = Engine::new(EngineConfig {
        trusted_precompiled: trusted,
        registry,
        ..EngineConfig::default()
    })
    .map_err(|error| error.to_string())?;
    // What framechain_serve::run does, except the wait for the signal (see
    // install_stop_handler).
    let mut chain =
        ChainSpec::read_pipeline_file(&args.pipeline).map_err(|error| error.to_string())?;
    framechain_serve::align_leading_decoder(&mut chain);
    let pipeline = Pipeline::build(&engine, &chain).map_err(|error| error.to_string())?;
    let name = pipeline.name().to_owned();
    let config = args
        .config(Arc::new(pipeline))
        .map_err(|error| error.to_string())?;
    let streams = config.streams.len();
    let server = Server::start(config).map_err(|error| error.to_string())?;
    eprintln!(
        "framechain: serve {name} ({}): {streams} streams, HTTP on {}, media on udp {}",
        chain.to_launch(),
        server.http_addr(),
        server.media_addr()
    );
    let drain_timeout = std::time::Duration::from_secs_f64(args.drain_timeout);
    let signal = wait_for_stop_signal(&stop)?;
    let mut drained = String::new();
    if !drain_timeout.is_zero() && server.sessions() > 0 {
        // Kubernetes sends SIGTERM and waits terminationGracePeriodSeconds:
        // no new calls (readiness fails, offers get 503), the running ones
        // may end by themselves.
        let began = Instant::now();
        server.start_draining();
        let calls = server.sessions();
        while server.sessions() > 0 && began.elapsed() < drain_timeout {
            if signal_within(&stop, std::time::Duration::from_millis(100))? {
                break;
            }
        }
        drained = format!(
            " after draining {calls} call(s) for {} ms ({} left)",
            began.elapsed().as_millis(),
            server.sessions()
        );
    }
    let started = Instant::now();
    server.shutdown();
    Ok(format!(
        "framechain: serve {name}: stopped on {signal}{drained}, every call ended in {} ms",
        started.elapsed().as_millis()
    ))
}

/// The write end of the pipe the signal handler writes the signal's
/// number to (-1: no handler yet).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_stop_signal(signal: libc::c_int) {
    // Only async-signal-safe calls here: one write(2) of one byte.
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: a valid pointer to one byte; a failed write loses nothing
        // the next signal would not bring.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

/// Installs this process's own handler for SIGTERM and SIGINT, which
/// [`wait_for_stop_signal`] then hears through a pipe.
///
/// Why not the server's own wait (`framechain_serve::run`, tokio's signal
/// handling): runwasi calls `run_wasi` in the container's init process,
/// which libcontainer forks from the shim, so that process starts with
/// whatever the shim's signal machinery left behind (signal-hook's and
/// tokio's globals and self-pipes, runwasi issue #755), and with threads
/// runwasi's runtime may start in it. A handler of our own, installed with
/// sigaction for the whole process, runs on whichever thread the kernel
/// picks; and a handler is also what PID 1 of a PID namespace needs, since
/// the kernel drops signals that the namespace's init left at their
/// default. Measured without it (a signal mask and sigwait instead): the
/// container died of SIGTERM at once (exit 143), a thread without the mask
/// having taken the signal.
fn install_stop_handler() -> Result<std::fs::File, String> {
    let mut fds = [0; 2];
    // SAFETY: a valid two-element array for pipe2.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "cannot make the signal pipe: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: pipe2 returned two fresh descriptors; the read end is owned
    // by the File from here on, the write end lives as long as the process.
    let reader = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction with a valid handler, an empty mask
        // and SA_RESTART, for a signal that may be caught.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(format!(
                "cannot handle signal {signal}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(reader)
}

/// Waits until the handler of [`install_stop_handler`] has seen SIGTERM
/// or SIGINT.
fn wait_for_stop_signal(mut pipe: &std::fs::File) -> Result<&'static str, String> {
    use std::io::Read;
    let mut byte = [0u8; 1];
    loop {
        match pipe.read(&mut byte) {
            Ok(1) => {
                return Ok(if i32::from(byte[0]) == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                });
            }
            Ok(_) => return Err("the signal pipe closed".to_owned()),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(format!("waiting for SIGTERM: {error}")),
        }
    }
}

/// Whether another stop signal arrives within `timeout` (a second SIGTERM
/// or SIGINT ends a drain at once).
fn signal_within(pipe: &std::fs::File, timeout: std::time::Duration) -> Result<bool, String> {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: pipe.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut poll, 1, millis) };
    if ready < 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() == std::io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(format!("waiting for a second signal: {error}"));
    }
    if ready == 0 {
        return Ok(false);
    }
    wait_for_stop_signal(pipe).map(|_| true)
}

/// Whether the container's arguments ask for the server.
pub fn wanted(args: &[String]) -> bool {
    args.first().map(String::as_str) == Some(COMMAND)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn serve_arguments_are_framechain_serves() {
        let args = parse(&words(
            "--pipeline /config/pipeline.yaml --http 0.0.0.0:8080 --media 0.0.0.0:40000 \
             --advertise 10.0.0.7 --streams-file /secrets/streams --max-sessions 4 \
             --stream room1:publish-1:viewer-1",
        ))
        .unwrap();
        assert_eq!(args.pipeline, Path::new("/config/pipeline.yaml"));
        assert_eq!(args.http.port(), 8080);
        assert_eq!(args.media.port(), 40000);
        assert_eq!(
            args.advertise.map(|ip| ip.to_string()).as_deref(),
            Some("10.0.0.7")
        );
        assert_eq!(args.max_sessions, 4);
        assert_eq!(args.streams.len(), 1);
        assert_eq!(args.streams[0].name, "room1");
    }

    #[test]
    fn bad_serve_arguments_are_one_line() {
        for line in [
            "--http 0.0.0.0:8080",
            "--pipeline /p.yaml --bogus",
            "--pipeline /p.yaml --http nowhere",
            "--pipeline /p.yaml --stream room1",
        ] {
            let error = parse(&words(line)).unwrap_err();
            assert!(error.starts_with("serve: "), "{line}: {error}");
            assert!(!error.contains('\n'), "{line}: {error}");
        }
        let error = parse(&words("--pipeline /p.yaml --bogus")).unwrap_err();
        assert!(error.contains("--bogus"), "{error}");
        let help = parse(&words("--help")).unwrap_err();
        assert!(help.contains("--streams-file"), "{help}");
    }

    #[test]
    fn only_a_first_argument_serve_selects_the_server() {
        assert!(wanted(&words("serve --pipeline /p.yaml")));
        assert!(!wanted(&words("/pipeline.yaml -i in.264")));
        assert!(!wanted(&words("/serve")));
        assert!(!wanted(&[]));
    }
}
