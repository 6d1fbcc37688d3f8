//! Where a room goes: a pure function of the live pods' heartbeats, the
//! rooms already placed on each, and the labels the room asks for. No I/O,
//! no clock: the store calls it inside its placement transaction, the
//! tests and the simulation call it directly.
//!
//! A pod may take a room when it is ready, not draining, carries every
//! label the room asks for, and holds fewer rooms than its capacity, where
//! what it holds is the larger of what it reports (`load`) and what the
//! centre has placed on it: a pod's heartbeat lags the centre's decisions
//! by up to a second, and a burst of requests must not overfill it in
//! between. Of those, the least loaded by ratio (held / capacity) wins, so
//! a pod of 40 rooms and a pod of 10 fill at the same pace; ties go to the
//! name, so two replicas given the same facts choose the same pod.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use framechain_events::PodStatus;

/// Why no pod can take a room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoPod {
    /// No pod is alive.
    #[error("no pod is alive")]
    NoneAlive,
    /// Pods are alive, but none carries the room's labels.
    #[error("no live pod carries the labels the room asks for")]
    NoLabelMatch,
    /// Pods with the labels exist, but each is full, draining or not ready.
    #[error("every pod that could take the room is full, draining or not ready")]
    AllBusy,
}

/// How many rooms a pod holds as far as placement is concerned.
pub fn held(pod: &PodStatus, placed: &HashMap<String, u32>) -> u32 {
    pod.load.max(placed.get(&pod.node).copied().unwrap_or(0))
}

/// Whether `pod` carries every label of `wanted`.
pub fn labels_match(pod: &PodStatus, wanted: &BTreeMap<String, String>) -> bool {
    wanted
        .iter()
        .all(|(name, value)| pod.labels.get(name) == Some(value))
}

/// The pod a new room asking for `labels` goes to, given the live pods
/// (`alive`: only pods whose heartbeat key exists) and how many rooms the
/// centre has placed on each (`placed`, by node).
///
/// # Errors
/// [`NoPod`]: why none can take it.
pub fn choose<'a>(
    alive: &'a [PodStatus],
    placed: &HashMap<String, u32>,
    labels: &BTreeMap<String, String>,
) -> Result<&'a PodStatus, NoPod> {
    if alive.is_empty() {
        return Err(NoPod::NoneAlive);
    }
    let mut matching = alive
        .iter()
        .filter(|pod| labels_match(pod, labels))
        .peekable();
    if matching.peek().is_none() {
        return Err(NoPod::NoLabelMatch);
    }
    matching
        .filter(|pod| pod.ready && !pod.draining && held(pod, placed) < pod.capacity)
        .min_by(|a, b| by_load_then_name(a, b, placed))
        .ok_or(NoPod::AllBusy)
}

/// `a` before `b` when it is less loaded by ratio, or as loaded and named
/// first. The ratios are compared exactly, as cross products.
fn by_load_then_name(a: &PodStatus, b: &PodStatus, placed: &HashMap<String, u32>) -> Ordering {
    let left = u64::from(held(a, placed)) * u64::from(b.capacity);
    let right = u64::from(held(b, placed)) * u64::from(a.capacity);
    left.cmp(&right).then_with(|| a.node.cmp(&b.node))
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::simulated_pod as pod;

    fn no_labels() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn the_least_loaded_by_ratio_wins_and_ties_go_to_the_name() {
        let pods = [pod("b", 10, 5), pod("a", 40, 10), pod("c", 10, 2)];
        // Ratios: b 0.5, a 0.25, c 0.2.
        assert_eq!(
            choose(&pods, &HashMap::new(), &no_labels()).unwrap().node,
            "c"
        );
        let pods = [pod("b", 10, 1), pod("a", 20, 2)];
        assert_eq!(
            choose(&pods, &HashMap::new(), &no_labels()).unwrap().node,
            "a"
        );
    }

    #[test]
    fn rooms_the_centre_placed_count_before_the_pod_reports_them() {
        let pods = [pod("a", 2, 0), pod("b", 2, 0)];
        let placed = HashMap::from([("a".to_owned(), 2)]);
        assert_eq!(choose(&pods, &placed, &no_labels()).unwrap().node, "b");
        let placed = HashMap::from([("a".to_owned(), 2), ("b".to_owned(), 2)]);
        assert_eq!(choose(&pods, &placed, &no_labels()), Err(NoPod::AllBusy));
    }

    #[test]
    fn draining_unready_and_full_pods_get_no_rooms() {
        let mut draining = pod("a", 10, 0);
        draining.draining = true;
        let mut unready = pod("b", 10, 0);
        unready.ready = false;
        let full = pod("c", 3, 3);
        let pods = [draining, unready, full.clone()];
        assert_eq!(
            choose(&pods, &HashMap::new(), &no_labels()),
            Err(NoPod::AllBusy)
        );
        let pods = [pods[0].clone(), pods[1].clone(), full, pod("d", 1, 0)];
        assert_eq!(
            choose(&pods, &HashMap::new(), &no_labels()).unwrap().node,
            "d"
        );
        assert_eq!(
            choose(&[], &HashMap::new(), &no_labels()),
            Err(NoPod::NoneAlive)
        );
    }

    #[test]
    fn labels_are_honoured() {
        let mut eu = pod("z-eu", 10, 9);
        eu.labels.insert("region".into(), "eu".into());
        let pods = [pod("a", 10, 0), eu];
        let wanted = BTreeMap::from([("region".to_owned(), "eu".to_owned())]);
        assert_eq!(
            choose(&pods, &HashMap::new(), &wanted).unwrap().node,
            "z-eu"
        );
        let wanted = BTreeMap::from([("region".to_owned(), "us".to_owned())]);
        assert_eq!(
            choose(&pods, &HashMap::new(), &wanted),
            Err(NoPod::NoLabelMatch)
        );
    }
}

