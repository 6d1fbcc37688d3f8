//! The description of a chain before anything is loaded: which stages, in
//! which order, with which parameters. Written either as a launch line
//! (`redact mode=fill ! scale width=1280`) or as a YAML pipeline file.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::frame::MAX_DIMENSION;
use crate::limits::{MAX_PARAMS, MAX_STAGES};
use crate::text::untrusted;

// MAX_STAGES bounds what one session costs (an instance per stage, each with
// its own memory); MAX_PARAMS is far above what any real stage takes.
/// Longest launch line, in bytes: the longest single argument Linux passes
/// to a program (`MAX_ARG_STRLEN`).
pub const MAX_LAUNCH_LINE: usize = 128 * 1024;
/// Largest pipeline file, in bytes.
pub const MAX_PIPELINE_FILE: u64 = 1024 * 1024;
/// Longest stage name or path, in bytes (Linux's `PATH_MAX`).
pub const MAX_STAGE_NAME: usize = 4096;
/// Longest parameter name, in bytes.
pub const MAX_KEY: usize = 128;
/// Longest parameter value, in bytes (room for long lists of rectangles).
pub const MAX_VALUE: usize = 16 * 1024;
/// How much of a user's text an error message repeats.
const ECHO: usize = 60;

/// One stage of a chain: a built-in name or a path, and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageSpec {
    /// A built-in stage name (looked up in the stage registry) or a path to
    /// a `.wasm` component, as the user wrote it.
    pub stage: String,
    /// `key=value` parameters in the order written; the stage checks them
    /// against what it declares when the pipeline is built.
    pub params: Vec<(String, String)>,
    /// The content digest the stage file must have (`sha256:` and 64
    /// lowercase hex digits), from a pipeline file's `digest:`; `None`
    /// takes whatever file the name or path finds.
    pub digest: Option<String>,
}

impl StageSpec {
    /// A stage with parameters and no pinned digest.
    pub fn new(stage: impl Into<String>, params: Vec<(String, String)>) -> StageSpec {
        StageSpec {
            stage: stage.into(),
            params,
            digest: None,
        }
    }
}

/// An ordered chain of stages.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChainSpec {
    /// A name for logs and metrics (the pipeline file's `name`).
    pub name: Option<String>,
    /// The stages, first to last: the output of each feeds the next.
    pub stages: Vec<StageSpec>,
    /// The widest picture the pipeline takes (the pipeline file's
    /// `max-width`): a wider one leaving the first stage (the decoder), or
    /// pushed into it, fails the session before it costs the rest of the
    /// chain. `None`: no bound.
    pub max_width: Option<u32>,
    /// The tallest picture the pipeline takes (`max-height`), likewise.
    pub max_height: Option<u32>,
}

impl ChainSpec {
    /// Parses a launch line: stages separated by `!`, each a stage name or
    /// path followed by `key=value` parameters.
    pub fn parse_launch(line: &str) -> Result<ChainSpec> {
        if line.len() > MAX_LAUNCH_LINE {
            return Err(Error::InvalidChain(format!(
                "the launch line is {} bytes long, over the limit of {MAX_LAUNCH_LINE}",
                line.len()
            )));
        }
        let mut stages = Vec::new();
        for (index, part) in line.split('!').enumerate() {
            check_stage_count(index + 1)?;
            let mut words = part.split_whitespace();
            let Some(stage) = words.next() else {
                return Err(Error::InvalidChain(format!(
                    "stage {} is empty (two `!` in a row, or one at an end?)",
                    index + 1
                )));
            };
            if stage.contains('=') {
                return Err(Error::InvalidChain(format!(
                    "stage {} starts with the parameter \"{}\"; write the stage name first",
                    index + 1,
                    untrusted(stage, ECHO)
                )));
            }
            check_stage_name(stage)?;
            let mut params = Params::default();
            for word in words {
                let Some((key, value)) = word.split_once('=') else {
                    return Err(Error::InvalidChain(format!(
                        "{}: expected key=value, got \"{}\"",
                        untrusted(stage, ECHO),
                        untrusted(word, ECHO)
                    )));
                };
                params.push(stage, key, value.to_owned())?;
            }
            stages.push(StageSpec::new(stage, params.list));
        }
        Ok(ChainSpec {
            name: None,
            stages,
            ..ChainSpec::default()
        })
    }

