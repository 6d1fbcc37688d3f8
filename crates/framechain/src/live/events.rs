//! The one event path of a runtime: every session's events, tagged by its
//! id, in one bounded queue, read by one receiver ([`LiveEvents`]).
//!
//! The bound is per session: an output that finds `depth` of its session's
//! events waiting is refused (the session counts it as
//! [`super::event::RECEIVER_BEHIND_DROP`], and so does the runtime-wide
//! counter); control events are few and small, so a session may have up to
//! twice `depth` waiting, past which its oldest `KeyframeNeeded` or
//! `Dropped` makes room. `Failed` and `Ended` are never discarded.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::event::{LiveEvent, SessionId};

/// The queue the sessions write to and the receiver reads.
pub(crate) struct EventQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
    depth: usize,
    /// Outputs refused because their session had `depth` events waiting,
    /// over the runtime's life.
    receiver_behind: AtomicU64,
}

struct QueueState {
    events: VecDeque<(SessionId, LiveEvent)>,
    /// Per session with events waiting (and only those): how many.
    waiting: HashMap<SessionId, Waiting>,
    /// The runtime has shut down: nothing more comes.
    closed: bool,
    /// The receiver was dropped: events are discarded.
    receiver_gone: bool,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Waiting {
    events: usize,
    /// The session's newest event waiting is `KeyframeNeeded`: another
    /// is merged into it.
    keyframe_needed_last: bool,
}

/// What became of an output handed to [`Outbox::offer_output`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// Its session had `depth` events waiting (or nobody will read it);
    /// the caller counts the drop in the session's stats.
    Full,
}

impl EventQueue {
    pub(crate) fn new(depth: usize) -> Arc<EventQueue> {
        Arc::new(EventQueue {
            state: Mutex::new(QueueState {
                events: VecDeque::new(),
                waiting: HashMap::new(),
                closed: false,
                receiver_gone: false,
                waker: None,
            }),
            ready: Condvar::new(),
            depth: depth.max(1),
            receiver_behind: AtomicU64::new(0),
        })
    }

    /// The sending side for session `id`.
    pub(crate) fn outbox(self: &Arc<Self>, id: SessionId) -> Outbox {
        Outbox {
            id,
            queue: self.clone(),
            ended: AtomicBool::new(false),
        }
    }

    /// Outputs refused so far because their session's events waited.
    pub(crate) fn receiver_behind(&self) -> u64 {
        self.receiver_behind.load(Ordering::Relaxed)
    }

