//! `framechain`: run chains of sandboxed video-processing stages from the
//! command line, list the built-in stages and inspect what a stage accepts.

mod audit;
mod bounded;
mod center;
mod check;
mod identity;
mod inputs;
mod logger;
mod new_stage;
mod package;
mod progress;
mod realtime;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use framechain::{ChainSpec, Engine, EngineConfig, Pipeline, StageRegistry};

const AFTER_HELP: &str = "\
Examples:
  framechain run \"redact rect=100,100,400,200 mode=fill ! scale width=1280 height=720\" -i in.y4m -o out.y4m
  ffmpeg -i in.mp4 -f yuv4mpegpipe - | framechain run \"scale width=640 height=360\" -i - -o - | ffplay -
  framechain run --pipeline examples/redact-and-scale.yaml -i testsrc --frames 90 -o out.y4m --snapshot out.png
  framechain run --pipeline examples/telemedicine.yaml -i camera.h264 -o redacted-720p.h264
  framechain run --pipeline examples/telemedicine.yaml -i camera.h264 -o redacted-720p.h264 --realtime
  framechain inspect redact
  framechain serve --pipeline examples/telemedicine.yaml --http 127.0.0.1:8080 --media 127.0.0.1:40000 --stream room1:PUBLISH_TOKEN:VIEW_TOKEN
  framechain keys new keys/ && framechain token --key keys/private.pem --sub p-1 --role patient --room visit1 --ttl 3600
  framechain audit --postgres postgres://auditor:PASSWORD@centre-db:5432/framechain --room visit1 --since 7d
  framechain audit verify --postgres postgres://auditor:PASSWORD@centre-db:5432/framechain";

/// Runs video-processing stages as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "framechain", version, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Extra folders to look for built-in stages in (before $FRAMECHAIN_STAGE_PATH and the defaults).
    #[arg(long, global = true, value_name = "DIR")]
    stage_dir: Vec<PathBuf>,
    /// Print stage log lines down to this level: error, warn, info, debug, trace.
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL", value_parser = parse_level)]
    log_level: log::LevelFilter,
}

