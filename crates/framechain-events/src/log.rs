//! [`EventLog`]: what serve calls to record an event. Each record is
//! sealed into the pod's hash chain and fsynced to the spool before
//! [`EventLog::record`] returns, so a join is let in only once its record
//! is on disk; [`crate::ship`] carries the records to Redis from there.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::chain::Sealed;
use crate::event::{Event, EventKind, MAX_FIELD_CHARS};
use crate::spool::{Batch, ReadPosition, Spool, SpoolError};

/// Most entries kept in a [`EventKind::CallSummary`]'s `dropped` map; the
/// rest are summed under [`OTHER_DROPS`]. Drop reasons come from stages,
/// which are untrusted: without a bound one summary could outgrow a record.
pub const MAX_DROP_REASONS: usize = 32;
/// The `dropped` key that sums the reasons past [`MAX_DROP_REASONS`].
pub const OTHER_DROPS: &str = "other";

/// The pod's audit log: a spool folder and the chain in it. Cheap to clone;
/// every clone records into the same chain.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

struct Inner {
    pod: String,
    spool: Mutex<Spool>,
    /// Woken on every new record (the shipper waits on it).
    appended: Notify,
    /// Records not yet shipped, updated on every change.
    pending: watch::Sender<u64>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("pod", &self.inner.pod)
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl EventLog {
    /// Opens (or starts) the spool in `dir`, bounded to `max_bytes`, for the
    /// pod named `pod`. The chain continues from the folder's last record.
    ///
    /// # Errors
    /// See [`Spool::open`].
    pub fn open(dir: impl AsRef<Path>, max_bytes: u64, pod: &str) -> Result<EventLog, SpoolError> {
        let spool = Spool::open(dir.as_ref(), max_bytes)?;
        let (pending, _) = watch::channel(spool.pending());
        Ok(EventLog {
            inner: Arc::new(Inner {
                pod: framechain_text::untrusted(pod, MAX_FIELD_CHARS),
                spool: Mutex::new(spool),
                appended: Notify::new(),
                pending,
            }),
        })
    }

    /// Records an event now (the system clock). See [`record_at`](Self::record_at).
    ///
    /// # Errors
    /// See [`record_at`](Self::record_at).
    pub fn record(
        &self,
        room: Option<&str>,
        participant: Option<&str>,
        what: EventKind,
    ) -> Result<Uuid, SpoolError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64);
        self.record_at(now_ms, room, participant, what)
    }

    /// Records an event at `time_ms` (Unix milliseconds): gives it an id
    /// (UUIDv7), the next `seq` of the chain, cuts its text fields to
    /// [`MAX_FIELD_CHARS`] printable characters, seals it after the chain's
    /// last hash and appends it to the spool, fsynced, before returning its
    /// id. Blocks on the disk: a few milliseconds (one fsync; records
    /// from several threads take turns), so async callers may prefer
    /// `spawn_blocking` when joins come in bursts.
    ///
    /// # Errors
    /// [`SpoolError::Full`] when the spool holds as much as it may (Redis
    /// has been away too long): the caller refuses what needed the record.
    /// [`SpoolError::Io`] when the disk failed; nothing is kept then.
    pub fn record_at(
        &self,
        time_ms: i64,
        room: Option<&str>,
        participant: Option<&str>,
        what: EventKind,
    ) -> Result<Uuid, SpoolError> {
        let cut = |text: &str| framechain_text::untrusted(text, MAX_FIELD_CHARS);
        let what = cut_fields(what);
        let mut spool = self.spool();
        let event = Event {
            id: Uuid::now_v7(),
            pod: self.inner.pod.clone(),
            chain: spool.chain(),
            seq: spool.next_seq(),
            time_ms,
            room: room.map(cut),
            participant: participant.map(cut),
            what,
        };
        let sealed = Sealed::new(spool.last_hash(), event.body());
        spool.append(event.id, &sealed)?;
        let pending = spool.pending();
        drop(spool);
        self.inner.pending.send_replace(pending);
        self.inner.appended.notify_one();
        Ok(event.id)
    }

    /// The pod name events are recorded under.
    pub fn pod(&self) -> &str {
        &self.inner.pod
    }

    /// The chain this log's records belong to.
    pub fn chain(&self) -> Uuid {
        self.spool().chain()
    }

    /// Records kept but not yet shipped to Redis.
    pub fn pending(&self) -> u64 {
        self.spool().pending()
    }

    /// Bytes the spool's files take.
    pub fn spool_bytes(&self) -> u64 {
        self.spool().bytes()
    }

    /// Bytes the spool may still take before it refuses records.
    pub fn capacity_left(&self) -> u64 {
        self.spool().capacity_left()
    }

    /// Waits until every record made so far is shipped, at most `timeout`.
    /// Returns whether none is left. Needs a running [`crate::ship`] task.
    pub async fn flush_shipping(&self, timeout: Duration) -> bool {
        let mut pending = self.inner.pending.subscribe();
        tokio::time::timeout(timeout, pending.wait_for(|left| *left == 0))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }

    /// Starts shipping this log's records to Redis: [`crate::ship::ship`].
    pub fn ship(
        &self,
        redis_url: &str,
        stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        crate::ship::ship(self.clone(), redis_url, stop)
    }

    /// Up to `max` records not yet shipped (the shipper's read).
    pub(crate) fn peek(&self, max: usize) -> Result<Batch, SpoolError> {
        self.spool().peek(max)
    }

    /// Records a batch as shipped (the shipper's write).
    pub(crate) fn mark_shipped(
        &self,
        end: ReadPosition,
        last_hash: &str,
    ) -> Result<(), SpoolError> {
        let mut spool = self.spool();
        spool.mark_shipped(end, last_hash)?;
        let pending = spool.pending();
        drop(spool);
        self.inner.pending.send_replace(pending);
        Ok(())
    }

    /// Resolves when a record was made since the last call (or before the
    /// first).
    pub(crate) async fn appended(&self) {
        self.inner.appended.notified().await;
    }

    fn spool(&self) -> MutexGuard<'_, Spool> {
        // A panic while holding the lock cannot leave the spool half
        // changed in memory in a way the disk disagrees with: appends
        // update memory only after their fsync.
        self.inner
            .spool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `what` with every text field cut to [`MAX_FIELD_CHARS`] printable
