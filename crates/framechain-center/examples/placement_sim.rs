//! How long placing 1000 rooms on 50 pods takes (the pure placement, as
//! the centre runs it inside its transaction): three runs and their median.
//!
//! `cargo run --release --workspace --example placement_sim` is not allowed
//! on the shared machine; build it with the tests and run
//! `target/release/examples/placement_sim`.

use std::time::Instant;

fn main() {
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let (_, outcome) = framechain_center::placement::simulate(1000, 50);
        let elapsed = started.elapsed();
        assert!(outcome.iter().all(|(_, node)| node.is_some()));
        times.push(elapsed);
    }
    times.sort();
    println!(
        "placed 1000 rooms on 50 pods: median of 3 runs {:.2} ms ({:.1} µs a room); runs {:?}",
        times[1].as_secs_f64() * 1e3,
        times[1].as_secs_f64() * 1e6 / 1000.0,
        times
    );
}
