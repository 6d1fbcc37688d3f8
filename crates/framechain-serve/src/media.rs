//! The media loop: one task owns the UDP socket and every call's WebRTC
//! connection. str0m is sans-IO, so this is the only place that reads the
//! clock and the socket: datagrams, timeouts, commands from the HTTP side
//! and the live sessions' events go in; datagrams and pictures come out.
//!
//! A frame's way: a publisher's RTP packets → str0m (depacketized into one
//! Annex-B access unit, `Event::MediaData`) → [`LiveSession::push`] → the
//! pipeline on a worker thread → `LiveEvent::Output`, tagged with its
//! session's id, in the live runtime's one receiver
//! ([`framechain::live::LiveEvents`], read in the loop's `select!`) → its
//! stream, by that id → every viewer's `Writer::write` (packetized,
//! encrypted, sent).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framechain::live::{LiveEvent, LiveEvents, LiveRuntime, LiveSession, SessionId};
use framechain::{Codec, Media, Packet, Pipeline};
use str0m::bwe::BweKind;
use str0m::format::Codec as RtpCodec;
use str0m::media::{KeyframeRequestKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use crate::auth::Role;
use crate::keyframe_throttle::{KeyframeThrottle, Request};
use crate::metrics::Metrics;
use crate::offer::{self, OfferError};
use crate::stream_stats::{StatsReport, StreamStats};
use crate::viewer_bitrate::ViewerBitrate;

/// Keyframe requests to one publisher, at most one per this interval: a
/// viewer sending PLIs in a loop must not make the encoder send only
/// keyframes to everybody.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);
/// How often connect and idle timeouts are checked.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(250);
/// Datagrams read per wake-up before other work gets a turn.
const DATAGRAMS_PER_WAKE: usize = 256;
/// Viewers' offers per stream that may wait for ICE and DTLS at once. A
/// viewer takes one of the stream's `max_viewers` places only once it has
/// connected; an offer that never connects holds only one of these, and a
/// new offer past the bound ends the oldest waiting one. So a view-token
/// holder who sends offers that never connect cannot keep a real viewer
/// out: the real viewer's offer displaces the oldest squatter, and it
/// connects (milliseconds to a second) long before the squatter's next
/// batch could displace it, unless the squatter floods offers without
/// pause, which the front door's request limits are for.
pub(crate) const MAX_PENDING_VIEWERS: usize = 8;

/// A swapped-in stage is on probation until at least this long has passed
/// since the swap ...
pub(crate) const SWAP_PROBATION: Duration = Duration::from_secs(30);
/// ... and at least this many sessions opened on the new pipeline have
/// given out a picture. A trial `create` proves little: a stage may work
/// once and fail in every later instance (keyed on the wall clock, say).
/// So while on probation, any failure of the new stage rolls the swap
/// back: a running session's switch that fails (`SwapFailed`), a session
/// running the new pipeline that fails, or a new session that fails
/// before its first picture. While nobody calls, probation goes on.
pub(crate) const SWAP_PROBATION_STARTS: u32 = 3;

/// Sessions in a row that failed before their first picture, within
/// [`START_FAILURE_WINDOW`], after which `/readyz` says not ready.
pub(crate) const START_FAILURES_NOT_READY: u32 = 3;
/// How long failed starts count for `/readyz`: after it, the pod is
/// ready again, so that one new call can show whether starts work (a pod
/// that is never ready gets no call that could prove it).
pub(crate) const START_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Whether new sessions start, for `/readyz`: how many in a row failed
/// before their first picture, and when the last did.
#[derive(Default)]
pub(crate) struct StartHealth {
    failures: std::sync::Mutex<(u32, Option<Instant>)>,
}

impl StartHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, Option<Instant>)> {
        self.failures
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn failed(&self, now: Instant) {
        let mut failures = self.lock();
        failures.0 += 1;
        failures.1 = Some(now);
    }

    fn started(&self) {
        *self.lock() = (0, None);
    }

