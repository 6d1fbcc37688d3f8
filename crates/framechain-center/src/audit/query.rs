//! Who published and who watched: the joins, leaves and refusals of the
//! audit trail, filtered by room, participant and time, oldest first (an
//! audit reads as a story: who came in, through what, and when they left).

use std::time::{Duration, SystemTime};

use framechain_events::{Action, Event, EventKind};
use serde::Serialize;
use uuid::Uuid;

use super::AuditError;

/// The kinds of event that say who had access.
const ACCESS_KINDS: [&str; 3] = [
    "participant_joined",
    "participant_left",
    "participant_refused",
];

const SELECT_ACCESSES: &str = "\
SELECT id, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
       pod, room, participant, kind, body
FROM audit_events
WHERE kind = ANY($1)
  AND ($2::text IS NULL OR room = $2)
  AND ($3::text IS NULL OR participant = $3)
  AND ($4::timestamptz IS NULL OR time >= $4)
  AND ($5::text IS NULL OR time >= $5::text::timestamptz)
ORDER BY time, chain, seq";

/// The filters of a query; `None` takes everything.
#[derive(Clone, Debug, Default)]
pub struct AccessQuery {
    /// Only this room.
    pub room: Option<String>,
    /// Only this participant (a token's `sub`).
    pub participant: Option<String>,
    /// Only from this time on.
    pub since: Option<Since>,
}

/// The start of a query's window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Since {
    /// This long before now.
    Ago(Duration),
    /// A time as RFC 3339 with its offset (`2026-12-05T09:30:00Z`), or a
    /// day (`2026-12-05`, from midnight UTC).
    At(String),
}

impl Since {
    /// Parses `2026-12-05T09:30:00Z`, `2026-12-05T10:30:00+01:00`,
    /// `2026-12-05`, or a duration: a whole number and `s`, `m`, `h` or
    /// `d` (`90s`, `15m`, `1h`, `7d`).
    ///
    /// # Errors
    /// [`AuditError::Since`] saying what is accepted.
    pub fn parse(text: &str) -> Result<Since, AuditError> {
        let bad = || {
            AuditError::Since(format!(
                "expected RFC 3339 (2026-12-05T09:30:00Z), a day (2026-12-05) or a duration (90s, 15m, 1h, 7d), got {:?}",
                framechain_text::untrusted(text, 60)
            ))
        };
        let bytes = text.as_bytes();
        if let Some(unit) = text.chars().last().filter(|_| !text.contains('-')) {
            let seconds = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return Err(bad()),
            };
            let number: u64 = text[..text.len() - 1].parse().map_err(|_| bad())?;
            let total = number.checked_mul(seconds).ok_or_else(bad)?;
            return Ok(Since::Ago(Duration::from_secs(total)));
        }
        let is_digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
        let day = bytes.len() >= 10
            && (0..4).all(is_digit)
            && bytes[4] == b'-'
            && (5..7).all(is_digit)
            && bytes[7] == b'-'
            && (8..10).all(is_digit);
        if !day {
            return Err(bad());
        }
        if bytes.len() == 10 {
            return Ok(Since::At(format!("{text}T00:00:00Z")));
        }
        // A time of day and an explicit offset: no reader's time zone
        // decides what an audit window means.
        let rest = &text[10..];
        let has_offset = rest.ends_with('Z')
            || rest.ends_with('z')
            || rest
                .len()
                .checked_sub(6)
                .and_then(|at| rest.get(at..))
                .is_some_and(|tail| {
                    let tail = tail.as_bytes();
                    matches!(tail[0], b'+' | b'-')
                        && tail[1..3].iter().all(u8::is_ascii_digit)
                        && tail[3] == b':'
                        && tail[4..6].iter().all(u8::is_ascii_digit)
                });
        let time_part = rest.starts_with('T') || rest.starts_with('t') || rest.starts_with(' ');
        if !(time_part && has_offset && rest.is_ascii()) {
            return Err(bad());
        }
        Ok(Since::At(text.to_owned()))
    }
}

