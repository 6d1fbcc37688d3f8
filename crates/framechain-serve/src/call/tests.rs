//! The call core driven without sockets: real str0m clients made here
//! talk to the core's calls through memory (str0m is sans-IO on both
//! sides), and time is passed in, so a timeout is a number, not a wait.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framechain::live::LiveEvent;
use framechain::{Codec, Media, Packet};
use str0m::change::SdpAnswer;
use str0m::format::Codec as RtpCodec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Rtc, RtcConfig};

use super::calls::{PublisherMedia, SessionKey};
use super::core::{CallCore, CoreSettings, Input, NewCall, Output, SessionAction};
use super::start_health::StartHealth;
use crate::auth::Role;
use crate::metrics::Metrics;

const SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);
const STREAM: &str = "room";
const SESSION: SessionKey = SessionKey(7);
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// One simulated step of the network.
const STEP: Duration = Duration::from_millis(10);

mod audio;

/// What a client's offer carries, and what the core does with a
/// publisher's video.
#[derive(Clone, Copy)]
struct Offer {
    video: bool,
    audio: bool,
    /// A publisher's; a viewer's is ignored.
    media: PublisherMedia,
}

impl Default for Offer {
    fn default() -> Offer {
        Offer {
            video: true,
            audio: false,
            media: PublisherMedia::Session(SESSION),
        }
    }
}

/// A client's end of one call: a str0m peer with full ICE, as a browser.
struct Client {
    rtc: Rtc,
    addr: SocketAddr,
    mid: Mid,
    /// Its audio media, if it offered one.
    audio_mid: Option<Mid>,
    resource: String,
    connected: bool,
    /// Access units received (a viewer's).
    received: Vec<(bool, Vec<u8>)>,
    /// Every media received, audio and video (a viewer's).
    media: Vec<str0m::media::MediaData>,
    /// Keyframe requests (PLIs) received (a publisher's).
    keyframe_requests: usize,
}

/// The core, its metrics, simulated time, and what the core asked of the
/// sessions.
struct World {
    core: CallCore,
    metrics: Arc<Metrics>,
    now: Instant,
    clients: Vec<Client>,
    actions: Vec<(Instant, SessionKey, SessionAction)>,
    other: Vec<Output>,
}

impl World {
    fn new(congestion_control: bool) -> World {
        let now = Instant::now();
        let metrics = Arc::new(Metrics::new());
        let core = CallCore::new(
            CoreSettings {
                streams: vec![STREAM.to_owned()],
                stage_names: vec!["decode-h264".to_owned(), "encode-h264".to_owned()],
                max_viewers: 4,
                idle_timeout: IDLE_TIMEOUT,
                connect_timeout: Duration::from_secs(10),
                max_pending_offers_per_client: 4,
                congestion_control,
                metrics: metrics.clone(),
                start_health: Arc::new(StartHealth::default()),
            },
            now,
        );
        World {
            core,
            metrics,
            now,
            clients: Vec::new(),
            actions: Vec::new(),
            other: Vec::new(),
        }
    }

    /// A client offers (sending for a publisher, receiving for a viewer),
    /// the core takes its call, the client takes the answer. Returns the
    /// client's index.
    fn join(&mut self, role: Role) -> usize {
        self.join_with(role, Offer::default())
    }

    /// [`World::join`] with `offer`'s media.
    fn join_with(&mut self, role: Role, offer: Offer) -> usize {
        let addr: SocketAddr = format!("127.0.0.1:{}", 50000 + self.clients.len())
            .parse()
            .unwrap();
        let mut rtc = RtcConfig::new()
            .clear_codecs()
            .enable_h264(true)
            // As Chromium offers it: Opus with RED.
            .enable_opus(true, true)
            .build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut change = rtc.sdp_api();
        let direction = match role {
            Role::Publish => Direction::SendOnly,
            Role::View => Direction::RecvOnly,
        };
        let video_mid = offer
            .video
            .then(|| change.add_media(MediaKind::Video, direction, None, None, None));
        let audio_mid = offer
            .audio
            .then(|| change.add_media(MediaKind::Audio, direction, None, None, None));
        let mid = video_mid.or(audio_mid).expect("an offer with media");
        let media = offer.media;
        let (offer, pending) = change.apply().unwrap();
        let accepted =
            crate::offer::accept(&offer.to_sdp_string(), role, SERVER, true, self.now).unwrap();
        self.core.admit(STREAM, role, None).unwrap();
        let resource = format!("call-{}", self.clients.len());
        self.core.handle_input(
            self.now,
            Input::AddCall(Box::new(NewCall {
                stream: STREAM.to_owned(),
                resource: resource.clone(),
                rtc: accepted.rtc,
                mid: accepted.mid,
                audio_mid: accepted.audio_mid,
                media: (role == Role::Publish).then_some(media),
                client: None,
            })),
        );
        let answer = SdpAnswer::from_sdp_string(&accepted.answer).unwrap();
        rtc.sdp_api().accept_answer(pending, answer).unwrap();
        self.clients.push(Client {
            rtc,
            addr,
            mid,
            audio_mid,
            resource,
            connected: false,
            received: Vec::new(),
            media: Vec::new(),
            keyframe_requests: 0,
        });
        self.clients.len() - 1
    }

