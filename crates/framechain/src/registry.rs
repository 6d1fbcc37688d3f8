//! Finding stage components. A stage is found by the name it describes
//! itself by, whatever its file is called; anything that looks like a path
//! is taken as a path.
//!
//! Looking a name up (`find`):
//! 1. The files named after it, in each stage folder in order: `<name>.wasm`
//!    and cargo's spelling `<name_with_underscores>.wasm` (cargo writes
//!    `bar_probe.wasm` for the crate of a stage `bar-probe`). The first
//!    folder holding one that describes itself as `<name>` wins.
//! 2. Failing that, every `.wasm` file of the folders, in order, described
//!    once per process (memoized by path, size and modification time): a
//!    stage copied in under any file name is still found.
//!
//! Two files of one folder that both describe themselves as `<name>` at
//! one step (`bar-probe.wasm` and `bar_probe.wasm`; in the scan, any two)
//! are a clash, refused with an error naming both: which one runs must not
//! depend on directory order. Step 1 does not describe the folder's other
//! files, so that a name costs one file's load, not the folder's;
//! `framechain stages` describes them all and shows every clash. An
//! earlier folder overrides a later one, as with `PATH`. Describing a file runs its `describe` under the engine's
//! limits (the compile limits, the call time limit), as `framechain stages`
//! always has; a file that fails to load is skipped by the scan.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Environment variable holding extra stage directories, `:`-separated,
/// searched before the default ones.
pub const STAGE_PATH_ENV: &str = "FRAMECHAIN_STAGE_PATH";

/// Where built-in stages are looked up, in order.
#[derive(Clone, Debug)]
pub struct StageRegistry {
    dirs: Vec<PathBuf>,
}

impl StageRegistry {
    /// Only the given directories.
    pub fn with_dirs(dirs: Vec<PathBuf>) -> StageRegistry {
        StageRegistry { dirs }
    }

    /// `$FRAMECHAIN_STAGE_PATH`, then `stages/` beside the running
    /// executable, `../stages` (a cargo `target/` tree, where `cargo xtask
    /// build` puts them), `../lib/framechain/stages` (an install prefix) and
    /// `../../stages` (test binaries in `target/<profile>/deps`).
    pub fn from_environment() -> StageRegistry {
        let mut dirs: Vec<PathBuf> = std::env::var_os(STAGE_PATH_ENV)
            .map(|value| std::env::split_paths(&value).collect())
            .unwrap_or_default();
        if let Some(exe_dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
        {
            for relative in [
                "stages",
                "../stages",
                "../lib/framechain/stages",
                "../../stages",
            ] {
                dirs.push(exe_dir.join(relative));
            }
        }
        StageRegistry { dirs }
    }

    /// The stage folders, earlier ones first: for messages, and for a
    /// front end that adds its own folders in front.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The file named after a stage: a path (contains `/` or ends in
    /// `.wasm`) as it is, or `<reference>.wasm` in the first folder that has
    /// one. It does not look inside files; [`crate::Engine::stage_path`]
    /// finds a stage by the name it describes itself by.
    pub fn resolve(&self, reference: &str) -> Result<PathBuf> {
        if is_path(reference) {
            return Ok(PathBuf::from(reference));
        }
        let file = format!("{reference}.wasm");
        self.dirs
            .iter()
            .map(|dir| dir.join(&file))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| Error::UnknownStage {
                name: reference.to_owned(),
                known: self.known_list(),
            })
    }

    /// Every `.wasm` file in the stage folders: folder by folder in order,
    /// sorted by file name within a folder.
    pub fn files(&self) -> Vec<PathBuf> {
        self.dirs.iter().flat_map(|dir| wasm_files(dir)).collect()
    }

    /// The stem of every `.wasm` file in the stage folders, sorted, without
    /// duplicates (file names, not described names: see [`Self::files`]).
    pub fn builtin_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .dirs
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flatten()
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                (path.extension()? == "wasm")
                    .then(|| path.file_stem()?.to_str().map(str::to_owned))?
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn known_list(&self) -> String {
        known_list(&self.builtin_names())
    }

