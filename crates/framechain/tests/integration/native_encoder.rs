//! `encode-h264 accel=native`: the host's native encoder behind the
//! `native-h264` import. Bitrate, skips and size changes behave as in wasm
//! (FFmpeg decoding and keyframe requests are checked for both paths in
//! `h264.rs`), both write the same bytes, and a host that refuses the
//! native encoder refuses the pipeline.

use framechain::{ChainSpec, Engine, EngineConfig, Error, Frame, Media, Pipeline, Plane};

use crate::h264::{chunks, encode, ffmpeg_decode, keyframes, test_frame};
use crate::support::{config, engine, have_ffmpeg, pipeline, testdata};

/// Smooth detail everywhere (two waves) that pans a few pixels per frame,
/// so rate control has to work for its bits.
fn busy_frame(width: u32, height: u32, n: u32) -> Frame {
    let mut frame = Frame::black(width, height).unwrap();
    for plane in [Plane::Y, Plane::U, Plane::V] {
        let (w, _) = frame.plane_size(plane);
        let scale = if plane == Plane::Y { 1.0 } else { 2.0 };
        for (i, sample) in frame.plane_mut(plane).iter_mut().enumerate() {
            let x = f64::from(i as u32 % w) * scale + f64::from(3 * n);
            let y = f64::from(i as u32 / w) * scale + f64::from(n);
            let wave = (x / 7.0 + y / 11.0).sin() + (x / 19.0 - y / 5.0).cos();
            *sample = (126.0 + 50.0 * wave) as u8;
        }
    }
    frame.pts = i64::from(n) * 3000;
    frame
}

#[test]
fn native_bitrate_is_as_asked_and_as_in_wasm() {
    if !have_ffmpeg() {
        return;
    }
    const FRAMES: u32 = 150;
    let seconds = f64::from(FRAMES) / 30.0;
    let engine = engine();
    let frames: Vec<Frame> = (0..FRAMES).map(|n| busy_frame(640, 360, n)).collect();
    for target in [1_500_000.0, 3_000_000.0] {
        let mut streams = Vec::new();
        for accel in ["none", "native"] {
            let launch = format!("encode-h264 bitrate={target} low-latency=false accel={accel}");
            let (stream, packets) = encode(&pipeline(&engine, &launch), frames.clone());
            assert_eq!(packets.len(), FRAMES as usize, "{launch}");
            let raw = ffmpeg_decode(&stream, &format!("rate-{accel}-{target}"), FRAMES as usize);
            assert_eq!(
                raw.len(),
                FRAMES as usize * 640 * 360 * 3 / 2,
                "{launch}: FFmpeg decodes every frame"
            );
            let rate = stream.len() as f64 * 8.0 / seconds;
            eprintln!("{launch}: {:.0} kbit/s", rate / 1000.0);
            assert!(
                (0.85..=1.15).contains(&(rate / target)),
                "{launch}: {:.0} kbit/s is not near the target",
                rate / 1000.0
            );
            streams.push(stream);
        }
        // The same OpenH264 release with the same settings: OpenH264's
        // assembly is exact to its C, so the streams agree (here they are
        // identical); allow for a CPU whose code path rounds differently.
        let ratio = streams[1].len() as f64 / streams[0].len() as f64;
        eprintln!(
            "at {target}: native/wasm size {ratio:.4}, identical: {}",
            streams[0] == streams[1]
        );
        assert!(
            (0.97..=1.03).contains(&ratio),
            "native and wasm streams differ in size by {ratio:.3}x at {target}"
        );
    }
}

#[test]
fn native_skips_frames_for_low_latency_as_wasm_does() {
    const FRAMES: usize = 60;
    let engine = engine();
    let frames: Vec<Frame> = (0..FRAMES as u32)
        .map(|n| busy_frame(640, 360, n))
        .collect();
    let mut results = Vec::new();
    for accel in ["none", "native"] {
        let encoder = pipeline(
            &engine,
            &format!("encode-h264 bitrate=150k low-latency=true accel={accel}"),
        );
        let mut session = encoder.start_session().unwrap();
        let mut pts = Vec::new();
        for frame in frames.clone() {
            pts.extend(
                session
                    .push(Media::Frame(frame))
                    .unwrap()
                    .iter()
                    .map(Media::pts),
            );
        }
        let skipped = session.stats().dropped_total() as usize;
        eprintln!("accel={accel}: {} packets, {skipped} skipped", pts.len());
        assert_eq!(
            pts.len() + skipped,
            FRAMES,
            "accel={accel}: every frame accounted for"
        );
        assert!(skipped > 0, "accel={accel}: rate control skipped nothing");
        assert_eq!(
            session.stats().dropped().into_keys().collect::<Vec<_>>(),
            ["encode-h264: skipped by rate control"]
        );
        let dropped = skipped;
        results.push((pts, dropped));
    }
    assert_eq!(results[0], results[1], "native skips the frames wasm skips");
}

