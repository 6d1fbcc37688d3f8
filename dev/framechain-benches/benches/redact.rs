//! `redact` of a 400x200 area of a 1080p frame, per mode: the kernels
//! natively on the area, and the stage in wasm (area read across the
//! boundary, processed, written back; fill crosses with no samples at all).

use criterion::{Criterion, criterion_group, criterion_main};
use framechain::{Plane, Rect};
use framechain_benches::{engine, frame_1080p, push_one, session};
use framechain_redact::kernel::{blur, pixelate};

const AREA: Rect = Rect {
    x: 100,
    y: 100,
    width: 400,
    height: 200,
};

fn redact_1080p(c: &mut Criterion) {
    let mut group = c.benchmark_group("redact_1080p_400x200");
    let source = frame_1080p();
    let luma_area = source.read_rect(Plane::Y, AREA).unwrap();
    let chroma_rect = Rect {
        x: AREA.x / 2,
        y: AREA.y / 2,
        width: AREA.width / 2,
        height: AREA.height / 2,
    };
    let chroma_area = source.read_rect(Plane::U, chroma_rect).unwrap();

    group.bench_function("native_pixelate", |b| {
        b.iter_batched(
            || (luma_area.clone(), chroma_area.clone(), chroma_area.clone()),
            |(mut y, mut u, mut v)| {
                pixelate(&mut y, 400, 200, 400, 16).unwrap();
                pixelate(&mut u, 200, 100, 200, 8).unwrap();
                pixelate(&mut v, 200, 100, 200, 8).unwrap();
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("native_blur", |b| {
        b.iter_batched(
            || (luma_area.clone(), chroma_area.clone(), chroma_area.clone()),
            |(mut y, mut u, mut v)| {
                blur(&mut y, 400, 200, 400, 16).unwrap();
                blur(&mut u, 200, 100, 200, 8).unwrap();
                blur(&mut v, 200, 100, 200, 8).unwrap();
            },
            criterion::BatchSize::SmallInput,
        )
    });

    let engine = engine();
    for mode in ["fill", "pixelate", "blur"] {
        let mut stage = session(&engine, &format!("redact rect=100,100,400,200 mode={mode}"));
        let mut frame = Some(source.clone());
        group.bench_function(format!("wasm_{mode}"), |b| {
            b.iter(|| {
                // redact hands the same frame back: no copy of the picture.
                let out = push_one(&mut stage, frame.take().unwrap());
                frame = Some(out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, redact_1080p);
criterion_main!(benches);
