//! The parameters of `decode-h264` and their checked, typed form.

use framechain_stage::spec::{ParamSpecExt, choice, param};
use framechain_stage::{ParamKind, ParamSpec, Params, StageError};

pub const STAGE_NAME: &str = "decode-h264";

/// Ticks of the 90 kHz clock per second.
pub const CLOCK: f64 = 90_000.0;

/// How input packets are cut (`alignment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alignment {
    /// Anywhere: a NAL unit is complete when the next start code arrives.
    None,
    /// Every packet ends at a NAL unit boundary.
    Nal,
    /// Every packet holds exactly one whole access unit (from `parse-h264`,
    /// an RTP depacketizer or a demuxer): NAL-aligned, and each packet
    /// starts a new access unit.
    AccessUnit,
}

impl Alignment {
    /// Packets end at NAL unit boundaries: a packet's last unit is complete
    /// when the packet is.
    pub fn nal_aligned(self) -> bool {
        self != Alignment::None
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DecodeConfig {
    /// Duration of one frame in 90 kHz ticks.
    pub frame_duration: i64,
    pub conceal_errors: bool,
    pub alignment: Alignment,
    /// The largest picture decoded (`max-width`, `max-height`; `None`: no
    /// bound on that side): a sequence parameter set announcing a larger
    /// one is refused before anything is decoded.
    pub max_picture: (Option<u32>, Option<u32>),
    /// The picture size the stream is expected to have (`expect-size`):
    /// memory for its pictures is made ready at create.
    pub expect_size: Option<(u32, u32)>,
}

/// Bytes the decoder's first picture of `width` x `height` allocates in
/// its memory, about: OpenH264's picture buffers (reference pictures and
/// the one being decoded, padded) and the picture handed out. Measured
/// with `live coldstart` at 1080p (docs/performance.md, "Warm starts"):
/// 12 times an I420 picture leaves under 900 page faults to the first
/// picture (11 times: 1,600), and the session's linear memory stays what
/// it is without it.
pub fn first_picture_bytes((width, height): (u32, u32)) -> usize {
    let picture = width as usize * height as usize * 3 / 2;
    picture * 12
}

pub fn param_specs() -> Vec<ParamSpec> {
    vec![
        param(
            "fps",
            ParamKind::Number,
            "Frame rate, 1 to 1000: sets each frame's duration, and numbers the frames (0, 1/fps, 2/fps, ...) when the packets carry no pts.",
        )
        .with_default("30"),
        param(
            "error-concealment",
            ParamKind::Flag,
            "true: pictures with lost or damaged slices are repaired from earlier pictures and still output; false: they are dropped (listed with the reason).",
        )
        .with_default("true"),
        choice(
            "alignment",
            &["none", "nal", "access-unit"],
            "none",
            "How packets are cut: none = anywhere (a NAL unit is decoded once the next start code arrives, so a picture comes out one packet late); nal = every packet ends at a NAL unit boundary; access-unit = every packet holds exactly one whole access unit (from parse-h264, an RTP depacketizer or a demuxer). nal and access-unit decode each picture at once, in the push that brings it.",
        ),
        param(
            "max-width",
            ParamKind::Integer,
            "Widest picture decoded, 16 to 16384 (unset: no bound). A sequence parameter set announcing a larger picture is refused before decoding, and its pictures are dropped (listed with the reason). With max-height too, a picture may fit either way round. The host sets both from the pipeline's max-width and max-height (serve's --max-size) when this is the first stage.",
        ),
        param(
            "max-height",
            ParamKind::Integer,
            "Tallest picture decoded, 16 to 16384 (unset: no bound); see max-width.",
        ),
        param(
            "expect-size",
            ParamKind::Text,
            "The picture size the stream is expected to have, WIDTHxHEIGHT (e.g. 1920x1080; at most max-width by max-height): the memory its pictures need is made ready when the session starts, so the first picture does not pay for it (a fresh 1080p session's first picture: about 20 ms less). Unset: made at the first picture. A stream of another size decodes as well.",
        ),
    ]
}

impl DecodeConfig {
    pub fn from_params(list: Vec<(String, String)>) -> Result<DecodeConfig, StageError> {
        let params = Params::parse(STAGE_NAME, &param_specs(), list)?;
        let fps = params.number("fps", 1.0..=1000.0)?;
        let max_picture = (side(&params, "max-width")?, side(&params, "max-height")?);
        Ok(DecodeConfig {
            frame_duration: (CLOCK / fps).round() as i64,
            conceal_errors: params.flag("error-concealment")?,
            alignment: match params.choice("alignment")? {
                "nal" => Alignment::Nal,
                "access-unit" => Alignment::AccessUnit,
                _ => Alignment::None,
            },
            max_picture,
            expect_size: params
                .optional_size("expect-size", 16384)?
                .map(|size| bounded_size(size, max_picture)),
        })
    }
}

/// An expected size held to the picture bound (the host sets the bound
/// from the pipeline's): memory is never made ready for pictures the
/// decoder would refuse.
fn bounded_size(
    (width, height): (u32, u32),
    (max_w, max_h): (Option<u32>, Option<u32>),
) -> (u32, u32) {
    (
        max_w.map_or(width, |max| width.min(max)),
        max_h.map_or(height, |max| height.min(max)),
    )
}

/// One side of the picture bound.
fn side(params: &Params, name: &str) -> Result<Option<u32>, StageError> {
    Ok(params
        .optional_integer(name, 16..=16384)?
        .map(|pixels| pixels as u32))
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
        let c = DecodeConfig::from_params(vec![]).unwrap();
        assert_eq!(
            c,
            DecodeConfig {
                frame_duration: 3000,
                conceal_errors: true,
                alignment: Alignment::None,
                max_picture: (None, None),
                expect_size: None,
            }
        );
    }

    #[test]
    fn ntsc_rate_and_options() {
        let c = DecodeConfig::from_params(list(&[
            ("fps", "29.97"),
            ("error-concealment", "false"),
            ("alignment", "nal"),
        ]))
        .unwrap();
        assert_eq!(
            c,
            DecodeConfig {
                frame_duration: 3003,
                conceal_errors: false,
                alignment: Alignment::Nal,
                max_picture: (None, None),
                expect_size: None,
            }
        );
    }

    #[test]
    fn the_picture_bound() {
        let c = DecodeConfig::from_params(list(&[("max-width", "1920"), ("max-height", "1080")]))
            .unwrap();
        assert_eq!(c.max_picture, (Some(1920), Some(1080)));
    }

    #[test]
    fn access_unit_alignment() {
        let c = DecodeConfig::from_params(list(&[("alignment", "access-unit")])).unwrap();
        assert_eq!(c.alignment, Alignment::AccessUnit);
        assert!(c.alignment.nal_aligned() && Alignment::Nal.nal_aligned());
        assert!(!Alignment::None.nal_aligned());
    }

    #[test]
    fn bad_values_are_bad_parameters() {
        for pairs in [
            &[("fps", "0")][..],
            &[("fps", "fast")],
            &[("alignment", "au")],
            &[("threads", "2")],
            &[("max-width", "8")],
            &[("max-height", "99999")],
        ] {
            assert!(
                matches!(
                    DecodeConfig::from_params(list(pairs)),
                    Err(StageError::BadParameter(_))
                ),
                "{pairs:?}"
            );
        }
    }
}
