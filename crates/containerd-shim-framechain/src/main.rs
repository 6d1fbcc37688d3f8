//! `containerd-shim-framechain-v1`: a containerd shim (built on runwasi's
//! `containerd-shim-wasm`) that runs a framechain pipeline from a container
//! image. containerd starts it for runtime `io.containerd.framechain.v1`;
//! Kubernetes pods select it with a RuntimeClass whose handler is
//! `framechain` (see `deploy/k3s/` and `docs/deploy-k3s.md`).
//!
//! runwasi creates the container (namespaces, cgroup with the pod's memory
//! limit, the image's root file system) and, inside it, calls
//! [`Sandbox::run_wasi`]. There the framechain host reads the pipeline file
//! named by the first process argument and the stage components beside it,
//! and runs the chain from the input to the output the other arguments
//! name (see [`job`]). A first argument `serve` runs `framechain serve`
//! instead, the WHIP/WHEP server, until the container is stopped (see
//! [`serve`]). Success exits 0; anything else writes one line
//! `framechain: error: ...` to the container's stderr (its log) and exits 1.
//!
//! Images come in two forms (`framechain package`):
//! - plain tar layers (any containerd): the pipeline file and the stages
//!   are files in the root file system. Precompiled components (`framechain
//!   package --precompile`) are native code that would run outside the
//!   sandbox, so they are loaded only from the image's `/stages` folder and
//!   only when the node's operator set [`TRUST_IMAGE_PRECOMPILED_ENV`]`=1`
//!   in containerd's environment; otherwise such an image fails with one
//!   line saying so.
//! - wasm layers (containerd 1.6.25+/1.7.7+): the pipeline file and each
//!   component are their own OCI layers; the shim's [`Compiler`] compiles the
//!   components once per node and containerd keeps the result. The shim
//!   trusts exactly what its own compiler produced (runwasi marks those
//!   layers `precompiled`; only containerd's API, not an image, can attach
//!   them), by content hash; a component layer that is native code in the
//!   image itself is refused.

mod job;
mod serve;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Result;
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source, WasmLayer};
use containerd_shim_wasm::shim::{Cli, Compiler, Shim, Version, version};
use framechain::{Engine, EngineConfig, TrustedPrecompiled};

use job::Job;

/// OCI layer media type of a WebAssembly component (what `framechain
/// package --wasm-layers` writes for each stage).
pub const COMPONENT_LAYER: &str = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";
/// OCI layer media type of the pipeline file in the wasm-layer form.
pub const PIPELINE_LAYER: &str = "application/vnd.framechain.pipeline.v1+yaml";
/// Annotation that names a layer's file.
const TITLE: &str = "org.opencontainers.image.title";

/// Set to `1` in the environment containerd starts the shim with (the
/// operator's decision, e.g. K3s's `k3s-agent.service.env`), this lets
/// containers load the precompiled components of tar-layer images from
/// [`IMAGE_STAGE_DIR`]. Unset (the default), only wasm is compiled there.
pub const TRUST_IMAGE_PRECOMPILED_ENV: &str = "FRAMECHAIN_SHIM_TRUST_IMAGE_PRECOMPILED";
/// The image's stage folder, where `framechain package` puts the stages.
pub const IMAGE_STAGE_DIR: &str = "/stages";
/// The image's pipeline file, where `framechain package` puts it.
pub const IMAGE_PIPELINE: &str = "/pipeline.yaml";

/// [`TRUST_IMAGE_PRECOMPILED_ENV`] as the shim process found it at start.
/// Read once in `main`, before any container exists: inside a container's
/// process the environment is set from the container's spec, which the
/// pod's author chooses, so it must never decide what is trusted.
static TRUST_IMAGE_PRECOMPILED: OnceLock<bool> = OnceLock::new();

struct FramechainShim;

impl Shim for FramechainShim {
    type Sandbox = FramechainSandbox;

    fn name() -> &'static str {
        "framechain"
    }

    fn version() -> Version {
        version!()
    }

    async fn compiler() -> Option<impl Compiler> {
        match Engine::new(EngineConfig::default()) {
            Ok(engine) => Some(StageCompiler { engine }),
            Err(error) => {
                log::error!("framechain: no precompilation: {error}");
                None
            }
        }
    }

    fn supported_layers_types() -> &'static [&'static str] {
        &[COMPONENT_LAYER, "application/wasm", PIPELINE_LAYER]
    }
}

