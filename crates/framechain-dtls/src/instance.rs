//! One DTLS connection over OpenSSL, sans-IO: str0m hands in datagrams
//! and time, and polls out datagrams, events and the next timeout.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use foreign_types::ForeignTypeRef;
use openssl::ssl::{ErrorCode, Ssl, SslStream};
use str0m::crypto::CryptoError;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, KeyingMaterial,
    ProtocolVersion, SrtpProfile,
};

use crate::datagrams::Datagrams;
use crate::failure::{self, Doing};

/// `DTLS_CTRL_GET_TIMEOUT` and `DTLS_CTRL_HANDLE_TIMEOUT` (ssl.h macros
/// `DTLSv1_get_timeout` and `DTLSv1_handle_timeout`).
const DTLS_CTRL_GET_TIMEOUT: libc::c_int = 73;
const DTLS_CTRL_HANDLE_TIMEOUT: libc::c_int = 74;

/// The smallest MTU OpenSSL's DTLS works with; str0m's are far above.
const MIN_MTU: usize = 256;
/// The MTU when str0m gives none (its own default).
const DEFAULT_MTU: usize = 1150;
/// A datagram longer than this is no DTLS record of ours (the largest
/// record is 2^14 bytes of plaintext plus its expansion) and is dropped.
const MAX_DATAGRAM: usize = 18 * 1024;
/// Events (application data, mostly) that may wait for str0m's poll.
const MAX_EVENTS: usize = 64;
/// The read buffer for application data: one record's plaintext.
const MAX_PLAINTEXT: usize = 16 * 1024;
/// The timeout reported when nothing is timed: far, but not so far that
/// `Instant` arithmetic could overflow.
const IDLE: Duration = Duration::from_secs(24 * 60 * 60);

/// Makes [`OpenSslDtls`] connections and our certificates.
#[derive(Debug)]
pub(crate) struct OpenSslDtlsProvider;

impl DtlsProvider for OpenSslDtlsProvider {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        crate::certificate::generate()
            .map_err(|error| log::error!("DTLS certificate: {error}"))
            .ok()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        // OpenSSL 3.0 has no DTLS 1.3; "auto" then means DTLS 1.2.
        if dtls_version == DtlsVersion::Dtls13 {
            return Err(CryptoError::Other(
                "OpenSSL DTLS: DTLS 1.3 is not supported, only DTLS 1.2".to_owned(),
            ));
        }
        Ok(Box::new(OpenSslDtls::new(cert, now, mtu)?))
    }
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Made; str0m has not said yet which side it is.
    Unstarted,
    Handshaking,
    Connected,
    /// `close_notify` sent (or being sent).
    Closing,
    /// Closed by either side; nothing more is read or written.
    Closed,
    /// The handshake or a record failed; the error was returned.
    Failed,
}

/// What str0m polls besides datagrams and timeouts, in order.
enum Event {
    PeerCert(Vec<u8>),
    KeyingMaterial(KeyingMaterial, SrtpProfile),
    Connected,
    ApplicationData(Vec<u8>),
    CloseNotify,
}

/// One DTLS 1.2 connection over OpenSSL.
pub(crate) struct OpenSslDtls {
    /// The configured connection until str0m picks the side.
    unstarted: Option<Ssl>,
    /// The connection on its in-memory transport, once started.
    stream: Option<SslStream<Datagrams>>,
    phase: Phase,
    active: bool,
    events: VecDeque<Event>,
    /// The latest time str0m passed in.
    now: Instant,
    /// When an unfinished handshake fails.
    deadline: Instant,
}

impl std::fmt::Debug for OpenSslDtls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSslDtls")
            .field("phase", &self.phase)
            .field("active", &self.active)
            .finish()
    }
}

