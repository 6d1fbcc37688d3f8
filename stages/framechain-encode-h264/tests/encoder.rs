//! The in-wasm encoder (`WasmEncoder`) natively: keyframes, size changes,
//! rate control, and decoding the result with our decoder and (when
//! installed) FFmpeg.

use framechain_decode_h264::config::DecodeConfig;
use framechain_decode_h264::decoder::Decoder;
use framechain_encode_h264::config::EncodeConfig;
use framechain_encode_h264::encoder::{EncodeError, Encoded, WasmEncoder};
use framechain_openh264::I420;

fn config(pairs: &[(&str, &str)]) -> EncodeConfig {
    EncodeConfig::from_params(
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    )
    .unwrap()
}

/// A moving test picture: diagonal gradient, a bright square that travels.
fn picture(width: u32, height: u32, n: u32) -> I420 {
    let (cw, ch) = I420::chroma_size(width, height);
    let mut y = vec![0u8; (width * height) as usize];
    for r in 0..height {
        for c in 0..width {
            let inside = (c + 3 * n) % width < 24 && (r + 2 * n) % height < 24;
            y[(r * width + c) as usize] = if inside {
                235
            } else {
                (16 + (r + c + n) % 200) as u8
            };
        }
    }
    let u = (0..cw * ch).map(|i| (96 + (i + n) % 64) as u8).collect();
    let v = (0..cw * ch)
        .map(|i| (160 - (i / cw + n) % 64) as u8)
        .collect();
    I420 {
        width,
        height,
        y,
        u,
        v,
    }
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

/// Encodes `n` pictures; returns the stream and each picture's keyframe flag
/// (None when skipped).
fn encode(
    encoder: &mut WasmEncoder,
    sizes: &[(u32, u32)],
    force: &[usize],
) -> (Vec<u8>, Vec<Option<bool>>) {
    let mut stream = Vec::new();
    let mut flags = Vec::new();
    for (i, (w, h)) in sizes.iter().enumerate() {
        match encoder
            .encode(
                &picture(*w, *h, i as u32),
                i as i64 * 33,
                force.contains(&i),
            )
            .unwrap()
        {
            Encoded::AccessUnit { data, keyframe } => {
                stream.extend_from_slice(&data);
                flags.push(Some(keyframe));
            }
            Encoded::Skipped => flags.push(None),
        }
    }
    (stream, flags)
}

fn decode(stream: &[u8]) -> Vec<I420> {
    let mut decoder = Decoder::new(DecodeConfig::from_params(vec![]).unwrap()).unwrap();
    let mut out: Vec<I420> = decoder
        .push(stream, -1)
        .unwrap()
        .pictures
        .into_iter()
        .map(|p| p.image)
        .collect();
    out.extend(
        decoder
            .flush()
            .unwrap()
            .pictures
            .into_iter()
            .map(|p| p.image),
    );
    out
}

#[test]
fn gop_and_forced_keyframes() {
    let mut encoder = WasmEncoder::new(config(&[("gop", "10"), ("low-latency", "false")])).unwrap();
    let (stream, flags) = encode(&mut encoder, &[(320, 192); 30], &[4]);
    let keyframes: Vec<usize> = flags
        .iter()
        .enumerate()
        .filter(|(_, f)| **f == Some(true))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keyframes, vec![0, 4, 14, 24], "{flags:?}");
    let decoded = decode(&stream);
    assert_eq!(decoded.len(), 30);
    for (i, d) in decoded.iter().enumerate() {
        let q = psnr(&picture(320, 192, i as u32).y, &d.y);
        assert!(q > 30.0, "picture {i}: {q:.1} dB");
    }
}

#[test]
fn a_new_size_starts_a_new_sequence() {
    let mut encoder = WasmEncoder::new(config(&[("low-latency", "false")])).unwrap();
    let sizes: Vec<(u32, u32)> = [(320, 192); 5]
        .into_iter()
        .chain([(160, 96); 5])
        .chain([(640, 360); 3])
        .collect();
    let (stream, flags) = encode(&mut encoder, &sizes, &[]);
    assert_eq!(flags[0], Some(true));
    assert_eq!(flags[5], Some(true));
    assert_eq!(flags[10], Some(true));
    assert!(flags[1..5].iter().all(|f| *f == Some(false)));
    let decoded = decode(&stream);
    let got: Vec<(u32, u32)> = decoded.iter().map(|p| (p.width, p.height)).collect();
    assert_eq!(got, sizes);
}

