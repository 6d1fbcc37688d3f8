//! Errors the host reports. Each displays as one line a person can act on.

use std::path::PathBuf;
use std::time::Duration;

use crate::bindings::types::StageError;

/// Anything that can go wrong while loading, checking or running a chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A stage file could not be read (missing, not a regular file, too
    /// large).
    #[error("cannot read stage component {}: {source}", path.display())]
    ReadComponent {
        /// The stage file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },

    /// The file is not a component implementing the framechain contract
    /// (not wasm, another world, a `describe` that breaks the rules).
    #[error("{} is not a framechain stage component: {reason}", path.display())]
    InvalidComponent {
        /// The stage file.
        path: PathBuf,
        /// What is wrong with it, escaped and cut.
        reason: String,
    },

    /// No built-in stage has this name and it is not a path.
    #[error(
        "unknown stage \"{name}\" (built-in stages: {known}; or give a path to a .wasm component)"
    )]
    UnknownStage {
        /// The name asked for.
        name: String,
        /// The built-in names, comma-separated.
        known: String,
    },

    /// No stage describes itself by the name asked for, but a file named
    /// after it is there and describes itself under another name (a
    /// stage is known by the name it gives itself, not by its file name).
    #[error(
        "no stage describes itself as {asked}; the file {} describes itself as {name}: call it {name} (or give its path)",
        path.display()
    )]
    StageNameMismatch {
        /// The name asked for.
        asked: String,
        /// The file named after it.
        path: PathBuf,
        /// The name that file's stage gives itself in `describe()`.
        name: String,
    },

    /// Two files of one stage folder describe themselves by the same name:
    /// which one runs must not depend on directory order.
    #[error(
        "two stage files in one folder describe themselves as {name}: {} and {}; remove or rename one",
        first.display(),
        second.display()
    )]
    StageNameClash {
        /// The name both claim.
        name: String,
        /// One file claiming it.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },

    /// A stage file's content is not the one its pipeline pins
    /// (`digest: sha256:HEX` beside `stage:`).
    #[error(
        "stage {stage} ({}) is pinned to {expected} but the file is {actual}; refusing a stage file that is not the pinned one",
        path.display()
    )]
    DigestMismatch {
        /// The stage as the chain names it.
        stage: String,
        /// The file that was found.
        path: PathBuf,
        /// The digest the chain pins.
        expected: String,
        /// The digest of the file's content.
        actual: String,
    },

    /// The chain's text or file is malformed or over a cap.
    #[error("invalid chain: {0}")]
    InvalidChain(String),

    /// A stage refused a parameter (unknown, missing, bad value).
    #[error("{stage}: {message}")]
    BadParameter {
        /// The stage that refused it.
        stage: String,
        /// What is wrong, for a person.
        message: String,
    },

    /// One stage's output does not fit the next stage's input (or the
    /// chain's ends do not fit the source or sink).
    #[error("chain does not fit: {0}")]
    ChainMismatch(String),

    /// A stage failed a session: the session is over.
    #[error("stage {stage} failed: {failure}")]
    StageFailed {
        /// The stage's name.
        stage: String,
        /// How it failed: match on it to tell a time or memory limit from
        /// a crash or the stage's own error.
        failure: StageFailure,
    },

    /// A call on a session that failed earlier: which stage failed it and
    /// how, so a caller can tell a time or memory limit from a crash.
    #[error("the session already failed (stage {stage} failed: {failure}); start a new session")]
    SessionFailed {
        /// The stage that failed the session.
        stage: String,
        /// How it failed.
        failure: StageFailure,
    },

    /// The live runtime cannot take another session within its latency
    /// target: answer "busy" and let the caller try another node.
    #[error("{0}")]
    Busy(Busy),

    /// A live session was shed: it went on using more than its share of
    /// the workers after its pictures were skipped and its sender was
    /// asked to slow down (see `framechain::live`, "Fair shares").
    #[error(
        "the session was ended: its pictures needed {:.0} % of a worker, over its share of {:.0} %, for {:.1} s",
        used * 100.0, share * 100.0, over_for.as_secs_f64()
    )]
    OverShare {
        /// Busy workers it would have used over the last window (1.0 =
        /// one worker), the pictures skipped counted at the average time
        /// of those run.
        used: f64,
        /// Its share, in the same unit.
        share: f64,
        /// How long it was over its share.
        over_for: Duration,
    },

    /// The host itself could not do something (start a thread, make an
    /// instance slot): not the stage's fault.
    #[error("wasmtime: {0}")]
    Runtime(String),

    /// A stage was refused for what compiling it would cost, or stopped
    /// while it was being compiled: over one of the static caps on its
    /// code (checked before compiling), over the compile deadline or over
    /// the compile worker's memory limit. Match on `limit` for which.
    #[error("stage {}: {limit}", path.display())]
    CompileLimit {
        /// The stage file.
        path: PathBuf,
        /// Which limit, with the figures.
        limit: CompileLimit,
    },

    /// A precompiled (native code) file outside every trusted source; see
    /// `EngineConfig::trusted_precompiled`. Never shows the file's bytes.
    #[error(
        "refusing {}: it is precompiled native code, which would run outside the sandbox, and it is not in a folder trusted for precompiled stages (use the stage's .wasm component; an operator can trust a folder, see docs/security.md)",
        path.display()
    )]
    UntrustedPrecompiled {
        /// The refused file.
        path: PathBuf,
    },
}

