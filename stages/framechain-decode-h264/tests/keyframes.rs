//! `alignment=access-unit` and the keyframe-needed notice, on the real test
//! streams, natively.

mod common;

use common::{Decoded, decode_in_pieces, default_config, expected_hashes, testdata};
use framechain_decode_h264::access_unit::AuTracker;
use framechain_decode_h264::annexb::Splitter;
use framechain_decode_h264::config::{Alignment, DecodeConfig};
use framechain_decode_h264::decoder::Decoder;

macro_rules! need_testdata {
    () => {
        match testdata() {
            Some(dir) => dir,
            None => {
                eprintln!("test data not found; skipping");
                return;
            }
        }
    };
}

/// True when the access unit's picture is a reference picture (its slices
/// have nal_ref_idc != 0): losing it breaks later pictures.
fn is_reference(au: &[u8]) -> bool {
    let mut splitter = Splitter::new(usize::MAX);
    let mut units = splitter.push(au, -1).units;
    units.extend(splitter.finish().units);
    units.iter().any(|u| {
        let header = framechain_decode_h264::nal::payload(&u.data)[0];
        framechain_decode_h264::nal::is_vcl(header & 0x1f) && header & 0x60 != 0
    })
}

/// The SPS and PPS units of an access unit.
fn parameter_sets(au: &[u8]) -> Vec<u8> {
    let mut splitter = Splitter::new(usize::MAX);
    let mut units = splitter.push(au, -1).units;
    units.extend(splitter.finish().units);
    units
        .iter()
        .filter(|u| matches!(framechain_decode_h264::nal::nal_type(&u.data), Some(7 | 8)))
        .flat_map(|u| u.data.clone())
        .collect()
}

/// A stream's access units, each with whether it is an IDR picture.
fn access_units(data: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let mut splitter = Splitter::new(usize::MAX);
    let mut units = splitter.push(data, -1).units;
    units.extend(splitter.finish().units);
    let mut tracker = AuTracker::new();
    let mut aus: Vec<(Vec<u8>, bool)> = Vec::new();
    for u in &units {
        let place = tracker.place(&u.data);
        if place.starts_au || aus.is_empty() {
            aus.push((Vec::new(), false));
        }
        let au = aus.last_mut().unwrap();
        au.0.extend_from_slice(&u.data);
        au.1 |= place.idr;
    }
    aus
}

fn au_config() -> DecodeConfig {
    DecodeConfig {
        alignment: Alignment::AccessUnit,
        ..default_config()
    }
}

#[test]
fn access_unit_packets_decode_at_once() {
    let dir = need_testdata!();
    let data = std::fs::read(dir.join("conformance/BA_MW_D.264")).unwrap();
    let reference = decode_in_pieces(&data, 1 << 20, 1, default_config());
    let aus = access_units(&data);
    assert_eq!(aus.len(), 100);
    let mut decoder = Decoder::new(au_config()).unwrap();
    let mut out = Decoded::default();
    for (i, (au, _)) in aus.iter().enumerate() {
        let batch = decoder.push(au, 3000 * i as i64).unwrap();
        // Baseline, no reordering: the picture comes out of its own push.
        assert_eq!(batch.pictures.len(), 1, "access unit {i}");
        assert_eq!(batch.pictures[0].timing.pts, 3000 * i as i64);
        out.add(batch);
    }
    let tail = decoder.flush().unwrap();
    assert!(tail.pictures.is_empty());
    out.add(tail);
    assert_eq!(out.sha1.digest(), reference.sha1.digest());
    assert_eq!(out.keyframes_needed, 0);
}

#[test]
fn access_unit_packets_keep_their_pts_through_reordering() {
    let dir = need_testdata!();
    // B-frames: display order differs from decode order.
    let data =
        std::fs::read(dir.join("conformance/Cisco_Adobe_PDF_sample_a_1024x768_CAVLC_Bframe_9.264"))
            .unwrap();
    let reference = decode_in_pieces(&data, 1 << 20, 1, default_config());
    let aus = access_units(&data);
    let mut decoder = Decoder::new(au_config()).unwrap();
    let mut out = Decoded::default();
    for (i, (au, _)) in aus.iter().enumerate() {
        out.add(decoder.push(au, 1000 + i as i64).unwrap());
    }
    out.add(decoder.flush().unwrap());
    assert_eq!(out.sha1.digest(), reference.sha1.digest());
    assert_eq!(out.frames, reference.frames);
    // Every packet's pts came out once.
    let mut pts = out.pts.clone();
    pts.sort();
    assert_eq!(
        pts,
        (0..aus.len() as i64).map(|i| 1000 + i).collect::<Vec<_>>()
    );
}

