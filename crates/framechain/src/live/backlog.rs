//! The backlog policy: a session's access units waiting for a worker, and
//! what it skips when it falls behind. Pure: arrival times and `now` are
//! passed in, nothing here reads the clock, so it is tested without sleeps.
//! The session state machine ([`super::session`]) owns one and turns the
//! "ask for a keyframe" answers into events.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::media::Media;

/// Why a session skips pictures up to the next keyframe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// It fell behind ([`super::event::LATE_DROP`]).
    Late,
    /// It was over its share ([`super::event::OVER_SHARE_DROP`]).
    OverShare,
}

/// Whether the owner must be asked for a keyframe after a step.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ask {
    Nothing,
    Keyframe,
}

/// Access units waiting, with their arrival, and the skips not yet
/// counted in the session's stats.
pub(crate) struct Backlog {
    queue: VecDeque<(Media, Instant)>,
    /// At most this many wait; one more and the session is behind.
    depth: usize,
    /// None waits longer than this (a keyframe excepted).
    max_wait: Duration,
    /// Set after the session fell behind or skipped a picture over its
    /// share: arrivals are dropped, for this reason, until a keyframe.
    skipping: Option<Skip>,
    /// Late drops not yet counted in the session's stats.
    late: u64,
    /// Drops over the session's share not yet counted in its stats.
    over_share: u64,
    /// Arrivals not yet told to the session's share meter.
    arrived: u64,
}

/// Whether the session can restart from this input after skipping: a
/// keyframe access unit, or any raw picture (it needs no other).
pub(crate) fn is_keyframe(media: &Media) -> bool {
    match media {
        Media::Packet(packet) => packet.keyframe,
        Media::Frame(_) => true,
    }
}

impl Backlog {
    pub(crate) fn new(depth: usize, max_wait: Duration) -> Backlog {
        Backlog {
            queue: VecDeque::new(),
            depth: depth.max(1),
            max_wait,
            skipping: None,
            late: 0,
            over_share: 0,
            arrived: 0,
        }
    }

    /// One access unit arrived (its last byte at `arrival`). While the
    /// session skips, a picture other than a keyframe is dropped; every
    /// one asks again for a keyframe (the first request may have been
    /// rate-limited or lost, and a browser's encoder sends one only when
    /// asked). With `depth` waiting the session is behind: a keyframe
    /// restarts the stream, so the stale pictures waiting are dropped and
    /// it is kept; any other picture cannot be decoded without the ones
    /// before it, so those (whole) stay, and it and every picture up to
    /// the next keyframe are dropped.
    pub(crate) fn arrive(&mut self, media: Media, arrival: Instant) -> Ask {
        self.arrived += 1;
        let keyframe = is_keyframe(&media);
        if let Some(skip) = self.skipping {
            if !keyframe {
                self.count(skip, 1);
                return Ask::Keyframe;
            }
            self.skipping = None;
        }
        let mut ask = Ask::Nothing;
        if self.queue.len() >= self.depth {
            ask = Ask::Keyframe;
            if !keyframe {
                self.late += 1;
                self.skipping = Some(Skip::Late);
                return ask;
            }
            self.late += self.queue.len() as u64;
            self.queue.clear();
        }
        self.queue.push_back((media, arrival));
        ask
    }

    /// The next access unit to run at `now`, skipping what waited longer
    /// than `max_wait`: such a picture is late already, and so is every
    /// one after it up to a keyframe, which is kept even if late (it
    /// restarts the stream). Skips are counted as late and ask for a
    /// keyframe.
    pub(crate) fn next(&mut self, now: Instant) -> (Option<(Media, Instant)>, Ask) {
        let Some((media, arrival)) = self.queue.pop_front() else {
            return (None, Ask::Nothing);
        };
        if now.saturating_duration_since(arrival) <= self.max_wait || is_keyframe(&media) {
            return (Some((media, arrival)), Ask::Nothing);
        }
        self.late += 1;
        let ask = self.skip_to_keyframe(Skip::Late);
        (self.queue.pop_front(), ask)
    }

