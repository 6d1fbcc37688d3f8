//! Tools around the framechain host that are not the embedding API: what
//! the CLI, the containerd shim, the media server, the benchmarks and the
//! tests share, and what an embedder may take or leave.
//!
//! - [`io`]: Y4M, raw I420 and H.264 Annex-B readers and writers, a
//!   synthetic test source, PNG snapshots, and opening files or stdio.
//! - [`run`]: drives a [`framechain::Session`] from a reader to a writer
//!   (the loop of `framechain run` and the shim).
//! - [`access_units`]: cuts an H.264 byte stream into access units for
//!   live sessions, by running the sandboxed `parse-h264` stage: the host
//!   never parses the bitstream itself.
//! - [`allocator`]: process-wide allocator settings for programs that move
//!   video frames.
//!
//! ```no_run
//! use framechain::{ChainSpec, Engine, EngineConfig, Pipeline};
//! use framechain_tools::io::{FrameRate, FramesIn, FramesOut, TestSource, Y4mWriter};
//! use framechain_tools::run::{Unobserved, run_pipeline};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::new(EngineConfig::default())?;
//! let pipeline = Pipeline::build(&engine, &ChainSpec::parse_launch("scale width=320 height=180")?)?;
//! let mut reader = FramesIn(TestSource::new(640, 360, 30, FrameRate::DEFAULT)?);
//! let mut writer = FramesOut(Y4mWriter::new(std::io::sink(), FrameRate::DEFAULT));
//! let finished = run_pipeline(&pipeline, &mut reader, &mut writer, &mut Unobserved)?;
//! assert_eq!(finished.session.stats().outputs, 30);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod access_units;
pub mod allocator;
pub mod io;
pub mod run;

pub use access_units::AccessUnitSplitter;
