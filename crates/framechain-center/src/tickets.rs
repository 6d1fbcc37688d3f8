//! Placement tickets: what the centre's `307` carries to the pod, because a
//! browser drops the `Authorization` header when it follows a redirect to
//! another origin. A ticket is an ES256 JWT signed with the centre's
//! ticket key, bound to one pod (`aud`), one room and one action, and
//! valid for [`TICKET_TTL_S`] seconds: long enough to follow a redirect,
//! too short to be worth stealing. The pod verifies it against the
//! centre's public ticket keys (Redis `framechain:ticket-keys`) and still
//! runs its own policy on the claims it copies from the user's token.
//!
//! **Rotation.** A new key (the `--ticket-key` file replaced, see
//! [`crate::reload`]) is first *offered*: it is published beside the key
//! that signs, and only [`PUBLISH_LEAD_S`] seconds after that publication
//! reached Redis does it sign, so that every pod (which reads the keys
//! every second and at once on the centre's nudge) knows it before its
//! first ticket arrives. The key it replaces stays published for
//! [`RETIRED_FOR_S`] seconds, past the life of every ticket it signed. No
//! ticket in flight is refused and no call is touched. The signer is a
//! state machine with the time passed in; the loop that reads the file and
//! publishes the keys is [`crate::reload`].

use std::path::Path;
use std::sync::RwLock;

use framechain_identity::{Claims, IdentityError, KeyKind, SigningKey, TICKET_LEEWAY_S};

/// `iss` of every ticket.
pub const TICKET_ISSUER: &str = "framechain-center";
/// How long a ticket is valid.
pub const TICKET_TTL_S: u64 = 30;
/// How long after its publication reached Redis a new key starts to sign:
/// the pods read the keys every second (and at once on the nudge the
/// publication sends), so three seconds leaves two reads to spare.
pub const PUBLISH_LEAD_S: u64 = 3;
/// How long a replaced key stays published: the life of a ticket it
/// signed, the pods' leeway on times, and a margin.
pub const RETIRED_FOR_S: u64 = TICKET_TTL_S + TICKET_LEEWAY_S + 5;
/// How long the publication of a key in use lasts unless this replica
/// publishes it again (every second): a replica that died does not keep
/// its keys published for ever.
pub const LEASE_S: u64 = 60;

/// What a ticket lets its holder do on the pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// `POST /whip/ROOM`.
    Publish,
    /// `POST /whep/ROOM/PARTICIPANT`.
    Watch,
}

impl Act {
    /// The `act` claim.
    pub fn name(self) -> &'static str {
        match self {
            Act::Publish => "publish",
            Act::Watch => "watch",
        }
    }
}

/// The audience of a ticket for `node`: `framechain-pod:NODE`.
pub fn pod_audience(node: &str) -> String {
    format!("framechain-pod:{node}")
}

/// One ticket key and its id (`kid`, the key's thumbprint).
struct Key {
    key: SigningKey,
    kid: String,
}

impl Key {
    fn new(key: SigningKey) -> Key {
        let kid = key.thumbprint();
        Key { key, kid }
    }
}

/// The keys of one replica: the one that signs, a new one waiting to
/// sign, and replaced ones still published.
struct Keys {
    signing: Key,
    /// Offered, and the time (Unix seconds) from which it signs once its
    /// publication reached Redis (`None` until then).
    offered: Option<(Key, Option<u64>)>,
    /// Replaced keys and until when (Unix seconds) they stay published.
    retired: Vec<(Key, u64)>,
}

/// One published public key: its JWK and until when (Unix seconds) it is
/// published unless renewed.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedKey {
    /// The key's id.
    pub kid: String,
    /// The public JWK.
    pub jwk: serde_json::Value,
    /// Published until then (Unix seconds).
    pub until: u64,
}