#[test]
fn native_follows_size_changes_and_keyframe_flags_like_wasm() {
    let engine = engine();
    let launch = "encode-h264 gop=0 follow-keyframes=true low-latency=false accel=native";
    let mut frames: Vec<Frame> = (0..4).map(|n| test_frame(320, 240, n)).collect();
    frames.extend((4..8).map(|n| test_frame(640, 360, n)));
    frames[2].keyframe = true;
    let (_, packets) = encode(&pipeline(&engine, launch), frames);
    assert_eq!(packets.len(), 8);
    assert_eq!(
        keyframes(&packets),
        vec![0, 2, 4],
        "first frame, a flagged frame and a new size start with an IDR picture"
    );

    // Sizes OpenH264 cannot encode are refused as in wasm, as a stage error.
    for accel in ["none", "native"] {
        let encoder = pipeline(&engine, &format!("encode-h264 accel={accel}"));
        let mut session = encoder.start_session().unwrap();
        let error = session
            .push(Media::Frame(test_frame(321, 240, 0)))
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("even sizes") && text.contains("321x240"),
            "accel={accel}: {text}"
        );
    }

    // Larger than the native encoder takes (level 5.2's 36864 macroblocks).
    let encoder = pipeline(&engine, "encode-h264 accel=native");
    let mut session = encoder.start_session().unwrap();
    let error = session
        .push(Media::Frame(Frame::black(4352, 2304).unwrap()))
        .unwrap_err();
    assert!(error.to_string().contains("36864 macroblocks"), "{error}");
}

#[test]
fn native_sessions_run_side_by_side_and_end_cleanly() {
    let engine = engine();
    let encoder = pipeline(&engine, "encode-h264 gop=10 accel=native");
    let mut sessions: Vec<_> = (0..3).map(|_| encoder.start_session().unwrap()).collect();
    for n in 0..12 {
        for (k, session) in sessions.iter_mut().enumerate() {
            let out = session
                .push(Media::Frame(test_frame(160 + 32 * k as u32, 96, n)))
                .unwrap();
            assert_eq!(out.len(), 1);
        }
    }
    for mut session in sessions {
        assert!(session.flush().unwrap().is_empty());
        assert!(session.failure().is_none());
    }
}

#[test]
fn a_host_that_refuses_the_native_encoder_refuses_the_pipeline() {
    let engine = Engine::new(EngineConfig {
        native_h264: false,
        ..config()
    })
    .unwrap();
    let chain = ChainSpec::parse_launch("encode-h264 accel=native").unwrap();
    match Pipeline::build(&engine, &chain) {
        Err(Error::BadParameter { stage, message }) => {
            assert_eq!(stage, "encode-h264");
            assert!(message.contains("accel=native"), "{message}");
            assert!(message.contains("switched off"), "{message}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("the pipeline was built"),
    }
    // Without accel=native the same engine encodes in wasm as always.
    let encoder = pipeline(&engine, "encode-h264");
    let (_, packets) = encode(&encoder, vec![test_frame(64, 64, 0)]);
    assert_eq!(packets.len(), 1);
}

/// The wasm encoder is OpenH264's C with our SIMD128 kernels in place of the
/// C ones; the native encoder is OpenH264's C with its x86 assembly. Each
/// kernel computes exactly what the C one does, so the two must write the
/// same bytes, on real footage and whatever the settings.
#[test]
fn wasm_and_native_encoders_write_identical_streams() {
    let Some(data) = testdata() else { return };
    let clip = std::fs::read(data.join("h264/throughput/real1080p30_10s_cbp_6M.264")).unwrap();
    let engine = engine();
    let mut source = pipeline(&engine, "decode-h264 ! scale width=960 height=540")
        .start_session()
        .unwrap();
    let mut frames = Vec::new();
    // About the first second of the clip.
    for packet in chunks(&clip[..clip.len() / 8], 64 * 1024) {
        frames.extend(source.push(packet).unwrap());
    }
    frames.extend(source.flush().unwrap());
    let frames: Vec<Frame> = frames
        .into_iter()
        .map(|m| m.into_frame().unwrap())
        .collect();
    assert!(frames.len() >= 30, "{} frames decoded", frames.len());

    for settings in [
        "bitrate=2000k gop=60",
        "rc=off qp=24 profile=main",
        "bitrate=600k gop=15 complexity=medium low-latency=true",
        "rc=quality bitrate=1500k profile=high complexity=high",
    ] {
        let (wasm, _) = encode(
            &pipeline(&engine, &format!("encode-h264 {settings}")),
            frames.clone(),
        );
        let (native, _) = encode(
            &pipeline(&engine, &format!("encode-h264 {settings} accel=native")),
            frames.clone(),
        );
        assert!(!wasm.is_empty(), "{settings}: nothing encoded");
        let first_difference = wasm.iter().zip(&native).position(|(a, b)| a != b);
        assert!(
            wasm.len() == native.len() && first_difference.is_none(),
            "{settings}: wasm wrote {} bytes, native {}, first difference at byte {first_difference:?}",
            wasm.len(),
            native.len()
        );
    }
}
