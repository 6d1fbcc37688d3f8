//! What a framechain edge pod tells its centre (docs/center.md).
//!
//! - [`event`]: the audit [`Event`] and what can happen ([`EventKind`]);
//! - [`chain`]: the per-pod hash chain over the events' bodies;
//! - [`spool`]: the bounded, fsynced spool on the pod's disk that keeps
//!   records until Redis has them;
//! - [`log`]: [`EventLog`], what serve records events with: each record is
//!   sealed into the chain and fsynced before `record` returns;
//! - [`ship`]: the task that carries spooled records to the Redis stream
//!   [`EVENTS_STREAM`], in order, at least once;
//! - [`pod`]: a pod's heartbeat ([`PodStatus`]) and the Redis keys the
//!   pods and the centre share; [`heartbeat`] sends it.
//!
//! ```
//! use framechain_events::{EventKind, EventLog, SpoolError};
//!
//! let dir = std::env::temp_dir().join(format!("framechain-doc-{}", uuid::Uuid::now_v7()));
//! let log = EventLog::open(&dir, 1 << 20, "pod-a")?;
//! let id = log.record(
//!     Some("room-1"),
//!     None,
//!     EventKind::PolicyReloaded { digest: "ab12".into() },
//! )?;
//! assert_eq!(log.pending(), 1);
//! # let _ = id;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), SpoolError>(())
//! ```
//!
//! With a tokio runtime, `log.ship(redis_url, stop)` then sends the record
//! to Redis, and [`heartbeat::heartbeat`] announces the pod.

#![deny(missing_docs)]

pub mod chain;
pub mod event;
pub mod heartbeat;
pub mod log;
pub mod pod;
pub mod ship;
pub mod spool;

pub use chain::Sealed;
pub use event::{Action, CENTER_GROUP, EVENTS_STREAM, Event, EventKind, NotAnEvent};
pub use heartbeat::heartbeat;
pub use log::EventLog;
pub use pod::PodStatus;
pub use ship::{BadRedisUrl, check_redis_url, ship};
pub use spool::SpoolError;
