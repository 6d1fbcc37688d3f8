//! Handshakes between real DTLS stacks: this provider on both sides (RSA
//! against ECDSA), against str0m's own DTLS (dimpl) both ways, and inside
//! two real str0m connections; and hostile datagrams.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use str0m::crypto::dtls::{DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsVersion};
use str0m::crypto::dtls::{DtlsProvider, SrtpProfile};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig, RtcError};

use crate::instance::OpenSslDtlsProvider;

/// Shows this crate's log lines in a failing test's output.
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("framechain_dtls")
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{}: {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}

fn logging() {
    static STDERR: Stderr = Stderr;
    if log::set_logger(&STDERR).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

/// An RSA 2048 self-signed certificate, as GStreamer's webrtcbin makes.
fn rsa_certificate() -> DtlsCert {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "webrtcbin").unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    DtlsCert {
        certificate: builder.build().to_der().unwrap(),
        // PKCS#1, the algorithm's own form, not PKCS#8.
        private_key: key.rsa().unwrap().private_key_to_der().unwrap(),
    }
}

/// One end of a handshake and what it saw.
struct Side {
    dtls: Box<dyn DtlsInstance>,
    peer_certificate: Option<Vec<u8>>,
    keys: Option<(Vec<u8>, SrtpProfile)>,
    connected: bool,
    received: Vec<Vec<u8>>,
}

impl Side {
    fn new(provider: &dyn DtlsProvider, cert: &DtlsCert, active: bool, now: Instant) -> Side {
        logging();
        let mut dtls = provider
            .new_dtls(cert, now, DtlsVersion::Dtls12, Some(1150))
            .unwrap();
        dtls.set_active(active);
        Side {
            dtls,
            peer_certificate: None,
            keys: None,
            connected: false,
            received: Vec::new(),
        }
    }

    /// Takes this side's outputs until its timeout; returns its datagrams.
    fn poll(&mut self) -> Vec<Vec<u8>> {
        let mut buf = vec![0; 2000];
        let mut datagrams = Vec::new();
        for _ in 0..1000 {
            match self.dtls.poll_output(&mut buf) {
                DtlsOutput::Packet(packet) => datagrams.push(packet.to_vec()),
                DtlsOutput::PeerCert(der) => self.peer_certificate = Some(der.to_vec()),
                DtlsOutput::KeyingMaterial(material, profile) => {
                    self.keys = Some((material.to_vec(), profile))
                }
                DtlsOutput::Connected => self.connected = true,
                DtlsOutput::ApplicationData(data) => self.received.push(data.to_vec()),
                DtlsOutput::Timeout(_) => return datagrams,
                other => panic!("unexpected output {other:?}"),
            }
        }
        panic!("the outputs never stopped");
    }
}

/// Moves datagrams both ways until both are connected, at most 20 rounds.
fn handshake(client: &mut Side, server: &mut Side, now: Instant) -> Result<(), DtlsImplError> {
    client.dtls.handle_timeout(now)?;
    // str0m's own DTLS needs the time before its first datagram.
    server.dtls.handle_timeout(now)?;
    for _ in 0..20 {
        for datagram in client.poll() {
            server.dtls.handle_packet(&datagram)?;
        }
        for datagram in server.poll() {
            client.dtls.handle_packet(&datagram)?;
        }
        if client.connected && server.connected {
            client.poll();
            return Ok(());
        }
    }
    panic!("no handshake in 20 rounds");
}

fn ours() -> &'static dyn DtlsProvider {
    static PROVIDER: OpenSslDtlsProvider = OpenSslDtlsProvider;
    &PROVIDER
}

fn str0m_default() -> &'static dyn DtlsProvider {
    str0m::crypto::from_feature_flags().dtls_provider
}

/// Both saw each other's certificate, agreed on the keys, and carry data.
fn assert_connected(
    client: &mut Side,
    client_cert: &DtlsCert,
    server: &mut Side,
    server_cert: &DtlsCert,
) {
    assert_eq!(
        client.peer_certificate.as_deref(),
        Some(&server_cert.certificate[..])
    );
    assert_eq!(
        server.peer_certificate.as_deref(),
        Some(&client_cert.certificate[..])
    );
    let (client_keys, profile) = client.keys.clone().expect("client keys");
    assert_eq!(Some((client_keys.clone(), profile)), server.keys);
    assert_eq!(client_keys.len(), profile.keying_material_len());
    assert!(client_keys.iter().any(|&byte| byte != 0));

    assert_eq!(client.dtls.send_application_data(b"ping").unwrap(), 4);
    for datagram in client.poll() {
        server.dtls.handle_packet(&datagram).unwrap();
    }
    assert_eq!(server.dtls.send_application_data(b"pong").unwrap(), 4);
    for datagram in server.poll() {
        client.dtls.handle_packet(&datagram).unwrap();
    }
    client.poll();
    assert_eq!(server.received, vec![b"ping".to_vec()]);
    assert_eq!(client.received, vec![b"pong".to_vec()]);
}