    /// True when the last [`START_FAILURES_NOT_READY`] sessions all failed
    /// before their first picture and the last did within
    /// [`START_FAILURE_WINDOW`]: new calls would fail too.
    pub(crate) fn failing(&self, now: Instant) -> bool {
        let (count, last) = *self.lock();
        count >= START_FAILURES_NOT_READY
            && last.is_some_and(|last| now.duration_since(last) < START_FAILURE_WINDOW)
    }
}

/// A swap on probation (see [`SWAP_PROBATION`]).
struct Probation {
    /// The pipeline before the swap, to go back to.
    previous: Arc<Pipeline>,
    /// The swapped-in stage's name, for the metrics and the log.
    stage: String,
    since: Instant,
    /// Sessions opened on the new pipeline that gave out a picture.
    good_starts: u32,
}

/// What the HTTP side asks the media loop.
pub(crate) enum Command {
    /// A WHIP or WHEP offer, already authorized.
    Open {
        stream: String,
        role: Role,
        offer: String,
        reply: oneshot::Sender<Result<Created, Refusal>>,
    },
    /// `DELETE` of a call's resource, already authorized.
    Close {
        stream: String,
        role: Role,
        resource: String,
        reply: oneshot::Sender<bool>,
    },
    /// The watch page's numbers.
    Stats {
        stream: String,
        reply: oneshot::Sender<Option<StatsReport>>,
    },
    /// The pipeline new publishers get.
    Pipeline {
        reply: oneshot::Sender<Arc<Pipeline>>,
    },
    /// Every running session of `from` switches to `to` at its next
    /// keyframe, and new publishers get `to`. Answers how many sessions
    /// will switch, or why not.
    Swap {
        from: Arc<Pipeline>,
        to: Arc<Pipeline>,
        /// The new stage's name.
        stage: String,
        reply: oneshot::Sender<Result<usize, String>>,
    },
}

/// A call that was opened.
pub(crate) struct Created {
    /// The last part of its `Location`.
    pub resource: String,
    /// The SDP answer.
    pub answer: String,
}

/// Why an offer did not open a call.
#[derive(Debug)]
pub(crate) enum Refusal {
    Offer(OfferError),
    /// The stream has a publisher: 409.
    StreamBusy,
    /// The node takes no more publishers: 503.
    Full(&'static str),
    /// The stream has its most viewers: 503.
    ViewersFull,
    /// The session could not start: 500.
    Internal(String),
}

type CallId = u64;

/// The media loop's settings.
pub(crate) struct MediaSettings {
    pub pipeline: Arc<Pipeline>,
    pub stage_names: Vec<String>,
    pub runtime: Arc<LiveRuntime>,
    pub metrics: Arc<Metrics>,
    pub streams: Vec<String>,
    /// The candidate the answers carry (the bound address, or the
    /// advertised one).
    pub candidate: SocketAddr,
    pub max_sessions: usize,
    pub max_viewers: usize,
    pub fps: f64,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// Viewers' bandwidth estimates set the encoder's target bitrate.
    pub congestion_control: bool,
    /// Whether new sessions start, shared with `/readyz`.
    pub start_health: Arc<StartHealth>,
}

struct Call {
    stream: String,
    resource: String,
    rtc: Rtc,
    mid: Mid,
    created: Instant,
    connected: bool,
    last_media: Instant,
    next_timeout: Option<Instant>,
    role: CallRole,
}

enum CallRole {
    Publisher {
        last_seq: Option<u64>,
        /// PLIs to the publisher.
        keyframes: KeyframeThrottle,
    },
    Viewer {
        /// Set until the first keyframe went out: what comes before it
        /// cannot be decoded.
        waiting_for_keyframe: bool,
    },
}

struct StreamState {
    publisher: Option<CallId>,
    /// The publisher's session, until it ended (it outlives the call while
    /// it flushes); with the id its events carry.
    session: Option<(SessionId, Arc<LiveSession>)>,
    /// Whether the session gave out a picture yet (a failure before is a
    /// failed start).
    session_started: bool,
    /// Whether the session was opened on a swapped-in pipeline still on
    /// probation.
    session_on_probation: bool,
    viewers: Vec<CallId>,
    stats: StreamStats,
    /// Keyframe requests to the session's encoder.
    keyframes: KeyframeThrottle,
    /// The encoder's target from the viewers' bandwidth estimates.
    bitrate: ViewerBitrate,
}

/// Who a deferred keyframe request goes to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum KeyframeTarget {
    /// A PLI to this publisher.
    Publisher(CallId),
    /// A forced keyframe from this stream's session.
    Stream(String),
}

