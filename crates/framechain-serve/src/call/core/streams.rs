//! Streams that come and go while the server runs: a room participant's
//! publication (`ROOM/PARTICIPANT`) is added when it is first published
//! or watched and removed with its room (deleted, dropped from the rooms
//! file, or its time window closed), which ends every call of it at once.
//!
//! A removed stream whose session still flushes is kept, retired, until
//! the session's `Ended` arrives (so that the driver is still told to drop
//! the session), and swept after; adding it again meanwhile takes it back.

use super::CallCore;
use crate::call::calls::StreamState;

impl CallCore {
    /// Adds stream `name` if it does not exist (or takes back a retired
    /// one): a call may then be added to it.
    pub(super) fn add_stream(&mut self, name: String) {
        self.retired_streams.remove(&name);
        self.streams.entry(name).or_insert_with(StreamState::new);
    }

    /// Removes stream `name`: its publisher and viewers end now with
    /// `reason`, its session is told to finish (as when a publisher
    /// leaves), and the stream is gone once the session ended.
    pub(super) fn remove_stream(&mut self, name: &str, reason: &'static str) {
        let Some(state) = self.streams.get(name) else {
            return;
        };
        let calls: Vec<_> = state
            .publisher
            .into_iter()
            .chain(state.viewers.clone())
            .collect();
        if !calls.is_empty() {
            log::info!(
                "stream {name}: removed, ending {} call(s): {reason}",
                calls.len()
            );
        }
        for id in calls {
            self.end_call(id, reason);
        }
        self.retired_streams.insert(name.to_owned());
        self.sweep_retired_streams();
    }

    /// Drops the retired streams whose session has ended.
    pub(super) fn sweep_retired_streams(&mut self) {
        let streams = &mut self.streams;
        self.retired_streams.retain(|name| {
            let flushing = streams
                .get(name)
                .is_some_and(|state| state.session.is_some());
            if !flushing {
                streams.remove(name);
            }
            flushing
        });
    }

    /// The streams of room `room` (named `ROOM/PARTICIPANT`), retired ones
    /// left out.
    pub(crate) fn room_streams(&self, room: &str) -> Vec<String> {
        self.streams
            .keys()
            .filter(|name| {
                name.split_once('/')
                    .is_some_and(|(prefix, _)| prefix == room)
                    && !self.retired_streams.contains(*name)
            })
            .cloned()
            .collect()
    }

    /// The streams that have a publisher now.
    pub(crate) fn live_streams(&self) -> Vec<String> {
        self.streams
            .iter()
            .filter(|(_, state)| state.publisher.is_some())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The participants of room `room` (the `PARTICIPANT` of its streams
    /// `ROOM/PARTICIPANT`) who have a publisher now.
    pub(crate) fn room_publishers(&self, room: &str) -> Vec<String> {
        self.room_streams(room)
            .into_iter()
            .filter(|name| {
                self.streams
                    .get(name)
                    .is_some_and(|s| s.publisher.is_some())
            })
            .filter_map(|name| Some(name.split_once('/')?.1.to_owned()))
            .collect()
    }

    /// The calls of stream `name` open now (for the tests).
    #[cfg(test)]
    pub(crate) fn stream_calls(&self, name: &str) -> usize {
        self.calls
            .values()
            .filter(|call| call.stream == name)
            .count()
    }

    /// Whether stream `name` exists (retired ones do not).
    #[cfg(test)]
    pub(crate) fn has_stream(&self, name: &str) -> bool {
        self.streams.contains_key(name) && !self.retired_streams.contains(name)
    }
}
