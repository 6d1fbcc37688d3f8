//! `scale` 1920x1080 -> 1280x720 per frame: the kernel compiled natively,
//! and the stage in wasm (read planes, scale, new frame, write planes).

use criterion::{Criterion, criterion_group, criterion_main};
use framechain::Plane;
use framechain_benches::{HEIGHT, WIDTH, engine, frame_1080p, session};
use framechain_scale::kernel::{I420Scaler, Method, PlaneShape, chroma_size};

fn scale_1080p_to_720p(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale_1080p_to_720p");
    let source = frame_1080p();

    for (name, method) in [("bilinear", Method::Bilinear), ("area", Method::Area)] {
        let mut scaler =
            I420Scaler::new(method, (WIDTH as usize, HEIGHT as usize), (1280, 720)).unwrap();
        let (cw, ch) = chroma_size((1280, 720));
        let (mut y, mut u, mut v) = (
            vec![0u8; 1280 * 720],
            vec![0u8; cw * ch],
            vec![0u8; cw * ch],
        );
        group.bench_function(format!("native_{name}"), |b| {
            b.iter(|| {
                scaler
                    .scale(
                        [
                            source.plane(Plane::Y),
                            source.plane(Plane::U),
                            source.plane(Plane::V),
                        ],
                        [
                            (&mut y[..], PlaneShape::tight(1280, 720)),
                            (&mut u[..], PlaneShape::tight(cw, ch)),
                            (&mut v[..], PlaneShape::tight(cw, ch)),
                        ],
                    )
                    .unwrap()
            })
        });

        let engine = engine();
        let mut stage = session(
            &engine,
            &format!("scale width=1280 height=720 method={name}"),
        );
        group.bench_function(format!("wasm_{name}"), |b| {
            b.iter_batched(
                || source.clone(),
                |frame| stage.push(framechain::Media::Frame(frame)).unwrap(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, scale_1080p_to_720p);
criterion_main!(benches);
