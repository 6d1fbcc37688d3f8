//! Placement tickets: what the centre's `307` carries to the pod, because a
//! browser drops the `Authorization` header when it follows a redirect to
//! another origin. A ticket is an ES256 JWT signed with the centre's
//! ticket key, bound to one pod (`aud`), one room and one action, and
//! valid for [`TICKET_TTL_S`] seconds: long enough to follow a redirect,
//! too short to be worth stealing. The pod verifies it against the
//! centre's public ticket keys (Redis `framechain:ticket-keys`) and still
//! runs its own policy on the claims it copies from the user's token.

use std::path::Path;

use framechain_identity::{Claims, IdentityError, KeyKind, SigningKey};

/// `iss` of every ticket.
pub const TICKET_ISSUER: &str = "framechain-center";
/// How long a ticket is valid.
pub const TICKET_TTL_S: u64 = 30;

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

/// Signs tickets with the centre's key (`--ticket-key FILE`).
pub struct TicketSigner {
    key: SigningKey,
    kid: String,
}

impl TicketSigner {
    /// The P-256 key of a PKCS#8 PEM file (`framechain keys new --alg
    /// ES256 DIR` writes one); replicas share it so that tickets of either
    /// verify on every pod.
    ///
    /// # Errors
    /// The file cannot be read, or it is not a P-256 key.
    pub fn read(path: &Path) -> Result<TicketSigner, IdentityError> {
        let key = SigningKey::read_pem(path)?;
        if key.kind != KeyKind::P256 {
            return Err(IdentityError::PrivateKey {
                path: path.to_owned(),
                reason: "tickets are ES256: give a P-256 key (framechain keys new --alg ES256)"
                    .into(),
            });
        }
        Ok(TicketSigner::new(key))
    }

    /// A new random key, for a single centre (each start makes another;
    /// tickets in flight at a restart are refused and retried).
    ///
    /// # Errors
    /// The system's random source failed.
    pub fn generate() -> Result<TicketSigner, IdentityError> {
        SigningKey::generate(KeyKind::P256).map(TicketSigner::new)
    }

    fn new(key: SigningKey) -> TicketSigner {
        let kid = key.thumbprint();
        TicketSigner { key, kid }
    }

    /// The public key set pods verify tickets with (a JWKS).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.key.public_jwk(&self.kid)] })
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
        self.key.sign(&claims, &self.kid)
    }
}