/// Why the live runtime refused a session ([`Error::Busy`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Busy {
    /// As many sessions as the runtime is configured for are open.
    #[error("busy: {open} sessions are open (at most {max})")]
    Sessions {
        /// Sessions open now.
        open: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The sessions already open use this much of the runtime's workers,
    /// and one more of this pipeline would pass the load the latency
    /// target allows.
    #[error(
        "busy: the open sessions use {:.0} % of {workers} workers and one more needs about {:.0} % of a worker (at most {:.0} % in all)",
        load * 100.0, needed * 100.0, limit * 100.0
    )]
    Load {
        /// Busy fraction of the workers now, summed (2.0 = two workers).
        load: f64,
        /// What one more session of this pipeline is expected to need.
        needed: f64,
        /// The most the runtime admits, summed over workers.
        limit: f64,
        /// Worker threads.
        workers: usize,
    },
}

/// Which compile limit a stage passed ([`Error::CompileLimit`]); see the
/// `EngineConfig` field each names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileLimit {
    /// More functions than `EngineConfig::max_functions`, counted over the
    /// component and its nested core modules.
    #[error(
        "it has {count} functions or more, over the cap of {max} (EngineConfig::max_functions); refused before compiling"
    )]
    Functions {
        /// Functions counted when the cap was passed.
        count: usize,
        /// The cap.
        max: usize,
    },
    /// One function body larger than `EngineConfig::max_function_bytes`.
    #[error(
        "function {index} has a body of {bytes} bytes, over the cap of {max} bytes on one function (EngineConfig::max_function_bytes); refused before compiling"
    )]
    FunctionBytes {
        /// Which body, counted from 0 over all modules in file order.
        index: usize,
        /// Its size.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// More code in all than `EngineConfig::max_code_bytes`.
    #[error(
        "its function bodies add up to {bytes} bytes or more, over the cap of {max} bytes (EngineConfig::max_code_bytes); refused before compiling"
    )]
    CodeBytes {
        /// Bytes counted when the cap was passed.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// Compiling took longer than `EngineConfig::compile_deadline`; the
    /// compile worker was killed.
    #[error("compiling it took more than {} s (compile deadline, EngineConfig::compile_deadline)", .0.as_secs_f64())]
    Deadline(Duration),
    /// Compiling needed more memory than `EngineConfig::compile_memory_limit`
    /// (bytes); the compile worker ran out of it and ended.
    #[error("compiling it needed more than {} MiB (compile memory limit, EngineConfig::compile_memory_limit)", .0 >> 20)]
    Memory(usize),
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
    /// What the stage gave out in one call, with what is already between
    /// stages, would exceed the session's in-flight limit.
    #[error("stopped for giving out more than the session's in-flight limit of {} MiB", .0 >> 20)]
    InFlightLimit(usize),
    /// The stage broke one of the host's fixed limits (see
    /// [`crate::limits`]): too many regions on a frame, a label too long.
    #[error("stopped for breaking a limit: {0}")]
    Limit(String),
    /// The stage broke a rule of the contract the host can check (e.g. it
    /// gave out packets though it describes its output as frames).
    #[error("stopped for breaking the stage contract: {0}")]
    Contract(String),
    /// The stage trapped (a panic, an unreachable, a bad handle).
    #[error("crashed: {0}")]
    Trap(String),
    /// The first stage (the decoder) gave, or the session was given, a
    /// picture larger than the pipeline takes (`max-width`, `max-height`):
    /// the session ends before the rest of the chain spends anything on it.
    #[error(
        "a {width}x{height} picture is over the pipeline's limit of {} (max-width, max-height)",
        picture_bound(*max_width, *max_height)
    )]
    PictureSize {
        /// The picture's width.
        width: u32,
        /// The picture's height.
        height: u32,
        /// The pipeline's bound on widths, if any.
        max_width: Option<u32>,
        /// The pipeline's bound on heights, if any.
        max_height: Option<u32>,
    },
    /// The stage returned an error of its own, of the kind it chose:
    /// match on `kind` to tell input it cannot take from its own failure.
    #[error("{kind}: {message}")]
    Rejected {
        /// Which of the contract's `stage-error` cases it returned.
        kind: StageErrorKind,
        /// The stage's text, escaped and cut: it is untrusted.
        message: String,
    },
}

