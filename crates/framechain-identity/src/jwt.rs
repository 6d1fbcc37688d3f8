//! `Authorization: Bearer JWT` → [`Claims`]. The header is looked at before
//! any key is: its size first (a 1 MB token costs one comparison), then
//! its algorithm (`none`, `HS*` and algorithms the key does not have are
//! refused by name), then the key its `kid` names. The signature is
//! checked by `jsonwebtoken` (over `ring`); the times are checked here
//! against the `now` the caller passes in, so that the tests can move the
//! clock.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::IdentityError;
use super::file_watch::{Stamp, Watch};
use super::jwks::{KeySet, NoKey};
use super::reload::{Listener, Reload, ReloadListener, ReloadOutcome, ReloadedFile};

/// Longest token taken, in bytes (without `Bearer `). Identity providers'
/// tokens are well under 2 KiB; this is checked before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// How far a token's `exp` and `nbf` may be off the server's clock.
pub const LEEWAY_S: u64 = 30;
/// Longest `sub`, `role` or `room` taken, in bytes.
const MAX_CLAIM_BYTES: usize = 256;
/// How often the key file is looked at for a change.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Who a verified token says its holder is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The participant's id (`sub`).
    pub sub: String,
    /// The participant's role (`role`), e.g. `patient`, `clinician`.
    pub role: String,
    /// The one room the token is valid for (`room`), if it names one.
    pub room: Option<String>,
    /// When the token expires (`exp`), Unix seconds.
    pub expires: u64,
}

/// Why a token is refused. Every variant answers `401`, and its one-line
/// text never quotes the token or any part of it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    /// No `Authorization` header.
    #[error("no token: send Authorization: Bearer JWT")]
    Missing,
    /// An `Authorization` header that is not `Bearer` and a token.
    #[error("the Authorization header is not Bearer and a token")]
    NotBearer,
    /// A token over [`MAX_TOKEN_BYTES`].
    #[error("the token is over {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    /// Not three base64url parts, or a header or claims that are not JSON.
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    /// `alg: none`: an unsigned token.
    #[error("the token is unsigned (alg none)")]
    Unsigned,
    /// `HS256` and the like: a shared secret, not the provider's key.
    #[error("the token's algorithm is symmetric (HS*); only asymmetric signatures are taken")]
    Symmetric,
    /// An algorithm not taken at all, or not the one of the named key.
    #[error("the token's algorithm is not one its key signs with")]
    AlgorithmMismatch,
    /// A `kid` the key set does not have.
    #[error("the token's key id (kid) is not in the key set")]
    UnknownKid,
    /// No `kid` while the key set has several keys.
    #[error("the token names no key id (kid) and the key set has several keys")]
    KidRequired,
    /// The signature does not verify.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is ahead (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `aud` is not the server's audience.
    #[error("the token is for another audience (aud)")]
    WrongAudience,
    /// `iss` is not the expected issuer (a placement ticket's is
    /// `framechain-center`).
    #[error("the token is from another issuer (iss)")]
    WrongIssuer,
    /// A claim that must be there is missing or empty.
    #[error("the token has no {0} claim")]
    MissingClaim(&'static str),
    /// A claim that is too long, has control characters, or (for `sub`
    /// and `room`, which are path segments) a `/`.
    #[error("the token's {0} claim is not a usable name")]
    BadClaim(&'static str),
}

/// The token's header, read before any key is chosen.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
}

/// The claims read from a token whose signature verified.
#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    role: Option<String>,
    room: Option<String>,
    exp: Option<serde_json::Number>,
    nbf: Option<serde_json::Number>,
    /// A placement ticket's action (`crate::ticket`); tokens ignore it.
    act: Option<String>,
    /// A placement ticket's id (`crate::ticket`); tokens ignore it.
    jti: Option<String>,
}

/// What a placement ticket carries beside [`Claims`].
pub(crate) struct TicketExtras {
    pub(crate) act: Option<String>,
    pub(crate) jti: Option<String>,
}

/// Verifies tokens against the key file (`--keys FILE`) and the audience
/// (`--audience`). The file is looked at for a change at most once a
/// second; a new version that is not a usable key set keeps the old keys
/// and logs one line. `Send + Sync`: one for all the HTTP handlers.
pub struct Verifier {
    audience: String,
    keys: RwLock<Arc<KeySet>>,
    watch: Watch,
    listener: Listener,
}

impl Verifier {
    /// Reads the key file; an unusable file is an error naming it.
    pub fn load(keys: &Path, audience: &str) -> Result<Verifier, IdentityError> {
        Verifier::load_watching(keys, audience, RELOAD_INTERVAL)
    }

