//! framechain's centre (docs/center.md): rooms and where each runs, the
//! edge pods' heartbeats, and the audit trail the pods' events become.
//!
//! - [`db`]: PostgreSQL and the schema's migrations;
//! - [`rooms`]: the room object, serve's own (crate `framechain-rooms`);
//! - [`placement`]: which pod a room goes to (pure, sans-IO);
//! - [`store`]: rooms, pods and placements in PostgreSQL, placement in one
//!   transaction under an advisory lock;
//! - [`pods`]: the pods' heartbeats from Redis, and what the pods read
//!   back (placements, rooms, ticket keys);
//! - [`failover`]: the loop that places a dead pod's rooms again;
//! - [`tickets`]: the placement tickets a redirect carries, and their
//!   key's rotation;
//! - [`reload`]: the `--ticket-key` and `--rooms` files read again when
//!   they change (or on `SIGHUP`), the ticket keys published;
//! - [`ingest`]: the pods' events from Redis into the audit trail;
//! - [`audit`]: reading and verifying the audit trail;
//! - [`metrics`]: `GET /metrics`, the centre's counters for Prometheus;
//! - [`http`], [`server`], [`args`]: `framechain center`.

#![deny(missing_docs)]

pub mod args;
pub mod audit;
pub mod db;
pub mod failover;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ingest;
pub mod metrics;
mod page;
pub mod placement;
pub mod pods;
/// The room object and its strict parser, the very ones serve uses.
pub use framechain_rooms as rooms;
pub mod reload;
pub mod server;
pub mod sight;
pub mod state;
pub mod store;
pub mod tickets;

pub use args::CenterArgs;
pub use server::{CenterError, CenterSettings, RunningCenter, migrate_only, run, start};
