//! How many audit records per second one pod can keep, each fsynced before
//! `record` returns (the cost a join pays for its record).
//!
//! ```text
//! cargo test --release --workspace --no-run   # builds the examples too
//! target/release/examples/record_rate [COUNT] [FOLDER]
//! ```
//!
//! FOLDER defaults to a new folder under the system's temporary folder;
//! put it on the disk the pods' spool will use, since fsync speed is the
//! disk's.

use std::time::Instant;

use framechain_events::{Action, EventKind, EventLog};

fn main() {
    let mut args = std::env::args().skip(1);
    let count: u32 = args
        .next()
        .map(|text| text.parse().expect("COUNT is a number"))
        .unwrap_or(2000);
    let dir = args.next().map(Into::into).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("framechain-record-rate-{}", uuid::Uuid::now_v7()))
    });
    let log = EventLog::open(&dir, 1 << 30, "bench-pod").expect("open the spool");
    let start = Instant::now();
    for n in 0..count {
        log.record(
            Some("room-1"),
            Some("clinician-7"),
            EventKind::ParticipantJoined {
                action: Action::Watch,
                role: "clinician".into(),
                address: format!("10.0.0.{}:{}", n % 250, 40000 + n % 20000),
                stream: "room-1/patient".into(),
                pipeline_digest: "forward".into(),
                decision: "allow: clinician watches patient".into(),
            },
        )
        .expect("record");
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{count} records in {seconds:.3} s: {:.0} records/s ({:.3} ms each), spool {} bytes in {}",
        f64::from(count) / seconds,
        seconds * 1000.0 / f64::from(count),
        log.spool_bytes(),
        dir.display()
    );
    drop(log);
    std::fs::remove_dir_all(&dir).ok();
}
