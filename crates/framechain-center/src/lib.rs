//! framechain's centre (docs/center.md): rooms and where each runs, the
//! edge pods' heartbeats, and the audit trail the pods' events become.
//!
//! - [`db`]: PostgreSQL and the schema's migrations.

#![deny(missing_docs)]

pub mod db;
