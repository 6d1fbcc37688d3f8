//! Entry points for the fuzz targets (`fuzz/`): the server's own path for
//! untrusted WebRTC input, without sockets or threads. Not a stable API.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive};
use str0m::{Input, Output};

use crate::auth::Role;

/// The media address the fuzzed calls pretend to have.
const SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);
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
/// call opened from `offer` as the media loop would, driving the call to
/// its next timeout after each and once a simulated second later. ICE is
/// completed first with a binding request signed with the answer's
/// password, as the peer at `PEER` (127.0.0.1:50000) would send, so the
/// fuzzed datagrams reach the DTLS server and the RTP/RTCP demultiplexer,
/// not only the STUN integrity check. Returns the number of datagrams the
/// call accepted.
pub fn datagrams(offer: &str, datagrams: &[u8]) -> usize {
    let start = Instant::now();
    let Ok(mut accepted) = crate::offer::accept(offer, Role::Publish, SERVER, true, start) else {
        return 0;
    };
    let rtc = &mut accepted.rtc;
    complete_ice(rtc, offer, &accepted.answer, start);
    let mut taken = 0;
    let mut rest = datagrams;
    let mut now = start;
    while rest.len() >= 2 && rtc.is_alive() {
        let length = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (datagram, tail) = rest[2..].split_at(length);
        rest = tail;
        now += Duration::from_millis(5);
        let Ok(contents) = datagram.try_into() else {
            continue;
        };
        let input = from_peer(now, contents);
        if !rtc.accepts(&input) {
            continue;
        }
        taken += 1;
        if rtc.handle_input(input).is_err() {
            break;
        }
        drain(rtc);
    }
    if rtc.is_alive()
        && rtc
            .handle_input(Input::Timeout(now + Duration::from_secs(1)))
            .is_ok()
    {
        drain(rtc);
    }
    taken
}

/// Sends the call the peer's signed, nominating binding request.
fn complete_ice(rtc: &mut str0m::Rtc, offer: &str, answer: &str, now: Instant) {
    let attribute = |sdp: &str, name: &str| {
        sdp.lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(str::to_owned)
    };
    let (Some(server_ufrag), Some(server_pwd), Some(peer_ufrag)) = (
        attribute(answer, "a=ice-ufrag:"),
        attribute(answer, "a=ice-pwd:"),
        attribute(offer, "a=ice-ufrag:"),
    ) else {
        return;
    };
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
    let Ok(length) = request.to_bytes(Some(server_pwd.as_bytes()), &mut buf, hmac) else {
        return;
    };
    let Ok(contents) = buf[..length].try_into() else {
        return;
    };
    let input = from_peer(now, contents);
    if rtc.accepts(&input) && rtc.handle_input(input).is_ok() {
        drain(rtc);
    }
}

/// Polls until the call waits for time, at most a bounded number of
/// outputs (a call cannot make the loop spin without end).
/// A datagram from the fuzzed peer to the server, as the media loop
/// hands it to str0m.
fn from_peer(now: Instant, contents: str0m::net::DatagramRecv<'_>) -> Input<'_> {
    Input::Receive(
        now,
        Receive {
            proto: Protocol::Udp,
            source: PEER,
            destination: SERVER,
            contents,
        },
    )
}

fn drain(rtc: &mut str0m::Rtc) {
    for _ in 0..10_000 {
        match rtc.poll_output() {
            Ok(Output::Timeout(_)) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
