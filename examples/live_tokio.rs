//! A live session owned by async (tokio) code: what a media server that
//! embeds framechain must know, in one small program that checks itself.
//!
//! Run with `cargo xtask stages && cargo run --release --example live_tokio`
//! (CI runs it in `cargo xtask test`). It exits non-zero unless every
//! picture pushed came out or was counted as dropped.
//!
//! What it shows:
//!
//! - **Where stages are found.** `EngineConfig::default()` takes its
//!   `registry` from `StageRegistry::from_environment()`:
//!   `$FRAMECHAIN_STAGE_PATH` (folders, `:`-separated) first, then
//!   `stages/` folders near the executable (a cargo `target/` tree, an
//!   install prefix). A server that ships its stages elsewhere sets
//!   `registry: StageRegistry::with_dirs(...)`.
//! - **Compiling blocks.** `Pipeline::build` compiles every stage (Cranelift,
//!   hundreds of milliseconds to seconds per stage) on the calling thread.
//!   Call it off the async executor (`spawn_blocking`), or the executor's
//!   network tasks stall meanwhile. `EngineConfig::cache_dir` keeps the
//!   compiled code on disk (signed with a per-installation key), so the
//!   next start loads instead of compiling.
//! - **Pushing never blocks**: `LiveSession::push_media` (and `push`) only
//!   queue; the stages run on the runtime's own worker threads, never on
//!   the executor.
//! - **One receiver for every session.** `LiveRuntime::events()` hands out
//!   the runtime's one `LiveEvents` receiver (once); each event comes tagged
//!   with its session's `SessionId` (`LiveSession::id()`), and a server
//!   routes it by that id. At most `LiveConfig::event_depth` events of one
//!   session wait; an output past that is dropped and counted, never lost
//!   silently.
//! - **`LiveEvents::next()` is cancel-safe.** An event leaves the queue
//!   only in the poll that returns it; dropping the future before that (a
//!   `select!` branch that lost, the `timeout` below) loses nothing, and
//!   the next call gets the event.
//! - **Dropping the runtime** stops its workers (waiting for the turn each
//!   one is in, at most a call's time limit per stage) and ends every
//!   session still open: its owner gets `LiveEvent::Failed` ("the live
//!   runtime has shut down") and then `Ended` with the counts. That wait
//!   blocks, so drop it off the executor too. Dropping a `LiveSession`
//!   abandons it: what it still queued is discarded and its stage
//!   instances are freed on a worker.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framechain::live::{LiveConfig, LiveEvent, LiveRuntime};
use framechain::{ChainSpec, Engine, EngineConfig, Error, Media, Pipeline};
use framechain_tools::io::{FrameRate, FrameReader, TestSource};

/// Pictures pushed: one and a half seconds at 30 fps.
const FRAMES: u64 = 45;
/// Longest wait for one event before the example gives up.
const EVENT_WAIT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("live_tokio: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    // Compiling blocks: build the engine and the pipeline off the executor.
    let (pipeline, live, events) = tokio::task::spawn_blocking(|| -> Result<_, Error> {
        let config = EngineConfig {
            cache_dir: Some(std::env::temp_dir().join("framechain-example-cache")),
            ..EngineConfig::default()
        };
        let engine = Engine::new(config)?;
        let chain = ChainSpec::parse_launch(
            "redact rect=40,22,200,45 mode=fill ! scale width=320 height=180",
        )?;
        let pipeline = Arc::new(Pipeline::build(&engine, &chain)?);
        let live = LiveRuntime::new(LiveConfig::default())?;
        let events = live.events().expect("the receiver is handed out once");
        Ok((pipeline, live, events))
    })
    .await
    .map_err(|error| format!("the build task failed: {error}"))?
    .map_err(|error| {
        format!(
            "{error} (stages are found through FRAMECHAIN_STAGE_PATH; run `cargo xtask stages`)"
        )
    })?;

    let rate = FrameRate::DEFAULT;
    let session = Arc::new(
        live.open(&pipeline, rate.as_f64())
            .map_err(|e| e.to_string())?,
    );

    // The "network": pictures arrive at their rate; pushing never blocks.
    let feeder = {
        let session = session.clone();
        tokio::spawn(async move {
            let mut source =
                TestSource::new(640, 360, FRAMES, rate).expect("a valid test source size");
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.as_f64()));
            while let Some(frame) = source.read_frame().expect("generated frames") {
                tick.tick().await;
                session.push_media(Media::Frame(frame), Instant::now());
            }
            session.finish();
        })
    };

    // The owner: one small event loop over the runtime's receiver. `next()`
    // is cancel-safe, so a timeout (or a `select!` branch) may drop it
    // without losing an event.
    let mut received = 0u64;
    let stats = loop {
        let (id, event) = match tokio::time::timeout(EVENT_WAIT, events.next()).await {
            Ok(Some(tagged)) => tagged,
            Ok(None) => return Err("the runtime closed without Ended".into()),
            Err(_) => return Err(format!("no event for {EVENT_WAIT:?}")),
        };
        if id != session.id() {
            return Err("an event of a session this program did not open".into());
        }
        match event {
            LiveEvent::Output { .. } => received += 1,
            LiveEvent::Ended(stats) => break stats,
            LiveEvent::Failed(error) => return Err(error.to_string()),
            // A raw-frame chain asks for no keyframes and swaps nothing here.
            _ => {}
        }
    };
    feeder
        .await
        .map_err(|error| format!("the feeder failed: {error}"))?;

    // Dropping the runtime joins its workers: off the executor as well.
    tokio::task::spawn_blocking(move || drop(live))
        .await
        .map_err(|error| format!("dropping the runtime failed: {error}"))?;

    let dropped = stats.dropped_total();
    println!(
        "live_tokio: {} in, {received} out, {dropped} dropped; end to end p50 {:?}",
        stats.inputs,
        stats.arrival_latency.p50()
    );
    if stats.inputs != FRAMES || received != stats.outputs || received + dropped != stats.inputs {
        return Err(format!(
            "{FRAMES} pushed, {} counted in, {} counted out, {received} received, {dropped} dropped: \
             every input must come out or be counted as dropped",
            stats.inputs, stats.outputs
        ));
    }
    Ok(())
}