    /// Moves datagrams both ways until nobody has anything to send now.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for index in 0..self.clients.len() {
                while let Some(bytes) = self.poll_client(index) {
                    moved = true;
                    let source = self.clients[index].addr;
                    self.core.handle_input(
                        self.now,
                        Input::Datagram {
                            source,
                            destination: SERVER,
                            bytes: &bytes,
                        },
                    );
                }
            }
            loop {
                match self.core.poll_output() {
                    Output::Timeout(_) => break,
                    Output::Transmit { destination, bytes } => {
                        moved = true;
                        if let Some(client) =
                            self.clients.iter_mut().find(|c| c.addr == destination)
                        {
                            let input = str0m::Input::Receive(
                                self.now,
                                Receive {
                                    proto: Protocol::Udp,
                                    source: SERVER,
                                    destination,
                                    contents: bytes.as_slice().try_into().unwrap(),
                                },
                            );
                            if client.rtc.is_alive() {
                                client.rtc.handle_input(input).unwrap();
                            }
                        }
                    }
                    Output::Session { session, action } => {
                        self.actions.push((self.now, session, action))
                    }
                    other => self.other.push(other),
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the datagrams never stopped");
    }

    /// The client's next datagram to the server, handling its events on
    /// the way.
    fn poll_client(&mut self, index: usize) -> Option<Vec<u8>> {
        let client = &mut self.clients[index];
        if !client.rtc.is_alive() {
            return None;
        }
        loop {
            match client.rtc.poll_output().unwrap() {
                str0m::Output::Transmit(transmit) => return Some(transmit.contents.into()),
                str0m::Output::Timeout(_) => return None,
                str0m::Output::Event(Event::Connected) => client.connected = true,
                str0m::Output::Event(Event::MediaData(data)) => {
                    if Some(data.mid) != client.audio_mid {
                        client
                            .received
                            .push((data.is_keyframe(), data.data.to_vec()));
                    }
                    client.media.push(data);
                }
                str0m::Output::Event(Event::KeyframeRequest(_)) => client.keyframe_requests += 1,
                str0m::Output::Event(_) => {}
            }
        }
    }

    /// Time passes by `duration`, in network steps.
    fn advance(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.now += STEP;
            for client in &mut self.clients {
                if client.rtc.is_alive() {
                    client
                        .rtc
                        .handle_input(str0m::Input::Timeout(self.now))
                        .unwrap();
                }
            }
            self.core.handle_input(self.now, Input::Timeout);
            self.pump();
        }
    }

    /// Runs the network until every client connected.
    fn connect(&mut self) {
        self.pump();
        for _ in 0..500 {
            if self.clients.iter().all(|client| client.connected) {
                return;
            }
            self.advance(STEP);
        }
        panic!("the calls did not connect");
    }

    /// The session's output, as the live runtime would give it.
    fn session_output(&mut self, keyframe: bool, pts: i64) {
        let packet = Packet {
            codec: Codec::H264,
            data: access_unit(keyframe),
            pts,
            dts: pts,
            keyframe,
        };
        self.session_packet(packet, Duration::from_millis(5));
    }

    /// `packet` out of the session, `latency` after its input arrived.
    fn session_packet(&mut self, packet: Packet, latency: Duration) {
        self.core.handle_input(
            self.now,
            Input::Live {
                session: SESSION,
                event: LiveEvent::Output {
                    media: Media::Packet(packet),
                    latency,
                    stages: vec![Duration::from_millis(2), Duration::from_millis(2)],
                },
            },
        );
        self.pump();
    }

    fn keyframe_requests(&self) -> usize {
        self.actions
            .iter()
            .filter(|(_, session, action)| {
                *session == SESSION && matches!(action, SessionAction::RequestKeyframe)
            })
            .count()
    }

    /// One line of `/metrics`, e.g. `sessions_ended_total{reason="deleted"}`.
    fn metric(&self, name: &str) -> Option<f64> {
        let text = self.metrics.encode();
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("framechain_{name} ")))
            .map(|value| value.trim().parse().unwrap())
    }
}

