//! Precompiled code only from trusted sources, and bounded stage-file reads
//! (issue 8, findings 1 and 5). A precompiled wasmtime artifact is machine
//! code that runs in the host process as it is: a "stage" file holding one,
//! or a cache file replaced by one, must never be loaded unless the operator
//! trusts where it came from.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use framechain::{Engine, EngineConfig, Error, TrustedPrecompiled};

use crate::support;

/// An empty scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "framechain-precompiled-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

fn stage_wasm(name: &str) -> Vec<u8> {
    let path = support::config()
        .registry
        .resolve(name)
        .expect("built stage");
    std::fs::read(path).expect("stage component")
}

/// A real precompiled artifact of a real stage, as `framechain package
/// --precompile` writes it.
fn precompiled(name: &str) -> Vec<u8> {
    let artifact = support::engine()
        .precompile(&stage_wasm(name))
        .expect("precompiled");
    assert!(artifact.starts_with(b"\x7fELF"));
    artifact
}

fn engine_trusting(trusted: Vec<TrustedPrecompiled>) -> Engine {
    Engine::new(EngineConfig {
        trusted_precompiled: trusted,
        ..support::config()
    })
    .expect("engine")
}

fn engine_caching_in(dir: &Path) -> Engine {
    Engine::new(EngineConfig {
        cache_dir: Some(dir.to_owned()),
        ..support::config()
    })
    .expect("engine")
}

fn load_error(engine: &Engine, path: &Path) -> Error {
    match engine.load_stage(path.to_str().unwrap()) {
        Ok(stage) => panic!("{} loaded as stage {}", path.display(), stage.name()),
        Err(error) => error,
    }
}

