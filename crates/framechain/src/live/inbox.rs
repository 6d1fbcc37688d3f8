//! A session's bounded queue of events for its owner, readable by blocking
//! or from async code.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::LiveEvent;

/// Events waiting for the owner, and who is waiting for them.
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    ready: Condvar,
    depth: usize,
}

struct InboxState {
    events: VecDeque<LiveEvent>,
    /// Set once `Ended` is queued: nothing follows it.
    closed: bool,
    waker: Option<Waker>,
}

/// What became of an output handed to [`Inbox::offer_output`].
pub(crate) enum Offer {
    Queued,
    /// The queue was full; the caller counts the drop.
    Full,
}

impl Inbox {
    pub(crate) fn new(depth: usize) -> Inbox {
        Inbox {
            state: Mutex::new(InboxState {
                events: VecDeque::new(),
                closed: false,
                waker: None,
            }),
            ready: Condvar::new(),
            depth: depth.max(1),
        }
    }

    /// Queues an output unless the queue is full: outputs are what an owner
    /// that does not read would pile up.
    pub(crate) fn offer_output(&self, event: LiveEvent) -> Offer {
        let mut state = self.lock();
        if state.events.len() >= self.depth {
            return Offer::Full;
        }
        state.events.push_back(event);
        self.wake(state);
        Offer::Queued
    }

    /// Queues a control event (keyframe needed, drops, failure, end). These
    /// are few and small; a repeated `KeyframeNeeded` is merged, and past
    /// twice the depth the oldest `KeyframeNeeded` or `Dropped` is
    /// discarded (drop counts stay in the session's stats, which `Ended`
    /// carries); outputs, `Failed` and `Ended` are never discarded.
    pub(crate) fn send(&self, event: LiveEvent) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        if matches!(event, LiveEvent::KeyframeNeeded)
            && matches!(state.events.back(), Some(LiveEvent::KeyframeNeeded))
        {
            return;
        }
        if state.events.len() >= self.depth * 2
            && let Some(oldest) = state.events.iter().position(|event| {
                matches!(event, LiveEvent::KeyframeNeeded | LiveEvent::Dropped { .. })
            })
        {
            state.events.remove(oldest);
        }
        state.closed = matches!(event, LiveEvent::Ended(_));
        state.events.push_back(event);
        self.wake(state);
    }

    /// The next event, waiting for one; `None` after `Ended` was taken.
    pub(crate) fn recv(&self) -> Option<LiveEvent> {
        let mut state = self.lock();
        loop {
            if let Some(event) = state.events.pop_front() {
                return Some(event);
            }
            if state.closed {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(|poison| poison.into_inner());
        }
    }

    /// The next event if one is waiting.
    pub(crate) fn try_recv(&self) -> Option<LiveEvent> {
        self.lock().events.pop_front()
    }

    /// The async form of [`Inbox::recv`].
    pub(crate) fn poll_recv(&self, context: &mut Context<'_>) -> Poll<Option<LiveEvent>> {
        let mut state = self.lock();
        if let Some(event) = state.events.pop_front() {
            return Poll::Ready(Some(event));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        state.waker = Some(context.waker().clone());
        Poll::Pending
    }

    fn wake(&self, mut state: MutexGuard<'_, InboxState>) {
        let waker = state.waker.take();
        drop(state);
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn lock(&self) -> MutexGuard<'_, InboxState> {
        // Every update is a single push or pop: a panic elsewhere cannot
        // leave the queue half-changed.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}
