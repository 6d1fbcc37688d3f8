//! `framechain token`, `framechain keys new` and `framechain policy test`:
//! the clinic's identity tools for `framechain serve` (docs/visits.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand, ValueEnum};
use framechain_serve::identity::tools::{self, KeyKind, TokenRequest};

/// `framechain token`.
#[derive(Args)]
#[command(after_help = "\
The key's type decides the algorithm: Ed25519 signs EdDSA, P-256 signs ES256.
The token's kid is the key's thumbprint, as `framechain keys new` wrote it into jwks.json.

Example:
  framechain keys new keys/
  framechain token --key keys/private.pem --sub p-1 --role patient --room visit1 --ttl 3600")]
pub struct TokenArgs {
    /// The private key (PKCS#8 PEM, Ed25519 or P-256), e.g. from `framechain keys new`.
    #[arg(long, value_name = "PRIVATE_KEY.pem")]
    key: PathBuf,
    /// The participant's id (`sub`): the PARTICIPANT of `POST /whep/ROOM/PARTICIPANT`.
    #[arg(long, value_name = "ID")]
    sub: String,
    /// The participant's role (`role`): patient, clinician, or a role of the room's `others`.
    #[arg(long, value_name = "ROLE")]
    role: String,
    /// The one room the token is valid for (`room`); without it, any room the policy allows.
    #[arg(long, value_name = "ROOM")]
    room: Option<String>,
    /// Seconds until the token expires (`exp`).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    ttl: u64,
    /// The audience (`aud`): the `--audience` of `framechain serve`.
    #[arg(long, value_name = "AUDIENCE", default_value = "framechain")]
    audience: String,
    /// The key id (`kid`) to name; default: the key's RFC 7638 thumbprint.
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
}

/// `framechain keys ...`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Write a new key pair and its JWKS: DIR/private.pem (mode 0600), DIR/public.pem, DIR/jwks.json.
    /// Never overwrites. Give jwks.json to `framechain serve --keys`; keep private.pem off the server.
    New(KeysNewArgs),
}

/// `framechain keys new`.
#[derive(Args)]
pub struct KeysNewArgs {
    /// The folder to write the three files into (created if missing).
    dir: PathBuf,
    /// The key's algorithm: EdDSA (Ed25519) or ES256 (P-256).
    #[arg(long, value_enum, default_value = "EdDSA", value_name = "ALG")]
    alg: KeyAlg,
}

/// The algorithms `keys new` makes keys for.
#[derive(Clone, Copy, ValueEnum)]
pub enum KeyAlg {
    /// Ed25519 keys, EdDSA tokens.
    #[value(name = "EdDSA")]
    EdDsa,
    /// P-256 keys, ES256 tokens.
    #[value(name = "ES256")]
    Es256,
}

/// `framechain policy ...`.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Print the policy's decision on an input document: `allow` (exit 0) or `deny` (exit 1), and why.
    Test(PolicyTestArgs),
}

/// `framechain policy test`.
#[derive(Args)]
#[command(after_help = r#"Example:
  framechain policy test --input '{"user": {"id": "p-1", "role": "patient", "room": null}, "action": "publish",
    "resource": {"room": {"id": "visit1", "patient": "p-1", "clinicians": ["d-1"]}}}'"#)]
pub struct PolicyTestArgs {
    /// The Rego policy (package framechain, rule allow); default: the built-in policy of `serve`.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The input document (docs/visits.md) as JSON, or @FILE to read it from a file.
    #[arg(long, value_name = "JSON")]
    input: String,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// Prints a signed token.
pub fn token(args: TokenArgs) -> Result<(), String> {
    let token = tools::make_token(&TokenRequest {
        key: args.key,
        sub: args.sub,
        role: args.role,
        room: args.room,
        ttl_s: args.ttl,
        audience: args.audience,
        kid: args.kid,
        now_unix: now_unix(),
    })
    .map_err(|error| error.to_string())?;
    println!("{token}");
    Ok(())
}

/// Writes a key pair.
pub fn keys(command: KeysCommand) -> Result<(), String> {
    let KeysCommand::New(args) = command;
    let kind = match args.alg {
        KeyAlg::EdDsa => KeyKind::Ed25519,
        KeyAlg::Es256 => KeyKind::P256,
    };
    let files = tools::new_keys(&args.dir, kind).map_err(|error| error.to_string())?;
    println!(
        "wrote {} (keep it secret), {} and {} (for serve --keys); kid {}",
        files.private.display(),
        files.public.display(),
        files.jwks.display(),
        files.kid
    );
    Ok(())
}

/// Prints the decision; exit status 0 on allow, 1 on deny.
pub fn policy(command: PolicyCommand) -> Result<ExitCode, String> {
    let PolicyCommand::Test(args) = command;
    let input = match args.input.strip_prefix('@') {
        Some(file) => {
            std::fs::read_to_string(Path::new(file)).map_err(|error| format!("{file}: {error}"))?
        }
        None => args.input,
    };
    let decision =
        tools::test_policy(args.policy.as_deref(), &input).map_err(|error| error.to_string())?;
    if decision.allow {
        println!("allow: {}", decision.reason);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("deny: {}", decision.reason);
        Ok(ExitCode::FAILURE)
    }
}
