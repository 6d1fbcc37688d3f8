//! Control events (`wit/stage.wit`, `control`): keyframe requests and new
//! target bitrates from the host, kept here free of the component
//! interface so tests can drive them natively.
//!
//! - `request-keyframe`: the next picture encoded is an IDR picture (with
//!   SPS and PPS), and the `gop` count restarts there. The request holds
//!   until an IDR picture actually comes out: a picture rate control skips
//!   does not use it up.
//! - `target-bitrate(n)`: OpenH264's target changes for the pictures that
//!   follow, without a new sequence; `n` is clamped to what the `bitrate`
//!   parameter allows (10k to 100M) and to `max-bitrate` when that is set.
//!   The new target also holds for an encoder made later for a new
//!   picture size. With `rc=off` it is kept but has no effect.

use crate::config::EncodeConfig;
use crate::encoder::Encoded;

/// Lowest and highest target bitrate, as for the `bitrate` parameter.
pub const BITRATE_RANGE: std::ops::RangeInclusive<u32> = 10_000..=100_000_000;

/// A keyframe request waiting for its IDR picture.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KeyframeRequest {
    pending: bool,
}

impl KeyframeRequest {
    /// `request-keyframe` arrived.
    pub fn request(&mut self) {
        self.pending = true;
    }

    /// Whether the next picture must be an IDR picture: `wanted` for the
    /// frame's own reasons (`follow-keyframes`), or requested.
    pub fn force(&self, wanted: bool) -> bool {
        wanted || self.pending
    }

    /// A picture was encoded: an IDR picture fulfils the request.
    pub fn encoded(&mut self, result: &Encoded) {
        if let Encoded::AccessUnit { keyframe: true, .. } = result {
            self.pending = false;
        }
    }
}

/// The target bitrate `requested` by a `target-bitrate` event, within what
/// the stage's settings allow.
pub fn target_bitrate(config: &EncodeConfig, requested: u32) -> u32 {
    let mut bitrate = requested.clamp(*BITRATE_RANGE.start(), *BITRATE_RANGE.end());
    if config.max_bitrate != 0 {
        bitrate = bitrate.min(config.max_bitrate);
    }
    bitrate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> EncodeConfig {
        EncodeConfig::from_params(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn a_request_holds_until_an_idr_picture_comes_out() {
        let mut request = KeyframeRequest::default();
        assert!(!request.force(false) && request.force(true));
        request.request();
        assert!(request.force(false));
        request.encoded(&Encoded::Skipped);
        assert!(request.force(false));
        request.encoded(&Encoded::AccessUnit {
            data: vec![1],
            keyframe: false,
        });
        assert!(request.force(false));
        request.encoded(&Encoded::AccessUnit {
            data: vec![1],
            keyframe: true,
        });
        assert!(!request.force(false));
    }

    #[test]
    fn targets_are_clamped_to_the_settings() {
        let plain = config(&[]);
        assert_eq!(target_bitrate(&plain, 500_000), 500_000);
        assert_eq!(target_bitrate(&plain, 1), 10_000);
        assert_eq!(target_bitrate(&plain, u32::MAX), 100_000_000);
        let capped = config(&[("bitrate", "1M"), ("max-bitrate", "3M")]);
        assert_eq!(target_bitrate(&capped, 2_000_000), 2_000_000);
        assert_eq!(target_bitrate(&capped, 5_000_000), 3_000_000);
    }
}
