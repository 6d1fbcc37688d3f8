//! `framechain check STAGE [key=value ...]`: runs one stage in wasmtime on
//! synthetic frames against the rules of the contract and prints a short
//! report; exits 1 on a violation.
//!
//! What is checked, on frames of a known pattern with a labelled region:
//! - the stage loads, describes itself under a valid name, and accepts the
//!   parameters given (a trial `create`);
//! - every input is accounted for: passed on, held and given out at
//!   `flush`, or reported dropped (the host counts any other as
//!   "unreported by stage");
//! - regions stay true: every region of every output frame lies inside it;
//! - errors are typed: a trap, a time or memory limit or a broken contract
//!   rule is a violation (a typed error on valid input is reported too);
//!   each parameter (but `text` ones) given a value invalid for its kind,
//!   the others as the user gave them, must be refused in `create` with
//!   `bad-parameter`, and a compressed packet pushed into a fresh session
//!   must be refused with `unsupported-input` (accepting either, trapping,
//!   or another kind of error is a violation);
//! - a control event (keyframe request) is taken without failing;
//! - time and memory: every call within `--call-timeout`, memory within
//!   `--memory-limit` (the host stops the stage otherwise); the slowest
//!   call and the peak memory are shown.

use std::time::Duration;

use clap::Args;
use framechain::{
    ChainSpec, Codec, Engine, Error, Frame, Media, Packet, ParamKind, ParamSpec, Pipeline, Plane,
    Port, Rect, Region, StageErrorKind, StageFailure, StageSpec,
};

/// Reason the host gives to inputs a stage neither passed on nor reported
/// (`framechain::session::UNREPORTED_DROP`).
const UNREPORTED: &str = "unreported by stage";

#[derive(Args)]
pub struct CheckArgs {
    /// A built-in stage name or a path to a .wasm component.
    stage: String,
    /// Parameters for the stage, key=value.
    params: Vec<String>,
    /// How many synthetic frames to push.
    #[arg(long, default_value_t = 30, value_name = "N")]
    frames: u32,
    /// Size of the synthetic frames, WIDTHxHEIGHT.
    #[arg(long, default_value = "320x240", value_name = "WxH", value_parser = crate::inputs::parse_size)]
    size: (u32, u32),
    /// Memory limit of the stage instance, MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    memory_limit: usize,
    /// Time limit of each call into the stage, milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    call_timeout: u64,
}

/// Findings, printed as they are made.
#[derive(Default)]
struct Report {
    violations: Vec<String>,
}

impl Report {
    fn ok(&self, what: &str, detail: &str) {
        println!("  {what:<12} ok: {detail}");
    }

    fn violation(&mut self, what: &str, detail: String) {
        println!("  {what:<12} VIOLATION: {detail}");
        self.violations.push(format!("{what}: {detail}"));
    }
}