#[test]
fn sizes_openh264_cannot_encode_are_unsupported() {
    let mut encoder = WasmEncoder::new(config(&[])).unwrap();
    for (w, h) in [(321, 192), (320, 191), (8, 8)] {
        let r = encoder.encode(&picture(w, h, 0), 0, false);
        assert!(
            matches!(r, Err(EncodeError::Unsupported(_))),
            "{w}x{h}: {r:?}"
        );
    }
    // And it still works afterwards.
    assert!(encoder.encode(&picture(64, 64, 0), 0, false).is_ok());
}

#[test]
fn bitrate_and_fixed_qp_steer_the_size() {
    let sizes = [(320, 192); 30];
    let bytes = |pairs: &[(&str, &str)]| {
        encode(&mut WasmEncoder::new(config(pairs)).unwrap(), &sizes, &[])
            .0
            .len()
    };
    let low = bytes(&[("bitrate", "100k"), ("low-latency", "false")]);
    let high = bytes(&[("bitrate", "2M"), ("low-latency", "false")]);
    assert!(high > 2 * low, "2M gave {high} bytes, 100k gave {low}");
    let fine = bytes(&[("rc", "off"), ("qp", "18")]);
    let coarse = bytes(&[("rc", "off"), ("qp", "40")]);
    assert!(
        fine > 2 * coarse,
        "qp 18 gave {fine} bytes, qp 40 gave {coarse}"
    );
    let cabac = bytes(&[("rc", "off"), ("qp", "26"), ("profile", "main")]);
    let cavlc = bytes(&[("rc", "off"), ("qp", "26")]);
    assert!(cabac < cavlc, "CABAC {cabac} bytes vs CAVLC {cavlc}");
}

#[test]
fn low_latency_may_skip_frames_at_a_starved_bitrate() {
    let mut encoder = WasmEncoder::new(config(&[("bitrate", "10k"), ("fps", "60")])).unwrap();
    let (stream, flags) = encode(&mut encoder, &[(640, 360); 40], &[]);
    let skipped = flags.iter().filter(|f| f.is_none()).count();
    eprintln!(
        "10k at 640x360: {skipped} of 40 skipped, {} bytes",
        stream.len()
    );
    assert_eq!(decode(&stream).len(), 40 - skipped);
}

/// FFmpeg, an independent decoder, must read the stream too.
#[test]
fn ffmpeg_decodes_the_stream() {
    if std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_err()
    {
        eprintln!("ffmpeg not installed; skipping");
        return;
    }
    for profile in ["baseline", "main"] {
        let mut encoder = WasmEncoder::new(config(&[
            ("gop", "12"),
            ("profile", profile),
            ("low-latency", "false"),
        ]))
        .unwrap();
        let (stream, _) = encode(&mut encoder, &[(320, 192); 25], &[7]);
        let path = std::env::temp_dir().join(format!(
            "framechain-encode-h264-{profile}-{}.264",
            std::process::id()
        ));
        std::fs::write(&path, &stream).unwrap();
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
            .output()
            .unwrap();
        std::fs::remove_file(&path).ok();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let frame = 320 * 192 * 3 / 2;
        assert_eq!(out.stdout.len(), 25 * frame, "{profile}");
        for (i, f) in out.stdout.chunks(frame).enumerate() {
            let q = psnr(&picture(320, 192, i as u32).y, &f[..320 * 192]);
            assert!(q > 30.0, "{profile} picture {i}: {q:.1} dB");
        }
    }
}

/// Bytes of the access units for pictures `range` of a 320x192 sequence.
fn bytes(encoder: &mut WasmEncoder, range: std::ops::Range<u32>, size: (u32, u32)) -> usize {
    range
        .map(
            |i| match encoder.encode(&picture(size.0, size.1, i), i64::from(i) * 33, false) {
                Ok(Encoded::AccessUnit { data, .. }) => data.len(),
                Ok(Encoded::Skipped) => 0,
                Err(e) => panic!("{e:?}"),
            },
        )
        .sum()
}

#[test]
fn a_new_target_bitrate_steers_the_following_pictures() {
    let settings = config(&[("bitrate", "2M"), ("gop", "0"), ("fps", "30")]);
    let mut encoder = WasmEncoder::new(settings).unwrap();
    bytes(&mut encoder, 0..30, (320, 192));
    let high = bytes(&mut encoder, 30..90, (320, 192));
    encoder.set_bitrate(100_000).unwrap();
    bytes(&mut encoder, 90..120, (320, 192));
    let low = bytes(&mut encoder, 120..180, (320, 192));
    assert!(low * 4 < high, "2 Mbit/s: {high} bytes, 100 kbit/s: {low}");
    // A new size makes a new encoder: it keeps the new target.
    bytes(&mut encoder, 180..210, (352, 288));
    let resized = bytes(&mut encoder, 210..270, (352, 288));
    assert!(resized * 3 < high, "after resize: {resized} bytes");
}
