//! The driver: one tokio task owns the UDP socket, the timer, the
//! commands from the HTTP side and the live sessions' events, and feeds
//! them into the [`CallCore`]; it does what the core's outputs say (send a
//! datagram, push an access unit into a session, ...). It also opens the
//! sessions and keeps the pipeline they are opened on ([`Pipelines`]).
//!
//! A frame's way: a publisher's RTP packets → [`CallCore`] (str0m
//! depacketizes them into one Annex-B access unit, `Event::MediaData`) →
//! [`SessionAction::Push`] → [`LiveSession::push`] → the pipeline on a
//! worker thread → `LiveEvent::Output` → [`Input::Live`] → every viewer's
//! `Writer::write` in the core (packetized, encrypted) →
//! [`Output::Transmit`] → the socket.
//!
//! A sound's way is shorter: a publisher's Opus packet → [`CallCore`]
//! (`Event::MediaData` on its audio media) → every viewer's audio
//! `Writer::write`, undecoded → [`Output::Transmit`] → the socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use framechain::Pipeline;
use framechain::live::{LiveEvent, LiveEvents, LiveRuntime, LiveSession, SessionId};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use super::calls::{PublisherMedia, SessionKey};
use super::core::{CallCore, CoreSettings, Input, NewCall, NotAdmitted, Output, SessionAction};
use super::swap::Pipelines;
use crate::auth::Role;
use crate::metrics::Metrics;
use crate::offer::{self, OfferError};
use crate::stream_stats::StatsReport;

/// Datagrams read per wake-up before other work gets a turn.
const DATAGRAMS_PER_WAKE: usize = 256;
/// How often, on a pod, each call's numbers are summed up in the audit
/// trail (`call_summary`).
const SUMMARY_PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

/// A stream's counts at its last summary.
#[derive(Default)]
struct Summarised {
    frames_in: u64,
    frames_out: u64,
    dropped: std::collections::BTreeMap<String, u64>,
}

/// What becomes of a room publisher's video.
pub(crate) enum PublishedVideo {
    /// The server's pipeline (`--pipeline`, or what a swap made of it).
    ServerPipeline,
    /// The room's pipeline for the publisher's role.
    Own(Arc<Pipeline>),
    /// Forwarded as sent, with no live session.
    Forward,
}

