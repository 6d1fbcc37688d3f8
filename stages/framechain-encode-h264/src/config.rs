//! The parameters of `encode-h264` and their checked, typed form.

use framechain_openh264::log::Level;
use framechain_openh264::{Complexity, EncoderConfig, Profile, RateControl};
use framechain_stage::bindings::framechain::stage::native_h264 as native;
use framechain_stage::spec::{ParamSpecExt, choice, param};
use framechain_stage::{ParamKind, ParamSpec, Params, StageError};

pub const STAGE_NAME: &str = "encode-h264";

/// Where the encoding runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// OpenH264 compiled into this component, inside the sandbox.
    None,
    /// The host's native encoder (the `native-h264` import): faster, but
    /// it runs outside the sandbox, on pixels only.
    Native,
}

/// What an `encode-h264` processor was asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeConfig {
    pub bitrate: u32,
    /// 0: no cap.
    pub max_bitrate: u32,
    pub fps: f32,
    /// Frames from one IDR to the next; 0: only the first.
    pub gop: u32,
    pub rate_control: RateControl,
    pub qp: u8,
    pub profile: Profile,
    pub complexity: Complexity,
    pub low_latency: bool,
    /// Input frames flagged as keyframes become IDR pictures.
    pub follow_keyframes: bool,
    pub accel: Accel,
    /// The picture size expected (`expect-size`): the encoder is opened
    /// for it at create.
    pub expect_size: Option<(u32, u32)>,
}

pub fn param_specs() -> Vec<ParamSpec> {
    vec![
        param(
            "bitrate",
            ParamKind::Bitrate,
            "Target bitrate in bits per second, k and M allowed (e.g. 2000k), 10k to 100M.",
        )
        .with_default("2000k"),
        param(
            "max-bitrate",
            ParamKind::Bitrate,
            "Peak bitrate the rate control must not exceed (e.g. 3M); not set: no cap beyond the target.",
        ),
        param(
            "fps",
            ParamKind::Number,
            "Frame rate of the input, 1 to 60, used by rate control to share the bitrate between frames.",
        )
        .with_default("30"),
        param(
            "gop",
            ParamKind::Integer,
            "Frames from one keyframe (IDR picture) to the next, 1 to 100000; 0 makes only the first frame a keyframe.",
        )
        .with_default("60"),
        choice(
            "rc",
            &["bitrate", "quality", "buffer", "off"],
            "bitrate",
            "Rate control: bitrate holds the target bitrate; quality favours picture quality and treats the bitrate as a guide; buffer adapts quality to the encoder buffer only; off encodes every frame at the fixed qp.",
        ),
        param("qp", ParamKind::Integer, "Quantiser 0 (best) to 51 (smallest) for rc=off.").with_default("26"),
        choice(
            "profile",
            &["baseline", "main", "high"],
            "baseline",
            "H.264 profile: baseline (CAVLC, plays everywhere) or main/high (CABAC, about 10% fewer bits).",
        ),
        choice(
            "complexity",
            &["low", "medium", "high"],
            "low",
            "Encoder effort: low is fastest (real-time 1080p needs it), high gives the best quality per bit.",
        ),
        param(
            "low-latency",
            ParamKind::Flag,
            "true: rate control may skip a frame (listed as dropped) rather than overshoot the bitrate, keeping network queues short on live links; false: every frame is encoded. Frames are never held back either way.",
        )
        .with_default("false"),
        param(
            "follow-keyframes",
            ParamKind::Flag,
            "true: input frames flagged as keyframes (e.g. IDR pictures from decode-h264) are encoded as keyframes too.",
        )
        .with_default("false"),
        choice(
            "accel",
            &["none", "native"],
            "none",
            "none encodes inside the sandbox; native hands the frames to the host's native OpenH264 (with SIMD, several times faster), which runs outside the sandbox but only ever sees decoded pixels, never untrusted bytes. Fails if the host offers no native encoder.",
        ),
        param(
            "expect-size",
            ParamKind::Text,
            "The size of the pictures expected, WIDTHxHEIGHT (e.g. 1280x720, what a scale before it gives): the encoder is opened for it when the session starts, so the first picture does not pay for that (a fresh session's first 720p picture: about 10 ms less). Unset: opened at the first picture. Pictures of another size open a new encoder, as any change of size does.",
        ),
    ]
}

