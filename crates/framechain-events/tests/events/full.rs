//! A full spool refuses records (the join that needed one is refused), and
//! takes them again once shipped space is freed.

use std::time::Duration;

use framechain_events::{EventLog, SpoolError};
use framechain_test_support::services::{RedisServer, temp_folder};

use crate::common::{assert_chain, eventually, joined, runtime, stop_switch, stream_entries};

const MAX_BYTES: u64 = 8 * 1024;

#[test]
fn a_full_spool_refuses_and_takes_records_again_once_shipped() {
    let mut redis = RedisServer::start();
    redis.stop();
    let dir = temp_folder("framechain-events-full");
    let log = EventLog::open(&dir, MAX_BYTES, "pod-a").unwrap();
    let mut ids = Vec::new();
    let full = loop {
        match log.record(None, None, joined(ids.len() as u32)) {
            Ok(id) => ids.push(id),
            Err(error) => break error,
        }
        assert!(ids.len() < 1000, "an 8 KiB spool fills");
    };
    assert!(matches!(full, SpoolError::Full { .. }), "{full}");
    assert!(ids.len() > 5, "{} records fit", ids.len());
    assert!(log.spool_bytes() <= MAX_BYTES);
    assert!(!full.to_string().contains('\n'));
    // Still full on the next try: nothing has shipped.
    assert!(matches!(
        log.record(None, None, joined(0)),
        Err(SpoolError::Full { .. })
    ));

    redis.start_again();
    let rt = runtime();
    let (_stop, stop_rx) = stop_switch();
    rt.block_on(async {
        let _shipper = log.ship(&redis.url(), stop_rx);
        assert!(log.flush_shipping(Duration::from_secs(10)).await);
        assert!(
            eventually(Duration::from_secs(2), || async {
                log.capacity_left() == MAX_BYTES
            })
            .await
        );
        ids.push(
            log.record(None, None, joined(999))
                .expect("room again after shipping"),
        );
        assert!(log.flush_shipping(Duration::from_secs(10)).await);
        assert_chain(&stream_entries(&redis.url()).await, log.chain(), &ids);
    });
    std::fs::remove_dir_all(&dir).ok();
}
