//! `framechain new-stage NAME DIR`: a stage crate made from the template in
//! `crates/framechain-cli/templates/stage/`, outside this repository, that builds with
//! `cargo build --release --target wasm32-wasip2` against the stage SDK and
//! whose kernel and per-frame logic have native unit tests (the latter on
//! the SDK's `testing::TestFrame`).

use std::path::{Path, PathBuf};

use clap::Args;

#[derive(Args)]
pub struct NewStageArgs {
    /// The stage's name: what `describe()` gives, what `framechain stages`
    /// lists and what chains call it by (1 to 64 lowercase letters, digits, `-`
    /// or `_`, starting with a letter).
    name: String,
    /// The folder to make the crate in (must not exist, or be empty).
    dir: PathBuf,
    /// The stage SDK crate (`stage-libs/framechain-stage` of a framechain checkout).
    /// Default: the one this framechain was built from, if it is still there.
    /// A path holding a control character (a newline, a tab) is refused.
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
}

/// The template's files: path in the new crate, text with `{{name}}`,
/// `{{crate}}` and `{{sdk}}` to fill in.
const TEMPLATE: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../templates/stage/Cargo.toml.in"),
    ),
    (
        ".cargo/config.toml",
        include_str!("../templates/stage/.cargo/config.toml"),
    ),
    (".gitignore", include_str!("../templates/stage/gitignore")),
    ("src/lib.rs", include_str!("../templates/stage/src/lib.rs")),
];

pub fn run(args: NewStageArgs) -> Result<(), String> {
    check_name(&args.name)?;
    let sdk = sdk_path(args.sdk.as_deref())?;
    let dir = &args.dir;
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|error| format!("cannot read {}: {error}", dir.display()))?
            .next()
            .is_none();
        if !empty {
            return Err(format!(
                "{} exists and is not empty; give a new folder",
                dir.display()
            ));
        }
    }
    let crate_name = args.name.replace('-', "_");
    let sdk_text = toml_path(&sdk).map_err(|error| error.to_string())?;
    // Not written into a file, but printed as the next steps to run: a
    // control character would break the `cd` line or the terminal.
    if let Some(bad) = dir.to_string_lossy().chars().find(|c| c.is_control()) {
        return Err(format!(
            "refusing folder {}: it holds the control character {}",
            dir.display(),
            bad.escape_unicode()
        ));
    }
    for (path, text) in TEMPLATE {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        let text = text
            .replace("{{name}}", &args.name)
            .replace("{{crate}}", &crate_name)
            .replace("{{sdk}}", &sdk_text);
        std::fs::write(&target, text)
            .map_err(|error| format!("cannot write {}: {error}", target.display()))?;
    }
    // The steps of docs/authoring.md's "Your first stage in five minutes",
    // with paths relative to the crate after the `cd`.
    let shown = dir.display();
    let wasm = format!("target/wasm32-wasip2/release/{crate_name}.wasm");
    println!(
        "Made stage {name} in {shown}. Next:\n  \
         cd {shown}\n  \
         cargo test --release\n  \
         cargo build --release --target wasm32-wasip2\n  \
         framechain inspect {wasm}\n  \
         framechain check   {wasm}\n  \
         framechain run \"{wasm} x=100 y=100 size=64 ! scale width=640 height=360\" -i testsrc -o out.y4m\n\
         To run it by name ({name}), copy the .wasm into a stage folder (--stage-dir or FRAMECHAIN_STAGE_PATH) under any file name.",
        name = args.name
    );
    Ok(())
}

/// A name that is a stage name, a cargo package name and a file name at once.
fn check_name(name: &str) -> Result<(), String> {
    let first_is_letter = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let plain = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
    if !first_is_letter || !plain || name.len() > 64 {
        return Err(format!(
            "stage name \"{}\": use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter",
            framechain::text::untrusted(name, 80)
        ));
    }
    Ok(())
}

/// Why a path cannot be written into the crate's `Cargo.toml`.
#[derive(Debug, PartialEq, Eq)]
pub enum TomlPathError {
    /// Cargo reads manifests as UTF-8.
    NotUtf8 { path: PathBuf },
    /// A newline, tab, escape or other control character: TOML could
    /// carry most of them escaped, but cargo, shells and terminals would
    /// each read such a path differently, so it is refused.
    ControlCharacter { path: PathBuf, character: char },
}

impl std::fmt::Display for TomlPathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TomlPathError::NotUtf8 { path } => write!(
                f,
                "refusing --sdk {}: the path is not UTF-8 and cannot be written into Cargo.toml; give another with --sdk",
                path.display()
            ),
            TomlPathError::ControlCharacter { path, character } => write!(
                f,
                "refusing --sdk {}: the path holds the control character {} and cannot be written into Cargo.toml safely; give another with --sdk",
                path.display(),
                character.escape_unicode()
            ),
        }
    }
}

impl std::error::Error for TomlPathError {}

/// `path` as the inside of a TOML basic string (`"..."`): a backslash and a
/// quote escaped, everything else as it is; a path with a control
/// character is refused.
fn toml_path(path: &Path) -> Result<String, TomlPathError> {
    let text = path.to_str().ok_or_else(|| TomlPathError::NotUtf8 {
        path: path.to_owned(),
    })?;
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            c if c.is_control() => {
                return Err(TomlPathError::ControlCharacter {
                    path: path.to_owned(),
                    character: c,
                });
            }
            c => escaped.push(c),
        }
    }
    Ok(escaped)
}

/// The SDK crate to depend on, as an absolute path.
fn sdk_path(given: Option<&Path>) -> Result<PathBuf, String> {
    let built_from =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stage-libs/framechain-stage");
    let (path, how) = match given {
        Some(path) => (path.to_owned(), "--sdk"),
        None => (built_from, "the checkout this framechain was built from"),
    };
    let path = std::fs::canonicalize(&path).map_err(|error| {
        format!(
            "stage SDK not found at {} ({how}): {error}; give its folder with --sdk",
            path.display()
        )
    })?;
    if !path.join("Cargo.toml").is_file() {
        return Err(format!(
            "{} is not the stage SDK crate (no Cargo.toml); give stage-libs/framechain-stage of a framechain checkout with --sdk",
            path.display()
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_paths_are_escaped_or_refused() {
        assert_eq!(
            toml_path(Path::new(r#"/a "b"\c"#)).as_deref(),
            Ok(r#"/a \"b\"\\c"#)
        );
        for bad in ["/a\nb", "/a\rb", "/a\tb", "/a\u{7f}b", "/a\u{1b}[2Jb"] {
            assert!(
                matches!(
                    toml_path(Path::new(bad)),
                    Err(TomlPathError::ControlCharacter { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_must_be_stage_crate_and_file_names() {
        for good in ["box", "my-stage", "blur_3x3"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "3d", "My-Stage", "a/b", "a.b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