    /// Reads a YAML pipeline file. Stage paths in it are relative to the
    /// file's folder.
    pub fn read_pipeline_file(path: &Path) -> Result<ChainSpec> {
        let shown = untrusted(&path.display().to_string(), 200);
        let text = read_bounded_text(path, MAX_PIPELINE_FILE)
            .map_err(|reason| Error::InvalidChain(format!("cannot read {shown}: {reason}")))?;
        let mut chain = ChainSpec::parse_pipeline_yaml(&text)
            .map_err(|error| Error::InvalidChain(format!("{shown}: {error}")))?;
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
        let file: PipelineFile = serde_saphyr::from_str(text)
            .map_err(|error| untrusted(&one_line(&error.to_string()), 300))?;
        if file.version != 1 {
            return Err(format!(
                "unsupported pipeline file version {} (this framechain reads version 1)",
                file.version
            ));
        }
        if file.stages.is_empty() {
            return Err("the pipeline has no stages".to_owned());
        }
        check_stage_count(file.stages.len()).map_err(message)?;
        let mut stages = Vec::new();
        for entry in file.stages {
            check_stage_name(&entry.stage).map_err(message)?;
            let mut params = Params::default();
            for (key, value) in entry.params {
                params
                    .push(&entry.stage, &key, value.into_text())
                    .map_err(message)?;
            }
            let digest = entry
                .digest
                .map(|digest| parse_digest(&entry.stage, &digest))
                .transpose()?;
            stages.push(StageSpec {
                stage: entry.stage,
                params: params.list,
                digest,
            });
        }
        let side = |key: &str, value: Option<u32>| match value {
            Some(side) if side == 0 || side > MAX_DIMENSION => Err(format!(
                "{key} is {side}; it must be 1 to {MAX_DIMENSION} pixels"
            )),
            _ => Ok(value),
        };
        Ok(ChainSpec {
            name: file.name,
            stages,
            max_width: side("max-width", file.max_width)?,
            max_height: side("max-height", file.max_height)?,
        })
    }

