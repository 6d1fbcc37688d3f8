//! Redis goes away for a while: the records made meanwhile wait in the
//! spool and ship, all of them, in order, when it returns.

use std::time::Duration;

use framechain_events::EventLog;
use framechain_test_support::services::{RedisServer, temp_folder};

use crate::common::{assert_chain, eventually, joined, runtime, stop_switch, stream_entries};

#[test]
fn records_made_while_redis_is_away_ship_when_it_returns() {
    let mut redis = RedisServer::start();
    let dir = temp_folder("framechain-events-outage");
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    let rt = runtime();
    let (stop, stop_rx) = stop_switch();
    let shipper = {
        let _in_runtime = rt.enter();
        log.ship(&redis.url(), stop_rx)
    };
    let mut ids: Vec<_> = (0..20)
        .map(|n| log.record(None, None, joined(n)).unwrap())
        .collect();
    rt.block_on(async { assert!(log.flush_shipping(Duration::from_secs(10)).await) });

    redis.stop();
    // Records go on being made, one every 50 ms for 3 s, all kept.
    for n in 20..80 {
        ids.push(log.record(None, None, joined(n)).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(log.pending(), 60, "kept in the spool while Redis is away");
    redis.start_again();

    rt.block_on(async {
        // The shipper's backoff is at most 5 s.
        assert!(
            log.flush_shipping(Duration::from_secs(15)).await,
            "shipped after Redis returned"
        );
        assert_chain(&stream_entries(&redis.url()).await, log.chain(), &ids);
        assert!(eventually(Duration::from_secs(2), || async { log.spool_bytes() == 0 }).await);
        stop.send(true).unwrap();
        shipper.await.unwrap();
    });
    std::fs::remove_dir_all(&dir).ok();
}