#[test]
fn clean_streams_never_ask_for_a_keyframe() {
    let dir = need_testdata!();
    for expected in expected_hashes(&dir) {
        if !expected.path.starts_with("conformance/") {
            continue;
        }
        let data = std::fs::read(dir.join(&expected.path)).unwrap();
        let out = decode_in_pieces(&data, 3000, 5, default_config());
        assert_eq!(out.keyframes_needed, 0, "{}", expected.path);
    }
}

/// Feeds access units one per packet; returns what came out.
fn decode_aus<'a>(aus: impl IntoIterator<Item = &'a (Vec<u8>, bool)>, conceal: bool) -> Decoded {
    let config = DecodeConfig {
        conceal_errors: conceal,
        ..au_config()
    };
    let mut decoder = Decoder::new(config).unwrap();
    let mut out = Decoded::default();
    for (au, _) in aus {
        out.add(decoder.push(au, -1).unwrap());
    }
    out.add(decoder.flush().unwrap());
    out
}

#[test]
fn missing_references_ask_for_a_keyframe_once_per_gap() {
    let dir = need_testdata!();
    let data = std::fs::read(dir.join("conformance/MIDR_MW_D.264")).unwrap();
    // The stream twice over, for one more IDR picture.
    let mut aus = access_units(&data);
    aus.extend(aus.clone());
    let idrs: Vec<usize> = (0..aus.len()).filter(|i| aus[*i].1).collect();
    assert!(idrs.len() >= 3, "{idrs:?}");
    let (first, second, third) = (idrs[0], idrs[1], idrs[2]);
    assert!(second - first > 4 && third - second > 4, "{idrs:?}");
    for conceal in [true, false] {
        // Joining after the first IDR: one notice until the second IDR.
        // Then one predicted picture is lost: one more notice, however many
        // pictures follow it before the third IDR. From there on, clean.
        let lost = (second + 2..third)
            .find(|i| is_reference(&aus[*i].0))
            .unwrap();
        // The stream's parameter sets (they come with the first IDR only).
        let sets = (parameter_sets(&aus[first].0), false);
        let mut stream: Vec<&(Vec<u8>, bool)> = vec![&sets];
        stream.extend(&aus[first + 1..second]);
        stream.extend(&aus[second..lost]);
        stream.extend(&aus[lost + 1..]);
        let out = decode_aus(stream, conceal);
        assert_eq!(out.keyframes_needed, 2, "conceal={conceal}");
        // The decoder recovered: everything from the third IDR on came out,
        // identical to a clean decode.
        let clean = decode_aus(&aus, conceal);
        assert_eq!(clean.keyframes_needed, 0);
        let tail = aus.len() - third;
        assert!(out.frames >= tail, "conceal={conceal}");
        assert_eq!(out.keyframes, idrs.len() - 1, "conceal={conceal}");
    }
}

#[test]
fn robustness_streams_ask_for_keyframes() {
    let dir = need_testdata!();
    for name in [
        "BA_MW_D_IDR_LOST.264",
        "BA_MW_D_P_LOST.264",
        "Error_I_P.264",
    ] {
        let data = std::fs::read(dir.join("robustness").join(name)).unwrap();
        let idrs = access_units(&data).iter().filter(|au| au.1).count();
        for conceal in [true, false] {
            let config = DecodeConfig {
                conceal_errors: conceal,
                ..default_config()
            };
            let out = decode_in_pieces(&data, 2000, 3, config);
            eprintln!(
                "{name} conceal={conceal}: {} notices, {idrs} IDR pictures",
                out.keyframes_needed
            );
            assert!(out.keyframes_needed >= 1, "{name} conceal={conceal}");
            // At most one per gap, and a gap closes only at an IDR picture.
            assert!(out.keyframes_needed <= idrs + 1, "{name} conceal={conceal}");
        }
    }
}
