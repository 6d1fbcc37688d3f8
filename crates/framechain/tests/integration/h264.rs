//! The H.264 stages running in wasmtime: `decode-h264` against the
//! reference hashes of the test streams, damaged and garbage input, and
//! `encode-h264` output read back by FFmpeg. Stream and hash conventions are
//! described in `shared/testdata/h264/README.md`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use framechain::{Codec, Frame, Media, Packet, Pipeline, Plane, Session};
use sha1_smol::Sha1;

use crate::support::{engine, have_ffmpeg, pipeline, testdata};

/// Input packets are cut at this size regardless of NAL units, as a
/// network or file reader would.
const CHUNK: usize = 4096;

/// Packets of `data` without time stamps (pts -1: the decoder numbers the
/// frames in display order).
pub(crate) fn chunks(data: &[u8], size: usize) -> impl Iterator<Item = Media> + '_ {
    data.chunks(size).map(|c| {
        Media::Packet(Packet {
            codec: Codec::H264,
            data: c.to_vec(),
            pts: -1,
            dts: -1,
            keyframe: false,
        })
    })
}

/// Everything a session produced for a stream.
#[derive(Default)]
struct Decoded {
    frames: Vec<Frame>,
    sha1: Sha1,
}

impl Decoded {
    fn take(&mut self, out: Vec<Media>) {
        for media in out {
            let frame = media.into_frame().expect("decode-h264 gives frames");
            for plane in [Plane::Y, Plane::U, Plane::V] {
                self.sha1.update(frame.plane(plane));
            }
            self.frames.push(frame);
        }
    }
}

fn decode(session: &mut Session, data: &[u8], chunk: usize) -> Decoded {
    let mut decoded = Decoded::default();
    for packet in chunks(data, chunk) {
        decoded.take(session.push(packet).expect("push"));
    }
    decoded.take(session.flush().expect("flush"));
    decoded
}

/// Rows of `hashes/decoded_hashes.tsv`: path -> (frames, FFmpeg SHA-1,
/// OpenH264-recorded SHA-1).
fn reference_hashes(h264: &Path) -> BTreeMap<String, (usize, String, String)> {
    let text = std::fs::read_to_string(h264.join("hashes/decoded_hashes.tsv")).expect("hash table");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (f.len() >= 9).then(|| {
                (
                    f[0].to_owned(),
                    (f[2].parse().unwrap_or(0), f[4].to_owned(), f[7].to_owned()),
                )
            })
        })
        .collect()
}

