//! `framechain package`: an OCI image (image-layout tarball, for `ctr image
//! import`, `skopeo copy oci-archive:...` or `k3s ctr images import`) holding
//! a pipeline file and the stage components it names, to run with the
//! containerd shim `containerd-shim-framechain-v1`.
//!
//! Inside the image the pipeline file is `/pipeline.yaml`, built-in stages
//! are `/stages/<name>.wasm`, stages the file names by a relative path keep
//! that path under `/`. The image's entrypoint is `/pipeline.yaml`, so a
//! container's arguments are the shim's options (`-i IN -o OUT ...`).
//!
//! Every file is read once and under a cap, as `run` reads them: the
//! pipeline file up to `framechain::MAX_PIPELINE_FILE` (1 MiB), each stage
//! file up to the engine's `max_component_bytes` (64 MiB), each `--add`
//! file up to [`MAX_ADD_FILE`] (256 MiB, [`MAX_ADD_TOTAL`] for all of them);
//! anything but a regular file (a device, a FIFO) is refused before it is
//! read. Every stage is loaded before it is packaged (a file that is not a
//! stage, or a built-in name whose file describes itself under another
//! name, is refused), pinned to the digest of the bytes read, so the bytes
//! packaged are the bytes the host checked; and the image's `/pipeline.yaml` is the pipeline file written
//! again with each stage pinned to the digest of the file packaged
//! (`digest: sha256:HEX`), so the host refuses any other file under that
//! name. Digests already in the source file must match. The rewritten file
//! keeps the name, stages and parameters; comments and `description` are
//! not carried over. In the `--wasm-layers` form no digest is written (see
//! `pinned_digest`).
//!
//! Two forms:
//! - tar layer (default): one ordinary `tar` layer holding all the files,
//!   for every containerd (Debian's 1.6.20 included).
//! - `--wasm-layers`: the pipeline file and each component are layers of
//!   their own (media types `application/vnd.framechain.pipeline.v1+yaml`
//!   and `application/vnd.bytecodealliance.wasm.component.layer.v0+wasm`,
//!   platform `wasm`), which lets the shim precompile the components once
//!   per node; containerd 1.6.25+/1.7.7+ only (older ones refuse such images
//!   with `mismatched image rootfs and manifest layers`).
//!
//! `--precompile` stores components compiled for this machine's wasmtime
//! and CPU instead of the `.wasm` (tar-layer form only): a container then
//! starts without compiling, but the image only runs on nodes with the
//! same CPU architecture and the same framechain version, and only where
//! the node's operator trusts images' precompiled code (it is native code
//! that runs outside the sandbox; docs/deploy-k3s.md, "What the shim
//! trusts"). The `framechain` command itself never loads such files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use clap::Args;
use framechain::{ChainSpec, Engine, EngineConfig, StageRegistry};
use serde_json::json;
use sha2::{Digest, Sha256};

/// OCI media types.
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const TAR_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const COMPONENT_LAYER: &str = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";
const PIPELINE_LAYER: &str = "application/vnd.framechain.pipeline.v1+yaml";
const TITLE: &str = "org.opencontainers.image.title";

/// Where the pipeline file goes in the image.
const PIPELINE_IN_IMAGE: &str = "pipeline.yaml";

#[derive(Args)]
pub struct PackageArgs {
    /// The YAML pipeline file to package (a regular file of at most 1 MiB; stage files at most 64 MiB).
    #[arg(long, short = 'p', value_name = "FILE")]
    pipeline: PathBuf,
    /// The image tarball to write (an OCI image layout in a tar archive).
    #[arg(long, short = 'o', value_name = "TAR")]
    output: PathBuf,
    /// Image name recorded for `ctr image import`.
    #[arg(
        long,
        default_value = "framechain.local/pipeline:latest",
        value_name = "NAME"
    )]
    name: String,
    /// One OCI layer per file with wasm media types (containerd 1.6.25+/1.7.7+) instead of one tar layer.
    #[arg(long, conflicts_with = "precompile")]
    wasm_layers: bool,
    /// Store the components compiled for this machine (same CPU architecture and framechain version needed on the node, whose shim must trust precompiled images: docs/deploy-k3s.md).
    #[arg(long)]
    precompile: bool,
    /// Add another file to the image: HOST_PATH:IMAGE_PATH (tar-layer form only), e.g. a test clip; a regular file of at most 256 MiB (512 MiB for all --add files together).
    #[arg(long, value_name = "SRC:DEST", conflicts_with = "wasm_layers")]
    add: Vec<String>,
}

