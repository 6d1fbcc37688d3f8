//! Finding stage components: built-in names resolve to `<name>.wasm` in the
//! stage directories, anything that looks like a path is taken as a path.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::stage::LoadedStage;

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

    /// The folders searched for `<name>.wasm`, first match wins: for
    /// messages, and for a front end that adds its own folders in front.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The component file for a stage reference: a path (contains `/` or
    /// ends in `.wasm`) or the name of a built-in stage.
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

    /// Names of the built-in stages found, sorted, without duplicates.
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
        let names = self.builtin_names();
        if names.is_empty() {
            "none found; build them with `cargo xtask build` or set FRAMECHAIN_STAGE_PATH"
                .to_owned()
        } else {
            names.join(", ")
        }
    }

    /// A stage found by name must describe itself under that name: the name
    /// `run`, pipeline files, `framechain package` (`stages/<name>.wasm`)
    /// and admission policies use is then the one `describe()` gives and
    /// `framechain stages` lists. A stage given by path is named by its
    /// `describe()` alone (its file name is free, as cargo's
    /// `my_stage.wasm` for a stage `my-stage`).
    pub fn check_name(&self, reference: &str, stage: &LoadedStage) -> Result<()> {
        if is_path(reference) || stage.name() == reference {
            return Ok(());
        }
        Err(Error::StageNameMismatch {
            path: stage.path().to_owned(),
            name: stage.name().to_owned(),
        })
    }
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