/// `1920x1080`, with `any` for a side without a bound.
fn picture_bound(width: Option<u32>, height: Option<u32>) -> String {
    let side = |side: Option<u32>| side.map_or("any".to_owned(), |side| side.to_string());
    format!("{}x{}", side(width), side(height))
}

impl StageFailure {
    /// A stage's own error, its text escaped and cut.
    pub(crate) fn rejected(error: &StageError) -> StageFailure {
        let (kind, message) = match error {
            StageError::BadParameter(message) => (StageErrorKind::BadParameter, message),
            StageError::UnsupportedInput(message) => (StageErrorKind::UnsupportedInput, message),
            StageError::CorruptInput(message) => (StageErrorKind::CorruptInput, message),
            StageError::Internal(message) => (StageErrorKind::Internal, message),
        };
        StageFailure::Rejected {
            kind,
            message: crate::text::untrusted(message, crate::text::MAX_MESSAGE_CHARS),
        }
    }
}

/// The kind of a stage's own error: the cases of the contract's
/// `stage-error` (wit/stage.wit), without the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageErrorKind {
    /// `bad-parameter`: a parameter is missing, unknown or has a value the
    /// stage cannot use. From `create` this is [`Error::BadParameter`].
    BadParameter,
    /// `unsupported-input`: valid input of a kind the stage does not take.
    UnsupportedInput,
    /// `corrupt-input`: damaged input.
    CorruptInput,
    /// `internal`: the stage itself failed.
    Internal,
}

/// For people: `bad parameter`, `unsupported input`, `corrupt input`,
/// `internal error`.
impl std::fmt::Display for StageErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StageErrorKind::BadParameter => "bad parameter",
            StageErrorKind::UnsupportedInput => "unsupported input",
            StageErrorKind::CorruptInput => "corrupt input",
            StageErrorKind::Internal => "internal error",
        })
    }
}

impl StageErrorKind {
    /// The case's name in the contract: `bad-parameter`,
    /// `unsupported-input`, `corrupt-input`, `internal`.
    pub fn wit_name(self) -> &'static str {
        match self {
            StageErrorKind::BadParameter => "bad-parameter",
            StageErrorKind::UnsupportedInput => "unsupported-input",
            StageErrorKind::CorruptInput => "corrupt-input",
            StageErrorKind::Internal => "internal",
        }
    }
}

/// The host's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
