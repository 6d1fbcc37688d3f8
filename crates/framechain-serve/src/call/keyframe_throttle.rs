//! Rate-limiting keyframe requests without losing the last one.
//!
//! A keyframe costs many times a predicted picture, so requests (a PLI to
//! a publisher, a forced IDR from a session's encoder) are limited to one
//! per interval. But a request made inside the interval must not simply
//! be dropped: a browser's encoder sends a keyframe only when asked, and
//! a session waiting for one would skip pictures until the call ends. So
//! a request inside the interval is kept and goes out when the interval
//! ends, unless a keyframe came in the meantime. Sans-IO: time is passed
//! in.

use std::time::{Duration, Instant};

/// The state of one target's keyframe requests.
#[derive(Debug)]
pub(crate) struct KeyframeThrottle {
    interval: Duration,
    last_sent: Option<Instant>,
    /// A request waits for the interval to end.
    pending: bool,
}

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// Send it now.
    Send,
    /// It goes out at this time (call [`KeyframeThrottle::poll`] then).
    Deferred(Instant),
    /// One is already waiting for that time.
    AlreadyPending,
}

impl KeyframeThrottle {
    pub(crate) fn new(interval: Duration) -> KeyframeThrottle {
        KeyframeThrottle {
            interval,
            last_sent: None,
            pending: false,
        }
    }

    /// A keyframe is wanted at `now`.
    pub(crate) fn request(&mut self, now: Instant) -> Request {
        match self.next_allowed() {
            Some(at) if now < at => {
                if std::mem::replace(&mut self.pending, true) {
                    Request::AlreadyPending
                } else {
                    Request::Deferred(at)
                }
            }
            _ => {
                self.sent(now);
                Request::Send
            }
        }
    }

    /// Whether a deferred request is due at `now`; if so it counts as sent.
    pub(crate) fn poll(&mut self, now: Instant) -> bool {
        if !self.pending || self.next_allowed().is_some_and(|at| now < at) {
            return false;
        }
        self.sent(now);
        true
    }

    /// A keyframe came: a request still waiting has its answer.
    pub(crate) fn keyframe_seen(&mut self) {
        self.pending = false;
    }

    fn next_allowed(&self) -> Option<Instant> {
        self.last_sent.map(|last| last + self.interval)
    }

    fn sent(&mut self, now: Instant) {
        self.last_sent = Some(now);
        self.pending = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(500);

    fn ms(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn the_first_request_goes_out_at_once() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(INTERVAL);
        assert_eq!(throttle.request(t0), Request::Send);
        assert!(!throttle.poll(ms(t0, 10_000)), "nothing is pending");
    }

    #[test]
    fn a_request_inside_the_interval_goes_out_when_it_ends() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(INTERVAL);
        assert_eq!(throttle.request(t0), Request::Send);
        assert_eq!(
            throttle.request(ms(t0, 100)),
            Request::Deferred(ms(t0, 500))
        );
        assert_eq!(throttle.request(ms(t0, 200)), Request::AlreadyPending);
        assert!(!throttle.poll(ms(t0, 499)));
        assert!(throttle.poll(ms(t0, 500)));
        assert!(!throttle.poll(ms(t0, 501)), "sent once");
        // The deferred request started a new interval.
        assert_eq!(
            throttle.request(ms(t0, 600)),
            Request::Deferred(ms(t0, 1000))
        );
    }

    #[test]
    fn a_keyframe_answers_a_waiting_request() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(INTERVAL);
        assert_eq!(throttle.request(t0), Request::Send);
        assert_eq!(
            throttle.request(ms(t0, 100)),
            Request::Deferred(ms(t0, 500))
        );
        throttle.keyframe_seen();
        assert!(!throttle.poll(ms(t0, 500)));
        assert_eq!(throttle.request(ms(t0, 700)), Request::Send);
    }
}
