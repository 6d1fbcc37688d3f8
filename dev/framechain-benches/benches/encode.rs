//! `encode-h264` per 1080p frame: OpenH264 inside the sandbox
//! (`accel=none`, the default) against the host's native encoder
//! (`accel=native`, OpenH264 built natively with its assembly when `nasm`
//! was there), both driven through a session exactly as a pipeline does;
//! and, for the cost of the boundary, that native encoder called directly.
//!
//! The frames are the first 30 pictures of the real 1080p test clip
//! (`h264/throughput/real1080p30_10s_cbp_6M.264` under the test data,
//! decoded by `decode-h264`), pushed in a loop with rising pts; without the
//! test data, a synthetic panning picture. Real motion matters: a static
//! picture would make every P-picture nearly free.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use framechain::{Codec, Frame, Media, Packet, Plane};
use framechain_benches::{HEIGHT, WIDTH, engine, frame_1080p, session};

const FRAMES: usize = 30;

/// The stream under `$FRAMECHAIN_TESTDATA` or `../shared/testdata`, if there.
fn real_clip() -> Option<Vec<u8>> {
    let dir = framechain_test_support::testdata_dir();
    std::fs::read(dir.join("h264/throughput/real1080p30_10s_cbp_6M.264")).ok()
}

fn source_frames(engine: &framechain::Engine) -> (Vec<Frame>, &'static str) {
    if let Some(clip) = real_clip() {
        let mut decoder = session(engine, "decode-h264");
        let mut frames = Vec::new();
        for chunk in clip.chunks(64 * 1024) {
            let packet = Packet {
                codec: Codec::H264,
                data: chunk.to_vec(),
                pts: -1,
                dts: -1,
                keyframe: false,
            };
            let out = decoder.push(Media::Packet(packet)).expect("decode");
            frames.extend(out.into_iter().filter_map(Media::into_frame));
            if frames.len() >= FRAMES {
                frames.truncate(FRAMES);
                return (frames, "real 1080p clip");
            }
        }
    }
    // A detailed picture that pans 8 pixels per frame.
    let base = frame_1080p();
    let frames = (0..FRAMES)
        .map(|n| {
            let mut frame = base.clone();
            for plane in [Plane::Y, Plane::U, Plane::V] {
                let shift = if plane == Plane::Y { 8 * n } else { 4 * n };
                frame.plane_mut(plane).rotate_left(shift);
            }
            frame
        })
        .collect();
    (frames, "synthetic panning picture")
}

fn encode_1080p(c: &mut Criterion) {
    let engine = engine();
    let (frames, source) = source_frames(&engine);
    assert_eq!((frames[0].width(), frames[0].height()), (WIDTH, HEIGHT));
    eprintln!(
        "encode_1080p: {source}; native OpenH264 with x86 assembly: {}",
        framechain_openh264::NATIVE_ASM
    );

    let mut group = c.benchmark_group("encode_h264_1080p");
    // A wasm frame takes ~45 ms: fewer, longer samples.
    group.sample_size(20);
    for accel in ["none", "native"] {
        // Every frame is encoded (no rate-control skipping), one IDR per 60.
        let mut stage = session(
            &engine,
            &format!("encode-h264 bitrate=6M gop=60 low-latency=false accel={accel}"),
        );
        let mut n = 0usize;
        group.bench_function(format!("accel_{accel}"), |b| {
            b.iter_batched(
                || {
                    let mut frame = frames[n % FRAMES].clone();
                    frame.pts = n as i64 * 3000;
                    n += 1;
                    frame
                },
                |frame| stage.push(Media::Frame(frame)).expect("encode"),
                BatchSize::LargeInput,
            )
        });
    }

    // The same native OpenH264 called directly, without a session, a stage
    // or the import: what the boundary adds to `accel_native`.
    let stage_config = framechain_encode_h264::config::EncodeConfig::from_params(vec![
        ("bitrate".into(), "6M".into()),
        ("gop".into(), "60".into()),
        ("low-latency".into(), "false".into()),
    ])
    .expect("settings");
    let mut codec =
        framechain_openh264::Encoder::new(&stage_config.encoder_config(WIDTH, HEIGHT)).unwrap();
    let mut n = 0usize;
    group.bench_function("native_codec_direct", |b| {
        b.iter(|| {
            let frame = &frames[n % FRAMES];
            let planes = [Plane::Y, Plane::U, Plane::V].map(|p| frame.plane(p));
            let out = codec.encode_planes(planes, n as i64 * 33).unwrap();
            n += 1;
            out
        })
    });
    group.finish();
}

criterion_group!(benches, encode_1080p);
criterion_main!(benches);