#[derive(Clone, Default)]
struct FramechainSandbox;

impl Sandbox for FramechainSandbox {
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> Result<i32> {
        let args = ctx.args().to_vec();
        let envs = ctx.envs().to_vec();
        let layers = match ctx.entrypoint().source {
            Source::Oci(layers) => Some(layers.to_vec()),
            Source::File(_) => None,
        };
        // The pipeline runs on a thread of its own: this function is called
        // inside runwasi's tokio runtime, and WASI's blocking calls (a stage
        // writing to its stderr) start a runtime of their own, which tokio
        // refuses inside another. The thread also turns a panic into a
        // message instead of a hung container.
        let outcome = std::thread::Builder::new()
            .name("framechain".into())
            .spawn(move || {
                let image_dir = TRUST_IMAGE_PRECOMPILED
                    .get()
                    .copied()
                    .unwrap_or(false)
                    .then_some(Path::new(IMAGE_STAGE_DIR));
                if serve::wanted(&args) {
                    let serve_args = serve::parse(&args[1..])?;
                    // The wasm-layer form puts the image's files at its
                    // root, as the tar form has them: --pipeline may name
                    // a read-only mount (a ConfigMap) instead.
                    if let Some(layers) = &layers {
                        unpack_layers(Path::new(IMAGE_PIPELINE), layers)?;
                    }
                    let trusted = trusted_precompiled(layers.as_deref(), image_dir);
                    return serve::serve(serve_args, &envs, trusted);
                }
                let job = Job::from_args(&args)?;
                if let Some(layers) = &layers {
                    unpack_layers(&job.pipeline, layers)?;
                }
                job.run(&envs, trusted_precompiled(layers.as_deref(), image_dir))
            })
            .map_err(|error| format!("cannot start the pipeline thread: {error}"))
            .and_then(|thread| {
                thread.join().unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("unknown panic");
                    Err(format!("internal error: {message}"))
                })
            });
        Ok(match outcome {
            Ok(summary) => {
                eprintln!("{summary}");
                0
            }
            Err(message) => {
                eprintln!("framechain: error: {message}");
                1
            }
        })
    }

    /// Every container given to this runtime is a framechain job: problems
    /// with it (no pipeline file, a bad one) are reported by `run_wasi` in
    /// the container's log, where a user looks, instead of failing the
    /// container's creation with a message only the shim log shows.
    async fn can_handle(&self, _ctx: &impl RuntimeContext) -> Result<()> {
        Ok(())
    }
}

/// The wasm-layer form: writes the pipeline layer to the path the first
/// argument names and each component layer to the path its title
/// annotation gives, relative to the pipeline file's folder (`framechain
/// package` titles built-in stages `stages/<name>.wasm`), so the job then
/// runs as in the tar-layer form.
fn unpack_layers(pipeline: &Path, layers: &[WasmLayer]) -> Result<(), String> {
    let base = pipeline.parent().unwrap_or(Path::new("/"));
    for layer in layers {
        let target: PathBuf = if layer.config.media_type().to_string() == PIPELINE_LAYER {
            pipeline.to_path_buf()
        } else {
            let title = layer
                .config
                .annotations()
                .as_ref()
                .and_then(|annotations| annotations.get(TITLE))
                .filter(|title| {
                    Path::new(title)
                        .components()
                        .all(|part| matches!(part, std::path::Component::Normal(_)))
                })
                .ok_or_else(|| {
                    format!(
                        "component layer {} has no relative {TITLE} annotation naming its file",
                        layer.config.digest()
                    )
                })?;
            base.join(title)
        };
        if let Some(folder) = target.parent() {
            std::fs::create_dir_all(folder)
                .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
        }
        std::fs::write(&target, &layer.layer)
            .map_err(|error| format!("cannot write {}: {error}", target.display()))?;
    }
    Ok(())
}