/// A pod as its heartbeat registers it, without media: ready, not
/// draining, no labels, at `http://NODE.pods.test:8080`. What [`simulate`]
/// makes its fleet of, and what the placement tests, unit and end to end,
/// place rooms on.
pub fn simulated_pod(node: &str, capacity: u32, load: u32) -> PodStatus {
    PodStatus {
        node: node.into(),
        address: format!("http://{node}.pods.test:8080"),
        capacity,
        load,
        calls: 0,
        ready: true,
        draining: false,
        labels: BTreeMap::new(),
        version: "simulated".into(),
        time_ms: 0,
    }
}

/// Each simulated room's labels and the pod it went to (`None`: refused).
pub type SimulatedRooms = Vec<(BTreeMap<String, String>, Option<String>)>;

/// The simulation the issue asks for: `rooms` rooms on `pods` pods of
/// mixed capacities and labels, placed one after the other as requests
/// would place them. Every fifth pod is draining or not ready; a third of
/// the rooms ask for `region=eu`, a third for `region=us`, a third for
/// nothing. Returns the pods and where each room went (`None`: refused).
pub fn simulate(rooms: usize, pods: usize) -> (Vec<PodStatus>, SimulatedRooms) {
    let fleet: Vec<PodStatus> = (0..pods)
        .map(|index| {
            let region = if index % 2 == 0 { "eu" } else { "us" };
            PodStatus {
                address: format!("http://10.0.{}.{}:8080", index / 200, index % 200),
                ready: index % 10 != 5,
                draining: index % 10 == 0,
                labels: BTreeMap::from([
                    ("region".to_owned(), region.to_owned()),
                    ("site".to_owned(), format!("clinic-{}", index % 7)),
                ]),
                ..simulated_pod(
                    &format!("pod-{index:03}"),
                    [20, 30, 40, 50][(index / 2) % 4],
                    0,
                )
            }
        })
        .collect();
    let mut placed: HashMap<String, u32> = HashMap::new();
    let mut outcome = Vec::with_capacity(rooms);
    for index in 0..rooms {
        let labels = match index % 3 {
            0 => BTreeMap::from([("region".to_owned(), "eu".to_owned())]),
            1 => BTreeMap::from([("region".to_owned(), "us".to_owned())]),
            _ => BTreeMap::new(),
        };
        let node = choose(&fleet, &placed, &labels)
            .ok()
            .map(|pod| pod.node.clone());
        if let Some(node) = &node {
            *placed.entry(node.clone()).or_default() += 1;
        }
        outcome.push((labels, node));
    }
    (fleet, outcome)
}

#[cfg(test)]
mod simulation {
    use super::*;

    #[test]
    fn a_thousand_rooms_on_fifty_pods_respect_capacity_and_labels_and_spread_fairly() {
        let (fleet, outcome) = simulate(1000, 50);
        let by_node: HashMap<&str, &PodStatus> =
            fleet.iter().map(|pod| (pod.node.as_str(), pod)).collect();
        let mut held: HashMap<&str, u32> = HashMap::new();
        for (labels, node) in &outcome {
            let node = node.as_deref().expect("every room finds a pod");
            let pod = by_node[node];
            assert!(labels_match(pod, labels), "{node} lacks {labels:?}");
            assert!(pod.ready && !pod.draining, "{node} takes no rooms");
            *held.entry(node).or_default() += 1;
        }
        let mut ratios = Vec::new();
        for pod in &fleet {
            let count = held.get(pod.node.as_str()).copied().unwrap_or(0);
            assert!(
                count <= pod.capacity,
                "{} holds {count} > {}",
                pod.node,
                pod.capacity
            );
            if pod.ready && !pod.draining {
                ratios.push(f64::from(count) / f64::from(pod.capacity));
            } else {
                assert_eq!(count, 0, "{}", pod.node);
            }
        }
        let low = ratios.iter().copied().fold(f64::MAX, f64::min);
        let high = ratios.iter().copied().fold(0.0, f64::max);
        // Fair: no pod is ahead of another by more than one room of the
        // smallest capacity (20).
        assert!(high - low <= 0.05 + 1e-9, "spread {low:.3}..{high:.3}");
    }
}
