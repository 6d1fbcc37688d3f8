//! `framechain center`'s options (clap), kept apart from the settings they
//! become ([`CenterSettings`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::server::CenterSettings;

/// The audience users' tokens carry unless `--audience` says otherwise
/// (serve's default).
pub const DEFAULT_AUDIENCE: &str = "framechain";

/// Run the centre: rooms in PostgreSQL, placement on the edge pods that
/// send heartbeats through Redis, and WHIP/WHEP redirects with placement
/// tickets (docs/center.md).
#[derive(Args, Clone, Debug)]
pub struct CenterArgs {
    /// Where to serve HTTP: the redirects, the admin API, the status page and JSON, the probes.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    pub http: SocketAddr,
    /// Redis, which the pods' heartbeats and the placements go through (redis://host:port).
    #[arg(long, value_name = "URL", required_unless_present = "migrate_only")]
    pub redis: Option<String>,
    /// PostgreSQL, where rooms, pods and placements live (postgres://user:password@host:port/db).
    #[arg(long, value_name = "URL")]
    pub postgres: String,
    /// The clinic identity provider's public keys, a JWKS file (as `serve --keys`), reloaded when it changes.
    #[arg(long, value_name = "FILE", required_unless_present = "migrate_only")]
    pub keys: Option<PathBuf>,
    /// A file holding the token /admin/... requires (Authorization: Bearer TOKEN; at least 16 characters).
    #[arg(long, value_name = "FILE", required_unless_present = "migrate_only")]
    pub admin_token_file: Option<PathBuf>,
    /// The private key (P-256 PKCS#8 PEM, `framechain keys new --alg ES256 DIR`) placement tickets are signed with; replicas must share it. Read again when it changes or on SIGHUP: a new key is published beside the old one and signs 3 s later; the old one stays published 40 s. Without it, a new key is made at each start.
    #[arg(long, value_name = "FILE")]
    pub ticket_key: Option<PathBuf>,
    /// A rooms file (serve's format, plus optional "labels") whose rooms are added or replaced at start, and again when it changes or on SIGHUP (a bad new file keeps the rooms in force; a room left out of the file is kept).
    #[arg(long, value_name = "FILE")]
    pub rooms: Option<PathBuf>,
    /// This replica's name (logs, the status page; the events ingest's consumer name).
    #[arg(long, value_name = "NAME", default_value = "center")]
    pub name: String,
    /// The audience (aud) every user's token must carry.
    #[arg(long, value_name = "AUD", default_value = DEFAULT_AUDIENCE)]
    pub audience: String,
    /// Apply the database migrations at start. Without it the centre only checks that the schema is current and refuses to start otherwise (its role may be too weak to change the schema).
    #[arg(long)]
    pub migrate: bool,
    /// Apply the database migrations and exit (a Kubernetes Job, run as the schema's owner); needs only --postgres.
    #[arg(long, conflicts_with = "migrate")]
    pub migrate_only: bool,
}

impl CenterArgs {
    /// The settings these options give (without `--migrate-only`, which
    /// makes clap require `--redis`, `--keys` and `--admin-token-file`).
    pub fn settings(&self) -> CenterSettings {
        let required = "clap requires it without --migrate-only";
        CenterSettings {
            http: self.http,
            redis: self.redis.clone().expect(required),
            postgres: self.postgres.clone(),
            keys: self.keys.clone().expect(required),
            audience: self.audience.clone(),
            admin_token_file: self.admin_token_file.clone().expect(required),
            ticket_key: self.ticket_key.clone(),
            rooms: self.rooms.clone(),
            name: self.name.clone(),
            migrate: self.migrate,
        }
    }
}