    /// The file of the stage that describes itself as `name` (see the
    /// module's docs for the order), where `describe` gives the name a file
    /// describes itself by.
    pub(crate) fn find(
        &self,
        name: &str,
        describe: &mut dyn FnMut(&Path) -> Result<String>,
    ) -> Result<PathBuf> {
        let spellings = file_spellings(name);
        // A file named after the stage that describes itself otherwise, for
        // the error when no file anywhere claims the name.
        let mut misnamed = None;
        for dir in &self.dirs {
            let mut claimants = Vec::new();
            for path in spellings.iter().map(|file| dir.join(file)) {
                if !path.is_file() {
                    continue;
                }
                // A file named after the stage that cannot load says why
                // (invalid component, pinned digest): it is the stage asked
                // for, not one to pass over.
                let described = describe(&path)?;
                if described == name {
                    claimants.push(path);
                } else {
                    misnamed.get_or_insert((path, described));
                }
            }
            if let Some(found) = one_claimant(name, claimants)? {
                return Ok(found);
            }
        }
        self.scan(name, describe)
            .map_err(|error| match (error, misnamed) {
                (Error::UnknownStage { .. }, Some((path, described))) => Error::StageNameMismatch {
                    asked: crate::text::untrusted(name, crate::text::MAX_NAME_CHARS),
                    path,
                    name: crate::text::untrusted(&described, crate::text::MAX_NAME_CHARS),
                },
                (error, _) => error,
            })
    }

    /// Step 2 of [`Self::find`]: every file, folder by folder.
    fn scan(
        &self,
        name: &str,
        describe: &mut dyn FnMut(&Path) -> Result<String>,
    ) -> Result<PathBuf> {
        let mut known = Vec::new();
        for dir in &self.dirs {
            let mut claimants = Vec::new();
            for path in wasm_files(dir) {
                // A file that does not load is not a stage by any name here.
                let Ok(described) = describe(&path) else {
                    continue;
                };
                if described == name {
                    claimants.push(path);
                } else {
                    known.push(described);
                }
            }
            if let Some(found) = one_claimant(name, claimants)? {
                return Ok(found);
            }
        }
        known.sort();
        known.dedup();
        let known: Vec<String> = known
            .iter()
            .map(|name| crate::text::untrusted(name, crate::text::MAX_NAME_CHARS))
            .collect();
        Err(Error::UnknownStage {
            name: crate::text::untrusted(name, crate::text::MAX_NAME_CHARS),
            known: known_list(&known),
        })
    }
}

/// The stage names for an unknown-stage message, or how to get some.
fn known_list(names: &[String]) -> String {
    if names.is_empty() {
        "none found; build them with `cargo xtask build` or set FRAMECHAIN_STAGE_PATH".to_owned()
    } else {
        names.join(", ")
    }
}

/// The file names a stage `name` may have: `<name>.wasm`, and cargo's
/// `<name_with_underscores>.wasm` when that differs.
fn file_spellings(name: &str) -> Vec<String> {
    let mut files = vec![format!("{name}.wasm")];
    let cargo = format!("{}.wasm", name.replace('-', "_"));
    if cargo != files[0] {
        files.push(cargo);
    }
    files
}

/// The one file of a folder claiming `name`, none, or a clash.
fn one_claimant(name: &str, mut claimants: Vec<PathBuf>) -> Result<Option<PathBuf>> {
    match claimants.len() {
        0 => Ok(None),
        1 => Ok(claimants.pop()),
        _ => Err(Error::StageNameClash {
            name: name.to_owned(),
            first: claimants[0].clone(),
            second: claimants[1].clone(),
        }),
    }
}

/// The `.wasm` files of one folder, sorted by name; none if it cannot be
/// read.
fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm") && path.is_file())
        .collect();
    files.sort();
    files
}

/// Whether a stage reference is a path (contains `/` or ends in `.wasm`)
/// rather than the name of a stage in the registry's folders.
pub(crate) fn is_path(reference: &str) -> bool {
    reference.contains('/') || reference.ends_with(".wasm")
}

/// The content digest of a stage file as pipeline files pin it:
/// `sha256:` and 64 lowercase hex digits.
pub fn content_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// Refuses a stage file whose content is not the one pinned.
pub(crate) fn check_digest(
    reference: &str,
    path: &Path,
    expected: &str,
    actual: &str,
) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    Err(Error::DigestMismatch {
        stage: crate::text::untrusted(reference, crate::text::MAX_NAME_CHARS),
        path: path.to_owned(),
        expected: expected.to_owned(),
        actual: actual.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names_are_told_apart() {
        let registry = StageRegistry::with_dirs(vec![]);
        assert_eq!(
            registry.resolve("./my.wasm").unwrap(),
            PathBuf::from("./my.wasm")
        );
        let error = registry.resolve("nope").unwrap_err().to_string();
        assert!(error.starts_with("unknown stage \"nope\""), "{error}");
    }
}
