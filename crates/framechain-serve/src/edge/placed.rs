//! The rooms the centre placed on this pod, and the centre's ticket
//! keys, read from Redis every [`INTERVAL`]: `framechain:placement`
//! (room → node) names the rooms of this node, `framechain:rooms` (room →
//! room object) gives them, and `framechain:ticket-keys` the JWKS that
//! placement tickets verify with. The rooms placed here replace the
//! registry's rooms as a set; a room no longer placed here has its calls
//! ended. While Redis is away nothing changes: running calls go on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use framechain_events::pod::{PLACEMENT_HASH, ROOMS_HASH, TICKET_KEYS_KEY};
use tokio::sync::{mpsc, watch};

use super::Edge;
use super::redis_link::RedisLink;
use crate::call::driver::Command;
use crate::visit::{Visits, now_unix};

/// How often the placement is read.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);
/// The largest room object taken from Redis (as the admin API's body).
const MAX_ROOM_BYTES: usize = 64 << 10;
/// The largest ticket key set taken.
const MAX_KEYS_BYTES: usize = 1 << 20;

/// Reads until `shutdown` turns true.
pub(crate) async fn run(
    mut redis: RedisLink,
    edge: Arc<Edge>,
    visits: Arc<Visits>,
    commands: mpsc::Sender<Command>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The room objects in force, as read: an unchanged set is not built
    // again.
    let mut in_force: Option<BTreeMap<String, String>> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
            () = edge.read_placement.notified() => {}
        }
        edge.placement_reads
            .send_modify(|(_, under_way)| *under_way = true);
        read_once(&mut redis, &edge, &visits, &commands, &mut in_force).await;
        edge.placement_reads
            .send_modify(|(done, under_way)| (*done, *under_way) = (*done + 1, false));
    }
}

/// One read of the ticket keys and the placement, put in force when it
/// changed.
async fn read_once(
    redis: &mut RedisLink,
    edge: &Edge,
    visits: &Arc<Visits>,
    commands: &mpsc::Sender<Command>,
    in_force: &mut Option<BTreeMap<String, String>>,
) {
    if let Some(keys) = redis
        .query::<Option<String>>(redis::cmd("GET").arg(TICKET_KEYS_KEY))
        .await
        .flatten()
    {
        take_ticket_keys(edge, &keys);
    }
    let Some(placement) = redis
        .query::<HashMap<String, String>>(redis::cmd("HGETALL").arg(PLACEMENT_HASH))
        .await
    else {
        return;
    };
    let mut mine: Vec<String> = placement
        .into_iter()
        .filter(|(_, node)| *node == edge.node)
        .map(|(room, _)| room)
        .collect();
    mine.sort();
    let objects: Vec<Option<String>> = if mine.is_empty() {
        Vec::new()
    } else {
        let mut get = redis::cmd("HMGET");
        get.arg(ROOMS_HASH).arg(&mine);
        match redis.query(&get).await {
            Some(objects) => objects,
            None => return,
        }
    };
    let placed: BTreeMap<String, String> = mine
        .into_iter()
        .zip(objects)
        .filter_map(|(room, object)| Some((room, object?)))
        .collect();
    if in_force.as_ref() == Some(&placed) {
        return;
    }
    let applied = {
        let visits = visits.clone();
        let placed = placed.clone();
        // Rooms' pipelines are built: not on the network threads.
        tokio::task::spawn_blocking(move || apply(&visits, &placed)).await
    };
    let Ok(ends) = applied else { return };
    *in_force = Some(placed);
    crate::visit::routes::send_ends(commands, ends).await;
}

/// The centre's ticket keys, taken when they changed.
fn take_ticket_keys(edge: &Edge, keys: &str) {
    if keys.len() > MAX_KEYS_BYTES {
        log::warn!(
            "{TICKET_KEYS_KEY} is over {MAX_KEYS_BYTES} bytes; the ticket keys of before stay"
        );
        return;
    }
    match edge.tickets.set_keys(keys) {
        Ok(true) => log::info!("the centre's placement ticket keys are in force"),
        Ok(false) => {}
        Err(reason) => {
            log::warn!(
                "{TICKET_KEYS_KEY}: not a usable key set ({reason}); the ticket keys of before stay"
            )
        }
    }
}

/// Puts the placed rooms in force; a room object that cannot be used is
/// logged and left out (the others still are served).
fn apply(visits: &Visits, placed: &BTreeMap<String, String>) -> Vec<crate::visit::EndCalls> {
    let mut prepared = Vec::new();
    for (name, object) in placed {
        if object.len() > MAX_ROOM_BYTES {
            log::warn!("placed room {name}: its object is over {MAX_ROOM_BYTES} bytes; left out");
            continue;
        }
        let room = match crate::visit::parse_room(object.as_bytes()) {
            Ok(room) if room.spec.room == *name => room,
            Ok(_) => {
                log::warn!("placed room {name}: its object names another room; left out");
                continue;
            }
            Err(problem) => {
                log::warn!("placed room {name}: {problem}; left out");
                continue;
            }
        };
        match visits.registry.prepare(room, true) {
            Ok(ready) => prepared.push(ready),
            Err(problem) => log::warn!("placed room {name}: {problem}; left out"),
        }
    }
    let count = prepared.len();
    match visits.registry.replace_centre_rooms(prepared, now_unix()) {
        Ok(ends) => {
            log::info!("rooms placed here by the centre: {count}");
            ends
        }
        Err(problem) => {
            log::warn!("the centre's rooms: {problem}; the rooms of before stay");
            Vec::new()
        }
    }
}