/// A file of the image: its path inside the image (relative to `/`) and
/// its content.
struct ImageFile {
    path: String,
    data: Vec<u8>,
    media_type: &'static str,
}

pub fn run(registry: StageRegistry, args: PackageArgs) -> Result<(), String> {
    let (files, stage_names) =
        collect_files(&registry, &args).map_err(|error| error.to_string())?;
    let name = args.name.clone();
    let (manifest, blobs) = if args.wasm_layers {
        wasm_layer_image(&files)?
    } else {
        tar_layer_image(&files)?
    };
    write_layout(&args.output, &name, &manifest, &blobs)?;
    let size: usize = blobs.values().map(Vec::len).sum();
    eprintln!(
        "framechain: wrote {} ({name}, {} form, {} files, {} KiB)",
        args.output.display(),
        if args.wasm_layers {
            "wasm-layer"
        } else {
            "tar-layer"
        },
        files.len(),
        size.div_ceil(1024)
    );
    // The admission policy matches these names (docs/deploy-k3s.md, "Policy").
    eprintln!(
        "framechain: stages, for the pod annotation framechain.io/pipeline-stages: \"{}\"",
        stage_names.join(",")
    );
    Ok(())
}

/// Largest file `--add` takes, in bytes: test clips and small assets. The
/// image is built in memory (about twice its size at the peak), so a path
/// naming a device or a huge file must not be read without end.
pub const MAX_ADD_FILE: u64 = 256 << 20;
/// Largest sum of all `--add` files, in bytes.
pub const MAX_ADD_TOTAL: u64 = 512 << 20;

/// Why `package` refused its input. Shown as one line.
#[derive(Debug)]
pub enum PackageError {
    /// A file was not read: not a regular file, over its cap, unreadable.
    Read(crate::bounded::ReadError),
    /// The `--add` files together are over [`MAX_ADD_TOTAL`].
    AddTotal { path: PathBuf },
    /// A stage file's content changed between the read whose bytes are
    /// packaged and the host's load that checked it.
    StageChanged { path: PathBuf },
    /// Two stages go to the same path in the image but are different files.
    SameImagePath {
        stage: String,
        in_image: String,
        path: PathBuf,
    },
    /// Anything else, as the host or a parser said it.
    Other(String),
}

impl std::fmt::Display for PackageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackageError::Read(error) => error.fmt(f),
            PackageError::AddTotal { path } => write!(
                f,
                "refusing --add file {}: with the --add files before it, it is over the limit of {} for all --add files together",
                path.display(),
                crate::bounded::size_text(MAX_ADD_TOTAL)
            ),
            PackageError::StageChanged { path } => write!(
                f,
                "stage file {} changed while it was being packaged (the bytes read are not the bytes the host checked); try again",
                path.display()
            ),
            PackageError::SameImagePath {
                stage,
                in_image,
                path,
            } => write!(
                f,
                "stage \"{}\" ({}) goes to /{in_image} in the image, where an earlier stage put a different file; name each stage file once",
                framechain::text::untrusted(stage, 200),
                path.display()
            ),
            PackageError::Other(message) => f.write_str(message),
        }
    }
}

impl From<crate::bounded::ReadError> for PackageError {
    fn from(error: crate::bounded::ReadError) -> PackageError {
        PackageError::Read(error)
    }
}

impl From<String> for PackageError {
    fn from(message: String) -> PackageError {
        PackageError::Other(message)
    }
}