/// Signs tickets with the centre's key (`--ticket-key FILE`) and rotates
/// it (the module's doc). `Send + Sync`.
pub struct TicketSigner {
    keys: RwLock<Keys>,
}

impl TicketSigner {
    /// The P-256 key of a PKCS#8 PEM file (`framechain keys new --alg
    /// ES256 DIR` writes one); replicas share it so that tickets of either
    /// verify on every pod.
    ///
    /// # Errors
    /// The file cannot be read, or it is not a P-256 key.
    pub fn read(path: &Path) -> Result<TicketSigner, IdentityError> {
        read_key(path).map(TicketSigner::new)
    }

    /// A new random key, for a single centre (each start makes another;
    /// tickets in flight at a restart are refused and retried).
    ///
    /// # Errors
    /// The system's random source failed.
    pub fn generate() -> Result<TicketSigner, IdentityError> {
        SigningKey::generate(KeyKind::P256).map(TicketSigner::new)
    }

    /// A signer whose first key is `key`: it signs at once (at a start
    /// the pods have no tickets of this replica to honour yet).
    pub fn new(key: SigningKey) -> TicketSigner {
        TicketSigner {
            keys: RwLock::new(Keys {
                signing: Key::new(key),
                offered: None,
                retired: Vec::new(),
            }),
        }
    }

    /// Offers `key` to sign after the key that signs now: it is published
    /// at the next publication and signs [`PUBLISH_LEAD_S`] after that
    /// publication reached Redis ([`TicketSigner::published_at`]). Offering
    /// the key that signs (or the one offered) changes nothing: `false`.
    pub fn offer(&self, key: SigningKey) -> bool {
        let key = Key::new(key);
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if keys.signing.kid == key.kid
            || keys
                .offered
                .as_ref()
                .is_some_and(|(offered, _)| offered.kid == key.kid)
        {
            return false;
        }
        // A key offered and never signing (the file replaced again within
        // the lead) is dropped: no ticket carries it.
        keys.offered = Some((key, None));
        true
    }

    /// Notes that the keys [`TicketSigner::published`] gave at `now_unix`
    /// reached Redis: an offered key signs from [`PUBLISH_LEAD_S`] later.
    pub fn published_at(&self, now_unix: u64) {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if let Some((_, from @ None)) = &mut keys.offered {
            *from = Some(now_unix + PUBLISH_LEAD_S);
        }
    }

    /// Moves time on: an offered key whose time has come signs, the key
    /// it replaces is retired for [`RETIRED_FOR_S`], and retired keys past
    /// their time are forgotten. Returns the new signing key's id when the
    /// signing key changed.
    pub fn tick(&self, now_unix: u64) -> Option<String> {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.retired.retain(|(_, until)| *until >= now_unix);
        let due = matches!(&keys.offered, Some((_, Some(from))) if *from <= now_unix);
        if !due {
            return None;
        }
        let (key, _) = keys.offered.take().expect("an offered key is due");
        let old = std::mem::replace(&mut keys.signing, key);
        keys.retired.push((old, now_unix + RETIRED_FOR_S));
        Some(keys.signing.kid.clone())
    }

    /// The id of the key that signs now.
    pub fn signing_kid(&self) -> String {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .signing
            .kid
            .clone()
    }