    /// The chain as the YAML text of a pipeline file (version 1), with each
    /// stage's `digest:` when it has one: what `framechain package` writes
    /// into an image. Every text is a double-quoted scalar, so any name or
    /// value reads back as the same text.
    pub fn to_pipeline_yaml(&self) -> String {
        let quote = yaml_quoted;
        let mut yaml = String::from("version: 1\n");
        if let Some(name) = &self.name {
            yaml.push_str(&format!("name: {}\n", quote(name)));
        }
        if let Some(width) = self.max_width {
            yaml.push_str(&format!("max-width: {width}\n"));
        }
        if let Some(height) = self.max_height {
            yaml.push_str(&format!("max-height: {height}\n"));
        }
        yaml.push_str("stages:\n");
        for stage in &self.stages {
            yaml.push_str(&format!("  - stage: {}\n", quote(&stage.stage)));
            if let Some(digest) = &stage.digest {
                yaml.push_str(&format!("    digest: {}\n", quote(digest)));
            }
            if !stage.params.is_empty() {
                yaml.push_str("    params:\n");
                for (key, value) in &stage.params {
                    yaml.push_str(&format!("      {}: {}\n", quote(key), quote(value)));
                }
            }
        }
        yaml
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

/// A stage's parameters as they are parsed: the list in order, and the
/// names seen so far, so a repeated name is found in constant time (a scan of
/// the list per parameter made 100,000 parameters take 28 s).
#[derive(Default)]
struct Params {
    list: Vec<(String, String)>,
    seen: HashSet<String>,
}

impl Params {
    fn push(&mut self, stage: &str, key: &str, value: String) -> Result<()> {
        let invalid = |message: String| Err(Error::InvalidChain(message));
        let stage = untrusted(stage, ECHO);
        if key.is_empty() {
            return invalid(format!("{stage}: a parameter has an empty name"));
        }
        if key.len() > MAX_KEY {
            return invalid(format!(
                "{stage}: parameter name \"{}\" is {} bytes long, over the limit of {MAX_KEY}",
                untrusted(key, ECHO),
                key.len()
            ));
        }
        if value.len() > MAX_VALUE {
            return invalid(format!(
                "{stage}: the value of parameter \"{}\" is {} bytes long, over the limit of {MAX_VALUE}",
                untrusted(key, ECHO),
                value.len()
            ));
        }
        if !self.seen.insert(key.to_owned()) {
            return invalid(format!(
                "{stage}: parameter \"{}\" is given twice",
                untrusted(key, ECHO)
            ));
        }
        if self.list.len() == MAX_PARAMS {
            return invalid(format!(
                "{stage}: more than {MAX_PARAMS} parameters for one stage"
            ));
        }
        self.list.push((key.to_owned(), value));
        Ok(())
    }
}

/// `text` as a YAML double-quoted scalar: `\` and `"` escaped, control
/// characters as `\uXXXX`, everything else as it is.
fn yaml_quoted(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A pinned digest as written (`sha256:` and 64 hex digits, either case),
/// lowercased as [`crate::content_digest`] gives it.
fn parse_digest(stage: &str, digest: &str) -> std::result::Result<String, String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{}: digest \"{}\" is not sha256: followed by 64 hex digits",
            untrusted(stage, ECHO),
            untrusted(digest, 80)
        ));
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

fn check_stage_count(count: usize) -> Result<()> {
    if count > MAX_STAGES {
        return Err(Error::InvalidChain(format!(
            "the chain has more than {MAX_STAGES} stages"
        )));
    }
    Ok(())
}

fn check_stage_name(stage: &str) -> Result<()> {
    if stage.len() > MAX_STAGE_NAME {
        return Err(Error::InvalidChain(format!(
            "stage name \"{}\" is {} bytes long, over the limit of {MAX_STAGE_NAME}",
            untrusted(stage, ECHO),
            stage.len()
        )));
    }
    Ok(())
}

/// The text of `path`, which must be a regular file of at most `cap` bytes:
/// a device (`/dev/zero`), a FIFO or a huge file named as a pipeline must not
/// make the host read without end or block on open.
fn read_bounded_text(path: &Path, cap: u64) -> std::result::Result<String, String> {
    let check = |metadata: std::fs::Metadata| {
        if !metadata.is_file() {
            return Err("not a regular file".to_owned());
        }
        if metadata.len() > cap {
            return Err(format!(
                "the file is {} bytes, over the limit of {cap}",
                metadata.len()
            ));
        }
        Ok(())
    };
    // Checked before opening too: opening a FIFO for reading blocks until
    // someone writes to it.
    check(std::fs::metadata(path).map_err(|error| error.to_string())?)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The path may have been replaced by a FIFO since; never block.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|error| error.to_string())?;
    // What was opened is what counts (the path may have changed since).
    check(file.metadata().map_err(|error| error.to_string())?)?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| error.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(format!("the file is over the limit of {cap} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_owned())
}

/// The message of a chain error without its "invalid chain: " prefix, for
/// errors that are wrapped again with the pipeline file's name.
fn message(error: Error) -> String {
    match error {
        Error::InvalidChain(message) => message,
        other => other.to_string(),
    }
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
    /// The widest picture the pipeline takes.
    #[serde(default, rename = "max-width")]
    max_width: Option<u32>,
    /// The tallest picture the pipeline takes.
    #[serde(default, rename = "max-height")]
    max_height: Option<u32>,
    stages: Vec<PipelineStage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineStage {
    stage: String,
    /// `sha256:HEX`: the stage file must have exactly this content.
    #[serde(default)]
    digest: Option<String>,
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
        assert_eq!(
            error("scale wid\x1b[2Jth\n"),
            "invalid chain: scale: expected key=value, got \"wid\\u{1b}[2Jth\""
        );
    }

    #[test]
    fn many_parameters_are_capped_and_checked_in_linear_time() {
        let many: String = (0..100_000).map(|i| format!(" p{i}=1")).collect();
        let started = std::time::Instant::now();
        let error = ChainSpec::parse_launch(&format!("scale{many}"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("over the limit of 131072"), "{error}");
        let error = ChainSpec::parse_launch(&format!("scale{}", &many[..20_000]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid chain: scale: more than 256 parameters for one stage"
        );
        let at_cap: String = (0..MAX_PARAMS).map(|i| format!(" p{i}=1")).collect();
        let full = format!("scale{at_cap} ! ").repeat(MAX_STAGES);
        let chain = ChainSpec::parse_launch(full.trim_end_matches(" ! ")).unwrap();
        assert_eq!(chain.stages.len(), MAX_STAGES);
        assert!(chain.stages.iter().all(|s| s.params.len() == MAX_PARAMS));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));

        let yaml: String = (0..100_000).map(|i| format!("      p{i}: 1\n")).collect();
        let yaml = format!("version: 1\nstages:\n  - stage: scale\n    params:\n{yaml}");
        let error = ChainSpec::parse_pipeline_yaml(&yaml).unwrap_err();
        assert_eq!(error, "scale: more than 256 parameters for one stage");
    }

    #[test]
    fn chains_names_keys_and_values_are_capped() {
        let error = |line: &str| ChainSpec::parse_launch(line).unwrap_err().to_string();
        assert_eq!(
            error(&vec!["scale"; MAX_STAGES + 1].join(" ! ")),
            "invalid chain: the chain has more than 64 stages"
        );
        let long_key = "k".repeat(MAX_KEY + 1);
        assert!(error(&format!("scale {long_key}=1")).contains("over the limit of 128"));
        let long_value = "v".repeat(MAX_VALUE + 1);
        assert!(error(&format!("scale k={long_value}")).contains("over the limit of 16384"));
        let long_name = "s".repeat(MAX_STAGE_NAME + 1);
        let shown = error(&long_name);
        assert!(shown.contains("over the limit of 4096"), "{shown}");
        assert!(shown.len() < 200, "{shown}");
        let yaml = format!(
            "version: 1\nstages:\n{}",
            "  - stage: scale\n".repeat(MAX_STAGES + 1)
        );
        assert_eq!(
            ChainSpec::parse_pipeline_yaml(&yaml).unwrap_err(),
            "the chain has more than 64 stages"
        );
    }

    #[test]
    fn pipeline_files_must_be_small_regular_files() {
        let started = std::time::Instant::now();
        let error = ChainSpec::read_pipeline_file(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid chain: cannot read /dev/zero: not a regular file"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));

        let folder = std::env::temp_dir().join(format!("framechain-chain-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let big = folder.join("big.yaml");
        let mut text = "version: 1\nstages: [{stage: scale}]\n".to_owned();
        text.push_str(&"#".repeat(MAX_PIPELINE_FILE as usize));
        std::fs::write(&big, text).unwrap();
        let error = ChainSpec::read_pipeline_file(&big).unwrap_err().to_string();
        assert!(error.ends_with("over the limit of 1048576"), "{error}");
        let good = folder.join("good.yaml");
        std::fs::write(&good, "version: 1\nstages: [{stage: ./x.wasm}]\n").unwrap();
        let chain = ChainSpec::read_pipeline_file(&good).unwrap();
        assert_eq!(
            chain.stages[0].stage,
            folder.join("./x.wasm").to_string_lossy()
        );
        let error = ChainSpec::read_pipeline_file(&folder)
            .unwrap_err()
            .to_string();
        assert!(error.ends_with("not a regular file"), "{error}");
        std::fs::remove_dir_all(&folder).unwrap();
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
    fn pinned_digests_are_read_checked_and_written_back() {
        let hex = "AB".repeat(32);
        let yaml = format!(
            "version: 1\nname: pinned\nstages:\n  - stage: redact\n    digest: sha256:{hex}\n    params: {{rect: \"1,2,3,4\", label: \"a\\\"b\\\\c\"}}\n  - stage: ./my stage.wasm\n"
        );
        let chain = ChainSpec::parse_pipeline_yaml(&yaml).unwrap();
        let lower = format!("sha256:{}", hex.to_ascii_lowercase());
        assert_eq!(chain.stages[0].digest.as_deref(), Some(lower.as_str()));
        assert_eq!(chain.stages[1].digest, None);
        let written = chain.to_pipeline_yaml();
        assert!(
            written.contains(&format!("    digest: \"{lower}\"\n")),
            "{written}"
        );
        assert_eq!(ChainSpec::parse_pipeline_yaml(&written).unwrap(), chain);

        for bad in [
            "sha256:abc",
            "md5:00",
            &format!("sha256:{}", "g".repeat(64)),
        ] {
            let yaml = format!("version: 1\nstages:\n  - stage: scale\n    digest: \"{bad}\"\n");
            let error = ChainSpec::parse_pipeline_yaml(&yaml).unwrap_err();
            assert!(
                error.starts_with("scale: digest") && error.contains("64 hex digits"),
                "{error}"
            );
        }
    }

    #[test]
    fn pipeline_files_bound_the_picture_size() {
        let yaml = "version: 1\nmax-width: 1920\nmax-height: 1080\nstages: [{stage: scale}]\n";
        let chain = ChainSpec::parse_pipeline_yaml(yaml).unwrap();
        assert_eq!(
            (chain.max_width, chain.max_height),
            (Some(1920), Some(1080))
        );
        let written = chain.to_pipeline_yaml();
        assert!(written.contains("max-width: 1920\n"), "{written}");
        assert_eq!(ChainSpec::parse_pipeline_yaml(&written).unwrap(), chain);
        let chain = ChainSpec::parse_pipeline_yaml("version: 1\nstages: [{stage: scale}]\n");
        assert_eq!(chain.unwrap().max_width, None);
        for (bad, shown) in [
            (
                "max-width: 0",
                "max-width is 0; it must be 1 to 16384 pixels",
            ),
            (
                "max-height: 20000",
                "max-height is 20000; it must be 1 to 16384 pixels",
            ),
        ] {
            let yaml = format!("version: 1\n{bad}\nstages: [{{stage: scale}}]\n");
            assert_eq!(ChainSpec::parse_pipeline_yaml(&yaml).unwrap_err(), shown);
        }
        for bad in ["max-width: -1", "max-width: wide", "max-width: 99999999999"] {
            let yaml = format!("version: 1\n{bad}\nstages: [{{stage: scale}}]\n");
            let error = ChainSpec::parse_pipeline_yaml(&yaml).unwrap_err();
            assert!(!error.contains('\n'), "{error}");
        }
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
