//! Rooms, pods and placements in PostgreSQL (migration V2).
//!
//! Every change of `placements` happens in one transaction that first
//! takes the placement advisory lock ([`PLACEMENT_LOCK`]): two centre
//! replicas then see each other's placements before they count a pod's
//! rooms, so a room is never placed twice and a pod never takes more rooms
//! than its capacity. The lock is held for the few statements of one
//! placement (well under a millisecond of work), not across any I/O to
//! Redis or HTTP.

use std::collections::{HashMap, HashSet};

use framechain_events::PodStatus;
use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::db::{self, DbError};
use crate::placement::{self, NoPod};
use crate::rooms::{Room, RoomSpec};

/// The advisory lock every placement takes (`pg_advisory_xact_lock`): an
/// arbitrary constant of this schema ("fcplace" in ASCII).
pub const PLACEMENT_LOCK: i64 = 0x0066_6370_6c61_6365;

/// Where a room runs now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The room.
    pub room: String,
    /// The pod it runs on.
    pub node: String,
    /// How many times it has been placed (1: never moved).
    pub generation: i64,
    /// The pod it left at its last move.
    pub previous_node: Option<String>,
    /// When it was placed, Unix milliseconds.
    pub placed_at_ms: i64,
}

/// Why a room could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The room is not known.
    #[error("no such room")]
    NoRoom,
    /// No pod can take it.
    #[error("{0}")]
    NoPod(#[from] NoPod),
    /// PostgreSQL failed.
    #[error("{0}")]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for PlaceError {
    fn from(error: tokio_postgres::Error) -> PlaceError {
        PlaceError::Db(error.into())
    }
}

/// What [`Store::place`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The placement now in force.
    pub placement: Placement,
    /// The room as pods read it (`framechain:rooms`).
    pub room_json: String,
    /// Whether this call placed it (first time or again); `false` when it
    /// already ran on a live pod.
    pub changed: bool,
}

/// The centre's PostgreSQL: one connection, opened again when it breaks
/// (a restarted server), shared by the HTTP handlers and the loops.
pub struct Store {
    url: String,
    client: Mutex<Option<Client>>,
}

impl Store {
    /// A store on `url`; connects now so that a wrong URL or password is
    /// an error at start.
    ///
    /// # Errors
    /// [`DbError::Url`] or [`DbError::Connect`].
    pub async fn connect(url: &str) -> Result<Store, DbError> {
        let client = db::connect(url).await?;
        Ok(Store {
            url: url.to_owned(),
            client: Mutex::new(Some(client)),
        })
    }

