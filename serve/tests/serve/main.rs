//! framechain serve's integration tests, in one binary.

mod browser;
mod support;
mod bad_actors;
mod clients;
mod gstreamer;
