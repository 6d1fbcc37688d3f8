//! `live`: measures `framechain::live` with paced streams, one scenario per
//! subcommand. Every loop stops by itself in count and time; nothing uses
//! the network. Results and the commands that give them are in
//! `docs/performance.md`, "Live sessions"; `scripts/live-bench.sh` runs
//! all of them.
//!
//! Access units are cut once, up front, by the sandboxed `parse-h264`
//! stage; the smaller sources are made with FFmpeg into `--tmp`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framechain::live::{
    LATE_DROP, LiveConfig, LiveEvent, LiveEvents, LiveRuntime, LiveSession, SessionId,
};
use framechain::{ChainSpec, Engine, EngineConfig, Error, Media, Packet, Pipeline, SessionStats};
use framechain_benches::WithBenchStages;
use framechain_tools::AccessUnitSplitter;

const USAGE: &str = "\
usage: live <scenario> [--key value]...

scenarios (each prints a table; all loops are bounded):
  one       one paced 1080p30 session of the telemedicine chain
            --repeat 3 --accel both|wasm|native --worst (list the latest pictures)
            --source 1080|1080high (the Baseline clip, or the High-profile one)
  coldstart where a fresh session's first picture goes: per stage, thread CPU
            time and page faults of picture 0 against the median of later ones,
            and of starting the session; one thread, no pacing, so a loaded
            machine changes little
            --rounds 5 --pictures 40 --accel wasm|native --pooling N --keep-resident MiB
  swap      one paced session of the telemedicine chain whose encoder is swapped
            (another bitrate) after picture 70, made at the keyframe #120: its
            latency against the keyframe #60, the new instances made at the
            keyframe (spares 0) or ahead (spares 1), alternately
            --repeat 3
  throughput one session unpaced, its chain whole and split across workers
            (pipelining), alternately: pictures a second
            --source 1080high|1080|720 --accel wasm|native|both --repeat 3
  density   N paced sessions at once, N = 1.. until p99 > 200 ms or drops > 0.1 %,
            single-session throughput, and an admission probe
            --source both|1080|720 --accel both|wasm|native --max-n 8 --seconds 6
  thousand  many 320x180 5 fps sessions of decode ! redact ! encode
            --sessions 1000 --seconds 25 --accel wasm|native --pooling off|on
            --max-load 0.9 --min-free-mib 6144 --force (open past admission
            with LiveRuntime::open_past_admission) --startup (one picture each, all
            at once: time until every session gave it; --seconds bounds it)
  memory    RSS after each added 1080p->720p session (paced at 5 fps)
            --max 8 --step-seconds 2 --accel wasm|native
  fairness  K healthy 720p->360p sessions beside one with a 45 ms burner stage
            (call_timeout 50 ms), against the same K alone
            --k 2 --repeat 3 --seconds 8

one, memory: --expect-size on|off (the decoder's, scale's and encoder's expect-size, as
examples/telemedicine.yaml sets it; off: the sizes are not given), --spares N
(LiveConfig::spares, default 1)
one: --pooling N --keep-resident MiB (wasmtime's pooling allocator for N
instances, each memory slot keeping MiB resident between instances)
one and density: --queue-depth N (LiveConfig::queue_depth, default 5),
--pipeline-above X|off (LiveConfig::pipeline_above, default 0.75: split a
session's chain across workers past X of its frame interval; off: never),
--fair-share on|off (off: LiveConfig::fair_share None, for a loaded machine
whose preemption would count as the session's worker time)
common: --tmp DIR (generated sources and the compile cache; default
$TMPDIR/framechain-live-bench), --testdata DIR (default ../shared/testdata
or $FRAMECHAIN_TESTDATA). Stages from $FRAMECHAIN_STAGE_PATH or target/.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(scenario) = args.first().cloned() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let opts = match Opts::parse(&args[1..]) {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("live: error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // As the CLI and the shim do: frame-sized blocks stay in glibc's heap.
    if !opts.flag("glibc-default") {
        framechain_tools::allocator::keep_frame_buffers();
    }
    let result = match scenario.as_str() {
        "one" => one(&opts),
        "coldstart" => coldstart(&opts),
        "swap" => swap(&opts),
        "density" => density(&opts),
        "throughput" => throughput(&opts),
        "thousand" => thousand(&opts),
        "memory" => memory(&opts),
        "fairness" => fairness(&opts),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown scenario {other:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("live: error: {message}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------- options

struct Opts(BTreeMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut map = BTreeMap::new();
        let mut args = args.iter();
        while let Some(key) = args.next() {
            let key = key
                .strip_prefix("--")
                .ok_or_else(|| format!("expected --key, got {key:?}"))?;
            if ["glibc-default", "force", "worst", "startup"].contains(&key) {
                map.insert(key.to_owned(), "1".to_owned());
                continue;
            }
            let value = args
                .next()
                .ok_or_else(|| format!("--{key} needs a value"))?;
            map.insert(key.to_owned(), value.clone());
        }
        Ok(Opts(map))
    }

    fn get<T: FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.0.get(key) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|_| format!("--{key}: cannot read {value:?}")),
        }
    }

    fn text(&self, key: &str, default: &str) -> String {
        self.0
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    fn flag(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    fn tmp(&self) -> Result<PathBuf, String> {
        let dir = match self.0.get("tmp") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::temp_dir().join("framechain-live-bench"),
        };
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir)
    }

    fn testdata(&self) -> PathBuf {
        if let Some(dir) = self.0.get("testdata") {
            return PathBuf::from(dir);
        }
        framechain_test_support::testdata_dir()
    }

    /// `--accel`: which encoders to run.
    fn accels(&self, default: &str) -> Result<Vec<bool>, String> {
        match self.text("accel", default).as_str() {
            "both" => Ok(vec![false, true]),
            "wasm" | "none" => Ok(vec![false]),
            "native" => Ok(vec![true]),
            other => Err(format!("--accel: both, wasm or native, not {other:?}")),
        }
    }
}

fn accel_name(native: bool) -> &'static str {
    if native { "accel=native" } else { "all-wasm" }
}

// ------------------------------------------------------- engine and chains

fn engine(opts: &Opts, config: EngineConfig) -> Result<Engine, String> {
    let config = EngineConfig {
        cache_dir: Some(opts.tmp()?.join("compiled")),
        ..config
    }
    .with_bench_stages();
    Engine::new(config).map_err(|e| format!("engine: {e}"))
}

fn set_param(chain: &mut ChainSpec, stage: &str, key: &str, value: &str) {
    for spec in chain.stages.iter_mut().filter(|spec| spec.stage == stage) {
        match spec.params.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_owned(),
            None => spec.params.push((key.to_owned(), value.to_owned())),
        }
    }
}

/// `examples/telemedicine.yaml` fed whole access units, scaled to
/// `width`x`height`, with the wasm or the native encoder.
fn telemedicine(width: u32, height: u32, native: bool) -> Result<ChainSpec, String> {
    let file = framechain_test_support::workspace_root().join("examples/telemedicine.yaml");
    let mut chain = ChainSpec::read_pipeline_file(&file).map_err(|e| e.to_string())?;
    set_param(&mut chain, "decode-h264", "alignment", "access-unit");
    set_param(&mut chain, "scale", "width", &width.to_string());
    set_param(&mut chain, "scale", "height", &height.to_string());
    // The sizes the stages will see (the file's are 1080p in, 720p out):
    // the bench scales its 1080p sources to 720p and its 720p source to
    // 360p.
    let source = if width >= 1280 {
        "1920x1080"
    } else {
        "1280x720"
    };
    set_param(&mut chain, "decode-h264", "expect-size", source);
    set_param(&mut chain, "scale", "expect-size", source);
    set_param(
        &mut chain,
        "encode-h264",
        "expect-size",
        &format!("{width}x{height}"),
    );
    if native {
        set_param(&mut chain, "encode-h264", "accel", "native");
    }
    Ok(chain)
}

/// `--expect-size on|off` (`one`, `coldstart`): whether the chain's
/// decoder, scale and encoder are told the sizes they will see (`expect-size`,
/// as `examples/telemedicine.yaml` does), so they make their memory ready
/// when the session starts; off removes it, for the cold start as it was.
fn warm_sizes(opts: &Opts, mut chain: ChainSpec) -> Result<ChainSpec, String> {
    match opts.text("expect-size", "on").as_str() {
        "on" => {}
        "off" => {
            for spec in &mut chain.stages {
                spec.params.retain(|(key, _)| key != "expect-size");
            }
        }
        other => return Err(format!("--expect-size on|off, not {other:?}")),
    }
    Ok(chain)
}

fn build(engine: &Engine, chain: &ChainSpec) -> Result<Arc<Pipeline>, String> {
    Pipeline::build(engine, chain)
        .map(Arc::new)
        .map_err(|e| format!("{}: {e} (run `cargo xtask build`)", chain.to_launch()))
}

// ------------------------------------------------------------ the sources

/// A stream cut into access units, and its frame rate.
struct Clip {
    label: &'static str,
    units: Arc<Vec<Packet>>,
    fps: f64,
}

/// Cuts an H.264 file into access units with the sandboxed `parse-h264`.
fn access_units(engine: &Engine, path: &Path) -> Result<Vec<Packet>, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let units = AccessUnitSplitter::new(engine)
        .and_then(|splitter| splitter.split(&data))
        .map_err(|e| format!("{}: {e} (run `cargo xtask build`)", path.display()))?;
    if units.is_empty() || !units[0].keyframe {
        return Err(format!(
            "{}: parse-h264 gave no access units starting at a keyframe",
            path.display()
        ));
    }
    Ok(units)
}

