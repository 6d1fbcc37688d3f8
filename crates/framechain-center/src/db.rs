//! The centre's PostgreSQL: connecting, and the schema as versioned SQL
//! migrations (`migrations/V*__*.sql`, applied in order by refinery and
//! recorded in `refinery_schema_history`).

use tokio_postgres::{Client, NoTls};

/// The SQL files of `migrations/`, compiled in.
mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Why the database could not be used. One line; never includes the URL's
/// password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is not a PostgreSQL connection string.
    #[error("--postgres: not a PostgreSQL URL: {0}")]
    Url(String),
    /// The server could not be reached or refused the login.
    #[error("PostgreSQL: {0}")]
    Connect(String),
    /// A migration failed.
    #[error("PostgreSQL migration: {0}")]
    Migrate(String),
    /// A query failed.
    #[error("PostgreSQL: {0}")]
    Query(String),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(error: tokio_postgres::Error) -> DbError {
        DbError::Query(one_line(&error))
    }
}

/// A client on `url`; its connection runs on the current tokio runtime
/// until the client is dropped or the server goes away.
///
/// # Errors
/// [`DbError::Url`] or [`DbError::Connect`].
pub async fn connect(url: &str) -> Result<Client, DbError> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|error: tokio_postgres::Error| DbError::Url(one_line(&error)))?;
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|error| DbError::Connect(one_line(&error)))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            log::debug!("PostgreSQL connection ended: {error}");
        }
    });
    Ok(client)
}

/// Applies the migrations not yet applied, in order; returns how many ran.
///
/// # Errors
/// [`DbError::Migrate`], naming the migration.
pub async fn migrate(client: &mut Client) -> Result<usize, DbError> {
    let report = embedded::migrations::runner()
        .run_async(client)
        .await
        .map_err(|error| DbError::Migrate(framechain_text::untrusted(&error.to_string(), 300)))?;
    Ok(report.applied_migrations().len())
}

fn one_line(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    framechain_text::untrusted(&joined, 300)
}

/// Checks that every migration this centre knows has been applied, for a
/// centre started without `--migrate` (its role may be too weak to change
/// the schema): a missing one is a one-line error naming it.
///
/// # Errors
/// [`DbError::Migrate`] naming the first migration not applied, or
/// [`DbError::Query`].
pub async fn check_schema(client: &Client) -> Result<(), DbError> {
    let applied: std::collections::HashSet<i64> = match client
        .query("SELECT version::bigint FROM refinery_schema_history", &[])
        .await
    {
        Ok(rows) => rows.iter().map(|row| row.get(0)).collect(),
        // No history table: nothing was ever migrated.
        Err(error) if error.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
            Default::default()
        }
        Err(error) => return Err(error.into()),
    };
    let runner = embedded::migrations::runner();
    let mut wanted: Vec<_> = runner.get_migrations().iter().collect();
    wanted.sort_by_key(|migration| migration.version());
    for migration in wanted {
        if !applied.contains(&i64::from(migration.version())) {
            return Err(DbError::Migrate(format!(
                "the schema lacks migration V{}__{}: run the centre once with --migrate, as a role that may change the schema",
                migration.version(),
                migration.name()
            )));
        }
    }
    Ok(())
}
