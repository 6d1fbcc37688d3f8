//! The call core: every call's WebRTC connection, the routing of
//! datagrams to them, and the keyframe and bitrate policy, without a
//! socket or a clock (str0m's shape: time is passed in, input goes in
//! through [`CallCore::handle_input`], and what the driver must do comes
//! out of [`CallCore::poll_output`] until it says [`Output::Timeout`]).
//!
//! Handlers never call back into the driver: they queue outputs, and a
//! call whose connection has something new to say (a PLI written, a
//! picture written) is marked and polled once the input is handled, so
//! the core has no recursion through its connections either.
//!
//! Beside this file: `core/keyframes.rs` (keyframe requests, rate-limited),
//! `core/session_events.rs` (a live session's events: pictures to the
//! viewers, counts, its end), `core/forwarding.rs` (audio, and a
//! forward-only publisher's video, to the viewers as they came, bounded)
//! and `core/lip_sync.rs` (the source arrivals processed pictures are
//! timed by).
//!
//! The metrics counters live here, behind the shared [`Metrics`]: they
//! are atomics a scrape reads, so counting them where they happen keeps
//! each count next to its cause and the outputs about what the driver
//! must *do*. Only the open-sessions gauge is set by the driver, which is
//! the one that opens and drops sessions.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framechain::live::LiveEvent;
use framechain::{Codec, Packet};
use str0m::bwe::BweKind;
use str0m::media::Mid;
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Rtc};

pub(crate) mod forwarding;
mod keyframes;
pub(crate) mod lip_sync;
mod session_events;
mod streams;

use keyframes::KeyframeTarget;

use super::calls::{Call, CallId, CallRole, PublisherMedia, SessionKey, StreamState};
use super::routing::Routes;
use super::start_health::StartHealth;
use crate::auth::Role;
use crate::metrics::Metrics;
use crate::stream_stats::{StatsReport, StreamStats};

/// How often connect and idle timeouts are checked.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(250);
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

/// The core's settings.
pub(crate) struct CoreSettings {
    /// The configured streams' names.
    pub streams: Vec<String>,
    /// The current pipeline's stage names, in chain order (for the
    /// per-stage latencies).
    pub stage_names: Vec<String>,
    pub max_viewers: usize,
    /// A connected publisher without media for this long is ended.
    pub idle_timeout: Duration,
    /// A call that has not connected after this long is ended.
    pub connect_timeout: Duration,
    /// Viewers' offers from one client address that may wait for ICE and
    /// DTLS at once; more are refused ([`NotAdmitted::PendingOffers`]).
    pub max_pending_offers_per_client: usize,
    /// Viewers' bandwidth estimates set the encoder's target bitrate.
    pub congestion_control: bool,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// Whether new sessions start, shared with `/readyz`.
    pub start_health: Arc<StartHealth>,
}