    /// [`Verifier::load`], looking at the file every `interval` (tests).
    pub fn load_watching(
        keys: &Path,
        audience: &str,
        interval: Duration,
    ) -> Result<Verifier, IdentityError> {
        let stamp = Stamp::of(keys);
        let set = KeySet::read(keys)?;
        Ok(Verifier {
            audience: audience.to_owned(),
            keys: RwLock::new(Arc::new(set)),
            watch: Watch::new(keys, stamp, interval),
            listener: Listener::default(),
        })
    }

    /// Tells `listener` of every reload of the key file from now on: the
    /// new set's digest, or why it was refused. The listener runs on the
    /// thread that reloaded (a request's, or SIGHUP's): it must not block.
    pub fn on_reload(&self, listener: ReloadListener) {
        self.listener.set(listener);
    }

    /// SHA-256 of the key file in use, 64 lowercase hex digits.
    pub fn keys_digest(&self) -> String {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .digest
            .clone()
    }

    /// Reads the key file again now (SIGHUP). On an error the old keys
    /// stay and the error is returned (and logged).
    #[allow(dead_code)] // called on SIGHUP by the server's wiring (`rooms`)
    pub fn reload(&self) -> Result<(), IdentityError> {
        let stamp = Stamp::of(self.watch.path());
        self.watch.mark_tried(stamp);
        self.load_now()
    }

    fn load_now(&self) -> Result<(), IdentityError> {
        let (result, outcome) = match KeySet::read(self.watch.path()) {
            Ok(set) => {
                let count = set.keys.len();
                let digest = set.digest.clone();
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
                log::info!(
                    "{}: key set reloaded: {count} key(s) (sha256 {digest})",
                    self.watch.path().display()
                );
                (Ok(()), ReloadOutcome::Loaded { digest })
            }
            Err(error) => {
                log::warn!("{error}; the previous keys stay in use");
                let outcome = ReloadOutcome::Refused {
                    error: error.to_string(),
                    kept_digest: self.keys_digest(),
                };
                (Err(error), outcome)
            }
        };
        self.listener.tell(Reload {
            file: ReloadedFile::Keys,
            path: self.watch.path().to_owned(),
            outcome,
        });
        result
    }

    /// Looks at the key file (if it is time to) and reloads it if it
    /// changed, so that a reload, and its notice, do not wait for the
    /// next token. `serve` calls it a few times a second.
    pub fn refresh(&self) {
        let _ = self.current_keys();
    }

    fn current_keys(&self) -> Arc<KeySet> {
        if self.watch.changed(Instant::now()).is_some() {
            let _ = self.load_now();
        }
        Arc::clone(&self.keys.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Who the `Authorization` header's token says its holder is, at
    /// `now_unix` (seconds).
    pub fn verify(
        &self,
        authorization: Option<&[u8]>,
        now_unix: u64,
    ) -> Result<Claims, TokenRefused> {
        let header = authorization.ok_or(TokenRefused::Missing)?;
        const SCHEME: &[u8] = b"bearer ";
        if header.len() > SCHEME.len() + MAX_TOKEN_BYTES + 2 {
            return Err(TokenRefused::TooLarge);
        }
        if header.len() < SCHEME.len() || !header[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
            return Err(TokenRefused::NotBearer);
        }
        let token = std::str::from_utf8(&header[SCHEME.len()..])
            .map_err(|_| TokenRefused::Malformed("not ASCII"))?
            .trim_matches(' ');
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenRefused::TooLarge);
        }
        if token.is_empty() {
            return Err(TokenRefused::NotBearer);
        }
        self.verify_token(token, now_unix)
    }

    fn verify_token(&self, token: &str, now_unix: u64) -> Result<Claims, TokenRefused> {
        let keys = self.current_keys();
        check_token(&keys, token, &self.audience, None, LEEWAY_S, now_unix)
            .map(|(claims, _)| claims)
    }
}

/// Checks `token` against `keys`: its algorithm, its signature, its
/// audience (and issuer, when given), its times within `leeway_s` of
/// `now_unix`, and its names.
pub(crate) fn check_token(
    keys: &KeySet,
    token: &str,
    audience: &str,
    issuer: Option<&str>,
    leeway_s: u64,
    now_unix: u64,
) -> Result<(Claims, TicketExtras), TokenRefused> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenRefused::TooLarge);
    }
    let header = read_header(token)?;
    let algorithm = taken_algorithm(header.alg.as_deref())?;
    let key = keys
        .find(header.kid.as_deref())
        .map_err(|no_key| match no_key {
            NoKey::UnknownKid => TokenRefused::UnknownKid,
            NoKey::KidRequired => TokenRefused::KidRequired,
        })?;
    if !key.algorithms.contains(&algorithm) {
        return Err(TokenRefused::AlgorithmMismatch);
    }
    let mut validation = Validation::new(algorithm);
    // The times are checked below against the caller's clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation.set_audience(&[audience]);
    match issuer {
        Some(issuer) => {
            validation.set_issuer(&[issuer]);
            validation.set_required_spec_claims(&["aud", "iss"]);
        }
        None => validation.set_required_spec_claims(&["aud"]),
    }
    let data = jsonwebtoken::decode::<RawClaims>(token, &key.key, &validation)
        .map_err(|error| refused_by_library(error.kind()))?;
    let extras = TicketExtras {
        act: data.claims.act.clone(),
        jti: data.claims.jti.clone(),
    };
    Ok((claims(data.claims, now_unix, leeway_s)?, extras))
}

