//! `framechain run --realtime`: an H.264 file played as a live camera.
//!
//! The file is cut into access units inside the sandbox, by a session of
//! the `parse-h264` stage of its own (`framechain_tools::AccessUnitSplitter`); access unit `k` then "arrives" at
//! `start + k / fps` and goes into a live session of the run's pipeline
//! ([`framechain::live`]), exactly as a media server would push what came
//! off the network. What comes out is written as in a normal run, and the
//! summary's `end-to-end` row is the latency from each access unit's
//! arrival to its output: queueing, late drops and all.
//!
//! The parser reads ahead of the clock, so the one access unit a live
//! parser must wait for (an access unit ends only where the next begins)
//! is not part of the latency shown: over a network that wait belongs to
//! the depacketizer, which knows where a picture ends from the RTP marker.

// The alignment a live source's decoder needs, shared with `framechain serve`.
use framechain_serve::align_leading_decoder as align_decoder;
use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use framechain::live::{LiveConfig, LiveEvent, LiveEvents, LiveRuntime, LiveSession};
use framechain::{ChainSpec, Engine, Packet, Pipeline, SessionStats};
use framechain_tools::AccessUnitSplitter;
use framechain_tools::io::{AnnexBReader, FrameRate, MediaReader, MediaWriter};

use crate::RunArgs;
use crate::inputs::{self, InputFormat};

/// Runs `chain` on the file named by `args` in realtime. Every failure is
/// one line.
pub fn run(engine: &Engine, mut chain: ChainSpec, args: &RunArgs) -> Result<(), String> {
    let format = inputs::input_format(args)?;
    if format != InputFormat::H264 {
        return Err(format!(
            "--realtime plays an H.264 file (.h264, .264 or --input-format h264); input \"{}\" is {}",
            args.input,
            inputs::format_name(format)
        ));
    }
    align_decoder(&mut chain);
    let pipeline = Arc::new(Pipeline::build(engine, &chain).map_err(|error| error.to_string())?);
    let rate = args.fps.unwrap_or(FrameRate::DEFAULT);
    let fps = rate.as_f64();
    let mut parse = AccessUnitSplitter::with_fps(engine, fps).map_err(|error| error.to_string())?;
    let mut reader = AnnexBReader::new(
        framechain_tools::io::open_source(&args.input).map_err(|error| error.to_string())?,
        rate,
    );
    let mut writer = inputs::open_output(args, rate)?;
    // parse-h264 gives what the file gives, H.264 packets, only cut
    // differently: the chain must take them.
    pipeline
        .check_ends(&reader.port(), &writer.port())
        .map_err(|error| error.to_string())?;
    let runtime = LiveRuntime::new(LiveConfig::default()).map_err(|error| error.to_string())?;
    let events = runtime.events().expect("a new runtime's receiver");
    let live = runtime
        .open(&pipeline, fps)
        .map_err(|error| error.to_string())?;

    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (fed, received) = std::thread::scope(|scope| {
        let feeder = scope.spawn(|| {
            let fed = feed(&mut reader, &mut parse, &live, rate, &stop, &args.input);
            // Whatever happened, the live session flushes and ends.
            live.finish();
            fed
        });
        let received = receive(&events, writer.as_mut(), &stop);
        let fed = feeder
            .join()
            .unwrap_or_else(|_| Err("the input thread failed".to_owned()));
        (fed, received)
    });
    let elapsed = started.elapsed();
    let received = received?;
    fed?;
    if let Some(error) = received.failure {
        return Err(error);
    }
    let stats = received.stats;
    if stats.inputs > 0 && received.written == 0 {
        return Err(format!(
            "no output: {} access units went in and nothing came out ({})",
            stats.inputs,
            why_nothing(&stats)
        ));
    }
    writer
        .finish()
        .map_err(|error| format!("output: {error}"))?;
    if !args.quiet {
        let parse_stats = parse.session().stats();
        let mut text = crate::summary::summary(
            &stats,
            elapsed,
            &parse_stats.stages.iter().collect::<Vec<_>>(),
            &stats.arrival_latency,
            parse.session().suppressed_log_lines(),
        );
        text.push_str(&format!(
            "  (realtime at {fps} fps: end-to-end is from each access unit's arrival to its output)\n"
        ));
        match received.keyframes_needed {
            0 => {}
            1 => text.push_str(
                "  (1 keyframe request: a file cannot send one, so the session waited for the next)\n",
            ),
            n => text.push_str(&format!(
                "  ({n} keyframe requests: a file cannot send one, so the session waited for the next)\n"
            )),
        }
        eprint!("{text}");
    }
    Ok(())
}

/// When access unit `index` is due: `index / rate` after the start, exact
/// for rates like 30000/1001.
fn due(start: Instant, index: u64, rate: FrameRate) -> Instant {
    let nanos = index as u128 * 1_000_000_000 * rate.den as u128 / rate.num.max(1) as u128;
    start + Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
}

