//! framechain serve's integration tests, in one binary.

mod bad_actors;
mod browser;
mod clients;
mod cors;
mod drain;
mod edge;
mod edge_policy;
mod edge_support;
mod embedding;
mod front_door;
mod gstreamer;
mod operator_files;
mod support;
mod swap;
mod visit_browsers;
mod visit_rooms;
mod visit_support;
use framechain_test_support::webdriver;
