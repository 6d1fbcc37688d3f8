//! Calls: every publisher's and viewer's WebRTC connection, sans-IO in
//! [`core`], run on tokio by [`driver`].
//!
//! - `core`: the [`core::CallCore`]; datagrams, time, the HTTP side's
//!   calls and the live sessions' events go in through `handle_input`,
//!   what to send and what to do with the sessions come out of
//!   `poll_output`. It owns no socket and reads no clock. Beside it,
//!   `core/keyframes.rs` (keyframe requests) and `core/session_events.rs`
//!   (a live session's events: pictures to the viewers, its end).
//! - `routing`: which call a datagram is for.
//! - `calls`: the state of a call and of a stream.
//! - `keyframe_throttle`, `viewer_bitrate`: the keyframe and bitrate
//!   policy, one target at a time.
//! - `start_health`: whether new sessions start, for `/readyz`.
//! - `driver`: the tokio task with the UDP socket, the timer, the
//!   commands from the HTTP side and the sessions' events; it opens the
//!   sessions and does what the core's outputs say.
//! - `swap`: the pipeline new publishers get and a swap's probation.

pub(crate) mod calls;
pub(crate) mod core;
pub(crate) mod driver;
pub(crate) mod keyframe_throttle;
pub(crate) mod routing;
pub(crate) mod start_health;
pub(crate) mod swap;
#[cfg(test)]
mod tests;
pub(crate) mod viewer_bitrate;
