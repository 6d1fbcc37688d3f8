//! The pod dies with records in its spool; started again on the same
//! folder, its chain goes on where it was and the old records ship.

use std::time::Duration;

use framechain_events::EventLog;
use framechain_test_support::services::{RedisServer, temp_folder};

use crate::common::{assert_chain, joined, runtime, stop_switch, stream_entries};

#[test]
fn a_restart_on_the_same_folder_continues_the_chain_and_ships_the_rest() {
    let mut redis = RedisServer::start();
    let dir = temp_folder("framechain-events-restart");
    let rt = runtime();

    // First life: some records shipped, then Redis goes away and more are
    // made; the pod dies with them in its spool.
    let first = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    let chain = first.chain();
    let (stop, stop_rx) = stop_switch();
    let shipper = {
        let _in_runtime = rt.enter();
        first.ship(&redis.url(), stop_rx)
    };
    let mut ids: Vec<_> = (0..10)
        .map(|n| first.record(None, None, joined(n)).unwrap())
        .collect();
    rt.block_on(async { assert!(first.flush_shipping(Duration::from_secs(10)).await) });
    redis.stop();
    ids.extend((10..25).map(|n| first.record(None, None, joined(n)).unwrap()));
    let last_before = {
        stop.send(true).unwrap();
        rt.block_on(shipper).unwrap();
        assert_eq!(first.pending(), 15, "unshipped when the pod dies");
        drop(first);
        ids.len()
    };

    // Second life on the same folder.
    let second = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    assert_eq!(second.chain(), chain, "the same chain");
    assert_eq!(second.pending(), 15, "the old records wait to ship");
    ids.extend((25..30).map(|n| second.record(None, None, joined(n)).unwrap()));
    redis.start_again();
    let (stop, stop_rx) = stop_switch();
    rt.block_on(async {
        let shipper = second.ship(&redis.url(), stop_rx);
        assert!(second.flush_shipping(Duration::from_secs(10)).await);
        stop.send(true).unwrap();
        shipper.await.unwrap();
        let entries = stream_entries(&redis.url()).await;
        // One chain from seq 0: the record after the restart has seq 25 and
        // links to the last one of the first life.
        assert_chain(&entries, chain, &ids);
        assert_eq!(entries[last_before].event.seq, 25);
    });
    // A third life after everything shipped (the segments are gone): the
    // cursor alone carries the chain on.
    // One process per folder: a second open while it is open is refused.
    assert!(matches!(
        EventLog::open(&dir, 1 << 20, "pod-b"),
        Err(framechain_events::SpoolError::InUse { .. })
    ));
    drop(second);
    let third = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    assert_eq!(third.chain(), chain);
    assert_eq!(third.pending(), 0);
    ids.push(third.record(None, None, joined(30)).unwrap());
    let (_stop, stop_rx) = stop_switch();
    rt.block_on(async {
        let _shipper = third.ship(&redis.url(), stop_rx);
        assert!(third.flush_shipping(Duration::from_secs(10)).await);
        assert_chain(&stream_entries(&redis.url()).await, chain, &ids);
    });
    std::fs::remove_dir_all(&dir).ok();
}