/// characters and a summary's drop reasons bounded.
fn cut_fields(what: EventKind) -> EventKind {
    let cut = |text: String| framechain_text::untrusted(&text, MAX_FIELD_CHARS);
    match what {
        EventKind::PodStarted { address, version } => EventKind::PodStarted {
            address: cut(address),
            version: cut(version),
        },
        EventKind::PodStopping { reason } => EventKind::PodStopping {
            reason: cut(reason),
        },
        EventKind::CallStarted {
            stream,
            pipeline_digest,
        } => EventKind::CallStarted {
            stream: cut(stream),
            pipeline_digest: cut(pipeline_digest),
        },
        EventKind::CallEnded { stream, reason } => EventKind::CallEnded {
            stream: cut(stream),
            reason: cut(reason),
        },
        EventKind::ParticipantJoined {
            action,
            role,
            address,
            stream,
            pipeline_digest,
            decision,
        } => EventKind::ParticipantJoined {
            action,
            role: cut(role),
            address: cut(address),
            stream: cut(stream),
            pipeline_digest: cut(pipeline_digest),
            decision: cut(decision),
        },
        EventKind::ParticipantLeft {
            action,
            stream,
            reason,
        } => EventKind::ParticipantLeft {
            action,
            stream: cut(stream),
            reason: cut(reason),
        },
        EventKind::ParticipantRefused {
            action,
            address,
            status,
            reason,
        } => EventKind::ParticipantRefused {
            action,
            address: cut(address),
            status,
            reason: cut(reason),
        },
        EventKind::StageSwapped {
            stage,
            old_digest,
            new_digest,
        } => EventKind::StageSwapped {
            stage: cut(stage),
            old_digest: cut(old_digest),
            new_digest: cut(new_digest),
        },
        EventKind::PolicyReloaded { digest } => EventKind::PolicyReloaded {
            digest: cut(digest),
        },
        EventKind::KeysReloaded { digest } => EventKind::KeysReloaded {
            digest: cut(digest),
        },
        EventKind::PolicyReloadFailed { error, kept_digest } => EventKind::PolicyReloadFailed {
            error: cut(error),
            kept_digest: cut(kept_digest),
        },
        EventKind::KeysReloadFailed { error, kept_digest } => EventKind::KeysReloadFailed {
            error: cut(error),
            kept_digest: cut(kept_digest),
        },
        EventKind::StageSwapDecided {
            position,
            stage,
            new_digest,
            pipeline_digest,
            role,
            allowed,
            reason,
        } => EventKind::StageSwapDecided {
            position,
            stage: cut(stage),
            new_digest: cut(new_digest),
            pipeline_digest: cut(pipeline_digest),
            role: cut(role),
            allowed,
            reason: cut(reason),
        },
        EventKind::SessionFailed { stream, error } => EventKind::SessionFailed {
            stream: cut(stream),
            error: cut(error),
        },
        EventKind::CallSummary {
            stream,
            period_s,
            frames_in,
            frames_out,
            dropped,
            latency_p50_ms,
            latency_p99_ms,
        } => EventKind::CallSummary {
            stream: cut(stream),
            period_s,
            frames_in,
            frames_out,
            dropped: bound_drops(dropped),
            latency_p50_ms,
            latency_p99_ms,
        },
    }
}

/// At most [`MAX_DROP_REASONS`] reasons, each cut; the rest summed under
/// [`OTHER_DROPS`].
fn bound_drops(dropped: BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut kept = BTreeMap::new();
    let mut other = 0u64;
    for (reason, count) in dropped {
        if kept.len() < MAX_DROP_REASONS && reason != OTHER_DROPS {
            *kept
                .entry(framechain_text::untrusted(&reason, MAX_FIELD_CHARS))
                .or_insert(0u64) += count;
        } else {
            other = other.saturating_add(count);
        }
    }
    if other > 0 {
        *kept.entry(OTHER_DROPS.to_owned()).or_insert(0) += other;
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_reasons_are_bounded_and_summed() {
        let dropped: BTreeMap<String, u64> =
            (0..100).map(|i| (format!("reason-{i:03}"), 1)).collect();
        let bounded = bound_drops(dropped);
        assert_eq!(bounded.len(), MAX_DROP_REASONS + 1);
        assert_eq!(bounded[OTHER_DROPS], 100 - MAX_DROP_REASONS as u64);
        assert_eq!(bounded.values().sum::<u64>(), 100);
    }
}