/// What the HTTP side asks the media loop.
pub(crate) enum Command {
    /// A WHIP or WHEP offer, already authorized.
    Open {
        stream: String,
        role: Role,
        offer: String,
        /// Which of the stream's tokens let it in, on a pod (audit trail).
        participant: Option<String>,
        /// The client address the offer came from, if known.
        client: Option<std::net::IpAddr>,
        reply: oneshot::Sender<Result<Created, Refusal>>,
    },
    /// A room participant's WHIP or WHEP offer, already authorized: the
    /// stream `ROOM/PARTICIPANT` is added if need be, and a publisher's
    /// video becomes what `video` says.
    OpenInRoom {
        stream: String,
        role: Role,
        offer: String,
        video: PublishedVideo,
        /// Who joins (the token's or ticket's `sub`), for the audit trail.
        participant: String,
        /// The client address the offer came from, if known.
        client: Option<std::net::IpAddr>,
        reply: oneshot::Sender<Result<Created, Refusal>>,
    },
    /// The calls of room `room` end: its participants' streams (those of
    /// `participants` only, when given) are removed.
    EndRoom {
        room: String,
        participants: Option<Vec<String>>,
        reason: &'static str,
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
    /// The participants of room `room` who publish now, and the pipeline
    /// new publishers get.
    RoomPublishers {
        room: String,
        reply: oneshot::Sender<(Vec<String>, Arc<Pipeline>)>,
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
    /// The client has its most viewers' offers still connecting: 429.
    PendingOffers,
    /// The session could not start: 500.
    Internal(String),
}

/// The driver's settings (the core's are in [`CoreSettings`]).
pub(crate) struct DriverSettings {
    pub runtime: Arc<LiveRuntime>,
    pub metrics: Arc<Metrics>,
    /// The candidate the answers carry (the bound address, or the
    /// advertised one); datagrams are handed to str0m as sent to it.
    pub candidate: SocketAddr,
    pub max_sessions: usize,
    pub fps: f64,
    /// Viewers' bandwidth estimates set the encoder's target bitrate.
    pub congestion_control: bool,
    /// The audit trail, on an edge pod (`crate::edge`).
    pub audit: Option<crate::edge::Audit>,
}

/// A live session the driver opened, until its events end.
struct OpenSession {
    session: Arc<LiveSession>,
    /// Its stream (for the audit trail).
    stream: String,
    /// Opened on a swapped-in pipeline still on probation.
    on_probation: bool,
}

/// The task that runs the [`CallCore`] on tokio.
pub(crate) struct MediaDriver {
    settings: DriverSettings,
    core: CallCore,
    socket: Arc<UdpSocket>,
    pipelines: Pipelines,
    sessions: HashMap<SessionKey, OpenSession>,
    /// Who each room call's participant is, by resource (audit trail).
    participants: HashMap<String, String>,
    /// Each live stream's counts at its last summary, and when the next is.
    summarised: HashMap<String, Summarised>,
    next_summary: Instant,
    /// When the core wants [`Input::Timeout`].
    deadline: Instant,
}

impl MediaDriver {
    /// A driver whose publishers get `pipeline` (until a swap).
    pub(crate) fn new(
        settings: DriverSettings,
        pipeline: Arc<Pipeline>,
        core: CoreSettings,
        socket: Arc<UdpSocket>,
    ) -> MediaDriver {
        let now = Instant::now();
        MediaDriver {
            pipelines: Pipelines::new(pipeline),
            settings,
            core: CallCore::new(core, now),
            socket,
            sessions: HashMap::new(),
            participants: HashMap::new(),
            summarised: HashMap::new(),
            next_summary: now + SUMMARY_PERIOD,
            deadline: now,
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
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(command) = commands.recv() => self.command(command),
                // Cancel-safe: an event leaves the runtime's receiver only
                // when this branch wins.
                Some((session, event)) = session_events.next() => {
                    self.live_event(session, event);
                    while let Some((session, event)) = session_events.try_recv() {
                        self.live_event(session, event);
                    }
                }
                received = socket.recv_from(&mut buf) => {
                    if let Ok((length, source)) = received {
                        self.datagram(&buf[..length], source);
                    }
                    for _ in 0..DATAGRAMS_PER_WAKE {
                        match socket.try_recv_from(&mut buf) {
                            Ok((length, source)) => self.datagram(&buf[..length], source),
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(self.deadline.into()) => {
                    self.input(Input::Timeout);
                }
                _ = tokio::time::sleep_until(self.next_summary.into()),
                    if self.settings.audit.is_some() => self.summarise(),
            }
        }
        self.input(Input::Shutdown);
    }

    /// The one intake of the live sessions' events, from the runtime's one
    /// bounded receiver (outputs past `LiveConfig::event_depth` per session
    /// are dropped and counted by the runtime as "receiver behind"): each
    /// goes into the core with its session's key.
    fn live_event(&mut self, session: SessionId, event: LiveEvent) {
        self.input(Input::Live {
            session: session_key(session),
            event,
        });
    }

    fn datagram(&mut self, bytes: &[u8], source: SocketAddr) {
        self.input(Input::Datagram {
            source,
            destination: self.settings.candidate,
            bytes,
        });
    }

    /// Feeds one input into the core at the time now, and does what it
    /// says until it waits for time.
    fn input(&mut self, input: Input<'_>) {
        let now = Instant::now();
        self.core.handle_input(now, input);
        self.run_outputs(now);
    }

    fn run_outputs(&mut self, now: Instant) {
        loop {
            match self.core.poll_output() {
                Output::Transmit { destination, bytes } => {
                    // UDP: a full send buffer loses this datagram, as the
                    // network could; RTCP and retransmission recover.
                    let _ = self.socket.try_send_to(&bytes, destination);
                }
                Output::Session { session, action } => {
                    let Some(open) = self.sessions.get(&session) else {
                        continue;
                    };
                    match action {
                        SessionAction::Push { packet, arrival } => {
                            open.session.push(packet, arrival)
                        }
                        SessionAction::RequestKeyframe => open.session.request_keyframe(),
                        SessionAction::SetBitrate(target) => open.session.set_bitrate(target),
                        SessionAction::Finish => open.session.finish(),
                    }
                }
                Output::SessionStarted(session) => {
                    let on_probation = self
                        .sessions
                        .get(&session)
                        .is_some_and(|open| open.on_probation);
                    self.pipelines.session_started(on_probation, now);
                }
                Output::SessionFailed(session) => {
                    if let (Some(audit), Some(open)) =
                        (&self.settings.audit, self.sessions.get(&session))
                    {
                        audit.record_later(
                            room_of(&open.stream),
                            participant_of(&open.stream),
                            framechain_events::EventKind::SessionFailed {
                                stream: open.stream.clone(),
                                error: "the live session failed".to_owned(),
                            },
                        );
                    }
                    let on_new_pipeline = self.sessions.get(&session).is_some_and(|open| {
                        Arc::ptr_eq(&open.session.pipeline(), self.pipelines.current())
                    });
                    if on_new_pipeline {
                        self.roll_back("a session running it failed", now);
                    }
                }
                Output::SwapFailed => {
                    self.roll_back("a running session could not switch to it", now)
                }
                Output::SessionEnded(session) => {
                    self.sessions.remove(&session);
                    self.settings
                        .metrics
                        .sessions
                        .set(self.settings.runtime.sessions() as i64);
                }
                Output::CallEnded {
                    stream,
                    resource,
                    publisher,
                    reason,
                } => self.call_ended(stream, resource, publisher, reason),
                Output::Timeout(deadline) => {
                    self.deadline = deadline;
                    break;
                }
            }
        }
        // A probation ends with time as well as with starts.
        self.pipelines.end_probation(now);
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Open {
                stream,
                role,
                offer,
                participant,
                client,
                reply,
            } => {
                let result = self.open(
                    stream,
                    role,
                    &offer,
                    PublishedVideo::ServerPipeline,
                    participant,
                    client,
                );
                let _ = reply.send(result);
            }
            Command::OpenInRoom {
                stream,
                role,
                offer,
                video,
                participant,
                client,
                reply,
            } => {
                self.input(Input::AddStream(stream.clone()));
                let result = self.open(stream, role, &offer, video, Some(participant), client);
                let _ = reply.send(result);
            }
            Command::EndRoom {
                room,
                participants,
                reason,
            } => {
                for name in self.core.room_streams(&room) {
                    let named = participants.as_ref().is_none_or(|ids| {
                        name.split_once('/')
                            .is_some_and(|(_, id)| ids.iter().any(|p| p == id))
                    });
                    if named {
                        self.input(Input::RemoveStream { name, reason });
                    }
                }
            }
            Command::Close {
                stream,
                role,
                resource,
                reply,
            } => {
                let found = self.core.find_call(&stream, role, &resource);
                if let Some(id) = found {
                    self.input(Input::EndCall {
                        id,
                        reason: "deleted",
                    });
                }
                let _ = reply.send(found.is_some());
            }
            Command::Pipeline { reply } => {
                let _ = reply.send(self.pipelines.current().clone());
            }
            Command::Swap {
                from,
                to,
                stage,
                reply,
            } => {
                let result = if !Arc::ptr_eq(&from, self.pipelines.current()) {
                    Err("the pipeline changed while the new stage was built; ask again".to_owned())
                } else {
                    self.settings
                        .runtime
                        .swap_pipeline(&from, &to)
                        .map_err(|error| error.to_string())
                };
                if result.is_ok() {
                    self.record_swap(&from, &to);
                    let names = stage_names(&to);
                    self.pipelines.swapped(from, to, stage, Instant::now());
                    self.input(Input::StageNames(names));
                }
                let _ = reply.send(result);
            }
            Command::Stats { stream, reply } => {
                let _ = reply.send(self.core.stats(&stream));
            }
            Command::RoomPublishers { room, reply } => {
                let publishers = self.core.room_publishers(&room);
                let _ = reply.send((publishers, self.pipelines.current().clone()));
            }
        }
    }

    /// Opens a call: the core's checks, the node's room, the offer, and
    /// for a publisher its session; then the core takes the call.
    fn open(
        &mut self,
        stream: String,
        role: Role,
        offer: &str,
        video: PublishedVideo,
        participant: Option<String>,
        client: Option<std::net::IpAddr>,
    ) -> Result<Created, Refusal> {
        // A room's own pipeline is not the swap's to judge.
        let own_pipeline = matches!(video, PublishedVideo::Own(_));
        let settings = &self.settings;
        match self.core.admit(&stream, role, client) {
            Ok(()) => {}
            Err(NotAdmitted::UnknownStream) => {
                return Err(Refusal::Internal("unknown stream".to_owned()));
            }
            Err(NotAdmitted::StreamBusy) => return Err(Refusal::StreamBusy),
            Err(NotAdmitted::ViewersFull) => return Err(Refusal::ViewersFull),
            Err(NotAdmitted::PendingOffers) => return Err(Refusal::PendingOffers),
        }
        let forward = matches!(video, PublishedVideo::Forward);
        if role == Role::Publish && !forward && settings.runtime.sessions() >= settings.max_sessions
        {
            return Err(Refusal::Full("sessions"));
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
        let session = match role {
            // Forwarded as sent: no session, nothing of the picture parsed.
            Role::Publish if forward => Some(PublisherMedia::Forward),
            Role::Publish => {
                let pipeline = match &video {
                    PublishedVideo::Own(pipeline) => pipeline,
                    _ => self.pipelines.current(),
                };
                let session = match settings.runtime.open(pipeline, settings.fps) {
                    Ok(session) => Arc::new(session),
                    Err(framechain::Error::Busy(_)) => return Err(Refusal::Full("busy")),
                    Err(error) => return Err(Refusal::Internal(error.to_string())),
                };
                let key = session_key(session.id());
                self.sessions.insert(
                    key,
                    OpenSession {
                        session,
                        stream: stream.clone(),
                        on_probation: !own_pipeline && self.pipelines.on_probation(),
                    },
                );
                self.settings
                    .metrics
                    .sessions
                    .set(self.settings.runtime.sessions() as i64);
                Some(PublisherMedia::Session(key))
            }
            Role::View => None,
        };
        let resource = resource_id();
        if let Some(audit) = &self.settings.audit {
            if let Some(participant) = participant {
                self.participants.insert(resource.clone(), participant);
            }
            if role == Role::Publish {
                let digest = match &video {
                    PublishedVideo::Forward => "forward".to_owned(),
                    PublishedVideo::Own(pipeline) => {
                        crate::visit::routes::pipeline_digest(pipeline)
                    }
                    PublishedVideo::ServerPipeline => {
                        crate::visit::routes::pipeline_digest(self.pipelines.current())
                    }
                };
                audit.record_later(
                    room_of(&stream),
                    participant_of(&stream),
                    framechain_events::EventKind::CallStarted {
                        stream: stream.clone(),
                        pipeline_digest: digest,
                    },
                );
            }
        }
        self.input(Input::AddCall(Box::new(NewCall {
            stream,
            resource: resource.clone(),
            rtc: accepted.rtc,
            mid: accepted.mid,
            audio_mid: accepted.audio_mid,
            media: session,
            client,
        })));
        Ok(Created {
            resource,
            answer: accepted.answer,
        })
    }

    /// A call ended: on a pod, its participant left (and a publisher's
    /// call ended).
    fn call_ended(&mut self, stream: String, resource: String, publisher: bool, reason: &str) {
        let who = self.participants.remove(&resource);
        let Some(audit) = &self.settings.audit else {
            return;
        };
        let room = room_of(&stream);
        // A room's participant, or a `--stream` call recorded when it
        // joined.
        if room.is_some() || who.is_some() {
            let action = if publisher {
                framechain_events::Action::Publish
            } else {
                framechain_events::Action::Watch
            };
            audit.record_later(
                room,
                who.as_deref(),
                framechain_events::EventKind::ParticipantLeft {
                    action,
                    stream: stream.clone(),
                    reason: reason.to_owned(),
                },
            );
        }
        if publisher {
            audit.record_later(
                room,
                participant_of(&stream),
                framechain_events::EventKind::CallEnded {
                    stream: stream.clone(),
                    reason: reason.to_owned(),
                },
            );
        }
    }

    /// On a pod, every live call's frames, drops and latency since its
    /// last summary (`call_summary`).
    fn summarise(&mut self) {
        self.next_summary = Instant::now() + SUMMARY_PERIOD;
        let Some(audit) = self.settings.audit.clone() else {
            return;
        };
        let live = self.core.live_streams();
        self.summarised.retain(|stream, _| live.contains(stream));
        for stream in live {
            let Some(report) = self.core.stats(&stream) else {
                continue;
            };
            let last = self.summarised.entry(stream.clone()).or_default();
            // A new publisher's counts start again from 0.
            if report.frames.frames_in < last.frames_in || report.frames.out < last.frames_out {
                *last = Summarised::default();
            }
            let dropped = report
                .frames
                .dropped
                .iter()
                .map(|(reason, count)| {
                    let before = last.dropped.get(reason).copied().unwrap_or(0);
                    (reason.clone(), count.saturating_sub(before))
                })
                .filter(|(_, count)| *count > 0)
                .collect();
            let latency = &report.latency_ms.end_to_end;
            let measured = latency.samples > 0;
            audit.record_later(
                room_of(&stream),
                participant_of(&stream),
                framechain_events::EventKind::CallSummary {
                    stream: stream.clone(),
                    period_s: SUMMARY_PERIOD.as_secs() as u32,
                    frames_in: report.frames.frames_in - last.frames_in,
                    frames_out: report.frames.out - last.frames_out,
                    dropped,
                    latency_p50_ms: measured.then_some(latency.p50),
                    latency_p99_ms: measured.then_some(latency.p99),
                },
            );
            *last = Summarised {
                frames_in: report.frames.frames_in,
                frames_out: report.frames.out,
                dropped: report.frames.dropped,
            };
        }
    }

    /// On a pod, the stages a swap changed.
    fn record_swap(&self, from: &Pipeline, to: &Pipeline) {
        let Some(audit) = &self.settings.audit else {
            return;
        };
        for (old, new) in from.stages().zip(to.stages()) {
            if old.digest() != new.digest() || old.name() != new.name() {
                audit.record_later(
                    None,
                    None,
                    framechain_events::EventKind::StageSwapped {
                        stage: new.name().to_owned(),
                        old_digest: old.digest().to_owned(),
                        new_digest: new.digest().to_owned(),
                    },
                );
            }
        }
    }

    /// Goes back from a swap on probation to the pipeline before it: new
    /// calls get the previous pipeline, and running sessions of the new
    /// one (or still waiting to switch to it) switch back at their next
    /// keyframe.
    fn roll_back(&mut self, why: &str, now: Instant) {
        let Some(back) = self.pipelines.roll_back() else {
            return;
        };
        let sessions = self
            .settings
            .runtime
            .swap_pipeline(&back.from, &back.to)
            .unwrap_or(0);
        self.settings.metrics.swapped(&back.stage, "rolled back");
        log::warn!(
            "the swap to stage {} is rolled back ({why}): new calls get the previous pipeline, {sessions} running session(s) switch back",
            framechain::text::untrusted(&back.stage, 80)
        );
        // Called from the outputs' loop, which goes on polling what
        // this input queues.
        self.core
            .handle_input(now, Input::StageNames(stage_names(&back.to)));
    }
}

/// The names of a pipeline's stages, in chain order.
pub(crate) fn stage_names(pipeline: &Pipeline) -> Vec<String> {
    pipeline
        .stages()
        .map(|stage| stage.name().to_owned())
        .collect()
}

/// The room of a room stream (`ROOM/PARTICIPANT`).
fn room_of(stream: &str) -> Option<&str> {
    stream.split_once('/').map(|(room, _)| room)
}

/// The participant of a room stream.
fn participant_of(stream: &str) -> Option<&str> {
    stream.split_once('/').map(|(_, participant)| participant)
}

/// The core's name for a live session: its runtime id.
fn session_key(session: SessionId) -> SessionKey {
    SessionKey(session.get())
}

/// An unguessable resource name for a call's `Location`.
fn resource_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
