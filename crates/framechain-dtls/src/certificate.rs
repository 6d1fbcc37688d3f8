//! Our own certificate: self-signed ECDSA P-256, as browsers make theirs.
//! WebRTC does not check names or chains; the SDP's fingerprint pins it.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509NameBuilder};
use str0m::crypto::dtls::DtlsCert;

/// Days before now the certificate is valid from, for peers whose clock
/// is behind ours.
const VALID_BEFORE_DAYS: u32 = 1;
/// Days from now the certificate stays valid (a call is far shorter).
const VALID_DAYS: u32 = 30;

/// A new key pair and its self-signed certificate, both DER (the key as
/// PKCS#8).
pub(crate) fn generate() -> Result<DtlsCert, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, "framechain")?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(63, MsbOption::MAYBE_ZERO, false)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0);
    let not_before = now.saturating_sub(u64::from(VALID_BEFORE_DAYS) * 86_400);
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let not_before = Asn1Time::from_unix(not_before.try_into().unwrap_or(0))?;
    let not_after = Asn1Time::days_from_now(VALID_DAYS)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.sign(&key, MessageDigest::sha256())?;
    Ok(DtlsCert {
        certificate: builder.build().to_der()?,
        private_key: key.private_key_to_pkcs8()?,
    })
}

/// The certificate and key of `cert` as OpenSSL takes them. The key may be
/// PKCS#8 or the algorithm's own DER form (str0m's other providers use
/// either).
pub(crate) fn parse(cert: &DtlsCert) -> Result<(X509, PKey<Private>), ErrorStack> {
    let certificate = X509::from_der(&cert.certificate)?;
    let key = PKey::private_key_from_pkcs8(&cert.private_key)
        .or_else(|_| PKey::private_key_from_der(&cert.private_key))?;
    Ok((certificate, key))
}
