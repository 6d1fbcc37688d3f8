//! Sound: Opus forwarded undecoded beside the processed video, a
//! forward-only publisher's video, calls without sound, hostile audio,
//! and the sender reports that keep sound and pictures in sync.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use str0m::format::Codec as RtpCodec;
use str0m::media::{Frequency, KeyframeRequestKind, MediaTime, Pt};
use str0m::rtp::{RtpWrite, SeqNo};

use super::{Client, Offer, World, access_unit, h264_pt};
use crate::auth::Role;
use crate::call::calls::PublisherMedia;
use crate::call::core::SessionAction;
use crate::call::core::forwarding::{MAX_AUDIO_PACKETS_PER_SECOND, MAX_AUDIO_PAYLOAD};
use framechain::{Codec, Packet};

/// Audio and video, as a browser with a camera and a microphone.
const BOTH: Offer = Offer {
    video: true,
    audio: true,
    media: PublisherMedia::Session(super::SESSION),
};
/// One Opus packet per 20 ms, as browsers send.
const AUDIO_FRAME: Duration = Duration::from_millis(20);
/// 20 ms at 48 kHz.
const AUDIO_TICKS: u64 = 960;

/// Opus-like bytes: the host must not care what they are. Numbered, of
/// varying length.
fn opus_like(index: u64) -> Vec<u8> {
    let length = 40 + (index as usize * 37) % 200;
    let mut payload = index.to_be_bytes().to_vec();
    payload.extend((0..length).map(|byte| (byte as u8).wrapping_mul(31) ^ index as u8));
    payload
}

/// The client's Opus payload type.
fn opus_pt(client: &mut Client) -> Pt {
    let mid = client.audio_mid.expect("the client offered audio");
    client
        .rtc
        .writer(mid)
        .unwrap()
        .payload_params()
        .find(|params| params.spec().codec == RtpCodec::Opus)
        .map(|params| params.pt())
        .unwrap()
}

impl World {
    /// The publisher's Opus packet number `index`, written now.
    fn send_audio(&mut self, publisher: usize, index: u64, payload: &[u8]) {
        let now = self.now;
        let client = &mut self.clients[publisher];
        let pt = opus_pt(client);
        let mid = client.audio_mid.unwrap();
        client
            .rtc
            .writer(mid)
            .unwrap()
            .write(
                pt,
                now,
                MediaTime::new(index * AUDIO_TICKS, Frequency::FORTY_EIGHT_KHZ),
                payload.to_vec(),
            )
            .unwrap();
    }

    /// The publisher's access unit `unit` at the 90 kHz time `pts`,
    /// written now.
    fn send_video(&mut self, publisher: usize, pts: u64, unit: &[u8]) {
        let now = self.now;
        let client = &mut self.clients[publisher];
        let pt = h264_pt(client);
        let mid = client.mid;
        client
            .rtc
            .writer(mid)
            .unwrap()
            .write(pt, now, MediaTime::from_90khz(pts), unit.to_vec())
            .unwrap();
    }

    /// An RTP packet on the publisher's audio stream, written as it is
    /// (str0m's writer would cut a large payload in pieces), with payload
    /// type `pt` and sequence number `seq`.
    fn send_rtp(&mut self, publisher: usize, pt: Pt, seq: u64, payload: &[u8]) {
        let now = self.now;
        let client = &mut self.clients[publisher];
        let mid = client.audio_mid.unwrap();
        let mut direct = client.rtc.direct_api();
        let stream = direct.stream_tx_by_mid(mid, None).unwrap();
        stream.write_rtp(RtpWrite::new(
            pt,
            SeqNo::from(seq),
            (seq * AUDIO_TICKS) as u32,
            now,
            payload.to_vec(),
        ));
    }

    /// The audio payloads a viewer received, in order.
    fn audio_received(&self, viewer: usize) -> Vec<Vec<u8>> {
        let client = &self.clients[viewer];
        client
            .media
            .iter()
            .filter(|data| Some(data.mid) == client.audio_mid)
            .map(|data| data.data.to_vec())
            .collect()
    }

    /// What the core pushed into the session, with when.
    fn pushes(&self) -> Vec<(Instant, Packet)> {
        self.actions
            .iter()
            .filter_map(|(at, _, action)| match action {
                SessionAction::Push { packet, .. } => Some((*at, packet.clone())),
                _ => None,
            })
            .collect()
    }

    fn count(&self, name: &str) -> f64 {
        self.metric(name).unwrap_or(0.0)
    }
}

