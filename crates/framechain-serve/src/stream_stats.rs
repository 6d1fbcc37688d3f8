//! A stream's numbers for its watch page: counts since the stream's
//! publisher started, and latencies over the last seconds.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

/// How far back the latency percentiles look.
const WINDOW: Duration = Duration::from_secs(10);
/// Samples kept at most (10 s at 60 fps).
const MAX_SAMPLES: usize = 600;
/// Distinct drop reasons a stream's numbers keep; later ones are counted
/// under [`crate::metrics::OTHER_LABEL`]. The host already cuts a stage's
/// reasons to 80 characters and 32 per stage, but a chain may have 64
/// stages: the watch page's answer stays small whatever the stages say.
pub(crate) const MAX_STREAM_DROP_REASONS: usize = 32;

/// Counts and a sliding window of latencies.
#[derive(Default)]
pub(crate) struct StreamStats {
    pub frames_in: u64,
    pub frames_out: u64,
    dropped: BTreeMap<String, u64>,
    pub rtp_packets: u64,
    pub rtp_lost: u64,
    /// Opus packets from the publisher, forwarded packets (one per viewer
    /// that took audio), and the publisher's audio sequence gaps.
    pub audio_in: u64,
    pub audio_out: u64,
    pub audio_lost: u64,
    stage_names: Vec<String>,
    /// (when, end to end, each stage)
    samples: VecDeque<(Instant, Duration, Vec<Duration>)>,
}

/// `GET /streams/NAME/stats`, as JSON.
#[derive(Serialize)]
pub(crate) struct StatsReport {
    pub stream: String,
    pub live: bool,
    pub viewers: usize,
    pub frames: FramesReport,
    pub latency_ms: LatencyReport,
    pub rtp: RtpReport,
    pub audio: AudioReport,
    pub bitrate: BitrateReport,
}

/// The publisher's audio, forwarded undecoded.
#[derive(Serialize)]
pub(crate) struct AudioReport {
    #[serde(rename = "in")]
    pub packets_in: u64,
    pub out: u64,
    pub lost: u64,
}

/// The encoder's target bitrate as the viewers' congestion feedback set it
/// (`None`: the pipeline's own `bitrate` holds).
#[derive(Serialize)]
pub(crate) struct BitrateReport {
    pub target: Option<u64>,
    pub changes: u64,
}

#[derive(Serialize)]
pub(crate) struct FramesReport {
    #[serde(rename = "in")]
    pub frames_in: u64,
    pub out: u64,
    pub dropped: BTreeMap<String, u64>,
}

#[derive(Serialize)]
pub(crate) struct LatencyReport {
    pub end_to_end: Percentiles,
    pub stages: Vec<StageReport>,
}

#[derive(Serialize)]
pub(crate) struct StageReport {
    pub name: String,
    #[serde(flatten)]
    pub latency: Percentiles,
}

#[derive(Serialize)]
pub(crate) struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub samples: usize,
}

#[derive(Serialize)]
pub(crate) struct RtpReport {
    pub packets: u64,
    pub lost: u64,
}

impl StreamStats {
    /// Fresh numbers for a new publisher of a pipeline with these stages.
    pub(crate) fn new(stage_names: Vec<String>) -> StreamStats {
        StreamStats {
            stage_names,
            ..StreamStats::default()
        }
    }

    /// Counts `count` drops for `reason` (a stage's text, already made one
    /// safe line by the host), under [`crate::metrics::OTHER_LABEL`] once
    /// [`MAX_STREAM_DROP_REASONS`] distinct reasons were seen.
    pub(crate) fn count_drop(&mut self, reason: String, count: u64) {
        let key = if self.dropped.contains_key(&reason)
            || self.dropped.len() < MAX_STREAM_DROP_REASONS - 1
        {
            reason
        } else {
            crate::metrics::OTHER_LABEL.to_owned()
        };
        *self.dropped.entry(key).or_default() += count;
    }

    pub(crate) fn record(&mut self, now: Instant, end_to_end: Duration, stages: Vec<Duration>) {
        self.frames_out += 1;
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((now, end_to_end, stages));
    }

    /// The report, with the encoder's `bitrate` as the viewers' feedback
    /// set it (kept by [`crate::call::viewer_bitrate::ViewerBitrate`]).
    pub(crate) fn report(
        &mut self,
        stream: &str,
        live: bool,
        viewers: usize,
        bitrate: BitrateReport,
    ) -> StatsReport {
        let now = Instant::now();
        while self
            .samples
            .front()
            .is_some_and(|(when, _, _)| now.duration_since(*when) > WINDOW)
        {
            self.samples.pop_front();
        }
        let end_to_end = percentiles(self.samples.iter().map(|(_, e2e, _)| *e2e).collect());
        let stages = self
            .stage_names
            .iter()
            .enumerate()
            .map(|(index, name)| StageReport {
                name: name.clone(),
                latency: percentiles(
                    self.samples
                        .iter()
                        .filter_map(|(_, _, stages)| stages.get(index).copied())
                        .collect(),
                ),
            })
            .collect();
        StatsReport {
            stream: stream.to_owned(),
            live,
            viewers,
            frames: FramesReport {
                frames_in: self.frames_in,
                out: self.frames_out,
                dropped: self.dropped.clone(),
            },
            latency_ms: LatencyReport { end_to_end, stages },
            rtp: RtpReport {
                packets: self.rtp_packets,
                lost: self.rtp_lost,
            },
            audio: AudioReport {
                packets_in: self.audio_in,
                out: self.audio_out,
                lost: self.audio_lost,
            },
            bitrate,
        }
    }
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |quantile: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let index = ((samples.len() as f64 * quantile).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1000.0
    };
    Percentiles {
        p50: at(0.5),
        p99: at(0.99),
        samples: samples.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_reasons_are_bounded() {
        let mut stats = StreamStats::default();
        for i in 0..1000 {
            stats.count_drop(format!("test-stage: reason {i}"), 1);
        }
        stats.count_drop("test-stage: reason 0".to_owned(), 1);
        assert_eq!(stats.dropped.len(), MAX_STREAM_DROP_REASONS);
        assert_eq!(stats.dropped["test-stage: reason 0"], 2);
        assert_eq!(
            stats.dropped[crate::metrics::OTHER_LABEL],
            1000 - (MAX_STREAM_DROP_REASONS as u64 - 1)
        );
    }
}