/// Reads the file, cuts it into access units with `parse`, and pushes each
/// into `live` at its time. Returns how many it pushed.
fn feed(
    reader: &mut AnnexBReader<Box<dyn BufRead + Send>>,
    parse: &mut AccessUnitSplitter,
    live: &LiveSession,
    rate: FrameRate,
    stop: &AtomicBool,
    input: &str,
) -> Result<u64, String> {
    let mut units: VecDeque<Packet> = VecDeque::new();
    let mut at_end = false;
    let mut start = None;
    let mut pushed = 0u64;
    loop {
        // The parser runs just ahead of the clock: a 64 KiB chunk holds a
        // few access units, so little waits here.
        while units.is_empty() && !at_end {
            let cut = match reader
                .read_media()
                .map_err(|error| format!("input {input}: {error}"))?
            {
                // An Annex-B reader gives packets only.
                Some(chunk) => match chunk.into_packet() {
                    Some(chunk) => parse.push_packet(chunk),
                    None => continue,
                },
                None => {
                    at_end = true;
                    parse.finish()
                }
            };
            units.extend(cut.map_err(|error| error.to_string())?);
        }
        let Some(unit) = units.pop_front() else {
            return Ok(pushed);
        };
        if stop.load(Ordering::Relaxed) {
            return Ok(pushed);
        }
        let start = *start.get_or_insert_with(Instant::now);
        let due = due(start, pushed, rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        live.push(unit, Instant::now());
        pushed += 1;
    }
}

/// What came back from the live session.
struct Received {
    stats: Box<SessionStats>,
    written: u64,
    keyframes_needed: u64,
    failure: Option<String>,
}

/// Writes every output of the runtime's one session as it comes, until it
/// ends. A write error or a failed session sets `stop` so the feeder stops
/// pushing; events are still taken to the end for the stats.
fn receive(
    events: &LiveEvents,
    writer: &mut dyn MediaWriter,
    stop: &AtomicBool,
) -> Result<Received, String> {
    let mut written = 0;
    let mut keyframes_needed = 0;
    let mut failure = None;
    // The runtime runs this one session: every event is its.
    while let Some((_, event)) = events.recv() {
        match event {
            LiveEvent::Output { media, .. } => {
                if failure.is_none() {
                    match writer.write_media(media) {
                        Ok(()) => written += 1,
                        Err(error) => {
                            failure = Some(format!("output: {error}"));
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            LiveEvent::KeyframeNeeded => keyframes_needed += 1,
            // Counted in the stats that come with `Ended`.
            LiveEvent::Dropped { .. } => {}
            // `run --realtime` never swaps a stage.
            LiveEvent::Swapped { .. }
            | LiveEvent::SwapFailed { .. }
            | LiveEvent::OverShare { .. } => {}
            LiveEvent::Failed(error) => {
                failure.get_or_insert(error.to_string());
                stop.store(true, Ordering::Relaxed);
            }
            LiveEvent::Ended(stats) => {
                return Ok(Received {
                    stats,
                    written,
                    keyframes_needed,
                    failure,
                });
            }
        }
    }
    Err("the live session ended without its counts".to_owned())
}

/// What the stages said about a run with no output: their drops.
fn why_nothing(stats: &SessionStats) -> String {
    let dropped = stats.dropped();
    if dropped.is_empty() {
        return "the stages gave nothing and reported no drops".to_owned();
    }
    let reasons: Vec<String> = dropped
        .iter()
        .take(3)
        .map(|(reason, n)| format!("{n} dropped by {reason}"))
        .collect();
    reasons.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_decoder_gets_access_unit_alignment_unless_it_has_one() {
        let mut chain = ChainSpec::parse_launch("decode-h264 ! scale width=8 height=8").unwrap();
        align_decoder(&mut chain);
        assert_eq!(
            chain.stages[0].params,
            vec![("alignment".to_owned(), "access-unit".to_owned())]
        );
        let mut chain = ChainSpec::parse_launch("decode-h264 alignment=nal").unwrap();
        align_decoder(&mut chain);
        assert_eq!(
            chain.stages[0].params,
            vec![("alignment".to_owned(), "nal".to_owned())]
        );
        let mut chain = ChainSpec::parse_launch("scale width=8 height=8").unwrap();
        align_decoder(&mut chain);
        assert_eq!(
            chain.stages[0].params,
            vec![
                ("width".to_owned(), "8".to_owned()),
                ("height".to_owned(), "8".to_owned())
            ]
        );
    }

    #[test]
    fn access_units_are_due_at_the_frame_rate() {
        let start = Instant::now();
        let ntsc = FrameRate::parse("30000/1001").unwrap();
        assert_eq!(due(start, 0, ntsc), start);
        assert_eq!(due(start, 30_000, ntsc) - start, Duration::from_secs(1001));
        assert_eq!(
            due(start, 3, FrameRate::DEFAULT) - start,
            Duration::from_millis(100)
        );
    }
}
