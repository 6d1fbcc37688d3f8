//! OpenSSL's failures as the error type str0m's DTLS interface carries
//! (`dimpl::Error`), each logged once as one line with OpenSSL's reason.

use dimpl::{CertificateError, CryptoError, CryptoOperation, SecurityError, TimeoutError};
use openssl::ssl::{Error, ErrorCode};
use str0m::crypto::dtls::DtlsImplError;

/// OpenSSL's reason code for a received alert is this plus the alert's
/// description (`SSL_AD_REASON_OFFSET`).
const ALERT_REASON_OFFSET: i32 = 1000;
/// `SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE`.
const PEER_DID_NOT_RETURN_A_CERTIFICATE: i32 = 199;
/// `SSL_R_NO_SHARED_CIPHER`.
const NO_SHARED_CIPHER: i32 = 193;
/// `SSL_R_READ_TIMEOUT_EXPIRED`: too many retransmissions.
const READ_TIMEOUT_EXPIRED: i32 = 312;

/// What was being done when OpenSSL failed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Doing {
    Handshake,
    Reading,
    Writing,
    Closing,
}

impl Doing {
    fn operation(self) -> CryptoOperation {
        match self {
            Doing::Handshake => CryptoOperation::CompleteKeyExchange,
            Doing::Reading => CryptoOperation::Decrypt,
            Doing::Writing | Doing::Closing => CryptoOperation::Encrypt,
        }
    }
}

/// Whether `error` only means "more datagrams are needed first".
pub(crate) fn would_block(error: &Error) -> bool {
    matches!(error.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE)
}

/// `error`, which is not [`would_block`], as str0m's DTLS error.
pub(crate) fn from_openssl(doing: Doing, error: &Error) -> DtlsImplError {
    let reasons = error.ssl_error().map(|stack| stack.errors()).unwrap_or(&[]);
    log::info!(
        "DTLS (OpenSSL) {doing:?} failed: {}",
        reasons
            .first()
            .and_then(|reason| reason.reason())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{error}"))
    );
    for reason in reasons {
        let code = reason.reason_code();
        if (ALERT_REASON_OFFSET..ALERT_REASON_OFFSET + 256).contains(&code) {
            return DtlsImplError::SecurityError(SecurityError::FatalAlert {
                description: (code - ALERT_REASON_OFFSET) as u8,
            });
        }
        match code {
            PEER_DID_NOT_RETURN_A_CERTIFICATE => {
                return DtlsImplError::CertificateError(
                    CertificateError::NoClientCertificateReceived,
                );
            }
            NO_SHARED_CIPHER => {
                return DtlsImplError::SecurityError(
                    SecurityError::NoMutuallyAcceptableCipherSuite,
                );
            }
            READ_TIMEOUT_EXPIRED => return DtlsImplError::Timeout(TimeoutError::Handshake),
            _ => {}
        }
    }
    DtlsImplError::CryptoError(CryptoError::OperationFailed(doing.operation()))
}

/// OpenSSL's refusal of a setting, for `new_dtls`.
pub(crate) fn setup(what: &str, error: impl std::fmt::Display) -> str0m::crypto::CryptoError {
    str0m::crypto::CryptoError::Other(format!("OpenSSL DTLS {what}: {error}"))
}
