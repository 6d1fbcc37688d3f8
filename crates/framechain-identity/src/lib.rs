//! Who may join: the clinic's identity provider and its policy. `serve`
//! checks every room request with it; the centre (`framechain center`)
//! checks the same tokens before it redirects, and signs its placement
//! tickets with a [`SigningKey`].
//!
//! - `jwt`: an `Authorization: Bearer JWT` header becomes [`Claims`], or a
//!   [`TokenRefused`] whose one line never quotes the token;
//! - `jwks`: the provider's public keys (`--keys FILE`, a JWKS), reloaded
//!   when the file changes;
//! - `policy`: a Rego policy (`--policy FILE` or `policy/visit.rego`)
//!   decides whether a participant may publish, watch or swap a stage;
//! - `reload`: what a reload of the policy or the key set tells the
//!   embedder ([`Reload`]: the file, its new digest or the one line that
//!   refused it), through [`Policy::on_reload`] and [`Verifier::on_reload`];
//! - `keys`: key pairs and signed tokens for `framechain keys new` and
//!   `framechain token` (tests, demos, small clinics);
//! - `ticket`: the centre's placement tickets ([`TicketVerifier`]), which
//!   a pod takes in place of a token after the centre's redirect;
//! - `reload_rounds`: the loop that reads changed files again every
//!   interval and on `SIGHUP` ([`Rounds`], [`WatchedFile`]), for serve and
//!   the centre alike;
//! - [`tools`]: what the command line calls.
//!
//! Nothing here touches HTTP or the call core: the routes (`visit`) ask
//! [`Verifier::verify`] who the caller is and [`Policy::decide`] whether
//! they may.

#![deny(missing_docs)]

mod file_watch;
mod jwks;
mod jwt;
mod keys;
mod policy;
mod reload;
mod reload_rounds;
mod ticket;
pub mod tools;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use file_watch::Stamp;
pub use jwt::{Claims, LEEWAY_S, MAX_TOKEN_BYTES, TokenRefused, Verifier};
pub use keys::{KeyKind, SigningKey};
pub use policy::{DEFAULT_POLICY, Decision, Policy};
pub use reload::{Reload, ReloadListener, ReloadOutcome, ReloadedFile};
pub use reload_rounds::{Round, Rounds, WatchedFile};
pub use ticket::{
    TICKET_ISSUER, TICKET_LEEWAY_S, Ticket, TicketAction, TicketRefused, TicketVerifier,
    ticket_audience,
};

/// Why keys, a policy or a token could not be loaded or made: one line,
/// naming the file.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A key set (JWKS) that cannot be used.
    #[error("{}: not a usable key set (JWKS): {reason}", path.display())]
    Keys {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A private key that cannot sign.
    #[error("{}: not a usable private key: {reason}", path.display())]
    PrivateKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A policy that does not compile, or has no `data.framechain.allow`.
    #[error("{source_name}: the policy does not compile: {reason}")]
    Policy {
        /// The policy's file, or `the default policy`.
        source_name: String,
        /// The compiler's message, on one line.
        reason: String,
    },
    /// A policy input that is not a JSON object.
    #[error("the policy input is not a JSON object: {0}")]
    Input(String),
    /// `framechain keys new` would overwrite a file.
    #[error("{}: already exists; `framechain keys new` never overwrites keys", path.display())]
    Exists {
        /// The file that exists.
        path: PathBuf,
    },
    /// A token could not be made.
    #[error("cannot make the token: {0}")]
    Token(String),
}

/// `text` as one printable line of at most `max` characters: a compiler's
/// or a library's message may span lines.
fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    framechain_text::untrusted(&joined, max)
}
