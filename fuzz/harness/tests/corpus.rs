//! Replays every file of every fuzz target's corpus (`fuzz/corpus/<target>/`)
//! through the target's function: CI's brief run of each target. The stage
//! targets need the components `cargo xtask build` makes.

use std::path::PathBuf;

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
