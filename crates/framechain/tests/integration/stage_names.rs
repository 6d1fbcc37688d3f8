//! One name for a stage, and stages pinned by content digest: a stage found
//! by name must describe itself under that name, and a pipeline that pins a
//! stage's digest runs that file's content or nothing.

use std::path::{Path, PathBuf};

use framechain::{ChainSpec, Engine, EngineConfig, Error, Media, Pipeline, StageRegistry};

use crate::support;

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "framechain-stage-names-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The built file of a shipped stage.
fn built(stage: &str) -> PathBuf {
    let engine = support::engine();
    engine.registry().resolve(stage).expect("built stage")
}

/// An engine that looks in `dir` first, then where the built stages are.
fn engine_with_dir(dir: &Path) -> Engine {
    let config = support::config();
    let mut dirs = vec![dir.to_owned()];
    dirs.extend(config.registry.dirs().iter().cloned());
    Engine::new(EngineConfig {
        registry: StageRegistry::with_dirs(dirs),
        ..config
    })
    .expect("engine")
}

/// An engine that looks in `dir` only.
fn engine_with_only(dir: &Path) -> Engine {
    Engine::new(EngineConfig {
        registry: StageRegistry::with_dirs(vec![dir.to_owned()]),
        ..support::config()
    })
    .expect("engine")
}

#[test]
fn a_stage_is_found_by_the_name_it_describes_whatever_its_file_is_called() {
    let dir = scratch("any-file-name");
    // Cargo's spelling of a stage with a `-` in its name...
    std::fs::copy(built("parse-h264"), dir.join("parse_h264.wasm")).unwrap();
    // ...and a file called nothing like its stage.
    std::fs::copy(built("scale"), dir.join("my-build-17.wasm")).unwrap();
    let engine = engine_with_only(&dir);

    let parse = engine
        .load_stage("parse-h264")
        .expect("found by described name");
    assert_eq!(parse.path(), dir.join("parse_h264.wasm"));
    let scale = engine.load_stage("scale").expect("found by described name");
    assert_eq!(scale.path(), dir.join("my-build-17.wasm"));
    assert_eq!(
        engine.stage_path("scale").unwrap(),
        dir.join("my-build-17.wasm")
    );
    let chain = ChainSpec::parse_launch("scale width=64 height=36").unwrap();
    let pipeline = Pipeline::build(&engine, &chain).expect("a chain by described name");
    let mut session = pipeline.start_session().unwrap();
    let out = session
        .push(Media::Frame(support::flat_frame(128, 72, 90, 0)))
        .unwrap();
    assert_eq!(out.len(), 1);

    // A name no file claims is unknown, and the message lists the names
    // the stages give themselves, not their file names.
    let error = engine.load_stage("my-build-17").err().expect("refused");
    let message = error.to_string();
    assert!(
        matches!(error, Error::StageNameMismatch { .. }),
        "{error:?}"
    );
    assert!(
        message.contains("no stage describes itself as my-build-17")
            && message.contains("describes itself as scale: call it scale"),
        "{message}"
    );
    let error = engine.load_stage("parse_h264").err().expect("refused");
    assert!(
        matches!(error, Error::StageNameMismatch { .. }),
        "{error:?}"
    );
    let error = engine.load_stage("nope").err().expect("refused");
    assert!(matches!(error, Error::UnknownStage { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("(built-in stages: parse-h264, scale;"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_files_of_one_folder_claiming_one_name_are_refused_naming_both() {
    // Both spellings of a name, as after a build copied in beside an old
    // renamed one: which one runs must not depend on directory order.
    let dir = scratch("clash-spellings");
    std::fs::copy(built("parse-h264"), dir.join("parse-h264.wasm")).unwrap();
    std::fs::copy(built("parse-h264"), dir.join("parse_h264.wasm")).unwrap();
    let error = engine_with_dir(&dir)
        .load_stage("parse-h264")
        .err()
        .expect("a clash");
    assert!(matches!(error, Error::StageNameClash { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "two stage files in one folder describe themselves as parse-h264: {} and {}; remove or rename one",
            dir.join("parse-h264.wasm").display(),
            dir.join("parse_h264.wasm").display()
        )
    );
    // The same name in two folders is no clash: the earlier folder wins,
    // as with PATH (the built parse-h264.wasm is in a later folder).
    std::fs::remove_file(dir.join("parse_h264.wasm")).unwrap();
    let engine = engine_with_dir(&dir);
    assert_eq!(
        engine.load_stage("parse-h264").unwrap().path(),
        dir.join("parse-h264.wasm")
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Found by the scan (no file named after it): two claimants clash too.
    let dir = scratch("clash-scan");
    std::fs::copy(built("scale"), dir.join("a.wasm")).unwrap();
    std::fs::copy(built("scale"), dir.join("b.wasm")).unwrap();
    let error = engine_with_only(&dir)
        .load_stage("scale")
        .err()
        .expect("a clash");
    assert!(
        error.to_string().contains(&format!(
            "{} and {}",
            dir.join("a.wasm").display(),
            dir.join("b.wasm").display()
        )),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn pinned_chain(stage: &str, digest: &str) -> ChainSpec {
    ChainSpec::parse_pipeline_yaml(&format!(
        "version: 1\nstages:\n  - stage: {stage}\n    digest: {digest}\n    params: {{width: 64, height: 36}}\n"
    ))
    .expect("pipeline file")
}

#[test]
fn a_pinned_stage_runs_only_the_file_it_pins() {
    let dir = scratch("pinned");
    let file = dir.join("scale.wasm");
    std::fs::copy(built("scale"), &file).unwrap();
    let scale_digest = framechain::content_digest(&std::fs::read(&file).unwrap());
    let redact_digest = framechain::content_digest(&std::fs::read(built("redact")).unwrap());
    let engine = engine_with_dir(&dir);

    // The matching digest builds and runs.
    let pipeline = Pipeline::build(&engine, &pinned_chain("scale", &scale_digest)).unwrap();
    assert_eq!(pipeline.stages().next().unwrap().digest(), scale_digest);
    let mut session = pipeline.start_session().unwrap();
    let out = session
        .push(Media::Frame(support::flat_frame(128, 72, 80, 0)))
        .unwrap();
    let frame = out.into_iter().next().unwrap().into_frame().unwrap();
    assert_eq!((frame.width(), frame.height()), (64, 36));

    // Another digest is refused, naming the stage and both digests.
    let error = Pipeline::build(&engine, &pinned_chain("scale", &redact_digest))
        .err()
        .expect("refused");
    assert!(matches!(error, Error::DigestMismatch { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with("stage scale ("), "{text}");
    assert!(
        text.contains(&format!(
            "pinned to {redact_digest} but the file is {scale_digest}"
        )),
        "{text}"
    );

    // The file replaced on the node: a pin on the old content keeps what was
    // loaded from it, a pin on the new content loads the new file, and once
    // the old content is gone its pin is refused.
    std::fs::copy(built("redact"), &file).unwrap();
    let by_path = file.to_str().unwrap();
    let old = engine
        .load_stage_pinned(by_path, Some(&scale_digest))
        .unwrap();
    assert_eq!((old.name(), old.digest()), ("scale", scale_digest.as_str()));
    let new = engine
        .load_stage_pinned(by_path, Some(&redact_digest))
        .unwrap();
    assert_eq!(
        (new.name(), new.digest()),
        ("redact", redact_digest.as_str())
    );
    let error = engine
        .load_stage_pinned(by_path, Some(&scale_digest))
        .err()
        .expect("the old content is gone");
    assert!(matches!(error, Error::DigestMismatch { .. }), "{error:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
