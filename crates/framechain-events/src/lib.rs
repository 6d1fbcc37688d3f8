//! What a framechain edge pod tells its centre (docs/center.md).
//!
//! - [`event`]: the audit [`Event`] and what can happen ([`EventKind`]);
//! - [`chain`]: the per-pod hash chain over the events' bodies;
//! - [`pod`]: a pod's heartbeat ([`PodStatus`]) and the Redis keys the
//!   pods and the centre share.

#![deny(missing_docs)]

pub mod chain;
pub mod event;
pub mod pod;

pub use chain::Sealed;
pub use event::{Action, CENTER_GROUP, EVENTS_STREAM, Event, EventKind, NotAnEvent};
pub use pod::PodStatus;
