//! Checking and reading the parameters a processor is created with.
//!
//! [`Params::parse`] compares the `name=value` list with the stage's
//! [`ParamSpec`]s: it rejects unknown names (listing the known ones), values
//! that do not read as their kind, repeated names and missing required
//! parameters, and fills in defaults. The typed getters then read values; a
//! value out of the stage's range becomes [`StageError::BadParameter`] with
//! a message such as
//!
//! ```text
//! scale: width: expected a whole number, got "abc"
//! ```
//!
//! Every message starts with the stage and parameter name, so it can be
//! shown as it is to the person who wrote the launch line.

use std::ops::RangeInclusive;

use crate::color::YCbCr;
use crate::{ParamKind, ParamSpec, Rect, StageError, values};

/// A stage's parameters, checked against its specs, with defaults filled in.
#[derive(Clone, Debug)]
pub struct Params {
    stage: String,
    specs: Vec<ParamSpec>,
    /// Values given or defaulted, one per parameter name.
    values: Vec<(String, String)>,
    /// Names of the parameters that were given explicitly.
    given: Vec<String>,
}

impl Params {
    /// Checks `list` against `specs` for the stage called `stage_name`.
    pub fn parse(
        stage_name: &str,
        specs: &[ParamSpec],
        list: Vec<(String, String)>,
    ) -> Result<Params, StageError> {
        let mut params = Params {
            stage: stage_name.to_owned(),
            specs: specs.to_vec(),
            values: Vec::with_capacity(specs.len()),
            given: Vec::with_capacity(list.len()),
        };
        for (name, value) in list {
            let spec = params.spec(&name).ok_or_else(|| params.unknown(&name))?;
            if params.given.contains(&name) {
                return Err(params.error(&name, "given more than once"));
            }
            check_kind(spec, &value).map_err(|problem| params.error(&name, &problem))?;
            params.given.push(name.clone());
            params.values.push((name, value));
        }
        for spec in specs {
            if params.given.contains(&spec.name) {
                continue;
            }
            match &spec.default {
                Some(default) => {
                    // A default that does not read as its kind is a bug in the
                    // stage; say so rather than blaming the person.
                    check_kind(spec, default).map_err(|problem| {
                        StageError::Internal(format!(
                            "{}: {}: default \"{default}\" is invalid: {problem}",
                            params.stage, spec.name
                        ))
                    })?;
                    params.values.push((spec.name.clone(), default.to_owned()));
                }
                None if spec.required => {
                    return Err(params.error(&spec.name, "is required but was not given"));
                }
                None => {}
            }
        }
        Ok(params)
    }

    /// The stage name the messages start with.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// True when the parameter was given, as opposed to defaulted or unset.
    pub fn is_given(&self, name: &str) -> bool {
        self.given.iter().any(|g| g == name)
    }

    /// The raw text of a parameter, given or defaulted.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A [`StageError::BadParameter`] about one parameter, for checks only
    /// the stage can make (two parameters that do not fit together).
    pub fn error(&self, name: &str, problem: &str) -> StageError {
        StageError::BadParameter(format!("{}: {name}: {problem}", self.stage))
    }

    /// An `integer` parameter (given, or its default), which must lie in
    /// `range`; an error names the parameter and says what was wrong, as
    /// does one for a parameter with neither a value nor a default.
    pub fn integer(&self, name: &str, range: RangeInclusive<i64>) -> Result<i64, StageError> {
        self.required(name, self.optional_integer(name, range))
    }

    /// An `integer` parameter, `None` when it is not set and has no
    /// default (for parameters whose absence means something).
    pub fn optional_integer(
        &self,
        name: &str,
        range: RangeInclusive<i64>,
    ) -> Result<Option<i64>, StageError> {
        self.read(name, |text| values::integer(text, &range))
    }

    /// A `number` parameter (given, or its default), which must lie in
    /// `range`.
    pub fn number(&self, name: &str, range: RangeInclusive<f64>) -> Result<f64, StageError> {
        self.required(name, self.optional_number(name, range))
    }

    /// A `number` parameter, `None` when it is not set and has no default.
    pub fn optional_number(
        &self,
        name: &str,
        range: RangeInclusive<f64>,
    ) -> Result<Option<f64>, StageError> {
        self.read(name, |text| values::number(text, &range))
    }

    /// A `flag` parameter: `true` or `false` (given, or its default).
    pub fn flag(&self, name: &str) -> Result<bool, StageError> {
        self.required(name, self.read(name, values::flag))
    }

    /// The chosen value of a `choice` parameter, one of its spec's choices.
    pub fn choice(&self, name: &str) -> Result<&str, StageError> {
        let choices = &self.declared(name)?.choices;
        self.required(name, self.read(name, |text| values::choice(text, choices)))
    }

    /// A `rect` parameter, `x,y,width,height` in pixels (given, or its
    /// default).
    pub fn rect(&self, name: &str) -> Result<Rect, StageError> {
        self.required(name, self.optional_rect(name))
    }

