//! One container's job: which pipeline to run, on what input, into what
//! output, read from the container's process arguments; and running it
//! with the framechain host. Nothing here knows about containerd, so it is
//! tested directly.
//!
//! The process arguments (`command`/`args` of a container spec) are:
//!
//! ```text
//! PIPELINE.yaml [-i IN] [-o OUT] [--input-format F] [--output-format F]
//!               [--fps RATE] [--memory-limit MIB] [--call-timeout MS]
//! ```
//!
//! `IN` and `OUT` are paths inside the container (a volume) or `-` for the
//! container's stdin/stdout (the default). The format follows the file
//! name: `.y4m`, `.yuv` (output only), `.h264`/`.264`; stdin and stdout are
//! Y4M unless a format is given. Built-in stage names resolve to
//! `<name>.wasm` in `stages/` beside the pipeline file, in the pipeline
//! file's folder, then in `$FRAMECHAIN_STAGE_PATH` of the container.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use framechain::{ChainSpec, Engine, EngineConfig, Pipeline, StageRegistry, TrustedPrecompiled};
use framechain_tools::io::{
    AnnexBReader, AnnexBWriter, FrameRate, FramesIn, FramesOut, MediaReader, MediaWriter,
    RawWriter, Y4mReader, Y4mWriter,
};

/// File name endings of H.264 Annex-B streams.
const H264_EXTENSIONS: [&str; 5] = ["h264", "264", "avc", "jsv", "26l"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Y4m,
    Raw,
    H264,
}

/// What a container asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub pipeline: PathBuf,
    pub input: String,
    pub output: String,
    pub input_format: Option<Format>,
    pub output_format: Option<Format>,
    pub fps: FrameRate,
    pub memory_limit_mib: usize,
    pub call_timeout: Duration,
}

impl Job {
    /// Reads the container's process arguments (the first is the pipeline
    /// file) and environment (`KEY=value` strings).
    pub fn from_args(args: &[String]) -> Result<Job, String> {
        let mut words = args.iter();
        let pipeline = words
            .next()
            .filter(|word| !word.is_empty())
            .ok_or("no pipeline file: the container's first argument must be the pipeline file, e.g. /pipeline.yaml")?;
        let mut job = Job {
            pipeline: PathBuf::from(pipeline),
            input: "-".into(),
            output: "-".into(),
            input_format: None,
            output_format: None,
            fps: FrameRate::DEFAULT,
            memory_limit_mib: 256,
            call_timeout: Duration::from_secs(1),
        };
        while let Some(flag) = words.next() {
            let mut value = || {
                words
                    .next()
                    .ok_or_else(|| format!("argument {flag} needs a value"))
            };
            match flag.as_str() {
                "-i" | "--input" => job.input = value()?.clone(),
                "-o" | "--output" => job.output = value()?.clone(),
                "--input-format" => job.input_format = Some(parse_format(value()?)?),
                "--output-format" => job.output_format = Some(parse_format(value()?)?),
                "--fps" => {
                    let text = value()?;
                    job.fps = FrameRate::parse(text).ok_or_else(|| {
                        format!("--fps: expected 30 or 30000/1001, got \"{text}\"")
                    })?;
                }
                "--memory-limit" => {
                    let text = value()?;
                    job.memory_limit_mib = text
                        .parse()
                        .ok()
                        .filter(|mib| *mib > 0 && *mib < (1 << 20))
                        .ok_or_else(|| format!("--memory-limit: expected MiB, got \"{text}\""))?;
                }
                "--call-timeout" => {
                    let text = value()?;
                    let ms: u64 = text.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| {
                        format!("--call-timeout: expected milliseconds, got \"{text}\"")
                    })?;
                    job.call_timeout = Duration::from_millis(ms);
                }
                other => {
                    return Err(format!(
                        "unknown argument \"{other}\" (expected PIPELINE [-i IN] [-o OUT] [--input-format F] [--output-format F] [--fps RATE] [--memory-limit MIB] [--call-timeout MS])"
                    ));
                }
            }
        }
        Ok(job)
    }

    /// Where built-in stage names are looked up for this job.
    pub fn stage_dirs(&self, envs: &[String]) -> Vec<PathBuf> {
        stage_dirs(&self.pipeline, envs)
    }

    /// Runs the job to the end. Returns a one-line summary for the log, or
    /// one line saying what went wrong. `trusted` is the precompiled code the
    /// shim's operator trusts (see `main.rs`); it never comes from the
    /// container's own arguments or environment, which the pod's author
    /// chooses.
    pub fn run(&self, envs: &[String], trusted: Vec<TrustedPrecompiled>) -> Result<String, String> {
        let started = Instant::now();
        let chain =
            ChainSpec::read_pipeline_file(&self.pipeline).map_err(|error| error.to_string())?;
        let engine = Engine::new(EngineConfig {
            memory_limit: self.memory_limit_mib << 20,
            call_timeout: self.call_timeout,
            cache_dir: None,
            trusted_precompiled: trusted,
            registry: StageRegistry::with_dirs(self.stage_dirs(envs)),
            ..EngineConfig::default()
        })
        .map_err(|error| error.to_string())?;
        let pipeline = Pipeline::build(&engine, &chain).map_err(|error| error.to_string())?;
        let built = started.elapsed();
        let mut reader = self.open_input()?;
        let mut writer = self.open_output(reader.frame_rate())?;
        let framechain_tools::run::Finished { session, elapsed } =
            framechain_tools::run::run_pipeline(
                &pipeline,
                reader.as_mut(),
                writer.as_mut(),
                &mut framechain_tools::run::Unobserved,
            )
            .map_err(|error| error.to_string())?;
        let stats = session.stats();
        Ok(format!(
            "framechain: {} ({}): {} in, {} out; pipeline ready in {} ms, ran {} ms",
            pipeline.name(),
            chain.to_launch(),
            stats.inputs,
            stats.outputs,
            built.as_millis(),
            elapsed.as_millis()
        ))
    }

    fn open_input(&self) -> Result<Box<dyn MediaReader>, String> {
        let format = match self.input_format {
            Some(format) => format,
            None => format_of(&self.input, "input")?,
        };
        let source =
            framechain_tools::io::open_source(&self.input).map_err(|error| error.to_string())?;
        let input_error =
            |error: framechain_tools::io::IoError| format!("input {}: {error}", self.input);
        Ok(match format {
            Format::Y4m => Box::new(FramesIn(Y4mReader::new(source).map_err(input_error)?)),
            Format::H264 => Box::new(AnnexBReader::new(source, self.fps)),
            Format::Raw => {
                return Err(
                    "raw input is not supported in a container; use .y4m or .h264".to_owned(),
                );
            }
        })
    }

    fn open_output(&self, rate: FrameRate) -> Result<Box<dyn MediaWriter>, String> {
        let format = match self.output_format {
            Some(format) => format,
            None => format_of(&self.output, "output")?,
        };
        let sink =
            framechain_tools::io::open_sink(&self.output).map_err(|error| error.to_string())?;
        Ok(match format {
            Format::Y4m => Box::new(FramesOut(Y4mWriter::new(sink, rate))),
            Format::Raw => Box::new(FramesOut(RawWriter::new(sink))),
            Format::H264 => Box::new(AnnexBWriter::new(sink)),
        })
    }
}