/// An H.264 access unit as start-code-separated NAL units: SPS, PPS and
/// an IDR slice for a keyframe, else one non-IDR slice.
fn access_unit(keyframe: bool) -> Vec<u8> {
    let mut unit = Vec::new();
    if keyframe {
        unit.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0x8c, 0x8d, 0x40]);
        unit.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        unit.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84]);
    } else {
        unit.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a, 0x02]);
    }
    unit.extend(std::iter::repeat_n(0x5a, 600));
    unit
}

/// The H.264 payload type (packetization mode 1) of a client's media.
fn h264_pt(client: &mut Client) -> str0m::media::Pt {
    client
        .rtc
        .writer(client.mid)
        .unwrap()
        .payload_params()
        .find(|params| {
            let spec = params.spec();
            spec.codec == RtpCodec::H264 && spec.format.packetization_mode == Some(1)
        })
        .map(|params| params.pt())
        .unwrap()
}

#[test]
fn a_publisher_connects_and_its_access_units_go_into_its_session() {
    let mut world = World::new(true);
    let publisher = world.join(Role::Publish);
    world.connect();
    assert_eq!(world.metric("sessions_admitted_total"), Some(1.0));

    let unit = access_unit(true);
    let pt = h264_pt(&mut world.clients[publisher]);
    let now = world.now;
    let mid = world.clients[publisher].mid;
    world.clients[publisher]
        .rtc
        .writer(mid)
        .unwrap()
        .write(pt, now, MediaTime::from_90khz(3000), unit.clone())
        .unwrap();
    world.advance(Duration::from_millis(100));

    let pushed: Vec<&Packet> = world
        .actions
        .iter()
        .filter_map(|(_, session, action)| match action {
            SessionAction::Push { packet, .. } if *session == SESSION => Some(packet),
            _ => None,
        })
        .collect();
    assert_eq!(pushed.len(), 1, "one access unit in, one push");
    assert!(pushed[0].keyframe);
    assert_eq!(pushed[0].data, unit, "the access unit as it was sent");
    assert_eq!(world.metric("frames_in_total"), Some(1.0));
}

#[test]
fn a_viewers_plis_become_one_keyframe_request_per_interval() {
    let mut world = World::new(true);
    world.join(Role::Publish);
    let viewer = world.join(Role::View);
    world.connect();
    // A viewer that connects needs a keyframe: one request at once.
    assert_eq!(world.keyframe_requests(), 1);
    world.session_output(true, 0);
    world.advance(Duration::from_millis(50));
    assert_eq!(
        world.clients[viewer].received.len(),
        1,
        "the keyframe reached the viewer"
    );

    // Three PLIs within 200 ms: inside the interval, so they wait for its
    // end and go out as one.
    let asked_at = world.now;
    for _ in 0..3 {
        let mid = world.clients[viewer].mid;
        world.clients[viewer]
            .rtc
            .writer(mid)
            .unwrap()
            .request_keyframe(None, KeyframeRequestKind::Pli)
            .unwrap();
        world.advance(Duration::from_millis(70));
    }
    world.advance(Duration::from_millis(600));
    let requests: Vec<Instant> = world
        .actions
        .iter()
        .filter(|(_, _, action)| matches!(action, SessionAction::RequestKeyframe))
        .map(|(at, _, _)| *at)
        .collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests[1] > asked_at,
        "the second request is the viewers' deferred one"
    );
}