    /// A `rect` parameter, `None` when it is not set and has no default.
    pub fn optional_rect(&self, name: &str) -> Result<Option<Rect>, StageError> {
        self.read(name, values::rect)
    }

    /// The rectangles of a `rect-list` parameter; empty when it is not set.
    pub fn rect_list(&self, name: &str) -> Result<Vec<Rect>, StageError> {
        Ok(self.read(name, values::rect_list)?.unwrap_or_default())
    }

    /// A `color` parameter as BT.601 limited-range Y'CbCr samples.
    pub fn color(&self, name: &str) -> Result<YCbCr, StageError> {
        self.required(name, self.read(name, values::color))
    }

    /// A `bitrate` parameter in bits per second.
    pub fn bitrate(&self, name: &str) -> Result<u64, StageError> {
        self.required(name, self.optional_bitrate(name))
    }

    /// A `bitrate` parameter in bits per second, `None` when it is not set
    /// and has no default.
    pub fn optional_bitrate(&self, name: &str) -> Result<Option<u64>, StageError> {
        self.read(name, values::bitrate)
    }

    /// A picture size, `WIDTHxHEIGHT` (e.g. `1920x1080`), each side from 1
    /// to `max_side`, from a `text` parameter; `None` when it is not set
    /// and has no default.
    pub fn optional_size(
        &self,
        name: &str,
        max_side: u32,
    ) -> Result<Option<(u32, u32)>, StageError> {
        let Some(text) = self.optional_text(name)? else {
            return Ok(None);
        };
        let side = |text: &str| {
            text.trim()
                .parse::<u32>()
                .ok()
                .filter(|side| (1..=max_side).contains(side))
        };
        match text.split_once(['x', 'X']) {
            Some((width, height)) => match (side(width), side(height)) {
                (Some(width), Some(height)) => Ok(Some((width, height))),
                _ => Err(self.error(
                    name,
                    &format!("each side must be 1 to {max_side} pixels, got \"{text}\""),
                )),
            },
            None => Err(self.error(
                name,
                &format!("expected WIDTHxHEIGHT (e.g. 1920x1080), got \"{text}\""),
            )),
        }
    }

    /// A `text` parameter as given (given, or its default).
    pub fn text(&self, name: &str) -> Result<&str, StageError> {
        self.required(name, self.optional_text(name))
    }

    /// A `text` parameter, `None` when it is not set and has no default.
    pub fn optional_text(&self, name: &str) -> Result<Option<&str>, StageError> {
        self.declared(name)?;
        Ok(self.raw(name))
    }

    fn spec(&self, name: &str) -> Option<&ParamSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// The spec of a parameter the stage reads; reading an undeclared one is
    /// a bug in the stage, not in the launch line.
    fn declared(&self, name: &str) -> Result<&ParamSpec, StageError> {
        self.spec(name).ok_or_else(|| {
            StageError::Internal(format!(
                "{}: reads parameter \"{name}\" that its description does not list",
                self.stage
            ))
        })
    }

    fn read<'a, T>(
        &'a self,
        name: &str,
        parse: impl FnOnce(&'a str) -> Result<T, String>,
    ) -> Result<Option<T>, StageError> {
        self.declared(name)?;
        self.raw(name)
            .map(|text| parse(text).map_err(|problem| self.error(name, &problem)))
            .transpose()
    }

    fn required<T>(
        &self,
        name: &str,
        value: Result<Option<T>, StageError>,
    ) -> Result<T, StageError> {
        value?.ok_or_else(|| self.error(name, "no value given and no default"))
    }

    fn unknown(&self, name: &str) -> StageError {
        let known: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
        let known = if known.is_empty() {
            "it takes no parameters".to_owned()
        } else {
            format!("known parameters: {}", known.join(", "))
        };
        StageError::BadParameter(format!(
            "{}: unknown parameter \"{name}\"; {known}",
            self.stage
        ))
    }
}

