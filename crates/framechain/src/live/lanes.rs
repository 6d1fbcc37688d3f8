//! A session's chain split across workers (pipelining): the lanes its
//! parts run in, what goes from one lane to the next, and where to cut.
//! Pure state and arithmetic; the session's turns drive it.
//!
//! A session whose chain takes more of its frame interval than
//! [`crate::live::LiveConfig::pipeline_above`] is cut into contiguous
//! parts of about equal cost, one per lane (at most one lane per worker).
//! Each lane runs its part on one item at a time, in order, as a task of
//! its own in the one run queue, so picture k may be in the encoder on one
//! worker while picture k+1 is in the decoder on another. At most
//! [`LANE_DEPTH`] items wait in front of a lane; a lane with a full lane
//! after it takes nothing, so what cannot go on waits in the session's
//! backlog, where the late policy sees it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::media::Media;
use crate::session::Session;

/// Items that may wait in front of a lane: one to take when the one it
/// runs is done, and one more for a burst (a decoder that gives two
/// pictures for one access unit). Bounds the session's memory between
/// lanes to a few pictures.
pub(crate) const LANE_DEPTH: usize = 2;

/// Pictures a session runs whole before its stages' costs decide whether
/// to split it: a fresh instance's first pictures cost several times a
/// steady one.
pub(crate) const PLAN_AFTER: u64 = 10;

/// Weight of a new picture in a stage's cost average.
const COST_SMOOTHING: f64 = 0.2;

/// A fresh instance's first pictures, left out of the costs (the first
/// IDR picture alone costs several steady ones).
const COLD_PICTURES: u64 = 2;

/// One item on its way from a lane to the next, with what it cost so far.
pub(crate) struct Handoff {
    pub media: Media,
    /// When the access unit it came from arrived (its latency is from
    /// there).
    pub arrival: Instant,
    /// Each stage's call time for it so far, in chain order.
    pub stages: Vec<Duration>,
    /// CPU time and worker time it took so far (admission's cost and the
    /// session's use of its share, reported once it leaves the chain).
    pub cpu: Duration,
    pub held: Duration,
}

/// What waits in front of a lane, and the controls it still has to give
/// its stages (with its next item).
#[derive(Default)]
pub(crate) struct LaneQueue {
    pub items: VecDeque<Handoff>,
    /// In the run queue or running on a worker.
    pub scheduled: bool,
    pub keyframe: bool,
    pub bitrate: Option<u32>,
}

/// One lane: a part of the chain (its stage instances) and its queue.
/// Lane 0 is the session's own turn, fed by its backlog; its queue holds
/// nothing.
#[derive(Default)]
pub(crate) struct Lane {
    /// The part's stage instances; `None` while the chain is whole (lane
    /// 0 then holds all of it) or after the session ended. Only the
    /// worker running the lane's turn touches it; whoever needs several
    /// lanes' parts locks them in lane order.
    pub part: Mutex<Option<Session>>,
    pub queue: Mutex<LaneQueue>,
    /// Drop counts of the part already sent as `Dropped` events.
    pub reported: Mutex<BTreeMap<String, u64>>,
}

impl Lane {
    pub(crate) fn lock_part(&self) -> MutexGuard<'_, Option<Session>> {
        // Replaced whole, or used by one worker at a time.
        self.part
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn lock_queue(&self) -> MutexGuard<'_, LaneQueue> {
        // A few field writes at a time.
        self.queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn lock_reported(&self) -> MutexGuard<'_, BTreeMap<String, u64>> {
        self.reported
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Learns a whole session's cost per stage and says when and where to
/// cut it.
pub(crate) struct Planner {
    pictures: u64,
    /// Seconds per picture, per stage, smoothed.
    costs: Vec<f64>,
}

impl Planner {
    pub(crate) fn new() -> Planner {
        Planner {
            pictures: 0,
            costs: Vec::new(),
        }
    }

    /// Starts over (the stages changed).
    pub(crate) fn reset(&mut self) {
        *self = Planner::new();
    }

    /// One picture went through the whole chain, taking `stages`.
    pub(crate) fn record(&mut self, stages: &[Duration]) {
        self.pictures += 1;
        if self.pictures <= COLD_PICTURES {
            return;
        }
        if self.costs.len() != stages.len() {
            self.costs = stages.iter().map(Duration::as_secs_f64).collect();
            return;
        }
        for (cost, time) in self.costs.iter_mut().zip(stages) {
            *cost += (time.as_secs_f64() - *cost) * COST_SMOOTHING;
        }
    }

