//! Keyframe requests: a viewer's PLI or a new viewer asks the stream's
//! encoder (its session) for a keyframe (a forward-only stream's
//! publisher, which is its encoder), lost packets or the session's
//! `KeyframeNeeded` ask the publisher (a PLI). Each target is asked at
//! most once per [`crate::call::calls::KEYFRAME_REQUEST_INTERVAL`]; a
//! request inside the interval goes out when it ends
//! ([`crate::call::keyframe_throttle`]).

use std::cmp::Reverse;
use std::time::Instant;

use str0m::media::KeyframeRequestKind;

use super::{CallCore, Output, SessionAction};
use crate::call::calls::{CallId, CallRole};
use crate::call::keyframe_throttle::Request;

/// Who a deferred keyframe request goes to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum KeyframeTarget {
    /// A PLI to this publisher.
    Publisher(CallId),
    /// A forced keyframe from this stream's session.
    Stream(String),
}

impl CallCore {
    /// Sends the keyframe requests the throttle deferred that are due.
    pub(super) fn deferred_keyframe_requests(&mut self, now: Instant) {
        while let Some(Reverse((when, _))) = self.keyframe_timers.peek() {
            if *when > now {
                break;
            }
            let Some(Reverse((_, target))) = self.keyframe_timers.pop() else {
                break;
            };
            match target {
                KeyframeTarget::Publisher(id) => {
                    let due = self
                        .calls
                        .get_mut(&id)
                        .is_some_and(|call| match &mut call.role {
                            CallRole::Publisher { keyframes, .. } => keyframes.poll(now),
                            CallRole::Viewer { .. } => false,
                        });
                    if due {
                        self.send_pli(id);
                    }
                }
                KeyframeTarget::Stream(stream) => {
                    if let Some(state) = self.streams.get_mut(&stream)
                        && let Some(session) = state.session
                        && state.keyframes.poll(now)
                    {
                        self.outputs.push_back(Output::Session {
                            session,
                            action: SessionAction::RequestKeyframe,
                        });
                    }
                }
            }
        }
    }

    /// Asks a stream's session (its encoder) for a keyframe, at most once
    /// per [`crate::call::calls::KEYFRAME_REQUEST_INTERVAL`]; a request inside
    /// the interval goes out when it ends unless a keyframe came out
    /// meanwhile.
    /// A forward-only stream has no encoder: its publisher is asked (a
    /// PLI, with the publisher's own rate limit).
    pub(super) fn stream_keyframe(&mut self, stream: &str, now: Instant) {
        let Some(state) = self.streams.get_mut(stream) else {
            return;
        };
        if state.forward {
            if let Some(publisher) = state.publisher {
                self.publisher_keyframe(publisher, now);
            }
            return;
        }
        let Some(session) = state.session else {
            return;
        };
        match state.keyframes.request(now) {
            Request::Send => self.outputs.push_back(Output::Session {
                session,
                action: SessionAction::RequestKeyframe,
            }),
            Request::Deferred(at) => self
                .keyframe_timers
                .push(Reverse((at, KeyframeTarget::Stream(stream.to_owned())))),
            Request::AlreadyPending => {}
        }
    }

    /// Asks a publisher for a keyframe (a PLI), at most once per
    /// [`crate::call::calls::KEYFRAME_REQUEST_INTERVAL`]; a request inside the
    /// interval goes out when it ends unless a keyframe came meanwhile.
    pub(super) fn publisher_keyframe(&mut self, id: CallId, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let CallRole::Publisher { keyframes, .. } = &mut call.role else {
            return;
        };
        match keyframes.request(now) {
            Request::Send => self.send_pli(id),
            Request::Deferred(at) => self
                .keyframe_timers
                .push(Reverse((at, KeyframeTarget::Publisher(id)))),
            Request::AlreadyPending => {}
        }
    }

    /// Writes a PLI into a publisher's connection; it goes out when the
    /// call is next polled.
    pub(super) fn send_pli(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(mut writer) = call.rtc.writer(call.mid)
            && writer
                .request_keyframe(None, KeyframeRequestKind::Pli)
                .is_ok()
        {
            self.settings.metrics.keyframe_requests.inc();
        }
        self.to_poll.push_back(id);
    }
}