#[derive(Subcommand)]
enum Command {
    /// Run a chain on an input and write the output.
    Run(RunArgs),
    /// List the built-in stages.
    Stages,
    /// Show what a stage says about itself: ports and parameters.
    Inspect {
        /// A built-in stage name or a path to a .wasm component.
        stage: String,
    },
    /// Build an OCI image (image-layout tarball) of a pipeline file and its stages for the containerd shim.
    Package(package::PackageArgs),
    /// Serve a pipeline to WebRTC calls: publishers send with WHIP, viewers watch with WHEP (docs/serve.md).
    Serve(Box<framechain_serve::ServeArgs>),
    /// Run the centre: rooms, placement on the edge pods and WHIP/WHEP redirects with placement tickets (docs/center.md).
    Center(Box<framechain_center::CenterArgs>),
    /// Make a new stage crate from the template, outside this repository (docs/authoring.md).
    NewStage(new_stage::NewStageArgs),
    /// Run a stage on synthetic frames against the contract's rules; exit 1 on a violation (docs/authoring.md).
    Check(check::CheckArgs),
    /// Print a signed token (JWT) for a participant of a visit, for tests, demos and small clinics (docs/visits.md).
    Token(identity::TokenArgs),
    /// Make the key pair tokens are signed with, and the JWKS `serve --keys` reads (docs/visits.md).
    Keys {
        #[command(subcommand)]
        command: identity::KeysCommand,
    },
    /// Try a visit policy on an input document (docs/visits.md).
    Policy {
        #[command(subcommand)]
        command: identity::PolicyCommand,
    },
    /// Who published and who watched, from the centre's audit trail; `audit verify` checks its hash chains (docs/center.md).
    Audit(audit::AuditArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// The chain as a launch line: stages separated by `!`, each with key=value parameters.
    #[arg(required_unless_present = "pipeline", conflicts_with = "pipeline")]
    chain: Option<String>,
    /// A YAML pipeline file describing the chain instead (see docs/pipeline-file.md).
    #[arg(long, short = 'p', value_name = "FILE")]
    pipeline: Option<PathBuf>,
    /// Input: a .y4m file, a raw .yuv file (needs --size), an H.264 Annex-B .h264/.264 file, `-` for stdin (Y4M unless --input-format), or `testsrc` for a generated clip.
    #[arg(long, short = 'i', value_name = "IN")]
    input: String,
    /// Output: a .y4m file, a raw .yuv file, an H.264 .h264/.264 file, or `-` for stdout (Y4M unless --output-format).
    #[arg(long, short = 'o', value_name = "OUT")]
    output: String,
    /// Input format when the file name does not tell: y4m, raw, h264, testsrc.
    #[arg(long, value_name = "FORMAT")]
    input_format: Option<inputs::InputFormat>,
    /// Output format when the file name does not tell: y4m, raw, h264.
    #[arg(long, value_name = "FORMAT")]
    output_format: Option<inputs::OutputFormat>,
    /// Frame size of raw input or of testsrc, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", value_parser = inputs::parse_size)]
    size: Option<(u32, u32)>,
    /// Frame rate of raw input, of testsrc, and of an H.264 input played --realtime (30, 30000/1001; default 30).
    #[arg(long, value_name = "RATE", value_parser = inputs::parse_rate)]
    fps: Option<framechain_tools::io::FrameRate>,
    /// Number of frames testsrc generates.
    #[arg(long, default_value_t = 90, value_name = "N")]
    frames: u64,
    /// Write a before/after PNG of one frame here: the first and the last point of the chain where it is a picture (e.g. after decode-h264 and before encode-h264).
    #[arg(long, value_name = "PNG")]
    snapshot: Option<PathBuf>,
    /// Which input frame (counting from 0) the snapshot shows.
    #[arg(long, default_value_t = 0, value_name = "N")]
    snapshot_frame: u64,
    /// Memory limit of each stage instance, MiB: its linear memory, and
    /// separately what the host holds for it (frames, regions, encoders).
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    memory_limit: usize,
    /// Time limit of each call into a stage (describe, create, push,
    /// flush), milliseconds; it holds while the stage sleeps or waits too.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    call_timeout: u64,
    /// Refuse `encode-h264 accel=native`: every stage then runs inside the sandbox.
    #[arg(long)]
    no_native_encoder: bool,
    /// Play an H.264 input as a live camera: cut it into access units inside the sandbox (parse-h264),
    /// send access unit k at k/fps (--fps, default 30) into a live session of the chain, and report
    /// latency from each access unit's arrival to its output in the summary's end-to-end row; a session
    /// that falls behind drops pictures up to the next keyframe (counted as `late`). A first stage
    /// `decode-h264` without an `alignment` parameter gets `alignment=access-unit` (one whole access
    /// unit per packet: no one-picture delay). H.264 input only; not with --snapshot.
    #[arg(long, conflicts_with = "snapshot")]
    realtime: bool,
    /// No progress bar, no summary.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn parse_level(text: &str) -> Result<log::LevelFilter, String> {
    text.parse()
        .map_err(|_| format!("expected off, error, warn, info, debug or trace, got \"{text}\""))
}

fn main() -> ExitCode {
    // Before anything else: a compile worker (this executable re-run to
    // compile one stage under limits) must not parse the command line.
    framechain::compile_worker_main();
    let cli = Cli::parse();
    logger::install(cli.log_level);
    framechain_tools::allocator::keep_frame_buffers();
    match execute(cli) {
        Ok(code) => code,
        Err(message) => {
            // The last guard of "one line a person can trust": whatever a
            // message quotes (a stage's text, a file's bytes) was escaped
            // where it was quoted; this catches anything that was not.
            let message = framechain::text::untrusted(&message, 2_000);
            eprintln!("framechain: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> Result<ExitCode, String> {
    let mut registry_dirs = cli.stage_dir.clone();
    registry_dirs.extend(StageRegistry::from_environment().dirs().iter().cloned());
    let registry = StageRegistry::with_dirs(registry_dirs);
    match cli.command {
        Command::Stages => list_stages(&registry),
        Command::Inspect { stage } => inspect(registry, &stage),
        Command::Run(args) => run(registry, args),
        Command::Package(args) => package::run(registry, args),
        Command::Serve(args) => serve(registry, &args),
        Command::Center(args) => center::run(&args),
        Command::NewStage(args) => new_stage::run(args),
        Command::Check(args) => check::run(registry, args),
        Command::Token(args) => identity::token(args),
        Command::Keys { command } => identity::keys(command),
        // Deny is an answer, not an error: exit 1 without an error line.
        Command::Policy { command } => return identity::policy(command),
        // Findings of `audit verify` are an answer too: exit 1, no error line.
        Command::Audit(args) => return audit::run(args),
    }
    .map(|()| ExitCode::SUCCESS)
}

fn serve(registry: StageRegistry, args: &framechain_serve::ServeArgs) -> Result<(), String> {
    let config = EngineConfig {
        cache_dir: cache_dir(),
        registry,
        ..EngineConfig::default()
    };
    let engine = Engine::new(config).map_err(|error| error.to_string())?;
    framechain_serve::run(args, &engine).map_err(|error| error.to_string())
}

fn engine(
    registry: StageRegistry,
    memory_limit_mib: usize,
    call_timeout: Duration,
    native_h264: bool,
) -> Result<Engine, String> {
    let config = EngineConfig {
        memory_limit: memory_limit_mib
            .checked_mul(1 << 20)
            .ok_or("--memory-limit is too large")?,
        call_timeout,
        native_h264,
        cache_dir: cache_dir(),
        registry,
        ..EngineConfig::default()
    };
    Engine::new(config).map_err(|error| error.to_string())
}

/// `$XDG_CACHE_HOME/framechain` or `~/.cache/framechain`: compiled stages.
fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map(|base| base.join("framechain"))
}

/// Every stage in the stage folders, by the name it describes itself by,
/// with the summary of the file that name finds (or why it finds none: two
/// files of a folder claiming it), and a line for each file that cannot
/// load.
fn list_stages(registry: &StageRegistry) -> Result<(), String> {
    let files = registry.files();
    if files.is_empty() {
        return Err("no built-in stages found; build them with `cargo xtask build` or set FRAMECHAIN_STAGE_PATH".into());
    }
    let engine = engine(registry.clone(), 256, Duration::from_secs(1), true)?;
    let mut names = std::collections::BTreeSet::new();
    for file in files {
        let shown = file.display().to_string();
        match engine.load_stage(&shown) {
            Ok(stage) => {
                names.insert(stage.name().to_owned());
            }
            Err(error) => println!("{:<14} (cannot load {shown}: {error})", "?"),
        }
    }
    // Looked up as `run` looks a name up, so the list says what runs.
    for name in names {
        match engine.load_stage(&name) {
            Ok(stage) => println!("{name:<14} {}", stage.description().summary),
            Err(error) => println!("{name:<14} ({error})"),
        }
    }
    Ok(())
}

fn inspect(registry: StageRegistry, reference: &str) -> Result<(), String> {
    let engine = engine(registry, 256, Duration::from_secs(1), true)?;
    let stage = engine
        .load_stage(reference)
        .map_err(|error| error.to_string())?;
    print!("{}", summary::describe_stage(&stage));
    Ok(())
}

fn run(registry: StageRegistry, args: RunArgs) -> Result<(), String> {
    let chain = match (&args.chain, &args.pipeline) {
        (Some(line), None) => ChainSpec::parse_launch(line),
        (None, Some(file)) => ChainSpec::read_pipeline_file(file),
        _ => unreachable!("clap makes chain and --pipeline exclusive and one of them required"),
    }
    .map_err(|error| error.to_string())?;
    let engine = engine(
        registry,
        args.memory_limit,
        Duration::from_millis(args.call_timeout.max(1)),
        !args.no_native_encoder,
    )?;
    if args.realtime {
        return realtime::run(&engine, chain, &args);
    }
    let pipeline = Pipeline::build(&engine, &chain).map_err(|error| error.to_string())?;
    let mut reader = inputs::open_input(&args)?;
    let mut writer = inputs::open_output(&args, reader.frame_rate())?;
    let total = inputs::expected_inputs(&args);
    let mut observer = progress::Observer::new(&args, total, &pipeline);
    let result = framechain_tools::run::run_pipeline(
        &pipeline,
        reader.as_mut(),
        writer.as_mut(),
        &mut observer,
    );
    observer.finish();
    let finished = result.map_err(|error| error.to_string())?;
    observer.write_snapshot()?;
    if !args.quiet {
        eprint!(
            "{}",
            summary::session_summary(&finished.session, finished.elapsed)
        );
    }
    Ok(())
}
