//! framechain runs video-processing stages (decode, redact, scale, encode,
//! and any stage someone else writes) as sandboxed WebAssembly components.
//!
//! This crate is the host: it embeds wasmtime, loads stage components that
//! implement the `framechain:stage` WIT contract (`wit/stage.wit`), checks
//! that a chain fits together before any frame flows, and runs one isolated
//! instance of every stage per session, with a memory and a time limit, so a
//! crashing or hostile stage fails its own session only.
//!
//! ```no_run
//! use framechain::{ChainSpec, Engine, EngineConfig, Frame, Media, Pipeline};
//!
//! # fn main() -> Result<(), framechain::Error> {
//! let engine = Engine::new(EngineConfig::default())?;
//! let chain = ChainSpec::parse_launch("redact rect=16,16,64,32 mode=fill ! scale width=320 height=180")?;
//! let pipeline = Pipeline::build(&engine, &chain)?;
//!
//! let mut session = pipeline.start_session()?;
//! let frame = Frame::black(640, 360).expect("a valid size");
//! for output in session.push(Media::Frame(frame))? {
//!     let frame = output.into_frame().expect("scale gives frames");
//!     assert_eq!((frame.width(), frame.height()), (320, 180));
//! }
//! session.flush()?;
//! println!("{} in, {} out", session.stats().inputs, session.stats().outputs);
//! # Ok(())
//! # }
//! ```
//!
//! The layers: an [`Engine`] (one wasmtime engine, limits, compiled-component
//! cache) builds [`Pipeline`]s (stages loaded and checked), which start
//! [`Session`]s (per-stream instances, push/flush, [`SessionStats`]);
//! [`live`] runs many paced sessions on worker threads. Stages are found
//! by name through a [`StageRegistry`] (`FRAMECHAIN_STAGE_PATH`, then the
//! built-in folders). What a stage says is untrusted text: show it through
//! [`text`].
//!
//! Tools around the host that are not the embedding API (Y4M, raw and
//! Annex-B readers and writers, the run loop of the CLI, the sandboxed
//! access-unit splitter, allocator settings) are the crate
//! `framechain-tools`.

#![deny(missing_docs)]

mod artifacts;
mod bindings;
mod call_clock;
mod chain;
mod compile;
mod crossing;
mod engine;
mod error;
mod frame;
mod imports;
pub mod limits;
pub mod live;
mod media;
mod native_h264;
mod pipeline;
mod ports;
mod registry;
mod session;
mod stage;
mod stage_state;
mod stats;
mod stderr;
/// Text from outside the host made safe to show (the `framechain-text` crate).
pub use framechain_text as text;

pub use artifacts::{DEFAULT_MAX_COMPONENT_BYTES, TrustedPrecompiled, file_kind};
pub use bindings::types::{
    Codec, ParamKind, ParamSpec, PixelFormat, Plane, Port, Rect, Region, StageDescription,
};
pub use chain::{ChainSpec, MAX_PIPELINE_FILE, StageSpec};
pub use compile::{
    COMPILE_DEADLINE_ENV, COMPILE_MEMORY_ENV, CodeSize, DEFAULT_COMPILE_DEADLINE,
    DEFAULT_COMPILE_MEMORY_LIMIT, DEFAULT_MAX_CODE_BYTES, DEFAULT_MAX_FUNCTION_BYTES,
    DEFAULT_MAX_FUNCTIONS, code_size, compile_worker_main,
};
pub use engine::{EPOCH_TICK, Engine, EngineConfig};
pub use error::{Busy, CompileLimit, Error, Result, StageErrorKind, StageFailure};
pub use frame::{Frame, FrameError, FrameMetadata, MAX_DIMENSION, chroma_size};
pub use media::{Media, Packet};
pub use pipeline::Pipeline;
pub use registry::{STAGE_PATH_ENV, StageRegistry, content_digest};
pub use session::{MAX_PENDING_EVENTS, Session, SessionEvent, SessionMemory};
pub use stage::LoadedStage;
pub use stats::{LatencyHistogram, SessionStats, StageStats};

/// What an embedder moves between threads (a session per task, a pipeline
/// shared by a server's connections) must stay `Send` (and `Sync` where
/// shared); this fails to compile if a change breaks that.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Engine>();
    send_sync::<Pipeline>();
    send::<Session>();
    send_sync::<Frame>();
    send_sync::<Media>();
    send_sync::<Error>();
    send_sync::<live::LiveRuntime>();
    send_sync::<live::LiveSession>();
    send_sync::<live::LiveEvent>();
    send_sync::<live::LiveEvents>();
    send_sync::<live::SessionId>();
};
