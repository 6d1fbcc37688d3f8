//! The audit trail's writer on the pod: every event goes through the
//! spool of `framechain_events::EventLog` (fsynced before it counts) and
//! is shipped to Redis from there.
//!
//! Two ways in. A join's `participant_joined` is written by the request
//! that needs it, on a blocking thread, and the join waits for it: if it
//! cannot be written the join is refused (fail closed). Everything the
//! media loop sees (calls started and ended, viewers leaving, sessions
//! failing, swaps, the per-minute summaries) is handed to one writer
//! thread through a bounded queue, so that an fsync never stalls the
//! media of running calls.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use framechain_events::{EventKind, EventLog};

use crate::metrics::Metrics;

/// Events from the media loop waiting for the writer thread, at most;
/// past it they are lost, counted and logged (a disk that slow has
/// bigger problems, and running calls must go on).
const QUEUE: usize = 4096;

/// One event to write: room, participant, what.
type Queued = (Option<String>, Option<String>, EventKind);

/// The pod's audit writer. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Audit {
    log: EventLog,
    metrics: Arc<Metrics>,
    queue: SyncSender<Queued>,
}

impl Audit {
    /// Writes through `log`; starts the writer thread of the queue.
    pub(crate) fn new(log: EventLog, metrics: Arc<Metrics>) -> std::io::Result<Audit> {
        let (queue, queued) = sync_channel(QUEUE);
        let audit = Audit {
            log,
            metrics,
            queue,
        };
        let (log, metrics) = (audit.log.clone(), audit.metrics.clone());
        // Ends when every `Audit` (every sender) is gone.
        std::thread::Builder::new()
            .name("framechain-audit".to_owned())
            .spawn(move || {
                while let Ok((room, participant, what)) = queued.recv() {
                    let _ = write(
                        &log,
                        &metrics,
                        room.as_deref(),
                        participant.as_deref(),
                        what,
                    );
                }
            })?;
        Ok(audit)
    }

    /// Writes one event now (blocking: it is fsynced). The error is one
    /// line, already logged.
    pub(crate) fn record(
        &self,
        room: Option<&str>,
        participant: Option<&str>,
        what: EventKind,
    ) -> Result<(), String> {
        write(&self.log, &self.metrics, room, participant, what)
    }

    /// Hands one event to the writer thread (never blocks).
    pub(crate) fn record_later(
        &self,
        room: Option<&str>,
        participant: Option<&str>,
        what: EventKind,
    ) {
        let kind = what.name();
        let queued = (
            room.map(str::to_owned),
            participant.map(str::to_owned),
            what,
        );
        match self.queue.try_send(queued) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                log::warn!("the audit queue is full: the event {kind} is lost");
            }
            // The writer thread is gone: the process is ending.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// What records each reload of the policy or the key set
    /// (`policy_reloaded`, `keys_reloaded` with the new digest, or
    /// `policy_reload_failed`, `keys_reload_failed` with the line and the
    /// digest kept). Never blocks: reloads happen on request threads.
    pub(crate) fn reload_listener(&self) -> crate::identity::ReloadListener {
        let audit = self.clone();
        std::sync::Arc::new(move |reload: &crate::identity::Reload| {
            audit.record_later(None, None, reload_event(reload));
        })
    }

    /// The log, for shipping.
    pub(crate) fn log(&self) -> &EventLog {
        &self.log
    }

    /// Keeps `framechain_audit_pending` and `framechain_audit_spool_bytes`
    /// current until `shutdown` turns true: records leave the spool in the
    /// shipper (framechain-events), which knows nothing of the metrics, so
    /// the gauges are read from the log every [`REPORT_EVERY`] (and after
    /// every write).
    pub(crate) async fn report_spool(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(REPORT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => report(&self.log, &self.metrics),
            }
        }
    }
}

/// How often the spool's gauges are brought up to date.
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

fn report(log: &EventLog, metrics: &Metrics) {
    metrics
        .audit_pending
        .set(i64::try_from(log.pending()).unwrap_or(i64::MAX));
    metrics
        .audit_spool_bytes
        .set(i64::try_from(log.spool_bytes()).unwrap_or(i64::MAX));
}

/// The audit event of one reload.
fn reload_event(reload: &crate::identity::Reload) -> EventKind {
    use crate::identity::{ReloadOutcome, ReloadedFile};
    match (reload.file, reload.outcome.clone()) {
        (ReloadedFile::Policy, ReloadOutcome::Loaded { digest }) => {
            EventKind::PolicyReloaded { digest }
        }
        (ReloadedFile::Policy, ReloadOutcome::Refused { error, kept_digest }) => {
            EventKind::PolicyReloadFailed { error, kept_digest }
        }
        (ReloadedFile::Keys, ReloadOutcome::Loaded { digest }) => {
            EventKind::KeysReloaded { digest }
        }
        (ReloadedFile::Keys, ReloadOutcome::Refused { error, kept_digest }) => {
            EventKind::KeysReloadFailed { error, kept_digest }
        }
    }
}

fn write(
    log: &EventLog,
    metrics: &Metrics,
    room: Option<&str>,
    participant: Option<&str>,
    what: EventKind,
) -> Result<(), String> {
    let kind = what.name();
    match log.record(room, participant, what) {
        Ok(_) => {
            metrics.audit_event(kind);
            report(log, metrics);
            Ok(())
        }
        Err(error) => {
            let line = format!("the audit event {kind} cannot be written: {error}");
            log::warn!("{line}");
            Err(line)
        }
    }
}
