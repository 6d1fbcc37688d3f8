//! Which call a datagram belongs to. Every call shares the one media
//! socket, so a datagram is matched by its source address once ICE has
//! tied that address to a call; only a STUN binding request can tie a new
//! address, so anything else from an unknown source is dropped without
//! asking every call.

use std::collections::HashMap;
use std::net::SocketAddr;

use str0m::Input;

use super::calls::{Call, CallId};

/// Source addresses tied to calls.
#[derive(Default)]
pub(crate) struct Routes {
    by_source: HashMap<SocketAddr, CallId>,
}

impl Routes {
    /// The call `input` (a datagram from `source`, whose bytes are
    /// `data`) is for, if any: the call its source is tied to if that call
    /// takes it, else, for a STUN message, the first call that takes it,
    /// which the source is then tied to.
    pub(crate) fn route(
        &mut self,
        source: SocketAddr,
        data: &[u8],
        input: &Input<'_>,
        calls: &HashMap<CallId, Call>,
    ) -> Option<CallId> {
        let known = self
            .by_source
            .get(&source)
            .copied()
            .filter(|id| calls.get(id).is_some_and(|call| call.rtc.accepts(input)));
        if known.is_some() {
            return known;
        }
        if !is_stun(data) {
            return None;
        }
        let id = calls
            .iter()
            .find(|(_, call)| call.rtc.accepts(input))
            .map(|(id, _)| *id)?;
        self.by_source.insert(source, id);
        Some(id)
    }

    /// A call ended: its addresses are free.
    pub(crate) fn forget(&mut self, id: CallId) {
        self.by_source.retain(|_, call| *call != id);
    }
}

/// A STUN message: first two bits zero and the magic cookie (RFC 5389).
pub(crate) fn is_stun(data: &[u8]) -> bool {
    data.len() >= 20 && data[0] < 4 && data[4..8] == [0x21, 0x12, 0xa4, 0x42]
}
