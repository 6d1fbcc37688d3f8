//! The clock of a stage call's time limit: the stage's own running time,
//! not the wall clock.
//!
//! On a loaded node a call can wait for a core for longer than it runs. If
//! the per-call limit counted that wait, an overloaded node would fail
//! healthy sessions with time-limit errors instead of shedding load (the
//! live runtime drops late pictures and admission refuses new sessions).
//! So a call is charged what its thread spent on the CPU (wasm code and
//! host code it called, read from `CLOCK_THREAD_CPUTIME_ID`) plus the time
//! it asked to wait (WASI sleeps and polls, which use no CPU but are the
//! stage's choice). A stage that spins or sleeps is stopped after the limit
//! either way; one that merely waits for a core is not.
//!
//! The clock is read on the thread that runs the call: by the epoch
//! callback (every [`crate::EPOCH_TICK`] while wasm code runs) and by host
//! functions that can take long.

use std::time::{Duration, Instant};

/// The time one call has used against its limit.
#[derive(Debug)]
pub(crate) struct CallClock {
    limit: Duration,
    /// The calling thread's CPU time when the call started.
    cpu_start: Duration,
    /// Time the stage spent in waits it asked for.
    waited: Duration,
}

impl CallClock {
    /// A clock that has used up nothing of a zero limit: every check fails
    /// until [`CallClock::start`].
    pub(crate) fn idle() -> CallClock {
        CallClock {
            limit: Duration::ZERO,
            cpu_start: Duration::ZERO,
            waited: Duration::ZERO,
        }
    }

    /// Starts a call with `limit` on the current thread.
    pub(crate) fn start(limit: Duration) -> CallClock {
        CallClock {
            limit,
            cpu_start: thread_cpu_time(),
            waited: Duration::ZERO,
        }
    }

    /// What the call has used so far: CPU time on this thread plus waits.
    pub(crate) fn used(&self) -> Duration {
        thread_cpu_time().saturating_sub(self.cpu_start) + self.waited
    }

    /// What is left before the limit; zero once it is reached.
    pub(crate) fn remaining(&self) -> Duration {
        self.limit.saturating_sub(self.used())
    }

    /// Whether the call has reached its limit.
    pub(crate) fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The wall-clock instant by which a wait (or a piece of host work that
    /// checks the wall clock) must end: now plus what is left.
    pub(crate) fn wall_deadline(&self) -> Instant {
        Instant::now() + self.remaining()
    }

    /// Charges a wait that took `waited` of wall time.
    pub(crate) fn charge_wait(&mut self, waited: Duration) {
        self.waited += waited;
    }
}

/// CPU time the calling thread has used since it started.
pub(crate) fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID
    // exists on every Linux and BSD the host builds for.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if rc != 0 {
        // Cannot happen with a valid clock id; fall back to "no time used"
        // rather than stopping a healthy call.
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeping_uses_no_cpu_but_spinning_does() {
        let clock = CallClock::start(Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            !clock.expired(),
            "a thread off the CPU used {:?}",
            clock.used()
        );
        // Spin until the kernel's own account of this thread (getrusage)
        // shows 60 ms on the CPU, however long that takes on a busy machine.
        let give_up = Instant::now() + Duration::from_secs(20);
        while rusage_thread_cpu() < Duration::from_millis(60) && Instant::now() < give_up {
            std::hint::spin_loop();
        }
        assert!(
            clock.expired(),
            "60 ms of spinning used only {:?}",
            clock.used()
        );
    }

    /// CPU time of this thread by getrusage, a second source.
    fn rusage_thread_cpu() -> Duration {
        // SAFETY: an all-zero rusage is valid; getrusage fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a valid, writable rusage.
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
        let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        time(usage.ru_utime) + time(usage.ru_stime)
    }

    #[test]
    fn waits_count() {
        let mut clock = CallClock::start(Duration::from_millis(50));
        clock.charge_wait(Duration::from_millis(49));
        assert!(!clock.expired());
        clock.charge_wait(Duration::from_millis(2));
        assert!(clock.expired());
        assert!(CallClock::idle().expired());
    }
}
