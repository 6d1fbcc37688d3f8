//! The telemedicine pipeline embedded in a program: H.264 in, redacted
//! 720p H.264 out, with per-stage accounting.
//!
//! ```sh
//! cargo xtask build
//! cargo run --release --example telemedicine -- camera.h264 redacted-720p.h264
//! ```

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::process::ExitCode;

use framechain::{ChainSpec, Engine, EngineConfig, Pipeline};
use framechain_tools::io::{AnnexBReader, AnnexBWriter, FrameRate};
use framechain_tools::run::{Unobserved, run_stream};

const CHAIN: &str = "decode-h264 \
    ! redact rect=120,67,600,135 mode=fill \
    ! scale width=1280 height=720 \
    ! encode-h264 bitrate=2000k fps=30 gop=60 profile=main";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: telemedicine IN.h264 OUT.h264");
        return ExitCode::from(2);
    };
    match transcode(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("telemedicine: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn transcode(input: &str, output: &str) -> Result<(), String> {
    let engine = Engine::new(EngineConfig::default()).map_err(|e| e.to_string())?;
    let chain = ChainSpec::parse_launch(CHAIN).map_err(|e| e.to_string())?;
    let pipeline = Pipeline::build(&engine, &chain).map_err(|e| e.to_string())?;
    let mut session = pipeline.start_session().map_err(|e| e.to_string())?;

    let file = File::open(input).map_err(|e| format!("cannot open {input}: {e}"))?;
    let mut reader = AnnexBReader::new(BufReader::new(file), FrameRate::DEFAULT);
    let file = File::create(output).map_err(|e| format!("cannot create {output}: {e}"))?;
    let mut writer = AnnexBWriter::new(BufWriter::new(file));

    let elapsed = run_stream(&mut session, &mut reader, &mut writer, &mut Unobserved)
        .map_err(|e| e.to_string())?;
    let stats = session.stats();
    let frames = stats.stages[0].outputs;
    println!(
        "{frames} frames in {:.2} s ({:.1} fps)",
        elapsed.as_secs_f64(),
        frames as f64 / elapsed.as_secs_f64()
    );
    for stage in &stats.stages {
        println!(
            "  {:<12} in {:>5} out {:>5} dropped {:>3}  p50 {:>8.2?}  p99 {:>8.2?}",
            stage.name,
            stage.inputs,
            stage.outputs,
            stage.dropped_total(),
            stage.latency.p50(),
            stage.latency.p99()
        );
    }
    Ok(())
}
