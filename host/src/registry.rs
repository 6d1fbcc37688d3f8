//! Finding stage components: built-in names resolve to `<name>.wasm` in the
//! stage directories, anything that looks like a path is taken as a path.

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
}

fn is_path(reference: &str) -> bool {
    reference.contains('/') || reference.ends_with(".wasm")
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