    /// The whole chain's cost per picture, seconds (0 before it is known).
    pub(crate) fn cost(&self) -> f64 {
        self.costs.iter().sum()
    }

    /// Where to cut the chain, if it costs more than `budget` seconds a
    /// picture once warm: the positions where parts after the first begin,
    /// for at most `lanes` parts.
    pub(crate) fn cuts(&self, budget: f64, lanes: usize) -> Option<Vec<usize>> {
        if self.pictures < PLAN_AFTER || self.cost() <= budget {
            return None;
        }
        let cuts = plan_cuts(&self.costs, lanes, budget);
        (!cuts.is_empty()).then_some(cuts)
    }
}

/// Cuts `costs` (per stage, in chain order) into the fewest contiguous
/// parts, at most `max_parts`, whose dearest part costs at most `budget`;
/// with none that low, into `max_parts` parts with the dearest as cheap as
/// it can be. Returns where each part after the first begins (empty: one
/// part).
pub(crate) fn plan_cuts(costs: &[f64], max_parts: usize, budget: f64) -> Vec<usize> {
    let max_parts = max_parts.min(costs.len()).max(1);
    let mut best = Vec::new();
    for parts in 2..=max_parts {
        let (dearest, cuts) = balanced(costs, parts);
        best = cuts;
        if dearest <= budget {
            break;
        }
    }
    best
}

/// The cut of `costs` into `parts` contiguous parts whose dearest is the
/// cheapest: (its cost, where the parts after the first begin). Chains
/// are a few stages long: this tries every cut.
fn balanced(costs: &[f64], parts: usize) -> (f64, Vec<usize>) {
    fn search(
        costs: &[f64],
        from: usize,
        parts: usize,
        cuts: &mut Vec<usize>,
    ) -> (f64, Vec<usize>) {
        if parts == 1 {
            return (costs[from..].iter().sum(), cuts.clone());
        }
        let mut best = (f64::INFINITY, Vec::new());
        // Each part keeps at least one stage.
        for end in from + 1..=costs.len() - (parts - 1) {
            let head: f64 = costs[from..end].iter().sum();
            if head >= best.0 {
                break;
            }
            cuts.push(end);
            let (rest, rest_cuts) = search(costs, end, parts - 1, cuts);
            cuts.pop();
            let dearest = head.max(rest);
            if dearest < best.0 {
                best = (dearest, rest_cuts);
            }
        }
        best
    }
    search(costs, 0, parts, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_cut_into_the_fewest_parts_that_fit_the_budget() {
        // decode 19, redact 0, scale 3, encode 11 (ms): two parts, the
        // decoder alone.
        let costs = [0.019, 0.0001, 0.003, 0.011];
        assert_eq!(plan_cuts(&costs, 2, 0.025), vec![1]);
        assert_eq!(plan_cuts(&costs, 4, 0.025), vec![1]);
        // Nothing fits 5 ms: as many parts as allowed, the dearest as cheap
        // as it can be.
        assert_eq!(plan_cuts(&costs, 4, 0.005), vec![1, 2, 3]);
        assert_eq!(plan_cuts(&costs, 3, 0.005), vec![1, 3]);
        // Equal costs: even parts.
        assert_eq!(plan_cuts(&[1.0; 4], 2, 0.0), vec![2]);
        assert_eq!(plan_cuts(&[1.0; 5], 3, 0.0), vec![1, 3]);
        // One stage or one lane: nothing to cut.
        assert!(plan_cuts(&[1.0], 4, 0.0).is_empty());
        assert!(plan_cuts(&[1.0; 3], 1, 0.0).is_empty());
    }

    #[test]
    fn the_planner_waits_for_warm_pictures_and_cuts_only_a_dear_chain() {
        let ms = Duration::from_millis;
        let mut planner = Planner::new();
        // A cold first picture, then steady ones.
        planner.record(&[ms(120), ms(80)]);
        for _ in 1..PLAN_AFTER - 1 {
            planner.record(&[ms(20), ms(15)]);
        }
        assert_eq!(planner.cuts(0.025, 2), None, "still warming up");
        planner.record(&[ms(20), ms(15)]);
        assert_eq!(planner.cuts(0.025, 2), Some(vec![1]));
        assert_eq!(planner.cuts(0.040, 2), None, "fits one worker");
        planner.reset();
        assert_eq!(planner.cuts(0.0, 2), None);
    }
}
