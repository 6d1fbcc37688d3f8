//! Load generator for `framechain serve`: publishers (each with one viewer)
//! added one at a time over real UDP on loopback, every publisher sending
//! the real clip paced at its frame rate; per step, the latency of every
//! picture (viewer arrival − publisher send of the same RTP timestamp),
//! loss and the server's drops. It stops at the first step whose p99
//! passes the budget, at the first refusal, or at `--max-publishers`; on a
//! refusal it keeps measuring the calls already running (they must keep
//! their latency). Bounded: every step and the whole run have a time limit.
//!
//! loadgen --server http://127.0.0.1:8080 --stream s1:PUB:VIEW --stream s2:PUB:VIEW \
//!     --clip real1080p30_10s_cbp_6M.264 --csv load.csv

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use framechain_loadgen::{
    Clip, Endpoint, Error, PublishOptions, Publisher, ViewOptions, Viewer, get_text, metric_total,
};

struct Args {
    server: String,
    streams: Vec<(String, String, String)>,
    clip: PathBuf,
    fps: f64,
    warmup: Duration,
    window: Duration,
    budget_ms: f64,
    max_publishers: usize,
    csv: PathBuf,
    time_limit: Duration,
}

const USAGE: &str = "usage: loadgen --server URL --stream NAME:PUBLISH_TOKEN:VIEW_TOKEN... --clip FILE.264 \
[--fps 30] [--warmup-seconds 4] [--window-seconds 10] [--budget-ms 200] [--max-publishers N] \
[--csv load.csv] [--time-limit-seconds 600]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        server: String::new(),
        streams: Vec::new(),
        clip: PathBuf::new(),
        fps: 30.0,
        warmup: Duration::from_secs(4),
        window: Duration::from_secs(10),
        budget_ms: 200.0,
        max_publishers: usize::MAX,
        csv: PathBuf::from("load.csv"),
        time_limit: Duration::from_secs(600),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0)
                .ok_or_else(|| format!("{flag} {v}: give a positive number"))
        };
        match flag.as_str() {
            "--server" => args.server = value,
            "--stream" => {
                let mut parts = value.splitn(3, ':');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(n), Some(p), Some(v)) if !n.is_empty() => {
                        args.streams
                            .push((n.to_owned(), p.to_owned(), v.to_owned()))
                    }
                    _ => return Err("--stream is NAME:PUBLISH_TOKEN:VIEW_TOKEN".to_owned()),
                }
            }
            "--clip" => args.clip = PathBuf::from(value),
            "--fps" => args.fps = number(&value)?,
            "--warmup-seconds" => args.warmup = Duration::from_secs_f64(number(&value)?),
            "--window-seconds" => args.window = Duration::from_secs_f64(number(&value)?),
            "--budget-ms" => args.budget_ms = number(&value)?,
            "--max-publishers" => args.max_publishers = number(&value)? as usize,
            "--csv" => args.csv = PathBuf::from(value),
            "--time-limit-seconds" => args.time_limit = Duration::from_secs_f64(number(&value)?),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if args.server.is_empty() || args.streams.is_empty() || args.clip.as_os_str().is_empty() {
        return Err(USAGE.to_owned());
    }
    Ok(args)
}

struct Call {
    publisher: Publisher,
    viewer: Viewer,
    /// Viewer units already looked at.
    seen: usize,
}