impl EncodeConfig {
    pub fn from_params(list: Vec<(String, String)>) -> Result<EncodeConfig, StageError> {
        let params = Params::parse(STAGE_NAME, &param_specs(), list)?;
        let bitrate = params.bitrate("bitrate")?;
        if !(10_000..=100_000_000).contains(&bitrate) {
            return Err(params.error(
                "bitrate",
                &format!("must be between 10k and 100M, got {bitrate}"),
            ));
        }
        let max_bitrate = params.optional_bitrate("max-bitrate")?.unwrap_or(0);
        if max_bitrate != 0 && !(bitrate..=200_000_000).contains(&max_bitrate) {
            return Err(params.error(
                "max-bitrate",
                &format!(
                    "must be at least bitrate ({bitrate}) and at most 200M, got {max_bitrate}"
                ),
            ));
        }
        let rate_control = match params.choice("rc")? {
            "quality" => RateControl::Quality,
            "buffer" => RateControl::Buffer,
            "off" => RateControl::Off,
            _ => RateControl::Bitrate,
        };
        let profile = match params.choice("profile")? {
            "main" => Profile::Main,
            "high" => Profile::High,
            _ => Profile::Baseline,
        };
        let complexity = match params.choice("complexity")? {
            "medium" => Complexity::Medium,
            "high" => Complexity::High,
            _ => Complexity::Low,
        };
        Ok(EncodeConfig {
            bitrate: bitrate as u32,
            max_bitrate: max_bitrate as u32,
            fps: params.number("fps", 1.0..=60.0)? as f32,
            gop: params.integer("gop", 0..=100_000)? as u32,
            rate_control,
            qp: params.integer("qp", 0..=51)? as u8,
            profile,
            complexity,
            low_latency: params.flag("low-latency")?,
            follow_keyframes: params.flag("follow-keyframes")?,
            accel: match params.choice("accel")? {
                "native" => Accel::Native,
                _ => Accel::None,
            },
            expect_size: params.optional_size("expect-size", 16384)?,
        })
    }

    /// OpenH264's settings for pictures of `width` x `height`.
    pub fn encoder_config(&self, width: u32, height: u32) -> EncoderConfig {
        EncoderConfig {
            width,
            height,
            fps: self.fps,
            bitrate: self.bitrate,
            max_bitrate: self.max_bitrate,
            rate_control: self.rate_control,
            qp: self.qp,
            min_qp: 0,
            max_qp: 51,
            intra_period: self.gop,
            complexity: self.complexity,
            profile: self.profile,
            frame_skip: self.frame_skip(),
            log_level: Level::Warning,
        }
    }

    /// The same settings for the host's native encoder.
    pub fn native_config(&self, width: u32, height: u32) -> native::EncoderConfig {
        native::EncoderConfig {
            width,
            height,
            fps: self.fps,
            bitrate: self.bitrate,
            max_bitrate: self.max_bitrate,
            rate_control: match self.rate_control {
                RateControl::Bitrate => native::RateControl::Bitrate,
                RateControl::Quality => native::RateControl::Quality,
                RateControl::Buffer => native::RateControl::Buffer,
                RateControl::Off => native::RateControl::Off,
            },
            qp: self.qp,
            intra_period: self.gop,
            profile: match self.profile {
                Profile::Baseline => native::Profile::Baseline,
                Profile::Main => native::Profile::Main,
                Profile::High => native::Profile::High,
            },
            complexity: match self.complexity {
                Complexity::Low => native::Complexity::Low,
                Complexity::Medium => native::Complexity::Medium,
                Complexity::High => native::Complexity::High,
            },
            frame_skip: self.frame_skip(),
        }
    }

