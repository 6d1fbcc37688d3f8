//! Each pod's records form a hash chain: a record's hash covers the hash
//! before it and its own body, so a row altered, removed or put in
//! between at the centre breaks the chain at a place `framechain audit
//! verify` can name.
//!
//! ```
//! use framechain_events::chain::{GENESIS, link_hash};
//! let first = link_hash(GENESIS, r#"{"id":"..."}"#);
//! let second = link_hash(&first, r#"{"id":"..."}"#);
//! assert_ne!(first, second);
//! assert_eq!(first.len(), 64);
//! ```

use sha2::{Digest, Sha256};

/// The `prev_hash` of a chain's first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `hex(SHA-256(prev_hash ‖ "\n" ‖ body))`, lower case.
pub fn link_hash(prev_hash: &str, body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// An event as it travels and is stored: its body and its links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The event's body ([`crate::Event::body`]).
    pub body: String,
    /// The hash of the record before it in its chain ([`GENESIS`] first).
    pub prev_hash: String,
    /// [`link_hash`]`(prev_hash, body)`.
    pub hash: String,
}

impl Sealed {
    /// Seals `body` after `prev_hash`.
    pub fn new(prev_hash: &str, body: String) -> Sealed {
        let hash = link_hash(prev_hash, &body);
        Sealed {
            body,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }

    /// Whether the hash matches the body and the previous hash.
    pub fn is_intact(&self) -> bool {
        link_hash(&self.prev_hash, &self.body) == self.hash
    }
}
