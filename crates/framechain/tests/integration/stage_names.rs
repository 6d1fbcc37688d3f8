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

#[test]
fn a_stage_file_named_unlike_its_stage_is_refused_by_name_and_taken_by_path() {
    let dir = scratch("renamed");
    let renamed = dir.join("resize.wasm");
    std::fs::copy(built("scale"), &renamed).unwrap();
    let engine = engine_with_dir(&dir);

    // Listed by its file name, so the name a user sees is the one asked for...
    assert!(engine.registry().builtin_names().contains(&"resize".into()));
    // ...and asking for it by that name says what is wrong and how to fix it.
    let error = engine.load_stage("resize").err().expect("refused");
    assert!(
        matches!(error, Error::StageNameMismatch { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "stage file {} describes itself as scale; name the file scale.wasm (or give its path)",
            renamed.display()
        )
    );
    let chain = ChainSpec::parse_launch("resize width=64 height=36").unwrap();
    let error = Pipeline::build(&engine, &chain).err().expect("refused");
    assert!(
        error.to_string().contains("describes itself as scale"),
        "{error}"
    );

    // By path the file name is free (cargo writes my_stage.wasm for a stage
    // my-stage); the stage is named as it describes itself.
    let by_path = engine.load_stage(renamed.to_str().unwrap()).unwrap();
    assert_eq!(by_path.name(), "scale");
    // The refusal holds after the file was loaded by path, too.
    assert!(engine.load_stage("resize").is_err());
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
