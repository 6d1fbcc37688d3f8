//! A live session's events: its pictures go to the stream's viewers, its
//! drops and failures are counted, its end ends the stream's calls.

use std::sync::Arc;
use std::time::Instant;

use framechain::live::LiveEvent;
use framechain::Media;
use str0m::media::MediaTime;

use super::{CallCore, Output};
use crate::call::calls::SessionKey;

impl CallCore {
    /// A live session's event. The session may no longer be its stream's
    /// current one (a new publisher came while it flushed): its counts
    /// still count, but it reaches no viewer and ends no call.
    pub(super) fn live_event(&mut self, session: SessionKey, event: LiveEvent, now: Instant) {
        let Some(stream) = self.sessions.get(&session).cloned() else {
            return;
        };
        let Some(state) = self.streams.get_mut(&stream) else {
            return;
        };
        let current = state.session == Some(session);
        let metrics = self.settings.metrics.clone();
        match event {
            LiveEvent::Output {
                media,
                latency,
                stages,
            } if current => {
                let Media::Packet(packet) = media else {
                    return;
                };
                if packet.keyframe {
                    state.keyframes.keyframe_seen();
                }
                if !state.session_started {
                    state.session_started = true;
                    self.settings.start_health.started();
                    self.outputs.push_back(Output::SessionStarted(session));
                }
                metrics.frames_out.inc();
                metrics.end_to_end(latency);
                for (name, time) in self.settings.stage_names.iter().zip(&stages) {
                    metrics.stage_latency(name, *time);
                }
                state.stats.record(now, latency, stages);
                let viewers = state.viewers.clone();
                let wallclock = state.arrivals.source_arrival(packet.pts, now, latency);
                let data: Arc<[u8]> = Arc::from(packet.data.as_slice());
                let time = MediaTime::from_90khz(packet.pts.max(0) as u64);
                self.send_video(&viewers, &data, packet.keyframe, wallclock, time);
            }
            LiveEvent::Output { .. } => {}
            LiveEvent::KeyframeNeeded => {
                if current && let Some(publisher) = state.publisher {
                    self.publisher_keyframe(publisher, now);
                }
            }
            LiveEvent::Dropped { reason, count } => {
                metrics.dropped(&reason, count);
                if current {
                    state.stats.count_drop(reason, count);
                }
            }
            LiveEvent::Swapped { stages, .. } => {
                for (_, name) in stages {
                    metrics.swapped(&name, "ok");
                }
            }
            LiveEvent::SwapFailed { error } => {
                log::warn!("stream {stream}: a stage swap failed, the old stages go on: {error}");
                metrics.swapped("", "failed");
                // The new stage's fault (its `create` failed or broke a
                // limit) rolls back; a session whose input ended before
                // its keyframe, or a node without room for one more
                // instance, says nothing about the stage.
                if !matches!(
                    error,
                    framechain::Error::Runtime(_) | framechain::Error::Busy(_)
                ) {
                    self.outputs.push_back(Output::SwapFailed);
                }
            }
            LiveEvent::OverShare { used, share } => {
                // The session's pictures are skipped past its share
                // (counted as drops); str0m gives no way to send the
                // publisher a lower REMB, so the operator is told.
                if current {
                    log::warn!(
                        "stream {stream}: the publisher's pictures cost {:.0} % of a worker, over its share of {:.0} %: pictures are skipped; it is ended if this goes on",
                        used * 100.0,
                        share * 100.0
                    );
                }
            }
            LiveEvent::Failed(error) => {
                log::warn!("stream {stream}: the session failed: {error}");
                metrics.ended("session failed");
                if !current {
                    return;
                }
                if !state.session_started {
                    self.settings.start_health.failed(now);
                }
                self.outputs.push_back(Output::SessionFailed(session));
            }
            LiveEvent::Ended(_) => {
                self.sessions.remove(&session);
                self.outputs.push_back(Output::SessionEnded(session));
                if !current {
                    return;
                }
                state.session = None;
                let publisher = state.publisher.take();
                let viewers = std::mem::take(&mut state.viewers);
                if let Some(publisher) = publisher {
                    self.end_call(publisher, "session ended");
                }
                for viewer in viewers {
                    self.end_call(viewer, "stream ended");
                }
            }
        }
    }
}
