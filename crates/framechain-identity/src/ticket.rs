//! Placement tickets: the centre's short-lived, signed word that a
//! participant it verified may publish or watch in one room on one pod.
//!
//! A browser following the centre's `307` to a pod drops its
//! `Authorization` header (another origin), so the centre puts a ticket in
//! the redirect's query (`/whip/ROOM?ticket=T`). A ticket is a JWT signed
//! with the centre's ticket key: `iss` [`TICKET_ISSUER`], `aud`
//! [`ticket_audience`]`(node)`, `sub`, `role` and `room` copied from the
//! participant's token, `act` ([`TicketAction`]), `exp` about 30 s ahead,
//! `iat` and a unique `jti`. The pod checks it with the centre's public
//! ticket keys ([`TicketVerifier::set_keys`], a JWKS the pod reads from
//! Redis) and then runs its policy on the claims as for a token. A ticket
//! opens one door once: its `jti` is remembered until it expires.
//!
//! ```
//! use framechain_identity::{KeyKind, SigningKey, TicketAction, TicketVerifier, ticket_audience};
//!
//! let key = SigningKey::generate(KeyKind::P256).unwrap();
//! let kid = key.thumbprint();
//! let jwks = serde_json::json!({ "keys": [key.public_jwk(&kid)] }).to_string();
//! let now = 1_800_000_000;
//! let ticket = key
//!     .sign(
//!         &serde_json::json!({
//!             "iss": "framechain-center", "aud": ticket_audience("pod-a"),
//!             "sub": "p-1", "role": "patient", "room": "visit1",
//!             "act": "publish", "exp": now + 30, "iat": now, "jti": "7c1e",
//!         }),
//!         &kid,
//!     )
//!     .unwrap();
//! let verifier = TicketVerifier::new("pod-a");
//! verifier.set_keys(&jwks).unwrap();
//! let admitted = verifier.verify(&ticket, now).unwrap();
//! assert_eq!(admitted.action, TicketAction::Publish);
//! assert_eq!(admitted.claims.room.as_deref(), Some("visit1"));
//! // The same ticket again is refused: it opens one door once.
//! assert!(verifier.verify(&ticket, now).is_err());
//! // Another pod's verifier refuses it too.
//! let other = TicketVerifier::new("pod-b");
//! other.set_keys(&jwks).unwrap();
//! assert!(other.verify(&ticket, now).is_err());
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::jwks::KeySet;
use super::jwt::{Claims, TokenRefused, check_token};

/// The `iss` of every placement ticket.
pub const TICKET_ISSUER: &str = "framechain-center";
/// How far a ticket's times may be off the pod's clock: tickets live
/// 30 s, so only a small skew is forgiven.
pub const TICKET_LEEWAY_S: u64 = 5;
/// Ticket ids remembered at most; past it, the expired are forgotten
/// first and then the oldest (a ticket lives 30 s, so this is thousands
/// of joins a second).
const MAX_REMEMBERED: usize = 100_000;
/// Longest `jti` taken.
const MAX_JTI_BYTES: usize = 128;

/// The `aud` of a ticket for the pod `node`: `framechain-pod:NODE`.
pub fn ticket_audience(node: &str) -> String {
    format!("framechain-pod:{node}")
}

/// What a ticket lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketAction {
    /// `POST /whip/ROOM` (`act: "publish"`).
    Publish,
    /// `POST /whep/ROOM/PARTICIPANT` (`act: "watch"`).
    Watch,
}

impl TicketAction {
    /// The `act` claim's text.
    pub fn name(self) -> &'static str {
        match self {
            TicketAction::Publish => "publish",
            TicketAction::Watch => "watch",
        }
    }
}

/// A ticket that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The participant's claims, as the centre copied them from their
    /// token (`room` is always there).
    pub claims: Claims,
    /// What the ticket is for.
    pub action: TicketAction,
    /// Its unique id.
    pub jti: String,
}