pub fn run(registry: framechain::StageRegistry, args: CheckArgs) -> Result<(), String> {
    let call_timeout = Duration::from_millis(args.call_timeout.max(1));
    let engine = crate::engine(registry, args.memory_limit, call_timeout, true)?;
    let stage = engine
        .load_stage(&args.stage)
        .map_err(|error| error.to_string())?;
    let description = stage.description();
    println!(
        "check {} {} ({})",
        stage.name(),
        description.version,
        stage.path().display()
    );
    let mut report = Report::default();
    report.ok(
        "describe",
        &format!(
            "{} -> {}, {} parameters",
            description.input.describe(),
            description.output.describe(),
            description.params.len()
        ),
    );
    if !matches!(description.input, Port::Frames(_)) {
        return Err(format!(
            "{} takes {}; check feeds synthetic I420 frames and checks frame stages only",
            stage.name(),
            description.input.describe()
        ));
    }
    let mut params = Vec::new();
    for word in &args.params {
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got \"{word}\""))?;
        params.push((key.to_owned(), value.to_owned()));
    }
    let chain = ChainSpec {
        name: None,
        stages: vec![StageSpec::new(args.stage.clone(), params.clone())],
        ..ChainSpec::default()
    };
    let pipeline = Pipeline::build(&engine, &chain).map_err(|error| error.to_string())?;
    report.ok("parameters", "accepted (trial create)");
    let mut session = pipeline
        .start_session()
        .map_err(|error| error.to_string())?;

    let (width, height) = args.size;
    let region = Region {
        label: "face".to_owned(),
        area: Rect {
            x: width / 4,
            y: height / 4,
            width: (width / 4).max(1),
            height: (height / 4).max(1),
        },
    };
    // Outputs are judged as they come and then dropped: a stage may return
    // many large frames per call (test-stage's `multiply` returns 40 per
    // input), and holding them all let a stage take the tool's memory
    // (issue 17: 5.7 GB for 60 input frames). One call's outputs are what
    // the host's budget for the stage already bounds.
    let mut regions = RegionCheck::default();
    let mut failed = false;
    for index in 0..args.frames {
        let frame = synthetic_frame(width, height, index, &region)?;
        match session.push(Media::Frame(frame)) {
            Ok(out) => regions.judge(out),
            Err(error) => {
                failure(&mut report, &format!("push of frame {index}"), error);
                failed = true;
                break;
            }
        }
        if index == args.frames / 2 {
            match session.request_keyframe() {
                Ok(()) => report.ok("control", "took a keyframe request"),
                Err(error) => {
                    failure(&mut report, "control", error);
                    failed = true;
                    break;
                }
            }
        }
    }
    if !failed {
        match session.flush() {
            Ok(out) => regions.judge(out),
            Err(error) => {
                failure(&mut report, "flush", error);
                failed = true;
            }
        }
    }
    regions.report(&mut report);
    let stats = session.stats();
    let stage_stats = &stats.stages[0];
    let unreported = stage_stats.dropped.get(UNREPORTED).copied().unwrap_or(0);
    if unreported > 0 {
        report.violation(
            "accounting",
            format!(
                "{unreported} of {} inputs were neither passed on nor reported dropped",
                stage_stats.inputs
            ),
        );
    } else if !failed {
        report.ok(
            "accounting",
            &format!(
                "{} in, {} out, {} reported dropped",
                stage_stats.inputs,
                stage_stats.outputs,
                stage_stats.dropped_total()
            ),
        );
    }
    if !failed {
        report.ok(
            "time",
            &format!(
                "slowest call {:.1} ms, median {:.1} ms (limit {} ms)",
                ms(stage_stats.latency.max()),
                ms(stage_stats.latency.p50()),
                call_timeout.as_millis()
            ),
        );
        report.ok(
            "memory",
            &format!(
                "peak {:.1} MiB for the session (limit {} MiB per instance)",
                stats.peak_memory_bytes as f64 / f64::from(1 << 20),
                args.memory_limit
            ),
        );
    }
    check_parameter_errors(
        &mut report,
        &engine,
        &args.stage,
        &params,
        &description.params,
    );
    check_packet_refused(&mut report, &pipeline);
    if report.violations.is_empty() {
        println!("result: ok");
        Ok(())
    } else {
        println!("result: {} violation(s)", report.violations.len());
        Err(format!(
            "{} breaks the stage contract: {}",
            stage.name(),
            report.violations.join("; ")
        ))
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A frame of a gradient that moves with `index`, with timing and one
/// labelled region, so a stage sees varied, valid input.
fn synthetic_frame(width: u32, height: u32, index: u32, region: &Region) -> Result<Frame, String> {
    let mut frame = Frame::black(width, height)
        .map_err(|error| format!("cannot make a {width}x{height} frame: {error:?}"))?;
    let luma = frame.plane_mut(Plane::Y);
    let row = width as usize;
    for (i, sample) in luma.iter_mut().enumerate() {
        let (x, y) = (i % row, i / row);
        *sample = (16 + (x + y + index as usize * 3) % 220) as u8;
    }
    frame.pts = i64::from(index) * 3000;
    frame.duration = 3000;
    frame.keyframe = index == 0;
    frame.regions = vec![region.clone()];
    Ok(frame)
}

/// Whether every region of every output frame lies inside its frame, judged
/// output by output: it keeps counts and the first region outside, never
/// the frames.
#[derive(Default)]
struct RegionCheck {
    /// Outputs seen (frames and anything else), to number them.
    outputs: u64,
    /// Output frames seen.
    frames: u64,
    /// The first region found outside its frame, described.
    outside: Option<String>,
}

impl RegionCheck {
    /// Judges one call's outputs, which are dropped on return.
    fn judge(&mut self, outputs: Vec<Media>) {
        for media in outputs {
            let index = self.outputs;
            self.outputs += 1;
            let Media::Frame(frame) = media else { continue };
            self.frames += 1;
            if self.outside.is_some() {
                continue;
            }
            let outside = frame.regions.iter().find(|region| {
                let area = region.area;
                u64::from(area.x) + u64::from(area.width) > u64::from(frame.width())
                    || u64::from(area.y) + u64::from(area.height) > u64::from(frame.height())
            });
            if let Some(region) = outside {
                let area = region.area;
                self.outside = Some(format!(
                    "output {index}: region \"{}\" at {},{} {}x{} is outside the {}x{} frame",
                    framechain::text::untrusted(&region.label, 40),
                    area.x,
                    area.y,
                    area.width,
                    area.height,
                    frame.width(),
                    frame.height()
                ));
            }
        }
    }

    fn report(self, report: &mut Report) {
        match self.outside {
            Some(detail) => report.violation("regions", detail),
            None => report.ok(
                "regions",
                &format!("inside their frames in {} output frames", self.frames),
            ),
        }
    }
}

/// A failed call: a stage's typed error or how the host stopped it.
fn failure(report: &mut Report, what: &str, error: Error) {
    let detail = match &error {
        Error::StageFailed { failure, .. } | Error::SessionFailed { failure, .. } => {
            match failure {
                StageFailure::Rejected { kind, message } => format!(
                    "refused valid synthetic input with a typed error: {}: {}",
                    kind.wit_name(),
                    framechain::text::untrusted(message, 200)
                ),
                StageFailure::Trap(text) => {
                    format!("crashed instead of returning a typed error: {text}")
                }
                other => other.to_string(),
            }
        }
        other => other.to_string(),
    };
    report.violation(what, detail);
}

/// A value `spec`'s kind can never read as, or `None` for free text.
fn invalid_value(spec: &ParamSpec) -> Option<String> {
    let value = match spec.kind {
        ParamKind::Integer => "twelve",
        ParamKind::Number => "abc",
        ParamKind::Flag => "maybe",
        ParamKind::Rect | ParamKind::RectList => "1,2,3",
        ParamKind::Color => "not-a-colour",
        ParamKind::Bitrate => "fast",
        ParamKind::Text => return None,
        ParamKind::Choice => {
            let mut value = "not-a-choice".to_owned();
            while spec.choices.contains(&value) {
                value.push('x');
            }
            return Some(value);
        }
    };
    Some(value.to_owned())
}

/// The kind's name as `param-kind` spells it.
fn kind_name(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Integer => "integer",
        ParamKind::Number => "number",
        ParamKind::Flag => "flag",
        ParamKind::Choice => "choice",
        ParamKind::Rect => "rect",
        ParamKind::RectList => "rect-list",
        ParamKind::Color => "color",
        ParamKind::Bitrate => "bitrate",
        ParamKind::Text => "text",
    }
}