fn assert_refused_as_precompiled(error: Error) {
    assert!(
        matches!(error, Error::UntrustedPrecompiled { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(text.contains("precompiled native code"), "{text}");
    assert!(
        text.contains("docs/security.md"),
        "says how to allow it: {text}"
    );
    assert!(
        !text.contains("ELF"),
        "never shows the file's bytes: {text}"
    );
}

#[test]
fn a_precompiled_stage_file_is_refused_unless_the_operator_trusts_it() {
    let artifact = precompiled("test-stage");
    let trusted = scratch("trusted");
    let elsewhere = scratch("elsewhere");
    let inside = trusted.join("x.wasm");
    let outside = elsewhere.join("x.wasm");
    std::fs::write(&inside, &artifact).unwrap();
    std::fs::write(&outside, &artifact).unwrap();
    // A symlink in the trusted folder that leads out of it, and one from
    // elsewhere that leads into it: what counts is where the file really is.
    std::os::unix::fs::symlink(&outside, trusted.join("leads-out.wasm")).unwrap();
    std::os::unix::fs::symlink(&inside, elsewhere.join("leads-in.wasm")).unwrap();

    // By default nothing precompiled is trusted, wherever it lies.
    let default = support::engine();
    assert_refused_as_precompiled(load_error(&default, &inside));
    assert_refused_as_precompiled(load_error(&default, &outside));

    let engine = engine_trusting(vec![TrustedPrecompiled::Folder(trusted.clone())]);
    assert_eq!(
        engine.load_stage(inside.to_str().unwrap()).unwrap().name(),
        "test-stage"
    );
    assert_refused_as_precompiled(load_error(&engine, &outside));
    assert_refused_as_precompiled(load_error(&engine, &trusted.join("leads-out.wasm")));
    let through_link = engine
        .load_stage(elsewhere.join("leads-in.wasm").to_str().unwrap())
        .expect("a link to a file inside the trusted folder");
    assert_eq!(through_link.name(), "test-stage");

    // Trust by content: exactly these bytes, from anywhere.
    let engine = engine_trusting(vec![TrustedPrecompiled::content(&artifact)]);
    assert_eq!(
        engine.load_stage(outside.to_str().unwrap()).unwrap().name(),
        "test-stage"
    );
    let other = elsewhere.join("other.wasm");
    std::fs::write(&other, precompiled("redact")).unwrap();
    assert_refused_as_precompiled(load_error(&engine, &other));

    std::fs::remove_dir_all(&trusted).unwrap();
    std::fs::remove_dir_all(&elsewhere).unwrap();
}

/// The cache file (name and content) an engine wrote for one stage.
fn cache_file_of(dir: &Path, stage: &str) -> (PathBuf, Vec<u8>) {
    let before = cache_files(dir);
    engine_caching_in(dir)
        .load_stage(stage)
        .expect("stage loads");
    let after = cache_files(dir);
    let new: Vec<&PathBuf> = after.iter().filter(|file| !before.contains(file)).collect();
    assert_eq!(new.len(), 1, "one cache file for {stage}: {after:?}");
    let bytes = std::fs::read(new[0]).unwrap();
    (new[0].clone(), bytes)
}

fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|file| file.file_name().unwrap() != "cache-key");
    files.sort();
    files
}

#[test]
fn a_cache_file_replaced_by_another_stages_code_is_compiled_again_not_run() {
    let dir = scratch("cache-swap").join("cache");
    let (scale_file, scale_entry) = cache_file_of(&dir, "scale");
    let (_, redact_entry) = cache_file_of(&dir, "redact");

    // A genuine cache file of another stage, copied over scale's: without
    // the name bound into its tag this would run redact's code as "scale".
    std::fs::write(&scale_file, &redact_entry).unwrap();
    let stage = engine_caching_in(&dir).load_stage("scale").unwrap();
    assert_eq!(stage.name(), "scale");

    // A planted precompiled artifact without a tag, as anyone able to
    // write the file could make with `framechain package --precompile`.
    std::fs::write(&scale_file, precompiled("redact")).unwrap();
    let stage = engine_caching_in(&dir).load_stage("scale").unwrap();
    assert_eq!(stage.name(), "scale");
    // ... and the cache holds scale's own signed code again.
    assert!(std::fs::read(&scale_file).unwrap() == scale_entry);

    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn a_cache_file_with_a_bad_tag_is_compiled_again() {
    let dir = scratch("cache-tag").join("cache");
    let (scale_file, scale_entry) = cache_file_of(&dir, "scale");
    // Files are `framechain-cc-v1`, a 32-byte tag, the artifact. Keep
    // scale's genuine artifact but damage the tag.
    let mut tampered = scale_entry.clone();
    tampered[16] ^= 1;
    std::fs::write(&scale_file, &tampered).unwrap();
    let stage = engine_caching_in(&dir).load_stage("scale").unwrap();
    assert_eq!(stage.name(), "scale");
    assert!(
        std::fs::read(&scale_file).unwrap() == scale_entry,
        "the damaged file was replaced by a freshly compiled, signed one"
    );
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn the_cache_key_is_private_and_a_shared_cache_folder_is_not_used() {
    let dir = scratch("cache-perms").join("cache");
    cache_file_of(&dir, "scale");
    let key = std::fs::metadata(dir.join("cache-key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(key.len(), 32);

    // A folder others may write to: they could plant or swap files there.
    let shared = scratch("cache-shared");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let stage = engine_caching_in(&shared).load_stage("scale").unwrap();
    assert_eq!(stage.name(), "scale");
    assert!(
        std::fs::read_dir(&shared).unwrap().next().is_none(),
        "nothing cached in a world-writable folder"
    );
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    std::fs::remove_dir_all(&shared).unwrap();
}

#[test]
fn a_stage_path_that_is_not_a_regular_file_fails_at_once_with_one_line() {
    let engine = support::engine();
    let dir = scratch("special");
    let fifo = dir.join("fifo.wasm");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|status| status.success()), "mkfifo");
    for (path, kind) in [
        (Path::new("/dev/zero"), "character device"),
        (fifo.as_path(), "FIFO"),
        (dir.as_path(), "folder"),
    ] {
        let started = Instant::now();
        let error = load_error(&engine, path).to_string();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{}: took {:?}",
            path.display(),
            started.elapsed()
        );
        assert!(
            error.contains(&format!("not a regular file (a {kind})")),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stage_file_over_the_size_cap_is_not_read() {
    let dir = scratch("large");
    // A sparse 1 GiB file: refused from its size, never read.
    let large = dir.join("large.wasm");
    std::fs::File::create(&large)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let started = Instant::now();
    let error = load_error(&support::engine(), &large).to_string();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(error.contains("larger than the 64 MiB limit"), "{error}");

    // The cap is the operator's: a real stage over a 1 MiB cap is refused.
    let engine = Engine::new(EngineConfig {
        max_component_bytes: 1 << 20,
        ..support::config()
    })
    .unwrap();
    let error = load_error(&engine, Path::new("scale")).to_string();
    assert!(error.contains("larger than the 1 MiB limit"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}
