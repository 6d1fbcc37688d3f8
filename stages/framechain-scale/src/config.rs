//! The parameters of `scale` and their checked, typed form.

use framechain_stage::color::YCbCr;
use framechain_stage::spec::{ParamSpecExt, choice, param};
use framechain_stage::{ParamKind, ParamSpec, Params, StageError};

use crate::kernel::Method;

pub const STAGE_NAME: &str = "scale";

/// Largest side a frame may have (the contract's limit for `frame.create`).
pub const MAX_SIDE: u32 = 16384;

/// What a `scale` processor was asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleConfig {
    /// Requested output width; `None` derives it from the height.
    pub width: Option<u32>,
    /// Requested output height; `None` derives it from the width.
    pub height: Option<u32>,
    pub method: Method,
    /// Fit inside width x height and pad instead of stretching.
    pub keep_aspect: bool,
    pub pad_color: YCbCr,
    /// The input size expected (`expect-size`): prepared for at create.
    pub expect_size: Option<(u32, u32)>,
}

pub fn param_specs() -> Vec<ParamSpec> {
    vec![
        param(
            "width",
            ParamKind::Integer,
            "Output width in pixels, 1 to 16384; if omitted it follows from height and the input's aspect ratio (rounded to even).",
        ),
        param(
            "height",
            ParamKind::Integer,
            "Output height in pixels, 1 to 16384; if omitted it follows from width and the input's aspect ratio (rounded to even).",
        ),
        choice(
            "method",
            &["bilinear", "area"],
            "bilinear",
            "Resampling filter: bilinear (smooth, for any ratio) or area (exact averaging, best for large reductions).",
        ),
        param(
            "keep-aspect",
            ParamKind::Flag,
            "With both width and height: true fits the picture inside them and pads the rest with pad-color instead of stretching.",
        )
        .with_default("false"),
        param(
            "pad-color",
            ParamKind::Color,
            "Colour of the padding when keep-aspect is true: black, white, gray or #rrggbb.",
        )
        .with_default("black"),
        param(
            "expect-size",
            ParamKind::Text,
            "The size of the pictures expected in, WIDTHxHEIGHT (e.g. 1920x1080, what the decoder before it gives): the filter and the memory for them are made ready when the session starts, so the first picture does not pay for that. Unset: made at the first picture. Pictures of another size are scaled as well.",
        ),
    ]
}

impl ScaleConfig {
    pub fn from_params(list: Vec<(String, String)>) -> Result<ScaleConfig, StageError> {
        let params = Params::parse(STAGE_NAME, &param_specs(), list)?;
        let side = |name| {
            params
                .optional_integer(name, 1..=i64::from(MAX_SIDE))
                .map(|v| v.map(|v| v as u32))
        };
        let width = side("width")?;
        let height = side("height")?;
        if width.is_none() && height.is_none() {
            return Err(StageError::BadParameter(format!(
                "{STAGE_NAME}: give width, height or both (e.g. width=1280 height=720)"
            )));
        }
        let method = match params.choice("method")? {
            "area" => Method::Area,
            _ => Method::Bilinear,
        };
        Ok(ScaleConfig {
            width,
            height,
            method,
            keep_aspect: params.flag("keep-aspect")?,
            pad_color: params.color("pad-color")?,
            expect_size: params.optional_size("expect-size", MAX_SIDE)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ScaleConfig, StageError> {
        ScaleConfig::from_params(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn defaults_are_bilinear_stretching_with_black_padding() {
        let config = config(&[("width", "1280"), ("height", "720")]).unwrap();
        assert_eq!(
            config,
            ScaleConfig {
                width: Some(1280),
                height: Some(720),
                method: Method::Bilinear,
                keep_aspect: false,
                pad_color: YCbCr {
                    y: 16,
                    u: 128,
                    v: 128
                },
                expect_size: None,
            }
        );
    }

    #[test]
    fn a_size_is_required() {
        assert_eq!(
            config(&[("method", "area")]),
            Err(StageError::BadParameter(
                "scale: give width, height or both (e.g. width=1280 height=720)".to_owned()
            ))
        );
    }

    #[test]
    fn sides_are_range_checked() {
        assert_eq!(
            config(&[("width", "16385")]),
            Err(StageError::BadParameter(
                "scale: width: must be between 1 and 16384, got 16385".to_owned()
            ))
        );
        assert_eq!(
            config(&[("width", "abc")]),
            Err(StageError::BadParameter(
                "scale: width: expected a whole number, got \"abc\"".to_owned()
            ))
        );
        assert!(config(&[("height", "0")]).is_err());
    }

    #[test]
    fn an_expected_size_is_checked() {
        let expected = config(&[("width", "640"), ("expect-size", "1920x1080")]).unwrap();
        assert_eq!(expected.expect_size, Some((1920, 1080)));
        assert!(config(&[("width", "640"), ("expect-size", "1920")]).is_err());
        assert!(config(&[("width", "640"), ("expect-size", "16386x16")]).is_err());
    }

    #[test]
    fn every_spec_has_help() {
        assert!(param_specs().iter().all(|s| s.help.ends_with('.')));
    }
}