#[test]
fn viewers_bandwidth_estimates_set_the_encoders_bitrate() {
    let mut world = World::new(true);
    world.join(Role::Publish);
    world.join(Role::View);
    world.connect();
    // Pictures to the viewer for a few seconds: its transport-wide
    // feedback gives the server's estimator something to estimate.
    for frame in 0..150 {
        world.session_output(frame % 30 == 0, frame * 3000);
        world.advance(Duration::from_millis(33));
    }
    let targets: Vec<u32> = world
        .actions
        .iter()
        .filter_map(|(_, session, action)| match action {
            SessionAction::SetBitrate(target) if *session == SESSION => Some(*target),
            _ => None,
        })
        .collect();
    assert!(!targets.is_empty(), "no bitrate was set");
    assert_eq!(
        world.metric("bitrate_changes_total"),
        Some(targets.len() as f64)
    );
}

#[test]
fn a_viewer_that_leaves_gets_nothing_more_and_frees_its_place() {
    let mut world = World::new(true);
    world.join(Role::Publish);
    let viewer = world.join(Role::View);
    world.connect();
    assert_eq!(world.metric("viewers"), Some(1.0));
    world.session_output(true, 0);
    world.advance(Duration::from_millis(50));
    assert_eq!(world.clients[viewer].received.len(), 1);

    let resource = world.clients[viewer].resource.clone();
    let id = world.core.find_call(STREAM, Role::View, &resource).unwrap();
    assert_eq!(world.core.find_call(STREAM, Role::Publish, &resource), None);
    world.core.handle_input(
        world.now,
        Input::EndCall {
            id,
            reason: "deleted",
        },
    );
    world.pump();
    assert_eq!(world.metric("viewers"), Some(0.0));
    assert_eq!(world.core.calls(), 1, "the publisher goes on");
    assert_eq!(world.core.stats(STREAM).unwrap().viewers, 0);

    world.session_output(true, 3000);
    world.advance(Duration::from_millis(200));
    assert_eq!(
        world.clients[viewer].received.len(),
        1,
        "nothing after leaving"
    );
}

#[test]
fn a_quiet_publisher_times_out_and_its_session_is_finished() {
    let mut world = World::new(true);
    world.join(Role::Publish);
    world.join(Role::View);
    world.connect();
    let finishes = |world: &World| {
        world
            .actions
            .iter()
            .filter(|(_, _, action)| matches!(action, SessionAction::Finish))
            .count()
    };
    world.advance(IDLE_TIMEOUT - Duration::from_millis(500));
    assert_eq!(finishes(&world), 0, "not yet");
    world.advance(Duration::from_secs(1));
    assert_eq!(finishes(&world), 1, "the session is told to finish");
    assert_eq!(
        world.core.calls(),
        1,
        "the viewer waits for the session's end"
    );

    world.core.handle_input(
        world.now,
        Input::Live {
            session: SESSION,
            event: LiveEvent::Ended(Box::default()),
        },
    );
    world.pump();
    assert_eq!(world.core.calls(), 0, "the viewer ended with the stream");
    assert!(
        world
            .other
            .iter()
            .any(|output| matches!(output, Output::SessionEnded(SESSION)))
    );
    let text = world.metrics.encode();
    assert!(
        text.contains("framechain_sessions_ended_total{reason=\"no media\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("framechain_sessions_ended_total{reason=\"stream ended\"} 1"),
        "{text}"
    );
    // The stream is free for the next publisher.
    assert!(world.core.admit(STREAM, Role::Publish, None).is_ok());
}

#[test]
fn the_sessions_keyframe_needs_become_rate_limited_plis_to_the_publisher() {
    let mut world = World::new(true);
    let publisher = world.join(Role::Publish);
    world.connect();
    // The session asks with every picture it skips: three times at once.
    for _ in 0..3 {
        world.core.handle_input(
            world.now,
            Input::Live {
                session: SESSION,
                event: LiveEvent::KeyframeNeeded,
            },
        );
        world.pump();
    }
    world.advance(Duration::from_millis(100));
    assert_eq!(world.metric("keyframe_requests_total"), Some(1.0));
    assert_eq!(
        world.clients[publisher].keyframe_requests, 1,
        "one PLI arrived"
    );
    // Asked again inside the interval: one more PLI when it ends.
    world.core.handle_input(
        world.now,
        Input::Live {
            session: SESSION,
            event: LiveEvent::KeyframeNeeded,
        },
    );
    world.advance(Duration::from_millis(300));
    assert_eq!(
        world.metric("keyframe_requests_total"),
        Some(1.0),
        "not yet"
    );
    world.advance(Duration::from_millis(200));
    assert_eq!(world.metric("keyframe_requests_total"), Some(2.0));
    assert_eq!(world.clients[publisher].keyframe_requests, 2);
}

mod streams;
