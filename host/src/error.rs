//! Errors the host reports. Each displays as one line a person can act on.

use std::path::PathBuf;
use std::time::Duration;

use crate::bindings::types::StageError;

/// Anything that can go wrong while loading, checking or running a chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read stage component {}: {source}", path.display())]
    ReadComponent {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{} is not a framechain stage component: {reason}", path.display())]
    InvalidComponent { path: PathBuf, reason: String },

    #[error(
        "unknown stage \"{name}\" (built-in stages: {known}; or give a path to a .wasm component)"
    )]
    UnknownStage { name: String, known: String },

    #[error("invalid chain: {0}")]
    InvalidChain(String),

    #[error("{stage}: {message}")]
    BadParameter { stage: String, message: String },

    #[error("chain does not fit: {0}")]
    ChainMismatch(String),

    #[error("stage {stage} failed: {failure}")]
    StageFailed {
        stage: String,
        failure: StageFailure,
    },

    #[error("the session already failed ({0}); start a new session")]
    SessionFailed(String),

    #[error("wasmtime: {0}")]
    Runtime(String),
}

/// How a stage failed one session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageFailure {
    /// The call ran past the per-call time limit and was interrupted.
    #[error("stopped after running past its time limit of {} ms", .0.as_millis())]
    TimeLimit(Duration),
    /// The stage tried to use more memory than its limit.
    #[error("stopped for exceeding its memory limit of {} MiB", .0 >> 20)]
    MemoryLimit(usize),
    /// The stage trapped (a panic, an unreachable, a bad handle).
    #[error("crashed: {0}")]
    Trap(String),
    /// The stage returned an error of its own.
    #[error("{0}")]
    Rejected(String),
}

/// Renders a stage's own error as `kind: message`.
pub(crate) fn describe_stage_error(error: &StageError) -> String {
    match error {
        StageError::BadParameter(message) => format!("bad parameter: {message}"),
        StageError::UnsupportedInput(message) => format!("unsupported input: {message}"),
        StageError::CorruptInput(message) => format!("corrupt input: {message}"),
        StageError::Internal(message) => format!("internal error: {message}"),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
