//! The access-unit splitter against the real sandboxed stages: a stream the
//! `encode-h264` stage made, one packet per picture, must come back out of
//! the splitter as exactly those pictures' NAL units, however the bytes are
//! cut on the way in.

use framechain::{Engine, EngineConfig, Media, Packet, Pipeline, StageRegistry};
use framechain_tools::AccessUnitSplitter;
use framechain_tools::io::{FrameRate, FrameReader, TestSource};

/// The built stages (`$FRAMECHAIN_STAGE_PATH`, or the checkout's
/// `target/stages` and `target/test-stages`).
fn engine() -> Engine {
    Engine::new(EngineConfig {
        registry: StageRegistry::with_dirs(framechain_test_support::stage_dirs()),
        ..EngineConfig::default()
    })
    .expect("an engine")
}

/// 20 pictures encoded with an IDR every 10: the encoder's packets, one
/// access unit each.
fn encoded(engine: &Engine) -> Vec<Packet> {
    let chain = framechain::ChainSpec::parse_launch("encode-h264 gop=10 bitrate=500k").unwrap();
    let encoder = Pipeline::build(engine, &chain).expect("encode-h264 (run `cargo xtask stages`)");
    let mut session = encoder.start_session().unwrap();
    let mut source = TestSource::new(64, 48, 20, FrameRate::DEFAULT).unwrap();
    let mut out = Vec::new();
    while let Some(frame) = source.read_frame().unwrap() {
        out.extend(session.push(Media::Frame(frame)).unwrap());
    }
    out.extend(session.flush().unwrap());
    out.into_iter().filter_map(Media::into_packet).collect()
}

#[test]
fn the_splitter_gives_back_the_encoders_access_units_however_the_bytes_are_cut() {
    let engine = engine();
    let pictures = encoded(&engine);
    assert_eq!(pictures.len(), 20);
    let stream: Vec<u8> = pictures.iter().flat_map(|p| p.data.clone()).collect();

    let whole = AccessUnitSplitter::new(&engine)
        .unwrap()
        .split(&stream)
        .unwrap();
    // Odd pieces, most of them ending inside a NAL unit or a start code.
    let mut splitter = AccessUnitSplitter::new(&engine).unwrap();
    let mut pieces = Vec::new();
    for piece in stream.chunks(7) {
        pieces.extend(splitter.push(piece).unwrap());
    }
    pieces.extend(splitter.finish().unwrap());

    let expected: Vec<Vec<u8>> = pictures
        .iter()
        .map(|p| short_start_codes(&p.data))
        .collect();
    for units in [&whole, &pieces] {
        assert_eq!(units.len(), pictures.len(), "one access unit per picture");
        for (n, unit) in units.iter().enumerate() {
            assert!(
                short_start_codes(&unit.data) == expected[n],
                "access unit {n} holds the NAL units of picture {n}"
            );
        }
        let keys: Vec<usize> = (0..units.len()).filter(|&n| units[n].keyframe).collect();
        assert_eq!(keys, [0, 10], "IDR pictures are flagged as keyframes");
    }
    assert!(splitter.session().stats().inputs > 0);
}

/// `data` with every 4-byte start code written as the 3-byte one: the
/// parser may write either before a NAL unit (both mean the same, and
/// emulation prevention keeps `00 00 00` out of NAL payloads).
fn short_start_codes(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while !rest.is_empty() {
        if rest.starts_with(&[0, 0, 0, 1]) {
            out.extend_from_slice(&[0, 0, 1]);
            rest = &rest[4..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}
