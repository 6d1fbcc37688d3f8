//! The centre against real Redis and PostgreSQL 15 on loopback ports
//! (`framechain_test_support::services`): one test binary, one module per
//! part of the centre.

mod audit;
mod placement;
