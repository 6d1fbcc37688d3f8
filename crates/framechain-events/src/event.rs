//! The audit event: who did what, in which room, on which pod, when.
//!
//! An [`Event`] is written once, by the pod, as one line of JSON (its
//! *body*); that exact text is what the hash chain covers ([`crate::chain`]),
//! what travels over Redis and what PostgreSQL stores, so the centre never
//! re-serialises a record it has to verify.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The Redis stream every pod appends its events to (`XADD`).
pub const EVENTS_STREAM: &str = "framechain:events";
/// The centre's consumer group on [`EVENTS_STREAM`].
pub const CENTER_GROUP: &str = "framechain-center";
/// Longest text field kept in an event (names, reasons, addresses), in
/// characters; longer values are cut by [`framechain_text::untrusted`].
pub const MAX_FIELD_CHARS: usize = 256;

/// One audit record. Field order is the body's field order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Unique, time-ordered (UUIDv7): the key that makes delivery
    /// idempotent at the centre.
    pub id: Uuid,
    /// The pod (`serve --node NAME`) that recorded it.
    pub pod: String,
    /// The pod's hash chain this record belongs to: made when the pod's
    /// spool folder is first used, kept across restarts with the folder.
    pub chain: Uuid,
    /// Position in the chain, from 0 without gaps.
    pub seq: u64,
    /// When the pod recorded it, Unix milliseconds.
    pub time_ms: i64,
    /// The room, when the event belongs to one.
    pub room: Option<String>,
    /// The participant (a token's `sub`), when the event is about one.
    pub participant: Option<String>,
    /// What happened.
    pub what: EventKind,
}

/// What a participant asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send camera and microphone (WHIP).
    Publish,
    /// Receive another participant's media (WHEP).
    Watch,
}

/// What happened. Serialised with a `kind` tag in snake case
/// (`{"kind":"participant_joined",...}`), which is also the `kind` column
/// at the centre.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventKind {
    /// The pod started (or its chain began): its public address and version.
    PodStarted {
        /// The address viewers and publishers are sent to.
        address: String,
        /// framechain's version.
        version: String,
    },
    /// The pod is draining or stopping.
    PodStopping {
        /// Why (`drain`, `signal`).
        reason: String,
    },
    /// A call began: a publisher's media reached a pipeline or a forward.
    CallStarted {
        /// The core stream (`ROOM/PARTICIPANT`).
        stream: String,
        /// The pipeline's digest (SHA-256 of its stages), or `forward`.
        pipeline_digest: String,
    },
    /// A call ended.
    CallEnded {
        /// The core stream.
        stream: String,
        /// Why (`publisher left`, `timeout`, `failed`, `drain`).
        reason: String,
    },
    /// A participant was let in.
    ParticipantJoined {
        /// Publish or watch.
        action: Action,
        /// The participant's role from the token (`patient`, `clinician`).
        role: String,
        /// The peer's address as the pod saw it (`IP:PORT`).
        address: String,
        /// For a watcher, whose media (`ROOM/PARTICIPANT` stream); for a
        /// publisher, its own stream.
        stream: String,
        /// The digest of the pipeline the media goes through, or `forward`.
        pipeline_digest: String,
        /// The policy's decision, as it said it (`allow: clinician watches patient`).
        decision: String,
    },
    /// A participant left (hung up, timed out, was cut off).
    ParticipantLeft {
        /// Publish or watch.
        action: Action,
        /// The stream it published or watched.
        stream: String,
        /// Why it left.
        reason: String,
    },
    /// A participant was refused.
    ParticipantRefused {
        /// Publish or watch.
        action: Action,
        /// The peer's address.
        address: String,
        /// The HTTP status answered (401, 403, 503…).
        status: u16,
        /// The policy's or the check's reason, one line.
        reason: String,
    },
    /// A stage was swapped in a running call.
    StageSwapped {
        /// The stage's name in the pipeline.
        stage: String,
        /// Digest of the component before.
        old_digest: String,
        /// Digest of the component after.
        new_digest: String,
    },
    /// The policy file was reloaded.
    PolicyReloaded {
        /// SHA-256 of the new policy text.
        digest: String,
    },
    /// A new version of the policy file was refused (it does not compile,
    /// cannot be read); the policy in force before stays.
    PolicyReloadFailed {
        /// Why, one line naming the file.
        error: String,
        /// SHA-256 of the policy still in force.
        kept_digest: String,
    },
    /// The key set (JWKS) was reloaded.
    KeysReloaded {
        /// SHA-256 of the new key file.
        digest: String,
    },
    /// A new version of the key file was refused; the keys in use stay.
    KeysReloadFailed {
        /// Why, one line naming the file.
        error: String,
        /// SHA-256 of the key file still in use.
        kept_digest: String,
    },
    /// The policy's decision on a stage swap (`POST /admin/stages`), asked
    /// before anything changes; the event's participant is the caller (the
    /// token's `sub`). An allowed swap is followed by `stage_swapped`.
    StageSwapDecided {
        /// The position of the stage in the pipeline.
        position: u32,
        /// The new stage's name.
        stage: String,
        /// Digest of the new stage's component.
        new_digest: String,
        /// Digest of the pipeline the swap would change.
        pipeline_digest: String,
        /// The caller's role from the token.
        role: String,
        /// Whether the policy allowed it.
        allowed: bool,
        /// The policy's reason, one line.
        reason: String,
    },
    /// A call's live session failed.
    SessionFailed {
        /// The core stream.
        stream: String,
        /// The error, one line.
        error: String,
    },
    /// A call's frames, drops and latency over the last period (a minute).
    CallSummary {
        /// The core stream.
        stream: String,
        /// Length of the period, seconds.
        period_s: u32,
        /// Frames that came in.
        frames_in: u64,
        /// Frames that went out.
        frames_out: u64,
        /// Frames dropped, by reason.
        dropped: BTreeMap<String, u64>,
        /// Median latency through the pipeline, milliseconds.
        latency_p50_ms: Option<f64>,
        /// 99th percentile latency, milliseconds.
        latency_p99_ms: Option<f64>,
    },
}

