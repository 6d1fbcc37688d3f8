//! Where OpenH264's log lines go.
//!
//! The C shim hands every line to `framechain_openh264_log`; a stage installs
//! a sink (usually the host's log import) with [`set_sink`]. Without a sink
//! lines are dropped: a component's stderr is not a place anyone reads.

use std::cell::Cell;
use std::ffi::{CStr, c_char};

/// Severity of an OpenH264 log line (its WELS_LOG_* bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warning,
    /// Information, warnings and errors.
    Info,
    /// Everything.
    Debug,
}

impl Level {
    /// The WELS_LOG_* value that lets this level and more severe ones through.
    pub(crate) fn to_wels(self) -> i32 {
        match self {
            Level::Error => 1,
            Level::Warning => 2,
            Level::Info => 4,
            Level::Debug => 8,
        }
    }

    fn from_wels(level: i32) -> Level {
        match level {
            ..=1 => Level::Error,
            2 => Level::Warning,
            4 => Level::Info,
            _ => Level::Debug,
        }
    }
}

/// Receives one log line (without the trailing newline).
pub type Sink = fn(Level, &str);

thread_local! {
    // Components are single-threaded; thread_local avoids a lock.
    static SINK: Cell<Option<Sink>> = const { Cell::new(None) };
}

/// Sends OpenH264's log lines to `sink` (or nowhere, with `None`).
pub fn set_sink(sink: Option<Sink>) {
    SINK.with(|s| s.set(sink));
}

#[unsafe(no_mangle)]
extern "C" fn framechain_openh264_log(level: i32, message: *const c_char) {
    let Some(sink) = SINK.with(|s| s.get()) else {
        return;
    };
    if message.is_null() {
        return;
    }
    // SAFETY: OpenH264 passes a NUL-terminated string valid for this call.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    sink(Level::from_wels(level), text.trim_end());
}
