//! Lip sync: a processed picture leaves later than the sound that was
//! recorded with it, by the pipeline's time. The viewer's browser can wait
//! for the picture only if both tracks' sender reports say when each was
//! recorded, on one clock. str0m's sender report maps an RTP time to the
//! NTP time of the wallclock given with the last write. So both tracks are
//! written with the publisher's own RTP times and the *arrival* of what
//! they came from: audio with its packet's arrival (`forwarding.rs`), a
//! processed picture with its source access unit's arrival, found here by
//! its presentation time (the source's 90 kHz RTP time, which the pipeline
//! carries through). The reports then place a picture at its source's
//! arrival, not at its later departure, and the browser delays the sound
//! by the difference (Chromium's stream synchronisation, within its
//! limits).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Source access units remembered: 4 s at 60 fps, far more than a
/// pipeline holds in flight (its backlog is a few pictures).
const MAX_REMEMBERED: usize = 240;

/// When each recent source access unit of a stream arrived, by its
/// presentation time.
#[derive(Default)]
pub(crate) struct SourceArrivals {
    /// (presentation time, arrival), oldest first.
    recent: VecDeque<(i64, Instant)>,
}

impl SourceArrivals {
    /// An access unit of presentation time `pts` arrived at `arrival`.
    pub(crate) fn arrived(&mut self, pts: i64, arrival: Instant) {
        if self.recent.len() == MAX_REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back((pts, arrival));
    }

    /// When the source of a picture of presentation time `pts` arrived:
    /// the remembered arrival, else (a picture the pipeline made up, or
    /// one older than what is remembered) `now` less the session's
    /// `latency` (from its input's arrival to its output event).
    /// Forgets what came before it: pictures leave in order.
    pub(crate) fn source_arrival(&mut self, pts: i64, now: Instant, latency: Duration) -> Instant {
        let found = self
            .recent
            .iter()
            .position(|(seen, _)| *seen == pts)
            .map(|index| {
                let arrival = self.recent[index].1;
                self.recent.drain(..=index);
                arrival
            });
        found.unwrap_or_else(|| now.checked_sub(latency).unwrap_or(now))
    }

    /// A new publisher: nothing of the last one's applies.
    pub(crate) fn clear(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_is_timed_at_its_sources_arrival_and_older_entries_go() {
        let start = Instant::now();
        let mut arrivals = SourceArrivals::default();
        for frame in 0..5 {
            arrivals.arrived(frame * 3000, start + Duration::from_millis(frame as u64 * 33));
        }
        let now = start + Duration::from_secs(1);
        let latency = Duration::from_millis(100);
        assert_eq!(
            arrivals.source_arrival(6000, now, latency),
            start + Duration::from_millis(66)
        );
        assert_eq!(arrivals.recent.len(), 2, "what came before is forgotten");
        // Not remembered: from the session's latency.
        assert_eq!(arrivals.source_arrival(1, now, latency), now - latency);
        for frame in 0..(MAX_REMEMBERED as i64 + 10) {
            arrivals.arrived(frame, start);
        }
        assert_eq!(arrivals.recent.len(), MAX_REMEMBERED, "bounded");
    }
}