impl OpenSslDtls {
    fn new(cert: &DtlsCert, now: Instant, mtu: Option<usize>) -> Result<Self, CryptoError> {
        let context = crate::context::shared().map_err(CryptoError::Other)?;
        let (certificate, key) =
            crate::certificate::parse(cert).map_err(|e| failure::setup("certificate", e))?;
        let mut ssl = Ssl::new(context).map_err(|e| failure::setup("connection", e))?;
        ssl.set_certificate(&certificate)
            .map_err(|e| failure::setup("certificate", e))?;
        ssl.set_private_key(&key)
            .map_err(|e| failure::setup("private key", e))?;
        let mtu = mtu.unwrap_or(DEFAULT_MTU).clamp(MIN_MTU, u16::MAX.into());
        ssl.set_mtu(mtu as u32)
            .map_err(|e| failure::setup("MTU", e))?;
        Ok(OpenSslDtls {
            unstarted: Some(ssl),
            stream: None,
            phase: Phase::Unstarted,
            active: false,
            events: VecDeque::new(),
            now,
            deadline: now + crate::HANDSHAKE_TIMEOUT,
        })
    }

    /// Runs the handshake as far as the datagrams so far allow.
    fn handshake(&mut self) -> Result<(), DtlsImplError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        match stream.do_handshake() {
            Ok(()) => self.connected(),
            Err(error) if failure::would_block(&error) => Ok(()),
            Err(error) => Err(self.fail(Doing::Handshake, &error)),
        }
    }

    /// The handshake is done: the peer's certificate (str0m checks its
    /// fingerprint before anything else), the SRTP keys, then connected.
    fn connected(&mut self) -> Result<(), DtlsImplError> {
        let Some(stream) = self.stream.as_ref() else {
            return Ok(());
        };
        let ssl = stream.ssl();
        let peer = ssl.peer_certificate().and_then(|c| c.to_der().ok());
        let profile = ssl
            .selected_srtp_profile()
            .and_then(|profile| srtp_profile(profile.name()));
        let (Some(peer), Some(profile)) = (peer, profile) else {
            // Both are mandatory in WebRTC; OpenSSL makes the first so
            // (FAIL_IF_NO_PEER_CERT), the peer may omit use_srtp.
            log::info!("DTLS (OpenSSL): the peer negotiated no certificate or no SRTP profile");
            self.phase = Phase::Failed;
            return Err(DtlsImplError::CryptoError(
                dimpl::CryptoError::OperationFailed(
                    dimpl::CryptoOperation::ExtractSrtpKeyingMaterial,
                ),
            ));
        };
        let mut material = vec![0; profile.keying_material_len()];
        if let Err(error) = ssl.export_keying_material(&mut material, "EXTRACTOR-dtls_srtp", None) {
            log::info!("DTLS (OpenSSL): keying material export failed: {error}");
            self.phase = Phase::Failed;
            return Err(DtlsImplError::CryptoError(
                dimpl::CryptoError::OperationFailed(
                    dimpl::CryptoOperation::ExtractSrtpKeyingMaterial,
                ),
            ));
        }
        self.events.push_back(Event::PeerCert(peer));
        self.events.push_back(Event::KeyingMaterial(
            KeyingMaterial::new(&material),
            profile,
        ));
        self.events.push_back(Event::Connected);
        self.phase = Phase::Connected;
        // Application data may have come in the same datagram as Finished.
        self.read_application_data()
    }

    /// Takes every record OpenSSL can decrypt now.
    fn read_application_data(&mut self) -> Result<(), DtlsImplError> {
        let mut buf = vec![0; MAX_PLAINTEXT];
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(());
            };
            match stream.ssl_read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(length) => {
                    if self.events.len() >= MAX_EVENTS {
                        self.phase = Phase::Failed;
                        return Err(DtlsImplError::ReceiveQueueFull);
                    }
                    self.events
                        .push_back(Event::ApplicationData(buf[..length].to_vec()));
                }
                Err(error) if failure::would_block(&error) => return Ok(()),
                Err(error) if error.code() == ErrorCode::ZERO_RETURN => {
                    self.events.push_back(Event::CloseNotify);
                    self.phase = Phase::Closed;
                    return Ok(());
                }
                Err(error) => return Err(self.fail(Doing::Reading, &error)),
            }
        }
    }

    fn fail(&mut self, doing: Doing, error: &openssl::ssl::Error) -> DtlsImplError {
        self.phase = Phase::Failed;
        failure::from_openssl(doing, error)
    }

    fn outgoing(&mut self) -> Option<&mut VecDeque<Vec<u8>>> {
        self.stream
            .as_mut()
            .map(|stream| &mut stream.get_mut().outgoing)
    }

    /// OpenSSL's retransmission timer: how long until it fires, if it runs.
    /// OpenSSL times it on its own clock; the handshake's deadline is on
    /// str0m's.
    fn retransmit_in(&self) -> Option<Duration> {
        let stream = self.stream.as_ref()?;
        let mut left = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: the SSL pointer is valid while `stream` lives; the
        // control writes one `struct timeval` through the pointer.
        let running = unsafe {
            openssl_sys::SSL_ctrl(
                stream.ssl().as_ptr(),
                DTLS_CTRL_GET_TIMEOUT,
                0,
                (&mut left as *mut libc::timeval).cast(),
            )
        };
        (running == 1).then(|| {
            Duration::from_secs(left.tv_sec.max(0) as u64)
                + Duration::from_micros(left.tv_usec.max(0) as u64)
        })
    }

    fn next_timeout(&self) -> Instant {
        match self.phase {
            Phase::Handshaking => match self.retransmit_in() {
                Some(left) => (self.now + left).min(self.deadline),
                None => self.deadline,
            },
            _ => self.now + IDLE,
        }
    }
}

