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
/// Returns how many of the two were accepted.
pub fn offer(offer: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(offer) else {
        return 0;
    };
    [Role::Publish, Role::View]
        .into_iter()
        .filter(|role| crate::offer::accept(text, *role, SERVER, Instant::now()).is_ok())
        .count()
}

/// Feeds `datagrams` (each prefixed by a 2-byte big-endian length) to a
/// call opened from `offer` as the media loop would, driving the call to
/// its next timeout after each and once a simulated second later. Returns
/// the number of datagrams the call accepted.
pub fn datagrams(offer: &str, datagrams: &[u8]) -> usize {
    let start = Instant::now();
    let Ok(mut accepted) = crate::offer::accept(offer, Role::Publish, SERVER, start) else {
        return 0;
    };
    let rtc = &mut accepted.rtc;
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
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: PEER,
                destination: SERVER,
                contents,
            },
        );
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

/// Polls until the call waits for time, at most a bounded number of
/// outputs (a call cannot make the loop spin without end).
fn drain(rtc: &mut str0m::Rtc) {
    for _ in 0..10_000 {
        match rtc.poll_output() {
            Ok(Output::Timeout(_)) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