    /// The connection, opened again if it closed.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, DbError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = None;
            *guard = Some(db::connect(&self.url).await?);
        }
        Ok(guard)
    }

    /// The calls of the last day, from the audit trail's events
    /// ([`crate::audit::recent_calls`]).
    ///
    /// # Errors
    /// The query's failure, as one line.
    pub async fn recent_calls(&self) -> Result<Vec<crate::audit::CallView>, String> {
        let guard = self.client().await.map_err(|error| error.to_string())?;
        let client = guard.as_ref().expect("connected");
        crate::audit::recent_calls(client)
            .await
            .map_err(|error| error.to_string())
    }

    /// Runs `migrate` (with `--migrate`) or checks the schema.
    ///
    /// # Errors
    /// What [`db::migrate`] or [`db::check_schema`] says.
    pub async fn prepare_schema(&self, migrate: bool) -> Result<(), DbError> {
        let mut guard = self.client().await?;
        let client = guard.as_mut().expect("connected");
        if migrate {
            let applied = db::migrate(client).await?;
            log::info!("PostgreSQL: {applied} migration(s) applied");
            Ok(())
        } else {
            db::check_schema(client).await
        }
    }

    /// Adds or replaces a room; `true` when it is new.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn put_room(&self, room: &Room) -> Result<bool, DbError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let spec = serde_json::to_value(&room.spec).expect("a room serialises");
        let row = client
            .query_one(
                "INSERT INTO rooms (room, spec, not_before, not_after)
                 VALUES ($1, $2, to_timestamp($3::bigint), to_timestamp($4::bigint))
                 ON CONFLICT (room) DO UPDATE
                   SET spec = EXCLUDED.spec, not_before = EXCLUDED.not_before,
                       not_after = EXCLUDED.not_after, updated = now()
                 RETURNING (xmax = 0)",
                &[&room.spec.room, &spec, &room.not_before, &room.not_after],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Removes a room (and its placement); `false` when it was not known.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn delete_room(&self, room: &str) -> Result<bool, DbError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let removed = client
            .execute("DELETE FROM rooms WHERE room = $1", &[&room])
            .await?;
        Ok(removed > 0)
    }

    /// One room, or `None`.
    ///
    /// # Errors
    /// [`DbError`]; a stored spec that no longer checks is
    /// [`DbError::Query`].
    pub async fn room(&self, room: &str) -> Result<Option<Room>, DbError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let row = client
            .query_opt("SELECT spec FROM rooms WHERE room = $1", &[&room])
            .await?;
        row.map(|row| room_of(row.get(0))).transpose()
    }

    /// Every room, by name.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn rooms(&self) -> Result<Vec<Room>, DbError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let rows = client
            .query("SELECT spec FROM rooms ORDER BY room", &[])
            .await?;
        rows.into_iter().map(|row| room_of(row.get(0))).collect()
    }

    /// Every placement, by room.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn placements(&self) -> Result<Vec<Placement>, DbError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let rows = client
            .query(
                "SELECT room, node, generation, previous_node,
                        (extract(epoch FROM placed_at) * 1000)::bigint
                 FROM placements ORDER BY room",
                &[],
            )
            .await?;
        Ok(rows.iter().map(placement_of).collect())
    }

    /// What the pods should read: room → (node, room JSON) for every
    /// placed room, the JSON written as [`Store::place`] writes it.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn published_view(
        &self,
    ) -> Result<std::collections::BTreeMap<String, (String, String)>, DbError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let rows = client
            .query(
                "SELECT p.room, p.node, r.spec FROM placements p JOIN rooms r ON r.room = p.room",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let spec: serde_json::Value = row.get(2);
                (row.get(0), (row.get(1), spec.to_string()))
            })
            .collect())
    }

    /// Notes the live pods' heartbeats (`pods.last_status`, `last_seen`).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn note_pods(&self, alive: &[PodStatus]) -> Result<(), DbError> {
        if alive.is_empty() {
            return Ok(());
        }
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let statuses = serde_json::to_value(alive).expect("statuses serialise");
        client
            .execute(
                "INSERT INTO pods (node, last_status)
                 SELECT status->>'node', status FROM jsonb_array_elements($1::jsonb) AS status
                 ON CONFLICT (node) DO UPDATE
                   SET last_status = EXCLUDED.last_status, last_seen = now()",
                &[&statuses],
            )
            .await?;
        Ok(())
    }

    /// Every pod ever seen, with its last status and `last_seen` (Unix ms).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn known_pods(&self) -> Result<Vec<(serde_json::Value, i64)>, DbError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let rows = client
            .query(
                "SELECT last_status, (extract(epoch FROM last_seen) * 1000)::bigint
                 FROM pods ORDER BY node",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The rooms that need a pod: placed on a pod not in `alive`, or not
    /// placed at all, and whose window has not closed.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn rooms_needing_a_pod(&self, alive: &[PodStatus]) -> Result<Vec<String>, DbError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let nodes: Vec<&str> = alive.iter().map(|pod| pod.node.as_str()).collect();
        let rows = client
            .query(
                "SELECT r.room FROM rooms r LEFT JOIN placements p ON p.room = r.room
                 WHERE (p.node IS NULL OR NOT (p.node = ANY($1)))
                   AND (r.not_after IS NULL OR r.not_after > now())
                 ORDER BY r.room",
                &[&nodes],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Ends the placements of rooms whose window has closed (their pods
    /// are freed for new rooms); returns those rooms.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn unplace_closed_rooms(&self) -> Result<Vec<String>, DbError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let rows = client
            .query(
                "DELETE FROM placements p USING rooms r
                 WHERE p.room = r.room AND r.not_after <= now()
                 RETURNING p.room",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Where `room` runs when it is placed on one of `alive`, without
    /// placing it: what the redirects use while Redis cannot be read
    /// ([`crate::sight`]).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn placed_on(
        &self,
        room: &str,
        alive: &[PodStatus],
    ) -> Result<Option<Placed>, DbError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let nodes: Vec<&str> = alive.iter().map(|pod| pod.node.as_str()).collect();
        let row = client
            .query_opt(
                "SELECT p.room, p.node, p.generation, p.previous_node,
                        (extract(epoch FROM p.placed_at) * 1000)::bigint, r.spec
                 FROM placements p JOIN rooms r ON r.room = p.room
                 WHERE p.room = $1 AND p.node = ANY($2)",
                &[&room, &nodes],
            )
            .await?;
        Ok(row.map(|row| {
            let spec: serde_json::Value = row.get(5);
            Placed {
                placement: placement_of(&row),
                room_json: spec.to_string(),
                changed: false,
            }
        }))
    }

    /// Where `room` runs: its placement when that pod is in `alive`, else a
    /// new placement chosen by [`placement::choose`] (generation + 1, the
    /// pod it left noted), all in one transaction under the placement lock.
    ///
    /// # Errors
    /// [`PlaceError`].
    pub async fn place(&self, room: &str, alive: &[PodStatus]) -> Result<Placed, PlaceError> {
        let mut guard = self.client().await?;
        let client = guard.as_mut().expect("connected");
        let transaction = client.transaction().await?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&PLACEMENT_LOCK])
            .await?;
        let Some(row) = transaction
            .query_opt("SELECT spec FROM rooms WHERE room = $1", &[&room])
            .await?
        else {
            return Err(PlaceError::NoRoom);
        };
        let spec: serde_json::Value = row.get(0);
        let room_json = spec.to_string();
        let labels = serde_json::from_value::<RoomSpec>(spec)
            .map(|spec| spec.labels)
            .unwrap_or_default();
        let alive_nodes: HashSet<&str> = alive.iter().map(|pod| pod.node.as_str()).collect();
        let current = transaction
            .query_opt(
                "SELECT room, node, generation, previous_node,
                        (extract(epoch FROM placed_at) * 1000)::bigint
                 FROM placements WHERE room = $1",
                &[&room],
            )
            .await?
            .map(|row| placement_of(&row));
        if let Some(placement) = current
            && alive_nodes.contains(placement.node.as_str())
        {
            transaction.commit().await?;
            return Ok(Placed {
                placement,
                room_json,
                changed: false,
            });
        }
        let placed: HashMap<String, u32> = transaction
            .query(
                "SELECT node, count(*)::bigint FROM placements GROUP BY node",
                &[],
            )
            .await?
            .iter()
            .map(|row| {
                let count: i64 = row.get(1);
                (row.get(0), u32::try_from(count).unwrap_or(u32::MAX))
            })
            .collect();
        let pod = placement::choose(alive, &placed, &labels)?;
        let row = transaction
            .query_one(
                "INSERT INTO placements (room, node) VALUES ($1, $2)
                 ON CONFLICT (room) DO UPDATE
                   SET node = EXCLUDED.node, generation = placements.generation + 1,
                       previous_node = placements.node, placed_at = now()
                 RETURNING room, node, generation, previous_node,
                           (extract(epoch FROM placed_at) * 1000)::bigint",
                &[&room, &pod.node],
            )
            .await?;
        transaction.commit().await?;
        Ok(Placed {
            placement: placement_of(&row),
            room_json,
            changed: true,
        })
    }
}

fn room_of(spec: serde_json::Value) -> Result<Room, DbError> {
    let spec: RoomSpec = serde_json::from_value(spec)
        .map_err(|error| DbError::Query(format!("a stored room does not parse: {error}")))?;
    Room::check(spec).map_err(|problem| DbError::Query(format!("a stored room: {problem}")))
}

fn placement_of(row: &tokio_postgres::Row) -> Placement {
    Placement {
        room: row.get(0),
        node: row.get(1),
        generation: row.get(2),
        previous_node: row.get(3),
        placed_at_ms: row.get(4),
    }
}
