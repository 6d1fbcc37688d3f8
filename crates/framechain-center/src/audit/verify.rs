//! `framechain audit verify`: walks every pod's chain in order and names
//! each row that is not what the pod sent.
//!
//! A row is checked against itself (its hash is the link of its
//! `prev_hash` and its body; its columns say what its body says) and
//! against the row before it in its chain (its `prev_hash` is that row's
//! hash; its `seq` follows without a gap; a chain starts at seq 0 after
//! [`GENESIS`]). From these:
//!
//! - **altered**: the body no longer hashes to the row's hash, or a column
//!   (pod, chain, seq, time, room, participant, kind, id) differs from the
//!   body;
//! - **removed**: seqs missing between two rows, or before the first;
//! - **inserted**: a row whose `prev_hash` is not the hash of the row
//!   before it although no seq is missing: it was put in place of the
//!   record the next one links to, or rows were reordered.
//!
//! Not visible from the rows alone: the newest records of a chain removed
//! all together (nothing after them links to them). The ingest counters
//! and the pods' spools are the witness there.

use framechain_events::Event;
use framechain_events::chain::{GENESIS, link_hash};
use serde::Serialize;
use uuid::Uuid;

use super::AuditError;

/// Rows read per query: the walk holds one page at a time.
const PAGE: i64 = 5000;
/// Problems kept in a report; more are counted, not listed.
pub const MAX_LISTED_PROBLEMS: usize = 10_000;

/// What is wrong with a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The row is not what was sent.
    Altered,
    /// Rows that were sent are missing.
    Removed,
    /// A row that was not sent there stands in the chain.
    Inserted,
}

/// One finding, naming the row (or the missing seqs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Altered, removed or inserted.
    pub kind: ProblemKind,
    /// The chain.
    pub chain: Uuid,
    /// The row's seq, or the first missing seq.
    pub seq: i64,
    /// The row's id; `None` for removed rows.
    pub id: Option<Uuid>,
    /// What exactly, one line.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            ProblemKind::Altered => "altered",
            ProblemKind::Removed => "removed",
            ProblemKind::Inserted => "inserted",
        };
        write!(f, "{kind}: chain {} seq {}", self.chain, self.seq)?;
        if let Some(id) = self.id {
            write!(f, " id {id}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// The outcome of a walk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Rows read.
    pub records: u64,
    /// Chains seen.
    pub chains: u64,
    /// Problems found, in chain and seq order (at most
    /// [`MAX_LISTED_PROBLEMS`]).
    pub problems: Vec<Problem>,
    /// All problems found, listed or not.
    pub problem_count: u64,
}

impl VerifyReport {
    /// Whether every row is intact and every chain whole.
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    fn add(&mut self, problem: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(problem);
        }
    }
}

/// A row as stored.
struct StoredRow {
    id: Uuid,
    pod: String,
    chain: Uuid,
    seq: i64,
    time_ms: i64,
    room: Option<String>,
    participant: Option<String>,
    kind: String,
    body: String,
    prev_hash: String,
    hash: String,
}

/// Walks every chain of `audit_events`.
///
/// # Errors
/// [`AuditError::Db`] when the database cannot be read.
pub async fn verify(client: &tokio_postgres::Client) -> Result<VerifyReport, AuditError> {
    let mut report = VerifyReport::default();
    let mut previous: Option<StoredRow> = None;
    let mut after: Option<(Uuid, i64)> = None;
    loop {
        let rows = page(client, after).await?;
        let full = rows.len() as i64 == PAGE;
        for row in rows {
            report.records += 1;
            let same_chain = previous.as_ref().filter(|p| p.chain == row.chain);
            if same_chain.is_none() {
                report.chains += 1;
            }
            check_row(&mut report, same_chain, &row);
            after = Some((row.chain, row.seq));
            previous = Some(row);
        }
        if !full {
            break;
        }
    }
    Ok(report)
}

async fn page(
    client: &tokio_postgres::Client,
    after: Option<(Uuid, i64)>,
) -> Result<Vec<StoredRow>, AuditError> {
    let (chain, seq) = after.unzip();
    let rows = client
        .query(
            "SELECT id, pod, chain, seq, (extract(epoch FROM time) * 1000)::int8,
                    room, participant, kind, body, prev_hash, hash
             FROM audit_events
             WHERE $1::uuid IS NULL OR (chain, seq) > ($1, $2)
             ORDER BY chain, seq
             LIMIT $3",
            &[&chain, &seq, &PAGE],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredRow {
                id: row.try_get(0)?,
                pod: row.try_get(1)?,
                chain: row.try_get(2)?,
                seq: row.try_get(3)?,
                time_ms: row.try_get(4)?,
                room: row.try_get(5)?,
                participant: row.try_get(6)?,
                kind: row.try_get(7)?,
                body: row.try_get(8)?,
                prev_hash: row.try_get(9)?,
                hash: row.try_get(10)?,
            })
        })
        .collect()
}

fn check_row(report: &mut VerifyReport, previous: Option<&StoredRow>, row: &StoredRow) {
    let problem = |kind, seq, id, detail: String| Problem {
        kind,
        chain: row.chain,
        seq,
        id,
        detail: framechain_text::untrusted(&detail, 300),
    };
    // Its place in the chain.
    let expected_seq = previous.map_or(0, |p| p.seq + 1);
    let expected_prev = previous.map_or(GENESIS, |p| p.hash.as_str());
    if row.seq > expected_seq {
        let between = match previous {
            Some(p) => format!("between seq {} and {}", p.seq, row.seq),
            None => format!("before the chain's first row, seq {}", row.seq),
        };
        let missing = if row.seq - expected_seq == 1 {
            format!("seq {expected_seq} missing")
        } else {
            format!("seqs {expected_seq} to {} missing", row.seq - 1)
        };
        report.add(problem(
            ProblemKind::Removed,
            expected_seq,
            None,
            format!("{missing} ({between})"),
        ));
    } else if row.prev_hash != expected_prev {
        let what = match previous {
            Some(p) => format!(
                "its prev_hash is not the hash of seq {}: that row was rewritten with a new hash, or this one was put in or moved",
                p.seq
            ),
            None => "the chain's first row does not follow the genesis hash".to_owned(),
        };
        report.add(problem(ProblemKind::Inserted, row.seq, Some(row.id), what));
    }
    // The row itself.
    if link_hash(&row.prev_hash, &row.body) != row.hash {
        report.add(problem(
            ProblemKind::Altered,
            row.seq,
            Some(row.id),
            "the body does not hash to the row's hash".to_owned(),
        ));
        return;
    }
    if let Some(column) = column_differing_from_body(row) {
        report.add(problem(
            ProblemKind::Altered,
            row.seq,
            Some(row.id),
            format!("column {column} differs from the body"),
        ));
    }
}

/// The first column that says something else than the (intact) body.
fn column_differing_from_body(row: &StoredRow) -> Option<&'static str> {
    let Ok(event) = Event::parse(&row.body) else {
        return Some("body (not an event)");
    };
    [
        ("id", event.id == row.id),
        ("pod", event.pod == row.pod),
        ("chain", event.chain == row.chain),
        ("seq", i64::try_from(event.seq).ok() == Some(row.seq)),
        ("time", event.time_ms == row.time_ms),
        ("room", event.room == row.room),
        ("participant", event.participant == row.participant),
        ("kind", event.what.name() == row.kind),
    ]
    .into_iter()
    .find(|(_, same)| !same)
    .map(|(column, _)| column)
}
