//! The state of one call (a publisher's or a viewer's WebRTC connection)
//! and of one stream (its publisher, its session, its viewers).

use std::time::{Duration, Instant};

use str0m::Rtc;
use str0m::media::Mid;

use super::core::forwarding::AudioIn;
use super::core::lip_sync::SourceArrivals;
use super::keyframe_throttle::KeyframeThrottle;
use super::viewer_bitrate::ViewerBitrate;
use crate::stream_stats::StreamStats;

/// Keyframe requests to one publisher, and to one stream's encoder, at
/// most one per this interval: a viewer sending PLIs in a loop must not
/// make the encoder send only keyframes to everybody.
pub(crate) const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// A call's number, unique in one core.
pub(crate) type CallId = u64;

/// Names a live session to the core, which never holds the session: the
/// driver makes it from the session's [`framechain::live::SessionId`],
/// which tags the session's events in the runtime's one receiver. A plain
/// number, so that the core's tests name sessions without a runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SessionKey(pub(crate) u64);

/// What becomes of a publisher's video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PublisherMedia {
    /// It goes through this live session (its pipeline); the viewers get
    /// the session's pictures.
    Session(SessionKey),
    /// It goes to the viewers as it came, with no session: a forward-only
    /// role. The viewers' keyframe requests become PLIs to the publisher.
    Forward,
}

/// One WebRTC connection.
pub(crate) struct Call {
    pub stream: String,
    /// The last part of its `Location`.
    pub resource: String,
    pub rtc: Rtc,
    /// The video media the call uses.
    pub mid: Mid,
    /// The audio media the call uses (Opus), if its offer had one in the
    /// direction its role needs.
    pub audio_mid: Option<Mid>,
    pub created: Instant,
    /// The client address its offer came from (by
    /// [`crate::front_door::client_key`]), if known.
    pub client: Option<std::net::IpAddr>,
    /// ICE and DTLS are done.
    pub connected: bool,
    pub last_media: Instant,
    /// The timeout str0m last asked for, so stale timer entries are
    /// skipped.
    pub next_timeout: Option<Instant>,
    pub role: CallRole,
}

/// What a call does in its stream.
pub(crate) enum CallRole {
    Publisher {
        last_seq: Option<u64>,
        /// PLIs to the publisher.
        keyframes: KeyframeThrottle,
        /// Its audio's sequence and rate bounds.
        audio: AudioIn,
    },
    Viewer {
        /// Set until the first keyframe went out: what comes before it
        /// cannot be decoded.
        waiting_for_keyframe: bool,
    },
}

impl CallRole {
    pub(crate) fn publisher() -> CallRole {
        CallRole::Publisher {
            last_seq: None,
            keyframes: KeyframeThrottle::new(KEYFRAME_REQUEST_INTERVAL),
            audio: AudioIn::default(),
        }
    }

    pub(crate) fn viewer() -> CallRole {
        CallRole::Viewer {
            waiting_for_keyframe: true,
        }
    }

    pub(crate) fn is_publisher(&self) -> bool {
        matches!(self, CallRole::Publisher { .. })
    }
}

/// One configured stream.
pub(crate) struct StreamState {
    pub publisher: Option<CallId>,
    /// The publisher's video goes to the viewers as it came (no session).
    pub forward: bool,
    /// The publisher's session, until it ended (it outlives the call while
    /// it flushes).
    pub session: Option<SessionKey>,
    /// Whether the session gave out a picture yet (a failure before is a
    /// failed start).
    pub session_started: bool,
    pub viewers: Vec<CallId>,
    pub stats: StreamStats,
    /// Keyframe requests to the session's encoder.
    pub keyframes: KeyframeThrottle,
    /// The encoder's target from the viewers' bandwidth estimates.
    pub bitrate: ViewerBitrate,
    /// When the access units in the session arrived (lip sync).
    pub arrivals: SourceArrivals,
}

impl StreamState {
    pub(crate) fn new() -> StreamState {
        StreamState {
            publisher: None,
            forward: false,
            session: None,
            session_started: false,
            viewers: Vec::new(),
            stats: StreamStats::default(),
            keyframes: KeyframeThrottle::new(KEYFRAME_REQUEST_INTERVAL),
            bitrate: ViewerBitrate::default(),
            arrivals: SourceArrivals::default(),
        }
    }
}
