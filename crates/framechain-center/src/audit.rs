//! Reading the audit trail: who published and who watched
//! ([`query`]), the calls of the last day ([`calls`]), and whether the rows are still the ones the pods sent
//! ([`verify`]). The rows are written by [`crate::ingest`].

pub mod calls;
pub mod query;
pub mod verify;

pub use calls::{CallView, recent_calls};
pub use query::{Access, AccessQuery, Since, accesses};
pub use verify::{Problem, ProblemKind, VerifyReport, verify};

/// Why the audit trail could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database could not be reached or refused a query.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// `--since` is not a time or a duration.
    #[error("--since: {0}")]
    Since(String),
}

impl From<tokio_postgres::Error> for AuditError {
    fn from(error: tokio_postgres::Error) -> AuditError {
        AuditError::Db(error.into())
    }
}
