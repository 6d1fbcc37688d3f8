//! `/metrics`: what the server counts, in the Prometheus text format
//! (through the `prometheus-client` crate). Names start with `framechain_`.
//!
//! Some label values come from stages, which are untrusted: drop reasons
//! (`STAGE: reason`, the stage's own text) and stage names (a stage names
//! itself in `describe`, and a swap can bring a new one). The encoder
//! writes label values as they are, so one `"` or `\` would make the
//! line, and every scrape, unparseable; and each distinct value is a new
//! series kept for the process's life. So such values go through
//! [`LabelSet`]: reduced to a safe alphabet and cut, and past a fixed
//! number of distinct values per metric the rest are counted under
//! [`OTHER_LABEL`]. No label value is per session, so nothing has to be
//! removed when a session ends.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Distinct stage-given values one label may take in this process (drop
/// reasons; stage names): a Prometheus server copes with dozens of series
/// per metric, not with one per hostile string.
pub(crate) const MAX_LABEL_VALUES: usize = 64;
/// Longest stage-given label value kept, in characters.
pub(crate) const MAX_LABEL_CHARS: usize = 80;
/// The value counted for every stage-given value past
/// [`MAX_LABEL_VALUES`].
pub(crate) const OTHER_LABEL: &str = "other";

/// `text` as a label value that cannot break the text format: printable
/// ASCII without `"` and `\` (everything else, newlines and non-ASCII
/// included, becomes `_`), at most [`MAX_LABEL_CHARS`] characters. Lossy
/// on purpose: the full text is in the session's log line, and an
/// operator's dashboard needs a stable, harmless key.
pub(crate) fn label_value(text: &str) -> String {
    text.chars()
        .take(MAX_LABEL_CHARS)
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect()
}

/// The stage-given values one label has taken, bounded: the first
/// [`MAX_LABEL_VALUES`] distinct (safe) values are kept as they are, every
/// later one is [`OTHER_LABEL`].
#[derive(Default)]
pub(crate) struct LabelSet {
    seen: Mutex<HashSet<String>>,
}

impl LabelSet {
    /// The label value to count `text` under.
    pub(crate) fn value(&self, text: &str) -> String {
        let value = label_value(text);
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if seen.contains(&value) {
            return value;
        }
        if seen.len() < MAX_LABEL_VALUES {
            seen.insert(value.clone());
            value
        } else {
            OTHER_LABEL.to_owned()
        }
    }
}
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// Latency buckets: 1 ms to about 2 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 12))
}

