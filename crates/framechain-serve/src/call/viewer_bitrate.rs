//! One target bitrate for a stream's encoder, from its viewers' bandwidth
//! estimates.
//!
//! Every viewer of a stream gets the same encoded pictures, so the encoder
//! runs at what the slowest viewer's path carries: the lowest of the
//! viewers' latest estimates (str0m's TWCC estimate from a viewer's
//! transport-wide feedback, or the viewer's own REMB). The pipeline's
//! encoder clamps the target to its settings (`encode-h264`'s
//! `max-bitrate` is the operator's ceiling). Each change reconfigures the
//! encoder's rate control, so changes under 10 % are not made, and rises
//! wait a second after the last change; falls (congestion) go at once.
//! Sans-IO: time is passed in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::stream_stats::BitrateReport;

/// Smallest relative change that is passed on.
const MIN_CHANGE: f64 = 0.10;
/// A rise waits this long after the last change.
const RISE_INTERVAL: Duration = Duration::from_secs(1);

/// The viewers' estimates of one stream and the target last passed on.
#[derive(Debug, Default)]
pub(crate) struct ViewerBitrate {
    /// Bits per second, by viewer.
    estimates: BTreeMap<u64, u64>,
    applied: Option<u64>,
    last_change: Option<Instant>,
    /// Targets passed on since the session started.
    changes: u64,
}

impl ViewerBitrate {
    /// A viewer's newest estimate, bits per second.
    pub(crate) fn estimate(&mut self, viewer: u64, bits_per_second: u64) {
        self.estimates.insert(viewer, bits_per_second);
    }

    /// A viewer left: its path no longer limits the stream.
    pub(crate) fn viewer_left(&mut self, viewer: u64) {
        self.estimates.remove(&viewer);
    }

    /// A new session (a new encoder) starts from the defaults of its
    /// pipeline: the next poll passes the target on again.
    pub(crate) fn restart(&mut self) {
        self.applied = None;
        self.last_change = None;
        self.changes = 0;
    }

    /// The target last passed on (bits per second) and how often it
    /// changed, for the stream's stats.
    pub(crate) fn report(&self) -> BitrateReport {
        BitrateReport {
            target: self.applied,
            changes: self.changes,
        }
    }

    /// A new target to pass on to the encoder at `now`, if the estimates
    /// moved enough (and, for a rise, long enough after the last change).
    pub(crate) fn poll(&mut self, now: Instant) -> Option<u32> {
        let lowest = *self.estimates.values().min()?;
        if let Some(applied) = self.applied {
            let change = lowest.abs_diff(applied) as f64 / applied.max(1) as f64;
            if change < MIN_CHANGE {
                return None;
            }
            let rise = lowest > applied;
            if rise
                && self
                    .last_change
                    .is_some_and(|last| now.duration_since(last) < RISE_INTERVAL)
            {
                return None;
            }
        }
        self.applied = Some(lowest);
        self.last_change = Some(now);
        self.changes += 1;
        Some(u32::try_from(lowest).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn nothing_to_do_without_viewers() {
        let mut bitrate = ViewerBitrate::default();
        assert_eq!(bitrate.poll(Instant::now()), None);
    }

    #[test]
    fn the_slowest_viewer_sets_the_target() {
        let t0 = Instant::now();
        let mut bitrate = ViewerBitrate::default();
        bitrate.estimate(1, 3_000_000);
        bitrate.estimate(2, 800_000);
        assert_eq!(bitrate.poll(t0), Some(800_000));
        // The slow viewer leaves: the target rises, a second later.
        bitrate.viewer_left(2);
        assert_eq!(bitrate.poll(at(t0, 500)), None);
        assert_eq!(bitrate.poll(at(t0, 1000)), Some(3_000_000));
        assert_eq!(bitrate.report().target, Some(3_000_000));
        assert_eq!(bitrate.report().changes, 2);
        bitrate.restart();
        assert_eq!(bitrate.report().changes, 0);
    }

    #[test]
    fn small_changes_are_not_passed_on_and_falls_go_at_once() {
        let t0 = Instant::now();
        let mut bitrate = ViewerBitrate::default();
        bitrate.estimate(1, 2_000_000);
        assert_eq!(bitrate.poll(t0), Some(2_000_000));
        bitrate.estimate(1, 2_100_000);
        assert_eq!(bitrate.poll(at(t0, 5000)), None, "5 % is noise");
        bitrate.estimate(1, 1_000_000);
        assert_eq!(bitrate.poll(at(t0, 5010)), Some(1_000_000));
        bitrate.estimate(1, 500_000);
        assert_eq!(bitrate.poll(at(t0, 5020)), Some(500_000), "no wait to fall");
    }
}
