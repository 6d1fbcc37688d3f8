//! The centre against real PostgreSQL 15 and Redis on loopback ports
//! (dev/framechain-test-support/src/services.rs), one test binary with a
//! module per part.

mod placement;
