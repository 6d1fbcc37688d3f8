//! framechain's centre (docs/center.md): rooms and where each runs, the
//! edge pods' heartbeats, and the audit trail the pods' events become.
//!
//! - [`db`]: PostgreSQL and the schema's migrations.
//! - [`ingest`]: the pods' events from Redis into the audit trail.
//! - [`audit`]: reading and verifying the audit trail.

#![deny(missing_docs)]

pub mod audit;
pub mod db;
pub mod ingest;
