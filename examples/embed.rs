//! Embedding framechain in a media server: one engine, one checked
//! pipeline, and several concurrent sessions, each with its own isolated
//! stage instances.
//!
//! Run with `cargo xtask build && cargo run --release --example embed`.

use std::thread;

use framechain::{ChainSpec, Engine, EngineConfig, Error, Media, Pipeline};
use framechain_tools::io::{FrameRate, FrameReader, TestSource};

const SESSIONS: usize = 4;
const FRAMES: u64 = 30;

fn main() -> Result<(), Error> {
    // One engine per process: it owns the compiled components and the
    // clock that enforces per-call time limits.
    let engine = Engine::new(EngineConfig::default())?;
    let chain =
        ChainSpec::parse_launch("redact rect=40,22,200,45 mode=fill ! scale width=320 height=180")?;
    // Loaded, parameter-checked and port-checked before any frame flows.
    let pipeline = Pipeline::build(&engine, &chain)?;

    thread::scope(|scope| {
        let workers: Vec<_> = (0..SESSIONS)
            .map(|_| {
                scope.spawn(|| -> Result<(u64, u64, framechain::SessionStats), Error> {
                    // Each patient stream gets its own session: its own
                    // instance (store, linear memory) of every stage.
                    let mut session = pipeline.start_session()?;
                    let mut clip = TestSource::new(640, 360, FRAMES, FrameRate::DEFAULT)
                        .expect("a valid size");
                    let mut out = 0;
                    while let Some(frame) = clip.read_frame().expect("generated frames") {
                        out += session.push(Media::Frame(frame))?.len() as u64;
                    }
                    out += session.flush()?.len() as u64;
                    Ok((session.id(), out, session.stats().clone()))
                })
            })
            .collect();
        for worker in workers {
            let (id, written, stats) = worker.join().expect("worker thread")?;
            assert_eq!(written, stats.outputs);
            let scale = &stats.stages[1];
            println!(
                "session {id}: {} in, {} out, {} dropped; scale p50 {:?} p99 {:?}",
                stats.inputs,
                stats.outputs,
                stats.dropped_total(),
                scale.latency.p50(),
                scale.latency.p99()
            );
        }
        Ok(())
    })
}