/// What goes into the core.
pub(crate) enum Input<'a> {
    /// A datagram from the network.
    Datagram {
        source: SocketAddr,
        /// The address it was sent to (the answers' candidate).
        destination: SocketAddr,
        bytes: &'a [u8],
    },
    /// Time passed (the deadline of the last [`Output::Timeout`], or any
    /// later time).
    Timeout,
    /// A call whose offer was accepted (and, for a publisher, whose
    /// session was opened).
    AddCall(Box<NewCall>),
    /// A call ends (its resource was deleted).
    EndCall { id: CallId, reason: &'static str },
    /// An event of a live session.
    Live {
        session: SessionKey,
        event: LiveEvent,
    },
    /// A swap or a rollback changed the pipeline: its stage names.
    StageNames(Vec<String>),
    /// A stream to add (a room participant's; nothing when it exists).
    AddStream(String),
    /// A stream to remove: its calls end now with `reason`
    /// (`core/streams.rs`).
    RemoveStream { name: String, reason: &'static str },
    /// The server stops: every call ends.
    Shutdown,
}

/// A call to add.
pub(crate) struct NewCall {
    pub stream: String,
    pub resource: String,
    pub rtc: Rtc,
    pub mid: Mid,
    /// The call's Opus audio media, if it has one.
    pub audio_mid: Option<Mid>,
    /// For a publisher, what becomes of its video; `None` for a viewer.
    pub media: Option<PublisherMedia>,
    /// The client address its offer came from, if known.
    pub client: Option<std::net::IpAddr>,
}

/// What the driver must do.
#[derive(Debug)]
pub(crate) enum Output {
    /// Send a datagram from the media socket.
    Transmit {
        destination: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Act on a live session.
    Session {
        session: SessionKey,
        action: SessionAction,
    },
    /// A session gave out its first picture.
    SessionStarted(SessionKey),
    /// The current session of a stream failed.
    SessionFailed(SessionKey),
    /// A running session could not switch to a swapped-in stage, for a
    /// reason that is the stage's fault: roll the swap back.
    SwapFailed,
    /// A session ended: its events are over, drop it.
    SessionEnded(SessionKey),
    /// A call ended (for the audit trail): its stream, its resource, whether
    /// it was the publisher, and why.
    CallEnded {
        stream: String,
        resource: String,
        publisher: bool,
        reason: &'static str,
    },
    /// Nothing more to do until this time (or the next input).
    Timeout(Instant),
}

/// An action on a live session.
#[derive(Debug)]
pub(crate) enum SessionAction {
    /// [`framechain::live::LiveSession::push`].
    Push { packet: Packet, arrival: Instant },
    /// [`framechain::live::LiveSession::request_keyframe`].
    RequestKeyframe,
    /// [`framechain::live::LiveSession::set_bitrate`].
    SetBitrate(u32),
    /// [`framechain::live::LiveSession::finish`].
    Finish,
}

/// Why an offer cannot have a call now (the checks on the core's state;
/// the driver adds the offer's and the runtime's).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotAdmitted {
    UnknownStream,
    /// The stream has a publisher.
    StreamBusy,
    /// The stream has its most viewers.
    ViewersFull,
    /// The client has its most viewers' offers still connecting.
    PendingOffers,
}

/// Every call of the server, sans-IO.
pub(crate) struct CallCore {
    settings: CoreSettings,
    calls: HashMap<CallId, Call>,
    routes: Routes,
    streams: HashMap<String, StreamState>,
    /// Removed streams kept until their session ended (`core/streams.rs`).
    retired_streams: HashSet<String>,
    /// Every session until it ended, with its stream (a stream's session
    /// outlives its publisher while it flushes, and may be replaced by a
    /// new publisher's meanwhile).
    sessions: HashMap<SessionKey, String>,
    /// The timeouts the calls' connections asked for.
    timers: BinaryHeap<Reverse<(Instant, CallId)>>,
    /// Keyframe requests the throttle deferred, by when they are due.
    keyframe_timers: BinaryHeap<Reverse<(Instant, KeyframeTarget)>>,
    next_housekeeping: Instant,
    /// Calls whose connection may have something to send or say.
    to_poll: VecDeque<CallId>,
    outputs: VecDeque<Output>,
    next_call: CallId,
}

impl CallCore {
    /// A core with no calls, at `now`.
    pub(crate) fn new(settings: CoreSettings, now: Instant) -> CallCore {
        let streams = settings
            .streams
            .iter()
            .map(|name| (name.clone(), StreamState::new()))
            .collect();
        CallCore {
            settings,
            calls: HashMap::new(),
            routes: Routes::default(),
            streams,
            retired_streams: HashSet::new(),
            sessions: HashMap::new(),
            timers: BinaryHeap::new(),
            keyframe_timers: BinaryHeap::new(),
            next_housekeeping: now + HOUSEKEEPING_INTERVAL,
            to_poll: VecDeque::new(),
            outputs: VecDeque::new(),
            next_call: 1,
        }
    }

    /// Handles one input at `now`, then whatever time has made due.
    pub(crate) fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Datagram {
                source,
                destination,
                bytes,
            } => self.datagram(source, destination, bytes, now),
            Input::Timeout => {}
            Input::AddCall(call) => {
                self.add_call(*call, now);
            }
            Input::EndCall { id, reason } => self.end_call(id, reason),
            Input::Live { session, event } => self.live_event(session, event, now),
            Input::StageNames(names) => self.settings.stage_names = names,
            Input::AddStream(name) => self.add_stream(name),
            Input::RemoveStream { name, reason } => self.remove_stream(&name, reason),
            Input::Shutdown => {
                let ids: Vec<_> = self.calls.keys().copied().collect();
                for id in ids {
                    self.end_call(id, "server shutdown");
                }
            }
        }
        self.poll_calls(now);
        self.sweep_retired_streams();
        self.expire_timers(now);
        self.deferred_keyframe_requests(now);
        if now >= self.next_housekeeping {
            self.housekeeping(now);
            self.next_housekeeping = now + HOUSEKEEPING_INTERVAL;
        }
        self.poll_calls(now);
    }

    /// The next thing the driver must do; [`Output::Timeout`] when there
    /// is nothing until then.
    pub(crate) fn poll_output(&mut self) -> Output {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        let call = self.timers.peek().map(|Reverse((when, _))| *when);
        let keyframe = self.keyframe_timers.peek().map(|Reverse((when, _))| *when);
        let deadline = call
            .into_iter()
            .chain(keyframe)
            .fold(self.next_housekeeping, Instant::min);
        Output::Timeout(deadline)
    }

    /// Whether a call of `role` from `client` may be added to `stream` now.
    pub(crate) fn admit(
        &self,
        stream: &str,
        role: Role,
        client: Option<std::net::IpAddr>,
    ) -> Result<(), NotAdmitted> {
        let state = self
            .streams
            .get(stream)
            .filter(|_| !self.retired_streams.contains(stream))
            .ok_or(NotAdmitted::UnknownStream)?;
        match role {
            Role::Publish if state.publisher.is_some() => Err(NotAdmitted::StreamBusy),
            Role::View if self.connected_viewers(stream) >= self.settings.max_viewers => {
                Err(NotAdmitted::ViewersFull)
            }
            Role::View
                if client.is_some_and(|client| {
                    self.pending_offers_from(client) >= self.settings.max_pending_offers_per_client
                }) =>
            {
                Err(NotAdmitted::PendingOffers)
            }
            _ => Ok(()),
        }
    }

    /// The call of `role` on `stream` whose resource is `resource`.
    pub(crate) fn find_call(&self, stream: &str, role: Role, resource: &str) -> Option<CallId> {
        self.calls.iter().find_map(|(id, call)| {
            let role_matches = match call.role {
                CallRole::Publisher { .. } => role == Role::Publish,
                CallRole::Viewer { .. } => role == Role::View,
            };
            (call.stream == stream && call.resource == resource && role_matches).then_some(*id)
        })
    }

    /// The watch page's numbers of `stream`.
    pub(crate) fn stats(&mut self, stream: &str) -> Option<StatsReport> {
        self.streams.get_mut(stream).map(|state| {
            let live = state.publisher.is_some();
            let viewers = state.viewers.len();
            state
                .stats
                .report(stream, live, viewers, state.bitrate.report())
        })
    }

    /// Calls open now.
    #[cfg(test)]
    pub(crate) fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Viewers' calls from `client` (by its
    /// [`crate::front_door::client_key`]) on any stream that have not
    /// connected yet. Each is ended by the connect timeout at the latest,
    /// which gives its place back.
    fn pending_offers_from(&self, client: std::net::IpAddr) -> usize {
        let client = crate::front_door::client_key(client);
        self.calls
            .values()
            .filter(|call| {
                !call.connected && !call.role.is_publisher() && call.client == Some(client)
            })
            .count()
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

    /// Adds a call whose offer was accepted; returns its id, `None` for
    /// an unknown stream. The caller checked [`CallCore::admit`].
    fn add_call(&mut self, new: NewCall, now: Instant) -> Option<CallId> {
        if !self.streams.contains_key(&new.stream) {
            return None;
        }
        let id = self.next_call;
        self.next_call += 1;
        let role = match new.media {
            Some(media) => {
                let session = match media {
                    PublisherMedia::Session(session) => {
                        self.sessions.insert(session, new.stream.clone());
                        Some(session)
                    }
                    PublisherMedia::Forward => None,
                };
                let stage_names = self.settings.stage_names.clone();
                let state = self.streams.get_mut(&new.stream)?;
                state.publisher = Some(id);
                state.session = session;
                state.forward = media == PublisherMedia::Forward;
                state.session_started = false;
                state.arrivals.clear();
                state.stats = StreamStats::new(stage_names);
                state.bitrate.restart();
                self.settings.metrics.admitted.inc();
                CallRole::publisher()
            }
            None => {
                let pending: Vec<(Instant, CallId)> = self.streams[&new.stream]
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
                let state = self.streams.get_mut(&new.stream)?;
                state.viewers.push(id);
                self.settings.metrics.viewers.inc();
                CallRole::viewer()
            }
        };
        self.calls.insert(
            id,
            Call {
                stream: new.stream,
                resource: new.resource,
                rtc: new.rtc,
                mid: new.mid,
                audio_mid: new.audio_mid,
                created: now,
                client: new.client.map(crate::front_door::client_key),
                connected: false,
                last_media: now,
                next_timeout: None,
                role,
            },
        );
        self.to_poll.push_back(id);
        Some(id)
    }

    /// One datagram from the network: ICE, DTLS, RTP or RTCP of a call,
    /// or nothing anybody asked for.
    fn datagram(&mut self, source: SocketAddr, destination: SocketAddr, data: &[u8], now: Instant) {
        let Ok(contents) = data.try_into() else {
            self.settings.metrics.udp_unmatched.inc();
            return;
        };
        let input = str0m::Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination,
                contents,
            },
        );
        let Some(id) = self.routes.route(source, data, &input, &self.calls) else {
            self.settings.metrics.udp_unmatched.inc();
            return;
        };
        let call = self.calls.get_mut(&id).expect("routed to a call");
        if call.rtc.handle_input(input).is_err() {
            self.end_call(id, "webrtc error");
            return;
        }
        self.to_poll.push_back(id);
    }

    /// Polls every marked call's connection until it has nothing more to
    /// do now. What a call's events cause may mark calls again (a PLI
    /// written, a picture sent): they are polled in this same loop.
    fn poll_calls(&mut self, now: Instant) {
        while let Some(id) = self.to_poll.pop_front() {
            self.poll_call(id, now);
        }
    }

    /// Queues what a call's connection transmits, handles its events,
    /// notes its timeout.
    fn poll_call(&mut self, id: CallId, now: Instant) {
        loop {
            let Some(call) = self.calls.get_mut(&id) else {
                return;
            };
            if !call.rtc.is_alive() {
                self.end_call(id, "disconnected");
                return;
            }
            match call.rtc.poll_output() {
                Ok(str0m::Output::Transmit(transmit)) => {
                    self.outputs.push_back(Output::Transmit {
                        destination: transmit.destination,
                        bytes: transmit.contents.into(),
                    });
                }
                Ok(str0m::Output::Timeout(when)) => {
                    if call.next_timeout != Some(when) {
                        call.next_timeout = Some(when);
                        self.timers.push(Reverse((when, id)));
                    }
                    return;
                }
                Ok(str0m::Output::Event(event)) => self.call_event(id, event, now),
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
            if call.rtc.handle_input(str0m::Input::Timeout(now)).is_err() {
                self.end_call(id, "webrtc error");
                continue;
            }
            self.to_poll.push_back(id);
        }
    }

    /// Ends calls that never connected and publishers that went quiet.
    fn housekeeping(&mut self, now: Instant) {
        let mut to_end = Vec::new();
        for (id, call) in &self.calls {
            if !call.connected && now.duration_since(call.created) > self.settings.connect_timeout {
                to_end.push((*id, "connect timeout"));
            } else if call.connected
                && call.role.is_publisher()
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
                if !call.role.is_publisher() {
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
            Event::MediaData(data) => {
                let audio = self
                    .calls
                    .get(&id)
                    .is_some_and(|call| call.audio_mid == Some(data.mid));
                if audio {
                    self.audio_in(id, data, now);
                } else {
                    self.media_in(id, data, now);
                }
            }
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

    /// An access unit from a publisher goes into its session, or for a
    /// forward-only publisher to its viewers.
    fn media_in(&mut self, id: CallId, data: str0m::media::MediaData, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let CallRole::Publisher {
            last_seq,
            keyframes,
            ..
        } = &mut call.role
        else {
            return;
        };
        if data.mid != call.mid {
            return;
        }
        if data.params.spec().codec != str0m::format::Codec::H264 {
            // Audio on the video media's payload type: str0m gives it by
            // the payload type's codec, never as video.
            self.settings
                .metrics
                .audio_dropped(forwarding::reason::WRONG_CODEC);
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
        let pts = data
            .time
            .rebase(str0m::media::Frequency::NINETY_KHZ)
            .numer() as i64;
        let packet = Packet {
            codec: Codec::H264,
            data: data.data.to_vec(),
            pts,
            dts: pts,
            keyframe,
        };
        let stream = call.stream.clone();
        let metrics = &self.settings.metrics;
        metrics.frames_in.inc();
        metrics.rtp_packets.inc_by(packets);
        metrics.rtp_lost.inc_by(lost);
        let mut forward = false;
        if let Some(state) = self.streams.get_mut(&stream) {
            state.stats.frames_in += 1;
            state.stats.rtp_packets += packets;
            state.stats.rtp_lost += lost;
            forward = state.forward;
            if let Some(session) = state.session.filter(|_| !forward) {
                // Its first packet's arrival, as the audio's (lip_sync.rs).
                state.arrivals.arrived(packet.pts, data.network_time);
                self.outputs.push_back(Output::Session {
                    session,
                    action: SessionAction::Push {
                        packet,
                        arrival: now,
                    },
                });
            }
        }
        if forward {
            self.forward_video(&stream, &data);
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
        if !self.settings.congestion_control || call.role.is_publisher() {
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
        let Some(session) = state.session else {
            return;
        };
        if let Some(target) = state.bitrate.poll(now) {
            self.outputs.push_back(Output::Session {
                session,
                action: SessionAction::SetBitrate(target),
            });
            self.settings.metrics.bitrate_changes.inc();
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
        self.routes.forget(id);
        self.settings.metrics.ended(reason);
        self.outputs.push_back(Output::CallEnded {
            stream: call.stream.clone(),
            resource: call.resource.clone(),
            publisher: matches!(call.role, CallRole::Publisher { .. }),
            reason,
        });
        let Some(state) = self.streams.get_mut(&call.stream) else {
            return;
        };
        match call.role {
            CallRole::Publisher { .. } => {
                log::info!("stream {}: publisher ended: {reason}", call.stream);
                if state.publisher == Some(id) {
                    state.publisher = None;
                }
                if let Some(session) = state.session {
                    self.outputs.push_back(Output::Session {
                        session,
                        action: SessionAction::Finish,
                    });
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