#[derive(Default)]
struct Step {
    latencies_ms: Vec<f64>,
    sent: u64,
    received: u64,
    plis: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn dropped(server: &str) -> f64 {
    get_text(&format!("{server}/metrics"), None)
        .map(|text| metric_total(&text, "framechain_frames_dropped_total"))
        .unwrap_or(f64::NAN)
}

/// A step measured ([`measure`]) with the server's drops in its window and
/// its latency percentiles.
struct MeasuredStep {
    step: Step,
    server_dropped: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

fn measure_with_server_drops(calls: &mut [Call], args: &Args) -> MeasuredStep {
    let dropped_before = dropped(&args.server);
    let step = measure(calls, args.window);
    let server_dropped = dropped(&args.server) - dropped_before;
    MeasuredStep {
        p50: percentile(&step.latencies_ms, 50.0),
        p99: percentile(&step.latencies_ms, 99.0),
        max: step.latencies_ms.last().copied().unwrap_or(f64::NAN),
        server_dropped,
        step,
    }
}

impl MeasuredStep {
    /// The CSV row of this step of `phase` with `publishers` calls running.
    fn csv_row(&self, phase: &str, publishers: usize, budget_ms: f64) -> String {
        let MeasuredStep {
            step,
            server_dropped,
            p50,
            p99,
            max,
        } = self;
        format!(
            "{phase},{publishers},{p50:.2},{p99:.2},{max:.2},{},{},{},{},{server_dropped},{},{}\n",
            step.latencies_ms.len(),
            step.sent,
            step.received,
            step.sent - step.received,
            step.plis,
            if *p99 <= budget_ms {
                "holds"
            } else {
                "over budget"
            }
        )
    }
}

/// Runs the calls for `window` and measures them: latency of every unit
/// that arrived in the window; of the units sent in the window (less the
/// last half second, still in flight), how many arrived.
fn measure(calls: &mut [Call], window: Duration) -> Step {
    let start = Instant::now();
    let plis_before: u64 = calls
        .iter()
        .map(|c| c.publisher.stats().plis_received)
        .sum();
    for call in calls.iter_mut() {
        call.seen = call.viewer.stats().units as usize;
    }
    std::thread::sleep(window);
    let end = Instant::now();
    let in_flight = Duration::from_millis(500);
    std::thread::sleep(in_flight);
    let mut step = Step::default();
    for call in calls.iter_mut() {
        let sends = call.publisher.send_times();
        let units = call.viewer.units_since(call.seen);
        call.seen += units.len();
        let received: HashSet<u32> = units.iter().map(|u| u.rtp_time).collect();
        for unit in &units {
            if unit.arrival > end {
                continue;
            }
            if let Some(sent) = sends.get(&unit.rtp_time) {
                step.latencies_ms
                    .push(unit.arrival.saturating_duration_since(*sent).as_secs_f64() * 1000.0);
            }
        }
        for (rtp, sent) in &sends {
            if *sent >= start && *sent + in_flight <= end {
                step.sent += 1;
                step.received += u64::from(received.contains(rtp));
            }
        }
    }
    let plis_after: u64 = calls
        .iter()
        .map(|c| c.publisher.stats().plis_received)
        .sum();
    step.plis = plis_after - plis_before;
    step.latencies_ms.sort_by(f64::total_cmp);
    step
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("loadgen: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("loadgen: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let clip = Clip::open(&args.clip).map_err(|e| e.to_string())?;
    let began = Instant::now();
    let mut csv = String::from(
        "phase,publishers,p50_ms,p99_ms,max_ms,samples,sent,received,lost,server_dropped,plis,note\n",
    );
    let mut calls: Vec<Call> = Vec::new();
    let mut best: Option<(usize, f64, f64)> = None;
    let mut refusal: Option<String> = None;
    let mut over_budget = false;
    let limit = args.max_publishers.min(args.streams.len() - 1).max(1);
    println!(
        "loadgen: up to {limit} publishers + 1 to be refused, {} fps, warm-up {:?}, window {:?}, budget p99 <= {} ms",
        args.fps, args.warmup, args.window, args.budget_ms
    );
    for (index, (name, publish_token, view_token)) in args.streams.iter().enumerate() {
        if began.elapsed() > args.time_limit {
            return Err(format!("time limit {:?} reached", args.time_limit));
        }
        let ramping = index < limit && !over_budget;
        let publisher = Publisher::start(
            &Endpoint::new(&args.server, name, publish_token),
            clip.clone(),
            PublishOptions {
                fps: args.fps,
                // Different streams start at different RTP times, as cameras do.
                first_rtp_time: 90_000 * (index as u32 + 1),
                ..PublishOptions::default()
            },
        );
        let publisher = match publisher {
            Ok(publisher) => publisher,
            Err(Error::Refused {
                status,
                retry_after,
                body,
                ..
            }) => {
                refusal = Some(format!(
                    "publisher {} refused: HTTP {status}, Retry-After {}, {body:?}",
                    index + 1,
                    retry_after.as_deref().unwrap_or("(none)")
                ));
                println!("{}", refusal.as_deref().unwrap_or_default());
                writeln!(
                    csv,
                    "refused,{},,,,,,,,,,HTTP {status} Retry-After {}",
                    index + 1,
                    retry_after.as_deref().unwrap_or("none")
                )
                .unwrap();
                break;
            }
            Err(error) => return Err(format!("publisher {}: {error}", index + 1)),
        };
        if !ramping {
            // Admitted past the budget or the count asked: that is the finding.
            let _ = publisher.stop();
            writeln!(csv, "admitted-past-limit,{},,,,,,,,,,", index + 1).unwrap();
            println!("publisher {} was admitted (no 503)", index + 1);
            break;
        }
        publisher
            .wait_connected(Duration::from_secs(10))
            .map_err(|e| format!("publisher {}: {e}", index + 1))?;
        let viewer = Viewer::start(
            &Endpoint::new(&args.server, name, view_token),
            ViewOptions {
                keep_data: false,
                ..ViewOptions::default()
            },
        )
        .map_err(|e| format!("viewer {}: {e}", index + 1))?;
        viewer
            .wait_connected(Duration::from_secs(10))
            .map_err(|e| format!("viewer {}: {e}", index + 1))?;
        calls.push(Call {
            publisher,
            viewer,
            seen: 0,
        });
        std::thread::sleep(args.warmup);
        let measured = measure_with_server_drops(&mut calls, args);
        let (step, p50, p99, max) = (&measured.step, measured.p50, measured.p99, measured.max);
        let server_dropped = measured.server_dropped;
        let holds = p99 <= args.budget_ms;
        println!(
            "{} publishers: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms, {} pictures, sent {} received {} (lost {}), server dropped {server_dropped}, PLIs {}{}",
            calls.len(),
            step.latencies_ms.len(),
            step.sent,
            step.received,
            step.sent - step.received,
            step.plis,
            if holds { "" } else { "  -- over budget" }
        );
        csv.push_str(&measured.csv_row("ramp", calls.len(), args.budget_ms));
        if holds {
            best = Some((calls.len(), p50, p99));
        } else {
            over_budget = true;
        }
    }
    if refusal.is_some() && !calls.is_empty() {
        // The running calls after the refusal: still within budget?
        let measured = measure_with_server_drops(&mut calls, args);
        let (step, p50, p99, max) = (&measured.step, measured.p50, measured.p99, measured.max);
        let server_dropped = measured.server_dropped;
        println!(
            "after the refusal, {} running calls: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms, sent {} received {}, server dropped {server_dropped}",
            calls.len(),
            step.sent,
            step.received
        );
        csv.push_str(&measured.csv_row("after-refusal", calls.len(), args.budget_ms));
    }
    std::fs::write(&args.csv, csv).map_err(|e| format!("{}: {e}", args.csv.display()))?;
    for call in calls {
        let _ = call.viewer.stop();
        let _ = call.publisher.stop();
    }
    match best {
        Some((n, p50, p99)) => println!(
            "largest number of calls holding p99 <= {} ms: {n} (p50 {p50:.1} ms, p99 {p99:.1} ms)",
            args.budget_ms
        ),
        None => println!("no step held p99 <= {} ms", args.budget_ms),
    }
    println!(
        "{}; CSV: {}",
        refusal.as_deref().unwrap_or("no refusal seen"),
        args.csv.display()
    );
    Ok(())
}
