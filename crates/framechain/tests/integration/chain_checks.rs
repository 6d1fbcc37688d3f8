//! A chain is checked before any frame flows.

use framechain::{ChainSpec, Error, Pipeline, StageErrorKind, StageFailure};

use crate::support::{engine, pipeline};

fn build_error(launch: &str) -> Error {
    let chain = ChainSpec::parse_launch(launch).expect("launch line");
    match Pipeline::build(&engine(), &chain) {
        Ok(_) => panic!("{launch} was accepted"),
        Err(error) => error,
    }
}

#[test]
fn packets_into_a_frame_stage_are_refused_before_running() {
    let error = build_error("test-packets ! scale width=64 height=64");
    assert!(matches!(error, Error::ChainMismatch(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "chain does not fit: test-packets gives h264 packets but scale takes i420 frames"
    );
}

#[test]
fn the_ends_of_the_chain_must_fit_the_input_and_output() {
    let pipeline = pipeline(&engine(), "scale width=64 height=64 ! test-packets");
    let frames = framechain::Port::i420_frames();
    let error = pipeline.check_ends(&frames, &frames).unwrap_err();
    assert_eq!(
        error.to_string(),
        "chain does not fit: test-packets gives h264 packets but the output takes i420 frames"
    );
    let error = pipeline
        .check_ends(
            &framechain::Port::h264_packets(),
            &framechain::Port::h264_packets(),
        )
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the input gives h264 packets but scale takes i420 frames"),
        "{error}"
    );
    pipeline
        .check_ends(&frames, &framechain::Port::h264_packets())
        .expect("frames in, packets out");
}

#[test]
fn unknown_parameters_are_refused_with_the_known_ones() {
    let error = build_error("scale widht=640");
    assert!(matches!(error, Error::BadParameter { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with("scale: unknown parameter \"widht\" (parameters: "),
        "{text}"
    );
    assert!(text.contains("width") && text.contains("height"), "{text}");
}

#[test]
fn a_stage_failing_in_create_is_not_reported_as_a_bad_parameter() {
    // `internal` from create is the stage's failure: it keeps its kind.
    let error = build_error("test-stage behaviour=create-internal-error");
    let Error::StageFailed {
        stage,
        failure: StageFailure::Rejected { kind, message },
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(stage, "test-stage");
    assert_eq!(*kind, StageErrorKind::Internal);
    assert!(message.contains("create-internal-error"), "{message}");
    assert_eq!(
        error.to_string(),
        "stage test-stage failed: internal error: test-stage: failing create because behaviour=create-internal-error"
    );
    // An invalid value the stage types wrongly keeps the wrong kind, so a
    // checker can see it; typed rightly, it is a bad parameter.
    let error = build_error("test-stage behaviour=mistyped-param-error level=twelve");
    assert!(
        matches!(
            &error,
            Error::StageFailed {
                failure: StageFailure::Rejected {
                    kind: StageErrorKind::Internal,
                    ..
                },
                ..
            }
        ),
        "{error:?}"
    );
    let error = build_error("test-stage level=twelve");
    let Error::BadParameter { stage, message } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(stage, "test-stage");
    assert_eq!(message, "level: expected a whole number, got \"twelve\"");
}

#[test]
fn ill_typed_values_are_refused_with_the_stages_own_message() {
    for (launch, expected) in [
        ("scale width=abc", "width"),
        ("redact mode=smudge", "mode"),
        ("redact rect=1,2,3", "rect"),
        ("test-stage behaviour=explode", "behaviour"),
    ] {
        let error = build_error(launch);
        let Error::BadParameter { stage, message } = &error else {
            panic!("{launch}: {error:?}")
        };
        assert_eq!(stage, launch.split(' ').next().unwrap());
        assert!(message.contains(expected), "{launch}: {message}");
        assert!(!error.to_string().contains('\n'));
    }
}

#[test]
fn unknown_stages_name_the_built_in_ones() {
    let error = build_error("sharpen amount=3");
    let text = error.to_string();
    assert!(
        text.starts_with("unknown stage \"sharpen\" (built-in stages: "),
        "{text}"
    );
    assert!(text.contains("redact") && text.contains("scale"), "{text}");
}

#[test]
fn a_file_that_is_not_a_component_is_refused() {
    let dir = std::env::temp_dir().join(format!("framechain-notwasm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fake.wasm");
    std::fs::write(&path, b"\0asm but not really").unwrap();
    let error = build_error(&format!("{}", path.display()));
    assert!(matches!(error, Error::InvalidComponent { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("is not a framechain stage component"),
        "{error}"
    );
}
