//! What a publisher and a viewer have in common: the offer posted, the
//! media thread, the state that thread reports, and ending the call.

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use str0m::media::Direction;

use crate::http::{self, Endpoint};
use crate::peer::{CallState, Peer, StopFlag};
use crate::{Error, lock, wait_for};

/// What a call's media thread shares with its handle: the call's state,
/// and whatever else it counts.
pub(crate) trait SharedWithMedia: Default + Send + 'static {
    /// The call's state; `None` only before the call starts.
    fn state(&mut self) -> &mut Option<CallState>;
}

/// A started WHIP or WHEP call: its resource, what its media thread
/// shares, and that thread. Dropping it stops the thread; only
/// [`CallHandle::end`] also sends the `DELETE`.
pub(crate) struct CallHandle<S> {
    endpoint: Endpoint,
    resource: String,
    shared: Arc<Mutex<S>>,
    stop: StopFlag,
    thread: Option<JoinHandle<()>>,
}

impl<S: SharedWithMedia> CallHandle<S> {
    /// Posts an offer (one H.264 video m-line in `direction`) to `kind`
    /// (`whip` or `whep`) and runs `media` on a thread named
    /// `thread_name`; how `media` returns is the call's last state.
    pub(crate) fn start(
        endpoint: &Endpoint,
        kind: &str,
        direction: Direction,
        thread_name: &str,
        media: impl FnOnce(Peer, &Mutex<S>, &StopFlag) -> Result<(), Error> + Send + 'static,
    ) -> Result<CallHandle<S>, Error> {
        let negotiated = Peer::negotiate(endpoint, kind, direction)?;
        let mut initial = S::default();
        *initial.state() = Some(CallState::Connecting);
        let shared = Arc::new(Mutex::new(initial));
        let stop = StopFlag::default();
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name(thread_name.to_owned())
                .spawn(move || {
                    let result = media(negotiated.peer, &shared, &stop);
                    *lock(&shared).state() = Some(match result {
                        Ok(()) => CallState::Finished,
                        Err(error) => CallState::Ended(error.to_string()),
                    });
                })?
        };
        Ok(CallHandle {
            endpoint: endpoint.clone(),
            resource: negotiated.resource,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// The resource URL (`Location`).
    pub(crate) fn resource(&self) -> &str {
        &self.resource
    }

    /// What the media thread shares, locked.
    pub(crate) fn shared(&self) -> MutexGuard<'_, S> {
        lock(&self.shared)
    }

    /// The call's state now.
    pub(crate) fn state(&self) -> CallState {
        self.shared()
            .state()
            .clone()
            .unwrap_or(CallState::Connecting)
    }

    /// Waits until media flows (`what` names the wait in the timeout's
    /// error); an error if the call ended first.
    pub(crate) fn wait_connected(&self, timeout: Duration, what: &str) -> Result<(), Error> {
        wait_for(timeout, what, || match self.state() {
            CallState::Connecting => None,
            CallState::Connected | CallState::Finished => Some(Ok(())),
            CallState::Ended(reason) => Some(Err(Error::Rtc(reason))),
        })
    }

    /// Stops the media thread and ends the call with `DELETE`.
    pub(crate) fn end(&mut self) -> Result<(), Error> {
        self.halt();
        http::delete(&self.endpoint, &self.resource)
    }
}

impl<S> CallHandle<S> {
    fn halt(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<S> Drop for CallHandle<S> {
    fn drop(&mut self) {
        // Without `end`, the media stops and the server's idle timeout
        // (publisher) or the stream's end (viewer) ends the call.
        self.halt();
    }
}
