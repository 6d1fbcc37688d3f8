//! The files the centre reads again while it runs, and the ticket keys it
//! publishes: every [`LOOK_EVERY`] the `--ticket-key` and `--rooms` files
//! are looked at (inode, size, modification time, so that a Kubernetes
//! Secret or ConfigMap swapped by its symbolic link counts) and read again
//! when they changed; `SIGHUP` reads them at once, with `--keys`. A file
//! that is not usable keeps what was in force, with one line saying why.
//!
//! - A new ticket key is offered to the signer ([`crate::tickets`]): it is
//!   published beside the old one and signs only once the pods have had
//!   time to read it; the old one stays published past its tickets' life.
//!   The keys are published every round, merged with the other replicas'
//!   ([`crate::pods::RedisLink::publish_ticket_keys`]).
//! - The rooms of a changed rooms file that differ from its last version
//!   are added or replaced, as at start; PostgreSQL stays the truth, so a
//!   room taken out of the file is kept (delete it with the admin API).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use framechain_identity::{Rounds, WatchedFile};
use tokio::sync::watch;

use crate::rooms::Room;
use crate::state::Center;

/// How often the files are looked at and the ticket keys published.
pub const LOOK_EVERY: Duration = Duration::from_secs(1);

/// What the loop watches.
pub struct Reloading {
    /// `--ticket-key`.
    pub ticket_key: Option<PathBuf>,
    /// `--rooms`, and the rooms it held when last read.
    pub rooms: Option<(PathBuf, Vec<Room>)>,
}

/// Runs until `shutdown` turns true.
pub async fn run(center: Arc<Center>, files: Reloading, mut shutdown: watch::Receiver<bool>) {
    let mut ticket_key = files.ticket_key.as_deref().map(WatchedFile::new);
    let (mut rooms_file, mut rooms) = match files.rooms {
        Some((path, rooms)) => (Some(WatchedFile::new(&path)), rooms),
        None => (None, Vec::new()),
    };
    let mut rounds = Rounds::new(LOOK_EVERY);
    while let Some(round) = rounds.next(&mut shutdown).await {
        let force = round.forced();
        if force {
            log::info!("SIGHUP: reading the keys, the ticket key and the rooms file again");
            if let Err(error) = center.verifier.reload() {
                log::warn!("{error}; the keys of before stay");
            }
        }
        if let Some(watched) = ticket_key.as_mut()
            && watched.changed(force)
        {
            offer_ticket_key(&center, watched.path());
        }
        if let Some(watched) = rooms_file.as_mut()
            && watched.changed(force)
            && let Some(new) = read_rooms(&center, watched.path())
        {
            let all_stored;
            (rooms, all_stored) = apply_rooms(&center, &rooms, new).await;
            if !all_stored {
                // Read it again next round: the rooms not stored are tried
                // again (PostgreSQL was away, most likely).
                watched.try_again();
            }
        }
        publish_ticket_keys(&center).await;
    }
}

fn offer_ticket_key(center: &Center, path: &Path) {
    match crate::tickets::read_key(path) {
        Ok(key) => {
            if center.tickets.offer(key) {
                log::info!(
                    "{}: a new ticket key; it is published now and signs in {} s",
                    path.display(),
                    crate::tickets::PUBLISH_LEAD_S
                );
            }
        }
        Err(error) => {
            center
                .metrics
                .reloads_refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            log::warn!("{error}; the ticket key of before stays");
        }
    }
}

/// Publishes the ticket keys and moves the signer's time on. A key offered
/// counts as published only once Redis took it.
pub async fn publish_ticket_keys(center: &Center) {
    let now = crate::http::now_unix().max(0) as u64;
    if let Some(kid) = center.tickets.tick(now) {
        center
            .metrics
            .ticket_key_rotations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        log::info!("ticket key {kid} signs from now on");
    }
    match center
        .redis
        .publish_ticket_keys(now, &center.tickets.published(now))
        .await
    {
        Ok(changed) => {
            center.tickets.published_at(now);
            if changed {
                log::info!("the published ticket keys changed");
            }
        }
        Err(error) => log::warn!("{error}; the ticket keys are published at the next round"),
    }
}

fn read_rooms(center: &Center, path: &Path) -> Option<Vec<Room>> {
    match crate::server::read_rooms_file(path) {
        Ok(rooms) => Some(rooms),
        Err(error) => {
            center
                .metrics
                .reloads_refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            log::warn!("{error}; the rooms of before stay");
            None
        }
    }
}

/// Adds or replaces the rooms of `new` that `old` did not hold as they
/// are; returns the rooms now in force from the file (a room that could
/// not be stored keeps its old version there) and whether every room was
/// stored.
async fn apply_rooms(center: &Center, old: &[Room], new: Vec<Room>) -> (Vec<Room>, bool) {
    let mut in_force = Vec::with_capacity(new.len());
    let (mut changed, mut failed) = (0usize, 0usize);
    for room in new {
        if old.contains(&room) {
            in_force.push(room);
            continue;
        }
        match crate::http::add_room(center, &room).await {
            Ok(_) => {
                changed += 1;
                in_force.push(room);
            }
            Err(refused) => {
                failed += 1;
                log::warn!("rooms file: room {}: {}", room.spec.room, refused.1);
                if let Some(before) = old.iter().find(|r| r.spec.room == room.spec.room) {
                    in_force.push(before.clone());
                }
            }
        }
    }
    log::info!("rooms file read again: {changed} room(s) added or replaced, {failed} not stored");
    (in_force, failed == 0)
}
