//! `parse-h264` natively on the real test streams: whatever the packet
//! cuts, its access units decode (with `decode-h264 alignment=access-unit`)
//! to exactly the pictures of the whole stream.

use framechain_decode_h264::config::{Alignment, DecodeConfig};
use framechain_decode_h264::decoder::{Batch, Decoder};
use framechain_parse_h264::parser::{AccessUnit, Parser};
// The shared H.264 test streams, read in place; None skips, except in CI.
use framechain_test_support::h264_testdata as testdata;

/// A picture as (width, height, Y, U, V).
type Picture = (u32, u32, Vec<u8>, Vec<u8>, Vec<u8>);

/// Pictures in output order.
fn pictures(batches: impl IntoIterator<Item = Batch>) -> Vec<Picture> {
    batches
        .into_iter()
        .flat_map(|b| b.pictures)
        .map(|p| {
            (
                p.image.width,
                p.image.height,
                p.image.y,
                p.image.u,
                p.image.v,
            )
        })
        .collect()
}

/// Parses `data` cut into packets of pseudo-random sizes up to `max`.
fn parse(data: &[u8], max: usize, seed: u64) -> Vec<AccessUnit> {
    let mut parser = Parser::new(3000);
    let mut state = seed | 1;
    let mut rest = data;
    let mut out = Vec::new();
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = (1 + (state % max as u64) as usize).min(rest.len());
        out.extend(parser.push(&rest[..n], -1, -1).access_units);
        rest = &rest[n..];
    }
    out.extend(parser.flush().access_units);
    out
}

#[test]
fn access_units_decode_to_the_whole_stream() {
    let Some(dir) = testdata() else {
        eprintln!("test data not found; skipping");
        return;
    };
    for name in [
        "conformance/BA_MW_D.264",
        "conformance/MIDR_MW_D.264",
        "conformance/Cisco_Adobe_PDF_sample_a_1024x768_CAVLC_Bframe_9.264",
        "conformance/test_cif_P_CABAC_slice.264",
        "conformance/MPS_MW_A.264",
    ] {
        let data = std::fs::read(dir.join(name)).unwrap();
        let mut whole = Decoder::new(DecodeConfig::from_params(vec![]).unwrap()).unwrap();
        let whole = [whole.push(&data, -1).unwrap(), whole.flush().unwrap()];
        let keyframes: usize = whole
            .iter()
            .map(|b| b.pictures.iter().filter(|p| p.timing.keyframe).count())
            .sum();
        let reference = pictures(whole);
        for (max, seed) in [(1 << 20, 1), (5000, 2), (7, 3)] {
            let aus = parse(&data, max, seed);
            let config = DecodeConfig {
                alignment: Alignment::AccessUnit,
                ..DecodeConfig::from_params(vec![]).unwrap()
            };
            let mut decoder = Decoder::new(config).unwrap();
            let mut batches: Vec<Batch> = aus
                .iter()
                .map(|au| decoder.push(&au.data, au.pts).unwrap())
                .collect();
            batches.push(decoder.flush().unwrap());
            assert!(
                batches
                    .iter()
                    .all(|b| b.lost.is_empty() && b.keyframes_needed == 0),
                "{name}"
            );
            let got = pictures(batches);
            assert_eq!(got.len(), reference.len(), "{name} max {max}");
            assert!(got == reference, "{name} max {max}: pictures differ");
            // One access unit per picture, numbered 1/fps apart.
            assert_eq!(aus.len(), reference.len(), "{name}");
            assert!(
                aus.iter()
                    .enumerate()
                    .all(|(i, au)| au.pts == 3000 * i as i64)
            );
            let parsed_keyframes = aus.iter().filter(|au| au.keyframe).count();
            assert_eq!(parsed_keyframes, keyframes, "{name}");
            assert!(aus[0].keyframe, "{name}");
        }
    }
}
