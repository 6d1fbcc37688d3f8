//! The OpenSSL settings every DTLS connection shares, made once.

use std::sync::OnceLock;

use openssl::error::ErrorStack;
use openssl::ssl::{SslContext, SslMethod, SslOptions, SslVerifyMode, SslVersion};

/// ECDHE with AEAD ciphers only, ECDSA (our certificate and browsers') and
/// RSA (a server of that kind when we are the client). Forward secret.
const CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
    ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:\
    ECDHE-RSA-CHACHA20-POLY1305";

/// The DTLS-SRTP profiles offered, most preferred first. OpenSSL's server
/// picks by its own order among those the client offers.
const SRTP_PROFILES: &str = "SRTP_AEAD_AES_256_GCM:SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";

/// `SSL_CTRL_SET_MAX_CERT_LIST` (a macro in ssl.h, so not in openssl-sys).
const SSL_CTRL_SET_MAX_CERT_LIST: libc::c_int = 51;

/// The shared context, or OpenSSL's refusal as one line.
pub(crate) fn shared() -> Result<&'static SslContext, String> {
    static CONTEXT: OnceLock<Result<SslContext, String>> = OnceLock::new();
    CONTEXT
        .get_or_init(|| build().map_err(|error| format!("OpenSSL DTLS context: {error}")))
        .as_ref()
        .map_err(Clone::clone)
}

fn build() -> Result<SslContext, ErrorStack> {
    let mut context = SslContext::builder(SslMethod::dtls())?;
    context.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
    context.set_max_proto_version(Some(SslVersion::DTLS1_2))?;
    context.set_cipher_list(CIPHERS)?;
    context.set_groups_list("X25519:P-256:P-384")?;
    context.set_tlsext_use_srtp(SRTP_PROFILES)?;
    // The MTU is str0m's (set per connection), never asked of the socket
    // (there is none); no renegotiation; a fresh ECDHE key per handshake.
    context.set_options(
        SslOptions::NO_QUERY_MTU | SslOptions::NO_RENEGOTIATION | SslOptions::SINGLE_ECDH_USE,
    );
    // Both sides must present a certificate. Its chain is not checked
    // (WebRTC certificates are self-signed): str0m compares its digest
    // with the SDP's a=fingerprint when the handshake has run. OpenSSL
    // still checks that the peer holds the certificate's key
    // (CertificateVerify, ServerKeyExchange).
    context.set_verify_callback(
        SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
        |_chain_ok, _store| true,
    );
    // SAFETY: the context pointer is valid for the builder's life; the
    // call sets a number (SSL_CTX_set_max_cert_list).
    unsafe {
        openssl_sys::SSL_CTX_ctrl(
            context.as_ptr(),
            SSL_CTRL_SET_MAX_CERT_LIST,
            crate::MAX_CERTIFICATE_LIST as libc::c_long,
            std::ptr::null_mut(),
        );
    }
    Ok(context.build())
}
