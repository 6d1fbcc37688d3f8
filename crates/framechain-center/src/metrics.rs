//! `GET /metrics`: the centre's counters in Prometheus' text format
//! (version 0.0.4). Every label takes its values from a fixed set (a
//! route's name, not its path; a status code; a pod state; a reject kind),
//! so a hostile client cannot grow the series.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds, in seconds, of the batch latency histogram's buckets.
pub const LATENCY_BUCKETS_S: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// A latency histogram (seconds) with [`LATENCY_BUCKETS_S`].
#[derive(Default)]
pub struct Histogram {
    /// Counts per bucket (not cumulative), the last one past every bound.
    buckets: [AtomicU64; LATENCY_BUCKETS_S.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let index = LATENCY_BUCKETS_S
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS_S.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            took.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let bound = LATENCY_BUCKETS_S
                .get(index)
                .map_or_else(|| "+Inf".to_owned(), f64::to_string);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// The routes HTTP requests are counted under.
pub const ROUTES: [&str; 11] = [
    "whip",
    "whep",
    "admin_rooms",
    "ticket_keys",
    "status_json",
    "status_page",
    "healthz",
    "readyz",
    "metrics",
    "preflight",
    "other",
];

/// The route name of a request (one of [`ROUTES`]).
pub fn route_of(method: &axum::http::Method, path: &str) -> &'static str {
    let path = path.strip_prefix('/').unwrap_or(path);
    let segments: Vec<&str> = path.splitn(3, '/').collect();
    if method == axum::http::Method::OPTIONS {
        return match segments[0] {
            "whip" | "whep" => "preflight",
            _ => "other",
        };
    }
    match (segments[0], segments.get(1).copied()) {
        ("whip", Some(_)) => "whip",
        ("whep", Some(_)) => "whep",
        ("admin", Some("rooms")) => "admin_rooms",
        ("center", Some("ticket-keys.json")) => "ticket_keys",
        ("center", Some("status.json")) => "status_json",
        ("", None) => "status_page",
        ("healthz", None) => "healthz",
        ("readyz", None) => "readyz",
        ("metrics", None) => "metrics",
        _ => "other",
    }
}

/// The centre's own counters (the ingest keeps its own:
/// [`crate::ingest::Ingest`]).
#[derive(Default)]
pub struct Metrics {
    /// Rooms placed on a pod for the first time.
    pub placements: AtomicU64,
    /// Rooms placed again on another pod (their pod died, or left).
    pub replacements: AtomicU64,
    /// Tickets signed for WHIP (publish).
    pub tickets_publish: AtomicU64,
    /// Tickets signed for WHEP (watch).
    pub tickets_watch: AtomicU64,
    /// Times the ticket key changed.
    pub ticket_key_rotations: AtomicU64,
    /// Times a watched file (rooms, ticket key) was refused and the old
    /// contents kept.
    pub reloads_refused: AtomicU64,
    /// Requests by (route index in [`ROUTES`], status code).
    http: Mutex<std::collections::BTreeMap<(usize, u16), u64>>,
}

impl Metrics {
    /// Counts one request answered.
    pub fn request(&self, route: &'static str, status: u16) {
        let index = ROUTES
            .iter()
            .position(|r| *r == route)
            .unwrap_or(ROUTES.len() - 1);
        *self
            .http
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((index, status))
            .or_default() += 1;
    }
}

/// What a scrape reports besides the counters: read from the state when
/// asked.
pub struct Gauges {
    /// Pods by state (`ready`, `draining`, `not_ready`, `dead`).
    pub pods: [(&'static str, u64); 4],
    /// Rooms known, and rooms placed on a pod.
    pub rooms: u64,
    /// Rooms placed.
    pub rooms_placed: u64,
    /// Ticket keys published by this replica (signing, offered, retired).
    pub ticket_keys: u64,
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, value: Option<u64>) {
    if let Some(value) = value {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
}

/// The text of a scrape.
pub fn render(metrics: &Metrics, gauges: &Gauges, ingest: &crate::ingest::Ingest) -> String {
    let mut out = String::with_capacity(8192);
    let _ = writeln!(
        out,
        "# HELP framechain_center_pods Pods known to the centre, by state.\n# TYPE framechain_center_pods gauge"
    );
    for (state, count) in gauges.pods {
        let _ = writeln!(out, "framechain_center_pods{{state=\"{state}\"}} {count}");
    }
    gauge(
        &mut out,
        "framechain_center_rooms",
        "Rooms known.",
        Some(gauges.rooms),
    );
    gauge(
        &mut out,
        "framechain_center_rooms_placed",
        "Rooms placed on a pod.",
        Some(gauges.rooms_placed),
    );
    counter(
        &mut out,
        "framechain_center_placements_total",
        "Rooms placed on a pod for the first time.",
        metrics.placements.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "framechain_center_replacements_total",
        "Rooms placed again on another pod (failovers).",
        metrics.replacements.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP framechain_center_tickets_total Placement tickets signed, by action.\n# TYPE framechain_center_tickets_total counter"
    );
    for (act, count) in [
        ("publish", &metrics.tickets_publish),
        ("watch", &metrics.tickets_watch),
    ] {
        let _ = writeln!(
            out,
            "framechain_center_tickets_total{{act=\"{act}\"}} {}",
            count.load(Ordering::Relaxed)
        );
    }
    gauge(
        &mut out,
        "framechain_center_ticket_keys",
        "Ticket keys this replica publishes (signing, offered, retired).",
        Some(gauges.ticket_keys),
    );
    counter(
        &mut out,
        "framechain_center_ticket_key_rotations_total",
        "Times a new ticket key started to sign.",
        metrics.ticket_key_rotations.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "framechain_center_reloads_refused_total",
        "Watched files (rooms, ticket key) refused; what was in force stays.",
        metrics.reloads_refused.load(Ordering::Relaxed),
    );

    let stats = ingest.stats();
    counter(
        &mut out,
        "framechain_center_ingest_entries_read_total",
        "Stream entries read (new, own pending and claimed).",
        stats.read,
    );
    counter(
        &mut out,
        "framechain_center_ingest_rows_inserted_total",
        "Audit rows inserted.",
        stats.ingested,
    );
    counter(
        &mut out,
        "framechain_center_ingest_duplicates_total",
        "Events delivered again and found stored.",
        stats.duplicates,
    );
    let _ = writeln!(
        out,
        "# HELP framechain_center_ingest_rejects_total Stream entries refused, by reason.\n# TYPE framechain_center_ingest_rejects_total counter"
    );
    for (reason, count) in stats.rejects.labelled() {
        let _ = writeln!(
            out,
            "framechain_center_ingest_rejects_total{{reason=\"{reason}\"}} {count}"
        );
    }
    counter(
        &mut out,
        "framechain_center_ingest_claimed_total",
        "Entries taken over from a consumer that died (XAUTOCLAIM).",
        stats.claimed,
    );
    counter(
        &mut out,
        "framechain_center_ingest_outages_total",
        "Ingest attempts ended by a Redis or PostgreSQL failure.",
        stats.outages,
    );
    gauge(
        &mut out,
        "framechain_center_ingest_pending",
        "Entries delivered to the group and not acknowledged (XINFO GROUPS).",
        stats.pending,
    );
    gauge(
        &mut out,
        "framechain_center_ingest_lag",
        "Entries not yet delivered to the group (XINFO GROUPS).",
        stats.lag,
    );
    gauge(
        &mut out,
        "framechain_center_ingest_connected",
        "1 when the ingest reaches both Redis and PostgreSQL.",
        Some(u64::from(stats.connected)),
    );
    ingest.batch_latency().write(
        &mut out,
        "framechain_center_ingest_batch_seconds",
        "Time to store and acknowledge one batch.",
    );

    let _ = writeln!(
        out,
        "# HELP framechain_center_http_requests_total HTTP requests answered, by route and status.\n# TYPE framechain_center_http_requests_total counter"
    );
    for ((route, status), count) in metrics
        .http
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        let _ = writeln!(
            out,
            "framechain_center_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
            ROUTES[*route]
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_in_a_fixed_set_of_routes() {
        use axum::http::Method;
        let post = Method::POST;
        assert_eq!(route_of(&post, "/whip/visit1"), "whip");
        assert_eq!(route_of(&post, "/whep/visit1/p-1"), "whep");
        assert_eq!(route_of(&Method::OPTIONS, "/whep/visit1/p-1"), "preflight");
        assert_eq!(route_of(&Method::GET, "/admin/rooms"), "admin_rooms");
        assert_eq!(route_of(&Method::DELETE, "/admin/rooms/x"), "admin_rooms");
        assert_eq!(route_of(&Method::GET, "/"), "status_page");
        assert_eq!(route_of(&Method::GET, "/metrics"), "metrics");
        for hostile in [
            "/whip",
            "/%00",
            "/a/b/c/d",
            "/metrics/x",
            "//",
            "/center/other",
        ] {
            assert_eq!(route_of(&Method::GET, hostile), "other", "{hostile}");
        }
    }
}
