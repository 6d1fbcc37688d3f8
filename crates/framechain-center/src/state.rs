//! What the HTTP handlers and the loops share: the store, Redis, the
//! clinic's token verifier, the admin token and the ticket signer.

use framechain_events::PodStatus;
use framechain_identity::Verifier;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::pods::RedisLink;
use crate::store::{PlaceError, Placed, Store};
use crate::tickets::TicketSigner;

/// The centre's shared state.
pub struct Center {
    /// This replica's name (`--name`).
    pub name: String,
    /// Rooms, pods and placements.
    pub store: Store,
    /// Heartbeats in, placements out.
    pub redis: RedisLink,
    /// The clinic's tokens (`--keys`, `--audience`).
    pub verifier: Verifier,
    /// `/admin/...`'s token.
    pub admin: AdminToken,
    /// Signs placement tickets.
    pub tickets: TicketSigner,
    /// The live pods, steady across Redis outages: placement reads the
    /// heartbeats afresh through it, the status page takes its last view.
    pub sight: crate::sight::Sight,
    /// The events ingest (its counters for the status).
    pub ingest: crate::ingest::Ingest,
    /// The counters `/metrics` reports.
    pub metrics: crate::metrics::Metrics,
}

impl Center {
    /// Places `room` (or finds where it runs) on the pods alive now, and
    /// publishes a new placement to the pods before returning it, so that
    /// the pod has heard of the room by the time a redirected client
    /// arrives (or within its next read of the hashes).
    ///
    /// While Redis cannot be read, a room already placed on a pod that
    /// was alive at the last read still goes there (the pod runs on and
    /// spools its records; [`crate::sight`]); nothing is placed anew.
    ///
    /// # Errors
    /// [`PlaceError`]; Redis down and the room not on a pod seen alive is
    /// [`crate::placement::NoPod::NoneAlive`] after one warning line:
    /// without Redis no pod can learn the room.
    pub async fn place(&self, room: &str) -> Result<(Placed, PodStatus), PlaceError> {
        let alive = match self.redis.alive_pods().await {
            Ok(read) => self.sight.read(read, std::time::Instant::now()),
            Err(error) => {
                let seen = self.sight.unreadable();
                if let Some(placed) = self.store.placed_on(room, &seen).await?
                    && let Some(pod) = seen
                        .into_iter()
                        .find(|pod| pod.node == placed.placement.node)
                {
                    return Ok((placed, pod));
                }
                log::warn!("{error}; placing room {room} is not possible now");
                return Err(crate::placement::NoPod::NoneAlive.into());
            }
        };
        let placed = self.store.place(room, &alive).await?;
        if placed.changed {
            self.announce(&placed).await;
        }
        let pod = alive
            .into_iter()
            .find(|pod| pod.node == placed.placement.node)
            .expect("a room is placed on a live pod");
        Ok((placed, pod))
    }

    /// Publishes a new placement and logs it; a Redis error is logged (the
    /// loop's next sync publishes it again).
    pub(crate) async fn announce(&self, placed: &Placed) {
        let placement = &placed.placement;
        let counter = match placement.previous_node {
            Some(_) => &self.metrics.replacements,
            None => &self.metrics.placements,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &placement.previous_node {
            Some(previous) => log::info!(
                "room {} placed on {} (generation {}, was on {previous})",
                placement.room,
                placement.node,
                placement.generation
            ),
            None => log::info!(
                "room {} placed on {} (generation {})",
                placement.room,
                placement.node,
                placement.generation
            ),
        }
        if let Err(error) = self
            .redis
            .publish_room(&placement.room, &placement.node, &placed.room_json)
            .await
        {
            log::warn!(
                "{error}; room {} is published at the next sync",
                placement.room
            );
        }
    }
}

/// The operator's token for `/admin/...`, kept as a SHA-256 digest and
/// compared in constant time (as serve keeps its own).
pub struct AdminToken([u8; 32]);

/// The longest admin token file read.
const MAX_ADMIN_TOKEN_FILE: u64 = 4096;

impl AdminToken {
    /// The token of `--admin-token-file`: one line of printable ASCII
    /// without spaces, at least 16 characters.
    ///
    /// # Errors
    /// One line naming the file.
    pub fn read(path: &std::path::Path) -> Result<AdminToken, String> {
        use std::io::Read as _;
        let named = |what: &str| format!("{}: {what}", path.display());
        let file = std::fs::File::open(path).map_err(|error| named(&error.to_string()))?;
        let mut bytes = Vec::new();
        file.take(MAX_ADMIN_TOKEN_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| named(&error.to_string()))?;
        if bytes.len() as u64 > MAX_ADMIN_TOKEN_FILE {
            return Err(named("larger than an admin token file may be (4 KiB)"));
        }
        let token = std::str::from_utf8(&bytes)
            .map_err(|_| named("not text"))?
            .trim();
        if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(named(
                "the admin token must be one line of at least 16 printable characters without spaces",
            ));
        }
        Ok(AdminToken::new(token))
    }

    /// A token given directly (tests).
    pub fn new(token: &str) -> AdminToken {
        AdminToken(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether an `Authorization` header carries the token.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let Some(header) = authorization else {
            return false;
        };
        let header = header.trim_ascii();
        let Some((scheme, token)) = header.split_at_checked(7) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(b"bearer ") {
            return false;
        }
        let digest: [u8; 32] = Sha256::digest(token.trim_ascii()).into();
        bool::from(digest.ct_eq(&self.0))
    }
}
