//! Key pairs and signed tokens, for `framechain keys new` and
//! `framechain token`: what a small clinic without an identity provider,
//! a demo or a test needs. Keys are made by `ring` and tokens signed by
//! `jsonwebtoken`; this file only chooses, encodes and names.
//!
//! A key's id (`kid`) is its RFC 7638 thumbprint, so `framechain token`
//! finds the same id from the private key that `keys new` wrote into the
//! JWKS.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use sha2::{Digest, Sha256};

use super::IdentityError;

/// The SubjectPublicKeyInfo DER before an Ed25519 public key's 32 bytes
/// (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// The SubjectPublicKeyInfo DER before a P-256 public point's 65 bytes
/// (RFC 5480: id-ecPublicKey, prime256v1).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Which kind of key pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519, signing EdDSA tokens (the default).
    Ed25519,
    /// NIST P-256, signing ES256 tokens.
    P256,
}

impl KeyKind {
    /// The token algorithm (`alg`) of this kind of key.
    pub fn algorithm_name(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "EdDSA",
            KeyKind::P256 => "ES256",
        }
    }
}

/// A private key that signs tokens.
pub struct SigningKey {
    /// Which algorithm the key signs with.
    pub kind: KeyKind,
    /// PKCS#8 DER.
    pkcs8: Vec<u8>,
    /// The public key: Ed25519's 32 bytes or P-256's uncompressed point.
    public: Vec<u8>,
}

impl SigningKey {
    /// A new random key.
    pub fn generate(kind: KeyKind) -> Result<SigningKey, IdentityError> {
        let rng = SystemRandom::new();
        let failed = |_| IdentityError::Token("the system's random source failed".into());
        let pkcs8 = match kind {
            KeyKind::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?,
            KeyKind::P256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(failed)?,
        };
        SigningKey::from_pkcs8(pkcs8.as_ref().to_vec())
            .map_err(|reason| IdentityError::Token(format!("a new key does not load: {reason}")))
    }

    /// The key of a PKCS#8 PEM file (`BEGIN PRIVATE KEY`).
    pub fn read_pem(path: &Path) -> Result<SigningKey, IdentityError> {
        let refused = |reason: &str| IdentityError::PrivateKey {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let text = std::fs::read(path).map_err(|source| IdentityError::Io {
            path: path.to_owned(),
            source,
        })?;
        let block = pem::parse(&text).map_err(|_| refused("not a PEM file"))?;
        match block.tag() {
            "PRIVATE KEY" => {}
            "EC PRIVATE KEY" => {
                return Err(refused(
                    "a SEC1 EC key; convert it with `openssl pkcs8 -topk8 -nocrypt`",
                ));
            }
            _ => {
                return Err(refused(
                    "not an unencrypted PKCS#8 private key (BEGIN PRIVATE KEY)",
                ));
            }
        }
        SigningKey::from_pkcs8(block.into_contents()).map_err(|reason| refused(&reason))
    }

    fn from_pkcs8(pkcs8: Vec<u8>) -> Result<SigningKey, String> {
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8) {
            let public = pair.public_key().as_ref().to_vec();
            return Ok(SigningKey {
                kind: KeyKind::Ed25519,
                pkcs8,
                public,
            });
        }
        let rng = SystemRandom::new();
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng) {
            let public = pair.public_key().as_ref().to_vec();
            return Ok(SigningKey {
                kind: KeyKind::P256,
                pkcs8,
                public,
            });
        }
        Err("neither an Ed25519 nor a P-256 key".into())
    }

    /// The private key as PKCS#8 PEM.
    pub fn private_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PRIVATE KEY", self.pkcs8.clone()))
    }

    /// The public key as SubjectPublicKeyInfo PEM.
    pub fn public_pem(&self) -> String {
        let prefix: &[u8] = match self.kind {
            KeyKind::Ed25519 => &ED25519_SPKI_PREFIX,
            KeyKind::P256 => &P256_SPKI_PREFIX,
        };
        pem::encode(&pem::Pem::new(
            "PUBLIC KEY",
            [prefix, &self.public].concat(),
        ))
    }

    /// The public key's JWK members that RFC 7638 hashes, in its order.
    fn thumbprint_members(&self) -> serde_json::Value {
        match self.kind {
            KeyKind::Ed25519 => serde_json::json!({
                "crv": "Ed25519", "kty": "OKP", "x": URL_SAFE_NO_PAD.encode(&self.public),
            }),
            KeyKind::P256 => serde_json::json!({
                "crv": "P-256", "kty": "EC",
                "x": URL_SAFE_NO_PAD.encode(&self.public[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&self.public[33..65]),
            }),
        }
    }

    /// The key's RFC 7638 thumbprint (SHA-256, base64url): its `kid`.
    pub fn thumbprint(&self) -> String {
        // serde_json's maps are ordered by key, which is RFC 7638's order,
        // and print no whitespace.
        let canonical = self.thumbprint_members().to_string();
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The public key as a JWK with `kid`, `use` and `alg`.
    pub fn public_jwk(&self, kid: &str) -> serde_json::Value {
        let mut jwk = self.thumbprint_members();
        let object = jwk.as_object_mut().expect("an object");
        object.insert("kid".into(), kid.into());
        object.insert("use".into(), "sig".into());
        object.insert("alg".into(), self.kind.algorithm_name().into());
        jwk
    }

    /// `claims` signed as a JWT whose header names `kid`.
    pub fn sign(&self, claims: &serde_json::Value, kid: &str) -> Result<String, IdentityError> {
        let (algorithm, key) = match self.kind {
            KeyKind::Ed25519 => (Algorithm::EdDSA, EncodingKey::from_ed_der(&self.pkcs8)),
            KeyKind::P256 => (Algorithm::ES256, EncodingKey::from_ec_der(&self.pkcs8)),
        };
        let mut header = Header::new(algorithm);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &key)
            .map_err(|error| IdentityError::Token(error.to_string()))
    }
}