/// The precompiled code a container may load: the component layers the
/// shim's own compiler produced (by content, so no file planted beside them
/// passes), and the image's stage folder if the operator trusts images.
fn trusted_precompiled(
    layers: Option<&[WasmLayer]>,
    image_stage_dir: Option<&Path>,
) -> Vec<TrustedPrecompiled> {
    let mut trusted: Vec<TrustedPrecompiled> = layers
        .unwrap_or_default()
        .iter()
        .filter(|layer| layer.precompiled)
        .map(|layer| TrustedPrecompiled::content(&layer.layer))
        .collect();
    trusted.extend(image_stage_dir.map(|dir| TrustedPrecompiled::Folder(dir.to_owned())));
    trusted
}

/// Compiles component layers ahead of time, once per node: containerd
/// stores the result beside the image and hands it to later containers.
struct StageCompiler {
    engine: Engine,
}

impl Compiler for StageCompiler {
    fn cache_key(&self) -> impl std::hash::Hash {
        // Compiled code is only valid for the same wasmtime, settings and
        // CPU; the shim version pins the first two, the node the last.
        (
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
        )
    }

    async fn compile(&self, layers: &[WasmLayer]) -> Result<Vec<Option<Vec<u8>>>> {
        precompile_layers(&self.engine, layers)
    }
}

fn precompile_layers(engine: &Engine, layers: &[WasmLayer]) -> Result<Vec<Option<Vec<u8>>>> {
    layers
        .iter()
        .map(|layer| {
            let is_component = layer.config.media_type().to_string() != PIPELINE_LAYER
                && layer.layer.starts_with(b"\0asm");
            if layer.precompiled || !is_component {
                return Ok(None);
            }
            let compiled = engine.precompile(&layer.layer)?;
            Ok(Some(compiled))
        })
        .collect()
}

fn main() {
    // First: when re-run as a compile worker this compiles one stage under
    // limits and exits (see framechain::compile_worker_main).
    framechain::compile_worker_main();
    let _ = TRUST_IMAGE_PRECOMPILED
        .set(std::env::var_os(TRUST_IMAGE_PRECOMPILED_ENV).is_some_and(|value| value == "1"));
    // Frames are large, short-lived buffers; see framechain_tools::allocator.
    framechain_tools::allocator::keep_frame_buffers();
    FramechainShim::run(None);
}

#[cfg(test)]
mod tests {
    //! The wasm-layer form without containerd (Debian's 1.6.20 refuses such
    //! images): the layers runwasi would hand over are precompiled by the
    //! shim's compiler, unpacked beside the pipeline file and run.

    use std::collections::HashMap;

    use framechain_tools::io::{FrameRate, FrameWriter, TestSource, Y4mWriter};
    use oci_spec::image::{Descriptor, DescriptorBuilder, Digest, MediaType};

    use super::*;