/// Creates an instance with each parameter in turn given a value invalid
/// for its kind (the others as the user gave them): the stage must refuse
/// it in `create` with its typed `bad-parameter` error.
fn check_parameter_errors(
    report: &mut Report,
    engine: &Engine,
    stage: &str,
    given: &[(String, String)],
    specs: &[ParamSpec],
) {
    let (mut refused, mut text, mut wrong) = (0, 0, 0);
    for spec in specs {
        let Some(value) = invalid_value(spec) else {
            text += 1;
            continue;
        };
        let mut params: Vec<(String, String)> = given
            .iter()
            .filter(|(key, _)| *key != spec.name)
            .cloned()
            .collect();
        params.push((spec.name.clone(), value.clone()));
        let chain = ChainSpec {
            name: None,
            stages: vec![StageSpec::new(stage.to_owned(), params)],
            ..ChainSpec::default()
        };
        let what = match Pipeline::build(engine, &chain) {
            Err(Error::BadParameter { .. }) => {
                refused += 1;
                continue;
            }
            Ok(_) => "was accepted".to_owned(),
            Err(error) => not_the_wanted_refusal(&error),
        };
        wrong += 1;
        report.violation(
            "errors",
            format!(
                "{} parameter {}={value} {what}; an invalid value must be refused with bad-parameter",
                kind_name(spec.kind),
                framechain::text::untrusted(&spec.name, 64),
            ),
        );
    }
    if wrong > 0 {
        return;
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let skipped = if text > 0 {
        format!(
            " ({text} text parameter{} not tried: no value is invalid to every text parameter)",
            plural(text)
        )
    } else {
        String::new()
    };
    report.ok(
        "errors",
        &format!(
            "{refused} invalid parameter value{} refused with bad-parameter{skipped}",
            plural(refused)
        ),
    );
}

/// What a call ended in instead of the typed refusal a check wanted: the
/// stage's own error of another kind, or a failure that is no refusal.
fn not_the_wanted_refusal(error: &Error) -> String {
    match error {
        Error::StageFailed {
            failure: StageFailure::Rejected { kind, message },
            ..
        } => format!(
            "was refused with {} ({})",
            kind.wit_name(),
            framechain::text::untrusted(message, 200)
        ),
        Error::StageFailed { failure, .. } => format!("was not refused: {failure}"),
        other => format!("was not refused: {other}"),
    }
}

/// Pushes one compressed packet into a fresh session of a frame stage: it
/// must be refused with `unsupported-input` (the SDK's
/// `media::expect_frame`). The host hands it on (only chains are checked
/// for fit), so the stage is what sees it. The session fails either way
/// and is dropped; the other checks ran in a session of their own.
fn check_packet_refused(report: &mut Report, pipeline: &Pipeline) {
    let mut session = match pipeline.start_session() {
        Ok(session) => session,
        Err(error) => {
            failure(report, "errors", error);
            return;
        }
    };
    // An H.264 access unit delimiter: a valid, tiny packet.
    let packet = Packet {
        codec: Codec::H264,
        data: vec![0, 0, 0, 1, 0x09, 0xf0],
        pts: 0,
        dts: 0,
        keyframe: true,
    };
    let what = match session.push(Media::Packet(packet)) {
        Err(Error::StageFailed {
            failure:
                StageFailure::Rejected {
                    kind: StageErrorKind::UnsupportedInput,
                    ..
                },
            ..
        }) => {
            report.ok(
                "errors",
                "a compressed packet refused with unsupported-input",
            );
            return;
        }
        Ok(outputs) => format!("was taken ({} items out)", outputs.len()),
        Err(error) => not_the_wanted_refusal(&error),
    };
    report.violation(
        "errors",
        format!(
            "a compressed packet pushed into the frame stage {what}; it must be refused with unsupported-input"
        ),
    );
}