/// The pipeline file (with each stage's digest pinned), every component it
/// names, and the `--add` files; and the stages' names as the admission
/// policy sees them.
///
/// Each file is read once, under its cap, and what is packaged is exactly
/// the bytes read: a stage file's bytes are hashed, and the host loads the
/// stage pinned to that digest, so the stage it checked (compiled,
/// described, name matched) is the one in the image, even if the file is
/// replaced meanwhile.
fn collect_files(
    registry: &StageRegistry,
    args: &PackageArgs,
) -> Result<(Vec<ImageFile>, Vec<String>), PackageError> {
    let text = crate::bounded::read_regular(
        &args.pipeline,
        "pipeline file",
        framechain::MAX_PIPELINE_FILE,
    )?;
    let yaml = String::from_utf8(text)
        .map_err(|_| format!("{} is not UTF-8 text", args.pipeline.display()))?;
    let mut chain = ChainSpec::parse_pipeline_yaml(&yaml)
        .map_err(|error| format!("{}: {error}", args.pipeline.display()))?;
    let base = args.pipeline.parent().unwrap_or(Path::new("."));
    // Read before any stage is compiled, so a bad one fails at once.
    let mut added = Vec::new();
    let mut added_bytes = 0u64;
    for extra in &args.add {
        let (source, target) = extra
            .split_once(':')
            .ok_or_else(|| format!("--add {extra}: expected HOST_PATH:IMAGE_PATH"))?;
        let path = image_path(target.trim_start_matches('/'))
            .ok_or_else(|| format!("--add {extra}: the image path must not contain .."))?;
        let source = Path::new(source);
        let data = crate::bounded::read_regular(source, "--add file", MAX_ADD_FILE)?;
        added_bytes += data.len() as u64;
        if added_bytes > MAX_ADD_TOTAL {
            return Err(PackageError::AddTotal {
                path: source.to_owned(),
            });
        }
        added.push(ImageFile {
            path,
            data,
            media_type: TAR_LAYER,
        });
    }
    let mut files = vec![ImageFile {
        path: PIPELINE_IN_IMAGE.into(),
        data: Vec::new(), // the pinned pipeline file, written below
        media_type: PIPELINE_LAYER,
    }];
    // Loading each stage checks it is a stage and that a built-in name is
    // the name it gives itself; the compiled form is cached as `run` does.
    let engine = Engine::new(EngineConfig {
        registry: registry.clone(),
        cache_dir: crate::cache_dir(),
        ..EngineConfig::default()
    })
    .map_err(|error| error.to_string())?;
    let stage_cap = engine.config().max_component_bytes as u64;
    let mut names = Vec::new();
    // Image path -> digest of the wasm packaged there.
    let mut packaged: BTreeMap<String, String> = BTreeMap::new();
    for stage in &mut chain.stages {
        let is_path = stage.stage.contains('/') || stage.stage.ends_with(".wasm");
        let (source, in_image) = if is_path {
            let relative = image_path(&stage.stage).ok_or_else(|| {
                format!(
                    "stage \"{}\": a packaged pipeline can only name stages by built-in name or by a relative path below its folder",
                    stage.stage
                )
            })?;
            (base.join(&stage.stage), relative)
        } else {
            // The file of the stage that describes itself by this name,
            // packaged under that name (`stages/<name>.wasm`).
            let source = engine
                .stage_path(&stage.stage)
                .map_err(|error| error.to_string())?;
            (source, format!("stages/{}.wasm", stage.stage))
        };
        let reference = if is_path {
            source.to_string_lossy().into_owned()
        } else {
            stage.stage.clone()
        };
        let wasm = crate::bounded::read_regular(&source, "stage file", stage_cap)?;
        let digest = framechain::content_digest(&wasm);
        if let Some(expected) = stage.digest.as_deref()
            && expected != digest
        {
            return Err(framechain::Error::DigestMismatch {
                stage: framechain::text::untrusted(&stage.stage, 200),
                path: source,
                expected: expected.to_owned(),
                actual: digest,
            }
            .to_string()
            .into());
        }
        // Pinned to the digest of the bytes read: the host reads the file
        // itself (under the same cap) and refuses other content, so what it
        // checks is what goes into the image.
        engine
            .load_stage_pinned(&reference, Some(&digest))
            .map_err(|error| match error {
                framechain::Error::DigestMismatch { .. } => PackageError::StageChanged {
                    path: source.clone(),
                },
                other => PackageError::Other(other.to_string()),
            })?;
        names.push(stage.stage.clone());
        if let Some(earlier) = packaged.get(&in_image) {
            if *earlier != digest {
                return Err(PackageError::SameImagePath {
                    stage: stage.stage.clone(),
                    in_image,
                    path: source,
                });
            }
            let file = files
                .iter()
                .find(|file| file.path == in_image)
                .expect("every packaged stage is in the files");
            stage.digest = pinned_digest(args, &file.data);
            continue;
        }
        packaged.insert(in_image.clone(), digest);
        let data = if args.precompile {
            engine
                .precompile(&wasm)
                .map_err(|error| format!("cannot precompile {}: {error}", source.display()))?
        } else {
            wasm
        };
        stage.digest = pinned_digest(args, &data);
        files.push(ImageFile {
            path: in_image,
            data,
            media_type: COMPONENT_LAYER,
        });
    }
    files[0].data = format!(
        "# Written by `framechain package` from {}: each stage is pinned to the\n# digest of the file packaged with it.\n{}",
        args.pipeline
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
            .replace(['\n', '\r'], " "),
        chain.to_pipeline_yaml()
    )
    .into_bytes();
    files.extend(added);
    Ok((files, names))
}

