//! The worker threads and the run queue they share. Knows nothing of
//! sessions: it runs [`Task`]s, one turn at a time, round-robin, those
//! within their share of the workers before those over it.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

/// What the workers run: a live session, to them.
pub(crate) trait Task: Send + Sync + 'static {
    /// One turn on a worker. Returns whether the task has more work and
    /// goes back at the tail of the run queue.
    fn run_turn(&self) -> bool;
    /// Over its share of the workers: it waits behind every task within
    /// its share.
    fn over_share(&self) -> bool;
    /// Ends the task from outside a turn: the scheduler is stopping, or a
    /// turn panicked (a host bug).
    fn shut_down(&self, reason: &str);
}

/// Tasks with work, in the order they got it.
struct RunQueue<T> {
    /// A worker takes the head, runs one turn and puts it back at the
    /// tail.
    within_share: VecDeque<Arc<T>>,
    /// Taken only when no task within its share waits, so a task that
    /// costs more than it may never delays one that does not.
    over_share: VecDeque<Arc<T>>,
    stopping: bool,
}

impl<T> Default for RunQueue<T> {
    fn default() -> Self {
        RunQueue {
            within_share: VecDeque::new(),
            over_share: VecDeque::new(),
            stopping: false,
        }
    }
}

impl<T> RunQueue<T> {
    fn push(&mut self, task: Arc<T>, over_share: bool) {
        if over_share {
            self.over_share.push_back(task);
        } else {
            self.within_share.push_back(task);
        }
    }

    fn pop(&mut self) -> Option<Arc<T>> {
        self.within_share
            .pop_front()
            .or_else(|| self.over_share.pop_front())
    }
}

/// The run queue and the workers that take from it.
pub(crate) struct Scheduler<T> {
    run: Mutex<RunQueue<T>>,
    work: Condvar,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl<T: Task> Scheduler<T> {
    /// Starts `workers` threads (at least one) named `framechain-live-N`.
    pub(crate) fn start(workers: usize) -> Result<Arc<Scheduler<T>>> {
        let scheduler = Arc::new(Scheduler {
            run: Mutex::default(),
            work: Condvar::new(),
            workers: Mutex::default(),
        });
        for index in 0..workers.max(1) {
            let worker = scheduler.clone();
            let thread = std::thread::Builder::new()
                .name(format!("framechain-live-{index}"))
                .spawn(move || worker.work_loop());
            match thread {
                Ok(thread) => scheduler.lock_workers().push(thread),
                Err(error) => {
                    scheduler.stop();
                    return Err(Error::Runtime(format!(
                        "cannot start a live worker thread: {error}"
                    )));
                }
            }
        }
        Ok(scheduler)
    }

    /// Puts a task with work at the tail of the run queue; false when the
    /// scheduler is stopping and no worker will take it (the caller ends
    /// the task).
    pub(crate) fn enqueue(&self, task: Arc<T>) -> bool {
        let mut run = self.lock_run();
        if run.stopping {
            return false;
        }
        let over_share = task.over_share();
        run.push(task, over_share);
        drop(run);
        self.work.notify_one();
        true
    }

    /// Stops the workers after the turns they are running, and waits for
    /// them. Tasks still queued are left to the caller to end.
    pub(crate) fn stop(&self) {
        self.lock_run().stopping = true;
        self.work.notify_all();
        let workers = std::mem::take(&mut *self.lock_workers());
        for worker in workers {
            let _ = worker.join();
        }
        // Whatever waits will not run; dropping it here also breaks the
        // loop of a task that holds its scheduler.
        let mut run = self.lock_run();
        run.within_share.clear();
        run.over_share.clear();
    }

    fn work_loop(self: Arc<Self>) {
        loop {
            let task = {
                let mut run = self.lock_run();
                loop {
                    if run.stopping {
                        return;
                    }
                    if let Some(task) = run.pop() {
                        break task;
                    }
                    run = self
                        .work
                        .wait(run)
                        .unwrap_or_else(|poison| poison.into_inner());
                }
            };
            // A panic here is a host bug; it ends that task, not the worker
            // and every task behind it.
            match catch_unwind(AssertUnwindSafe(|| task.run_turn())) {
                Ok(true) => {
                    if !self.enqueue(task.clone()) {
                        task.shut_down("the live runtime has shut down");
                    }
                }
                Ok(false) => {}
                Err(_) => task.shut_down("the host failed while running the session"),
            }
        }
    }

    fn lock_run(&self) -> MutexGuard<'_, RunQueue<T>> {
        // Pushes and pops only: a panic elsewhere cannot leave it half-done.
        self.run.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    fn lock_workers(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.workers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::{Barrier, mpsc};
    use std::time::Duration;

    #[test]
    fn the_run_queue_goes_round_and_serves_those_within_their_share_first() {
        let mut run = RunQueue::default();
        for (name, over) in [("a", false), ("x", true), ("b", false), ("y", true)] {
            run.push(Arc::new(name), over);
        }
        let mut order = Vec::new();
        // Each taken task that has more goes back at the tail of its queue.
        for _ in 0..6 {
            let task = run.pop().unwrap();
            order.push(*task);
            if *task != "a" {
                let over = *task == "x" || *task == "y";
                run.push(task, over);
            }
        }
        assert_eq!(order, vec!["a", "b", "b", "b", "b", "b"]);
        run.within_share.clear();
        let rest: Vec<_> = std::iter::from_fn(|| run.pop()).map(|t| *t).collect();
        assert_eq!(rest, vec!["x", "y"]);
    }

    /// A task that runs `turns` turns, reporting each, and may panic
    /// (once the test has queued every task).
    struct Counted {
        name: u32,
        turns: AtomicU32,
        panics: Option<Arc<Barrier>>,
        shut: AtomicBool,
        ran: mpsc::Sender<u32>,
    }

    impl Task for Counted {
        fn run_turn(&self) -> bool {
            let _ = self.ran.send(self.name);
            if let Some(queued) = &self.panics {
                queued.wait();
                panic!("a host bug in a turn");
            }
            self.turns.fetch_sub(1, Ordering::SeqCst) > 1
        }
        fn over_share(&self) -> bool {
            false
        }
        fn shut_down(&self, _: &str) {
            self.shut.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn one_worker_alternates_tasks_and_outlives_a_panicking_turn() {
        let scheduler = Scheduler::start(1).unwrap();
        let (ran, turns) = mpsc::channel();
        let queued = Arc::new(Barrier::new(2));
        let task = |name, count, panics: Option<Arc<Barrier>>| {
            Arc::new(Counted {
                name,
                turns: AtomicU32::new(count),
                panics,
                shut: AtomicBool::new(false),
                ran: ran.clone(),
            })
        };
        let bad = task(0, 1, Some(queued.clone()));
        let (a, b) = (task(1, 3, None), task(2, 3, None));
        for t in [&bad, &a, &b] {
            assert!(scheduler.enqueue(t.clone()));
        }
        // The worker holds the first task's turn until all three wait.
        queued.wait();
        let order: Vec<u32> = (0..7)
            .map(|_| turns.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(order, vec![0, 1, 2, 1, 2, 1, 2]);
        assert!(bad.shut.load(Ordering::SeqCst), "the panicking task ended");
        assert!(!a.shut.load(Ordering::SeqCst));
        scheduler.stop();
        assert!(!scheduler.enqueue(a.clone()), "nothing runs after stop");
    }
}
