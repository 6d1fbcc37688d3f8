//! Which pods the centre takes for alive, steady across a Redis outage.
//!
//! A pod is alive while its heartbeat key is in Redis. Two moments break
//! that rule, and both were seen in the fault run with real calls
//! (`crates/framechain-cli/tests/center/faults.rs`):
//!
//! - **Redis away.** No key can be read. The centre must not take every
//!   pod for dead, and its rooms' participants should still reach them:
//!   the pods carry on, spool their records and refuse joins themselves
//!   when the spool is full. So the pods alive at the last read stand in,
//!   for rooms already placed on them; nothing is placed anew, since no
//!   pod could learn of it.
//! - **Redis back after longer than a heartbeat's life.** Every key has
//!   expired while Redis was away, and the pods beat again only as they
//!   reconnect, one by one. Read at once, the first pod back would look
//!   like the only one alive and take every other pod's rooms, cutting
//!   their running calls. So for [`GRACE`] after Redis answers again, a
//!   pod alive before the outage counts as alive (with its last status)
//!   until it beats again, and only then is a silent pod dead: the same
//!   5 s a pod has at any time.
//!
//! Time is passed in; the centre's loop and its redirects share one
//! [`Sight`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use framechain_events::PodStatus;
use framechain_events::pod::HEARTBEAT_TTL_MS;

/// After Redis answers again, how long pods seen before the outage count
/// as alive without a fresh heartbeat: a heartbeat key's life.
pub const GRACE: Duration = Duration::from_millis(HEARTBEAT_TTL_MS);

/// The centre's view of the live pods (see the module's docs).
#[derive(Debug, Default)]
pub struct Sight {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The pods taken for alive at the last read.
    last: Vec<PodStatus>,
    /// Redis could not be read at the last attempt.
    away: bool,
    /// When Redis answered again after an outage.
    back_at: Option<Instant>,
}

impl Sight {
    /// No pod seen yet.
    pub fn new() -> Sight {
        Sight::default()
    }

    /// The heartbeats were read at `now` (`read`: the pods whose key is
    /// there): the pods to take for alive.
    pub fn read(&self, read: Vec<PodStatus>, now: Instant) -> Vec<PodStatus> {
        let mut state = self.lock();
        if state.away {
            state.away = false;
            state.back_at = Some(now);
        }
        let in_grace = state
            .back_at
            .is_some_and(|back| now.saturating_duration_since(back) < GRACE);
        if !in_grace {
            state.back_at = None;
        }
        let mut alive = read;
        if in_grace {
            let missing: Vec<PodStatus> = state
                .last
                .iter()
                .filter(|before| !alive.iter().any(|pod| pod.node == before.node))
                .cloned()
                .collect();
            alive.extend(missing);
            alive.sort_by(|a, b| a.node.cmp(&b.node));
        }
        state.last = alive.clone();
        alive
    }

    /// Redis could not be read: the pods alive at the last read, which
    /// stand in for rooms already placed on them.
    pub fn unreadable(&self) -> Vec<PodStatus> {
        let mut state = self.lock();
        state.away = true;
        state.last.clone()
    }

    /// The pods taken for alive at the last read (the status page's view).
    pub fn last(&self) -> Vec<PodStatus> {
        self.lock().last.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(node: &str) -> PodStatus {
        PodStatus {
            node: node.into(),
            address: format!("http://{node}"),
            capacity: 10,
            load: 0,
            calls: 0,
            ready: true,
            draining: false,
            labels: Default::default(),
            version: "test".into(),
            time_ms: 0,
        }
    }

    fn nodes(pods: &[PodStatus]) -> Vec<&str> {
        pods.iter().map(|pod| pod.node.as_str()).collect()
    }

    #[test]
    fn pods_seen_before_an_outage_stay_alive_until_they_had_time_to_beat_again() {
        let sight = Sight::new();
        let start = Instant::now();
        let both = sight.read(vec![pod("pod-0"), pod("pod-1")], start);
        assert_eq!(nodes(&both), ["pod-0", "pod-1"]);

        // Redis away: the last view stands in.
        assert_eq!(nodes(&sight.unreadable()), ["pod-0", "pod-1"]);
        assert_eq!(nodes(&sight.unreadable()), ["pod-0", "pod-1"]);

        // Back after 30 s, every key expired, pod-1 beat first.
        let back = start + Duration::from_secs(30);
        assert_eq!(
            nodes(&sight.read(vec![pod("pod-1")], back)),
            ["pod-0", "pod-1"],
            "pod-0 has its grace to beat again"
        );
        assert_eq!(
            nodes(&sight.read(vec![pod("pod-1")], back + GRACE - Duration::from_millis(1))),
            ["pod-0", "pod-1"]
        );
        // Silent a whole grace after Redis came back: dead.
        assert_eq!(
            nodes(&sight.read(vec![pod("pod-1")], back + GRACE)),
            ["pod-1"]
        );
        // Without an outage, a missing key is a dead pod at once.
        assert_eq!(
            nodes(&sight.read(vec![], back + GRACE + Duration::from_secs(1))),
            Vec::<&str>::new()
        );
    }
}
