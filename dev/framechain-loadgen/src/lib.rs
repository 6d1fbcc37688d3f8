//! A WHIP publisher and a WHEP viewer for `framechain serve`, built on
//! str0m (client side: full ICE, one UDP socket per client on
//! 127.0.0.1), with blocking HTTP signalling. Each client runs its media on
//! a thread of its own; the handles here read what it has done so far.
//!
//! The publisher sends an Annex-B H.264 file paced at a frame rate, one
//! RTP timestamp (90 kHz) per access unit, and remembers when it sent each
//! timestamp. The server forwards each processed picture with its source's
//! RTP timestamp, so a viewer's arrival minus the publisher's send time of
//! the same timestamp is the call's latency through the server (both on
//! this process's monotonic clock).
#![deny(missing_docs)]

mod call;
pub mod h264;
mod http;
mod metrics;
mod peer;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use str0m::Event;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaTime};

use call::{CallHandle, SharedWithMedia};
pub use http::{Endpoint, get_text};
pub use metrics::{metric_total, metric_value};
pub use peer::CallState;
use peer::{Peer, StopFlag, ice_gone};

/// Why a client failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status (401, 403, 409, 503, ...).
    #[error("{url}: HTTP {status}{}: {body}", retry_after.as_ref().map(|r| format!(" (Retry-After {r})")).unwrap_or_default())]
    Refused {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header, when the server gave one.
        retry_after: Option<String>,
        /// The (one-line) body, cut to 512 bytes.
        body: String,
    },
    /// The HTTP exchange failed (connection, timeout, a malformed answer).
    #[error("{0}")]
    Http(String),
    /// A socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The server's SDP answer could not be used.
    #[error("SDP: {0}")]
    Sdp(String),
    /// The WebRTC engine failed.
    #[error("WebRTC: {0}")]
    Rtc(String),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The input file is not usable.
    #[error("{0}")]
    Input(String),
}

impl Error {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An H.264 clip split into access units, cheap to share between
/// publishers.
#[derive(Clone)]
pub struct Clip {
    units: Arc<Vec<Arc<[u8]>>>,
}

impl Clip {
    /// Reads an Annex-B `.h264`/`.264` file.
    pub fn open(path: &Path) -> Result<Clip, Error> {
        let data = std::fs::read(path)
            .map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
        Clip::from_annex_b(&data).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
    }

    /// Splits an Annex-B byte stream.
    pub fn from_annex_b(data: &[u8]) -> Result<Clip, Error> {
        let units: Vec<Arc<[u8]>> = h264::split_access_units(data)
            .into_iter()
            .map(Arc::from)
            .collect();
        if units.is_empty() {
            return Err(Error::Input("no H.264 access units".to_owned()));
        }
        Ok(Clip {
            units: Arc::new(units),
        })
    }

    /// The number of access units (pictures).
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// Never true: a clip has at least one access unit.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Access unit `index` (Annex-B, with start codes).
    pub fn unit(&self, index: usize) -> &[u8] {
        &self.units[index]
    }
}

/// How a publisher sends.
#[derive(Clone, Debug)]
pub struct PublishOptions {
    /// Pictures per second; access unit `n` is sent `n / fps` after ICE and
    /// DTLS complete (plus `start_delay`), with RTP time `first_rtp_time + n * 90000 / fps`.
    pub fps: f64,
    /// Pictures to send in all; the clip repeats from its start when this
    /// exceeds its length. `None`: until stopped.
    pub frames: Option<u64>,
    /// The first access unit's RTP timestamp.
    pub first_rtp_time: u32,
    /// ICE + DTLS must complete within this.
    pub connect_timeout: Duration,
    /// The clip starts this long after ICE and DTLS complete (time for a
    /// viewer to join before the first picture).
    pub start_delay: Duration,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            fps: 30.0,
            frames: None,
            first_rtp_time: 90_000,
            connect_timeout: Duration::from_secs(10),
            start_delay: Duration::ZERO,
        }
    }
}

/// What a publisher has done so far.
#[derive(Clone, Debug, Default)]
pub struct PublisherStats {
    /// Access units written to the connection.
    pub sent: u64,
    /// Payload bytes of those.
    pub bytes: u64,
    /// PLIs the server sent (a file cannot make a keyframe on demand, so
    /// they are only counted; the clip has a keyframe every GOP).
    pub plis_received: u64,
    /// FIRs the server sent.
    pub firs_received: u64,
    /// NACKs the server sent, from str0m's egress statistics.
    pub nacks_received: u64,
}

#[derive(Default)]
struct PublisherShared {
    state: Option<CallState>,
    stats: PublisherStats,
    send_times: HashMap<u32, Instant>,
    connected_at: Option<Instant>,
}