/// `name` in `--tmp`, made from the 1080p clip by FFmpeg (libx264
/// Constrained Baseline, one IDR every `gop` pictures) unless already there.
fn generated(
    opts: &Opts,
    name: &str,
    filter: &str,
    gop: u32,
    bitrate: &str,
) -> Result<PathBuf, String> {
    let out = opts.tmp()?.join(name);
    if out.exists() {
        return Ok(out);
    }
    let source = clip_1080p(opts);
    let gop = gop.to_string();
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&source)
        .args(["-vf", filter, "-c:v", "libx264", "-profile:v", "baseline"])
        .args([
            "-preset", "medium", "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate,
        ])
        .args([
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-bf",
            "0",
        ])
        .args(["-f", "h264"])
        .arg(&out)
        .status()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    if !status.success() {
        let _ = std::fs::remove_file(&out);
        return Err(format!("ffmpeg failed making {name}"));
    }
    Ok(out)
}

fn clip_1080p(opts: &Opts) -> PathBuf {
    opts.testdata()
        .join("h264/throughput/real1080p30_10s_cbp_6M.264")
}

fn clip(opts: &Opts, engine: &Engine, which: &str) -> Result<Clip, String> {
    let (label, path, fps) = match which {
        "1080" => ("1080p30", clip_1080p(opts), 30.0),
        // What phones' and cameras' hardware encoders send: CABAC and
        // B-frames, about 1.5x the decoder's work of the Baseline clip.
        "1080high" => (
            "1080p30 High",
            opts.testdata()
                .join("h264/throughput/real1080p30_10s_high_6M.264"),
            30.0,
        ),
        "720" => (
            "720p30",
            generated(opts, "real720p30_cbp.264", "scale=1280:720", 60, "3M")?,
            30.0,
        ),
        "180" => (
            "320x180p5",
            generated(opts, "real180p5_cbp.264", "scale=320:180,fps=5", 10, "300k")?,
            5.0,
        ),
        other => return Err(format!("unknown source {other:?}")),
    };
    let units = access_units(engine, &path)?;
    Ok(Clip {
        label,
        units: Arc::new(units),
        fps,
    })
}

// ------------------------------------------------------ the paced driver

/// What one session's owner saw.
#[derive(Default)]
struct Record {
    /// Latency from arrival of every output given while input flowed.
    latencies: Vec<(Instant, Duration)>,
    /// Each timed output's per-stage call times, in output order: the
    /// first picture's against the later ones' shows the cold start.
    stage_times: Vec<Vec<Duration>>,
    /// Outputs of the final flush (latency zero: not counted above).
    flushed: u64,
    outputs: u64,
    first_output: Option<Instant>,
    /// The process's minor page faults when the first output came.
    faults_at_first_output: u64,
    last_output: Option<Instant>,
    keyframe_needed: u64,
    drops: BTreeMap<String, u64>,
    failed: Option<String>,
    stats: Option<SessionStats>,
}

impl Record {
    fn take(&mut self, event: LiveEvent) {
        let now = Instant::now();
        match event {
            LiveEvent::Output {
                latency, stages, ..
            } => {
                self.outputs += 1;
                if self.first_output.is_none() {
                    self.first_output = Some(now);
                    self.faults_at_first_output = minor_faults();
                }
                self.last_output = Some(now);
                if latency.is_zero() {
                    self.flushed += 1;
                } else {
                    self.latencies.push((now - latency, latency));
                    self.stage_times.push(stages);
                }
            }
            LiveEvent::KeyframeNeeded => self.keyframe_needed += 1,
            LiveEvent::Dropped { reason, count } => {
                *self.drops.entry(reason).or_default() += count;
            }
            LiveEvent::Failed(error) => self.failed = Some(error.to_string()),
            // `swap` reads what it needs of its swaps from the session.
            LiveEvent::Swapped { .. }
            | LiveEvent::SwapFailed { .. }
            | LiveEvent::OverShare { .. } => {}
            LiveEvent::Ended(stats) => self.stats = Some(*stats),
        }
    }
}

/// One session fed a clip at its frame rate: access unit k arrives at
/// `start + k / fps` and is pushed with that arrival.
struct Feed {
    session: LiveSession,
    units: Arc<Vec<Packet>>,
    start: Instant,
    period: Duration,
    pts_step: i64,
    total: usize,
    next: usize,
    /// The process's minor page faults when the first access unit was
    /// pushed.
    faults_at_first_push: u64,
    record: Record,
}

impl Feed {
    fn new(session: LiveSession, clip: &Clip, start: Instant, total: usize) -> Feed {
        Feed {
            session,
            units: clip.units.clone(),
            start,
            period: Duration::from_secs_f64(1.0 / clip.fps),
            pts_step: (90_000.0 / clip.fps) as i64,
            total,
            next: 0,
            faults_at_first_push: 0,
            record: Record::default(),
        }
    }

    fn due(&self) -> Option<Instant> {
        (self.next < self.total).then(|| self.start + self.period * self.next as u32)
    }

    fn push_due(&mut self, now: Instant) {
        while let Some(due) = self.due() {
            if due > now {
                break;
            }
            if self.next == 0 {
                self.faults_at_first_push = minor_faults();
            }
            let mut packet = self.units[self.next % self.units.len()].clone();
            packet.pts = self.next as i64 * self.pts_step;
            packet.dts = packet.pts;
            self.session.push(packet, due);
            self.next += 1;
        }
    }

    fn stop_input(&mut self) {
        self.total = self.next;
        self.session.finish();
    }
}

/// Which feed each session's events go to.
fn by_session(feeds: &[Feed]) -> HashMap<SessionId, usize> {
    feeds
        .iter()
        .enumerate()
        .map(|(index, feed)| (feed.session.id(), index))
        .collect()
}

/// Hands every event waiting in the runtime's receiver to its session's
/// feed (events of sessions without one, a probe, are not recorded).
fn drain(events: &LiveEvents, feeds: &mut [Feed]) {
    let index = by_session(feeds);
    while let Some((session, event)) = events.try_recv() {
        if let Some(&feed) = index.get(&session) {
            feeds[feed].record.take(event);
        }
    }
}

/// Reads events until every feed's session has ended.
fn wait_end(events: &LiveEvents, feeds: &mut [Feed]) {
    let index = by_session(feeds);
    let mut open = feeds
        .iter()
        .filter(|feed| feed.record.stats.is_none())
        .count();
    while open > 0 {
        let Some((session, event)) = events.recv() else {
            break;
        };
        if let Some(&feed) = index.get(&session) {
            let ended = matches!(event, LiveEvent::Ended(_));
            feeds[feed].record.take(event);
            open -= usize::from(ended);
        }
    }
}