/// The digest the packaged pipeline file pins a stage file to: that of the
/// file in the image (the precompiled file when precompiled, since that is
/// the one the shim loads). None in the wasm-layer form: there the shim may
/// be handed a layer already compiled by containerd, whose content is not
/// the packaged `.wasm`; each layer is pinned by its OCI digest instead.
fn pinned_digest(args: &PackageArgs, data: &[u8]) -> Option<String> {
    (!args.wasm_layers).then(|| framechain::content_digest(data))
}

/// A relative path without `..`, `.` or root, as `a/b/c`.
fn image_path(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

type Blobs = BTreeMap<String, Vec<u8>>;

fn digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// Adds a blob and returns its OCI descriptor.
fn add_blob(
    blobs: &mut Blobs,
    media_type: &str,
    data: Vec<u8>,
    title: Option<&str>,
) -> serde_json::Value {
    let digest = digest(&data);
    let mut descriptor = json!({ "mediaType": media_type, "digest": digest, "size": data.len() });
    if let Some(title) = title {
        descriptor["annotations"] = json!({ TITLE: title });
    }
    blobs.insert(digest, data);
    descriptor
}

fn oci_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn entrypoint() -> serde_json::Value {
    json!([format!("/{PIPELINE_IN_IMAGE}")])
}

fn finish_manifest(
    blobs: &mut Blobs,
    config: serde_json::Value,
    layers: Vec<serde_json::Value>,
) -> Result<Vec<u8>, String> {
    let config = serde_json::to_vec(&config).map_err(|error| error.to_string())?;
    let config = add_blob(blobs, CONFIG, config, None);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config,
        "layers": layers,
    });
    serde_json::to_vec(&manifest).map_err(|error| error.to_string())
}

/// One uncompressed tar layer with every file; a linux image.
fn tar_layer_image(files: &[ImageFile]) -> Result<(Vec<u8>, Blobs), String> {
    let mut layer = tar::Builder::new(Vec::new());
    let mut dirs: Vec<String> = Vec::new();
    for file in files {
        let mut parent = String::new();
        for part in file
            .path
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            parent = if parent.is_empty() {
                part.to_owned()
            } else {
                format!("{parent}/{part}")
            };
            if !dirs.contains(&parent) {
                dirs.push(parent.clone());
                append(
                    &mut layer,
                    &format!("{parent}/"),
                    &[],
                    0o755,
                    tar::EntryType::Directory,
                )?;
            }
        }
        append(
            &mut layer,
            &file.path,
            &file.data,
            0o644,
            tar::EntryType::Regular,
        )?;
    }
    let layer = layer.into_inner().map_err(|error| error.to_string())?;
    let mut blobs = Blobs::new();
    let diff_id = digest(&layer);
    let layers = vec![add_blob(&mut blobs, TAR_LAYER, layer, None)];
    let config = json!({
        "architecture": oci_architecture(),
        "os": "linux",
        "config": { "Entrypoint": entrypoint(), "WorkingDir": "/" },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    });
    let manifest = finish_manifest(&mut blobs, config, layers)?;
    Ok((manifest, blobs))
}

