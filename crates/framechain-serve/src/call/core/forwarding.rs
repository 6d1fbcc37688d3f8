//! Forwarding, not decoding: a publisher's Opus audio, and a forward-only
//! publisher's video ([`crate::call::calls::PublisherMedia::Forward`]),
//! go to the stream's viewers as they came. str0m depacketizes on the
//! way in and packetizes (new SSRC, sequence numbers, payload type, SRTP)
//! on the way out; the payload bytes are never parsed here.
//!
//! Audio is bounded before it is forwarded: a packet over
//! [`MAX_AUDIO_PAYLOAD`] bytes, more than [`MAX_AUDIO_PACKETS_PER_SECOND`]
//! from one publisher, or a payload type str0m did not give as Opus is
//! dropped and counted (`framechain_audio_dropped_total{reason}`); the
//! call goes on.
//!
//! Timing: each packet is written with its arrival as the wallclock and
//! its own RTP time, so the viewers' sender reports map it to when it
//! came in (see `lip_sync.rs` for the processed video's side).

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::Codec as RtpCodec;
use str0m::media::{MediaData, MediaTime, Mid};

use super::CallCore;
use crate::call::calls::{CallId, CallRole};

/// The largest Opus payload forwarded, in bytes. One Opus packet is at
/// most 1275 bytes of frame data (RFC 6716) plus a few of framing; RED
/// unwrapping gives the primary payload alone. Larger is not audio a
/// browser sends.
pub(crate) const MAX_AUDIO_PAYLOAD: usize = 1500;
/// Audio packets one publisher may send per second. Browsers send one
/// per 20 ms (50/s); Opus's shortest frame, 2.5 ms, would be 400/s, which
/// no WebRTC stack uses. Past this the rest of the second is dropped.
pub(crate) const MAX_AUDIO_PACKETS_PER_SECOND: u32 = 200;
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// The `reason` label of `framechain_audio_dropped_total`.
pub(crate) mod reason {
    /// A payload over [`super::MAX_AUDIO_PAYLOAD`].
    pub(crate) const TOO_LARGE: &str = "too large";
    /// Past [`super::MAX_AUDIO_PACKETS_PER_SECOND`].
    pub(crate) const OVER_RATE: &str = "over rate";
    /// Not Opus on the audio media, or not H.264 on the video media.
    pub(crate) const WRONG_CODEC: &str = "wrong codec";
}

/// One publisher's audio as it comes in: its sequence (for the losses)
/// and its rate.
#[derive(Default)]
pub(crate) struct AudioIn {
    /// The highest extended sequence number seen.
    last_seq: Option<u64>,
    /// The start of the current rate window and the packets in it.
    window: Option<(Instant, u32)>,
}

impl AudioIn {
    /// Packets lost before the one numbered `first..=last` (a gap since
    /// the highest seen; reordered packets count nothing).
    fn lost(&mut self, first: u64, last: u64) -> u64 {
        let lost = self
            .last_seq
            .map_or(0, |previous| first.saturating_sub(previous + 1));
        self.last_seq = Some(self.last_seq.map_or(last, |previous| previous.max(last)));
        lost
    }

    /// Whether one more packet at `now` is within the rate.
    fn within_rate(&mut self, now: Instant) -> bool {
        let (start, count) = match self.window {
            Some((start, count)) if now.duration_since(start) < RATE_WINDOW => (start, count),
            _ => (now, 0),
        };
        let count = count.saturating_add(1);
        self.window = Some((start, count));
        count <= MAX_AUDIO_PACKETS_PER_SECOND
    }
}

