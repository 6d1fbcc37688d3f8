//! The identity provider's public keys: a JWKS file (RFC 7517), read whole,
//! each key turned into a verifying key and the algorithms it may verify.
//! Only public asymmetric keys are taken: a symmetric (`oct`) key would let
//! anyone who can read the file sign tokens, and a private key has no
//! business on the server.

use std::collections::HashSet;
use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::{IdentityError, one_line};

/// Largest key file read: a JWKS of a few keys is a few KiB.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Most keys in one set.
const MAX_KEYS: usize = 64;

/// The RSA algorithms (an RSA key without `alg` may verify any of them;
/// ring refuses moduli under 2048 bits).
const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// One public key of the set.
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    /// The algorithms a token signed with this key may name.
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) key: DecodingKey,
}

/// The keys of one version of the file.
pub(crate) struct KeySet {
    pub(crate) keys: Vec<VerifyingKey>,
    /// SHA-256 of the set's text, 64 lowercase hex digits.
    pub(crate) digest: String,
}

/// Why a token's header names no key of the set.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoKey {
    /// The `kid` is not in the set.
    UnknownKid,
    /// No `kid`, and the set has more than one key.
    KidRequired,
}

impl KeySet {
    /// Reads and checks the key file.
    pub(crate) fn read(path: &Path) -> Result<KeySet, IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut text = String::new();
        use std::io::Read;
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(keys_error(path, format!("over {MAX_FILE_BYTES} bytes")));
        }
        KeySet::parse(&text).map_err(|reason| keys_error(path, reason))
    }

    /// Checks a key set's text; the error says what is wrong in one line.
    pub(crate) fn parse(text: &str) -> Result<KeySet, String> {
        let document: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
        let Some(list) = document.get("keys").and_then(|keys| keys.as_array()) else {
            return Err("no \"keys\" list".into());
        };
        if list.len() > MAX_KEYS {
            return Err(format!("more than {MAX_KEYS} keys"));
        }
        let mut keys = Vec::new();
        let mut kids = HashSet::new();
        for (index, value) in list.iter().enumerate() {
            let key = verifying_key(value).map_err(|reason| format!("key {index}: {reason}"))?;
            let Some(key) = key else { continue };
            if let Some(kid) = &key.kid
                && !kids.insert(kid.clone())
            {
                return Err(format!("key {index}: a second key with the same kid"));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("no signature-verifying key".into());
        }
        Ok(KeySet {
            keys,
            digest: super::reload::digest(text.as_bytes()),
        })
    }

    /// The key a token's header names.
    pub(crate) fn find(&self, kid: Option<&str>) -> Result<&VerifyingKey, NoKey> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid))
                .ok_or(NoKey::UnknownKid),
            None if self.keys.len() == 1 => Ok(&self.keys[0]),
            None => Err(NoKey::KidRequired),
        }
    }
}

fn keys_error(path: &Path, reason: String) -> IdentityError {
    IdentityError::Keys {
        path: path.to_owned(),
        reason: one_line(&reason, 300),
    }
}

/// The verifying key of one JWK, or `None` for a key that is not for
/// signatures (`"use": "enc"`, which identity providers publish beside
/// their signing keys).
fn verifying_key(value: &serde_json::Value) -> Result<Option<VerifyingKey>, String> {
    if value.get("d").is_some() {
        return Err("holds a private key (\"d\"); give only public keys".into());
    }
    if value.get("kty").and_then(|kty| kty.as_str()) == Some("oct") {
        return Err(
            "a symmetric key (kty \"oct\"); only public keys of asymmetric algorithms are taken"
                .into(),
        );
    }
    let jwk: Jwk = serde_json::from_value(value.clone())
        .map_err(|error| format!("not a usable JWK: {error}"))?;
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return Ok(None);
    }
    let (family, algorithms): (&str, Vec<Algorithm>) = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(params) => {
            if params.curve != EllipticCurve::Ed25519 {
                return Err("an OKP key of a curve other than Ed25519".into());
            }
            ("OKP", vec![Algorithm::EdDSA])
        }
        AlgorithmParameters::EllipticCurve(params) => match params.curve {
            EllipticCurve::P256 => ("EC", vec![Algorithm::ES256]),
            EllipticCurve::P384 => ("EC", vec![Algorithm::ES384]),
            _ => return Err("an EC key of a curve other than P-256 or P-384".into()),
        },
        AlgorithmParameters::RSA(_) => ("RSA", RSA_ALGORITHMS.to_vec()),
        AlgorithmParameters::OctetKey(_) => {
            return Err(
                "a symmetric key; only public keys of asymmetric algorithms are taken".into(),
            );
        }
    };
    let algorithms = match jwk.common.key_algorithm {
        None => algorithms,
        Some(named) => {
            let named = algorithm_of(named)
                .filter(|named| algorithms.contains(named))
                .ok_or_else(|| format!("its \"alg\" does not fit a key of type {family}"))?;
            vec![named]
        }
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|error| format!("not a usable key: {error}"))?;
    Ok(Some(VerifyingKey {
        kid: jwk.common.key_id.clone(),
        algorithms,
        key,
    }))
}

/// A JWK's `alg` as a signature algorithm, if it is one taken here.
fn algorithm_of(named: KeyAlgorithm) -> Option<Algorithm> {
    Some(match named {
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        _ => return None,
    })
}