/// Feeds every session on time until all input is pushed or `until`,
/// reading events every few milliseconds. One thread does it all, so a
/// thousand sessions cost one thread, not a thousand.
fn pace(events: &LiveEvents, feeds: &mut [Feed], until: Option<Instant>) {
    let mut heap: BinaryHeap<Reverse<(Instant, usize)>> = feeds
        .iter()
        .enumerate()
        .filter_map(|(index, feed)| feed.due().map(|due| Reverse((due, index))))
        .collect();
    let mut drained = Instant::now();
    loop {
        let now = Instant::now();
        if until.is_some_and(|until| now >= until) {
            break;
        }
        while let Some(&Reverse((due, index))) = heap.peek() {
            if due > now {
                break;
            }
            heap.pop();
            feeds[index].push_due(now);
            if let Some(next) = feeds[index].due() {
                heap.push(Reverse((next, index)));
            }
        }
        if now.duration_since(drained) >= Duration::from_millis(10) {
            drain(events, feeds);
            drained = now;
        }
        let Some(&Reverse((next, _))) = heap.peek() else {
            break;
        };
        let mut wake = next.min(drained + Duration::from_millis(10));
        if let Some(until) = until {
            wake = wake.min(until);
        }
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
    drain(events, feeds);
}

/// Keeps reading events for `time` (outputs of the last inputs).
fn settle(events: &LiveEvents, feeds: &mut [Feed], time: Duration) {
    let until = Instant::now() + time;
    while Instant::now() < until {
        drain(events, feeds);
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn finish_all(events: &LiveEvents, feeds: &mut [Feed]) {
    feeds.iter_mut().for_each(Feed::stop_input);
    wait_end(events, feeds);
}

// ------------------------------------------------------------ summaries

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e3)
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Counts over a group of sessions.
struct Summary {
    pushed: u64,
    outputs: u64,
    late: u64,
    /// Drops for other reasons (a stage's, `receiver behind`).
    other_drops: u64,
    /// Those other drops by reason.
    reasons: BTreeMap<String, u64>,
    /// Inputs neither out nor counted as dropped, by the sessions' stats.
    lost: i64,
    failed: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// The worst session's p99.
    worst_p99: Duration,
}

impl Summary {
    fn of<'a>(feeds: impl IntoIterator<Item = &'a Feed>, from: Option<Instant>) -> Summary {
        let mut all = Vec::new();
        let mut summary = Summary {
            pushed: 0,
            outputs: 0,
            late: 0,
            other_drops: 0,
            reasons: BTreeMap::new(),
            lost: 0,
            failed: 0,
            p50: Duration::ZERO,
            p99: Duration::ZERO,
            max: Duration::ZERO,
            worst_p99: Duration::ZERO,
        };
        for feed in feeds {
            let record = &feed.record;
            summary.pushed += feed.next as u64;
            summary.failed += usize::from(record.failed.is_some());
            let mut own: Vec<Duration> = record
                .latencies
                .iter()
                .filter(|(arrival, _)| from.is_none_or(|from| *arrival >= from))
                .map(|&(_, latency)| latency)
                .collect();
            own.sort();
            summary.worst_p99 = summary.worst_p99.max(quantile(&own, 0.99));
            all.extend(own);
            match &record.stats {
                Some(stats) => {
                    summary.outputs += stats.outputs;
                    let late = late_drops(stats);
                    summary.late += late;
                    summary.other_drops += stats.dropped_total() - late;
                    for (reason, count) in stats.dropped() {
                        if !is_late(&reason) {
                            *summary.reasons.entry(reason).or_default() += count;
                        }
                    }
                    summary.lost +=
                        feed.next as i64 - stats.outputs as i64 - stats.dropped_total() as i64;
                    if stats.inputs != feed.next as u64 {
                        eprintln!(
                            "live: a session counted {} inputs, {} were pushed",
                            stats.inputs, feed.next
                        );
                    }
                }
                None => summary.lost += feed.next as i64,
            }
        }
        all.sort();
        summary.p50 = quantile(&all, 0.5);
        summary.p99 = quantile(&all, 0.99);
        summary.max = all.last().copied().unwrap_or_default();
        summary
    }

    /// `reason: count, ...` of the drops other than late ones.
    fn reasons(&self) -> String {
        self.reasons
            .iter()
            .map(|(reason, count)| format!("{reason}: {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn drop_share(&self) -> f64 {
        (self.late + self.other_drops) as f64 / self.pushed.max(1) as f64
    }
}

/// Pictures a session skipped because it fell behind.
fn late_drops(stats: &SessionStats) -> u64 {
    stats.session_drops.get(LATE_DROP).copied().unwrap_or(0)
}

/// A drop reason for late pictures: `Dropped` events name them
/// `session: late` (from `SessionStats::dropped`), not `LATE_DROP`.
fn is_late(reason: &str) -> bool {
    reason == LATE_DROP || reason.strip_prefix("session: ") == Some(LATE_DROP)
}

fn first_failure<'a>(feeds: impl IntoIterator<Item = &'a Feed>) -> Option<String> {
    feeds
        .into_iter()
        .find_map(|feed| feed.record.failed.clone())
}

// ------------------------------------------------------- process figures

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of stat(5), in USER_HZ (100 on Linux).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Minor page faults of this process so far (field 10 of stat(5)): pages
/// the kernel mapped in on first touch, as fresh linear memory is.
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    rest.split_whitespace()
        .nth(7)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0)
}

fn proc_kib(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix(':')?;
            value.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

fn rss_mib() -> f64 {
    proc_kib("/proc/self/status", "VmRSS") as f64 / 1024.0
}

fn available_mib() -> f64 {
    proc_kib("/proc/meminfo", "MemAvailable") as f64 / 1024.0
}

fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Busy and total jiffies of the whole machine, from /proc/stat.
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU use of the process over a stretch of wall time, in % of one core,
/// and of the whole machine.
struct CpuMeter(Duration, Instant, (u64, u64));

impl CpuMeter {
    fn start() -> CpuMeter {
        CpuMeter(cpu_time(), Instant::now(), machine_jiffies())
    }

    /// The machine's busy share over the same stretch, in % of one core
    /// (200 % = both cores of two busy): this process and everyone else.
    fn machine_percent(&self) -> f64 {
        let (busy, total) = machine_jiffies();
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let total = (total - self.2.1).max(1) as f64;
        100.0 * cores * (busy - self.2.0) as f64 / total
    }

    fn percent(&self) -> f64 {
        let cpu = cpu_time().saturating_sub(self.0).as_secs_f64();
        100.0 * cpu / self.1.elapsed().as_secs_f64()
    }
}

/// The runtime's settings, with `--queue-depth` and `--pipeline-above`
/// if given.
fn live_config(opts: &Opts) -> Result<LiveConfig, String> {
    let default = LiveConfig::default();
    let pipeline_above = match opts.text("pipeline-above", "").as_str() {
        "" => default.pipeline_above,
        "off" => None,
        _ => Some(opts.get("pipeline-above", 0.0)?),
    };
    Ok(LiveConfig {
        queue_depth: opts.get("queue-depth", default.queue_depth)?,
        spares: opts.get("spares", default.spares)?,
        pipeline_above,
        fair_share: match opts.text("fair-share", "on").as_str() {
            "on" => default.fair_share,
            "off" => None,
            other => return Err(format!("--fair-share on|off, not {other:?}")),
        },
        ..default
    })
}

fn header(title: &str) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "\n## {title}\n(cores {cores}, load average {}, MemAvailable {:.0} MiB)",
        loadavg(),
        available_mib()
    );
}

/// Prints the access units (by index) whose outputs came latest.
fn worst_pictures(feed: &Feed) {
    let mut by_latency: Vec<(Duration, usize)> = feed
        .record
        .latencies
        .iter()
        .map(|&(arrival, latency)| {
            let index = arrival.saturating_duration_since(feed.start).as_secs_f64()
                / feed.period.as_secs_f64();
            (latency, index.round() as usize)
        })
        .collect();
    by_latency.sort_by(|a, b| b.cmp(a));
    let worst: Vec<String> = by_latency
        .iter()
        .take(10)
        .map(|(latency, index)| {
            let key = feed.units[index % feed.units.len()].keyframe;
            format!(
                "#{index}{} {}",
                if key { " (IDR)" } else { "" },
                ms(*latency)
            )
        })
        .collect();
    println!("  latest outputs (access unit, ms): {}", worst.join(", "));
}