/// Why a ticket is refused (`401` unless said otherwise); one line that
/// never quotes the ticket.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketRefused {
    /// The pod has no ticket keys yet (it has not read them from Redis).
    #[error("this pod has no placement ticket keys yet; try again through the centre")]
    NoKeys,
    /// The ticket did not verify as a token: signature, audience (another
    /// pod's), issuer, times or names.
    #[error("the placement ticket is refused: {0}")]
    Token(#[from] TokenRefused),
    /// No `act`, or one that is neither `publish` nor `watch`.
    #[error("the placement ticket has no usable act claim")]
    BadAction,
    /// No `room` claim: a ticket is always for one room.
    #[error("the placement ticket names no room")]
    NoRoom,
    /// No `jti`, or an unusable one.
    #[error("the placement ticket has no usable jti claim")]
    BadId,
    /// The ticket was used already.
    #[error("the placement ticket was used already; ask the centre again")]
    Replayed,
}

/// Verifies placement tickets for one pod. The key set is replaced when
/// the centre's changes ([`TicketVerifier::set_keys`]). `Send + Sync`.
pub struct TicketVerifier {
    audience: String,
    keys: RwLock<Option<(String, Arc<KeySet>)>>,
    /// Ticket ids used, with their expiry (Unix seconds).
    used: Mutex<HashMap<String, u64>>,
}

impl TicketVerifier {
    /// A verifier for the pod `node`, with no keys yet.
    pub fn new(node: &str) -> TicketVerifier {
        TicketVerifier {
            audience: ticket_audience(node),
            keys: RwLock::new(None),
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Takes the centre's public ticket keys (a JWKS's text): `Ok(true)`
    /// when they changed, `Ok(false)` when they are the keys in use. A
    /// set that cannot be used keeps the old keys and says why in one
    /// line.
    pub fn set_keys(&self, jwks: &str) -> Result<bool, String> {
        if let Some((text, _)) = &*self.keys.read().unwrap_or_else(|p| p.into_inner())
            && text == jwks
        {
            return Ok(false);
        }
        let set = KeySet::parse(jwks).map_err(|reason| super::one_line(&reason, 300))?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) =
            Some((jwks.to_owned(), Arc::new(set)));
        Ok(true)
    }

    /// Whether keys were set.
    pub fn has_keys(&self) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Checks `ticket` at `now_unix` (seconds) and uses it up.
    pub fn verify(&self, ticket: &str, now_unix: u64) -> Result<Ticket, TicketRefused> {
        let keys = match &*self.keys.read().unwrap_or_else(|p| p.into_inner()) {
            Some((_, keys)) => keys.clone(),
            None => return Err(TicketRefused::NoKeys),
        };
        let (claims, extras) = check_token(
            &keys,
            ticket,
            &self.audience,
            Some(TICKET_ISSUER),
            TICKET_LEEWAY_S,
            now_unix,
        )?;
        let action = match extras.act.as_deref() {
            Some("publish") => TicketAction::Publish,
            Some("watch") => TicketAction::Watch,
            _ => return Err(TicketRefused::BadAction),
        };
        if claims.room.is_none() {
            return Err(TicketRefused::NoRoom);
        }
        let jti = extras
            .jti
            .filter(|jti| {
                !jti.is_empty()
                    && jti.len() <= MAX_JTI_BYTES
                    && jti.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or(TicketRefused::BadId)?;
        self.use_once(&jti, claims.expires, now_unix)?;
        Ok(Ticket {
            claims,
            action,
            jti,
        })
    }

    /// Remembers `jti` until it expires; refuses it when remembered.
    fn use_once(&self, jti: &str, expires: u64, now_unix: u64) -> Result<(), TicketRefused> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if used.contains_key(jti) {
            return Err(TicketRefused::Replayed);
        }
        if used.len() >= MAX_REMEMBERED {
            used.retain(|_, until| until.saturating_add(TICKET_LEEWAY_S) >= now_unix);
        }
        if used.len() >= MAX_REMEMBERED {
            // Still full of live tickets: the one expiring first goes (a
            // replay of it then needs a flood of fresh tickets from the
            // centre, which only the centre can sign).
            if let Some(first) = used
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(jti, _)| jti.clone())
            {
                used.remove(&first);
            }
        }
        used.insert(jti.to_owned(), expires);
        Ok(())
    }
}