    /// The public keys to publish at `now_unix`: the signing and the
    /// offered key leased for [`LEASE_S`], the retired ones until their
    /// time.
    pub fn published(&self, now_unix: u64) -> Vec<PublishedKey> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let lease = now_unix + LEASE_S;
        let entry = |key: &Key, until: u64| PublishedKey {
            kid: key.kid.clone(),
            jwk: key.key.public_jwk(&key.kid),
            until,
        };
        std::iter::once(entry(&keys.signing, lease))
            .chain(keys.offered.iter().map(|(key, _)| entry(key, lease)))
            .chain(keys.retired.iter().map(|(key, until)| entry(key, *until)))
            .collect()
    }

    /// This replica's public keys (a JWKS): the signing key, an offered
    /// one and the retired ones still published.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> =
            self.published(0).into_iter().map(|key| key.jwk).collect();
        serde_json::json!({ "keys": keys })
    }

    /// A ticket for `node` to let `user` do `act` in `room`, issued at
    /// `now_unix`: its claims are `iss`, `aud`, `sub`, `role`, `room`,
    /// `act`, `iat`, `exp` (now + [`TICKET_TTL_S`]) and `jti` (a UUID).
    ///
    /// # Errors
    /// Signing failed.
    pub fn sign(
        &self,
        user: &Claims,
        room: &str,
        act: Act,
        node: &str,
        now_unix: u64,
    ) -> Result<String, IdentityError> {
        let claims = serde_json::json!({
            "iss": TICKET_ISSUER,
            "aud": pod_audience(node),
            "sub": user.sub,
            "role": user.role,
            "room": room,
            "act": act.name(),
            "iat": now_unix,
            "exp": now_unix + TICKET_TTL_S,
            "jti": uuid::Uuid::now_v7().to_string(),
        });
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.signing.key.sign(&claims, &keys.signing.kid)
    }
}

/// The P-256 key of a PKCS#8 PEM file.
///
/// # Errors
/// The file cannot be read, or it is not a P-256 key.
pub fn read_key(path: &Path) -> Result<SigningKey, IdentityError> {
    let key = SigningKey::read_pem(path)?;
    if key.kind != KeyKind::P256 {
        return Err(IdentityError::PrivateKey {
            path: path.to_owned(),
            reason: "tickets are ES256: give a P-256 key (framechain keys new --alg ES256)".into(),
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::generate(KeyKind::P256).unwrap()
    }

    fn kids(signer: &TicketSigner, now: u64) -> Vec<String> {
        signer.published(now).into_iter().map(|k| k.kid).collect()
    }

    #[test]
    fn a_new_key_is_published_before_it_signs_and_the_old_one_outlives_its_tickets() {
        let signer = TicketSigner::new(key());
        let old = signer.signing_kid();
        let new = key();
        let new_kid = new.thumbprint();
        assert!(signer.offer(new));
        // Offered, not yet published: the old key signs, whatever the time.
        assert_eq!(signer.tick(1_000), None);
        assert_eq!(signer.tick(9_000), None);
        assert_eq!(signer.signing_kid(), old);
        assert_eq!(kids(&signer, 9_000), [old.clone(), new_kid.clone()]);
        // Published at 10 000: it signs from 10 003.
        signer.published_at(10_000);
        assert_eq!(signer.tick(10_002), None);
        assert_eq!(signer.tick(10_003), Some(new_kid.clone()));
        assert_eq!(signer.signing_kid(), new_kid);
        // The old key stays published for a ticket's life and the leeway.
        let published = signer.published(10_003);
        assert_eq!(published[1].kid, old);
        assert_eq!(published[1].until, 10_003 + RETIRED_FOR_S);
        signer.tick(10_003 + RETIRED_FOR_S);
        assert_eq!(kids(&signer, 10_003 + RETIRED_FOR_S).len(), 2);
        signer.tick(10_004 + RETIRED_FOR_S);
        assert_eq!(
            kids(&signer, 10_004 + RETIRED_FOR_S),
            std::slice::from_ref(&new_kid)
        );
    }

    #[test]
    fn the_key_that_signs_offered_again_changes_nothing() {
        let first = key();
        let file = std::env::temp_dir().join(format!("ticket-key-{}.pem", std::process::id()));
        std::fs::write(&file, first.private_pem()).unwrap();
        let signer = TicketSigner::new(first);
        assert!(!signer.offer(read_key(&file).unwrap()));
        std::fs::remove_file(&file).unwrap();
        signer.published_at(1);
        assert_eq!(signer.tick(100), None);
        assert_eq!(signer.published(100).len(), 1);
    }
}
