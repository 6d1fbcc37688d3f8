//! The description of a chain before anything is loaded: which stages, in
//! which order, with which parameters. Written either as a launch line
//! (`redact mode=fill ! scale width=1280`) or as a YAML pipeline file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// One stage of a chain: a built-in name or a path, and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageSpec {
    pub stage: String,
    pub params: Vec<(String, String)>,
}

/// An ordered chain of stages.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChainSpec {
    /// A name for logs and metrics (the pipeline file's `name`).
    pub name: Option<String>,
    pub stages: Vec<StageSpec>,
}

impl ChainSpec {
    /// Parses a launch line: stages separated by `!`, each a stage name or
    /// path followed by `key=value` parameters.
    pub fn parse_launch(line: &str) -> Result<ChainSpec> {
        let mut stages = Vec::new();
        for (index, part) in line.split('!').enumerate() {
            let mut words = part.split_whitespace();
            let Some(stage) = words.next() else {
                return Err(Error::InvalidChain(format!(
                    "stage {} is empty (two `!` in a row, or one at an end?)",
                    index + 1
                )));
            };
            if stage.contains('=') {
                return Err(Error::InvalidChain(format!(
                    "stage {} starts with the parameter \"{stage}\"; write the stage name first",
                    index + 1
                )));
            }
            let mut params: Vec<(String, String)> = Vec::new();
            for word in words {
                let Some((key, value)) = word.split_once('=') else {
                    return Err(Error::InvalidChain(format!(
                        "{stage}: expected key=value, got \"{word}\""
                    )));
                };
                push_param(stage, &mut params, key, value.to_owned())?;
            }
            stages.push(StageSpec {
                stage: stage.to_owned(),
                params,
            });
        }
        Ok(ChainSpec { name: None, stages })
    }

    /// Reads a YAML pipeline file. Stage paths in it are relative to the
    /// file's folder.
    pub fn read_pipeline_file(path: &Path) -> Result<ChainSpec> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::InvalidChain(format!("cannot read {}: {error}", path.display()))
        })?;
        let mut chain = ChainSpec::parse_pipeline_yaml(&text)
            .map_err(|error| Error::InvalidChain(format!("{}: {error}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for stage in &mut chain.stages {
            if stage.stage.contains('/') && Path::new(&stage.stage).is_relative() {
                stage.stage = base.join(&stage.stage).to_string_lossy().into_owned();
            }
        }
        Ok(chain)
    }

    /// Parses the YAML text of a pipeline file (see `docs/pipeline-file.md`).
    pub fn parse_pipeline_yaml(text: &str) -> std::result::Result<ChainSpec, String> {
        let file: PipelineFile =
            serde_saphyr::from_str(text).map_err(|error| one_line(&error.to_string()))?;
        if file.version != 1 {
            return Err(format!(
                "unsupported pipeline file version {} (this framechain reads version 1)",
                file.version
            ));
        }
        if file.stages.is_empty() {
            return Err("the pipeline has no stages".to_owned());
        }
        let mut stages = Vec::new();
        for entry in file.stages {
            let mut params = Vec::new();
            for (key, value) in entry.params {
                push_param(&entry.stage, &mut params, &key, value.into_text())
                    .map_err(|error| error.to_string())?;
            }
            stages.push(StageSpec {
                stage: entry.stage,
                params,
            });
        }
        Ok(ChainSpec {
            name: file.name,
            stages,
        })
    }

    /// The chain as a launch line (for logs and `--help` examples).
    pub fn to_launch(&self) -> String {
        let parts: Vec<String> = self
            .stages
            .iter()
            .map(|stage| {
                let mut words = vec![stage.stage.clone()];
                words.extend(
                    stage
                        .params
                        .iter()
                        .map(|(key, value)| format!("{key}={value}")),
                );
                words.join(" ")
            })
            .collect();
        parts.join(" ! ")
    }
}