#[test]
fn conformance_streams_decode_bit_exact() {
    let Some(data) = testdata() else { return };
    let h264 = data.join("h264");
    let engine = engine();
    let decoder = pipeline(&engine, "decode-h264");
    let mut mismatches = Vec::new();
    let mut disputed = Vec::new();
    let mut checked = 0;
    for (path, (frames, ffmpeg, openh264)) in reference_hashes(&h264) {
        let file = h264.join(&path);
        let is_disputed = path.starts_with("disputed/");
        if !(path.starts_with("conformance/") || is_disputed) || !file.is_file() {
            continue;
        }
        let mut session = decoder.start_session().unwrap();
        let out = decode(&mut session, &std::fs::read(&file).unwrap(), CHUNK);
        let sha1 = out.sha1.digest().to_string();
        let matched = if sha1 == ffmpeg {
            "FFmpeg"
        } else if sha1 == openh264 {
            "OpenH264's record"
        } else {
            ""
        };
        let dropped = session.stats().dropped();
        if matched.is_empty() || out.frames.len() != frames || !dropped.is_empty() {
            let line = format!(
                "{path}: {} frames (reference {frames}), sha1 {sha1}{}, dropped {dropped:?}",
                out.frames.len(),
                if matched.is_empty() {
                    " matches neither reference"
                } else {
                    ""
                },
            );
            if is_disputed {
                disputed.push(line)
            } else {
                mismatches.push(line)
            }
        }
        checked += 1;
    }
    // B-frame streams: OpenH264 and FFmpeg disagree from the first B
    // picture on, and the OpenH264 release we build differs from the one
    // the record was made with on some of them. Reported, not judged.
    for line in &disputed {
        eprintln!("disputed (not a failure): {line}");
    }
    assert!(checked >= 40, "only {checked} streams found");
    assert!(
        mismatches.is_empty(),
        "{} conformance streams differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Pictures (access units with slices) in an Annex-B stream, by H.264's
/// access-unit rules as the stage applies them: a delimiter, or an SEI or
/// parameter set after slices, or a slice with first_mb_in_slice 0 after
/// slices, starts the next access unit.
fn count_pictures(data: &[u8]) -> usize {
    let (mut count, mut has_slice) = (0, false);
    for i in 3..data.len().saturating_sub(1) {
        if data[i - 3..i] != [0, 0, 1] {
            continue;
        }
        let nal_type = data[i] & 0x1f;
        let slice = matches!(nal_type, 1 | 5);
        // ue(v) "1" is 0: the first slice of a picture.
        let first_mb_zero = data[i + 1] & 0x80 != 0;
        if nal_type == 9 || (has_slice && (matches!(nal_type, 6..=8) || (slice && first_mb_zero))) {
            has_slice = false;
        }
        if slice && !has_slice {
            count += 1;
            has_slice = true;
        }
    }
    count
}

#[test]
fn damaged_streams_end_cleanly_with_every_picture_accounted_for() {
    let Some(data) = testdata() else { return };
    let h264 = data.join("h264");
    let engine = engine();
    for launch in ["decode-h264", "decode-h264 error-concealment=false"] {
        let decoder = pipeline(&engine, launch);
        for (name, at_least) in [
            ("BA_MW_D_IDR_LOST.264", 70),
            ("BA_MW_D_P_LOST.264", 71),
            ("Error_I_P.264", 1),
        ] {
            let stream = std::fs::read(h264.join("robustness").join(name)).unwrap();
            let mut session = decoder.start_session().unwrap();
            let out = decode(&mut session, &stream, 1500);
            assert!(
                session.failure().is_none(),
                "{launch} {name}: {:?}",
                session.failure()
            );
            let pictures = count_pictures(&stream);
            let dropped = session.stats().dropped_total() as usize;
            eprintln!(
                "{launch} {name}: {pictures} pictures, {} frames, dropped {:?}",
                out.frames.len(),
                session.stats().dropped()
            );
            assert!(
                out.frames.len() >= at_least,
                "{launch} {name}: only {} frames",
                out.frames.len()
            );
            assert_eq!(
                out.frames.len() + dropped,
                pictures,
                "{launch} {name}: pictures unaccounted for"
            );
        }
    }
}

/// xorshift64*, for reproducible damage.
fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn garbage_and_bit_flips_do_not_end_the_session() {
    let Some(data) = testdata() else { return };
    let engine = engine();
    let decoder = pipeline(&engine, "decode-h264");

    let mut session = decoder.start_session().unwrap();
    decode(&mut session, &random_bytes(1, 1 << 20), CHUNK);
    assert!(session.failure().is_none(), "{:?}", session.failure());

    // Start codes with random NAL headers and payloads.
    let mut sprinkled = Vec::new();
    for (i, chunk) in random_bytes(2, 1 << 20).chunks(97).enumerate() {
        sprinkled.extend_from_slice(&[0, 0, 1, i as u8]);
        sprinkled.extend_from_slice(chunk);
    }
    let mut session = decoder.start_session().unwrap();
    decode(&mut session, &sprinkled, CHUNK);
    assert!(session.failure().is_none(), "{:?}", session.failure());

    // A real stream with random bit flips: damaged pictures, no failure.
    let clean = std::fs::read(data.join("h264/conformance/test_cif_P_CABAC_slice.264")).unwrap();
    for seed in 3..6 {
        let mut damaged = clean.clone();
        for (k, r) in random_bytes(seed, 600).chunks(3).enumerate() {
            let at =
                (u32::from_le_bytes([r[0], r[1], r[2], 0]) as usize * 7 + k * 4099) % damaged.len();
            damaged[at] ^= 1 << (r[0] % 8);
        }
        let mut session = decoder.start_session().unwrap();
        let out = decode(&mut session, &damaged, CHUNK);
        assert!(
            session.failure().is_none(),
            "seed {seed}: {:?}",
            session.failure()
        );
        eprintln!(
            "bit flips, seed {seed}: {} frames, dropped {:?}",
            out.frames.len(),
            session.stats().dropped()
        );
    }
}

#[test]
fn packet_time_stamps_follow_b_frames_into_display_order() {
    let Some(data) = testdata() else { return };
    let stream = std::fs::read(
        data.join("h264/conformance/Cisco_Adobe_PDF_sample_a_1024x768_CAVLC_Bframe_9.264"),
    )
    .unwrap();
    let engine = engine();
    let decoder = pipeline(&engine, "decode-h264");
    // One whole NAL unit per packet, each stamped with a distinct value.
    let starts: Vec<usize> = (0..stream.len() - 3)
        .filter(|&i| stream[i..i + 3] == [0, 0, 1])
        .collect();
    let mut session = decoder.start_session().unwrap();
    let mut pts = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(stream.len());
        let packet = Packet {
            codec: Codec::H264,
            data: stream[s..end].to_vec(),
            pts: 1000 + k as i64,
            dts: -1,
            keyframe: false,
        };
        pts.extend(
            session
                .push(Media::Packet(packet))
                .unwrap()
                .iter()
                .map(Media::pts),
        );
    }
    pts.extend(session.flush().unwrap().iter().map(Media::pts));
    assert_eq!(pts.len(), 9);
    let mut sorted = pts.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 9, "every picture keeps its own pts: {pts:?}");
    assert_ne!(
        pts, sorted,
        "B-frames come out in display order, not decode order"
    );
}