/// A processed picture: what a pipeline would make of `pts`'s source
/// (different bytes from any source's, so a viewer that gets it got the
/// pipeline's output).
fn processed(keyframe: bool, pts: i64) -> Packet {
    let mut data = access_unit(keyframe);
    data.extend_from_slice(&[0x77; 32]);
    Packet {
        codec: Codec::H264,
        data,
        pts,
        dts: pts,
        keyframe,
    }
}

#[test]
fn a_viewers_answer_puts_its_sound_and_pictures_in_one_media_stream() {
    let now = Instant::now();
    let mut rtc = str0m::RtcConfig::new()
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, true)
        .build(now);
    let addr = "127.0.0.1:50000".parse().unwrap();
    rtc.add_local_candidate(str0m::Candidate::host(addr, "udp").unwrap());
    let mut change = rtc.sdp_api();
    let direction = str0m::media::Direction::RecvOnly;
    let video = change.add_media(str0m::media::MediaKind::Video, direction, None, None, None);
    let audio = change.add_media(str0m::media::MediaKind::Audio, direction, None, None, None);
    let (offer, _) = change.apply().unwrap();
    let accepted =
        crate::offer::accept(&offer.to_sdp_string(), Role::View, super::SERVER, false, now)
            .unwrap();
    assert_eq!((accepted.mid, accepted.audio_mid), (video, Some(audio)));

    let streams: Vec<&str> = accepted
        .answer
        .lines()
        .filter_map(|line| line.strip_prefix("a=msid:"))
        .map(|value| value.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(streams.len(), 2, "{}", accepted.answer);
    assert_eq!(streams[0], streams[1], "{}", accepted.answer);
    for line in accepted.answer.lines() {
        if let Some((_, value)) = line.split_once(" msid:") {
            assert!(value.starts_with(streams[0]), "{line}");
        }
    }
    // The answer is still SDP a peer takes.
    str0m::change::SdpAnswer::from_sdp_string(&accepted.answer).unwrap();
}

#[test]
fn sound_goes_to_the_viewer_unchanged_while_the_pictures_go_through_the_pipeline() {
    let mut world = World::new(false);
    let publisher = world.join_with(Role::Publish, BOTH);
    let viewer = world.join_with(Role::View, BOTH);
    world.connect();

    let source = access_unit(true);
    world.send_video(publisher, 0, &source);
    let sent: Vec<Vec<u8>> = (0..50).map(opus_like).collect();
    for (index, payload) in sent.iter().enumerate() {
        world.send_audio(publisher, index as u64, payload);
        world.advance(AUDIO_FRAME);
    }
    let pushes = world.pushes();
    assert_eq!(pushes.len(), 1, "the picture, and only it, went into the session");
    assert_eq!(pushes[0].1.data, source);
    world.session_packet(processed(true, 0), Duration::from_millis(40));
    world.advance(Duration::from_millis(50));

    assert_eq!(
        world.audio_received(viewer),
        sent,
        "every Opus payload arrived as it was sent, in order"
    );
    assert_eq!(
        world.clients[viewer].received,
        vec![(true, processed(true, 0).data)],
        "the viewer's picture is the pipeline's"
    );
    assert_eq!(world.count("audio_packets_total{direction=\"in\"}"), 50.0);
    assert_eq!(world.count("audio_packets_total{direction=\"out\"}"), 50.0);
    assert_eq!(world.count("audio_lost_total"), 0.0);
    let stats = world.core.stats(super::STREAM).unwrap();
    assert_eq!((stats.audio.packets_in, stats.audio.out), (50, 50));
}

#[test]
fn a_forward_only_publishers_video_reaches_its_viewers_as_sent_and_their_keyframe_requests_reach_it()
 {
    let mut world = World::new(false);
    let forward = Offer {
        media: PublisherMedia::Forward,
        ..BOTH
    };
    let publisher = world.join_with(Role::Publish, forward);
    world.connect();
    let viewer = world.join_with(Role::View, BOTH);
    world.connect();
    world.advance(Duration::from_millis(50));
    // The new viewer needs a keyframe: there is no encoder to ask, so its
    // publisher gets a PLI.
    assert_eq!(world.clients[publisher].keyframe_requests, 1);
    assert_eq!(world.keyframe_requests(), 0, "no session was asked");

    let keyframe = access_unit(true);
    let delta = access_unit(false);
    world.send_video(publisher, 0, &keyframe);
    world.send_audio(publisher, 0, &opus_like(0));
    world.advance(Duration::from_millis(33));
    world.send_video(publisher, 3000, &delta);
    world.advance(Duration::from_millis(50));
    assert_eq!(
        world.clients[viewer].received,
        vec![(true, keyframe), (false, delta)],
        "the pictures as the publisher sent them"
    );
    assert_eq!(world.audio_received(viewer), vec![opus_like(0)]);
    assert!(world.pushes().is_empty(), "no session");
    assert_eq!(world.count("frames_out_total"), 2.0);

    // The viewer's PLI, after the publisher's rate limit, reaches the
    // publisher.
    world.advance(Duration::from_millis(600));
    let mid = world.clients[viewer].mid;
    world.clients[viewer]
        .rtc
        .writer(mid)
        .unwrap()
        .request_keyframe(None, KeyframeRequestKind::Pli)
        .unwrap();
    world.advance(Duration::from_millis(100));
    assert_eq!(world.clients[publisher].keyframe_requests, 2);
}