/// `stage p50/p99, ...` of one session's stage calls, in ms.
fn stage_latencies(feed: &Feed) -> String {
    let Some(stats) = &feed.record.stats else {
        return String::new();
    };
    stats
        .stages
        .iter()
        .map(|stage| {
            format!(
                "{} {}/{}",
                stage.name,
                ms(stage.latency.p50()),
                ms(stage.latency.p99())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The session's first picture against its steady state: its latency,
/// each stage's call time for it and the median of the pictures after the
/// first second, and the page faults between its push and its output.
fn first_picture(feed: &Feed) -> String {
    let record = &feed.record;
    let (Some(first), Some(&(_, latency))) = (record.stage_times.first(), record.latencies.first())
    else {
        return "no output".to_owned();
    };
    let names: Vec<String> = record
        .stats
        .as_ref()
        .map(|stats| stats.stages.iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default();
    let later = &record.stage_times[record.stage_times.len().min(30)..];
    let stages: Vec<String> = first
        .iter()
        .enumerate()
        .map(|(index, time)| {
            let mut steady: Vec<f64> = later
                .iter()
                .filter_map(|times| times.get(index))
                .map(|time| time.as_secs_f64() * 1e3)
                .collect();
            format!(
                "{} {} ({:.1})",
                names.get(index).map_or("?", String::as_str),
                ms(*time),
                median(&mut steady)
            )
        })
        .collect();
    let faults = record
        .faults_at_first_output
        .saturating_sub(feed.faults_at_first_push);
    format!(
        "first picture {} ms, its stages (steady median) ms: {}; {faults} page faults",
        ms(latency),
        stages.join(", ")
    )
}

/// Waits (at most 10 s) until the runtime has no session open.
fn wait_closed(runtime: &LiveRuntime) {
    let until = Instant::now() + Duration::from_secs(10);
    while runtime.sessions() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn open_or_describe(
    runtime: &LiveRuntime,
    pipeline: &Arc<Pipeline>,
    fps: f64,
) -> Result<LiveSession, String> {
    runtime.open(pipeline, fps).map_err(|error| match error {
        Error::Busy(busy) => format!("Busy: {busy}"),
        other => format!("open failed: {other}"),
    })
}

/// Opens a session past admission's load check (the session cap holds).
fn open_past_admission(
    runtime: &LiveRuntime,
    pipeline: &Arc<Pipeline>,
    fps: f64,
) -> Result<LiveSession, String> {
    runtime
        .open_past_admission(pipeline, fps)
        .map_err(|error| format!("open failed: {error}"))
}

// ------------------------------------------------------------- scenarios

fn one(opts: &Opts) -> Result<(), String> {
    let repeat: usize = opts.get("repeat", 3)?;
    let engine = engine(opts, one_engine_config(opts)?)?;
    let clip = clip(opts, &engine, &opts.text("source", "1080"))?;
    header(&format!(
        "one: one live session, {} paced at {} fps, 300 access units",
        clip.label, clip.fps
    ));
    println!(
        "| variant | run | p50 ms | p99 ms | max ms | p99 after 1 s ms | late drops | other drops | lost | CPU % (machine %) | per-stage p50/p99 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for native in opts.accels("both")? {
        let chain = warm_sizes(opts, telemedicine(1280, 720, native)?)?;
        let pipeline = build(&engine, &chain)?;
        let (mut p50s, mut p99s, mut steady_p99s) = (Vec::new(), Vec::new(), Vec::new());
        for run in 1..=repeat {
            let runtime = LiveRuntime::new(live_config(opts)?).map_err(|e| e.to_string())?;
            let events = runtime.events().ok_or("the receiver was taken")?;
            let session = open_or_describe(&runtime, &pipeline, clip.fps)?;
            let start = Instant::now() + Duration::from_millis(300);
            let mut feeds = vec![Feed::new(session, &clip, start, clip.units.len())];
            let cpu = CpuMeter::start();
            pace(&events, &mut feeds, None);
            finish_all(&events, &mut feeds);
            let cpu = format!("{:.0} ({:.0})", cpu.percent(), cpu.machine_percent());
            let summary = Summary::of(&feeds, None);
            // Without the session's cold start (its first picture and the
            // ones queued behind it).
            let steady = Summary::of(&feeds, Some(start + Duration::from_secs(1)));
            let stages = stage_latencies(&feeds[0]);
            if opts.flag("worst") {
                worst_pictures(&feeds[0]);
            }
            println!("  {}", first_picture(&feeds[0]));
            println!(
                "| {} | {run} | {} | {} | {} | {} | {} | {} | {} | {cpu} | {stages} |",
                accel_name(native),
                ms(summary.p50),
                ms(summary.p99),
                ms(summary.max),
                ms(steady.p99),
                summary.late,
                summary.other_drops,
                summary.lost,
            );
            if let Some(failure) = first_failure(&feeds) {
                println!("  failed: {failure}");
            }
            if summary.other_drops > 0 {
                println!("  other drops: {}", summary.reasons());
            }
            p50s.push(summary.p50.as_secs_f64() * 1e3);
            p99s.push(summary.p99.as_secs_f64() * 1e3);
            steady_p99s.push(steady.p99.as_secs_f64() * 1e3);
        }
        println!(
            "| {} | median | {:.1} | {:.1} | | {:.1} | | | | | target p99 <= 50 ms (all-wasm) |",
            accel_name(native),
            median(&mut p50s),
            median(&mut p99s),
            median(&mut steady_p99s)
        );
    }
    println!("(load average after: {})", loadavg());
    Ok(())
}

/// `one`'s engine: `--pooling N` (wasmtime's pooling allocator for N
/// instances) with `--keep-resident MiB` (memory each slot keeps
/// resident, zeroed, between instances).
fn one_engine_config(opts: &Opts) -> Result<EngineConfig, String> {
    let pooling: u32 = opts.get("pooling", 0)?;
    let keep_resident: usize = opts.get("keep-resident", 0)?;
    Ok(EngineConfig {
        pooling: (pooling > 0).then_some(pooling),
        keep_resident: keep_resident << 20,
        ..EngineConfig::default()
    })
}

/// CPU time and minor page faults, of a thread or of one call.
type Usage = (Duration, u64);
/// One picture's usage: each stage's, then the whole push's.
type PictureUsage = (Vec<Usage>, Usage);

/// The calling thread's CPU time and minor page faults.
fn thread_usage() -> (Duration, u64) {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    let cpu = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let faults = rest
        .split_whitespace()
        .nth(7)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    (cpu, faults)
}

/// `coldstart`: fresh sessions of the telemedicine chain (1080p -> 720p),
/// run on this thread without pacing: thread CPU time and page faults of
/// starting each, and of each stage on its first picture against the
/// median of its later ones. The first round is also the process's first
/// session; the later rounds are what a running server's new call costs.
fn coldstart(opts: &Opts) -> Result<(), String> {
    let rounds: usize = opts.get("rounds", 5)?;
    let pictures: usize = opts.get("pictures", 40)?;
    let engine = engine(opts, one_engine_config(opts)?)?;
    let clip = clip(opts, &engine, &opts.text("source", "1080"))?;
    header(&format!(
        "coldstart: fresh sessions, {} to 720p, {pictures} pictures each, thread CPU ms (page faults)",
        clip.label
    ));
    // With and without `expect-size`, alternately in the same run: the
    // machine's other load changes between runs, not between rounds.
    let expect: Vec<&str> = match opts.text("expect-size", "both").as_str() {
        "both" => vec!["off", "on"],
        "on" => vec!["on"],
        "off" => vec!["off"],
        other => return Err(format!("--expect-size on|off|both, not {other:?}")),
    };
    for native in opts.accels("wasm")? {
        let mut pipelines = Vec::new();
        for &sizes in &expect {
            let mut chain = telemedicine(1280, 720, native)?;
            if sizes == "off" {
                for spec in &mut chain.stages {
                    spec.params.retain(|(key, _)| key != "expect-size");
                }
            }
            pipelines.push((sizes, build(&engine, &chain)?));
        }
        let names: Vec<String> = pipelines[0]
            .1
            .stages()
            .map(|s| s.name().to_owned())
            .collect();
        println!(
            "| variant | expect-size | round | start | picture 0 | later (median) | {} |",
            names
                .iter()
                .map(|name| format!("{name} 0 / later"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        println!(
            "|---|---|---:|---:|---:|---:|{}",
            "---:|".repeat(names.len())
        );
        for round in 1..=rounds * pipelines.len() {
            let (sizes, pipeline) = &pipelines[(round - 1) % pipelines.len()];
            let round = (round - 1) / pipelines.len() + 1;
            let before = thread_usage();
            let mut session = pipeline.start_session().map_err(|e| e.to_string())?;
            let started = thread_usage();
            // Per picture: each stage's (cpu, faults), then the whole push.
            let mut per_picture: Vec<PictureUsage> = Vec::new();
            for unit in clip.units.iter().take(pictures) {
                let mut stamps: Vec<(usize, (Duration, u64))> = Vec::new();
                let begin = thread_usage();
                session
                    .push_watched(Media::Packet(unit.clone()), &mut |position, _| {
                        stamps.push((position, thread_usage()));
                    })
                    .map_err(|e| e.to_string())?;
                let end = thread_usage();
                let mut stages = vec![(Duration::ZERO, 0u64); names.len()];
                let mut last = begin;
                let mut position = 0;
                for (at, usage) in stamps.into_iter().chain([(names.len(), end)]) {
                    if at > position {
                        stages[position].0 += usage.0.saturating_sub(last.0);
                        stages[position].1 += usage.1.saturating_sub(last.1);
                    }
                    last = usage;
                    position = at;
                }
                per_picture.push((
                    stages,
                    (end.0.saturating_sub(begin.0), end.1.saturating_sub(begin.1)),
                ));
            }
            let cell = |(cpu, faults): (Duration, u64)| format!("{} ({faults})", ms(cpu));
            let later = &per_picture[per_picture.len().min(10)..];
            let median_of = |pick: &dyn Fn(&PictureUsage) -> Usage| {
                let mut cpu: Vec<f64> = later
                    .iter()
                    .map(|p| pick(p).0.as_secs_f64() * 1e3)
                    .collect();
                let mut faults: Vec<f64> = later.iter().map(|p| pick(p).1 as f64).collect();
                format!("{:.1} ({:.0})", median(&mut cpu), median(&mut faults))
            };
            let Some(first) = per_picture.first() else {
                return Err("no picture".to_owned());
            };
            let stage_cells: Vec<String> = (0..names.len())
                .map(|index| {
                    format!(
                        "{} / {}",
                        cell(first.0[index]),
                        median_of(&|p: &PictureUsage| p.0[index])
                    )
                })
                .collect();
            println!(
                "| {} | {sizes} | {round} | {} | {} | {} | {} |",
                accel_name(native),
                cell((started.0 - before.0, started.1 - before.1)),
                cell(first.1),
                median_of(&|p: &PictureUsage| p.1),
                stage_cells.join(" | ")
            );
            // A keyframe later in the stream costs more than a P picture
            // too: the floor a warm first picture can reach.
            if let Some((index, (_, total))) = clip
                .units
                .iter()
                .zip(&per_picture)
                .enumerate()
                .skip(1)
                .find(|(_, (unit, _))| unit.keyframe)
                .map(|(index, (_, picture))| (index, picture))
            {
                println!("  the next keyframe, #{index}: {}", cell(*total));
            }
            println!(
                "  linear memory after {} pictures: {:.1} MiB",
                per_picture.len(),
                session.memory().linear as f64 / f64::from(1 << 20)
            );
            let drop_start = thread_usage();
            drop(session);
            let dropped = thread_usage();
            println!(
                "  dropping the session: {}",
                cell((dropped.0 - drop_start.0, dropped.1 - drop_start.1))
            );
        }
    }
    println!("(load average after: {})", loadavg());
    Ok(())
}

/// `swap`: a running call's encoder swapped at its keyframe #120 (asked
/// for after picture 70), with its new instances made at the keyframe on
/// the worker (spares 0) or ahead by the spares thread (spares 1), the
/// two alternating run by run. Per run: the latency of the keyframe
/// before (#60), of the swap's keyframe (#120) and the worst of the five
/// pictures queued behind it, against the median of the P pictures.
fn swap(opts: &Opts) -> Result<(), String> {
    const ASKED_AFTER: usize = 70;
    const BEFORE: usize = 60;
    const AT: usize = 120;
    let repeat: usize = opts.get("repeat", 3)?;
    let engine = engine(opts, EngineConfig::default())?;
    let clip = clip(opts, &engine, "1080")?;
    if !clip.units[BEFORE].keyframe || !clip.units[AT].keyframe {
        return Err(format!(
            "the clip's keyframes are not at #{BEFORE} and #{AT}"
        ));
    }
    let chain = warm_sizes(opts, telemedicine(1280, 720, false)?)?;
    let pipeline = build(&engine, &chain)?;
    let position = chain
        .stages
        .iter()
        .position(|spec| spec.stage == "encode-h264")
        .ok_or("no encoder in the chain")?;
    let mut encoder = chain.stages[position].clone();
    encoder.params.retain(|(key, _)| key != "bitrate");
    encoder.params.push(("bitrate".into(), "1500k".into()));
    let to = Arc::new(
        pipeline
            .with_stage_replaced(position, &encoder)
            .map_err(|e| e.to_string())?,
    );
    header(&format!(
        "swap: one live session, {} paced at {} fps, its encoder swapped at #{AT}",
        clip.label, clip.fps
    ));
    println!(
        "| instances made | run | P pictures p50 ms | keyframe #{BEFORE} ms | swap keyframe #{AT} ms | worst of #{AT}..#{} ms | the swap held its worker ms | swaps made ahead | drops |",
        AT + 5
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows: BTreeMap<usize, Vec<(f64, f64, f64, f64)>> = BTreeMap::new();
    for run in 1..=repeat {
        for spares in [0, 1] {
            let runtime = LiveRuntime::new(LiveConfig {
                spares,
                ..live_config(opts)?
            })
            .map_err(|e| e.to_string())?;
            let events = runtime.events().ok_or("the receiver was taken")?;
            let session = open_or_describe(&runtime, &pipeline, clip.fps)?;
            let start = Instant::now() + Duration::from_millis(300);
            let total = clip.units.len().min(AT + 60);
            let mut feeds = vec![Feed::new(session, &clip, start, total)];
            let asked = start + Duration::from_secs_f64((ASKED_AFTER as f64 + 0.5) / clip.fps);
            pace(&events, &mut feeds, Some(asked));
            feeds[0]
                .session
                .swap_pipeline(&to)
                .map_err(|e| e.to_string())?;
            pace(&events, &mut feeds, None);
            finish_all(&events, &mut feeds);
            let summary = Summary::of(&feeds, None);
            let record = &feeds[0].record;
            // Output k is picture k while nothing was dropped.
            let latency = |k: usize| record.latencies.get(k).map(|&(_, l)| l);
            let drops = summary.late + summary.other_drops;
            let (Some(before), Some(at)) = (latency(BEFORE), latency(AT)) else {
                return Err("the session gave too few outputs".into());
            };
            let behind = (AT..=AT + 5).filter_map(latency).max().unwrap_or_default();
            let mut p: Vec<f64> = record
                .latencies
                .iter()
                .enumerate()
                .filter(|(k, _)| *k > 10 && !clip.units[*k].keyframe)
                .map(|(_, &(_, l))| l.as_secs_f64() * 1e3)
                .collect();
            let p50 = median(&mut p);
            let made = if spares == 0 {
                "at the keyframe"
            } else {
                "ahead"
            };
            let held = feeds[0].session.swap_time();
            println!(
                "| {made} | {run} | {p50:.1} | {} | {} | {} | {} | {} | {drops} |",
                ms(before),
                ms(at),
                ms(behind),
                ms(held),
                feeds[0].session.swaps_made_ahead(),
            );
            if drops == 0 {
                rows.entry(spares).or_default().push((
                    before.as_secs_f64() * 1e3,
                    at.as_secs_f64() * 1e3,
                    behind.as_secs_f64() * 1e3,
                    held.as_secs_f64() * 1e3,
                ));
            }
        }
    }
    for (spares, runs) in rows {
        let pick = |f: fn(&(f64, f64, f64, f64)) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(f).collect();
            median(&mut values)
        };
        println!(
            "| {} | median of {} | | {:.1} | {:.1} | {:.1} | {:.1} | | |",
            if spares == 0 {
                "at the keyframe"
            } else {
                "ahead"
            },
            runs.len(),
            pick(|r| r.0),
            pick(|r| r.1),
            pick(|r| r.2),
            pick(|r| r.3),
        );
    }
    println!("(load average after: {})", loadavg());
    Ok(())
}

/// One session pushing as fast as it can: pictures a second through the
/// chain on one worker (the session kept whole: the single-session bound
/// that density is judged against is one worker's).
fn single_throughput(pipeline: &Arc<Pipeline>, clip: &Clip) -> Result<f64, String> {
    single_throughput_with(pipeline, clip, unpaced_config(clip, None))
}

/// The runtime's settings for one session fed the whole of `clip` at once:
/// room in its queue and its events for every access unit, its chain split
/// across workers past `pipeline_above` of the frame interval (`None`:
/// never).
fn unpaced_config(clip: &Clip, pipeline_above: Option<f64>) -> LiveConfig {
    LiveConfig {
        queue_depth: clip.units.len() + 1,
        event_depth: clip.units.len() + 16,
        pipeline_above,
        ..LiveConfig::default()
    }
}

/// One session unpaced that skips nothing (no late drops, no fair-share
/// policy), its chain split across workers past `pipeline_above` of the
/// frame interval (`None`: never).
fn single_throughput_split(
    pipeline: &Arc<Pipeline>,
    clip: &Clip,
    pipeline_above: Option<f64>,
) -> Result<f64, String> {
    single_throughput_with(
        pipeline,
        clip,
        LiveConfig {
            max_wait: Duration::from_secs(3600),
            fair_share: None,
            ..unpaced_config(clip, pipeline_above)
        },
    )
}

fn single_throughput_with(
    pipeline: &Arc<Pipeline>,
    clip: &Clip,
    config: LiveConfig,
) -> Result<f64, String> {
    let runtime = LiveRuntime::new(config).map_err(|e| e.to_string())?;
    let events = runtime.events().ok_or("the receiver was taken")?;
    let session = open_or_describe(&runtime, pipeline, clip.fps)?;
    let mut feed = Feed::new(session, clip, Instant::now(), clip.units.len());
    feed.push_due(Instant::now() + Duration::from_secs(3600));
    feed.stop_input();
    wait_end(&events, std::slice::from_mut(&mut feed));
    let record = &feed.record;
    if let Some(failure) = &record.failed {
        return Err(format!("single session failed: {failure}"));
    }
    let (Some(first), Some(last)) = (record.first_output, record.last_output) else {
        return Err("single session gave no output".to_owned());
    };
    Ok((record.outputs.saturating_sub(1)) as f64 / (last - first).as_secs_f64())
}

/// One session unpaced, its chain whole and split, alternately in the
/// same run: pictures a second out, and the process's CPU.
fn throughput(opts: &Opts) -> Result<(), String> {
    let repeat: usize = opts.get("repeat", 3)?;
    let engine = engine(opts, EngineConfig::default())?;
    let clip = clip(opts, &engine, &opts.text("source", "1080high"))?;
    header(&format!(
        "throughput: one live session, {} unpaced, {} access units, whole vs split",
        clip.label,
        clip.units.len()
    ));
    println!("| variant | run | whole fps | CPU % | split fps | CPU % | split / whole |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for native in opts.accels("wasm")? {
        let chain = telemedicine(1280, 720, native)?;
        let pipeline = build(&engine, &chain)?;
        let mut ratios = Vec::new();
        for run in 1..=repeat {
            let cpu = CpuMeter::start();
            let whole = single_throughput_split(&pipeline, &clip, None)?;
            let whole_cpu = cpu.percent();
            let cpu = CpuMeter::start();
            let split = single_throughput_split(&pipeline, &clip, Some(0.75))?;
            let split_cpu = cpu.percent();
            println!(
                "| {} | {run} | {whole:.1} | {whole_cpu:.0} | {split:.1} | {split_cpu:.0} | {:.2} |",
                accel_name(native),
                split / whole
            );
            ratios.push(split / whole);
        }
        println!(
            "| {} | median | | | | | {:.2} |",
            accel_name(native),
            median(&mut ratios)
        );
    }
    println!("(load average after: {})", loadavg());
    Ok(())
}

fn density(opts: &Opts) -> Result<(), String> {
    let max_n: usize = opts.get("max-n", 8)?;
    let seconds: f64 = opts.get("seconds", 6.0)?;
    let stagger = Duration::from_millis(opts.get("stagger-ms", 7)?);
    let sources: Vec<&str> = match opts.text("source", "both").as_str() {
        "both" => vec!["1080", "720"],
        "1080" => vec!["1080"],
        "720" => vec!["720"],
        other => return Err(format!("--source: both, 1080 or 720, not {other:?}")),
    };
    let engine = engine(opts, EngineConfig::default())?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    for source in sources {
        let clip = clip(opts, &engine, source)?;
        let (width, height) = if source == "1080" {
            (1280, 720)
        } else {
            (640, 360)
        };
        for native in opts.accels("both")? {
            let chain = telemedicine(width, height, native)?;
            let pipeline = build(&engine, &chain)?;
            header(&format!(
                "density: {} -> {width}x{height}, {}, N sessions paced at {} fps, {seconds} s each",
                clip.label,
                accel_name(native),
                clip.fps
            ));
            let fps = single_throughput(&pipeline, &clip)?;
            let target = 0.9 * cores as f64 * fps / clip.fps;
            println!(
                "single session unpaced: {fps:.1} fps -> target max N >= 0.9 x {cores} x {fps:.1} / {} = {target:.2}",
                clip.fps
            );
            println!(
                "| N | forced past admission | p50 ms | p99 ms | max ms | worst session p99 ms | late drops | drop % | other drops | lost | CPU % (machine %) | runtime load | probe: one more session |"
            );
            println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
            let runtime = LiveRuntime::new(live_config(opts)?).map_err(|e| e.to_string())?;
            let events = runtime.events().ok_or("the receiver was taken")?;
            let total = (seconds * clip.fps) as usize;
            let mut best = 0;
            let mut first_refusal: Option<(usize, String)> = None;
            for n in 1..=max_n {
                let mut feeds = Vec::with_capacity(n);
                let mut forced = 0;
                let base = Instant::now() + Duration::from_millis(300);
                for index in 0..n {
                    let session = match open_or_describe(&runtime, &pipeline, clip.fps) {
                        Ok(session) => session,
                        Err(refusal) => {
                            if first_refusal.is_none() {
                                first_refusal = Some((n, refusal));
                            }
                            // Past admission, to see what it would cost.
                            forced += 1;
                            open_past_admission(&runtime, &pipeline, clip.fps)?
                        }
                    };
                    feeds.push(Feed::new(
                        session,
                        &clip,
                        base + stagger * index as u32,
                        total,
                    ));
                }
                let cpu = CpuMeter::start();
                pace(&events, &mut feeds, None);
                settle(&events, &mut feeds, Duration::from_millis(300));
                let load = runtime.load();
                let probe = match open_or_describe(&runtime, &pipeline, clip.fps) {
                    Ok(extra) => {
                        drop(extra);
                        "admitted".to_owned()
                    }
                    Err(refusal) => refusal,
                };
                finish_all(&events, &mut feeds);
                let cpu = format!("{:.0} ({:.0})", cpu.percent(), cpu.machine_percent());
                // The probe, if admitted, is made and ended on a worker:
                // wait until it is gone so the next step starts empty.
                wait_closed(&runtime);
                let summary = Summary::of(&feeds, None);
                println!(
                    "| {n} | {forced} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {cpu} | {load:.2} | {probe} |",
                    ms(summary.p50),
                    ms(summary.p99),
                    ms(summary.max),
                    ms(summary.worst_p99),
                    summary.late,
                    100.0 * summary.drop_share(),
                    summary.other_drops,
                    summary.lost,
                );
                if let Some(failure) = first_failure(&feeds) {
                    println!("  failed: {failure}");
                }
                if summary.other_drops > 0 {
                    println!("  other drops: {}", summary.reasons());
                }
                let broken = summary.p99 > Duration::from_millis(200)
                    || summary.drop_share() > 0.001
                    || summary.failed > 0;
                if broken {
                    break;
                }
                best = n;
            }
            println!(
                "max N within p99 <= 200 ms and drops <= 0.1 %: {best} (target {target:.2}: {})",
                if best as f64 >= target {
                    "met"
                } else {
                    "not met"
                }
            );
            match first_refusal {
                Some((n, refusal)) => {
                    println!("admission first refused a session while opening N = {n}: {refusal}")
                }
                None => println!("admission refused no session up to the last N run"),
            }
            println!("(load average after: {})", loadavg());
        }
    }
    Ok(())
}

fn thousand(opts: &Opts) -> Result<(), String> {
    let sessions: usize = opts.get("sessions", 1000)?;
    let seconds: f64 = opts.get("seconds", 25.0)?;
    let max_load: f64 = opts.get("max-load", 0.9)?;
    let min_free: f64 = opts.get("min-free-mib", 6144.0)?;
    let force = opts.flag("force");
    let native = opts.accels("wasm")?[0];
    let pooling = match opts.text("pooling", "off").as_str() {
        "on" => Some(u32::try_from(sessions * 3 + 16).unwrap_or(u32::MAX)),
        "off" => None,
        other => return Err(format!("--pooling: on or off, not {other:?}")),
    };
    let engine = engine(
        opts,
        EngineConfig {
            pooling,
            // 320x180: a stage needs a few MiB; keeps the pool's slots small.
            memory_limit: 64 << 20,
            ..EngineConfig::default()
        },
    )?;
    let clip = clip(opts, &engine, "180")?;
    let launch = format!(
        "decode-h264 alignment=access-unit ! redact rect=16,8,96,24 mode=fill ! encode-h264 bitrate=200k fps=5 gop=10{}",
        if native { " accel=native" } else { "" }
    );
    let chain = ChainSpec::parse_launch(&launch).map_err(|e| e.to_string())?;
    let pipeline = build(&engine, &chain)?;
    header(&format!(
        "thousand: {sessions} sessions of {} ({} access units looped), {seconds} s, `{launch}`, pooling {}",
        clip.label,
        clip.units.len(),
        opts.text("pooling", "off")
    ));
    // Warm: one short session, so the baseline holds compiled code and a
    // measured cost.
    let runtime = LiveRuntime::new(LiveConfig {
        max_sessions: sessions + 1,
        max_load,
        ..LiveConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let events = runtime.events().ok_or("the receiver was taken")?;
    {
        let warm = open_or_describe(&runtime, &pipeline, clip.fps)?;
        let fast = Clip {
            label: clip.label,
            units: clip.units.clone(),
            fps: 50.0,
        };
        // 100 pictures: the cost average starts from the first (cold)
        // picture and forgets it only slowly (1/30 per picture).
        let mut feeds = vec![Feed::new(warm, &fast, Instant::now(), 100)];
        pace(&events, &mut feeds, None);
        finish_all(&events, &mut feeds);
    }
    let rss_before = rss_mib();
    // --startup: one picture each, all arriving at once: how long until
    // every session is made and has given its first picture.
    let startup = opts.flag("startup");
    let total = if startup {
        1
    } else {
        (seconds * clip.fps) as usize
    };
    let period = if startup {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(1.0 / clip.fps)
    };
    let open_start = Instant::now();
    let mut feeds = Vec::with_capacity(sessions);
    let mut refusal = None;
    let mut forced = 0;
    for index in 0..sessions {
        if index % 50 == 0 && available_mib() < min_free {
            refusal = Some(format!(
                "stopped opening at {index}: MemAvailable {:.0} MiB < {min_free} MiB",
                available_mib()
            ));
            break;
        }
        match open_or_describe(&runtime, &pipeline, clip.fps) {
            Ok(session) => {
                // Spread the sessions' pictures over one frame period.
                let offset = period * index as u32 / sessions as u32;
                feeds.push(Feed::new(session, &clip, open_start + offset, total));
            }
            Err(message) => {
                if refusal.is_none() {
                    refusal = Some(format!("admission refused session {index}: {message}"));
                }
                if !force {
                    break;
                }
                let session = open_past_admission(&runtime, &pipeline, clip.fps)?;
                forced += 1;
                let offset = period * index as u32 / sessions as u32;
                feeds.push(Feed::new(session, &clip, open_start + offset, total));
            }
        }
    }
    let opened = feeds.len();
    let open_time = open_start.elapsed();
    let cpu = CpuMeter::start();
    // Start-up: until every session has given its first picture.
    let mut started_all = None;
    let deadline = open_start + Duration::from_secs_f64(seconds);
    while started_all.is_none() && Instant::now() < deadline {
        pace(
            &events,
            &mut feeds,
            Some(Instant::now() + Duration::from_millis(50)),
        );
        if feeds.iter().all(|feed| feed.record.first_output.is_some()) {
            started_all = Some(Instant::now());
        }
    }
    let mid = Instant::now() + (deadline.saturating_duration_since(Instant::now()) / 2);
    pace(&events, &mut feeds, Some(mid));
    let rss_mid = rss_mib();
    let load = runtime.load();
    pace(&events, &mut feeds, None);
    settle(&events, &mut feeds, Duration::from_millis(500));
    let rss_end = rss_mib();
    finish_all(&events, &mut feeds);
    let cpu = format!(
        "{:.0} % of one core (machine {:.0} %)",
        cpu.percent(),
        cpu.machine_percent()
    );
    let all = Summary::of(&feeds, None);
    let steady = Summary::of(&feeds, started_all);
    println!("| figure | value |");
    println!("|---|---|");
    println!("| sessions opened | {opened} of {sessions} ({forced} forced past admission) |");
    if let Some(refusal) = &refusal {
        println!("| why not all | {refusal} |");
    }
    println!("| open() calls, all | {} ms |", ms(open_time));
    match started_all {
        Some(at) => println!(
            "| start-up: first open to every session's first output | {} ms |",
            ms(at - open_start)
        ),
        None => println!("| start-up | not every session gave an output within the run |"),
    }
    println!("| RSS before / mid-run / end | {rss_before:.0} / {rss_mid:.0} / {rss_end:.0} MiB |");
    println!(
        "| RSS per session (mid-run - before) / sessions | {:.2} MiB |",
        (rss_mid - rss_before) / opened.max(1) as f64
    );
    println!(
        "| latency p50 / p99 / max, whole run | {} / {} / {} ms |",
        ms(all.p50),
        ms(all.p99),
        ms(all.max)
    );
    println!(
        "| latency p50 / p99 / max, after start-up | {} / {} / {} ms |",
        ms(steady.p50),
        ms(steady.p99),
        ms(steady.max)
    );
    println!("| worst session's p99 | {} ms |", ms(all.worst_p99));
    println!(
        "| inputs pushed / outputs / late drops / other drops | {} / {} / {} / {} |",
        all.pushed, all.outputs, all.late, all.other_drops
    );
    println!("| other drops by reason | {} |", all.reasons());
    println!("| inputs neither out nor counted (lost) | {} |", all.lost);
    println!("| failed sessions | {} |", all.failed);
    if let Some(failure) = first_failure(&feeds) {
        println!("| first failure | {failure} |");
    }
    println!("| runtime load mid-run (busy workers) | {load:.2} |");
    if let Some(feed) = feeds.first() {
        println!(
            "| first session's stage calls p50/p99 ms | {} |",
            stage_latencies(feed)
        );
    }
    println!("| process CPU | {cpu} |");
    println!("(load average after: {})", loadavg());
    Ok(())
}

fn memory(opts: &Opts) -> Result<(), String> {
    let max: usize = opts.get("max", 8)?;
    let step: f64 = opts.get("step-seconds", 2.0)?;
    let native = opts.accels("wasm")?[0];
    let engine = engine(opts, EngineConfig::default())?;
    let clip = clip(opts, &engine, "1080")?;
    // Memory does not depend on the rate; at 5 fps eight sessions fit on
    // two cores and none falls behind (a backlog would add frames).
    let slow = Clip {
        label: clip.label,
        units: clip.units.clone(),
        fps: 5.0,
    };
    let chain = warm_sizes(opts, telemedicine(1280, 720, native)?)?;
    let pipeline = build(&engine, &chain)?;
    header(&format!(
        "memory: RSS per added {} -> 720p session ({}, paced at 5 fps, {step} s per step){}",
        clip.label,
        accel_name(native),
        if opts.flag("glibc-default") {
            ", glibc defaults"
        } else {
            ", keep_frame_buffers"
        }
    ));
    let runtime = LiveRuntime::new(LiveConfig {
        spares: opts.get("spares", LiveConfig::default().spares)?,
        ..LiveConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let events = runtime.events().ok_or("the receiver was taken")?;
    let rss_start = rss_mib();
    println!("| sessions | RSS MiB | + since previous | late drops so far |");
    println!("|---:|---:|---:|---:|");
    println!("| 0 | {rss_start:.0} | | |");
    let mut feeds: Vec<Feed> = Vec::new();
    let mut previous = rss_start;
    let total = (step * 5.0) as usize * (max + 1);
    for n in 1..=max {
        let session = match open_or_describe(&runtime, &pipeline, 5.0) {
            Ok(session) => session,
            Err(message) => {
                println!("session {n} refused: {message}");
                break;
            }
        };
        feeds.push(Feed::new(
            session,
            &slow,
            Instant::now() + Duration::from_millis(50),
            total,
        ));
        pace(
            &events,
            &mut feeds,
            Some(Instant::now() + Duration::from_secs_f64(step)),
        );
        let rss = rss_mib();
        let late: u64 = feeds
            .iter()
            .flat_map(|feed| &feed.record.drops)
            .filter(|(reason, _)| is_late(reason))
            .map(|(_, count)| count)
            .sum();
        println!("| {n} | {rss:.0} | {:.1} | {late} |", rss - previous);
        previous = rss;
    }
    let n = feeds.len();
    finish_all(&events, &mut feeds);
    if let Some(failure) = first_failure(&feeds) {
        println!("failed: {failure}");
    }
    if n > 1 {
        println!(
            "growth per session: {:.1} MiB over all {n}; target <= 64 MiB/session",
            (previous - rss_start) / n as f64
        );
    }
    println!("(load average after: {})", loadavg());
    Ok(())
}

fn fairness(opts: &Opts) -> Result<(), String> {
    let k: usize = opts.get("k", 2)?;
    let repeat: usize = opts.get("repeat", 3)?;
    let seconds: f64 = opts.get("seconds", 8.0)?;
    let engine = engine(
        opts,
        EngineConfig {
            call_timeout: Duration::from_millis(50),
            ..EngineConfig::default()
        },
    )?;
    let clip = clip(opts, &engine, "720")?;
    let healthy_chain = telemedicine(640, 360, false)?;
    let mut burner_chain = healthy_chain.clone();
    let decode = burner_chain
        .stages
        .iter()
        .position(|spec| spec.stage == "decode-h264")
        .ok_or("no decoder in the chain")?;
    let burn = ChainSpec::parse_launch("test-stage behaviour=burn").map_err(|e| e.to_string())?;
    burner_chain
        .stages
        .insert(decode + 1, burn.stages[0].clone());
    // The healthy sessions keep the default limit (1 s): only the burner
    // runs under 50 ms, which a fresh instance's first IDR picture (its
    // linear memory faulted in, counted as its CPU time) can pass by itself.
    let healthy_engine = self::engine(opts, EngineConfig::default())?;
    let healthy = build(&healthy_engine, &healthy_chain)?;
    // Warm the process (compiled code paged in, allocator primed): the
    // first call of the first session can pass a 50 ms limit by itself.
    for chain in [&healthy_chain, &burner_chain] {
        let pipeline = build(&engine, chain)?;
        if let Ok(mut session) = pipeline.start_session() {
            for unit in clip.units.iter().take(3) {
                if let Err(error) = session.push(Media::Packet(unit.clone())) {
                    println!("warm-up: {error}");
                    break;
                }
            }
        }
    }
    header(&format!(
        "fairness: {k} healthy sessions `{}` beside one `{}` (its call_timeout 50 ms), {} paced at {} fps, {seconds} s",
        healthy_chain.to_launch(),
        burner_chain.to_launch(),
        clip.label,
        clip.fps
    ));
    println!(
        "| run | burner | healthy p50 ms | healthy p99 ms | healthy max ms | healthy worst p99 ms | healthy drops | burner out / late drops / failed | CPU % (machine %) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---|---:|");
    let total = (seconds * clip.fps) as usize;
    let mut p99s: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut p50s: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for run in 1..=repeat {
        for with_burner in [false, true] {
            let runtime = LiveRuntime::new(LiveConfig::default()).map_err(|e| e.to_string())?;
            let events = runtime.events().ok_or("the receiver was taken")?;
            let base = Instant::now() + Duration::from_millis(300);
            let mut feeds = Vec::new();
            for index in 0..k {
                let session = open_or_describe(&runtime, &healthy, clip.fps)?;
                feeds.push(Feed::new(
                    session,
                    &clip,
                    base + Duration::from_millis(7) * index as u32,
                    total,
                ));
            }
            if with_burner {
                // Admission would refuse it (it needs 1.4 workers): that is
                // the point of this scenario.
                let burner = build(&engine, &burner_chain)?;
                let session = open_past_admission(&runtime, &burner, clip.fps)?;
                feeds.push(Feed::new(
                    session,
                    &clip,
                    base + Duration::from_millis(3),
                    total,
                ));
            }
            let cpu = CpuMeter::start();
            pace(&events, &mut feeds, None);
            finish_all(&events, &mut feeds);
            let cpu = format!("{:.0} ({:.0})", cpu.percent(), cpu.machine_percent());
            let summary = Summary::of(&feeds[..k], None);
            let burner = if with_burner {
                let feed = &feeds[k];
                let late = feed.record.stats.as_ref().map_or(0, late_drops);
                format!(
                    "{} / {late} / {}",
                    feed.record.outputs,
                    feed.record.failed.as_deref().unwrap_or("no")
                )
            } else {
                "-".to_owned()
            };
            println!(
                "| {run} | {} | {} | {} | {} | {} | {} | {burner} | {cpu} |",
                if with_burner { "yes" } else { "no" },
                ms(summary.p50),
                ms(summary.p99),
                ms(summary.max),
                ms(summary.worst_p99),
                summary.late + summary.other_drops,
            );
            if let Some(failure) = first_failure(&feeds[..k]) {
                println!("  healthy session failed: {failure}");
            }
            if summary.other_drops > 0 {
                println!("  healthy other drops: {}", summary.reasons());
            }
            p50s[usize::from(with_burner)].push(summary.p50.as_secs_f64() * 1e3);
            p99s[usize::from(with_burner)].push(summary.p99.as_secs_f64() * 1e3);
        }
    }
    let [mut p50_alone, mut p50_burn] = p50s;
    let [mut alone, mut burned] = p99s;
    let (alone, burned) = (median(&mut alone), median(&mut burned));
    println!(
        "median healthy p50 {:.1} -> {:.1} ms, p99 {alone:.1} ms alone -> {burned:.1} ms beside the burner ({:.2}x)",
        median(&mut p50_alone),
        median(&mut p50_burn),
        burned / alone
    );
    println!("(load average after: {})", loadavg());
    Ok(())
}
