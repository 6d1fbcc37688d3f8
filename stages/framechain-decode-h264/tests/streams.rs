//! The decoder on the real test streams, natively: bit-exact output
//! whatever the packet cuts, time stamps, resolution changes, damage and
//! garbage.

mod common;

use common::{Decoded, Rng, decode_in_pieces, default_config, expected_hashes, testdata};
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

/// Access units with slices in a whole stream, by the stage's own rules.
fn picture_count(data: &[u8]) -> usize {
    let mut splitter = Splitter::new(usize::MAX);
    let mut units = splitter.push(data, -1).units;
    units.extend(splitter.finish().units);
    let mut tracker = AuTracker::new();
    let mut aus = std::collections::BTreeSet::new();
    for u in &units {
        let p = tracker.place(&u.data);
        if p.vcl {
            aus.insert(p.au);
        }
    }
    aus.len()
}

#[test]
fn conformance_streams_are_bit_exact_in_random_packets() {
    let dir = need_testdata!();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (n, e) in expected_hashes(&dir).iter().enumerate() {
        let path = dir.join(&e.path);
        if !e.path.starts_with("conformance/") || !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let out = decode_in_pieces(&data, 3000, 1 + n as u64, default_config());
        let sha1 = out.sha1.digest().to_string();
        checked += 1;
        if sha1 != e.ffmpeg_sha1 && sha1 != e.openh264_sha1 {
            failures.push(format!("{}: sha1 {sha1}, want {}", e.path, e.ffmpeg_sha1));
        }
        if out.frames != e.frames || !out.lost.is_empty() {
            failures.push(format!(
                "{}: {} frames (want {}), lost {:?}",
                e.path, out.frames, e.frames, out.lost
            ));
        }
        // No pts given: display-order numbering at 30 fps.
        let want: Vec<i64> = (0..out.frames as i64).map(|i| i * 3000).collect();
        if out.pts != want {
            failures.push(format!("{}: pts not 0, 3000, ...", e.path));
        }
        if out.keyframes == 0 {
            failures.push(format!("{}: no keyframe", e.path));
        }
    }
    assert!(checked >= 40, "only {checked} streams found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn byte_sized_packets_and_nal_aligned_packets_give_the_same_pictures() {
    let dir = need_testdata!();
    let data = std::fs::read(dir.join("conformance/BA_MW_D.264")).unwrap();
    let reference = decode_in_pieces(&data, 1 << 20, 1, default_config())
        .sha1
        .digest();
    assert_eq!(
        decode_in_pieces(&data, 1, 2, default_config())
            .sha1
            .digest(),
        reference
    );

    // alignment=nal, one NAL unit per packet.
    let config = DecodeConfig {
        alignment: Alignment::Nal,
        ..default_config()
    };
    let mut decoder = Decoder::new(config).unwrap();
    let mut splitter = Splitter::new(usize::MAX);
    let mut units = splitter.push(&data, -1).units;
    units.extend(splitter.finish().units);
    let mut out = Decoded::default();
    let mut frames_before_flush = 0;
    for u in &units {
        let batch = decoder.push(&u.data, -1).unwrap();
        frames_before_flush += batch.pictures.len();
        out.add(batch);
    }
    out.add(decoder.flush().unwrap());
    assert_eq!(out.sha1.digest(), reference);
    // Baseline without reordering: every picture is out before the flush.
    assert_eq!(frames_before_flush, 100);
}

#[test]
fn packet_pts_follow_b_frames_into_display_order() {
    let dir = need_testdata!();
    let data =
        std::fs::read(dir.join("conformance/Cisco_Adobe_PDF_sample_a_1024x768_CAVLC_Bframe_9.264"))
            .unwrap();
    // One access unit per packet, stamped in decode order with distinct
    // values; the output must carry each value exactly once.
    let mut splitter = Splitter::new(usize::MAX);
    let mut units = splitter.push(&data, -1).units;
    units.extend(splitter.finish().units);
    let mut tracker = AuTracker::new();
    let mut packets: Vec<Vec<u8>> = Vec::new();
    for u in &units {
        if tracker.place(&u.data).starts_au {
            packets.push(Vec::new());
        }
        packets.last_mut().unwrap().extend_from_slice(&u.data);
    }
    let mut decoder = Decoder::new(default_config()).unwrap();
    let mut out = Decoded::default();
    for (i, p) in packets.iter().enumerate() {
        out.add(decoder.push(p, 1000 + i as i64).unwrap());
    }
    out.add(decoder.flush().unwrap());
    assert_eq!(out.frames, 9);
    let mut sorted = out.pts.clone();
    sorted.sort();
    assert_eq!(sorted, (1000..1009).collect::<Vec<i64>>());
    assert_ne!(
        out.pts, sorted,
        "B-frames reorder: output pts are not in decode order"
    );
}

#[test]
fn resolution_changes_mid_stream() {
    let dir = need_testdata!();
    let names = [
        "conformance/BA_MW_D.264",
        "conformance/Zhling_1280x720.264",
        "conformance/test_vd_1d.264",
    ];
    let data: Vec<u8> = names
        .iter()
        .flat_map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect();
    let out = decode_in_pieces(&data, 5000, 7, default_config());
    assert_eq!(out.sizes, vec![(176, 144), (1280, 720), (320, 192)]);
    assert_eq!(out.frames, 100 + 19 + 9);
    assert!(out.lost.is_empty(), "{:?}", out.lost);
}

#[test]
fn robustness_streams_account_for_every_picture() {
    let dir = need_testdata!();
    for name in [
        "BA_MW_D_IDR_LOST.264",
        "BA_MW_D_P_LOST.264",
        "Error_I_P.264",
    ] {
        let data = std::fs::read(dir.join("robustness").join(name)).unwrap();
        let pictures = picture_count(&data);
        for conceal in [true, false] {
            let config = DecodeConfig {
                conceal_errors: conceal,
                ..default_config()
            };
            let out = decode_in_pieces(&data, 2000, 3, config);
            eprintln!(
                "{name} conceal={conceal}: {pictures} pictures in, {} frames out, {} dropped {:?}",
                out.frames,
                out.lost.len(),
                out.lost
                    .iter()
                    .map(|l| l.reason.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
            );
            assert_eq!(
                out.frames + out.lost.len(),
                pictures,
                "{name} conceal={conceal}"
            );
        }
    }
}

#[test]
fn damaged_streams_do_not_crash() {
    let dir = need_testdata!();
    let data = std::fs::read(dir.join("conformance/test_qcif_cabac.264")).unwrap();
    for seed in 1..=20u64 {
        let mut rng = Rng(seed);
        let mut damaged = data.clone();
        // Flip a few hundred random bits, sometimes zero a run of bytes.
        for _ in 0..200 {
            let i = rng.below(damaged.len() as u64) as usize;
            damaged[i] ^= 1 << rng.below(8);
        }
        if seed % 2 == 0 {
            let at = rng.below(damaged.len() as u64 - 500) as usize;
            damaged[at..at + 500].fill(0);
        }
        let pictures = picture_count(&damaged);
        let out = decode_in_pieces(&damaged, 4000, seed, default_config());
        assert!(
            out.frames <= pictures + 2,
            "seed {seed}: {} frames from {pictures} pictures",
            out.frames
        );
    }
}

#[test]
fn garbage_does_not_crash() {
    let mut rng = Rng(42);
    let garbage: Vec<u8> = (0..2_000_000).map(|_| rng.next() as u8).collect();
    let out = decode_in_pieces(&garbage, 65536, 9, default_config());
    eprintln!("garbage: {} frames, {} dropped", out.frames, out.lost.len());
    // Garbage with start codes sprinkled in, and NAL headers of every type.
    let mut sprinkled = Vec::new();
    for i in 0..20_000u32 {
        sprinkled.extend_from_slice(&[0, 0, 1, (i % 256) as u8]);
        sprinkled.extend((0..rng.below(200)).map(|_| rng.next() as u8));
    }
    let out = decode_in_pieces(&sprinkled, 4096, 10, default_config());
    eprintln!(
        "sprinkled: {} frames, {} dropped",
        out.frames,
        out.lost.len()
    );
}
