//! Short constructors for the [`ParamSpec`]s a stage lists in its
//! description, so a parameter table reads as one line per parameter:
//!
//! ```
//! use framechain_stage::spec::{choice, param, ParamSpecExt};
//! use framechain_stage::ParamKind;
//!
//! let specs = vec![
//!     param("width", ParamKind::Integer, "Output width in pixels."),
//!     choice("method", &["bilinear", "area"], "bilinear", "Resampling filter."),
//!     param("pad-color", ParamKind::Color, "Colour of the borders.").with_default("black"),
//! ];
//! assert_eq!(specs[1].default.as_deref(), Some("bilinear"));
//! ```

use crate::{ParamKind, ParamSpec};

/// An optional parameter without a default.
pub fn param(name: &str, kind: ParamKind, help: &str) -> ParamSpec {
    ParamSpec {
        name: name.to_owned(),
        kind,
        choices: Vec::new(),
        default: None,
        required: false,
        help: help.to_owned(),
    }
}

/// A `choice` parameter with its accepted values and default.
pub fn choice(name: &str, choices: &[&str], default: &str, help: &str) -> ParamSpec {
    ParamSpec {
        choices: choices.iter().map(|c| (*c).to_owned()).collect(),
        ..param(name, ParamKind::Choice, help).with_default(default)
    }
}

/// Builder-style tweaks for a [`ParamSpec`].
pub trait ParamSpecExt {
    /// Sets the value used when the parameter is not given.
    fn with_default(self, value: &str) -> Self;
    /// Marks the parameter as one that must be given.
    fn required(self) -> Self;
}

impl ParamSpecExt for ParamSpec {
    fn with_default(self, value: &str) -> Self {
        ParamSpec {
            default: Some(value.to_owned()),
            ..self
        }
    }

    fn required(self) -> Self {
        ParamSpec {
            required: true,
            ..self
        }
    }
}