fn push_param(
    stage: &str,
    params: &mut Vec<(String, String)>,
    key: &str,
    value: String,
) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidChain(format!(
            "{stage}: a parameter has an empty name"
        )));
    }
    if params.iter().any(|(existing, _)| existing == key) {
        return Err(Error::InvalidChain(format!(
            "{stage}: parameter \"{key}\" is given twice"
        )));
    }
    params.push((key.to_owned(), value));
    Ok(())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The on-disk form of a pipeline file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    /// Format version; only 1 exists.
    version: u32,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // free text for people; kept so files can say what they are for
    description: Option<String>,
    stages: Vec<PipelineStage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineStage {
    stage: String,
    #[serde(default)]
    params: BTreeMap<String, ParamValue>,
}

/// YAML lets operators write `width: 1280` or `mode: fill`; stages take text.
#[derive(Deserialize)]
#[serde(untagged)]
enum ParamValue {
    Flag(bool),
    Integer(i64),
    Number(f64),
    Text(String),
}

impl ParamValue {
    fn into_text(self) -> String {
        match self {
            ParamValue::Flag(value) => value.to_string(),
            ParamValue::Integer(value) => value.to_string(),
            ParamValue::Number(value) => value.to_string(),
            ParamValue::Text(value) => value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn launch_line_splits_stages_and_params() {
        let chain = ChainSpec::parse_launch(
            "redact rect=100,100,400,200 mode=fill ! scale width=1280 height=720",
        )
        .unwrap();
        assert_eq!(chain.stages.len(), 2);
        assert_eq!(chain.stages[0].stage, "redact");
        assert_eq!(
            chain.stages[0].params,
            params(&[("rect", "100,100,400,200"), ("mode", "fill")])
        );
        assert_eq!(
            chain.stages[1].params,
            params(&[("width", "1280"), ("height", "720")])
        );
        assert_eq!(
            chain.to_launch(),
            "redact rect=100,100,400,200 mode=fill ! scale width=1280 height=720"
        );
    }

    #[test]
    fn launch_line_errors_are_specific() {
        let error = |line: &str| ChainSpec::parse_launch(line).unwrap_err().to_string();
        assert_eq!(
            error("scale ! ! redact"),
            "invalid chain: stage 2 is empty (two `!` in a row, or one at an end?)"
        );
        assert_eq!(
            error("scale width"),
            "invalid chain: scale: expected key=value, got \"width\""
        );
        assert_eq!(
            error("scale width=1 width=2"),
            "invalid chain: scale: parameter \"width\" is given twice"
        );
        assert!(error("width=5").contains("write the stage name first"));
    }

    #[test]
    fn pipeline_yaml_matches_the_launch_line() {
        let yaml = "version: 1\nname: demo\nstages:\n  - stage: redact\n    params:\n      rect: \"100,100,400,200\"\n      mode: fill\n  - stage: scale\n    params: {width: 1280, height: 720, keep-aspect: true}\n";
        let chain = ChainSpec::parse_pipeline_yaml(yaml).unwrap();
        assert_eq!(chain.name.as_deref(), Some("demo"));
        assert_eq!(
            chain.stages[0].params,
            params(&[("mode", "fill"), ("rect", "100,100,400,200")])
        );
        assert_eq!(
            chain.stages[1].params,
            params(&[
                ("height", "720"),
                ("keep-aspect", "true"),
                ("width", "1280")
            ])
        );
    }

    #[test]
    fn pipeline_yaml_rejects_unknown_keys_and_versions() {
        let unknown = ChainSpec::parse_pipeline_yaml("version: 1\nstagez: []\n").unwrap_err();
        assert!(unknown.contains("stagez"), "{unknown}");
        let version =
            ChainSpec::parse_pipeline_yaml("version: 2\nstages: [{stage: scale}]\n").unwrap_err();
        assert!(version.contains("version 2"), "{version}");
        assert!(
            ChainSpec::parse_pipeline_yaml("version: 1\nstages: []\n")
                .unwrap_err()
                .contains("no stages")
        );
        assert!(
            !ChainSpec::parse_pipeline_yaml("{{{{")
                .unwrap_err()
                .contains('\n')
        );
    }
}
