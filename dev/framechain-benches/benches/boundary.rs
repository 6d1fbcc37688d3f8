//! What crossing the sandbox boundary costs: one 1080p Y plane (2,073,600
//! bytes) read into a stage's memory, read and written back, next to a
//! plain memcpy of the same bytes, and a push that copies nothing.

use criterion::{Criterion, criterion_group, criterion_main};
use framechain::Plane;
use framechain_benches::{engine, frame_1080p, push_one, session};

fn boundary(c: &mut Criterion) {
    let mut group = c.benchmark_group("boundary_1080p_luma_plane");
    let source = frame_1080p();
    let plane = source.plane(Plane::Y).to_vec();
    let mut copy = vec![0u8; plane.len()];
    group.bench_function("native_memcpy", |b| {
        b.iter(|| copy.copy_from_slice(std::hint::black_box(&plane)))
    });

    let engine = engine();
    for behaviour in ["passthrough", "read-plane", "roundtrip"] {
        let mut stage = session(&engine, &format!("test-stage behaviour={behaviour}"));
        let mut frame = Some(source.clone());
        group.bench_function(format!("wasm_{behaviour}"), |b| {
            b.iter(|| {
                let out = push_one(&mut stage, frame.take().unwrap());
                frame = Some(out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, boundary);
criterion_main!(benches);
