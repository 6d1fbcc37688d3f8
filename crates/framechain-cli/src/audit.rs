//! `framechain audit`: who published and who watched, from the centre's
//! audit trail; `framechain audit verify`: whether the trail still holds
//! (docs/center.md, "The audit trail").

use std::process::ExitCode;

use clap::{Args, Subcommand};
use framechain_center::audit::{self, Access, AccessQuery, Since};

/// `framechain audit [verify] …`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    #[command(flatten)]
    query: QueryArgs,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk every pod's hash chain and name each row altered, removed or inserted; exit 1 when any is.
    Verify {
        /// The centre's PostgreSQL (postgres://USER:PASSWORD@HOST:PORT/DB); a role that may read audit_events.
        #[arg(long, value_name = "URL")]
        postgres: String,
    },
}

#[derive(Args)]
struct QueryArgs {
    /// The centre's PostgreSQL (postgres://USER:PASSWORD@HOST:PORT/DB); a role that may read audit_events.
    #[arg(long, value_name = "URL", required = true)]
    postgres: Option<String>,
    /// Only this room.
    #[arg(long, value_name = "R")]
    room: Option<String>,
    /// Only this participant (the token's sub).
    #[arg(long, value_name = "ID")]
    participant: Option<String>,
    /// Only from this time on: RFC 3339 with an offset (2026-12-05T09:30:00Z), a day (2026-12-05, from midnight UTC), or a duration back from now (90s, 15m, 1h, 7d).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// One JSON object a line instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `framechain audit …`; verify's findings exit 1 without an error line.
pub fn run(args: AuditArgs) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    match args.command {
        Some(AuditCommand::Verify { postgres }) => runtime.block_on(verify(&postgres)),
        None => runtime
            .block_on(query(args.query))
            .map(|()| ExitCode::SUCCESS),
    }
}

async fn verify(postgres: &str) -> Result<ExitCode, String> {
    let client = framechain_center::db::connect(postgres)
        .await
        .map_err(|error| error.to_string())?;
    let report = audit::verify(&client)
        .await
        .map_err(|error| error.to_string())?;
    if report.is_ok() {
        println!("ok: {} records in {} chains", report.records, report.chains);
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &report.problems {
        println!("{problem}");
    }
    let unlisted = report.problem_count - report.problems.len() as u64;
    if unlisted > 0 {
        println!("… and {unlisted} more");
    }
    println!(
        "bad: {} problems in {} records of {} chains",
        report.problem_count, report.records, report.chains
    );
    Ok(ExitCode::FAILURE)
}

async fn query(args: QueryArgs) -> Result<(), String> {
    let since = args
        .since
        .as_deref()
        .map(Since::parse)
        .transpose()
        .map_err(|error| error.to_string())?;
    let postgres = args.postgres.ok_or("--postgres URL is required")?;
    let client = framechain_center::db::connect(&postgres)
        .await
        .map_err(|error| error.to_string())?;
    let query = AccessQuery {
        room: args.room,
        participant: args.participant,
        since,
    };
    let accesses = audit::accesses(&client, &query)
        .await
        .map_err(|error| error.to_string())?;
    if args.json {
        for access in &accesses {
            let line = serde_json::to_string(access)
                .map_err(|error| format!("cannot write JSON: {error}"))?;
            println!("{line}");
        }
    } else {
        print_table(&accesses);
    }
    Ok(())
}

/// A table a person reads in a terminal: every field is made printable
/// (a participant name comes from a token; an address from the network).
fn print_table(accesses: &[Access]) {
    let header = [
        "TIME",
        "WHAT",
        "ACTION",
        "ROOM",
        "PARTICIPANT",
        "ROLE",
        "ADDRESS",
        "PIPELINE",
        "DECISION",
    ];
    let cell = |text: Option<&str>, max: usize| -> String {
        text.map_or_else(
            || "-".to_owned(),
            |text| framechain::text::untrusted(text, max),
        )
    };
    let rows: Vec<[String; 9]> = accesses
        .iter()
        .map(|access| {
            [
                access.time.clone(),
                access.what.to_owned(),
                cell(access.action_name(), 10),
                cell(access.room.as_deref(), 40),
                cell(access.participant.as_deref(), 40),
                cell(access.role.as_deref(), 20),
                cell(access.address.as_deref(), 48),
                cell(access.pipeline_digest.as_deref().map(short_digest), 20),
                cell(Some(&access.decision), 120),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, text) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        println!("{}", text.trim_end());
    };
    line(&header);
    for row in &rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

/// `sha256:0123456789ab…` cut to its first 12 hex digits; `forward` as is.
fn short_digest(digest: &str) -> &str {
    let end = digest
        .char_indices()
        .nth(19)
        .map_or(digest.len(), |(at, _)| at);
    &digest[..end]
}