/// The header of a token, decoded just enough to choose the key.
fn read_header(token: &str) -> Result<RawHeader, TokenRefused> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRefused::Malformed("not three parts"));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenRefused::Malformed("the header is not base64url"))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| TokenRefused::Malformed("the header is not a JSON object"))
}

/// The header's algorithm if it is one taken at all.
fn taken_algorithm(alg: Option<&str>) -> Result<Algorithm, TokenRefused> {
    let alg = alg.ok_or(TokenRefused::Malformed("the header has no alg"))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(TokenRefused::Unsigned);
    }
    // Compared as bytes: the header is the sender's, and its second byte
    // may fall inside a character (slicing the text there panicked).
    if alg
        .as_bytes()
        .get(..2)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"HS"))
    {
        return Err(TokenRefused::Symmetric);
    }
    match alg {
        "EdDSA" => Ok(Algorithm::EdDSA),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        "PS256" => Ok(Algorithm::PS256),
        "PS384" => Ok(Algorithm::PS384),
        "PS512" => Ok(Algorithm::PS512),
        _ => Err(TokenRefused::AlgorithmMismatch),
    }
}

fn refused_by_library(kind: &ErrorKind) -> TokenRefused {
    match kind {
        ErrorKind::InvalidSignature => TokenRefused::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            TokenRefused::AlgorithmMismatch
        }
        ErrorKind::InvalidAudience => TokenRefused::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => TokenRefused::WrongAudience,
        ErrorKind::InvalidIssuer => TokenRefused::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => TokenRefused::WrongIssuer,
        ErrorKind::ExpiredSignature => TokenRefused::Expired,
        ErrorKind::ImmatureSignature => TokenRefused::NotYetValid,
        ErrorKind::Base64(_) => TokenRefused::Malformed("a part is not base64url"),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            TokenRefused::Malformed("the claims are not a JSON object of the expected types")
        }
        // A key the crypto library refuses (e.g. an RSA modulus under
        // 2048 bits) verifies nothing.
        _ => TokenRefused::BadSignature,
    }
}

/// The checked claims of a token whose signature verified.
fn claims(raw: RawClaims, now_unix: u64, leeway_s: u64) -> Result<Claims, TokenRefused> {
    let expires = raw
        .exp
        .ok_or(TokenRefused::MissingClaim("exp"))
        .and_then(|exp| seconds(&exp).ok_or(TokenRefused::Malformed("exp is not a time")))?;
    if expires.saturating_add(leeway_s) < now_unix {
        return Err(TokenRefused::Expired);
    }
    if let Some(nbf) = raw.nbf {
        let not_before = seconds(&nbf).ok_or(TokenRefused::Malformed("nbf is not a time"))?;
        if not_before > now_unix.saturating_add(leeway_s) {
            return Err(TokenRefused::NotYetValid);
        }
    }
    let sub = name(raw.sub, "sub", true)?.ok_or(TokenRefused::MissingClaim("sub"))?;
    let role = name(raw.role, "role", false)?.ok_or(TokenRefused::MissingClaim("role"))?;
    let room = name(raw.room, "room", true)?;
    Ok(Claims {
        sub,
        role,
        room,
        expires,
    })
}

/// A NumericDate (RFC 7519): seconds, possibly with a fraction.
fn seconds(number: &serde_json::Number) -> Option<u64> {
    if let Some(whole) = number.as_u64() {
        return Some(whole);
    }
    let float = number.as_f64()?;
    (float.is_finite() && float >= 0.0 && float < u64::MAX as f64).then_some(float as u64)
}

/// A name claim: empty counts as missing; too long, control characters,
/// or a `/` where the name is a path segment, is refused.
fn name(
    value: Option<String>,
    claim: &'static str,
    path_segment: bool,
) -> Result<Option<String>, TokenRefused> {
    let Some(value) = value.filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    let usable = value.len() <= MAX_CLAIM_BYTES
        && !value.chars().any(char::is_control)
        && !(path_segment && value.contains('/'));
    if usable {
        Ok(Some(value))
    } else {
        Err(TokenRefused::BadClaim(claim))
    }
}
