//! The parameters of `redact` and their checked, typed form.

use framechain_stage::color::YCbCr;
use framechain_stage::spec::{ParamSpecExt, choice, param};
use framechain_stage::{ParamKind, ParamSpec, Params, Rect, StageError};

pub const STAGE_NAME: &str = "redact";

/// How an area is hidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Paint it one colour. Nothing of the original remains.
    Fill { color: YCbCr },
    /// Replace blocks by their mean.
    Pixelate { block: u32 },
    /// Blur with about `radius` pixels of spread.
    Blur { radius: u32 },
}

/// Which of the regions a frame carries are redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelFilter {
    /// Every region (`labels=*`).
    All,
    /// No region; only `rect` areas (`labels=none`).
    Ignore,
    /// Regions with one of these labels.
    Only(Vec<String>),
}

impl LabelFilter {
    pub fn accepts(&self, label: &str) -> bool {
        match self {
            LabelFilter::All => true,
            LabelFilter::Ignore => false,
            LabelFilter::Only(labels) => labels.iter().any(|l| l == label),
        }
    }
}

/// What a `redact` processor was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedactConfig {
    /// Fixed areas, in pixels, redacted in every frame.
    pub rects: Vec<Rect>,
    pub labels: LabelFilter,
    pub mode: Mode,
}

pub fn param_specs() -> Vec<ParamSpec> {
    vec![
        param(
            "rect",
            ParamKind::RectList,
            "Fixed areas to hide in every frame, x,y,width,height in pixels, several separated by ';' (e.g. a policy area over burnt-in patient text).",
        ),
        param(
            "labels",
            ParamKind::Text,
            "Region labels to hide, comma-separated (e.g. face,phi-text); * hides every region the frame carries, none ignores regions.",
        )
        .with_default("*"),
        choice(
            "mode",
            &["fill", "pixelate", "blur"],
            "fill",
            "How to hide: fill paints the area (use it for PHI text: nothing remains); pixelate keeps only block averages; blur can be partly reversible and is not for PHI text.",
        ),
        param(
            "color",
            ParamKind::Color,
            "Colour for mode=fill: black, white, gray or #rrggbb.",
        )
        .with_default("black"),
        param(
            "block",
            ParamKind::Integer,
            "Block size in pixels for mode=pixelate, 2 to 1024.",
        )
        .with_default("16"),
        param(
            "radius",
            ParamKind::Integer,
            "Blur radius in pixels for mode=blur, 1 to 1024 (about the spread of a Gaussian).",
        )
        .with_default("16"),
    ]
}

impl RedactConfig {
    pub fn from_params(list: Vec<(String, String)>) -> Result<RedactConfig, StageError> {
        let params = Params::parse(STAGE_NAME, &param_specs(), list)?;
        let rects = params.rect_list("rect")?;
        let labels = parse_labels(params.text("labels")?)
            .map_err(|problem| params.error("labels", &problem))?;
        // Every mode's parameters are checked, even unused ones, so a typo
        // in `block` is reported while the launch line is being written.
        let color = params.color("color")?;
        let block = params.integer("block", 2..=1024)? as u32;
        let radius = params.integer("radius", 1..=1024)? as u32;
        let mode = match params.choice("mode")? {
            "pixelate" => Mode::Pixelate { block },
            "blur" => Mode::Blur { radius },
            _ => Mode::Fill { color },
        };
        if rects.is_empty() && labels == LabelFilter::Ignore {
            return Err(StageError::BadParameter(format!(
                "{STAGE_NAME}: nothing would be hidden: give rect, or labels other than none"
            )));
        }
        Ok(RedactConfig {
            rects,
            labels,
            mode,
        })
    }
}

fn parse_labels(text: &str) -> Result<LabelFilter, String> {
    match text.trim() {
        "*" => Ok(LabelFilter::All),
        "none" => Ok(LabelFilter::Ignore),
        list => {
            let labels: Vec<String> = list.split(',').map(|l| l.trim().to_owned()).collect();
            if labels.iter().any(|l| l.is_empty()) {
                return Err(format!(
                    "expected *, none or comma-separated labels such as face,phi-text, got \"{text}\""
                ));
            }
            Ok(LabelFilter::Only(labels))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<RedactConfig, StageError> {
        RedactConfig::from_params(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn bad_parameter(result: Result<RedactConfig, StageError>) -> String {
        match result {
            Err(StageError::BadParameter(message)) => message,
            other => panic!("expected BadParameter, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_every_region_black() {
        let config = config(&[]).unwrap();
        assert_eq!(
            config,
            RedactConfig {
                rects: vec![],
                labels: LabelFilter::All,
                mode: Mode::Fill {
                    color: YCbCr {
                        y: 16,
                        u: 128,
                        v: 128
                    }
                },
            }
        );
    }

    #[test]
    fn rects_labels_and_modes_are_read() {
        let config = config(&[
            ("rect", "100,100,400,200;0,0,10,10"),
            ("labels", "face, phi-text"),
            ("mode", "pixelate"),
            ("block", "8"),
        ])
        .unwrap();
        assert_eq!(config.rects.len(), 2);
        assert_eq!(
            config.labels,
            LabelFilter::Only(vec!["face".to_owned(), "phi-text".to_owned()])
        );
        assert_eq!(config.mode, Mode::Pixelate { block: 8 });
        assert!(config.labels.accepts("face"));
        assert!(!config.labels.accepts("Face"));
    }

    #[test]
    fn fill_colour_is_converted_to_ycbcr() {
        let config = config(&[("color", "white")]).unwrap();
        assert_eq!(
            config.mode,
            Mode::Fill {
                color: YCbCr {
                    y: 235,
                    u: 128,
                    v: 128
                }
            }
        );
    }

    #[test]
    fn doing_nothing_is_refused() {
        assert_eq!(
            bad_parameter(config(&[("labels", "none")])),
            "redact: nothing would be hidden: give rect, or labels other than none"
        );
        assert!(config(&[("labels", "none"), ("rect", "0,0,2,2")]).is_ok());
    }

    #[test]
    fn bad_values_name_the_parameter() {
        assert_eq!(
            bad_parameter(config(&[("labels", "face,,phi")])),
            "redact: labels: expected *, none or comma-separated labels such as face,phi-text, got \"face,,phi\""
        );
        assert_eq!(
            bad_parameter(config(&[("block", "1"), ("mode", "pixelate")])),
            "redact: block: must be between 2 and 1024, got 1"
        );
        assert_eq!(
            bad_parameter(config(&[("mode", "smudge")])),
            "redact: mode: expected one of fill, pixelate, blur, got \"smudge\""
        );
        assert!(
            bad_parameter(config(&[("rect", "1,2,3")]))
                .starts_with("redact: rect: rectangle 1: expected x,y,width,height")
        );
    }

    #[test]
    fn help_steers_phi_text_to_fill() {
        let specs = param_specs();
        let mode = specs.iter().find(|s| s.name == "mode").unwrap();
        assert!(mode.help.contains("use it for PHI text"));
        assert!(mode.help.contains("partly reversible"));
    }
}