#[test]
fn an_rsa_client_connects_to_our_ecdsa_server() {
    let now = Instant::now();
    let client_cert = rsa_certificate();
    let server_cert = ours().generate_certificate().unwrap();
    let mut client = Side::new(ours(), &client_cert, true, now);
    let mut server = Side::new(ours(), &server_cert, false, now);
    handshake(&mut client, &mut server, now).unwrap();
    assert_connected(&mut client, &client_cert, &mut server, &server_cert);
    // The server's preference among the profiles both offer.
    assert_eq!(client.keys.unwrap().1, SrtpProfile::AEAD_AES_256_GCM);
}

#[test]
fn our_client_connects_to_an_rsa_server() {
    let now = Instant::now();
    let client_cert = ours().generate_certificate().unwrap();
    let server_cert = rsa_certificate();
    let mut client = Side::new(ours(), &client_cert, true, now);
    let mut server = Side::new(ours(), &server_cert, false, now);
    handshake(&mut client, &mut server, now).unwrap();
    assert_connected(&mut client, &client_cert, &mut server, &server_cert);
}

#[test]
fn str0m_s_own_dtls_connects_to_ours_both_ways() {
    let now = Instant::now();
    let theirs = str0m_default().generate_certificate().unwrap();
    let mine = ours().generate_certificate().unwrap();

    let mut client = Side::new(str0m_default(), &theirs, true, now);
    let mut server = Side::new(ours(), &mine, false, now);
    handshake(&mut client, &mut server, now).unwrap();
    assert_connected(&mut client, &theirs, &mut server, &mine);

    let mut client = Side::new(ours(), &mine, true, now);
    let mut server = Side::new(str0m_default(), &theirs, false, now);
    handshake(&mut client, &mut server, now).unwrap();
    assert_connected(&mut client, &mine, &mut server, &theirs);
}