/// Whether `text` reads as a value of the spec's kind (ranges are the
/// getters' business, they depend on the stage).
fn check_kind(spec: &ParamSpec, text: &str) -> Result<(), String> {
    match spec.kind {
        ParamKind::Integer => values::integer(text, &(i64::MIN..=i64::MAX)).map(drop),
        ParamKind::Number => values::number(text, &(f64::MIN..=f64::MAX)).map(drop),
        ParamKind::Flag => values::flag(text).map(drop),
        ParamKind::Choice => values::choice(text, &spec.choices).map(drop),
        ParamKind::Rect => values::rect(text).map(drop),
        ParamKind::RectList => values::rect_list(text).map(drop),
        ParamKind::Color => values::color(text).map(drop),
        ParamKind::Bitrate => values::bitrate(text).map(drop),
        ParamKind::Text => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ParamSpecExt, choice, param};

    fn specs() -> Vec<ParamSpec> {
        vec![
            param("width", ParamKind::Integer, "Output width."),
            param("height", ParamKind::Integer, "Output height.").with_default("720"),
            choice("method", &["bilinear", "area"], "bilinear", "Filter."),
            param("keep-aspect", ParamKind::Flag, "Pad.").with_default("false"),
            param("pad-color", ParamKind::Color, "Pad colour.").with_default("black"),
            param("rect", ParamKind::RectList, "Areas."),
            param("area", ParamKind::Rect, "One area."),
            param("bitrate", ParamKind::Bitrate, "Rate.").with_default("2M"),
            param("gain", ParamKind::Number, "Gain.").with_default("1.5"),
            param("labels", ParamKind::Text, "Labels.").with_default("*"),
        ]
    }

    fn list(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<Params, StageError> {
        Params::parse("scale", &specs(), list(pairs))
    }

    fn bad_parameter(result: Result<impl std::fmt::Debug, StageError>) -> String {
        match result {
            Err(StageError::BadParameter(message)) => message,
            other => panic!("expected BadParameter, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_what_is_not_given() {
        let params = parse(&[("width", "1280")]).unwrap();
        assert_eq!(params.integer("width", 1..=16384), Ok(1280));
        assert_eq!(params.integer("height", 1..=16384), Ok(720));
        assert_eq!(params.choice("method"), Ok("bilinear"));
        assert_eq!(params.flag("keep-aspect"), Ok(false));
        assert_eq!(params.color("pad-color").map(|c| c.y), Ok(16));
        assert_eq!(params.bitrate("bitrate"), Ok(2_000_000));
        assert_eq!(params.number("gain", 0.0..=2.0), Ok(1.5));
        assert_eq!(params.text("labels"), Ok("*"));
        assert!(params.is_given("width"));
        assert!(!params.is_given("height"));
    }

    #[test]
    fn unset_optional_parameters_read_as_none() {
        let params = parse(&[]).unwrap();
        assert_eq!(params.optional_integer("width", 1..=16384), Ok(None));
        assert_eq!(params.optional_rect("area"), Ok(None));
        assert_eq!(params.rect_list("rect"), Ok(vec![]));
        assert_eq!(
            bad_parameter(params.integer("width", 1..=16384)),
            "scale: width: no value given and no default"
        );
    }

    #[test]
    fn unknown_parameters_are_rejected_with_the_known_ones() {
        assert_eq!(
            bad_parameter(parse(&[("witdh", "1280")])),
            "scale: unknown parameter \"witdh\"; known parameters: width, height, method, \
             keep-aspect, pad-color, rect, area, bitrate, gain, labels"
        );
        assert_eq!(
            bad_parameter(Params::parse("test-packets", &[], list(&[("x", "1")]))),
            "test-packets: unknown parameter \"x\"; it takes no parameters"
        );
    }

    #[test]
    fn values_of_the_wrong_kind_are_rejected_at_parse() {
        assert_eq!(
            bad_parameter(parse(&[("width", "abc")])),
            "scale: width: expected a whole number, got \"abc\""
        );
        assert_eq!(
            bad_parameter(parse(&[("method", "bicubic")])),
            "scale: method: expected one of bilinear, area, got \"bicubic\""
        );
        assert_eq!(
            bad_parameter(parse(&[("keep-aspect", "1")])),
            "scale: keep-aspect: expected true or false, got \"1\""
        );
        assert!(bad_parameter(parse(&[("pad-color", "#12")])).starts_with("scale: pad-color: "));
        assert!(
            bad_parameter(parse(&[("rect", "1,2,3,4;5")]))
                .starts_with("scale: rect: rectangle 2: ")
        );
        assert!(bad_parameter(parse(&[("bitrate", "fast")])).starts_with("scale: bitrate: "));
    }

    #[test]
    fn ranges_are_checked_by_the_getters() {
        let params = parse(&[("width", "0")]).unwrap();
        assert_eq!(
            bad_parameter(params.integer("width", 1..=16384)),
            "scale: width: must be between 1 and 16384, got 0"
        );
    }

    #[test]
    fn repeated_parameters_are_rejected() {
        assert_eq!(
            bad_parameter(parse(&[("width", "10"), ("width", "20")])),
            "scale: width: given more than once"
        );
    }

    #[test]
    fn required_parameters_must_be_given() {
        let specs = [param("rect", ParamKind::Rect, "Area.").required()];
        assert_eq!(
            bad_parameter(Params::parse("crop", &specs, vec![])),
            "crop: rect: is required but was not given"
        );
        let params = Params::parse("crop", &specs, list(&[("rect", "0,0,2,2")])).unwrap();
        assert_eq!(params.rect("rect").map(|r| r.width), Ok(2));
    }

    #[test]
    fn reading_an_undeclared_parameter_is_an_internal_error() {
        let params = parse(&[]).unwrap();
        assert!(matches!(
            params.integer("depth", 1..=2),
            Err(StageError::Internal(message)) if message.contains("\"depth\"")
        ));
    }

    #[test]
    fn an_invalid_default_is_blamed_on_the_stage() {
        let specs = [param("width", ParamKind::Integer, "Width.").with_default("wide")];
        assert!(matches!(
            Params::parse("scale", &specs, vec![]),
            Err(StageError::Internal(message)) if message.contains("default \"wide\"")
        ));
    }
}
