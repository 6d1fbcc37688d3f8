//! Entry points for the fuzz targets (`fuzz/`): the server's own path for
//! untrusted WebRTC input, without sockets or threads (the offer parser
//! and the sans-IO call core the media loop runs). Not a stable API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::Role;
use crate::call::calls::{PublisherMedia, SessionKey};
use crate::call::core::{CallCore, CoreSettings, Input, NewCall, Output};
use crate::metrics::Metrics;

/// The media address the fuzzed calls pretend to have.
const SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);
/// The stream the fuzzed call publishes.
const STREAM: &str = "fuzz";
const PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 50000);

/// Takes `offer` as a publisher's and as a viewer's offer, exactly as
/// `POST /whip` and `POST /whep` do (after the size and token checks).
/// Returns how many of the two were accepted; panics when a refusal would
/// tell the client anything but one of the fixed texts.
pub fn offer(offer: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(offer) else {
        return 0;
    };
    [Role::Publish, Role::View]
        .into_iter()
        .filter(
            |role| match crate::offer::accept(text, *role, SERVER, true, Instant::now()) {
                Ok(_) => true,
                // What a client is told is one of the fixed texts, never
                // the parser's (which holds this process's addresses).
                Err(crate::offer::OfferError::Malformed(why)) => {
                    assert!(
                        why == crate::offer::MALFORMED_SDP || why == crate::offer::UNANSWERABLE_SDP,
                        "{why}"
                    );
                    false
                }
                Err(crate::offer::OfferError::NoH264) => false,
            },
        )
        .count()
}

/// Feeds `datagrams` (each prefixed by a 2-byte big-endian length) to a
/// real call core ([`crate::call::core::CallCore`], the media loop's own)
/// with one publisher's call opened from `offer`, time advancing 5 ms per
/// datagram and then a simulated second. ICE is completed first with a
/// binding request signed with the answer's password, as the peer at
/// `PEER` (127.0.0.1:50000) would send, so the fuzzed datagrams reach the
/// DTLS server and the RTP/RTCP demultiplexer, not only the STUN
/// integrity check. Returns the number of datagrams the core routed to
/// the call (those it did not count as unmatched).
pub fn datagrams(offer: &str, datagrams: &[u8]) -> usize {
    let start = Instant::now();
    let Ok(accepted) = crate::offer::accept(offer, Role::Publish, SERVER, true, start) else {
        return 0;
    };
    let metrics = Arc::new(Metrics::new());
    let mut core = CallCore::new(
        CoreSettings {
            streams: vec![STREAM.to_owned()],
            stage_names: Vec::new(),
            max_viewers: 1,
            idle_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_pending_offers_per_client: 4,
            congestion_control: true,
            metrics: metrics.clone(),
            start_health: Arc::default(),
        },
        start,
    );
    let binding = binding_request(offer, &accepted.answer);
    core.handle_input(
        start,
        Input::AddCall(Box::new(NewCall {
            stream: STREAM.to_owned(),
            resource: "fuzzed".to_owned(),
            rtc: accepted.rtc,
            mid: accepted.mid,
            audio_mid: accepted.audio_mid,
            media: Some(PublisherMedia::Session(SessionKey(1))),
            client: None,
        })),
    );
    drain(&mut core);
    if let Some(binding) = binding {
        core.handle_input(start, from_peer(&binding));
        drain(&mut core);
    }
    let unmatched = metrics.udp_unmatched.get();
    let mut fed = 0;
    let mut rest = datagrams;
    let mut now = start;
    while rest.len() >= 2 {
        let length = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (datagram, tail) = rest[2..].split_at(length);
        rest = tail;
        now += Duration::from_millis(5);
        fed += 1;
        core.handle_input(now, from_peer(datagram));
        drain(&mut core);
    }
    core.handle_input(now + Duration::from_secs(1), Input::Timeout);
    drain(&mut core);
    let refused = metrics.udp_unmatched.get() - unmatched;
    fed - refused as usize
}

/// The peer's signed, nominating binding request, which completes ICE.
fn binding_request(offer: &str, answer: &str) -> Option<Vec<u8>> {
    let attribute = |sdp: &str, name: &str| {
        sdp.lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(str::to_owned)
    };
    let server_ufrag = attribute(answer, "a=ice-ufrag:")?;
    let server_pwd = attribute(answer, "a=ice-pwd:")?;
    let peer_ufrag = attribute(offer, "a=ice-ufrag:")?;
    // The backend str0m itself falls back to when none is installed.
    let provider = str0m::crypto::from_feature_flags();
    let username = format!("{server_ufrag}:{peer_ufrag}");
    let request = str0m::ice::StunMessage::binding_request(
        &username,
        str0m::ice::TransId::new(),
        true,
        1,
        0x7e00_00ff,
        true,
    );
    let mut buf = [0u8; 512];
    let hmac =
        |key: &[u8], payloads: &[&[u8]]| provider.sha1_hmac_provider.sha1_hmac(key, payloads);
    let length = request
        .to_bytes(Some(server_pwd.as_bytes()), &mut buf, hmac)
        .ok()?;
    Some(buf[..length].to_vec())
}

/// A datagram from the fuzzed peer to the server.
fn from_peer(bytes: &[u8]) -> Input<'_> {
    Input::Datagram {
        source: PEER,
        destination: SERVER,
        bytes,
    }
}

/// Takes the core's outputs until it waits for time, at most a bounded
/// number (a call cannot make the loop spin without end).
fn drain(core: &mut CallCore) {
    for _ in 0..10_000 {
        if let Output::Timeout(_) = core.poll_output() {
            return;
        }
    }
}
