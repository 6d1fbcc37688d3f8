//! What `framechain keys new`, `framechain token` and `framechain policy
//! test` do, for the command line (`crates/framechain-cli`) to call.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use super::keys::KeyKind;
use super::keys::SigningKey;
use super::{Decision, IdentityError, Policy, Verifier};

/// The files `framechain keys new DIR` wrote.
#[derive(Debug)]
pub struct NewKeys {
    /// `DIR/private.pem`: PKCS#8, mode 0600. It signs tokens; it never goes
    /// on the server.
    pub private: PathBuf,
    /// `DIR/public.pem`: SubjectPublicKeyInfo.
    pub public: PathBuf,
    /// `DIR/jwks.json`: the public key as a JWKS, for `serve --keys`.
    pub jwks: PathBuf,
    /// The key's id (`kid`): its RFC 7638 thumbprint.
    pub kid: String,
}

/// Makes a key pair in `dir` (created if missing). Refuses to overwrite
/// any of the three files.
pub fn new_keys(dir: &Path, kind: KeyKind) -> Result<NewKeys, IdentityError> {
    let files = NewKeys {
        private: dir.join("private.pem"),
        public: dir.join("public.pem"),
        jwks: dir.join("jwks.json"),
        kid: String::new(),
    };
    for path in [&files.private, &files.public, &files.jwks] {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(IdentityError::Exists { path: path.clone() });
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| IdentityError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let key = SigningKey::generate(kind)?;
    let kid = key.thumbprint();
    let jwks = serde_json::json!({ "keys": [key.public_jwk(&kid)] });
    let jwks = serde_json::to_string_pretty(&jwks).expect("JSON") + "\n";
    write_new(&files.private, key.private_pem().as_bytes(), 0o600)?;
    write_new(&files.public, key.public_pem().as_bytes(), 0o644)?;
    write_new(&files.jwks, jwks.as_bytes(), 0o644)?;
    Ok(NewKeys { kid, ..files })
}

/// Writes a file that must not exist yet, with `mode` from the start (the
/// private key is never readable by others, not even for a moment).
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => IdentityError::Exists {
                path: path.to_owned(),
            },
            _ => io(source),
        })?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// What `framechain token` signs.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The private key (PKCS#8 PEM, Ed25519 or P-256).
    pub key: PathBuf,
    /// The participant's id (`sub`).
    pub sub: String,
    /// The participant's role (`role`).
    pub role: String,
    /// The one room the token is for (`room`), if any.
    pub room: Option<String>,
    /// Seconds from `now_unix` to `exp`.
    pub ttl_s: u64,
    /// `aud`.
    pub audience: String,
    /// `kid`; the key's thumbprint (what `keys new` wrote) when `None`.
    pub kid: Option<String>,
    /// The issue time (`iat`, `nbf`), Unix seconds.
    pub now_unix: u64,
}

/// A signed JWT: EdDSA for an Ed25519 key, ES256 for a P-256 key.
pub fn make_token(request: &TokenRequest) -> Result<String, IdentityError> {
    let key = SigningKey::read_pem(&request.key)?;
    let kid = request.kid.clone().unwrap_or_else(|| key.thumbprint());
    let expires = request
        .now_unix
        .checked_add(request.ttl_s)
        .ok_or_else(|| IdentityError::Token("--ttl is too large".into()))?;
    let mut claims = serde_json::json!({
        "sub": request.sub,
        "role": request.role,
        "aud": request.audience,
        "iat": request.now_unix,
        "nbf": request.now_unix,
        "exp": expires,
    });
    if let Some(room) = &request.room {
        claims["room"] = room.clone().into();
    }
    key.sign(&claims, &kid)
}

/// What a token verified as, for troubleshooting and tests: `sub`, `role`
/// and `room` as `serve` would take them, or its one-line refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `sub`.
    pub sub: String,
    /// `role`.
    pub role: String,
    /// `room`, if the token names one.
    pub room: Option<String>,
    /// `exp`, Unix seconds.
    pub expires: u64,
}

/// Checks `token` as `framechain serve --keys KEYS --audience AUDIENCE`
/// would at `now_unix`; the error is the line `serve` answers 401 with.
pub fn verify_token(
    keys: &Path,
    audience: &str,
    token: &str,
    now_unix: u64,
) -> Result<Result<VerifiedToken, String>, IdentityError> {
    let verifier = Verifier::load(keys, audience)?;
    let header = format!("Bearer {token}");
    Ok(verifier
        .verify(Some(header.as_bytes()), now_unix)
        .map(|claims| VerifiedToken {
            sub: claims.sub,
            role: claims.role,
            room: claims.room,
            expires: claims.expires,
        })
        .map_err(|refused| refused.to_string()))
}

/// The decision of the policy of `policy` (the default policy when `None`)
/// on `input`, a JSON object (docs/visits.md).
pub fn test_policy(policy: Option<&Path>, input: &str) -> Result<Decision, IdentityError> {
    let input: serde_json::Value =
        serde_json::from_str(input).map_err(|error| IdentityError::Input(error.to_string()))?;
    if !input.is_object() {
        return Err(IdentityError::Input("a JSON object is expected".into()));
    }
    let policy = match policy {
        Some(path) => Policy::load(path)?,
        None => Policy::default_policy(),
    };
    Ok(policy.decide(&input))
}
