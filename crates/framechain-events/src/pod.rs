//! What a pod says about itself every second (its heartbeat), and where in
//! Redis it says it. The first heartbeat is the pod's registration; a pod
//! whose key has expired is dead to the centre.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The set of every pod name ever seen (`SADD`); the live ones have a key.
pub const PODS_SET: &str = "framechain:pods";
/// A heartbeat key lives this long (`SET … PX`): five missed beats.
pub const HEARTBEAT_TTL_MS: u64 = 5000;
/// How often a pod beats.
pub const HEARTBEAT_INTERVAL_MS: u64 = 1000;
/// Hash room → node: where the centre placed each room.
pub const PLACEMENT_HASH: &str = "framechain:placement";
/// Hash room → room JSON (serve's rooms-file object) for placed rooms.
pub const ROOMS_HASH: &str = "framechain:rooms";
/// Pub/sub channel the centre nudges when placements or rooms change.
pub const ROOMS_CHANGED_CHANNEL: &str = "framechain:rooms-changed";
/// The centre's public placement-ticket keys (a JWKS).
pub const TICKET_KEYS_KEY: &str = "framechain:ticket-keys";

/// One pod's heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodStatus {
    /// The pod's name (`serve --node NAME`), unique in the fleet.
    pub node: String,
    /// The pod's public base URL, where the centre redirects clients
    /// (`http://10.0.3.7:8080`).
    pub address: String,
    /// How many rooms it may hold.
    pub capacity: u32,
    /// How many rooms it holds now.
    pub load: u32,
    /// How many calls (publishers) run on it now.
    pub calls: u32,
    /// Whether it takes new rooms (its readiness probe's answer).
    pub ready: bool,
    /// Whether it is draining: it keeps its calls and takes no new rooms.
    pub draining: bool,
    /// Labels rooms may ask for (`region=eu-west`, `site=clinic-3`).
    pub labels: BTreeMap<String, String>,
    /// framechain's version on the pod.
    pub version: String,
    /// When the pod wrote this, Unix milliseconds.
    pub time_ms: i64,
}

impl PodStatus {
    /// The pod's heartbeat key, `framechain:pod:NODE`.
    pub fn key(node: &str) -> String {
        format!("framechain:pod:{node}")
    }

    /// Whether it may be given a new room.
    pub fn takes_rooms(&self) -> bool {
        self.ready && !self.draining && self.load < self.capacity
    }
}