/// A moving picture: a gradient and a bright square that travels.
pub(crate) fn test_frame(width: u32, height: u32, n: u32) -> Frame {
    let mut frame = Frame::black(width, height).unwrap();
    let y = frame.plane_mut(Plane::Y);
    for r in 0..height {
        for c in 0..width {
            let square = (c + 4 * n) % width < 32 && (r + 2 * n) % height < 32;
            y[(r * width + c) as usize] = if square {
                235
            } else {
                (16 + (r + 2 * c + n) % 200) as u8
            };
        }
    }
    frame.pts = i64::from(n) * 3000;
    frame
}

pub(crate) fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

/// Decodes (the first `frames` pictures of) an Annex-B stream with FFmpeg
/// to raw I420.
pub(crate) fn ffmpeg_decode(stream: &[u8], name: &str, frames: usize) -> Vec<u8> {
    let path =
        std::env::temp_dir().join(format!("framechain-h264-{name}-{}.264", std::process::id()));
    std::fs::write(&path, stream).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args([
            "-frames:v",
            &frames.to_string(),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    std::fs::remove_file(&path).ok();
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub(crate) fn encode(pipeline: &Pipeline, frames: Vec<Frame>) -> (Vec<u8>, Vec<Packet>) {
    encode_requesting_keyframes(pipeline, frames, &[])
}

/// [`encode`], asking the session for a keyframe (as a viewer's PLI would)
/// before each frame whose index is in `requests`.
pub(crate) fn encode_requesting_keyframes(
    pipeline: &Pipeline,
    frames: Vec<Frame>,
    requests: &[usize],
) -> (Vec<u8>, Vec<Packet>) {
    let mut session = pipeline.start_session().unwrap();
    let mut packets = Vec::new();
    for (index, frame) in frames.into_iter().enumerate() {
        if requests.contains(&index) {
            session.request_keyframe().expect("keyframe request");
        }
        packets.extend(
            session
                .push(Media::Frame(frame))
                .unwrap()
                .into_iter()
                .map(|m| m.into_packet().unwrap()),
        );
    }
    assert!(
        session.flush().unwrap().is_empty(),
        "encode-h264 holds nothing back"
    );
    let stream = packets
        .iter()
        .flat_map(|p| p.data.iter().copied())
        .collect();
    (stream, packets)
}

/// Pts (in frames at 30 fps) of the keyframe packets.
pub(crate) fn keyframes(packets: &[Packet]) -> Vec<i64> {
    packets
        .iter()
        .filter(|p| p.keyframe)
        .map(|p| p.pts / 3000)
        .collect()
}

/// In wasm and with the host's native encoder alike.
#[test]
fn encoded_stream_decodes_in_ffmpeg_with_requested_keyframes() {
    if !have_ffmpeg() {
        return;
    }
    let engine = engine();
    for (accel, profile) in [
        ("none", "baseline"),
        ("none", "main"),
        ("native", "baseline"),
        ("native", "main"),
        ("native", "high"),
    ] {
        let case = format!("accel={accel} profile={profile}");
        let encoder = pipeline(
            &engine,
            &format!("encode-h264 bitrate=1500k gop=12 low-latency=false {case}"),
        );
        let frames: Vec<Frame> = (0..30).map(|n| test_frame(640, 360, n)).collect();
        let originals = frames.clone();
        let (stream, packets) = encode_requesting_keyframes(&encoder, frames, &[5]);
        assert_eq!(packets.len(), 30, "{case}: one packet per frame");
        assert_eq!(
            keyframes(&packets),
            vec![0, 5, 17, 29],
            "{case}: keyframes at gop=12 restarting at the request"
        );
        assert!(
            packets
                .iter()
                .enumerate()
                .all(|(i, p)| p.pts == i as i64 * 3000 && p.dts == p.pts),
            "{case}: pts and dts are the frames' pts"
        );

        let raw = ffmpeg_decode(&stream, &format!("{accel}-{profile}"), 30);
        let size = 640 * 360 * 3 / 2;
        assert_eq!(raw.len(), 30 * size, "{case}: FFmpeg decodes every frame");
        for (n, (theirs, ours)) in raw.chunks(size).zip(&originals).enumerate() {
            let q = psnr(&theirs[..640 * 360], ours.plane(Plane::Y));
            assert!(q > 32.0, "{case} frame {n}: {q:.1} dB");
        }
    }
}

#[test]
fn transcoded_1080p_matches_the_source() {
    let Some(data) = testdata() else { return };
    if !have_ffmpeg() {
        return;
    }
    const FRAMES: usize = 45;
    let source = std::fs::read(data.join("h264/throughput/real1080p30_10s_cbp_6M.264")).unwrap();
    let reference = ffmpeg_decode(&source, "source", FRAMES);
    let size = 1920 * 1080 * 3 / 2;

    let engine = engine();
    let transcoder = pipeline(
        &engine,
        "decode-h264 ! encode-h264 bitrate=8M gop=30 low-latency=false",
    );
    let mut session = transcoder.start_session().unwrap();
    let mut packets = Vec::new();
    for packet in chunks(&source, 64 * 1024) {
        packets.extend(
            session
                .push(packet)
                .unwrap()
                .into_iter()
                .map(|m| m.into_packet().unwrap()),
        );
        if packets.len() >= FRAMES {
            break;
        }
    }
    packets.truncate(FRAMES);
    let stream: Vec<u8> = packets
        .iter()
        .flat_map(|p| p.data.iter().copied())
        .collect();
    let raw = ffmpeg_decode(&stream, "transcoded", FRAMES);
    assert_eq!(raw.len(), FRAMES * size);
    for n in 0..FRAMES {
        let q = psnr(
            &raw[n * size..n * size + 1920 * 1080],
            &reference[n * size..n * size + 1920 * 1080],
        );
        assert!(q > 33.0, "frame {n}: {q:.1} dB against the source");
    }
}

/// CPU seconds this thread has run (user + system), from Linux's
/// /proc/thread-self/stat; `None` elsewhere. Wall time on a shared machine
/// also counts other processes' turns.
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the ")" that ends the command name; utime and stime are
    // fields 14 and 15 of the whole line, in clock ticks (100 per second).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Runs `work`, which handles `frames` frames, and prints its speed by wall
/// and by CPU time.
fn timed<T>(what: &str, work: impl FnOnce() -> (usize, T)) -> T {
    let (start, cpu_start) = (Instant::now(), thread_cpu_secs());
    let (frames, result) = work();
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_start
        .zip(thread_cpu_secs())
        .map(|(a, b)| b - a)
        .unwrap_or(f64::NAN);
    eprintln!(
        "{what}: {frames} frames, {secs:.2} s wall = {:.1} fps, {cpu:.2} s CPU = {:.1} fps",
        frames as f64 / secs,
        frames as f64 / cpu
    );
    result
}

/// 1080p throughput of the stages in wasm. Not part of the normal run:
/// `cargo test --release -p framechain --test integration h264::throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn throughput_1080p() {
    let Some(data) = testdata() else { return };
    let engine = engine();
    let decoder = pipeline(&engine, "decode-h264");
    for name in ["real1080p30_10s_cbp_6M.264", "real1080p30_10s_high_6M.264"] {
        let stream = std::fs::read(data.join("h264/throughput").join(name)).unwrap();
        // Warm-up: instantiate and decode a few packets.
        let mut session = decoder.start_session().unwrap();
        session
            .push(chunks(&stream, 64 * 1024).next().unwrap())
            .unwrap();
        let mut session = decoder.start_session().unwrap();
        timed(&format!("decode-h264 {name}"), || {
            let mut frames = 0;
            for packet in chunks(&stream, 64 * 1024) {
                frames += session.push(packet).unwrap().len();
            }
            (frames + session.flush().unwrap().len(), ())
        });
    }

    let stream = std::fs::read(data.join("h264/throughput/real1080p30_10s_cbp_6M.264")).unwrap();
    let mut session = decoder.start_session().unwrap();
    let frames: Vec<Frame> = decode(&mut session, &stream[..stream.len() / 3], 64 * 1024).frames;
    for launch in [
        "encode-h264 bitrate=4M low-latency=false",
        "encode-h264 bitrate=4M low-latency=false complexity=medium",
        "encode-h264 bitrate=4M low-latency=false complexity=high",
        "encode-h264 bitrate=4M low-latency=false profile=main",
        "encode-h264 bitrate=4M",
        "encode-h264 bitrate=4M low-latency=false accel=native",
        "encode-h264 bitrate=4M low-latency=false complexity=high accel=native",
    ] {
        let encoder = pipeline(&engine, launch);
        encode(&encoder, frames[..5].to_vec());
        let (stream, packets) = timed(launch, || (frames.len(), encode(&encoder, frames.clone())));
        eprintln!(
            "  {} packets ({} skipped), {:.2} Mbit/s at 30 fps",
            packets.len(),
            frames.len() - packets.len(),
            stream.len() as f64 * 8.0 / (frames.len() as f64 / 30.0) / 1e6
        );
    }
}
