//! `framechain center` and `framechain audit` as operators run them, on a
//! real Redis and a real PostgreSQL 15.
//!
//! A test binary of their own, apart from `tests/cli`: the hostile tests
//! there read a child's peak memory from `wait4`, which counts the test
//! binary's own resident memory at the fork, and the clients, runtimes and
//! database connections of these tests would raise it for every child.

mod audit;
mod browser;
mod failover;
mod faults;
mod fleet;
mod gstreamer;
mod rotation;
mod scale;
mod spool_latency;

#[allow(dead_code)] // the cli binary's helpers; this one uses some
#[path = "../cli/run.rs"]
mod run;

pub use run::{assert_one_line_error, framechain, scratch, stage_path, stderr};