#[test]
fn a_publisher_without_a_microphone_and_viewers_without_speakers_or_camera_work() {
    // A publisher without audio; a viewer that asks for both.
    let mut world = World::new(false);
    world.join(Role::Publish);
    let viewer = world.join_with(Role::View, BOTH);
    world.connect();
    world.session_output(true, 0);
    world.advance(Duration::from_millis(50));
    assert_eq!(world.clients[viewer].received.len(), 1, "the picture");
    assert!(world.audio_received(viewer).is_empty());

    // A publisher with audio; a viewer that refuses it, and one that
    // takes the sound alone.
    let mut world = World::new(false);
    let publisher = world.join_with(Role::Publish, BOTH);
    let video_only = world.join(Role::View);
    let audio_only = world.join_with(
        Role::View,
        Offer {
            video: false,
            ..BOTH
        },
    );
    world.connect();
    for index in 0..10 {
        world.send_audio(publisher, index, &opus_like(index));
        world.advance(AUDIO_FRAME);
    }
    world.session_output(true, 0);
    world.advance(Duration::from_millis(50));
    assert_eq!(world.clients[video_only].received.len(), 1, "the picture");
    assert!(world.clients[video_only].media.len() == 1, "and nothing else");
    assert!(
        world.clients[audio_only].received.is_empty(),
        "no picture to the sound-only viewer"
    );
    assert_eq!(world.audio_received(audio_only).len(), 10);
    assert_eq!(world.count("audio_packets_total{direction=\"out\"}"), 10.0);
    assert_eq!(world.core.calls(), 3, "every call goes on");
}

#[test]
fn huge_and_flooding_sound_is_dropped_counted_and_the_call_goes_on() {
    let mut world = World::new(false);
    let publisher = world.join_with(Role::Publish, BOTH);
    let viewer = world.join_with(Role::View, BOTH);
    world.connect();

    // Written straight into the RTP stream: str0m's writer would cut a
    // large payload in pieces.
    let opus = opus_pt(&mut world.clients[publisher]);

    // Too large: over the cap, a packet no Opus encoder makes.
    let huge = vec![0xfc; MAX_AUDIO_PAYLOAD + 100];
    world.send_rtp(publisher, opus, 1, &huge);
    world.advance(AUDIO_FRAME);
    assert_eq!(world.count("audio_dropped_total{reason=\"too large\"}"), 1.0);
    assert!(world.audio_received(viewer).is_empty());

    // A flood: ten times a browser's rate, in one second.
    world.advance(Duration::from_millis(1100));
    let flood = 10 * 50;
    for seq in 2..flood + 2 {
        world.send_rtp(publisher, opus, seq, &opus_like(seq));
        if seq % 50 == 0 {
            world.advance(AUDIO_FRAME);
        }
    }
    world.advance(AUDIO_FRAME);
    let dropped = world.count("audio_dropped_total{reason=\"over rate\"}");
    let forwarded = world.audio_received(viewer).len();
    assert_eq!(
        forwarded as u32, MAX_AUDIO_PACKETS_PER_SECOND,
        "the rate's worth went through"
    );
    assert_eq!(dropped as u64, flood - u64::from(MAX_AUDIO_PACKETS_PER_SECOND));

    // The call goes on: the next second's sound and a picture get through.
    world.advance(Duration::from_secs(1));
    let next = flood + 2;
    world.send_rtp(publisher, opus, next, &opus_like(next));
    world.send_video(publisher, 90_000, &access_unit(true));
    world.advance(Duration::from_millis(50));
    assert_eq!(world.audio_received(viewer).last(), Some(&opus_like(next)));
    assert_eq!(world.pushes().len(), 1, "the picture went into the session");
    assert_eq!(world.core.calls(), 2);
    assert_eq!(world.count("audio_lost_total"), 0.0);
}

