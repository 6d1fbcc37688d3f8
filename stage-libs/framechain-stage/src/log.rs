//! Logging into the host's log, which tags each line with the stage and the
//! session.
//!
//! Messages should start with the stage name (`redact: …`) so they also read
//! well out of context. In native builds (unit tests, benchmarks) there is no
//! host, so the line goes to stderr instead.

pub use crate::bindings::framechain::stage::log::Level;

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::framechain::stage::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{}] {message}", level_name(level));
}

/// Logs `message` at [`Level::Trace`]: detail for following one picture.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs `message` at [`Level::Debug`]: detail for the stage's author.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at [`Level::Info`]: what an operator may want to know.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at [`Level::Warn`]: something is wrong but the stage
/// goes on (damaged input, a fallback).
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at [`Level::Error`]: the stage cannot do what it was
/// asked (also say so in the [`StageError`](crate::StageError) returned).
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Runs `emit` (which logs) for the first 100 calls in this instance, and
/// after that for every 1000th: for lines that damaged or hostile input
/// could cause on every packet or slice. One count per stage instance (a
/// component's statics are its own), shared by every caller in it.
pub fn throttled(emit: impl FnOnce()) {
    use std::cell::Cell;
    thread_local! {
        static LOGGED: Cell<u64> = const { Cell::new(0) };
    }
    let n = LOGGED.with(|count| count.replace(count.get() + 1));
    if n < 100 || n.is_multiple_of(1000) {
        emit();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}
