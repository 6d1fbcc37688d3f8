//! A crypto provider for [str0m] whose DTLS is the system's OpenSSL, so
//! that peers presenting an **RSA** certificate can connect.
//!
//! str0m's own DTLS (the `dimpl` crate) speaks only ECDSA; GStreamer's
//! `webrtcbin`, as Debian ships it, presents an RSA certificate and fails
//! the handshake there. This crate keeps everything else of str0m's
//! default provider (SRTP, SHA-1, SHA-256 and the STUN HMAC, from
//! aws-lc-rs) and replaces only the DTLS part:
//!
//! - DTLS 1.2 over OpenSSL (`libssl`, 3.0 on Debian bookworm), ECDHE with
//!   AES-GCM or ChaCha20-Poly1305, extended master secret, no
//!   renegotiation;
//! - peers with RSA or ECDSA certificates, always asked for one;
//! - our own certificate ECDSA P-256, which browsers accept;
//! - DTLS-SRTP (`use_srtp`) with `SRTP_AEAD_AES_256_GCM`,
//!   `SRTP_AEAD_AES_128_GCM` and `SRTP_AES128_CM_SHA1_80`, in that order
//!   of preference, and the keying material exported as RFC 5764 says;
//! - the peer's certificate handed to str0m, which checks it against the
//!   `a=fingerprint` of the SDP as it does with its own DTLS.
//!
//! Untrusted datagrams are bounded: OpenSSL limits handshake messages
//! (the certificate list to [`MAX_CERTIFICATE_LIST`] bytes) and the
//! number of out-of-order fragments it keeps, a handshake that is not
//! done within [`HANDSHAKE_TIMEOUT`] of str0m's clock fails, and every
//! error is returned, never a panic.
//!
//! ```
//! use std::time::Instant;
//!
//! let rtc = str0m::RtcConfig::new()
//!     .set_crypto_provider(framechain_dtls::crypto_provider())
//!     .build(Instant::now());
//! # drop(rtc);
//! ```
#![deny(missing_docs)]

mod certificate;
mod context;
mod datagrams;
mod failure;
mod instance;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use str0m::crypto::CryptoProvider;

/// How long a handshake may take, from the instance's creation (str0m
/// makes it with the call), on the clock str0m passes in: as long as
/// str0m's own DTLS allows.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(40);

/// The largest certificate list a peer may send, in bytes (OpenSSL's
/// default is 100 KiB; a WebRTC peer sends one self-signed certificate of
/// one or two KiB).
pub const MAX_CERTIFICATE_LIST: usize = 16 * 1024;

/// str0m's default crypto provider with its DTLS replaced by OpenSSL's.
///
/// Install it per connection with `RtcConfig::set_crypto_provider`. The
/// provider is made once per process and shared.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            static DTLS: instance::OpenSslDtlsProvider = instance::OpenSslDtlsProvider;
            Arc::new(CryptoProvider {
                dtls_provider: &DTLS,
                ..str0m::crypto::from_feature_flags()
            })
        })
        .clone()
}

#[cfg(test)]
mod tests;