/// A fixed pseudo-random sequence (xorshift), so failures replay.
fn noise(seed: &mut u64, length: usize) -> Vec<u8> {
    (0..length)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

#[test]
fn garbage_records_are_dropped_and_the_handshake_still_completes() {
    let now = Instant::now();
    let client_cert = rsa_certificate();
    let server_cert = ours().generate_certificate().unwrap();
    let mut client = Side::new(ours(), &client_cert, true, now);
    let mut server = Side::new(ours(), &server_cert, false, now);
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    // Records of every content type with a wrong version, bad lengths,
    // random bodies, empty and oversized datagrams.
    let mut hostile = vec![Vec::new(), vec![0x16], vec![0; 70_000]];
    for index in 0..300 {
        let mut record = noise(&mut seed, 13 + index % 200);
        record[0] = [20, 21, 22, 23, 25][index % 5];
        if index % 3 == 0 {
            record[1..3].copy_from_slice(&[0xfe, 0xfd]);
        }
        hostile.push(record);
    }
    for (index, datagram) in hostile.iter().enumerate() {
        let bytes = &datagram[..datagram.len().min(16)];
        server
            .dtls
            .handle_packet(datagram)
            .unwrap_or_else(|error| panic!("{index} {bytes:?}: {error}"));
        assert!(server.poll().is_empty(), "answered garbage");
    }
    handshake(&mut client, &mut server, now).unwrap();
    // And once connected, garbage is still dropped.
    for datagram in &hostile {
        server.dtls.handle_packet(datagram).unwrap();
    }
    assert_connected(&mut client, &client_cert, &mut server, &server_cert);
}

#[test]
fn a_malformed_client_hello_is_an_error_not_a_panic() {
    let now = Instant::now();
    let server_cert = ours().generate_certificate().unwrap();
    let mut server = Side::new(ours(), &server_cert, false, now);
    // A DTLS 1.2 handshake record, epoch 0, whose ClientHello claims a
    // body far longer than the fragment and than any limit.
    let mut record = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let body = [1, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x20, 0xfe, 0xfd];
    let mut fragment = body.to_vec();
    fragment.extend(std::iter::repeat_n(0x41, 32));
    record[11..13].copy_from_slice(&(fragment.len() as u16).to_be_bytes());
    record.extend(&fragment);
    let first = server.dtls.handle_packet(&record);
    assert!(first.is_err(), "{first:?}");
    // The connection stays failed, without panics.
    assert!(server.dtls.handle_packet(&record).is_err());
    server.poll();
    assert!(
        server
            .dtls
            .handle_timeout(now + Duration::from_secs(1))
            .is_ok()
    );
}

#[test]
fn a_handshake_that_does_not_finish_times_out() {
    let now = Instant::now();
    let cert = ours().generate_certificate().unwrap();
    let mut client = Side::new(ours(), &cert, true, now);
    assert_eq!(client.poll().len(), 1, "one ClientHello");
    client
        .dtls
        .handle_timeout(now + Duration::from_secs(1))
        .unwrap();
    let late = now + crate::HANDSHAKE_TIMEOUT;
    assert!(matches!(
        client.dtls.handle_timeout(late),
        Err(DtlsImplError::Timeout(_))
    ));
    assert!(!client.connected);
}

/// Two str0m connections, each with this provider, wired through memory
/// with the direct API. `tamper` spoils the fingerprint the client
/// expects of the server. Returns the client's error, if any, and whether
/// both connected.
fn two_rtcs(tamper: bool) -> (Option<RtcError>, bool) {
    logging();
    let mut now = Instant::now();
    let build = |now| {
        RtcConfig::new()
            .set_crypto_provider(crate::crypto_provider())
            .build(now)
    };
    let mut rtcs: [Rtc; 2] = [build(now), build(now)];
    let addrs: [SocketAddr; 2] = [
        "127.0.0.1:41000".parse().unwrap(),
        "127.0.0.1:42000".parse().unwrap(),
    ];
    for (index, rtc) in rtcs.iter_mut().enumerate() {
        rtc.add_local_candidate(Candidate::host(addrs[index], "udp").unwrap());
        rtc.add_remote_candidate(Candidate::host(addrs[1 - index], "udp").unwrap());
    }
    let credentials = [
        rtcs[0].direct_api().local_ice_credentials(),
        rtcs[1].direct_api().local_ice_credentials(),
    ];
    let fingerprints = [
        rtcs[0].direct_api().local_dtls_fingerprint().clone(),
        rtcs[1].direct_api().local_dtls_fingerprint().clone(),
    ];
    for index in 0..2 {
        let mut api = rtcs[index].direct_api();
        api.set_remote_ice_credentials(credentials[1 - index].clone());
        api.set_ice_controlling(index == 0);
        let mut expected = fingerprints[1 - index].clone();
        if tamper && index == 0 {
            expected.bytes[0] ^= 1;
        }
        api.set_remote_fingerprint(expected);
        api.start_dtls(index == 0).unwrap();
    }
    let mut connected = [false; 2];
    for _ in 0..200 {
        let mut next = now + Duration::from_secs(1);
        for index in 0..2 {
            loop {
                let output = match rtcs[index].poll_output() {
                    Ok(output) => output,
                    Err(error) if index == 0 => return (Some(error), false),
                    Err(error) => panic!("server: {error}"),
                };
                match output {
                    Output::Timeout(at) => {
                        next = next.min(at);
                        break;
                    }
                    Output::Transmit(transmit) => {
                        let other = &mut rtcs[1 - index];
                        let contents = transmit.contents.to_vec();
                        let receive = Receive {
                            proto: Protocol::Udp,
                            source: transmit.source,
                            destination: transmit.destination,
                            contents: contents.as_slice().try_into().unwrap(),
                        };
                        if let Err(error) = other.handle_input(Input::Receive(now, receive)) {
                            if index == 1 {
                                return (Some(error), false);
                            }
                            panic!("server input: {error}");
                        }
                    }
                    Output::Event(Event::Connected) => connected[index] = true,
                    Output::Event(_) => {}
                }
            }
        }
        if connected == [true, true] {
            return (None, true);
        }
        now = next.max(now);
        for rtc in &mut rtcs {
            rtc.handle_input(Input::Timeout(now)).unwrap();
        }
    }
    (None, false)
}

#[test]
fn two_str0m_connections_with_this_provider_connect() {
    let (error, connected) = two_rtcs(false);
    assert!(error.is_none(), "{error:?}");
    assert!(connected);
}

#[test]
fn a_fingerprint_mismatch_ends_the_connection() {
    let (error, connected) = two_rtcs(true);
    assert!(!connected);
    let error = error.expect("an error");
    assert!(error.to_string().contains("fingerprint"), "{error}");
}

/// The CPU time of whole handshakes in memory, for docs/webrtc-stack.md:
/// `cargo test --release --workspace --lib -- --ignored handshake_times --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn handshake_times() {
    let median = |client: &dyn DtlsProvider, client_cert: &DtlsCert, server: &dyn DtlsProvider| {
        let server_cert = server.generate_certificate().unwrap();
        let mut times: Vec<Duration> = (0..21)
            .map(|_| {
                let now = Instant::now();
                let mut a = Side::new(client, client_cert, true, now);
                let mut b = Side::new(server, &server_cert, false, now);
                handshake(&mut a, &mut b, now).unwrap();
                now.elapsed()
            })
            .collect();
        times.sort();
        times[times.len() / 2]
    };
    let rsa = rsa_certificate();
    let ecdsa = ours().generate_certificate().unwrap();
    let theirs = str0m_default().generate_certificate().unwrap();
    eprintln!(
        "median handshake: RSA client (OpenSSL) -> ours {:?}; ECDSA client (OpenSSL) -> ours {:?}; \
         str0m's dimpl client -> ours {:?}; dimpl -> dimpl {:?}",
        median(ours(), &rsa, ours()),
        median(ours(), &ecdsa, ours()),
        median(str0m_default(), &theirs, ours()),
        median(str0m_default(), &theirs, str0m_default()),
    );
}
