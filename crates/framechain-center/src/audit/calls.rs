//! The calls of the last day as the pods' events tell them: where each
//! runs, whether it still runs, and its last per-minute summary (frames,
//! drops by reason, latency). The centre's status page and JSON show it.

use serde::Serialize;
use tokio_postgres::Client;

use super::AuditError;

/// How far back the status looks for calls.
const WINDOW: &str = "1 day";
/// Most calls listed (newest first).
const MAX_CALLS: i64 = 2000;

/// One call (a publisher's stream) as its events tell it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallView {
    /// The core stream, `ROOM/PARTICIPANT`.
    pub stream: String,
    /// The room.
    pub room: Option<String>,
    /// The pod its last event came from.
    pub pod: String,
    /// Whether its last start/end event is a start.
    pub running: bool,
    /// When that event was recorded, Unix milliseconds.
    pub since_ms: i64,
    /// The last summary (`call_summary`'s fields), when one came.
    pub summary: Option<serde_json::Value>,
}

/// The calls with an event in the last day, newest first.
///
/// # Errors
/// [`AuditError::Db`] when the query fails.
pub async fn recent_calls(client: &Client) -> Result<Vec<CallView>, AuditError> {
    let lifecycle = client
        .query(
            &format!(
                "SELECT DISTINCT ON (stream) stream, pod, room, kind, \
                        (extract(epoch FROM time) * 1000)::bigint \
                 FROM (SELECT body::jsonb -> 'what' ->> 'stream' AS stream, pod, room, kind, time, seq \
                       FROM audit_events \
                       WHERE kind IN ('call_started', 'call_ended') \
                         AND time > now() - interval '{WINDOW}') AS events \
                 WHERE stream IS NOT NULL \
                 ORDER BY stream, time DESC, seq DESC"
            ),
            &[],
        )
        .await?;
    let summaries = client
        .query(
            &format!(
                "SELECT DISTINCT ON (stream) stream, what \
                 FROM (SELECT body::jsonb -> 'what' ->> 'stream' AS stream, \
                              body::jsonb -> 'what' AS what, time, seq \
                       FROM audit_events \
                       WHERE kind = 'call_summary' \
                         AND time > now() - interval '{WINDOW}') AS events \
                 WHERE stream IS NOT NULL \
                 ORDER BY stream, time DESC, seq DESC"
            ),
            &[],
        )
        .await?;
    let mut last_summary: std::collections::HashMap<String, serde_json::Value> = summaries
        .iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, serde_json::Value>(1)))
        .collect();
    let mut calls: Vec<CallView> = lifecycle
        .iter()
        .map(|row| {
            let stream: String = row.get(0);
            let kind: String = row.get(3);
            CallView {
                summary: last_summary.remove(&stream),
                stream,
                pod: row.get(1),
                room: row.get(2),
                running: kind == "call_started",
                since_ms: row.get(4),
            }
        })
        .collect();
    calls.sort_by(|a, b| b.running.cmp(&a.running).then(b.since_ms.cmp(&a.since_ms)));
    calls.truncate(MAX_CALLS as usize);
    Ok(calls)
}