#[test]
fn sound_on_the_video_payload_type_reaches_nobody_and_the_call_goes_on() {
    let mut world = World::new(false);
    let publisher = world.join_with(Role::Publish, BOTH);
    let viewer = world.join_with(Role::View, BOTH);
    world.connect();

    // Opus bytes on the audio media's SSRC with the H.264 payload type,
    // then Opus as it should be.
    let video_pt = h264_pt(&mut world.clients[publisher]);
    let opus = opus_pt(&mut world.clients[publisher]);
    for seq in 1..=5 {
        world.send_rtp(publisher, video_pt, seq, &opus_like(seq));
    }
    world.send_rtp(publisher, opus, 6, &opus_like(6));
    world.advance(Duration::from_millis(100));

    assert_eq!(
        world.audio_received(viewer),
        vec![opus_like(6)],
        "only the Opus packet went on"
    );
    assert!(world.pushes().is_empty(), "no sound went into the session");
    // str0m drops a payload type not negotiated on the media before it
    // becomes media: only the Opus packet came in.
    assert_eq!(world.count("audio_packets_total{direction=\"in\"}"), 1.0);
    assert_eq!(world.core.calls(), 2, "the call goes on");
}

/// The wallclock a viewer's sender reports give `data`'s RTP time.
fn reported_wallclock(data: &str0m::media::MediaData) -> Option<SystemTime> {
    let report = data.last_sender_info?;
    let clock = u64::from(data.time.denom());
    let reported = report.rtp_time.rebase(data.time.frequency()).numer() as u32;
    let ticks = (data.time.numer() as u32).wrapping_sub(reported) as i32;
    let offset = Duration::from_micros((i64::from(ticks).unsigned_abs() * 1_000_000) / clock);
    Some(if ticks >= 0 {
        report.ntp_time + offset
    } else {
        report.ntp_time - offset
    })
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
fn the_sender_reports_put_sound_and_its_processed_picture_at_the_same_time() {
    let mut world = World::new(false);
    let publisher = world.join_with(Role::Publish, BOTH);
    let viewer = world.join_with(Role::View, BOTH);
    world.connect();

    // Three seconds of a call: sound every 20 ms, a picture every 40 ms
    // that the "pipeline" gives back 150 ms after it came in. When each
    // was sent, by its RTP time.
    let pipeline = Duration::from_millis(150);
    let start = world.now;
    let mut sent_audio: HashMap<u64, Instant> = HashMap::new();
    let mut sent_video: HashMap<u64, Instant> = HashMap::new();
    let mut in_pipeline: Vec<(Instant, Packet)> = Vec::new();
    let mut pushed = 0;
    for tick in 0..300u64 {
        if tick % 2 == 0 {
            let index = tick / 2;
            world.send_audio(publisher, index, &opus_like(index));
            sent_audio.insert(index * AUDIO_TICKS, world.now);
        }
        if tick % 4 == 0 {
            let pts = tick / 4 * 3600;
            world.send_video(publisher, pts, &access_unit(tick % 100 == 0));
            sent_video.insert(pts, world.now);
        }
        world.advance(super::STEP);
        let pushes = world.pushes();
        in_pipeline.extend(pushes[pushed..].iter().cloned());
        pushed = pushes.len();
        while in_pipeline
            .first()
            .is_some_and(|(at, _)| world.now >= *at + pipeline)
        {
            let (at, source) = in_pipeline.remove(0);
            let latency = world.now - at;
            world.session_packet(processed(source.keyframe, source.pts), latency);
        }
    }

    // Each received packet's reported wallclock, less when it was sent:
    // the same for sound and pictures if they are on one clock.
    let since_start = |at: Instant| at.duration_since(start).as_secs_f64();
    let unix = |at: SystemTime| {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let client = &world.clients[viewer];
    let mut audio = Vec::new();
    let mut video = Vec::new();
    for data in &client.media {
        let Some(reported) = reported_wallclock(data) else {
            continue;
        };
        let (sent, offsets) = if Some(data.mid) == client.audio_mid {
            (&sent_audio, &mut audio)
        } else {
            (&sent_video, &mut video)
        };
        let at = sent
            .get(&(data.time.numer() % (1 << 32)))
            .unwrap_or_else(|| panic!("{:?} was never sent", data.time));
        offsets.push(unix(reported) - since_start(*at));
    }
    assert!(audio.len() > 50 && video.len() > 25, "{} {}", audio.len(), video.len());
    let skew_ms = (median(video) - median(audio)) * 1000.0;
    assert!(
        skew_ms.abs() < 5.0,
        "the reports put a picture {skew_ms:.1} ms from the sound recorded with it (the pipeline took {} ms)",
        pipeline.as_millis()
    );
}