/// str0m's name for the profile OpenSSL negotiated.
fn srtp_profile(name: &str) -> Option<SrtpProfile> {
    match name {
        "SRTP_AES128_CM_SHA1_80" => Some(SrtpProfile::AES128_CM_SHA1_80),
        "SRTP_AEAD_AES_128_GCM" => Some(SrtpProfile::AEAD_AES_128_GCM),
        "SRTP_AEAD_AES_256_GCM" => Some(SrtpProfile::AEAD_AES_256_GCM),
        _ => None,
    }
}

impl DtlsInstance for OpenSslDtls {
    fn set_active(&mut self, active: bool) {
        let Some(mut ssl) = self.unstarted.take() else {
            return;
        };
        self.active = active;
        if active {
            ssl.set_connect_state();
        } else {
            ssl.set_accept_state();
        }
        match SslStream::new(ssl, Datagrams::default()) {
            Ok(stream) => {
                self.stream = Some(stream);
                self.phase = Phase::Handshaking;
                if active {
                    // The ClientHello goes out now; its error, if any,
                    // comes back with the next datagram or timeout.
                    if let Err(error) = self.handshake() {
                        log::info!("DTLS (OpenSSL): the ClientHello failed: {error}");
                    }
                }
            }
            Err(error) => {
                log::error!("DTLS (OpenSSL): no transport: {error}");
                self.phase = Phase::Failed;
            }
        }
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        // An empty read would be end-of-file to OpenSSL, not a datagram.
        if packet.is_empty() || packet.len() > MAX_DATAGRAM {
            log::debug!("DTLS (OpenSSL): dropped a {}-byte datagram", packet.len());
            return Ok(());
        }
        match self.phase {
            Phase::Handshaking | Phase::Connected | Phase::Closing => {}
            Phase::Unstarted | Phase::Closed => return Ok(()),
            Phase::Failed => {
                return Err(DtlsImplError::CryptoError(
                    dimpl::CryptoError::OperationFailed(dimpl::CryptoOperation::Decrypt),
                ));
            }
        }
        if let Some(stream) = self.stream.as_mut() {
            let incoming = &mut stream.get_mut().incoming;
            incoming.clear();
            incoming.push_back(packet.to_vec());
        }
        let result = match self.phase {
            Phase::Handshaking => self.handshake(),
            _ => self.read_application_data(),
        };
        // What OpenSSL did not read (it ignores some datagrams whole) is
        // not kept.
        if let Some(stream) = self.stream.as_mut() {
            stream.get_mut().incoming.clear();
        }
        result
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        if let Some(outgoing) = self.outgoing()
            && let Some(datagram) = outgoing.front()
        {
            let length = datagram.len();
            if length > buf.len() {
                return DtlsOutput::BufferTooSmall { needed: length };
            }
            buf[..length].copy_from_slice(datagram);
            outgoing.pop_front();
            return DtlsOutput::Packet(&buf[..length]);
        }
        if let Some(event) = self.events.front() {
            let bytes = match event {
                Event::PeerCert(bytes) | Event::ApplicationData(bytes) => Some(bytes.len()),
                _ => None,
            };
            if let Some(length) = bytes
                && length > buf.len()
            {
                return DtlsOutput::BufferTooSmall { needed: length };
            }
            match self.events.pop_front() {
                Some(Event::PeerCert(der)) => {
                    buf[..der.len()].copy_from_slice(&der);
                    return DtlsOutput::PeerCert(&buf[..der.len()]);
                }
                Some(Event::ApplicationData(data)) => {
                    buf[..data.len()].copy_from_slice(&data);
                    return DtlsOutput::ApplicationData(&buf[..data.len()]);
                }
                Some(Event::KeyingMaterial(material, profile)) => {
                    return DtlsOutput::KeyingMaterial(material, profile);
                }
                Some(Event::Connected) => return DtlsOutput::Connected,
                Some(Event::CloseNotify) => return DtlsOutput::CloseNotify,
                None => {}
            }
        }
        DtlsOutput::Timeout(self.next_timeout())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.now = self.now.max(now);
        if self.phase != Phase::Handshaking {
            return Ok(());
        }
        if self.now >= self.deadline {
            log::info!(
                "DTLS (OpenSSL): no handshake within {:?}",
                crate::HANDSHAKE_TIMEOUT
            );
            self.phase = Phase::Failed;
            return Err(DtlsImplError::Timeout(dimpl::TimeoutError::Handshake));
        }
        let Some(stream) = self.stream.as_ref() else {
            return Ok(());
        };
        // SAFETY: the SSL pointer is valid while `stream` lives; the
        // control takes no argument. It resends the last flight when
        // OpenSSL's timer has fired, and fails after too many tries.
        let handled = unsafe {
            openssl_sys::SSL_ctrl(
                stream.ssl().as_ptr(),
                DTLS_CTRL_HANDLE_TIMEOUT,
                0,
                std::ptr::null_mut(),
            )
        };
        if handled < 0 {
            log::info!("DTLS (OpenSSL): the handshake gave up after its retransmissions");
            self.phase = Phase::Failed;
            return Err(DtlsImplError::Timeout(dimpl::TimeoutError::Handshake));
        }
        Ok(())
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        match self.phase {
            Phase::Unstarted | Phase::Handshaking => return Ok(0),
            Phase::Connected => {}
            Phase::Closing | Phase::Closed | Phase::Failed => {
                return Err(DtlsImplError::ConnectionClosed);
            }
        }
        if data.is_empty() {
            return Ok(0);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(0);
        };
        match stream.ssl_write(data) {
            Ok(written) => Ok(written),
            Err(error) if failure::would_block(&error) => Ok(0),
            Err(error) => Err(self.fail(Doing::Writing, &error)),
        }
    }

    fn is_active(&self) -> bool {
        self.active
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        matches!(self.phase, Phase::Connected | Phase::Closing).then_some(ProtocolVersion::DTLS1_2)
    }

    fn is_closing(&self) -> bool {
        self.phase == Phase::Closing
            && self
                .stream
                .as_ref()
                .is_some_and(|stream| !stream.get_ref().outgoing.is_empty())
    }

    fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closing | Phase::Closed | Phase::Failed)
            && self
                .stream
                .as_ref()
                .is_none_or(|stream| stream.get_ref().outgoing.is_empty())
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        match self.phase {
            Phase::Connected => {
                self.phase = Phase::Closing;
                let Some(stream) = self.stream.as_mut() else {
                    return Ok(());
                };
                match stream.shutdown() {
                    Ok(_) => Ok(()),
                    Err(error) if failure::would_block(&error) => Ok(()),
                    Err(error) => Err(self.fail(Doing::Closing, &error)),
                }
            }
            Phase::Unstarted | Phase::Handshaking => {
                self.phase = Phase::Closed;
                Ok(())
            }
            Phase::Closing | Phase::Closed | Phase::Failed => Ok(()),
        }
    }
}
