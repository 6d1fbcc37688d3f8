//! What a reload of the policy or the key set tells the embedder: which
//! file, the digest of the version now in force, or the one line that says
//! why the new version was refused (and the old one kept). `serve` records
//! each in its audit trail; nothing here knows about events.
//!
//! A reload happens on the thread that noticed the change (a request that
//! looked at the file, or the SIGHUP handler), so a listener must be quick
//! and must not block: hand the notice on, do not write it to disk there.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

/// Which of the identity files was read again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadedFile {
    /// The Rego policy (`--policy FILE`).
    Policy,
    /// The identity provider's key set (`--keys FILE`, a JWKS).
    Keys,
}

/// How a reload ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new version is in force.
    Loaded {
        /// SHA-256 of the file's bytes, 64 lowercase hex digits.
        digest: String,
    },
    /// The new version was refused; the one in force before stays.
    Refused {
        /// Why, in one line naming the file.
        error: String,
        /// The digest of the version still in force.
        kept_digest: String,
    },
}

/// One reload of the policy or the key set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reload {
    /// Which file.
    pub file: ReloadedFile,
    /// Its path, as given on the command line.
    pub path: PathBuf,
    /// Loaded, or refused with the old version kept.
    pub outcome: ReloadOutcome,
}

/// What is told of each reload ([`crate::Policy::on_reload`],
/// [`crate::Verifier::on_reload`]).
pub type ReloadListener = Arc<dyn Fn(&Reload) + Send + Sync>;

/// The listener of one watched file, set once the embedder has somewhere
/// to send reloads (after the file was first loaded).
#[derive(Default)]
pub(crate) struct Listener(RwLock<Option<ReloadListener>>);

impl Listener {
    pub(crate) fn set(&self, listener: ReloadListener) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(listener);
    }

    pub(crate) fn tell(&self, reload: Reload) {
        let listener = self.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(listener) = listener {
            listener(&reload);
        }
    }
}

/// SHA-256 of `bytes`, 64 lowercase hex digits.
pub(crate) fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