/// Every metric the server exports. Cheap to update from the media loop
/// (atomics inside).
pub(crate) struct Metrics {
    registry: Registry,
    pub sessions: Gauge,
    pub viewers: Gauge,
    pub admitted: Counter,
    refused: Family<Labels, Counter>,
    ended: Family<Labels, Counter>,
    pub frames_in: Counter,
    pub frames_out: Counter,
    dropped: Family<Labels, Counter>,
    stage_latency: HistogramFamily,
    end_to_end: Histogram,
    pub rtp_packets: Counter,
    pub rtp_lost: Counter,
    pub keyframe_requests: Counter,
    pub bitrate_changes: Counter,
    http: Family<Labels, Counter>,
    pub udp_unmatched: Counter,
    audio_packets: Family<Labels, Counter>,
    pub audio_lost: Counter,
    audio_dropped: Family<Labels, Counter>,
    swaps: Family<Labels, Counter>,
    /// HTTP connections open now (the front door).
    pub http_connections: Gauge,
    /// The process's cap on open HTTP connections, as fitted to its file limit.
    pub http_connections_max: Gauge,
    http_refused: Family<Labels, Counter>,
    http_timeouts: Family<Labels, Counter>,
    audit_events: Family<Labels, Counter>,
    /// Bytes in the audit spool not yet freed (`crate::edge`).
    pub audit_spool_bytes: Gauge,
    /// Audit events spooled and not yet shipped to Redis.
    pub audit_pending: Gauge,
    /// Joins refused because their audit event could not be written.
    pub audit_refused_joins: Counter,
    /// The drop reasons `dropped` has counted.
    drop_reasons: LabelSet,
    /// The stage names `stage_latency` and `swaps` have counted.
    stage_names: LabelSet,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("framechain");
        let metrics = Metrics {
            sessions: Gauge::default(),
            viewers: Gauge::default(),
            admitted: Counter::default(),
            refused: Family::default(),
            ended: Family::default(),
            frames_in: Counter::default(),
            frames_out: Counter::default(),
            dropped: Family::default(),
            stage_latency: Family::new_with_constructor(latency_histogram),
            end_to_end: latency_histogram(),
            rtp_packets: Counter::default(),
            rtp_lost: Counter::default(),
            keyframe_requests: Counter::default(),
            bitrate_changes: Counter::default(),
            http: Family::default(),
            udp_unmatched: Counter::default(),
            audio_packets: Family::default(),
            audio_lost: Counter::default(),
            audio_dropped: Family::default(),
            swaps: Family::default(),
            http_connections: Gauge::default(),
            http_connections_max: Gauge::default(),
            http_refused: Family::default(),
            http_timeouts: Family::default(),
            audit_events: Family::default(),
            audit_spool_bytes: Gauge::default(),
            audit_pending: Gauge::default(),
            audit_refused_joins: Counter::default(),
            drop_reasons: LabelSet::default(),
            stage_names: LabelSet::default(),
            registry: Registry::default(),
        };
        registry.register(
            "sessions",
            "Publishers' sessions open",
            metrics.sessions.clone(),
        );
        registry.register("viewers", "Viewers connected", metrics.viewers.clone());
        registry.register(
            "sessions_admitted",
            "Publishers admitted",
            metrics.admitted.clone(),
        );
        registry.register(
            "sessions_refused",
            "Publishers and viewers refused, by reason",
            metrics.refused.clone(),
        );
        registry.register(
            "sessions_ended",
            "Calls ended, by reason",
            metrics.ended.clone(),
        );
        registry.register(
            "frames_in",
            "Access units received from publishers",
            metrics.frames_in.clone(),
        );
        registry.register(
            "frames_out",
            "Processed access units sent on to viewers",
            metrics.frames_out.clone(),
        );
        registry.register(
            "frames_dropped",
            "Pictures dropped, by reason",
            metrics.dropped.clone(),
        );
        registry.register(
            "stage_latency_seconds",
            "Time a stage spent on one picture",
            metrics.stage_latency.clone(),
        );
        registry.register(
            "end_to_end_latency_seconds",
            "From an access unit's arrival to its processed picture leaving for the viewers",
            metrics.end_to_end.clone(),
        );
        registry.register(
            "rtp_packets",
            "RTP packets received from publishers",
            metrics.rtp_packets.clone(),
        );
        registry.register(
            "rtp_packets_lost",
            "RTP packets from publishers that never arrived",
            metrics.rtp_lost.clone(),
        );
        registry.register(
            "keyframe_requests",
            "Keyframe requests (PLI) sent to publishers",
            metrics.keyframe_requests.clone(),
        );
        registry.register(
            "bitrate_changes",
            "Encoder target bitrates set from viewers' congestion feedback (TWCC, REMB)",
            metrics.bitrate_changes.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests, by endpoint and status",
            metrics.http.clone(),
        );
        registry.register(
            "udp_unmatched",
            "UDP datagrams no call accepted",
            metrics.udp_unmatched.clone(),
        );
        registry.register(
            "audio_packets",
            "Opus audio packets from publishers (in) and to viewers (out), forwarded undecoded",
            metrics.audio_packets.clone(),
        );
        registry.register(
            "audio_lost",
            "Audio RTP packets from publishers that never arrived (sequence gaps)",
            metrics.audio_lost.clone(),
        );
        registry.register(
            "audio_dropped",
            "Audio packets from publishers not forwarded, by reason (too large, over rate, wrong codec)",
            metrics.audio_dropped.clone(),
        );
        registry.register(
            "stage_swaps",
            "Stage swaps in running sessions, by stage and result",
            metrics.swaps.clone(),
        );
        registry.register(
            "http_connections",
            "HTTP connections open",
            metrics.http_connections.clone(),
        );
        registry.register(
            "http_connections_max",
            "HTTP connections the process keeps open at most",
            metrics.http_connections_max.clone(),
        );
        registry.register(
            "http_connections_refused",
            "HTTP connections closed by the caps: at accept (process, client), or waiting for a request and closed to make room at the process cap (evicted)",
            metrics.http_refused.clone(),
        );
        registry.register(
            "http_timeouts",
            "HTTP connections closed by a timeout, by what was late (header: also an idle kept-alive connection; body; write)",
            metrics.http_timeouts.clone(),
        );
        registry.register(
            "audit_events",
            "Audit events written to the spool, by kind",
            metrics.audit_events.clone(),
        );
        registry.register(
            "audit_spool_bytes",
            "Bytes the audit spool holds",
            metrics.audit_spool_bytes.clone(),
        );
        registry.register(
            "audit_pending",
            "Audit events spooled and not yet shipped to Redis",
            metrics.audit_pending.clone(),
        );
        registry.register(
            "audit_refused_joins",
            "Joins refused (503) because their audit event could not be written (spool full or failing)",
            metrics.audit_refused_joins.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    pub(crate) fn audit_event(&self, kind: &'static str) {
        self.audit_events
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }

    pub(crate) fn refused(&self, reason: &str) {
        self.refused
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    pub(crate) fn ended(&self, reason: &str) {
        self.ended
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    pub(crate) fn dropped(&self, reason: &str, count: u64) {
        self.dropped
            .get_or_create(&vec![("reason", self.drop_reasons.value(reason))])
            .inc_by(count);
    }

    /// `direction` is `in` (from a publisher) or `out` (to a viewer).
    pub(crate) fn audio_packets(&self, direction: &'static str, count: u64) {
        self.audio_packets
            .get_or_create(&vec![("direction", direction.to_owned())])
            .inc_by(count);
    }

    /// `reason` is one of a fixed few ([`crate::call::core::forwarding`]).
    pub(crate) fn audio_dropped(&self, reason: &'static str) {
        self.audio_dropped
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    pub(crate) fn stage_latency(&self, stage: &str, latency: Duration) {
        self.stage_latency
            .get_or_create(&vec![("stage", self.stage_names.value(stage))])
            .observe(latency.as_secs_f64());
    }

    pub(crate) fn end_to_end(&self, latency: Duration) {
        self.end_to_end.observe(latency.as_secs_f64());
    }

    pub(crate) fn swapped(&self, stage: &str, result: &'static str) {
        self.swaps
            .get_or_create(&vec![
                ("stage", self.stage_names.value(stage)),
                ("result", result.to_owned()),
            ])
            .inc();
    }

    pub(crate) fn http(&self, endpoint: &'static str, code: u16) {
        self.http
            .get_or_create(&vec![
                ("endpoint", endpoint.to_owned()),
                ("code", code.to_string()),
            ])
            .inc();
    }

    /// `reason` is one of a fixed few (`front_door::Refused::label`).
    pub(crate) fn http_connection_refused(&self, reason: &'static str) {
        self.http_refused
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// `what` is `header`, `body` or `write`.
    pub(crate) fn http_timeout(&self, what: &'static str) {
        self.http_timeouts
            .get_or_create(&vec![("what", what.to_owned())])
            .inc();
    }

    /// The text `/metrics` answers.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
