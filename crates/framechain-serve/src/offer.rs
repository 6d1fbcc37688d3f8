//! Taking an SDP offer: the WebRTC stack parses it (the one place the host
//! reads untrusted bytes outside a sandbox, in a maintained crate), and the
//! call it opens must carry H.264 video in the direction its role needs
//! (a viewer may take Opus audio alone instead). Opus audio (48 kHz,
//! in-band FEC, DTX, and RFC 2198 `red` where offered) is accepted beside
//! it; an offer without audio, or whose audio is refused, is a video call
//! as before.
//!
//! Lip sync: a viewer's answer gives its audio and video one `msid`
//! stream id, so that the browser plays them as one media stream and
//! synchronises them by their sender reports ([`one_media_stream`]).

use std::time::Instant;

use str0m::bwe::Bitrate;
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::{Candidate, Rtc, RtcConfig};

use crate::auth::Role;
use framechain::text::untrusted;

/// The longest SDP error written to the server's log (it may quote the
/// offer's bytes). Never sent to the client: see [`OfferError::Malformed`].
const MAX_ERROR_CHARS: usize = 200;

/// What a client whose offer could not be parsed is told, whatever the
/// parser said.
pub(crate) const MALFORMED_SDP: &str = "the offer is not SDP this server can read";
/// What a client whose offer parsed but could not be answered is told.
pub(crate) const UNANSWERABLE_SDP: &str =
    "the offer cannot be answered (check its media, ICE and DTLS lines)";

/// The largest SDP offer read (a browser's is 3–6 KiB).
pub(crate) const MAX_OFFER_BYTES: usize = 64 * 1024;