    /// No more events will come: a receiver waiting gets `None` once it
    /// has taken what is queued.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.wake(state);
    }

    fn pop(&self, state: &mut QueueState) -> Option<(SessionId, LiveEvent)> {
        let (id, event) = state.events.pop_front()?;
        if let Some(waiting) = state.waiting.get_mut(&id) {
            waiting.events -= 1;
            if waiting.events == 0 {
                state.waiting.remove(&id);
            }
        }
        Some((id, event))
    }

    fn push(&self, mut state: MutexGuard<'_, QueueState>, id: SessionId, event: LiveEvent) {
        let waiting = state.waiting.entry(id).or_default();
        waiting.events += 1;
        waiting.keyframe_needed_last = matches!(event, LiveEvent::KeyframeNeeded);
        state.events.push_back((id, event));
        self.wake(state);
    }

    fn wake(&self, mut state: MutexGuard<'_, QueueState>) {
        let waker = state.waker.take();
        drop(state);
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Every update is a push or a pop with its count: a panic elsewhere
        // cannot leave the queue half-changed.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// One session's way into the queue. Nothing it sends after `Ended` is
/// queued.
pub(crate) struct Outbox {
    id: SessionId,
    queue: Arc<EventQueue>,
    /// Set, under the queue's lock, when `Ended` is queued.
    ended: AtomicBool,
}

impl Outbox {
    /// Queues an output unless its session has `depth` events waiting:
    /// outputs are what an owner that does not read would pile up.
    pub(crate) fn offer_output(&self, event: LiveEvent) -> Offer {
        let queue = &self.queue;
        let state = queue.lock();
        if self.ended.load(Ordering::Relaxed) {
            // Cannot happen (a session's outputs come before its end);
            // there would be no stats left to count it in.
            return Offer::Queued;
        }
        let waiting = state.waiting.get(&self.id).map_or(0, |w| w.events);
        if waiting >= queue.depth || state.receiver_gone {
            drop(state);
            queue.receiver_behind.fetch_add(1, Ordering::Relaxed);
            return Offer::Full;
        }
        queue.push(state, self.id, event);
        Offer::Queued
    }

    /// Queues a control event (keyframe needed, drops, swaps, failure,
    /// end). A `KeyframeNeeded` right after another of the same session
    /// still waiting is merged into it; past twice the depth, the
    /// session's oldest `KeyframeNeeded` or `Dropped` waiting is
    /// discarded (drop counts stay in the session's stats, which `Ended`
    /// carries). `Failed` and `Ended` are never discarded.
    pub(crate) fn send(&self, event: LiveEvent) {
        let queue = &self.queue;
        let mut state = queue.lock();
        if self.ended.load(Ordering::Relaxed) || state.receiver_gone {
            return;
        }
        if matches!(event, LiveEvent::Ended(_)) {
            self.ended.store(true, Ordering::Relaxed);
        }
        let waiting = state.waiting.get(&self.id);
        if matches!(event, LiveEvent::KeyframeNeeded)
            && waiting.is_some_and(|waiting| waiting.keyframe_needed_last)
        {
            return;
        }
        if waiting.is_some_and(|waiting| waiting.events >= queue.depth * 2)
            && let Some(oldest) = state.events.iter().position(|(id, event)| {
                *id == self.id
                    && matches!(event, LiveEvent::KeyframeNeeded | LiveEvent::Dropped { .. })
            })
        {
            state.events.remove(oldest);
            if let Some(waiting) = state.waiting.get_mut(&self.id) {
                waiting.events -= 1;
            }
        }
        queue.push(state, self.id, event);
    }
}

/// The receiving end of a runtime's events: every session's, each tagged
/// with the [`SessionId`] it is about, in the order they happened per
/// session. Taken once, with [`super::LiveRuntime::events`].
///
/// Each session may have [`super::LiveConfig::event_depth`] events waiting
/// here; an output past that is dropped and counted
/// ([`super::RECEIVER_BEHIND_DROP`] in the session's stats, and
/// [`super::LiveRuntime::receiver_behind_drops`]), so an owner that reads
/// too slowly loses pictures, not memory. Control events are merged
/// (`KeyframeNeeded`) or make room for one another (`KeyframeNeeded`,
/// `Dropped`) past twice the depth; `Failed` and `Ended` always arrive,
/// `Ended` last for its session.
///
/// Dropping the receiver discards every event from then on (outputs are
/// counted as receiver behind); the sessions go on.
pub struct LiveEvents {
    queue: Arc<EventQueue>,
}

impl LiveEvents {
    pub(crate) fn new(queue: Arc<EventQueue>) -> LiveEvents {
        LiveEvents { queue }
    }

    /// The next event, waiting for one; `None` once the runtime was
    /// dropped and every event was taken. Do not call from an async
    /// executor's thread: use [`LiveEvents::next`] there.
    pub fn recv(&self) -> Option<(SessionId, LiveEvent)> {
        let mut state = self.queue.lock();
        loop {
            if let Some(event) = self.queue.pop(&mut state) {
                return Some(event);
            }
            if state.closed {
                return None;
            }
            state = self
                .queue
                .ready
                .wait(state)
                .unwrap_or_else(|poison| poison.into_inner());
        }
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&self) -> Option<(SessionId, LiveEvent)> {
        self.queue.pop(&mut self.queue.lock())
    }

    /// The next event, for async code; `None` once the runtime was
    /// dropped and every event was taken.
    ///
    /// Cancel-safe: an event is taken from the queue only in the poll that
    /// returns it, so dropping the future (a `select!` branch that lost)
    /// loses nothing.
    pub async fn next(&self) -> Option<(SessionId, LiveEvent)> {
        poll_fn(|context| self.poll_next(context)).await
    }

    /// The poll form of [`LiveEvents::next`], for hand-written futures and
    /// streams. Only the last waker given is woken.
    pub fn poll_next(&self, context: &mut Context<'_>) -> Poll<Option<(SessionId, LiveEvent)>> {
        let mut state = self.queue.lock();
        if let Some(event) = self.queue.pop(&mut state) {
            return Poll::Ready(Some(event));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        state.waker = Some(context.waker().clone());
        Poll::Pending
    }
}

impl Drop for LiveEvents {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        state.receiver_gone = true;
        state.events.clear();
        state.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;
    use crate::media::{Media, Packet};
    use std::time::Duration;

    fn output(pts: i64) -> LiveEvent {
        LiveEvent::Output {
            media: Media::Packet(Packet {
                codec: Codec::H264,
                data: vec![0, 0, 1],
                pts,
                dts: pts,
                keyframe: false,
            }),
            latency: Duration::ZERO,
            stages: Vec::new(),
        }
    }

    fn pts(event: &LiveEvent) -> Option<i64> {
        match event {
            LiveEvent::Output { media, .. } => Some(media.pts()),
            _ => None,
        }
    }

    #[test]
    fn outputs_past_a_sessions_depth_are_refused_and_counted_without_touching_others() {
        let queue = EventQueue::new(2);
        let events = LiveEvents::new(queue.clone());
        let (a, b) = (queue.outbox(SessionId(1)), queue.outbox(SessionId(2)));
        assert_eq!(a.offer_output(output(0)), Offer::Queued);
        assert_eq!(a.offer_output(output(1)), Offer::Queued);
        assert_eq!(a.offer_output(output(2)), Offer::Full);
        // Another session's room is its own.
        assert_eq!(b.offer_output(output(10)), Offer::Queued);
        assert_eq!(queue.receiver_behind(), 1);
        let (id, event) = events.try_recv().unwrap();
        assert_eq!((id, pts(&event)), (SessionId(1), Some(0)));
        // Taking one makes room for one.
        assert_eq!(a.offer_output(output(3)), Offer::Queued);
        assert_eq!(a.offer_output(output(4)), Offer::Full);
        assert_eq!(queue.receiver_behind(), 2);
        let order: Vec<_> = std::iter::from_fn(|| events.try_recv())
            .map(|(id, event)| (id.0, pts(&event).unwrap()))
            .collect();
        assert_eq!(order, vec![(1, 1), (2, 10), (1, 3)]);
    }

    #[test]
    fn control_events_are_merged_and_bounded_but_ended_is_never_lost() {
        let queue = EventQueue::new(2);
        let events = LiveEvents::new(queue.clone());
        let a = queue.outbox(SessionId(7));
        a.send(LiveEvent::KeyframeNeeded);
        a.send(LiveEvent::KeyframeNeeded);
        assert_eq!(queue.lock().events.len(), 1, "merged");
        // A `Failed` waiting at the head is never what makes room.
        a.send(LiveEvent::Failed(crate::Error::Runtime("x".into())));
        for count in 1..=10 {
            a.send(LiveEvent::Dropped {
                reason: "session: late".into(),
                count,
            });
        }
        assert_eq!(queue.lock().events.len(), 4, "twice the depth");
        a.send(LiveEvent::Ended(Box::default()));
        a.send(LiveEvent::KeyframeNeeded);
        let kinds: Vec<String> = std::iter::from_fn(|| events.try_recv())
            .map(|(_, event)| match event {
                LiveEvent::Dropped { count, .. } => format!("dropped {count}"),
                LiveEvent::Failed(_) => "failed".into(),
                LiveEvent::Ended(_) => "ended".into(),
                other => format!("{other:?}"),
            })
            .collect();
        // The oldest (the KeyframeNeeded, then the first drops) made room.
        assert_eq!(
            kinds,
            vec!["failed", "dropped 9", "dropped 10", "ended"],
            "nothing after Ended"
        );
        assert!(queue.lock().waiting.is_empty());
    }

    #[test]
    fn the_receiver_hears_the_end_and_a_dropped_receiver_discards() {
        let queue = EventQueue::new(4);
        let events = LiveEvents::new(queue.clone());
        let a = queue.outbox(SessionId(1));
        a.send(LiveEvent::KeyframeNeeded);
        queue.close();
        assert!(matches!(
            events.recv(),
            Some((SessionId(1), LiveEvent::KeyframeNeeded))
        ));
        assert!(events.recv().is_none(), "closed and empty: no wait");
        drop(events);
        let b = queue.outbox(SessionId(2));
        assert_eq!(b.offer_output(output(0)), Offer::Full);
        assert!(queue.lock().events.is_empty());
    }
}