/// A layer per file with its own media type; a `wasm` platform image, as
/// runwasi expects for OCI wasm artifacts.
fn wasm_layer_image(files: &[ImageFile]) -> Result<(Vec<u8>, Blobs), String> {
    let mut blobs = Blobs::new();
    let layers = files
        .iter()
        .map(|file| {
            add_blob(
                &mut blobs,
                file.media_type,
                file.data.clone(),
                Some(&file.path),
            )
        })
        .collect();
    let config = json!({
        "architecture": "wasm",
        "os": "wasip2",
        "config": { "Entrypoint": entrypoint() },
        "rootfs": { "type": "layers", "diff_ids": [] },
    });
    let manifest = finish_manifest(&mut blobs, config, layers)?;
    Ok((manifest, blobs))
}

fn append(
    archive: &mut tar::Builder<Vec<u8>>,
    path: &str,
    data: &[u8],
    mode: u32,
    kind: tar::EntryType,
) -> Result<(), String> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    archive
        .append_data(&mut header, path, data)
        .map_err(|error| format!("cannot add {path} to the layer: {error}"))
}

/// Writes the OCI image layout (`oci-layout`, `index.json`, `blobs/`) as a
/// tar archive.
fn write_layout(output: &Path, name: &str, manifest: &[u8], blobs: &Blobs) -> Result<(), String> {
    let manifest_digest = digest(manifest);
    let tag = name
        .rsplit_once(':')
        .map(|(_, tag)| tag)
        .filter(|tag| !tag.contains('/'));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag.unwrap_or("latest"),
            },
        }],
    });
    let index = serde_json::to_vec(&index).map_err(|error| error.to_string())?;
    let file = File::create(output)
        .map_err(|error| format!("cannot create {}: {error}", output.display()))?;
    let mut archive = tar::Builder::new(BufWriter::new(file));
    let write_error = |error: std::io::Error| format!("cannot write {}: {error}", output.display());
    let add = |archive: &mut tar::Builder<BufWriter<File>>, path: &str, data: &[u8], kind| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_mtime(0);
        archive
            .append_data(&mut header, path, data)
            .map_err(write_error)
    };
    add(
        &mut archive,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
        tar::EntryType::Regular,
    )?;
    add(&mut archive, "index.json", &index, tar::EntryType::Regular)?;
    add(&mut archive, "blobs/", &[], tar::EntryType::Directory)?;
    add(
        &mut archive,
        "blobs/sha256/",
        &[],
        tar::EntryType::Directory,
    )?;
    let manifest_path = format!("blobs/sha256/{}", &manifest_digest["sha256:".len()..]);
    add(
        &mut archive,
        &manifest_path,
        manifest,
        tar::EntryType::Regular,
    )?;
    for (digest, data) in blobs {
        let path = format!("blobs/sha256/{}", &digest["sha256:".len()..]);
        add(&mut archive, &path, data, tar::EntryType::Regular)?;
    }
    let mut inner = archive.into_inner().map_err(write_error)?;
    inner.flush().map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_stay_inside_the_image() {
        assert_eq!(
            image_path("./stages/x.wasm").as_deref(),
            Some("stages/x.wasm")
        );
        assert_eq!(image_path("../x.wasm"), None);
        assert_eq!(image_path("/abs/x.wasm"), None);
    }

    #[test]
    fn tar_layer_image_lists_its_layer_in_the_config() {
        let files = vec![ImageFile {
            path: "stages/a.wasm".into(),
            data: b"\0asm".to_vec(),
            media_type: COMPONENT_LAYER,
        }];
        let (manifest, blobs) = tar_layer_image(&files).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let config = &blobs[manifest["config"]["digest"].as_str().unwrap()];
        let config: serde_json::Value = serde_json::from_slice(config).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            manifest["layers"][0]["digest"]
        );
        assert_eq!(config["config"]["Entrypoint"][0], "/pipeline.yaml");
    }
}
