//! Per-session and per-stage accounting: media in and out, drops with
//! their reasons, and call latency.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::limits::{MAX_DROP_REASON_CHARS, MAX_DROP_REASONS, OTHER_DROP_REASONS};

/// A compact latency histogram: logarithmic buckets with 32 linear steps per
/// power of two, so any percentile is exact to about 3 % while a session
/// stores only the buckets it used, whatever its length.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    buckets: BTreeMap<u32, u64>,
    count: u64,
    max_us: u64,
    total_us: u64,
}

const LINEAR_BITS: u32 = 5;
const LINEAR_STEPS: u64 = 1 << LINEAR_BITS;

impl LatencyHistogram {
    /// Adds one sample (microsecond resolution).
    pub fn record(&mut self, latency: Duration) {
        let us = latency.as_micros().min(u64::MAX as u128) as u64;
        *self.buckets.entry(bucket_of(us)).or_default() += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
        self.total_us = self.total_us.saturating_add(us);
    }

    /// How many samples were recorded: 0 means the percentiles say nothing.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest sample, exact (not rounded to a bucket).
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us)
    }

    /// The sum of the samples, exact (per-call deltas of a stage's time).
    pub fn total(&self) -> Duration {
        Duration::from_micros(self.total_us)
    }

    /// The average of the samples, exact; zero when there are none.
    pub fn mean(&self) -> Duration {
        Duration::from_micros(self.total_us.checked_div(self.count).unwrap_or(0))
    }

    /// The latency below which `quantile` (0.0–1.0) of the calls fell: the
    /// upper edge of the bucket that holds that rank, capped by the maximum.
    pub fn quantile(&self, quantile: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (&bucket, &n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Duration::from_micros(bucket_upper_edge(bucket).min(self.max_us));
            }
        }
        self.max()
    }

    /// The median: half the samples took at most this long.
    pub fn p50(&self) -> Duration {
        self.quantile(0.50)
    }

    /// The 99th percentile: the tail a viewer notices as stalls.
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }
}

fn bucket_of(us: u64) -> u32 {
    if us < LINEAR_STEPS {
        return us as u32;
    }
    let exponent = 63 - us.leading_zeros(); // >= LINEAR_BITS
    let shift = exponent - LINEAR_BITS;
    let step = (us >> shift) - LINEAR_STEPS; // 0..32
    (LINEAR_STEPS as u32) + shift * (LINEAR_STEPS as u32) + step as u32
}

fn bucket_upper_edge(bucket: u32) -> u64 {
    let bucket = bucket as u64;
    if bucket < LINEAR_STEPS {
        return bucket;
    }
    let shift = (bucket - LINEAR_STEPS) / LINEAR_STEPS;
    let step = (bucket - LINEAR_STEPS) % LINEAR_STEPS;
    ((LINEAR_STEPS + step + 1) << shift) - 1
}

/// What one stage of a session did.
#[derive(Clone, Debug, Default)]
pub struct StageStats {
    /// The stage's name as it describes itself.
    pub name: String,
    /// Media items (frames or packets) pushed into the stage.
    pub inputs: u64,
    /// Media items the stage produced.
    pub outputs: u64,
    /// Inputs the stage consumed for good, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Time of each `push` and `flush` call.
    pub latency: LatencyHistogram,
    /// Most host memory held for the stage at once (its frames, their
    /// regions, native encoders), in bytes.
    pub peak_host_bytes: usize,
}

impl StageStats {
    /// Counts one drop the stage reported. The reason is the stage's text:
    /// it is escaped and cut, and past [`MAX_DROP_REASONS`] distinct
    /// reasons the rest share one entry, so a stage cannot grow the map (or
    /// a summary) without end.
    pub(crate) fn count_drop(&mut self, reason: &str) {
        let reason = crate::text::untrusted(reason, MAX_DROP_REASON_CHARS);
        let key = if self.dropped.contains_key(&reason) || self.dropped.len() < MAX_DROP_REASONS {
            reason
        } else {
            OTHER_DROP_REASONS.to_owned()
        };
        *self.dropped.entry(key).or_default() += 1;
    }

    /// Inputs the stage dropped, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// What a session did, end to end.
#[derive(Clone, Debug, Default)]
pub struct SessionStats {
    /// Media items pushed into the session.
    pub inputs: u64,
    /// Media items the last stage produced.
    pub outputs: u64,
    /// Each stage's own counts and call latency, in chain order.
    pub stages: Vec<StageStats>,
    /// For each item the last stage produced: the time from the start of the
    /// `push` (or `flush`) that let it out to the end of that call, through
    /// every stage. A decoder fed blind chunks lets several pictures out of
    /// one push; each counts with that push's whole time.
    pub output_latency: LatencyHistogram,
    /// For each item the last stage produced in a live session: the time
    /// from the arrival of the input it came from (the instant its last
    /// byte arrived, as the caller said) until the output was ready. This is
    /// the latency a viewer sees, queueing included; it stays empty in a
    /// session driven by `push`/`flush`, which has no arrival times.
    pub arrival_latency: LatencyHistogram,
    /// Items the session itself dropped, not a stage, by reason: a live
    /// session that fell behind drops whole pictures up to the next
    /// keyframe as `late` (counted in `inputs`), and outputs its owner did
    /// not take in time as `receiver behind` (not counted in `outputs`).
    /// See [`crate::live`].
    pub session_drops: BTreeMap<String, u64>,
    /// The most memory the session had after a push: linear memories,
    /// host frames and encoders, items in flight ([`crate::SessionMemory`]).
    pub peak_memory_bytes: usize,
    /// Most bytes held between stages at once (depth-first, at most one
    /// call's outputs per stage).
    pub peak_in_flight_bytes: usize,
}

impl SessionStats {
    /// Drops reported by every stage, by `stage: reason`, and those of the
    /// session itself, by `session: reason`.
    pub fn dropped(&self) -> BTreeMap<String, u64> {
        let mut all = BTreeMap::new();
        for (reason, n) in &self.session_drops {
            *all.entry(format!("session: {reason}")).or_default() += n;
        }
        for stage in &self.stages {
            for (reason, n) in &stage.dropped {
                *all.entry(format!("{}: {reason}", stage.name)).or_default() += n;
            }
        }
        all
    }

    /// Every drop: by the stages and before the first stage.
    pub fn dropped_total(&self) -> u64 {
        self.stages
            .iter()
            .map(StageStats::dropped_total)
            .sum::<u64>()
            + self.session_drops.values().sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut previous = 0;
        for us in [
            0,
            1,
            31,
            32,
            33,
            63,
            64,
            100,
            1_000,
            33_333,
            1_000_000,
            123_456_789,
        ] {
            let bucket = bucket_of(us);
            assert!(bucket >= previous);
            previous = bucket;
            let upper = bucket_upper_edge(bucket);
            assert!(upper >= us, "{us} above its bucket edge {upper}");
            assert!(
                upper as f64 <= us as f64 * 1.04 + 1.0,
                "{us} -> {upper} too coarse"
            );
        }
    }

    #[test]
    fn percentiles_follow_the_samples() {
        let mut histogram = LatencyHistogram::default();
        for ms in 1..=100u64 {
            histogram.record(Duration::from_millis(ms));
        }
        let p50 = histogram.p50().as_micros() as f64;
        let p99 = histogram.p99().as_micros() as f64;
        assert!((50_000.0..=52_000.0).contains(&p50), "p50 {p50}");
        assert!((99_000.0..=100_000.0).contains(&p99), "p99 {p99}");
        assert_eq!(histogram.max(), Duration::from_millis(100));
        assert_eq!(histogram.count(), 100);
    }
}