pub(crate) struct MediaLoop {
    settings: MediaSettings,
    socket: Arc<UdpSocket>,
    calls: HashMap<CallId, Call>,
    /// Where each call's datagrams come from, once ICE matched them.
    by_source: HashMap<SocketAddr, CallId>,
    streams: HashMap<String, StreamState>,
    timers: BinaryHeap<Reverse<(Instant, CallId)>>,
    /// Keyframe requests the throttle deferred, by when they are due.
    keyframe_timers: BinaryHeap<Reverse<(Instant, KeyframeTarget)>>,
    /// The stream of every session whose events may still come, by the id
    /// they carry; a session leaves with its `Ended`.
    session_streams: HashMap<SessionId, String>,
    next_call: CallId,
    /// The last swap, while it is on probation.
    probation: Option<Probation>,
}

impl MediaLoop {
    pub(crate) fn new(settings: MediaSettings, socket: Arc<UdpSocket>) -> MediaLoop {
        let streams = settings
            .streams
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    StreamState {
                        publisher: None,
                        session: None,
                        session_started: false,
                        session_on_probation: false,
                        viewers: Vec::new(),
                        stats: StreamStats::default(),
                        keyframes: KeyframeThrottle::new(KEYFRAME_REQUEST_INTERVAL),
                        bitrate: ViewerBitrate::default(),
                    },
                )
            })
            .collect();
        MediaLoop {
            settings,
            socket,
            calls: HashMap::new(),
            by_source: HashMap::new(),
            streams,
            timers: BinaryHeap::new(),
            keyframe_timers: BinaryHeap::new(),
            session_streams: HashMap::new(),
            next_call: 1,
            probation: None,
        }
    }

    /// Runs until `shutdown` turns true, then ends every call.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        session_events: LiveEvents,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let socket = self.socket.clone();
        let mut buf = vec![0u8; 2048];
        let mut housekeeping = Instant::now() + HOUSEKEEPING_INTERVAL;
        loop {
            let deadline = self.next_deadline().min(housekeeping);
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(command) = commands.recv() => self.command(command),
                // Cancel-safe: an event is taken only when this branch wins.
                Some((session, event)) = session_events.next() => {
                    self.session_event(session, event);
                    while let Some((session, event)) = session_events.try_recv() {
                        self.session_event(session, event);
                    }
                }
                received = socket.recv_from(&mut buf) => {
                    if let Ok((length, source)) = received {
                        self.datagram(&buf[..length], source, Instant::now());
                    }
                    for _ in 0..DATAGRAMS_PER_WAKE {
                        match socket.try_recv_from(&mut buf) {
                            Ok((length, source)) => self.datagram(&buf[..length], source, Instant::now()),
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            let now = Instant::now();
            self.expire_timers(now);
            self.deferred_keyframe_requests(now);
            if now >= housekeeping {
                self.housekeeping(now);
                housekeeping = now + HOUSEKEEPING_INTERVAL;
            }
        }
        let ids: Vec<_> = self.calls.keys().copied().collect();
        for id in ids {
            self.end_call(id, "server shutdown");
        }
    }

    fn next_deadline(&self) -> Instant {
        let call = self.timers.peek().map(|Reverse((when, _))| *when);
        let keyframe = self.keyframe_timers.peek().map(|Reverse((when, _))| *when);
        call.into_iter()
            .chain(keyframe)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
    }

    /// Sends the keyframe requests the throttle deferred that are due.
    fn deferred_keyframe_requests(&mut self, now: Instant) {
        while let Some(Reverse((when, _))) = self.keyframe_timers.peek() {
            if *when > now {
                break;
            }
            let Some(Reverse((_, target))) = self.keyframe_timers.pop() else {
                break;
            };
            match target {
                KeyframeTarget::Publisher(id) => {
                    let due = self
                        .calls
                        .get_mut(&id)
                        .is_some_and(|call| match &mut call.role {
                            CallRole::Publisher { keyframes, .. } => keyframes.poll(now),
                            CallRole::Viewer { .. } => false,
                        });
                    if due {
                        self.send_pli(id, now);
                    }
                }
                KeyframeTarget::Stream(stream) => {
                    if let Some(state) = self.streams.get_mut(&stream)
                        && let Some((_, session)) = &state.session
                        && state.keyframes.poll(now)
                    {
                        session.request_keyframe();
                    }
                }
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Open {
                stream,
                role,
                offer,
                reply,
            } => {
                let result = self.open(&stream, role, &offer);
                let _ = reply.send(result);
            }
            Command::Close {
                stream,
                role,
                resource,
                reply,
            } => {
                let found = self.calls.iter().find_map(|(id, call)| {
                    let role_matches = match call.role {
                        CallRole::Publisher { .. } => role == Role::Publish,
                        CallRole::Viewer { .. } => role == Role::View,
                    };
                    (call.stream == stream && call.resource == resource && role_matches)
                        .then_some(*id)
                });
                if let Some(id) = found {
                    self.end_call(id, "deleted");
                }
                let _ = reply.send(found.is_some());
            }
            Command::Pipeline { reply } => {
                let _ = reply.send(self.settings.pipeline.clone());
            }
            Command::Swap {
                from,
                to,
                stage,
                reply,
            } => {
                let result = if !Arc::ptr_eq(&from, &self.settings.pipeline) {
                    Err("the pipeline changed while the new stage was built; ask again".to_owned())
                } else {
                    self.settings
                        .runtime
                        .swap_pipeline(&from, &to)
                        .map_err(|error| error.to_string())
                };
                if result.is_ok() {
                    // A swap on probation is replaced by this one: its
                    // previous pipeline is what a rollback goes back to
                    // only if this one is accepted from it.
                    self.probation = Some(Probation {
                        previous: from,
                        stage,
                        since: Instant::now(),
                        good_starts: 0,
                    });
                    self.settings.stage_names = stage_names(&to);
                    self.settings.pipeline = to;
                }
                let _ = reply.send(result);
            }
            Command::Stats { stream, reply } => {
                let report = self.streams.get_mut(&stream).map(|state| {
                    let live = state.publisher.is_some();
                    let viewers = state.viewers.len();
                    state
                        .stats
                        .report(&stream, live, viewers, state.bitrate.report())
                });
                let _ = reply.send(report);
            }
        }
    }

    /// A stream's viewers that have connected (ICE and DTLS done): those
    /// that hold its `max_viewers` places.
    fn connected_viewers(&self, stream: &str) -> usize {
        self.streams.get(stream).map_or(0, |state| {
            state
                .viewers
                .iter()
                .filter(|viewer| self.calls.get(viewer).is_some_and(|call| call.connected))
                .count()
        })
    }

    fn open(&mut self, stream: &str, role: Role, offer: &str) -> Result<Created, Refusal> {
        let settings = &self.settings;
        let state = self
            .streams
            .get(stream)
            .ok_or(Refusal::Internal("unknown stream".to_owned()))?;
        match role {
            Role::Publish if state.publisher.is_some() => return Err(Refusal::StreamBusy),
            Role::Publish if settings.runtime.sessions() >= settings.max_sessions => {
                return Err(Refusal::Full("sessions"));
            }
            Role::View if self.connected_viewers(stream) >= settings.max_viewers => {
                return Err(Refusal::ViewersFull);
            }
            _ => {}
        }
        let now = Instant::now();
        let accepted = offer::accept(
            offer,
            role,
            settings.candidate,
            settings.congestion_control,
            now,
        )
        .map_err(Refusal::Offer)?;
        let id = self.next_call;
        self.next_call += 1;
        let call_role = match role {
            Role::Publish => {
                let session = match settings.runtime.open(&settings.pipeline, settings.fps) {
                    Ok(session) => Arc::new(session),
                    Err(framechain::Error::Busy(_)) => return Err(Refusal::Full("busy")),
                    Err(error) => return Err(Refusal::Internal(error.to_string())),
                };
                self.session_streams.insert(session.id(), stream.to_owned());
                let state = self.streams.get_mut(stream).expect("checked above");
                state.publisher = Some(id);
                state.session = Some((session.id(), session));
                state.session_started = false;
                state.session_on_probation = self.probation.is_some();
                state.stats = StreamStats::new(self.settings.stage_names.clone());
                state.bitrate.restart();
                self.settings.metrics.admitted.inc();
                self.settings
                    .metrics
                    .sessions
                    .set(self.settings.runtime.sessions() as i64);
                CallRole::Publisher {
                    last_seq: None,
                    keyframes: KeyframeThrottle::new(KEYFRAME_REQUEST_INTERVAL),
                }
            }
            Role::View => {
                let pending: Vec<(Instant, CallId)> = self.streams[stream]
                    .viewers
                    .iter()
                    .filter_map(|viewer| {
                        let call = self.calls.get(viewer)?;
                        (!call.connected).then_some((call.created, *viewer))
                    })
                    .collect();
                if pending.len() >= MAX_PENDING_VIEWERS
                    && let Some(&(_, oldest)) = pending.iter().min()
                {
                    self.end_call(oldest, "offer superseded");
                }
                let state = self.streams.get_mut(stream).expect("checked above");
                state.viewers.push(id);
                self.settings.metrics.viewers.inc();
                CallRole::Viewer {
                    waiting_for_keyframe: true,
                }
            }
        };
        let resource = resource_id();
        self.calls.insert(
            id,
            Call {
                stream: stream.to_owned(),
                resource: resource.clone(),
                rtc: accepted.rtc,
                mid: accepted.mid,
                created: now,
                connected: false,
                last_media: now,
                next_timeout: None,
                role: call_role,
            },
        );
        self.drive(id, now);
        Ok(Created {
            resource,
            answer: accepted.answer,
        })
    }

    /// One datagram from the network: ICE, DTLS, RTP or RTCP of a call,
    /// or nothing anybody asked for.
    fn datagram(&mut self, data: &[u8], source: SocketAddr, now: Instant) {
        let Ok(contents) = data.try_into() else {
            self.settings.metrics.udp_unmatched.inc();
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.settings.candidate,
                contents,
            },
        );
        let known = self
            .by_source
            .get(&source)
            .copied()
            .filter(|id| self.calls.get(id).is_some_and(|c| c.rtc.accepts(&input)));
        // Only a STUN binding request can start a new address: anything else
        // from an unknown source is dropped without asking every call.
        let id = known.or_else(|| {
            is_stun(data)
                .then(|| {
                    self.calls
                        .iter()
                        .find(|(_, call)| call.rtc.accepts(&input))
                        .map(|(id, _)| *id)
                })
                .flatten()
        });
        let Some(id) = id else {
            self.settings.metrics.udp_unmatched.inc();
            return;
        };
        if known.is_none() {
            self.by_source.insert(source, id);
        }
        let call = self.calls.get_mut(&id).expect("found above");
        if call.rtc.handle_input(input).is_err() {
            self.end_call(id, "webrtc error");
            return;
        }
        self.drive(id, now);
    }

    /// Polls a call's connection until it has nothing more to do now:
    /// sends what it transmits, handles its events, notes its timeout.
    fn drive(&mut self, id: CallId, now: Instant) {
        loop {
            let Some(call) = self.calls.get_mut(&id) else {
                return;
            };
            if !call.rtc.is_alive() {
                self.end_call(id, "disconnected");
                return;
            }
            match call.rtc.poll_output() {
                Ok(Output::Transmit(transmit)) => {
                    // UDP: a full send buffer loses this datagram, as the
                    // network could; RTCP and retransmission recover.
                    let _ = self
                        .socket
                        .try_send_to(&transmit.contents, transmit.destination);
                }
                Ok(Output::Timeout(when)) => {
                    if call.next_timeout != Some(when) {
                        call.next_timeout = Some(when);
                        self.timers.push(Reverse((when, id)));
                    }
                    return;
                }
                Ok(Output::Event(event)) => self.call_event(id, event, now),
                Err(_) => {
                    self.end_call(id, "webrtc error");
                    return;
                }
            }
        }
    }

    fn expire_timers(&mut self, now: Instant) {
        while let Some(Reverse((when, id))) = self.timers.peek().copied() {
            if when > now {
                break;
            }
            self.timers.pop();
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            if call.next_timeout != Some(when) {
                continue; // superseded by a later timeout
            }
            call.next_timeout = None;
            if call.rtc.handle_input(Input::Timeout(now)).is_err() {
                self.end_call(id, "webrtc error");
                continue;
            }
            self.drive(id, now);
        }
    }

    /// Goes back from a swap on probation to the pipeline before it: new
    /// calls get the previous pipeline, and running sessions of the new
    /// one (or still waiting to switch to it) switch back at their next
    /// keyframe.
    fn roll_back(&mut self, why: &str) {
        let Some(probation) = self.probation.take() else {
            return;
        };
        let failed = self.settings.pipeline.clone();
        let sessions = self
            .settings
            .runtime
            .swap_pipeline(&failed, &probation.previous)
            .unwrap_or(0);
        self.settings.stage_names = stage_names(&probation.previous);
        self.settings.pipeline = probation.previous;
        self.settings
            .metrics
            .swapped(&probation.stage, "rolled back");
        log::warn!(
            "the swap to stage {} is rolled back ({why}): new calls get the previous pipeline, {sessions} running session(s) switch back",
            framechain::text::untrusted(&probation.stage, 80)
        );
    }

    /// A session opened on the current pipeline gave out its first picture.
    fn session_started(&mut self, on_probation: bool, now: Instant) {
        self.settings.start_health.started();
        if let Some(probation) = &mut self.probation
            && on_probation
        {
            probation.good_starts += 1;
        }
        self.end_probation(now);
    }

    /// Ends a probation that has lasted long enough with enough good starts.
    fn end_probation(&mut self, now: Instant) {
        if self.probation.as_ref().is_some_and(|probation| {
            probation.good_starts >= SWAP_PROBATION_STARTS
                && now.duration_since(probation.since) >= SWAP_PROBATION
        }) {
            self.probation = None;
        }
    }

    /// Ends calls that never connected and publishers that went quiet.
    fn housekeeping(&mut self, now: Instant) {
        self.end_probation(now);
        let mut to_end = Vec::new();
        for (id, call) in &self.calls {
            if !call.connected && now.duration_since(call.created) > self.settings.connect_timeout {
                to_end.push((*id, "connect timeout"));
            } else if call.connected
                && matches!(call.role, CallRole::Publisher { .. })
                && now.duration_since(call.last_media) > self.settings.idle_timeout
            {
                to_end.push((*id, "no media"));
            }
        }
        for (id, reason) in to_end {
            self.end_call(id, reason);
        }
    }

    fn call_event(&mut self, id: CallId, event: Event, now: Instant) {
        match event {
            Event::Connected => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                call.connected = true;
                call.last_media = now;
                if matches!(call.role, CallRole::Viewer { .. }) {
                    let stream = call.stream.clone();
                    // Places are taken when viewers connect: one that
                    // connects when the others have filled the stream is
                    // ended (its offer got in while places were free).
                    if self.connected_viewers(&stream) > self.settings.max_viewers {
                        self.settings.metrics.refused("viewers");
                        self.end_call(id, "viewers full");
                        return;
                    }
                    // A new viewer can only start at a keyframe.
                    self.stream_keyframe(&stream, now);
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.end_call(id, "ice disconnected");
            }
            Event::MediaData(data) => self.media_in(id, data, now),
            Event::KeyframeRequest(_) => {
                if let Some(call) = self.calls.get(&id) {
                    let stream = call.stream.clone();
                    self.stream_keyframe(&stream, now);
                }
            }
            Event::EgressBitrateEstimate(estimate) => self.viewer_estimate(id, estimate, now),
            _ => {}
        }
    }

    /// An access unit from a publisher goes into its session.
    fn media_in(&mut self, id: CallId, data: str0m::media::MediaData, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let CallRole::Publisher {
            last_seq,
            keyframes,
        } = &mut call.role
        else {
            return;
        };
        if data.mid != call.mid {
            return;
        }
        call.last_media = now;
        let first = **data.seq_range.start();
        let last = **data.seq_range.end();
        let lost = last_seq.map_or(0, |previous| first.saturating_sub(previous + 1));
        *last_seq = Some(last_seq.map_or(last, |previous| previous.max(last)));
        let packets = last.saturating_sub(first) + 1;
        let keyframe = data.is_keyframe();
        if keyframe {
            keyframes.keyframe_seen();
        }
        let contiguous = data.contiguous;
        let stream = call.stream.clone();
        let packet = Packet {
            codec: Codec::H264,
            data: data.data.to_vec(),
            pts: data
                .time
                .rebase(str0m::media::Frequency::NINETY_KHZ)
                .numer() as i64,
            dts: data
                .time
                .rebase(str0m::media::Frequency::NINETY_KHZ)
                .numer() as i64,
            keyframe,
        };
        let metrics = &self.settings.metrics;
        metrics.frames_in.inc();
        metrics.rtp_packets.inc_by(packets);
        metrics.rtp_lost.inc_by(lost);
        if let Some(state) = self.streams.get_mut(&stream) {
            state.stats.frames_in += 1;
            state.stats.rtp_packets += packets;
            state.stats.rtp_lost += lost;
            if let Some((_, session)) = &state.session {
                session.push(packet, now);
            }
        }
        if !contiguous {
            // Packets were lost: the decoder will need a keyframe.
            self.publisher_keyframe(id, now);
        }
    }

    /// A viewer's bandwidth estimate (TWCC from its feedback, or its REMB)
    /// may move the stream encoder's target bitrate.
    fn viewer_estimate(&mut self, id: CallId, estimate: BweKind, now: Instant) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if !self.settings.congestion_control || !matches!(call.role, CallRole::Viewer { .. }) {
            return;
        }
        let estimate = match estimate {
            BweKind::Twcc { estimate, .. } | BweKind::Remb { estimate, .. } => estimate,
            // str0m's enum is non-exhaustive: a kind this server does not
            // know leaves the target alone.
            _ => return,
        };
        let Some(state) = self.streams.get_mut(&call.stream) else {
            return;
        };
        state.bitrate.estimate(id, estimate.as_u64());
        let Some((_, session)) = &state.session else {
            return;
        };
        if let Some(target) = state.bitrate.poll(now) {
            session.set_bitrate(target);
            self.settings.metrics.bitrate_changes.inc();
        }
    }

    /// Asks a stream's session (its encoder) for a keyframe, at most once
    /// per [`KEYFRAME_REQUEST_INTERVAL`]; a request inside the interval
    /// goes out when it ends unless a keyframe came out meanwhile.
    fn stream_keyframe(&mut self, stream: &str, now: Instant) {
        let Some(state) = self.streams.get_mut(stream) else {
            return;
        };
        let Some((_, session)) = &state.session else {
            return;
        };
        match state.keyframes.request(now) {
            Request::Send => session.request_keyframe(),
            Request::Deferred(at) => self
                .keyframe_timers
                .push(Reverse((at, KeyframeTarget::Stream(stream.to_owned())))),
            Request::AlreadyPending => {}
        }
    }

    /// Asks a publisher for a keyframe (a PLI), at most once per
    /// [`KEYFRAME_REQUEST_INTERVAL`]; a request inside the interval goes
    /// out when it ends unless a keyframe came meanwhile.
    fn publisher_keyframe(&mut self, id: CallId, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let CallRole::Publisher { keyframes, .. } = &mut call.role else {
            return;
        };
        match keyframes.request(now) {
            Request::Send => self.send_pli(id, now),
            Request::Deferred(at) => self
                .keyframe_timers
                .push(Reverse((at, KeyframeTarget::Publisher(id)))),
            Request::AlreadyPending => {}
        }
    }

    fn send_pli(&mut self, id: CallId, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(mut writer) = call.rtc.writer(call.mid)
            && writer
                .request_keyframe(None, KeyframeRequestKind::Pli)
                .is_ok()
        {
            self.settings.metrics.keyframe_requests.inc();
        }
        self.drive(id, now);
    }

    /// Routes a session's event to its stream; `current` when the session
    /// is still the stream's (not one it replaced).
    fn session_event(&mut self, session: SessionId, event: LiveEvent) {
        let now = Instant::now();
        let stream = if matches!(event, LiveEvent::Ended(_)) {
            self.session_streams.remove(&session)
        } else {
            self.session_streams.get(&session).cloned()
        };
        let Some(stream) = stream else {
            return;
        };
        let stream = stream.as_str();
        let Some(state) = self.streams.get_mut(stream) else {
            return;
        };
        let current = state
            .session
            .as_ref()
            .is_some_and(|(live, _)| *live == session);
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
                    let on_probation = state.session_on_probation;
                    self.session_started(on_probation, now);
                }
                let Some(state) = self.streams.get_mut(stream) else {
                    return;
                };
                metrics.frames_out.inc();
                metrics.end_to_end(latency);
                for (name, time) in self.settings.stage_names.iter().zip(&stages) {
                    metrics.stage_latency(name, *time);
                }
                state.stats.record(now, latency, stages);
                let viewers = state.viewers.clone();
                self.send_to_viewers(&viewers, &packet, now);
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
                    self.roll_back("a running session could not switch to it");
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
                let on_new_pipeline = state.session.as_ref().is_some_and(|(_, session)| {
                    Arc::ptr_eq(&session.pipeline(), &self.settings.pipeline)
                });
                if !state.session_started {
                    self.settings.start_health.failed(now);
                }
                if on_new_pipeline {
                    self.roll_back("a session running it failed");
                }
            }
            LiveEvent::Ended(_) => {
                metrics
                    .sessions
                    .set(self.settings.runtime.sessions() as i64);
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

    /// One processed access unit to every connected viewer.
    fn send_to_viewers(&mut self, viewers: &[CallId], packet: &Packet, now: Instant) {
        let data: Arc<[u8]> = Arc::from(packet.data.as_slice());
        let time = MediaTime::from_90khz(packet.pts.max(0) as u64);
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
            if !call.connected || (*waiting_for_keyframe && !packet.keyframe) {
                continue;
            }
            *waiting_for_keyframe = false;
            let Some(writer) = call.rtc.writer(call.mid) else {
                continue;
            };
            let Some(pt) = writer
                .payload_params()
                .find(|params| {
                    let spec = params.spec();
                    spec.codec == RtpCodec::H264 && spec.format.packetization_mode == Some(1)
                })
                .map(|params| params.pt())
            else {
                continue;
            };
            if writer.write(pt, now, time, data.clone()).is_err() {
                self.end_call(id, "webrtc error");
                continue;
            }
            self.drive(id, now);
        }
    }

    /// Ends a call: its connection closes; a publisher's session is told to
    /// finish (its viewers are ended when it has); a viewer leaves its
    /// stream.
    fn end_call(&mut self, id: CallId, reason: &'static str) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        call.rtc.disconnect();
        self.by_source.retain(|_, call_id| *call_id != id);
        self.settings.metrics.ended(reason);
        let Some(state) = self.streams.get_mut(&call.stream) else {
            return;
        };
        match call.role {
            CallRole::Publisher { .. } => {
                log::info!("stream {}: publisher ended: {reason}", call.stream);
                if state.publisher == Some(id) {
                    state.publisher = None;
                }
                if let Some((_, session)) = &state.session {
                    session.finish();
                }
            }
            CallRole::Viewer { .. } => {
                state.viewers.retain(|viewer| *viewer != id);
                state.bitrate.viewer_left(id);
                self.settings.metrics.viewers.dec();
            }
        }
    }
}

/// The names of a pipeline's stages, in chain order.
pub(crate) fn stage_names(pipeline: &Pipeline) -> Vec<String> {
    pipeline
        .stages()
        .map(|stage| stage.name().to_owned())
        .collect()
}

/// A STUN message: first two bits zero and the magic cookie (RFC 5389).
fn is_stun(data: &[u8]) -> bool {
    data.len() >= 20 && data[0] < 4 && data[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

/// An unguessable resource name for a call's `Location`.
fn resource_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