    fn layer(media_type: &str, title: &str, data: Vec<u8>, precompiled: bool) -> WasmLayer {
        let digest: Digest = format!("sha256:{}", "0".repeat(64))
            .parse()
            .expect("a digest");
        let config: Descriptor = DescriptorBuilder::default()
            .media_type(MediaType::Other(media_type.into()))
            .digest(digest)
            .size(data.len() as u64)
            .annotations(HashMap::from([(TITLE.to_owned(), title.to_owned())]))
            .build()
            .expect("a descriptor");
        WasmLayer {
            config,
            precompiled,
            layer: data,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("framechain-shim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        dir
    }

    #[test]
    fn wasm_layers_are_precompiled_unpacked_and_run() {
        let redact = framechain::StageRegistry::from_environment()
            .resolve("redact")
            .expect("the redact stage (cargo xtask build; FRAMECHAIN_STAGE_PATH)");
        let wasm = std::fs::read(&redact).expect("redact.wasm");
        let pipeline = "version: 1\nname: layers\nstages:\n  - stage: redact\n    params:\n      rect: \"0,0,8,8\"\n      mode: fill\n";
        let layers = [
            layer(PIPELINE_LAYER, "pipeline.yaml", pipeline.into(), false),
            layer(COMPONENT_LAYER, "stages/redact.wasm", wasm, false),
        ];

        let engine = Engine::new(EngineConfig::default()).expect("an engine");
        let compiled = precompile_layers(&engine, &layers).expect("precompiled");
        assert!(compiled[0].is_none(), "the pipeline file is not compiled");
        let elf = compiled[1].clone().expect("the component is compiled");
        assert!(elf.starts_with(b"\x7fELF"));

        let dir = scratch("layers");
        let handed_over = [
            layers[0].clone(),
            layer(COMPONENT_LAYER, "stages/redact.wasm", elf, true),
        ];
        unpack_layers(&dir.join("pipeline.yaml"), &handed_over).expect("unpacked");
        let job = job_on_test_clip(&dir);
        let summary = job
            .run(&[], trusted_precompiled(Some(&handed_over), None))
            .expect("the job runs");
        assert!(summary.contains("3 in, 3 out"), "{summary}");

        // The same native code as a layer of the image itself (not marked
        // precompiled by runwasi): the image's author could have written
        // any machine code there, so it is refused.
        let from_image = [
            layers[0].clone(),
            layer(
                COMPONENT_LAYER,
                "stages/redact.wasm",
                handed_over[1].layer.clone(),
                false,
            ),
        ];
        unpack_layers(&dir.join("pipeline.yaml"), &from_image).expect("unpacked");
        let error = job
            .run(&[], trusted_precompiled(Some(&from_image), None))
            .unwrap_err();
        assert!(error.contains("precompiled native code"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A job running `dir/pipeline.yaml` on a 3-frame clip written to `dir`.
    fn job_on_test_clip(dir: &Path) -> Job {
        let input = dir.join("in.y4m");
        let mut source = TestSource::new(64, 48, 3, FrameRate::DEFAULT).expect("a test source");
        let mut writer = Y4mWriter::new(std::fs::File::create(&input).unwrap(), FrameRate::DEFAULT);
        while let Some(frame) = framechain_tools::io::FrameReader::read_frame(&mut source).unwrap()
        {
            writer.write_frame(&frame).unwrap();
        }
        writer.finish().unwrap();
        let args: Vec<String> = [
            dir.join("pipeline.yaml").to_str().unwrap(),
            "-i",
            input.to_str().unwrap(),
            "-o",
            dir.join("out.y4m").to_str().unwrap(),
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        Job::from_args(&args).unwrap()
    }

    /// The tar-layer form of `framechain package --precompile`: the stage
    /// folder holds native code. It runs only when the operator trusts the
    /// image's stage folder; the container's own environment (which the
    /// pod's author writes) cannot turn that on.
    #[test]
    fn precompiled_image_stages_run_only_when_the_operator_trusts_them() {
        let redact = framechain::StageRegistry::from_environment()
            .resolve("redact")
            .expect("the redact stage (cargo xtask build; FRAMECHAIN_STAGE_PATH)");
        let engine = Engine::new(EngineConfig::default()).expect("an engine");
        let elf = engine
            .precompile(&std::fs::read(&redact).expect("redact.wasm"))
            .expect("precompiled");
        let dir = scratch("tar-precompiled");
        std::fs::create_dir_all(dir.join("stages")).unwrap();
        std::fs::write(dir.join("stages/redact.wasm"), elf).unwrap();
        std::fs::write(
            dir.join("pipeline.yaml"),
            "version: 1\nstages:\n  - stage: redact\n    params:\n      rect: \"0,0,8,8\"\n      mode: fill\n",
        )
        .unwrap();
        let job = job_on_test_clip(&dir);

        let container_env = [format!("{TRUST_IMAGE_PRECOMPILED_ENV}=1")];
        let error = job
            .run(&container_env, trusted_precompiled(None, None))
            .unwrap_err();
        assert!(
            error.contains("refusing") && error.contains("precompiled native code"),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");

        let summary = job
            .run(&[], trusted_precompiled(None, Some(&dir.join("stages"))))
            .expect("the trusted image runs");
        assert!(summary.contains("3 in, 3 out"), "{summary}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn layer_titles_cannot_leave_the_pipeline_folder() {
        let dir = scratch("titles");
        for title in ["../escape.wasm", "/etc/escape.wasm"] {
            let error = unpack_layers(
                &dir.join("pipeline.yaml"),
                &[layer(COMPONENT_LAYER, title, b"\0asm".to_vec(), false)],
            )
            .unwrap_err();
            assert!(error.contains("no relative"), "{error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
