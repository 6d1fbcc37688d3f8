//! The centre's loop, once a second: read the pods' heartbeats, note them
//! in PostgreSQL, free the pods of rooms whose window has closed, and place
//! again every room whose pod is dead (its heartbeat key expired, at most
//! [`framechain_events::pod::HEARTBEAT_TTL_MS`] after its last beat) or
//! that has no pod yet. A dead pod's rooms are thus placed again within
//! the key's 5 s plus one round. Every few rounds the Redis hashes are
//! made to say exactly what PostgreSQL says.
//!
//! When Redis cannot be read, nothing is placed again: a centre that
//! cannot see the heartbeats must not take every pod for dead; and when it
//! answers again, the pods seen before have a heartbeat's life to beat
//! again before their rooms move ([`crate::sight`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::state::Center;
use crate::store::PlaceError;

/// How often the loop runs.
pub const ROUND: Duration = Duration::from_secs(1);
/// Every this many rounds, the Redis hashes are synced in full.
const SYNC_EVERY: u32 = 5;

/// Runs the loop until `shutdown` turns true.
pub async fn run(center: Arc<Center>, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(ROUND);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round: u32 = 0;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
        one_round(&center, round.is_multiple_of(SYNC_EVERY)).await;
        round = round.wrapping_add(1);
    }
}

/// One round; errors are logged, and the next round tries again.
pub async fn one_round(center: &Center, full_sync: bool) {
    let alive = match center.redis.alive_pods().await {
        // Pods seen before an outage keep their rooms until they have had
        // a heartbeat's life to beat again (crate::sight).
        Ok(read) => center.sight.read(read, std::time::Instant::now()),
        Err(error) => {
            center.sight.unreadable();
            log::warn!("{error}; no placement changes until the heartbeats can be read");
            return;
        }
    };
    if let Err(error) = center.store.note_pods(&alive).await {
        log::warn!("{error}; the pods' last status is not noted");
    }
    match center.store.unplace_closed_rooms().await {
        Ok(closed) => {
            for room in closed {
                log::info!("room {room}: its window closed; its pod is freed");
                if let Err(error) = center.redis.withdraw_room(&room).await {
                    log::warn!("{error}; room {room} is withdrawn at the next sync");
                }
            }
        }
        Err(error) => log::warn!("{error}; closed rooms stay placed this round"),
    }
    let needing = match center.store.rooms_needing_a_pod(&alive).await {
        Ok(rooms) => rooms,
        Err(error) => {
            log::warn!("{error}; no placement this round");
            return;
        }
    };
    for room in needing {
        match center.store.place(&room, &alive).await {
            Ok(placed) if placed.changed => center.announce(&placed).await,
            Ok(_) | Err(PlaceError::NoRoom) => {}
            Err(PlaceError::NoPod(why)) => log::debug!("room {room}: not placed: {why}"),
            Err(PlaceError::Db(error)) => {
                log::warn!("{error}; placing again waits for the next round");
                return;
            }
        }
    }
    if full_sync && let Err(error) = sync(center).await {
        log::warn!("{error}");
    }
}

/// Makes the Redis hashes say what PostgreSQL says.
async fn sync(center: &Center) -> Result<(), String> {
    let placed = center
        .store
        .published_view()
        .await
        .map_err(|e| e.to_string())?;
    let changed = center.redis.sync(placed).await.map_err(|e| e.to_string())?;
    if changed {
        log::info!("Redis placements and rooms brought up to date");
    }
    Ok(())
}
