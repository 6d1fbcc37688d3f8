//! Starting a session of `redact ! scale` (two stage instances, each with
//! its own store and linear memory, plus their `create` calls): with
//! wasmtime's on-demand allocator and with the pooling allocator.

use criterion::{Criterion, criterion_group, criterion_main};
use framechain::{ChainSpec, Engine, EngineConfig, Pipeline};

fn session_start(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_start_redact_scale");
    let chain =
        ChainSpec::parse_launch("redact rect=100,100,400,200 ! scale width=1280 height=720")
            .unwrap();
    for (name, pooling) in [("on_demand", None), ("pooling", Some(256))] {
        let registry = framechain_benches::engine().registry().clone();
        let engine = Engine::new(EngineConfig {
            pooling,
            registry,
            ..EngineConfig::default()
        })
        .unwrap();
        let pipeline = Pipeline::build(&engine, &chain).unwrap();
        group.bench_function(name, |b| b.iter(|| pipeline.start_session().unwrap()));
    }
    group.finish();
}

criterion_group!(benches, session_start);
criterion_main!(benches);
