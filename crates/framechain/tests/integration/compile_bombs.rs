//! Compile bombs (issue 17, finding 3): a stage's code is checked against
//! static caps before anything is compiled, every core module counted, and
//! concurrent loads of one stage compile it once. The compile worker (the
//! deadline and the memory limit) needs an executable that installed
//! `framechain::compile_worker_main`, so it is tested through the CLI
//! (crates/framechain-cli/tests/cli/compile_bombs.rs); this test binary compiles in process.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use framechain::{CompileLimit, Engine, EngineConfig, Error};

use crate::compile_bomb_gen;
use crate::support;

/// An empty scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "framechain-compile-bombs-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write the component");
    path.to_str().expect("a UTF-8 path").to_owned()
}

fn limit_of(error: Error) -> CompileLimit {
    match error {
        Error::CompileLimit { limit, .. } => limit,
        other => panic!("expected a compile limit, got: {other}"),
    }
}

#[test]
fn a_function_over_the_size_cap_is_refused_before_compiling() {
    let dir = scratch("function-size");
    // One 3 MiB straight-line function: compiling it takes seconds and
    // hundreds of MiB (docs/security.md); the default cap is 2 MiB.
    let bomb = write(&dir, "bomb.wasm", &compile_bomb_gen::component(1, 3 << 20));
    let engine = support::engine();
    let start = Instant::now();
    let error = engine.load_stage(&bomb).err().expect("refused");
    let took = start.elapsed();
    let shown = error.to_string();
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(shown.contains("max_function_bytes"), "{shown}");
    match limit_of(error) {
        CompileLimit::FunctionBytes { index, bytes, max } => {
            assert_eq!(index, 0);
            assert!(bytes > 3_000_000, "{bytes}");
            assert_eq!(max, framechain::DEFAULT_MAX_FUNCTION_BYTES);
        }
        other => panic!("expected the function size cap, got: {other}"),
    }
    assert_eq!(engine.compiles(), 0, "nothing was compiled");
    // Reading and scanning 3 MiB; compiling it would take seconds.
    assert!(took < Duration::from_secs(1), "{took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn function_count_and_total_code_are_counted_over_every_nested_module() {
    let dir = scratch("totals");
    // Three modules of 40 small functions and 40 KiB of code each: every
    // module alone is under the caps below, the component is not.
    let module = compile_bomb_gen::core_module(40, 1000);
    let three = compile_bomb_gen::wrap_in_component(&[&module, &module, &module]);
    let path = write(&dir, "three.wasm", &three);
    let capped = |max_functions, max_code_bytes| {
        Engine::new(EngineConfig {
            max_functions,
            max_code_bytes,
            ..support::config()
        })
        .expect("engine")
    };
    let engine = capped(100, usize::MAX);
    match limit_of(engine.load_stage(&path).err().expect("refused")) {
        CompileLimit::Functions { count, max } => assert_eq!((count, max), (120, 100)),
        other => panic!("expected the function count cap, got: {other}"),
    }
    let engine = capped(usize::MAX, 100_000);
    match limit_of(engine.load_stage(&path).err().expect("refused")) {
        CompileLimit::CodeBytes { bytes, max } => {
            assert!(bytes > 100_000 && bytes < 120_000, "{bytes}");
            assert_eq!(max, 100_000);
        }
        other => panic!("expected the total code cap, got: {other}"),
    }
    assert_eq!(engine.compiles(), 0);
    // Under both caps the same file is compiled, and refused for what it
    // is: not a framechain stage.
    let engine = capped(120, 130_000);
    match engine.load_stage(&path).err().expect("not a stage") {
        Error::InvalidComponent { .. } => {}
        other => panic!("expected an invalid component, got: {other}"),
    }
    assert_eq!(engine.compiles(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_real_stages_are_far_below_the_default_caps() {
    // The defaults were set from these stages, the Python stage (CPython's
    // interpreter loop) being the largest; each stays under a quarter of
    // every cap, so a stage may grow a lot before it needs a larger cap.
    let registry = support::config().registry;
    let names = [
        "python-invert-box",
        "js-invert-box",
        "decode-h264",
        "encode-h264",
        "parse-h264",
        "redact",
        "scale",
        "invert-box",
    ];
    for name in names {
        let path = registry.resolve(name).expect("built stage");
        let wasm = std::fs::read(&path).expect("stage component");
        let size = framechain::code_size(&wasm).expect("a component");
        println!(
            "{name}: {} functions, largest {} bytes, {} bytes of code",
            size.functions, size.largest_function, size.code_bytes
        );
        assert!(size.functions > 0, "{name}");
        assert!(
            size.functions < framechain::DEFAULT_MAX_FUNCTIONS / 4,
            "{name}: {size:?}"
        );
        assert!(
            size.largest_function < framechain::DEFAULT_MAX_FUNCTION_BYTES / 4,
            "{name}: {size:?}"
        );
        assert!(
            size.code_bytes < framechain::DEFAULT_MAX_CODE_BYTES / 3,
            "{name}: {size:?}"
        );
    }
}

#[test]
fn concurrent_loads_of_one_stage_compile_it_once() {
    let dir = scratch("concurrent");
    // Four paths, one content: the engine keeps loaded stages by path, so
    // each load reaches the compiler; the content is compiled once.
    let wasm = std::fs::read(
        support::config()
            .registry
            .resolve("test-stage")
            .expect("built stage"),
    )
    .expect("stage component");
    let paths: Vec<String> = (0..4)
        .map(|n| write(&dir, &format!("copy-{n}.wasm"), &wasm))
        .collect();
    let engine = support::engine();
    let barrier = Arc::new(Barrier::new(paths.len()));
    let loads: Vec<_> = paths
        .iter()
        .cloned()
        .map(|path| {
            let (engine, barrier) = (engine.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                engine
                    .load_stage(&path)
                    .map(|stage| stage.digest().to_owned())
            })
        })
        .collect();
    for load in loads {
        load.join().expect("no panic").expect("the stage loads");
    }
    assert_eq!(engine.compiles(), 1);

    // With a cache folder, a second engine (another process, a restart)
    // takes the first one's work.
    let cache = dir.join("cache");
    let caching = || {
        Engine::new(EngineConfig {
            cache_dir: Some(cache.clone()),
            ..support::config()
        })
        .expect("engine")
    };
    let first = caching();
    first.load_stage(&paths[0]).expect("loads");
    assert_eq!(first.compiles(), 1);
    let second = caching();
    second.load_stage(&paths[1]).expect("loads");
    assert_eq!(second.compiles(), 0, "taken from the cache");
    let _ = std::fs::remove_dir_all(&dir);
}