    /// The session was over its share with its budget spent when its turn
    /// came: the picture it would have run is skipped, keyframe or not (a
    /// keyframe is what a hostile sender makes dear), with what depends
    /// on it.
    pub(crate) fn skip_over_share(&mut self) -> Ask {
        self.over_share += 1;
        self.skip_to_keyframe(Skip::OverShare)
    }

    /// After a picture was skipped for `skip`: the pictures waiting up to
    /// the next keyframe cannot be decoded without it and are skipped too;
    /// with no keyframe waiting, later arrivals are skipped up to one.
    fn skip_to_keyframe(&mut self, skip: Skip) -> Ask {
        while let Some((front, _)) = self.queue.front() {
            if is_keyframe(front) {
                break;
            }
            self.queue.pop_front();
            self.count(skip, 1);
        }
        self.skipping = self.queue.is_empty().then_some(skip);
        Ask::Keyframe
    }

    fn count(&mut self, skip: Skip, count: u64) {
        match skip {
            Skip::Late => self.late += count,
            Skip::OverShare => self.over_share += count,
        }
    }

    /// Late drops since the last call, for the session's stats.
    pub(crate) fn take_late(&mut self) -> u64 {
        std::mem::take(&mut self.late)
    }

    /// Drops over the share since the last call, for the session's stats.
    pub(crate) fn take_over_share(&mut self) -> u64 {
        std::mem::take(&mut self.over_share)
    }

    /// Discards what waits; returns how many.
    pub(crate) fn clear(&mut self) -> u64 {
        let waiting = self.queue.len() as u64;
        self.queue.clear();
        waiting
    }

    /// Arrivals since the last call, whatever became of them: what the
    /// session's sender asks for, for its share meter.
    pub(crate) fn take_arrived(&mut self) -> u64 {
        std::mem::take(&mut self.arrived)
    }

