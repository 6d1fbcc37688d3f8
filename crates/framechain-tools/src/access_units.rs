//! Cutting an H.264 Annex-B byte stream into access units (one picture
//! each, the unit a live session takes), shared by `framechain run
//! --realtime`, the benchmarks, the tests and embedders.
//!
//! The stream is untrusted, and untrusted bytes are parsed only inside the
//! sandbox: an [`AccessUnitSplitter`] runs a session of the `parse-h264`
//! stage, with its memory and time limits, and hands back the packets it
//! gives, each one access unit with its `keyframe` flag and time stamps
//! set by the stage. The host only chops the bytes into blind chunks of at
//! most [`ANNEXB_CHUNK`] bytes on the way in.
//!
//! ```no_run
//! use framechain::{Engine, EngineConfig};
//! use framechain_tools::AccessUnitSplitter;
//!
//! # fn main() -> Result<(), framechain::Error> {
//! let engine = Engine::new(EngineConfig::default())?;
//! let stream = std::fs::read("clip.264").expect("a clip");
//! let units = AccessUnitSplitter::new(&engine)?.split(&stream)?;
//! println!("{} pictures, the first a keyframe: {}", units.len(), units[0].keyframe);
//! # Ok(())
//! # }
//! ```

use framechain::{ChainSpec, Codec, Engine, Error, Media, Packet, Pipeline, Port, Session};

use crate::io::{ANNEXB_CHUNK, NO_PTS};

/// The stage that cuts the stream: found by the engine's registry like any
/// other stage (`FRAMECHAIN_STAGE_PATH`, the built-in folders).
pub const PARSER_STAGE: &str = "parse-h264";

/// A session of the sandboxed `parse-h264` stage that takes Annex-B bytes
/// in any pieces and gives whole access units.
///
/// An access unit ends only where the next one begins, so the last one
/// comes out of [`AccessUnitSplitter::finish`].
pub struct AccessUnitSplitter {
    session: Session,
}

impl AccessUnitSplitter {
    /// A splitter whose access units without a time stamp in the stream
    /// are numbered at 30 fps (pts 0, 3000, 6000, ... in 90 kHz ticks).
    pub fn new(engine: &Engine) -> Result<AccessUnitSplitter, Error> {
        AccessUnitSplitter::build(engine, PARSER_STAGE)
    }

    /// A splitter numbering access units at `fps` pictures per second
    /// (`parse-h264 fps=...`; 1 to 1000).
    pub fn with_fps(engine: &Engine, fps: f64) -> Result<AccessUnitSplitter, Error> {
        AccessUnitSplitter::build(engine, &format!("{PARSER_STAGE} fps={fps}"))
    }

    fn build(engine: &Engine, launch: &str) -> Result<AccessUnitSplitter, Error> {
        let pipeline = Pipeline::build(engine, &ChainSpec::parse_launch(launch)?)?;
        // A stage of that name that does not take and give H.264 packets is
        // refused here, not discovered as frames later.
        pipeline.check_ends(&Port::h264_packets(), &Port::h264_packets())?;
        Ok(AccessUnitSplitter {
            session: pipeline.start_session()?,
        })
    }

    /// Takes the next bytes of the stream (any amount, cut on the way in
    /// into chunks of at most [`ANNEXB_CHUNK`]) and returns the access
    /// units they completed, in stream order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Packet>, Error> {
        let mut units = Vec::new();
        for chunk in bytes.chunks(ANNEXB_CHUNK) {
            let packet = Packet {
                codec: Codec::H264,
                data: chunk.to_vec(),
                pts: NO_PTS,
                dts: NO_PTS,
                keyframe: false,
            };
            units.extend(self.push_packet(packet)?);
        }
        Ok(units)
    }

    /// Takes one chunk as a reader gave it (e.g. an
    /// [`AnnexBReader`](crate::io::AnnexBReader)'s packet; keep chunks at
    /// most [`ANNEXB_CHUNK`] bytes so each call stays well inside the
    /// stage's time limit) and returns the access units it completed.
    pub fn push_packet(&mut self, chunk: Packet) -> Result<Vec<Packet>, Error> {
        let out = self.session.push(Media::Packet(chunk))?;
        Ok(packets(out))
    }

    /// Ends the stream: returns the access units the stage still held
    /// (at least the last one).
    pub fn finish(&mut self) -> Result<Vec<Packet>, Error> {
        let out = self.session.flush()?;
        Ok(packets(out))
    }

    /// All access units of a whole stream: [`push`](Self::push), then
    /// [`finish`](Self::finish).
    pub fn split(mut self, stream: &[u8]) -> Result<Vec<Packet>, Error> {
        let mut units = self.push(stream)?;
        units.extend(self.finish()?);
        Ok(units)
    }

    /// The parser's session: its stats (time spent cutting, what it
    /// dropped) and suppressed log lines.
    pub fn session(&self) -> &Session {
        &self.session
    }
}

/// The packets of a checked `parse-h264` session's output (which, its
/// ports checked, holds nothing else).
fn packets(out: Vec<Media>) -> Vec<Packet> {
    out.into_iter().filter_map(Media::into_packet).collect()
}