/// Where built-in stage names are looked up for a container running
/// `pipeline` with the environment `envs` (`KEY=value` strings): `stages/`
/// beside the pipeline file, the pipeline file's folder, then the
/// container's `$FRAMECHAIN_STAGE_PATH`.
pub fn stage_dirs(pipeline: &Path, envs: &[String]) -> Vec<PathBuf> {
    let base = pipeline.parent().unwrap_or(Path::new("/"));
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    let mut dirs = vec![base.join("stages"), base.to_path_buf()];
    if let Some(value) = envs.iter().find_map(|kv| {
        kv.strip_prefix(framechain::STAGE_PATH_ENV)?
            .strip_prefix('=')
    }) {
        dirs.extend(std::env::split_paths(value));
    }
    dirs
}

fn parse_format(text: &str) -> Result<Format, String> {
    match text {
        "y4m" => Ok(Format::Y4m),
        "raw" => Ok(Format::Raw),
        "h264" => Ok(Format::H264),
        other => Err(format!("unknown format \"{other}\" (y4m, raw, h264)")),
    }
}

fn format_of(name: &str, what: &str) -> Result<Format, String> {
    if name == "-" {
        return Ok(Format::Y4m);
    }
    let extension = Path::new(name)
        .extension()
        .map(|ext| ext.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("y4m") => Ok(Format::Y4m),
        Some("yuv" | "i420" | "raw") => Ok(Format::Raw),
        Some(ext) if H264_EXTENSIONS.contains(&ext) => Ok(Format::H264),
        _ => Err(format!(
            "cannot tell the format of {what} \"{name}\" from its name; use .y4m or .h264, or --{what}-format"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn arguments_are_read() {
        let job = Job::from_args(&words(
            "/pipeline.yaml -i /data/in.264 -o /data/out.264 --memory-limit 128 --fps 25",
        ))
        .unwrap();
        assert_eq!(job.pipeline, PathBuf::from("/pipeline.yaml"));
        assert_eq!(job.input, "/data/in.264");
        assert_eq!(job.output, "/data/out.264");
        assert_eq!(job.memory_limit_mib, 128);
        assert_eq!(job.fps, FrameRate::parse("25").unwrap());
        let defaults = Job::from_args(&words("/p.yaml")).unwrap();
        assert_eq!(
            (defaults.input.as_str(), defaults.output.as_str()),
            ("-", "-")
        );
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        assert!(Job::from_args(&[]).unwrap_err().contains("pipeline file"));
        let error = Job::from_args(&words("/p.yaml --bogus")).unwrap_err();
        assert!(error.contains("unknown argument \"--bogus\""), "{error}");
        let error = Job::from_args(&words("/p.yaml -i")).unwrap_err();
        assert!(error.contains("-i needs a value"), "{error}");
    }

    #[test]
    fn stage_dirs_follow_the_pipeline_file_and_the_environment() {
        let job = Job::from_args(&words("/app/pipeline.yaml")).unwrap();
        let dirs = job.stage_dirs(&["FRAMECHAIN_STAGE_PATH=/x:/y".to_owned()]);
        let expected: Vec<PathBuf> = ["/app/stages", "/app", "/x", "/y"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(dirs, expected);
    }

    #[test]
    fn a_missing_pipeline_file_is_one_clear_line() {
        let job = Job::from_args(&words("/nonexistent/pipeline.yaml")).unwrap();
        let error = job.run(&[], Vec::new()).unwrap_err();
        assert!(
            error.contains("/nonexistent/pipeline.yaml") && error.contains("cannot read"),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
    }
}
