//! Opening the input and output named on the command line.

use std::path::Path;

use framechain_tools::io::{
    AnnexBReader, AnnexBWriter, FrameRate, FramesIn, FramesOut, MediaReader, MediaWriter,
    RawReader, RawWriter, TestSource, Y4mReader, Y4mWriter,
};

use crate::RunArgs;

/// The name that selects the generated test clip as input.
pub const TESTSRC: &str = "testsrc";
/// Size of the generated clip when --size is not given.
const TESTSRC_SIZE: (u32, u32) = (1920, 1080);
/// File name endings of H.264 Annex-B streams.
const H264_EXTENSIONS: [&str; 5] = ["h264", "264", "avc", "jsv", "26l"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    Y4m,
    Raw,
    H264,
    Testsrc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Y4m,
    Raw,
    H264,
}

pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (width, height) = text
        .split_once(['x', 'X'])
        .ok_or("expected WIDTHxHEIGHT, e.g. 1920x1080")?;
    match (width.parse::<u32>(), height.parse::<u32>()) {
        (Ok(width), Ok(height)) if width > 0 && height > 0 => Ok((width, height)),
        _ => Err(format!(
            "expected WIDTHxHEIGHT with positive whole numbers, got \"{text}\""
        )),
    }
}

pub fn parse_rate(text: &str) -> Result<FrameRate, String> {
    FrameRate::parse(text)
        .ok_or_else(|| format!("expected a frame rate like 30 or 30000/1001, got \"{text}\""))
}

/// The input's format: as given, or from its name.
pub fn input_format(args: &RunArgs) -> Result<InputFormat, String> {
    if let Some(format) = args.input_format {
        return Ok(format);
    }
    if args.input == TESTSRC {
        return Ok(InputFormat::Testsrc);
    }
    if args.input == "-" {
        return Ok(InputFormat::Y4m);
    }
    match extension(&args.input).as_deref() {
        Some("y4m") => Ok(InputFormat::Y4m),
        Some("yuv" | "i420" | "raw") => Ok(InputFormat::Raw),
        Some(ext) if H264_EXTENSIONS.contains(&ext) => Ok(InputFormat::H264),
        _ => Err(format!(
            "cannot tell the format of input \"{}\" from its name; use .y4m, .yuv or .h264, or --input-format",
            args.input
        )),
    }
}

/// The name of an input format, as `--input-format` spells it.
pub fn format_name(format: InputFormat) -> &'static str {
    match format {
        InputFormat::Y4m => "y4m",
        InputFormat::Raw => "raw",
        InputFormat::H264 => "h264",
        InputFormat::Testsrc => "testsrc",
    }
}

fn output_format(args: &RunArgs) -> Result<OutputFormat, String> {
    if let Some(format) = args.output_format {
        return Ok(format);
    }
    if args.output == "-" {
        return Ok(OutputFormat::Y4m);
    }
    match extension(&args.output).as_deref() {
        Some("y4m") => Ok(OutputFormat::Y4m),
        Some("yuv" | "i420" | "raw") => Ok(OutputFormat::Raw),
        Some(ext) if H264_EXTENSIONS.contains(&ext) => Ok(OutputFormat::H264),
        _ => Err(format!(
            "cannot tell the format of output \"{}\" from its name; use .y4m, .yuv or .h264, or --output-format",
            args.output
        )),
    }
}

fn extension(name: &str) -> Option<String> {
    Path::new(name)
        .extension()
        .map(|ext| ext.to_string_lossy().to_ascii_lowercase())
}

fn open_read(name: &str) -> Result<Box<dyn std::io::BufRead + Send>, String> {
    framechain_tools::io::open_source(name).map_err(|error| error.to_string())
}

pub fn open_input(args: &RunArgs) -> Result<Box<dyn MediaReader>, String> {
    let rate = args.fps.unwrap_or(FrameRate::DEFAULT);
    let input_error =
        |error: framechain_tools::io::IoError| format!("input {}: {error}", args.input);
    Ok(match input_format(args)? {
        InputFormat::Testsrc => {
            let (width, height) = args.size.unwrap_or(TESTSRC_SIZE);
            Box::new(FramesIn(
                TestSource::new(width, height, args.frames, rate).map_err(input_error)?,
            ))
        }
        InputFormat::Y4m => Box::new(FramesIn(
            Y4mReader::new(open_read(&args.input)?).map_err(input_error)?,
        )),
        InputFormat::Raw => {
            let (width, height) = args.size.ok_or("raw input needs --size WIDTHxHEIGHT")?;
            Box::new(FramesIn(
                RawReader::new(open_read(&args.input)?, width, height, rate)
                    .map_err(input_error)?,
            ))
        }
        InputFormat::H264 => Box::new(AnnexBReader::new(open_read(&args.input)?, rate)),
    })
}

pub fn open_output(args: &RunArgs, rate: FrameRate) -> Result<Box<dyn MediaWriter>, String> {
    let format = output_format(args)?;
    let sink = framechain_tools::io::open_sink(&args.output).map_err(|error| error.to_string())?;
    Ok(match format {
        OutputFormat::Y4m => Box::new(FramesOut(Y4mWriter::new(sink, rate))),
        OutputFormat::Raw => Box::new(FramesOut(RawWriter::new(sink))),
        OutputFormat::H264 => Box::new(AnnexBWriter::new(sink)),
    })
}

/// How many items the input will give, when that is known in advance.
pub fn expected_inputs(args: &RunArgs) -> Option<u64> {
    match input_format(args).ok()? {
        InputFormat::Testsrc => Some(args.frames),
        InputFormat::Raw => {
            let (width, height) = args.size?;
            let (cw, ch) = framechain::chroma_size(width, height);
            let frame = width as u64 * height as u64 + 2 * cw as u64 * ch as u64;
            Some(std::fs::metadata(&args.input).ok()?.len() / frame)
        }
        InputFormat::Y4m | InputFormat::H264 => None,
    }
}
