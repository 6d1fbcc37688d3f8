#![allow(dead_code)] // each test binary uses a different part

//! Helpers shared by the native tests: where the test streams are, and a
//! minimal whole-file Annex-B splitter (the streaming one lives in the
//! decode-h264 stage).

/// `../shared/testdata/h264` next to the repository (the shared folder from
/// $FRAMECHAIN_TESTDATA when set, as for the host's tests). Missing test
/// data skips a test, except in CI where it is a failure.
pub use framechain_test_support::h264_testdata as testdata;

/// Splits a whole Annex-B stream into NAL units, each with its start code.
pub fn split_nals(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            // Include a leading zero byte of a 4-byte start code.
            starts.push(if i > 0 && data[i - 1] == 0 { i - 1 } else { i });
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(data.len());
        nals.push(&data[s..end]);
    }
    nals
}

/// One row of hashes/decoded_hashes.tsv.
pub struct Expected {
    pub path: String,
    pub frames: usize,
    pub ffmpeg_sha1: String,
    pub openh264_sha1: String,
    pub status: String,
}

pub fn expected_hashes(dir: &std::path::Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(dir.join("hashes/decoded_hashes.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (f.len() >= 9).then(|| Expected {
                path: f[0].to_string(),
                frames: f[2].parse().unwrap_or(0),
                ffmpeg_sha1: f[4].to_string(),
                openh264_sha1: f[7].to_string(),
                status: f[8].to_string(),
            })
        })
        .collect()
}