impl CallCore {
    /// One Opus packet from a publisher: counted, bounded, and written to
    /// every connected viewer of its stream that took audio.
    pub(super) fn audio_in(&mut self, id: CallId, data: MediaData, now: Instant) {
        let metrics = self.settings.metrics.clone();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let CallRole::Publisher { audio, .. } = &mut call.role else {
            return;
        };
        metrics.audio_packets("in", 1);
        let lost = audio.lost(**data.seq_range.start(), **data.seq_range.end());
        metrics.audio_lost.inc_by(lost);
        if data.params.spec().codec != RtpCodec::Opus {
            metrics.audio_dropped(reason::WRONG_CODEC);
            return;
        }
        if data.data.len() > MAX_AUDIO_PAYLOAD {
            metrics.audio_dropped(reason::TOO_LARGE);
            return;
        }
        if !audio.within_rate(now) {
            metrics.audio_dropped(reason::OVER_RATE);
            return;
        }
        call.last_media = now;
        let stream = call.stream.clone();
        let Some(state) = self.streams.get_mut(&stream) else {
            return;
        };
        state.stats.audio_in += 1;
        state.stats.audio_lost += lost;
        let viewers = state.viewers.clone();
        let payload = data.data;
        let mut sent = 0;
        for viewer in viewers {
            let Some(call) = self.calls.get_mut(&viewer) else {
                continue;
            };
            let Some(mid) = call.audio_mid.filter(|_| call.connected) else {
                continue;
            };
            match write(call, mid, RtpCodec::Opus, data.network_time, data.time, &payload) {
                Written::Yes => sent += 1,
                Written::NoCodec => continue,
                Written::Failed => {
                    self.end_call(viewer, "webrtc error");
                    continue;
                }
            }
            self.to_poll.push_back(viewer);
        }
        metrics.audio_packets("out", sent);
        if let Some(state) = self.streams.get_mut(&stream) {
            state.stats.audio_out += sent;
        }
    }

    /// One access unit of a forward-only publisher to its viewers, with
    /// its own RTP time and its arrival.
    pub(super) fn forward_video(&mut self, stream: &str, data: &MediaData) {
        let Some(state) = self.streams.get(stream) else {
            return;
        };
        let viewers = state.viewers.clone();
        self.send_video(
            &viewers,
            &data.data,
            data.is_keyframe(),
            data.network_time,
            data.time,
        );
        self.settings.metrics.frames_out.inc();
    }

    /// One access unit to every connected viewer of `viewers` (each
    /// starting at a keyframe), as H.264 at the RTP time `time` that
    /// corresponds to the wallclock `wallclock`.
    pub(super) fn send_video(
        &mut self,
        viewers: &[CallId],
        data: &Arc<[u8]>,
        keyframe: bool,
        wallclock: Instant,
        time: MediaTime,
    ) {
        for &id in viewers {
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            let CallRole::Viewer {
                waiting_for_keyframe,
            } = &mut call.role
            else {
                continue;
            };
            if !call.connected || (*waiting_for_keyframe && !keyframe) {
                continue;
            }
            *waiting_for_keyframe = false;
            let mid = call.mid;
            match write(call, mid, RtpCodec::H264, wallclock, time, data) {
                Written::Yes => self.to_poll.push_back(id),
                Written::NoCodec => {}
                Written::Failed => self.end_call(id, "webrtc error"),
            }
        }
    }
}

/// What became of a write.
enum Written {
    Yes,
    /// The media has no payload type of the codec (a viewer that took
    /// audio only has no H.264).
    NoCodec,
    /// str0m refused it: the call is broken.
    Failed,
}

/// Writes `data` on `call`'s media `mid` with its negotiated payload type
/// of `codec` (H.264: packetization mode 1).
fn write(
    call: &mut crate::call::calls::Call,
    mid: Mid,
    codec: RtpCodec,
    wallclock: Instant,
    time: MediaTime,
    data: &Arc<[u8]>,
) -> Written {
    let Some(writer) = call.rtc.writer(mid) else {
        return Written::NoCodec;
    };
    let Some(pt) = writer
        .payload_params()
        .find(|params| {
            let spec = params.spec();
            spec.codec == codec
                && (codec != RtpCodec::H264 || spec.format.packetization_mode == Some(1))
        })
        .map(|params| params.pt())
    else {
        return Written::NoCodec;
    };
    match writer.write(pt, wallclock, time, data.clone()) {
        Ok(()) => Written::Yes,
        Err(_) => Written::Failed,
    }
}
