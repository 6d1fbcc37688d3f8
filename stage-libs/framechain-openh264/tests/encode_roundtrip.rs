//! Encodes raw I420 test pictures natively, decodes them again with our own
//! decoder and checks quality, keyframes and forced IDRs.

mod common;

use framechain_openh264::{
    Complexity, Decoder, DecoderOptions, Encoder, EncoderConfig, FrameKind, I420, Profile,
    RateControl, log::Level,
};

fn config(width: u32, height: u32) -> EncoderConfig {
    EncoderConfig {
        width,
        height,
        fps: 12.0,
        bitrate: 500_000,
        max_bitrate: 0,
        rate_control: RateControl::Bitrate,
        qp: 26,
        min_qp: 0,
        max_qp: 51,
        intra_period: 8,
        complexity: Complexity::Medium,
        profile: Profile::Baseline,
        frame_skip: false,
        log_level: Level::Warning,
    }
}

fn read_yuv(path: &std::path::Path, width: u32, height: u32) -> Vec<I420> {
    let data = std::fs::read(path).unwrap();
    let (cw, ch) = I420::chroma_size(width, height);
    let (ys, cs) = ((width * height) as usize, (cw * ch) as usize);
    data.chunks_exact(ys + 2 * cs)
        .map(|f| I420 {
            width,
            height,
            y: f[..ys].to_vec(),
            u: f[ys..ys + cs].to_vec(),
            v: f[ys + cs..].to_vec(),
        })
        .collect()
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

fn roundtrip(profile: Profile) {
    let Some(dir) = common::testdata() else {
        eprintln!("test data not found; skipping");
        return;
    };
    // The file holds 9 pictures; play it forward and back for 18.
    let mut pictures = read_yuv(&dir.join("yuv/CiscoVT2people_320x192_12fps.yuv"), 320, 192);
    assert_eq!(pictures.len(), 9);
    pictures.extend(pictures.clone().into_iter().rev());
    let mut enc = Encoder::new(&EncoderConfig {
        profile,
        ..config(320, 192)
    })
    .unwrap();
    let mut stream = Vec::new();
    let mut kinds = Vec::new();
    for (i, p) in pictures.iter().enumerate() {
        if i == 5 {
            enc.force_idr();
        }
        let out = enc.encode(p, i as i64 * 83).unwrap();
        kinds.push(out.kind);
        stream.extend_from_slice(&out.data);
    }
    assert_eq!(kinds[0], FrameKind::Idr);
    assert_eq!(kinds[5], FrameKind::Idr, "forced IDR: {kinds:?}");
    assert_eq!(
        kinds[8 + 5],
        FrameKind::Idr,
        "IDR period restarts at the forced IDR: {kinds:?}"
    );
    assert!(
        kinds[1..5].iter().all(|k| *k == FrameKind::Predicted),
        "{kinds:?}"
    );

    let mut dec = Decoder::new(&DecoderOptions::default()).unwrap();
    let mut decoded = Vec::new();
    for (i, nal) in common::split_nals(&stream).into_iter().enumerate() {
        if let Some(p) = dec.decode_nal(nal, i as u64).picture {
            decoded.push(p.to_i420());
        }
    }
    for _ in 0..dec.end_of_stream() {
        decoded.extend(dec.flush_one().map(|p| p.to_i420()));
    }
    assert_eq!(decoded.len(), pictures.len());
    for (a, b) in pictures.iter().zip(&decoded) {
        assert_eq!((b.width, b.height), (320, 192));
        let q = psnr(&a.y, &b.y);
        assert!(q > 30.0, "luma PSNR {q:.1} dB");
    }
}

#[test]
fn baseline_roundtrip() {
    roundtrip(Profile::Baseline);
}

#[test]
fn main_profile_roundtrip() {
    roundtrip(Profile::Main);
}

#[test]
fn odd_or_tiny_sizes_are_refused_not_crashed() {
    for (w, h) in [(321, 192), (320, 191), (8, 8), (0, 0)] {
        assert!(Encoder::new(&config(w, h)).is_err(), "{w}x{h}");
    }
}

#[test]
fn wrong_plane_sizes_are_refused() {
    let mut enc = Encoder::new(&config(64, 64)).unwrap();
    let bad = I420 {
        width: 64,
        height: 64,
        y: vec![0; 10],
        u: vec![0; 1024],
        v: vec![0; 1024],
    };
    assert!(enc.encode(&bad, 0).is_err());
}

/// Bytes of the predicted pictures of `pictures` encoded by `enc`.
fn predicted_bytes(enc: &mut Encoder, pictures: &[I420], first_ms: i64) -> usize {
    pictures
        .iter()
        .enumerate()
        .map(|(i, p)| enc.encode(p, first_ms + i as i64 * 83).unwrap())
        .filter(|out| out.kind == FrameKind::Predicted)
        .map(|out| out.data.len())
        .sum()
}

#[test]
fn bitrate_changes_take_effect_without_a_new_sequence() {
    let Some(dir) = common::testdata() else {
        eprintln!("test data not found; skipping");
        return;
    };
    let mut pictures = read_yuv(&dir.join("yuv/CiscoVT2people_320x192_12fps.yuv"), 320, 192);
    pictures.extend(pictures.clone().into_iter().rev());
    let settings = EncoderConfig {
        intra_period: 0,
        bitrate: 1_000_000,
        max_bitrate: 1_500_000,
        ..config(320, 192)
    };
    // Four passes over the 18 pictures: two at 1 Mbit/s, two at 100 kbit/s.
    let mut enc = Encoder::new(&settings).unwrap();
    predicted_bytes(&mut enc, &pictures, 0);
    let high = predicted_bytes(&mut enc, &pictures, 1500);
    enc.set_bitrate(100_000).unwrap();
    predicted_bytes(&mut enc, &pictures, 3000);
    let low = predicted_bytes(&mut enc, &pictures, 4500);
    assert!(
        low * 3 < high,
        "1 Mbit/s: {high} bytes, 100 kbit/s: {low} bytes"
    );
    // Above the peak bitrate: the peak is raised, no error; and no IDR.
    enc.set_bitrate(20_000_000).unwrap();
    let out = enc.encode(&pictures[0], 6000).unwrap();
    assert_eq!(out.kind, FrameKind::Predicted);
    assert!(enc.set_bitrate(0).is_err());
}
