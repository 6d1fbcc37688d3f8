//! Replays every file of every fuzz target's corpus (`fuzz/corpus/<target>/`)
//! through the target's function: CI's brief run of each target. The stage
//! targets need the components `cargo xtask build` makes.

use std::path::PathBuf;

// The shared H.264 test streams, read in place; None skips, except in CI.
use framechain_test_support::h264_testdata as testdata;

fn replay(target: &str) {
    let (_, run) = framechain_fuzz_harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", folder.display());
    for file in &files {
        let data = std::fs::read(file).expect("a corpus file");
        eprintln!("{target}: {}", file.display());
        run(&data);
    }
}

#[test]
fn every_target_is_replayed() {
    let mut folders: Vec<String> =
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus"))
            .expect("fuzz/corpus")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    folders.sort();
    let mut targets: Vec<&str> = framechain_fuzz_harness::TARGETS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    targets.sort();
    assert_eq!(folders, targets);
}

#[test]
fn y4m() {
    replay("y4m");
}

#[test]
fn raw() {
    replay("raw");
}

#[test]
fn annexb() {
    replay("annexb");
}

#[test]
fn pipeline_yaml() {
    replay("pipeline_yaml");
}

#[test]
fn launch_line() {
    replay("launch_line");
}

#[test]
fn decode_h264() {
    replay("decode_h264");
}

#[test]
fn stage_calls() {
    replay("stage_calls");
}

#[test]
fn parse_h264() {
    replay("parse_h264");
}

#[test]
fn webrtc_offer() {
    replay("webrtc_offer");
}

#[test]
fn webrtc_datagrams() {
    replay("webrtc_datagrams");
}

#[test]
fn rooms() {
    replay("rooms");
}

#[test]
fn event_body() {
    replay("event_body");
}

#[test]
fn ingest_entry() {
    replay("ingest_entry");
}

#[test]
fn ticket() {
    replay("ticket");
}

/// The datagram target's offer must open a call: were it refused, every
/// datagram input would return at once and fuzz nothing.
#[test]
fn the_datagram_targets_offer_is_accepted_as_a_publishers() {
    assert!(
        framechain_serve::fuzzing::offer(framechain_fuzz_harness::OFFER.as_bytes()) >= 1,
        "OFFER is refused"
    );
}

/// ICE is completed before the fuzzed datagrams, so they reach what is
/// behind it: a DTLS ClientHello from the peer is taken by the call (with
/// ICE left open, every non-STUN datagram would be refused unread).
#[test]
fn the_datagram_target_gets_past_ice() {
    let seed = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../corpus/webrtc_datagrams/dtls-client-hello"),
    )
    .unwrap();
    let taken = framechain_serve::fuzzing::datagrams(framechain_fuzz_harness::OFFER, &seed);
    assert_eq!(taken, 1, "the ClientHello is taken");
}

/// Small conformance streams (the seeds `parse_h264` was fuzzed from),
/// whole, through the `parse_h264` target with several cuttings: the
/// stage's limits and one-byte to 255-byte packets, and small limits (NAL
/// units up to 259 bytes, access units up to 514) so that drops happen.
#[test]
fn parse_h264_conformance_streams() {
    let Some(dir) = testdata() else {
        return;
    };
    for name in PARSE_H264_SEEDS {
        let stream = std::fs::read(dir.join("conformance").join(name))
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        for header in [
            &[0x00, 0, 0, 1, 1][..],
            &[0x04, 0, 0, 3, 7, 0, 200][..],
            &[0x0c, 0, 0, 2, 255, 13][..],
            &[0x01, 255, 255, 3, 1, 50, 255][..],
            &[0x09, 60, 100, 1, 64][..],
        ] {
            eprintln!("parse_h264: {name} with {header:?}");
            framechain_fuzz_harness::parse_h264(&[header, &stream].concat());
        }
    }
}

/// Small streams of `../shared/testdata/h264/conformance`: Baseline with
/// several slices, FMO and redundant slices, CABAC, IPCM, scaling lists.
const PARSE_H264_SEEDS: &[&str] = &[
    "SVA_BA2_D.264",
    "SVA_Base_B.264",
    "SVA_FM1_E.264",
    "SVA_NL2_E.264",
    "BASQP1_Sony_C.jsv",
    "test_scalinglist_jm.264",
    "Static.264",
];

/// A stage whose port says frames hands out a packet (program: opcode 18,
/// `0xa5`). Found by the first replay of the `stage_calls` seeds: the host
/// passed it on; since 77f02ee the host stops such a stage (Contract).
#[test]
fn a_frame_stage_cannot_hand_out_packets() {
    let program = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../known/packet-from-frame-port"),
    )
    .expect("the reproducer");
    let result = framechain_fuzz_harness::stage_calls_outputs(&program);
    match result {
        Ok(outputs) => assert!(
            outputs
                .iter()
                .all(|media| matches!(media, framechain::Media::Frame(_))),
            "a frame stage handed out a packet"
        ),
        Err(error) => assert!(error.contains("fuzz-stage"), "{error}"),
    }
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The ingest target fixes up the id and the hash a fuzzer cannot compute,
/// so that its mutations reach the checks behind them: a pod's entry as
/// written, and one with an empty id and hash fixed up by the harness,
/// both become rows; a body changed after sealing does not.
#[test]
fn the_ingest_seeds_reach_a_row() {
    use framechain_fuzz_harness::ingest_entry_is_row;
    assert!(ingest_entry_is_row(&seed("ingest_entry", "good")));
    let fixed_up = seed("ingest_entry", "fixed-up");
    assert!(ingest_entry_is_row(&fixed_up));
    let mut unsealed = fixed_up.clone();
    unsealed[0] &= !2;
    assert!(!ingest_entry_is_row(&unsealed), "the hash is not fixed up");
    assert!(!ingest_entry_is_row(&seed("ingest_entry", "deleted")));
}

/// The ticket target signs the claims it is given with the centre's key,
/// so that a good ticket is taken and mutations reach the claim checks;
/// the same claims signed by a key the pod does not know are refused.
#[test]
fn the_ticket_seeds_reach_past_the_signature() {
    use framechain_fuzz_harness::ticket_is_taken;
    assert!(ticket_is_taken(&seed("ticket", "signed-good")));
    assert!(!ticket_is_taken(&seed("ticket", "stranger-signed")));
    assert!(!ticket_is_taken(&seed("ticket", "signed-other-pod")));
    assert!(!ticket_is_taken(&seed("ticket", "alg-none")));
}