    /// Rate control may skip pictures only on live links, and only when it
    /// controls the rate at all.
    fn frame_skip(&self) -> bool {
        self.low_latency && self.rate_control != RateControl::Off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = EncodeConfig::from_params(vec![]).unwrap();
        assert_eq!(c.bitrate, 2_000_000);
        assert_eq!(c.max_bitrate, 0);
        assert_eq!((c.fps, c.gop, c.qp), (30.0, 60, 26));
        assert_eq!(c.rate_control, RateControl::Bitrate);
        assert_eq!(
            (c.profile, c.complexity),
            (Profile::Baseline, Complexity::Low)
        );
        assert!(!c.low_latency && !c.follow_keyframes);
        assert_eq!(c.accel, Accel::None);
        assert!(!c.encoder_config(640, 480).frame_skip);
    }

    #[test]
    fn every_parameter_is_read() {
        let c = EncodeConfig::from_params(list(&[
            ("bitrate", "6M"),
            ("max-bitrate", "8M"),
            ("fps", "25"),
            ("gop", "0"),
            ("rc", "off"),
            ("qp", "30"),
            ("profile", "main"),
            ("complexity", "high"),
            ("low-latency", "true"),
            ("follow-keyframes", "true"),
            ("accel", "native"),
        ]))
        .unwrap();
        assert_eq!(
            (c.bitrate, c.max_bitrate, c.fps, c.gop, c.qp),
            (6_000_000, 8_000_000, 25.0, 0, 30)
        );
        assert_eq!(
            (c.rate_control, c.profile, c.complexity),
            (RateControl::Off, Profile::Main, Complexity::High)
        );
        assert!(c.low_latency && c.follow_keyframes);
        assert_eq!(c.accel, Accel::Native);
        let e = c.encoder_config(1920, 1080);
        assert_eq!((e.width, e.height, e.intra_period), (1920, 1080, 0));
        assert!(!e.frame_skip);
    }

    /// The variant's name, whichever type prints it (`RateControl::Off`, `Off`).
    fn variant(value: impl std::fmt::Debug) -> String {
        let text = format!("{value:?}");
        text.rsplit("::").next().unwrap_or_default().to_owned()
    }

    #[test]
    fn native_settings_match_the_in_wasm_ones() {
        for pairs in [
            &[][..],
            &[
                ("rc", "quality"),
                ("profile", "high"),
                ("complexity", "medium"),
            ],
            &[
                ("bitrate", "1500k"),
                ("max-bitrate", "3M"),
                ("low-latency", "true"),
            ],
            &[
                ("rc", "off"),
                ("qp", "40"),
                ("low-latency", "true"),
                ("gop", "0"),
                ("profile", "main"),
                ("complexity", "high"),
            ],
            &[("rc", "buffer")],
        ] {
            let c = EncodeConfig::from_params(list(pairs)).unwrap();
            let (wasm, host) = (c.encoder_config(1280, 720), c.native_config(1280, 720));
            assert_eq!((host.width, host.height), (wasm.width, wasm.height));
            assert_eq!(
                (host.fps, host.bitrate, host.max_bitrate),
                (wasm.fps, wasm.bitrate, wasm.max_bitrate)
            );
            assert_eq!(
                (host.qp, host.intra_period, host.frame_skip),
                (wasm.qp, wasm.intra_period, wasm.frame_skip)
            );
            assert_eq!(
                [
                    variant(host.rate_control),
                    variant(host.profile),
                    variant(host.complexity)
                ],
                [
                    variant(wasm.rate_control),
                    variant(wasm.profile),
                    variant(wasm.complexity)
                ],
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn bad_values_are_bad_parameters() {
        for pairs in [
            &[("bitrate", "5k")][..],
            &[("bitrate", "2000k"), ("max-bitrate", "1000k")],
            &[("fps", "120")],
            &[("gop", "-1")],
            &[("qp", "52")],
            &[("rc", "cbr")],
            &[("profile", "extended")],
            &[("keyint", "30")],
            &[("accel", "gpu")],
        ] {
            assert!(
                matches!(
                    EncodeConfig::from_params(list(pairs)),
                    Err(StageError::BadParameter(_))
                ),
                "{pairs:?}"
            );
        }
    }
}
