#![allow(dead_code)] // each test binary uses a different part

//! Helpers for the native decoder tests: the test streams, reference hashes,
//! and a deterministic random source for cutting packets.

use std::path::Path;

use framechain_decode_h264::config::DecodeConfig;
use framechain_decode_h264::decoder::{Batch, Decoder};
use framechain_decode_h264::timing::Lost;
use sha1_smol::Sha1;

/// `../shared/testdata/h264` next to the repository (the shared folder from
/// $FRAMECHAIN_TESTDATA when set, as for the host's tests). Missing test
/// data skips a test, except in CI where it is a failure.
pub use framechain_test_support::h264_testdata as testdata;

/// One row of hashes/decoded_hashes.tsv.
pub struct Expected {
    pub path: String,
    pub frames: usize,
    pub ffmpeg_sha1: String,
    pub openh264_sha1: String,
}

pub fn expected_hashes(dir: &Path) -> Vec<Expected> {
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
            })
        })
        .collect()
}

/// xorshift64*: reproducible packet sizes and damage.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Everything a stream decoded to.
#[derive(Default)]
pub struct Decoded {
    pub sha1: Sha1,
    pub frames: usize,
    pub sizes: Vec<(u32, u32)>,
    pub pts: Vec<i64>,
    pub keyframes: usize,
    pub lost: Vec<Lost>,
    /// keyframe-needed notices.
    pub keyframes_needed: usize,
}

impl Decoded {
    pub fn add(&mut self, batch: Batch) {
        for p in batch.pictures {
            self.sha1.update(&p.image.y);
            self.sha1.update(&p.image.u);
            self.sha1.update(&p.image.v);
            self.frames += 1;
            if self.sizes.last() != Some(&(p.image.width, p.image.height)) {
                self.sizes.push((p.image.width, p.image.height));
            }
            self.pts.push(p.timing.pts);
            self.keyframes += usize::from(p.timing.keyframe);
        }
        self.lost.extend(batch.lost);
        self.keyframes_needed += batch.keyframes_needed;
    }
}

/// Decodes `data` cut into packets of random sizes up to `max_packet`, with
/// no time stamps.
pub fn decode_in_pieces(data: &[u8], max_packet: u64, seed: u64, config: DecodeConfig) -> Decoded {
    let mut decoder = Decoder::new(config).unwrap();
    let mut rng = Rng(seed);
    let mut out = Decoded::default();
    let mut rest = data;
    while !rest.is_empty() {
        let n = (1 + rng.below(max_packet) as usize).min(rest.len());
        out.add(decoder.push(&rest[..n], -1).unwrap());
        rest = &rest[n..];
    }
    out.add(decoder.flush().unwrap());
    out
}

pub fn default_config() -> DecodeConfig {
    DecodeConfig::from_params(vec![]).unwrap()
}