impl SharedWithMedia for PublisherShared {
    fn state(&mut self) -> &mut Option<CallState> {
        &mut self.state
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking client thread leaves plain counters behind; still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A WHIP publisher sending a clip.
pub struct Publisher {
    call: CallHandle<PublisherShared>,
}

impl Publisher {
    /// Posts the offer (a `503` and its `Retry-After` come back as
    /// [`Error::Refused`]) and starts the call on a thread of its own:
    /// ICE, DTLS, then the clip, paced.
    pub fn start(
        endpoint: &Endpoint,
        clip: Clip,
        options: PublishOptions,
    ) -> Result<Publisher, Error> {
        if !(options.fps > 0.0 && options.fps <= 1000.0) {
            return Err(Error::Input(format!(
                "fps {}: give 0 < fps <= 1000",
                options.fps
            )));
        }
        let call = CallHandle::start(
            endpoint,
            "whip",
            Direction::SendOnly,
            "whip-publisher",
            move |peer, shared, stop| publish(peer, &clip, &options, shared, stop),
        )?;
        Ok(Publisher { call })
    }

    /// The WHIP resource URL (`Location`).
    pub fn resource(&self) -> &str {
        self.call.resource()
    }

    /// The call's state now.
    pub fn state(&self) -> CallState {
        self.call.state()
    }

    /// When ICE and DTLS completed (the clip's clock starts there).
    pub fn connected_at(&self) -> Option<Instant> {
        self.call.shared().connected_at
    }

    /// Waits until media flows; an error if the call ended first or it took
    /// longer than `timeout`.
    pub fn wait_connected(&self, timeout: Duration) -> Result<(), Error> {
        self.call
            .wait_connected(timeout, "the publisher to connect")
    }

    /// Waits until the clip's frames are all sent (`PublishOptions::frames`);
    /// the call stays up until [`Publisher::stop`].
    pub fn wait_finished(&self, timeout: Duration) -> Result<(), Error> {
        wait_for(timeout, "the publisher to finish", || match self.state() {
            CallState::Connecting | CallState::Connected => None,
            CallState::Finished => Some(Ok(())),
            CallState::Ended(reason) => Some(Err(Error::Rtc(reason))),
        })
    }

    /// The counts so far.
    pub fn stats(&self) -> PublisherStats {
        self.call.shared().stats.clone()
    }

    /// When the access unit with this RTP timestamp was handed to the
    /// connection.
    pub fn send_time(&self, rtp_time: u32) -> Option<Instant> {
        self.call.shared().send_times.get(&rtp_time).copied()
    }

    /// Send times of all access units sent so far, by RTP timestamp.
    pub fn send_times(&self) -> HashMap<u32, Instant> {
        self.call.shared().send_times.clone()
    }

    /// Stops sending and ends the call with `DELETE`; the final counts.
    pub fn stop(mut self) -> Result<PublisherStats, Error> {
        self.call.end()?;
        Ok(self.stats())
    }
}

fn wait_for(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<Result<(), Error>>,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(result) = check() {
            return result;
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(format!("waiting {timeout:?} for {what}")));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// After a drain: how the media thread returns if ICE went away (`ended`)
/// or its owner stopped it; `None` while the call goes on.
fn call_over(ended: &mut Option<String>, stop: &StopFlag) -> Option<Result<(), Error>> {
    if let Some(reason) = ended.take() {
        return Some(Err(Error::Rtc(reason)));
    }
    stop.is_stopped().then_some(Ok(()))
}

fn publish(
    mut peer: Peer,
    clip: &Clip,
    options: &PublishOptions,
    shared: &Mutex<PublisherShared>,
    stop: &StopFlag,
) -> Result<(), Error> {
    let connect_deadline = Instant::now() + options.connect_timeout;
    let mut start: Option<Instant> = None;
    let mut index: u64 = 0;
    let mut pt = None;
    let mut ended: Option<String> = None;
    loop {
        let deadline = peer.drain(&mut |_, event| match event {
            Event::Connected => {
                let mut shared = lock(shared);
                shared.state = Some(CallState::Connected);
                shared.connected_at = Some(Instant::now());
            }
            Event::KeyframeRequest(request) => {
                let mut shared = lock(shared);
                match request.kind {
                    KeyframeRequestKind::Pli => shared.stats.plis_received += 1,
                    KeyframeRequestKind::Fir => shared.stats.firs_received += 1,
                }
            }
            Event::MediaEgressStats(stats) => lock(shared).stats.nacks_received = stats.nacks,
            event if ice_gone(&event) => ended = Some("ICE disconnected".to_owned()),
            _ => {}
        })?;
        if let Some(result) = call_over(&mut ended, stop) {
            return result;
        }
        let now = Instant::now();
        if start.is_none() {
            start = lock(shared).connected_at.map(|at| at + options.start_delay);
            if start.is_none() && now >= connect_deadline {
                return Err(Error::Timeout(format!(
                    "ICE and DTLS did not complete in {:?}",
                    options.connect_timeout
                )));
            }
        }
        let Some(start) = start else {
            peer.wait(deadline)?;
            continue;
        };
        if options.frames.is_some_and(|frames| index >= frames) {
            // All sent; the call stays up (packets still in str0m's queue go
            // out, RTCP and ICE go on) until the owner stops it.
            let mut shared = lock(shared);
            if shared.state == Some(CallState::Connected) {
                shared.state = Some(CallState::Finished);
            }
            drop(shared);
            peer.wait(deadline)?;
            continue;
        }
        let due = start + Duration::from_secs_f64(index as f64 / options.fps);
        if now < due {
            peer.wait(deadline.min(due))?;
            continue;
        }
        let pt =
            match pt {
                Some(pt) => pt,
                None => *pt.insert(peer.h264_pt().ok_or_else(|| {
                    Error::Sdp("the answer has no H.264 for this video".to_owned())
                })?),
            };
        let unit = clip.units[(index % clip.len() as u64) as usize].clone();
        // 64-bit and monotonic here; the wire carries its low 32 bits.
        let rtp = u64::from(options.first_rtp_time)
            + (index as f64 * 90_000.0 / options.fps).round() as u64;
        let bytes = unit.len() as u64;
        let mid = peer.mid;
        let writer = peer
            .rtc
            .writer(mid)
            .ok_or_else(|| Error::Rtc("the video m-line is gone".to_owned()))?;
        let sent_at = Instant::now();
        writer
            .write(
                pt,
                sent_at,
                MediaTime::new(rtp, Frequency::NINETY_KHZ),
                unit,
            )
            .map_err(|e| Error::Rtc(e.to_string()))?;
        {
            let mut shared = lock(shared);
            shared.send_times.insert(rtp as u32, sent_at);
            shared.stats.sent += 1;
            shared.stats.bytes += bytes;
        }
        index += 1;
        // Back to the top: the write is a mutation, drained before anything else.
    }
}

/// How a viewer receives.
#[derive(Clone, Debug)]
pub struct ViewOptions {
    /// Keep each access unit's bytes (for [`write_h264`]); off for load.
    pub keep_data: bool,
    /// ICE + DTLS must complete within this.
    pub connect_timeout: Duration,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            keep_data: true,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// One access unit as the viewer got it.
#[derive(Clone, Debug)]
pub struct ReceivedUnit {
    /// The RTP timestamp (90 kHz), the low 32 bits as on the wire.
    pub rtp_time: u32,
    /// When str0m handed it over whole (after its last packet arrived).
    pub arrival: Instant,
    /// It holds an IDR slice.
    pub keyframe: bool,
    /// Its size in bytes (Annex-B).
    pub size: usize,
    /// Its bytes, with [`ViewOptions::keep_data`].
    pub data: Option<Arc<[u8]>>,
}

/// What a viewer has counted so far.
#[derive(Clone, Debug, Default)]
pub struct ViewerStats {
    /// Access units received.
    pub units: u64,
    /// Their bytes.
    pub bytes: u64,
    /// RTP sequence numbers never received (gaps between access units, after
    /// str0m's NACK repair).
    pub packets_lost: u64,
    /// Access units str0m marked as not contiguous with the previous one.
    pub discontinuities: u64,
    /// PLIs this viewer sent (one per discontinuity).
    pub plis_sent: u64,
    /// str0m's packet-loss fraction from the last ingress statistics.
    pub loss_fraction: Option<f32>,
}

#[derive(Default)]
struct ViewerShared {
    state: Option<CallState>,
    stats: ViewerStats,
    units: Vec<ReceivedUnit>,
}

impl SharedWithMedia for ViewerShared {
    fn state(&mut self) -> &mut Option<CallState> {
        &mut self.state
    }
}

/// A WHEP viewer collecting what a stream sends.
pub struct Viewer {
    call: CallHandle<ViewerShared>,
}

impl Viewer {
    /// Posts a receive-only offer and starts receiving on a thread of its own.
    pub fn start(endpoint: &Endpoint, options: ViewOptions) -> Result<Viewer, Error> {
        let call = CallHandle::start(
            endpoint,
            "whep",
            Direction::RecvOnly,
            "whep-viewer",
            move |peer, shared, stop| view(peer, &options, shared, stop),
        )?;
        Ok(Viewer { call })
    }

    /// The WHEP resource URL (`Location`).
    pub fn resource(&self) -> &str {
        self.call.resource()
    }

    /// The call's state now.
    pub fn state(&self) -> CallState {
        self.call.state()
    }

    /// Waits until ICE and DTLS complete.
    pub fn wait_connected(&self, timeout: Duration) -> Result<(), Error> {
        self.call.wait_connected(timeout, "the viewer to connect")
    }

    /// Waits until `count` access units have arrived.
    pub fn wait_units(&self, count: u64, timeout: Duration) -> Result<(), Error> {
        wait_for(timeout, &format!("{count} access units"), || {
            (self.call.shared().stats.units >= count).then_some(Ok(()))
        })
    }

    /// Waits until nothing has arrived for `quiet` (or the call ended), at
    /// most `timeout`.
    pub fn wait_quiet(&self, quiet: Duration, timeout: Duration) -> Result<(), Error> {
        let mut last = (u64::MAX, Instant::now());
        wait_for(timeout, "the stream to go quiet", || {
            let shared = self.call.shared();
            if matches!(shared.state, Some(CallState::Ended(_))) {
                return Some(Ok(()));
            }
            if shared.stats.units != last.0 {
                last = (shared.stats.units, Instant::now());
            }
            (last.1.elapsed() >= quiet).then_some(Ok(()))
        })
    }

    /// The counts so far.
    pub fn stats(&self) -> ViewerStats {
        self.call.shared().stats.clone()
    }

    /// The access units so far, in arrival order.
    pub fn units(&self) -> Vec<ReceivedUnit> {
        self.call.shared().units.clone()
    }

    /// The access units that arrived after `index` (for incremental reads).
    pub fn units_since(&self, index: usize) -> Vec<ReceivedUnit> {
        self.call
            .shared()
            .units
            .get(index..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// Stops receiving and ends the call with `DELETE`; the access units.
    /// When the server already ended the call the `DELETE`'s `404` is an
    /// error; the units are still in [`Viewer::units`] before this.
    pub fn stop(mut self) -> Result<Vec<ReceivedUnit>, Error> {
        self.call.end()?;
        Ok(std::mem::take(&mut self.call.shared().units))
    }
}

fn view(
    mut peer: Peer,
    options: &ViewOptions,
    shared: &Mutex<ViewerShared>,
    stop: &StopFlag,
) -> Result<(), Error> {
    let connect_deadline = Instant::now() + options.connect_timeout;
    let mut connected = false;
    let mut last_seq: Option<u64> = None;
    let mut ended: Option<String> = None;
    let mid = peer.mid;
    loop {
        let deadline = peer.drain(&mut |rtc, event| match event {
            Event::Connected => {
                connected = true;
                lock(shared).state = Some(CallState::Connected);
            }
            Event::MediaData(data) => {
                let arrival = Instant::now();
                let first = **data.seq_range.start();
                let last = **data.seq_range.end();
                let mut shared = lock(shared);
                if let Some(previous) = last_seq {
                    shared.stats.packets_lost += first.saturating_sub(previous + 1);
                }
                last_seq = Some(last_seq.map_or(last, |previous| previous.max(last)));
                if !data.contiguous {
                    shared.stats.discontinuities += 1;
                    // Asking is a mutation inside the drain: allowed by str0m.
                    if let Some(mut writer) = rtc.writer(mid)
                        && writer
                            .request_keyframe(None, KeyframeRequestKind::Pli)
                            .is_ok()
                    {
                        shared.stats.plis_sent += 1;
                    }
                }
                let rtp_time = data.time.rebase(Frequency::NINETY_KHZ).numer() as u32;
                shared.stats.units += 1;
                shared.stats.bytes += data.data.len() as u64;
                let unit = ReceivedUnit {
                    rtp_time,
                    arrival,
                    keyframe: h264::is_keyframe(&data.data),
                    size: data.data.len(),
                    data: options.keep_data.then(|| data.data.clone()),
                };
                shared.units.push(unit);
            }
            Event::MediaIngressStats(stats) => lock(shared).stats.loss_fraction = stats.loss,
            event if ice_gone(&event) => ended = Some("ICE disconnected".to_owned()),
            _ => {}
        })?;
        if let Some(result) = call_over(&mut ended, stop) {
            return result;
        }
        if !connected && Instant::now() >= connect_deadline {
            return Err(Error::Timeout(format!(
                "ICE and DTLS did not complete in {:?}",
                options.connect_timeout
            )));
        }
        peer.wait(deadline)?;
    }
}

/// Writes access units (kept with [`ViewOptions::keep_data`]) as an
/// Annex-B file an H.264 decoder reads.
pub fn write_h264(units: &[ReceivedUnit], path: &Path) -> Result<(), Error> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for unit in units {
        let data = unit.data.as_ref().ok_or_else(|| {
            Error::Input("the viewer did not keep the data (ViewOptions::keep_data)".to_owned())
        })?;
        file.write_all(data)?;
    }
    file.flush()?;
    Ok(())
}