    /// Whether the next access unit to run is a keyframe.
    pub(crate) fn keyframe_next(&self) -> bool {
        self.queue
            .front()
            .is_some_and(|(media, _)| is_keyframe(media))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops to count (in the session's stats) since the last take.
    pub(crate) fn has_drops(&self) -> bool {
        self.late > 0 || self.over_share > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;
    use crate::media::Packet;

    fn unit(pts: i64, keyframe: bool) -> Media {
        Media::Packet(Packet {
            codec: Codec::H264,
            data: vec![0, 0, 1, 0x65],
            pts,
            dts: pts,
            keyframe,
        })
    }

    fn pts(item: Option<(Media, Instant)>) -> Option<i64> {
        item.map(|(media, _)| media.pts())
    }

    const WAIT: Duration = Duration::from_millis(200);

    #[test]
    fn within_its_depth_everything_waits_in_order() {
        let t0 = Instant::now();
        let mut backlog = Backlog::new(3, WAIT);
        for n in 0..3 {
            assert_eq!(backlog.arrive(unit(n, n == 0), t0), Ask::Nothing);
        }
        let ran: Vec<_> = (0..3).map(|_| pts(backlog.next(t0).0)).collect();
        assert_eq!(ran, vec![Some(0), Some(1), Some(2)]);
        assert_eq!(backlog.next(t0).0.map(|_| ()), None);
        assert_eq!(
            (backlog.take_late(), backlog.is_empty(), backlog.has_drops()),
            (0, true, false)
        );
    }

    #[test]
    fn a_full_queue_drops_every_picture_up_to_the_next_keyframe_which_replaces_it() {
        let t0 = Instant::now();
        let mut backlog = Backlog::new(2, WAIT);
        assert_eq!(backlog.arrive(unit(0, true), t0), Ask::Nothing);
        assert_eq!(backlog.arrive(unit(1, false), t0), Ask::Nothing);
        // Behind: 2 and every later picture but a keyframe are dropped,
        // each asking again.
        for n in 2..5 {
            assert_eq!(backlog.arrive(unit(n, false), t0), Ask::Keyframe);
        }
        assert_eq!(backlog.take_late(), 3);
        // The keyframe ends the skipping and, the queue being full,
        // replaces the stale pictures waiting.
        assert_eq!(backlog.arrive(unit(5, true), t0), Ask::Keyframe);
        assert_eq!(backlog.take_late(), 2);
        assert_eq!(pts(backlog.next(t0).0), Some(5));
        assert!(backlog.is_empty());
        assert_eq!(backlog.arrive(unit(6, false), t0), Ask::Nothing);
    }

    #[test]
    fn a_picture_that_waited_too_long_is_skipped_with_its_dependents_but_a_keyframe_is_kept() {
        let t0 = Instant::now();
        let mut backlog = Backlog::new(10, WAIT);
        for n in 0..4 {
            assert_eq!(backlog.arrive(unit(n, n == 3), t0), Ask::Nothing);
        }
        // Just within max_wait: runs.
        let (first, ask) = backlog.next(t0 + WAIT);
        assert_eq!((pts(first), ask), (Some(0), Ask::Nothing));
        // Past it: 1 and 2 are late; 3, a keyframe, runs though late.
        let later = t0 + WAIT + Duration::from_millis(1);
        let (next, ask) = backlog.next(later);
        assert_eq!((pts(next), ask), (Some(3), Ask::Keyframe));
        assert_eq!(backlog.take_late(), 2);
        // A keyframe late on its own is kept, nothing counted.
        assert_eq!(backlog.arrive(unit(4, true), t0), Ask::Nothing);
        let (next, ask) = backlog.next(t0 + Duration::from_secs(10));
        assert_eq!((pts(next), ask), (Some(4), Ask::Nothing));
        assert_eq!(backlog.take_late(), 0);
    }

    #[test]
    fn with_no_keyframe_waiting_a_stale_picture_makes_later_arrivals_skip() {
        let t0 = Instant::now();
        let mut backlog = Backlog::new(10, WAIT);
        assert_eq!(backlog.arrive(unit(0, false), t0), Ask::Nothing);
        let (next, ask) = backlog.next(t0 + WAIT * 2);
        assert_eq!((pts(next), ask), (None, Ask::Keyframe));
        assert_eq!(backlog.arrive(unit(1, false), t0 + WAIT * 2), Ask::Keyframe);
        assert_eq!(backlog.take_late(), 2);
        assert_eq!(backlog.arrive(unit(2, true), t0 + WAIT * 2), Ask::Nothing);
        assert_eq!(pts(backlog.next(t0 + WAIT * 2).0), Some(2));
    }

    #[test]
    fn an_over_share_skip_takes_its_dependents_and_counts_apart_from_late() {
        let t0 = Instant::now();
        let mut backlog = Backlog::new(10, WAIT);
        for n in 0..4 {
            let _ = backlog.arrive(unit(n, n == 2), t0);
        }
        // The turn of 0 came with the budget spent: 0 is skipped, with 1;
        // 2 (a keyframe) waits.
        let (next, _) = backlog.next(t0);
        assert_eq!(pts(next), Some(0));
        assert_eq!(backlog.skip_over_share(), Ask::Keyframe);
        // The caller dropped the picture it took; the policy counted it.
        assert_eq!(backlog.take_over_share(), 2);
        assert_eq!(pts(backlog.next(t0).0), Some(2));
        // Nothing waiting: later arrivals are skipped up to a keyframe.
        let _ = backlog.next(t0);
        assert_eq!(backlog.skip_over_share(), Ask::Keyframe);
        assert_eq!(backlog.arrive(unit(4, false), t0), Ask::Keyframe);
        assert_eq!((backlog.take_over_share(), backlog.take_late()), (2, 0));
    }
}
