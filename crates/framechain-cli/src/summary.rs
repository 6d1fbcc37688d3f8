//! Human-readable text: the end-of-run summary and `inspect` output.

use std::fmt::Write;
use std::time::Duration;

use framechain::{LatencyHistogram, LoadedStage, ParamKind, Session, SessionStats, StageStats};

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// Frames in/out/dropped, throughput, and per-stage latency of a run
/// driven by `push`/`flush`: end-to-end is per item out of the chain,
/// from the start of the call that let it out.
pub fn session_summary(session: &Session, elapsed: Duration) -> String {
    let stats = session.stats();
    summary(
        stats,
        elapsed,
        &[],
        &stats.output_latency,
        session.suppressed_log_lines(),
    )
}

/// The summary of any run: `before` are stages that ran ahead of the
/// chain in a session of their own (`parse-h264` in realtime mode), shown
/// first; `end_to_end` is the latency the `end-to-end` row reports.
pub fn summary(
    stats: &SessionStats,
    elapsed: Duration,
    before: &[&StageStats],
    end_to_end: &LatencyHistogram,
    suppressed_log_lines: u64,
) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "framechain: {} in, {} out, {} dropped in {:.2} s ({:.1} fps out)",
        stats.inputs,
        stats.outputs,
        stats.dropped_total(),
        seconds,
        // Items out, not in: a decoder takes packets of any size but
        // gives one item per picture.
        stats.outputs as f64 / seconds
    );
    for (reason, count) in stats.dropped() {
        let _ = writeln!(text, "  dropped {count}: {reason}");
    }
    let _ = writeln!(
        text,
        "  {:<14} {:>7} {:>7} {:>7} {:>10} {:>10} {:>10}",
        "stage", "in", "out", "dropped", "p50", "p99", "max"
    );
    for stage in before.iter().copied().chain(&stats.stages) {
        let _ = writeln!(
            text,
            "  {:<14} {:>7} {:>7} {:>7} {:>10} {:>10} {:>10}",
            stage.name,
            stage.inputs,
            stage.outputs,
            stage.dropped_total(),
            ms(stage.latency.p50()),
            ms(stage.latency.p99()),
            ms(stage.latency.max())
        );
    }
    if end_to_end.count() > 0 {
        let _ = writeln!(
            text,
            "  {:<14} {:>7} {:>7} {:>7} {:>10} {:>10} {:>10}",
            "end-to-end",
            stats.inputs,
            stats.outputs,
            stats.dropped_total(),
            ms(end_to_end.p50()),
            ms(end_to_end.p99()),
            ms(end_to_end.max())
        );
    }
    if suppressed_log_lines > 0 {
        let _ = writeln!(
            text,
            "  ({suppressed_log_lines} stage log lines suppressed)"
        );
    }
    text
}

fn kind_name(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Integer => "integer",
        ParamKind::Number => "number",
        ParamKind::Flag => "flag",
        ParamKind::Choice => "choice",
        ParamKind::Rect => "rect x,y,w,h",
        ParamKind::RectList => "rects x,y,w,h;...",
        ParamKind::Color => "color",
        ParamKind::Bitrate => "bitrate",
        ParamKind::Text => "text",
    }
}

/// What `framechain inspect` prints.
pub fn describe_stage(stage: &LoadedStage) -> String {
    let description = stage.description();
    let mut text = String::new();
    let _ = writeln!(text, "{} {}", description.name, description.version);
    let _ = writeln!(text, "  {}", description.summary);
    let _ = writeln!(text, "  component: {}", stage.path().display());
    let _ = writeln!(text, "  input:     {}", description.input.describe());
    let _ = writeln!(text, "  output:    {}", description.output.describe());
    let _ = writeln!(text, "parameters:");
    if description.params.is_empty() {
        let _ = writeln!(text, "  (none)");
    }
    for param in &description.params {
        let mut kind = kind_name(param.kind).to_owned();
        if !param.choices.is_empty() {
            kind = param.choices.join("|");
        }
        let default = match (&param.default, param.required) {
            (_, true) => "required".to_owned(),
            (Some(default), false) => format!("default {default}"),
            (None, false) => "optional".to_owned(),
        };
        let _ = writeln!(text, "  {:<12} {kind} ({default})", param.name);
        let _ = writeln!(text, "               {}", param.help);
    }
    text
}