impl EventKind {
    /// The `kind` tag: `participant_joined`, `call_summary`, …
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::PodStarted { .. } => "pod_started",
            EventKind::PodStopping { .. } => "pod_stopping",
            EventKind::CallStarted { .. } => "call_started",
            EventKind::CallEnded { .. } => "call_ended",
            EventKind::ParticipantJoined { .. } => "participant_joined",
            EventKind::ParticipantLeft { .. } => "participant_left",
            EventKind::ParticipantRefused { .. } => "participant_refused",
            EventKind::StageSwapped { .. } => "stage_swapped",
            EventKind::PolicyReloaded { .. } => "policy_reloaded",
            EventKind::PolicyReloadFailed { .. } => "policy_reload_failed",
            EventKind::KeysReloaded { .. } => "keys_reloaded",
            EventKind::KeysReloadFailed { .. } => "keys_reload_failed",
            EventKind::StageSwapDecided { .. } => "stage_swap_decided",
            EventKind::SessionFailed { .. } => "session_failed",
            EventKind::CallSummary { .. } => "call_summary",
        }
    }
}

/// Why a body is not an event. One line.
#[derive(Debug, thiserror::Error)]
#[error("not a framechain event: {0}")]
pub struct NotAnEvent(String);

impl Event {
    /// The body: this event as one line of JSON, the exact text the chain
    /// covers.
    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("an event always serialises")
    }

    /// Parses a body (from Redis or PostgreSQL).
    ///
    /// # Errors
    /// [`NotAnEvent`] for text that is not an event, with the parser's
    /// message made safe to print.
    pub fn parse(body: &str) -> Result<Event, NotAnEvent> {
        serde_json::from_str(body)
            .map_err(|error| NotAnEvent(framechain_text::untrusted(&error.to_string(), 200)))
    }
}
