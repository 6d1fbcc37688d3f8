//! Whether new sessions start, for `/readyz`: how many in a row failed
//! before their first picture, and when the last did. The call core
//! writes it (time passed in), the HTTP side reads it.

use std::time::{Duration, Instant};

/// Sessions in a row that failed before their first picture, within
/// [`START_FAILURE_WINDOW`], after which `/readyz` says not ready.
pub(crate) const START_FAILURES_NOT_READY: u32 = 3;
/// How long failed starts count for `/readyz`: after it, the pod is
/// ready again, so that one new call can show whether starts work (a pod
/// that is never ready gets no call that could prove it).
pub(crate) const START_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Failed starts in a row, and when the last was.
#[derive(Default)]
pub(crate) struct StartHealth {
    failures: std::sync::Mutex<(u32, Option<Instant>)>,
}

impl StartHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, Option<Instant>)> {
        self.failures
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// A session failed before its first picture at `now`.
    pub(crate) fn failed(&self, now: Instant) {
        let mut failures = self.lock();
        failures.0 += 1;
        failures.1 = Some(now);
    }

    /// A session gave out its first picture.
    pub(crate) fn started(&self) {
        *self.lock() = (0, None);
    }

    /// True when the last [`START_FAILURES_NOT_READY`] sessions all failed
    /// before their first picture and the last did within
    /// [`START_FAILURE_WINDOW`]: new calls would fail too.
    pub(crate) fn failing(&self, now: Instant) -> bool {
        let (count, last) = *self.lock();
        count >= START_FAILURES_NOT_READY
            && last.is_some_and(|last| now.duration_since(last) < START_FAILURE_WINDOW)
    }
}
