//! One str0m peer on its own UDP socket, driven on its own thread: the
//! client side of a WHIP or WHEP call (full ICE, controlling; the server
//! is ICE-lite).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::Error;
use crate::http::{self, Endpoint};

/// The longest the loop sleeps without looking at its stop flag.
const TICK: Duration = Duration::from_millis(20);

pub(crate) struct Peer {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    buf: Vec<u8>,
    pub mid: Mid,
}

/// A call that has an answer but whose ICE/DTLS has not run yet.
pub(crate) struct Negotiated {
    pub peer: Peer,
    pub resource: String,
}

impl Peer {
    /// Makes the offer (one H.264 video m-line in `direction`), posts it to
    /// `kind` and applies the answer.
    pub fn negotiate(
        endpoint: &Endpoint,
        kind: &str,
        direction: Direction,
    ) -> Result<Negotiated, Error> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let local = socket.local_addr()?;
        // H.264 only, so the answer can only pick H.264 (packetization
        // mode 1 and 0 are both offered by str0m's defaults).
        let mut rtc = RtcConfig::new()
            // The server's DTLS (OpenSSL), so a load test runs it on both ends.
            .set_crypto_provider(framechain_dtls::crypto_provider())
            .clear_codecs()
            .enable_h264(true)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(Instant::now());
        let candidate = Candidate::host(local, "udp").map_err(|e| Error::Rtc(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let mut change = rtc.sdp_api();
        let mid = change.add_media(MediaKind::Video, direction, None, None, None);
        let (offer, pending): (_, SdpPendingOffer) = change
            .apply()
            .ok_or_else(|| Error::Rtc("no offer to make".to_owned()))?;
        let (answer, resource) = http::post_offer(endpoint, kind, &offer.to_sdp_string())?;
        let answer = SdpAnswer::from_sdp_string(&answer)
            .map_err(|e| Error::Sdp(format!("the answer from {resource}: {e}")))?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| Error::Sdp(format!("the answer from {resource}: {e}")))?;
        Ok(Negotiated {
            peer: Peer {
                rtc,
                socket,
                local,
                buf: vec![0; 2000],
                mid,
            },
            resource,
        })
    }

    /// The payload type the answer chose for H.264, packetization mode 1.
    pub fn h264_pt(&mut self) -> Option<Pt> {
        let mid = self.mid;
        let writer = self.rtc.writer(mid)?;
        let params: Vec<_> = writer.payload_params().copied().collect();
        params
            .iter()
            .find(|p| {
                p.spec().codec == Codec::H264 && p.spec().format.packetization_mode == Some(1)
            })
            .or_else(|| params.iter().find(|p| p.spec().codec == Codec::H264))
            .map(|p| p.pt())
    }

    /// Drains the engine's output (transmitting what it sends, handing
    /// events to `on_event`) and returns its next deadline.
    pub fn drain(&mut self, on_event: &mut dyn FnMut(&mut Rtc, Event)) -> Result<Instant, Error> {
        loop {
            match self
                .rtc
                .poll_output()
                .map_err(|e| Error::Rtc(e.to_string()))?
            {
                Output::Timeout(deadline) => return Ok(deadline),
                Output::Transmit(transmit) => {
                    // A full socket buffer drops the datagram, as a network would.
                    let _ = self
                        .socket
                        .send_to(&transmit.contents, transmit.destination);
                }
                Output::Event(event) => on_event(&mut self.rtc, event),
            }
        }
    }

    /// Waits for one datagram or `deadline`, and feeds it (or the time) to
    /// the engine.
    pub fn wait(&mut self, deadline: Instant) -> Result<(), Error> {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), TICK);
        self.socket.set_read_timeout(Some(wait))?;
        self.buf.resize(2000, 0);
        let input = match self.socket.recv_from(&mut self.buf) {
            Ok((n, source)) => {
                let Ok(contents) = self.buf[..n].try_into() else {
                    // Not STUN, DTLS, RTP or RTCP: ignored.
                    return Ok(());
                };
                Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: self.local,
                        contents,
                    },
                )
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Input::Timeout(Instant::now())
            }
            Err(e) => return Err(e.into()),
        };
        self.rtc
            .handle_input(input)
            .map_err(|e| Error::Rtc(e.to_string()))
    }
}

/// Where a call is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallState {
    /// ICE and DTLS are running.
    Connecting,
    /// Media flows.
    Connected,
    /// Stopped by its owner, or (publisher) finished sending.
    Finished,
    /// ICE disconnected, or the engine failed; the reason.
    Ended(String),
}

/// Is ICE gone for good? str0m reports `Disconnected` when the peer stopped
/// answering its checks.
pub(crate) fn ice_gone(event: &Event) -> bool {
    matches!(
        event,
        Event::IceConnectionStateChange(IceConnectionState::Disconnected)
    )
}

/// A stop flag shared by the owner and the peer's thread.
#[derive(Clone, Default)]
pub(crate) struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