/// Why an offer cannot become a call.
#[derive(Debug)]
pub(crate) enum OfferError {
    /// Not SDP, or SDP the stack refuses: 400. A fixed text
    /// ([`MALFORMED_SDP`] or [`UNANSWERABLE_SDP`]), never the parser's
    /// own: str0m's parse errors are `Debug` text of its parser state,
    /// which holds heap addresses of this process (`PointerOffset(0x7f…)`),
    /// a gift to anyone working on a memory-safety bug. The parser's
    /// text goes to the server's log, escaped and cut.
    Malformed(&'static str),
    /// No H.264 video (packetization mode 1) in the direction needed (for
    /// a viewer: nor Opus audio): 406.
    NoH264,
}

/// A viewer's path is assumed to carry this much until its feedback says
/// otherwise: a 720p call at the example pipeline's rate.
const INITIAL_ESTIMATE_KBPS: u64 = 2_500;
/// What the estimator keeps sending at least (media and padding).
const MINIMUM_KBPS: u64 = 100;
/// What the estimator probes for: room for 1080p.
const DESIRED_KBPS: u64 = 8_000;

/// A call's connection after its offer was accepted.
pub(crate) struct Accepted {
    pub rtc: Rtc,
    pub answer: String,
    /// The video media the call uses.
    pub mid: Mid,
    /// The Opus audio media the call uses, if its offer has one in the
    /// direction its role needs.
    pub audio_mid: Option<Mid>,
}

/// Parses `offer`, and for `role` builds an ICE-lite connection whose one
/// candidate is `candidate` and whose only codecs are H.264 and Opus
/// (with RED); a viewer's
/// estimates its path's bandwidth when `congestion_control` is on.
pub(crate) fn accept(
    offer: &str,
    role: Role,
    candidate: std::net::SocketAddr,
    congestion_control: bool,
    now: Instant,
) -> Result<Accepted, OfferError> {
    let offer = SdpOffer::from_sdp_string(offer).map_err(|error| {
        log::debug!(
            "malformed SDP offer: {}",
            untrusted(&error.to_string(), MAX_ERROR_CHARS)
        );
        OfferError::Malformed(MALFORMED_SDP)
    })?;
    let mut config = RtcConfig::new()
        // DTLS over OpenSSL: takes RSA peers too (docs/webrtc-stack.md).
        .set_crypto_provider(framechain_dtls::crypto_provider())
        .set_ice_lite(true)
        .clear_codecs()
        .enable_h264(true)
        // Opus as browsers send it; str0m unwraps RED (RFC 2198) on the
        // way in, recovering a lost packet from its successor's
        // redundancy, and wraps it again for a viewer that offered it.
        .enable_opus(true, true)
        // Sender reports for audio every second, as for video, not every
        // five (str0m's default): a viewer's browser can line sound up
        // with the pictures only once it has a report of each.
        .set_rtcp_report_interval_audio(std::time::Duration::from_secs(1))
        // Ingress statistics every second: RTP loss for the metrics.
        .set_stats_interval(Some(std::time::Duration::from_secs(1)));
    let estimate = congestion_control && role == Role::View;
    if estimate {
        // Estimate each viewer's path from its transport-wide congestion
        // feedback (TWCC); the lowest estimate sets the encoder's target
        // (crate::call::viewer_bitrate).
        config = config.enable_bwe(Some(Bitrate::kbps(INITIAL_ESTIMATE_KBPS)));
    }
    let mut rtc = config.build(now);
    if estimate {
        // Probe up to DESIRED: the encoder's own `max-bitrate` caps what
        // it takes of an estimate.
        rtc.bwe()
            .set_bitrate(Bitrate::kbps(MINIMUM_KBPS), Bitrate::kbps(DESIRED_KBPS));
    }
    let candidate = Candidate::host(candidate, "udp").map_err(|error| {
        log::error!("the server's own candidate {candidate} is refused: {error}");
        OfferError::Malformed(UNANSWERABLE_SDP)
    })?;
    rtc.add_local_candidate(candidate);
    let answer = rtc.sdp_api().accept_offer(offer).map_err(|error| {
        log::debug!(
            "unanswerable SDP offer: {}",
            untrusted(&error.to_string(), MAX_ERROR_CHARS)
        );
        OfferError::Malformed(UNANSWERABLE_SDP)
    })?;
    let answer = answer.to_sdp_string();
    let audio_mid = media_mid(&rtc, &answer, role, MediaKind::Audio);
    let mid = match (media_mid(&rtc, &answer, role, MediaKind::Video), role) {
        (Some(mid), _) => mid,
        // A viewer that asks for sound only: its "video" media is its
        // audio media, to which no picture is ever written (no H.264
        // payload type).
        (None, Role::View) => audio_mid.ok_or(OfferError::NoH264)?,
        (None, Role::Publish) => return Err(OfferError::NoH264),
    };
    let answer = match role {
        Role::View => one_media_stream(&answer),
        Role::Publish => answer,
    };
    Ok(Accepted {
        rtc,
        answer,
        mid,
        audio_mid,
    })
}

/// `answer` with every media's `msid` stream id made the first one's.
///
/// str0m 0.25 copies each media's `msid` from the offer, and makes up a
/// random one per media when the offer has none, as a WHEP viewer's
/// `recvonly` media do not: the viewer's browser would then put the audio
/// and the video track in two media streams and play each as it comes.
/// One stream id (RFC 8830) makes them one stream, which browsers
/// synchronise by the two tracks' sender reports. The stream id is only
/// signalling: str0m does not use it on the wire, so rewriting the text
/// it wrote changes nothing else. Touches the `a=msid:` lines, the
/// `a=ssrc:N msid:` lines and `a=msid-semantic`.
pub(crate) fn one_media_stream(answer: &str) -> String {
    let Some(stream) = answer.lines().find_map(|line| {
        let value = line.trim().strip_prefix("a=msid:")?;
        value.split_whitespace().next().map(str::to_owned)
    }) else {
        return answer.to_owned();
    };
    let ending = if answer.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut out = String::with_capacity(answer.len());
    for line in answer.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(value) = line.strip_prefix("a=msid:") {
            let track = value.split_whitespace().nth(1).unwrap_or("-");
            out.push_str(&format!("a=msid:{stream} {track}"));
        } else if let Some(rest) = line.strip_prefix("a=ssrc:")
            && let Some((ssrc, value)) = rest.split_once(" msid:")
        {
            let track = value.split_whitespace().nth(1).unwrap_or("-");
            out.push_str(&format!("a=ssrc:{ssrc} msid:{stream} {track}"));
        } else if line.starts_with("a=msid-semantic:") {
            out.push_str(&format!("a=msid-semantic: WMS {stream}"));
        } else {
            out.push_str(line);
        }
        out.push_str(ending);
    }
    out
}

/// The first media of `kind` in the answer whose direction (ours) suits
/// `role` and that negotiated its codec: for video H.264 in packetization
/// mode 1 (what the decoder and str0m's depacketizer handle; mode 0 is one
/// NAL unit per packet), for audio Opus. The media are found by their
/// `a=mid:` lines in the answer, which str0m wrote.
fn media_mid(rtc: &Rtc, answer: &str, role: Role, kind: MediaKind) -> Option<Mid> {
    let codec: Vec<_> = rtc
        .codec_config()
        .params()
        .iter()
        .filter(|params| {
            let spec = params.spec();
            match kind {
                MediaKind::Video => {
                    spec.codec == Codec::H264 && spec.format.packetization_mode == Some(1)
                }
                MediaKind::Audio => spec.codec == Codec::Opus,
            }
        })
        .map(|params| params.pt())
        .collect();
    answer
        .lines()
        .filter_map(|line| line.trim().strip_prefix("a=mid:"))
        .find_map(|mid| {
            let mid = Mid::from(mid);
            let media = rtc.media(mid)?;
            let direction_fits = match role {
                Role::Publish => {
                    matches!(media.direction(), Direction::RecvOnly | Direction::SendRecv)
                }
                Role::View => {
                    matches!(media.direction(), Direction::SendOnly | Direction::SendRecv)
                }
            };
            let negotiated = media.remote_pts().iter().any(|pt| codec.contains(pt));
            (media.kind() == kind && direction_fits && negotiated).then_some(mid)
        })
}