/// One access: a participant let in, refused, or leaving.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Access {
    /// When the pod recorded it, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// `joined`, `left` or `refused`.
    pub what: &'static str,
    /// `publish` or `watch`.
    pub action: Option<Action>,
    /// The room.
    pub room: Option<String>,
    /// The participant (a token's `sub`); `None` for a refusal before the
    /// token was read.
    pub participant: Option<String>,
    /// The participant's role from the token (joins only).
    pub role: Option<String>,
    /// The peer's address as the pod saw it.
    pub address: Option<String>,
    /// The stream published or watched (`ROOM/PARTICIPANT`).
    pub stream: Option<String>,
    /// The pipeline's digest the media went through, or `forward` (joins).
    pub pipeline_digest: Option<String>,
    /// The policy's decision for a join, the status and reason of a
    /// refusal, the reason of a leave.
    pub decision: String,
    /// The pod that recorded it.
    pub pod: String,
    /// The event's id.
    pub event: Uuid,
}

impl Access {
    /// `publish` or `watch`.
    pub fn action_name(&self) -> Option<&'static str> {
        self.action.map(|action| match action {
            Action::Publish => "publish",
            Action::Watch => "watch",
        })
    }
}

/// The accesses matching `query`, oldest first.
///
/// # Errors
/// [`AuditError::Db`] when the database cannot be read.
pub async fn accesses(
    client: &tokio_postgres::Client,
    query: &AccessQuery,
) -> Result<Vec<Access>, AuditError> {
    let since_time: Option<SystemTime> = match &query.since {
        Some(Since::Ago(ago)) => Some(
            SystemTime::now()
                .checked_sub(*ago)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        ),
        _ => None,
    };
    let since_text: Option<&str> = match &query.since {
        Some(Since::At(text)) => Some(text),
        _ => None,
    };
    let kinds: Vec<&str> = ACCESS_KINDS.to_vec();
    let rows = client
        .query(
            SELECT_ACCESSES,
            &[
                &kinds,
                &query.room,
                &query.participant,
                &since_time,
                &since_text,
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let body: String = row.try_get(6)?;
            let kind: String = row.try_get(5)?;
            let mut access = Access {
                time: row.try_get(1)?,
                what: "unreadable",
                action: None,
                room: row.try_get(3)?,
                participant: row.try_get(4)?,
                role: None,
                address: None,
                stream: None,
                pipeline_digest: None,
                decision: format!("{kind}: body is not an event; run framechain audit verify"),
                pod: row.try_get(2)?,
                event: row.try_get(0)?,
            };
            if let Ok(event) = Event::parse(&body) {
                fill(&mut access, event.what);
            }
            Ok(access)
        })
        .collect()
}

fn fill(access: &mut Access, what: EventKind) {
    match what {
        EventKind::ParticipantJoined {
            action,
            role,
            address,
            stream,
            pipeline_digest,
            decision,
        } => {
            access.what = "joined";
            access.action = Some(action);
            access.role = Some(role);
            access.address = Some(address);
            access.stream = Some(stream);
            access.pipeline_digest = Some(pipeline_digest);
            access.decision = decision;
        }
        EventKind::ParticipantLeft {
            action,
            stream,
            reason,
        } => {
            access.what = "left";
            access.action = Some(action);
            access.stream = Some(stream);
            access.decision = reason;
        }
        EventKind::ParticipantRefused {
            action,
            address,
            status,
            reason,
        } => {
            access.what = "refused";
            access.action = Some(action);
            access.address = Some(address);
            access.decision = format!("{status} {reason}");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_days_and_durations() {
        assert_eq!(
            Since::parse("1h").unwrap(),
            Since::Ago(Duration::from_secs(3600))
        );
        assert_eq!(
            Since::parse("7d").unwrap(),
            Since::Ago(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            Since::parse("2026-12-05").unwrap(),
            Since::At("2026-12-05T00:00:00Z".into())
        );
        for good in ["2026-12-05T09:30:00Z", "2026-12-05T10:30:00.5+01:00"] {
            assert_eq!(Since::parse(good).unwrap(), Since::At(good.into()));
        }
        for bad in [
            "",
            "h",
            "1y",
            "-1h",
            "yesterday",
            "2026-12-05T09:30:00",
            "2026-1-05",
            "99999999999999999999d",
            "2026-12-05T09:30:00+1",
            "2026-12-05T09:30:00+01:00é",
        ] {
            let error = Since::parse(bad).unwrap_err().to_string();
            assert!(error.starts_with("--since: expected"), "{bad}: {error}");
        }
    }
}
