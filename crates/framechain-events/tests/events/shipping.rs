//! Records are kept, shipped in order, each once, and link into one chain.

use std::time::Duration;

use framechain_events::EventLog;
use framechain_test_support::services::{RedisServer, temp_folder};

use crate::common::{assert_chain, eventually, joined, runtime, stop_switch, stream_entries};

#[test]
fn records_ship_in_order_once_and_link() {
    let redis = RedisServer::start();
    let dir = temp_folder("framechain-events-ship");
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    let rt = runtime();
    let (stop, stop_rx) = stop_switch();
    let shipper = {
        let _in_runtime = rt.enter();
        log.ship(&redis.url(), stop_rx)
    };

    // More than one pipeline's worth, some before and some after the
    // shipper is idle.
    let mut ids: Vec<_> = (0..300)
        .map(|n| {
            log.record(Some("room-1"), Some("dr-who"), joined(n))
                .unwrap()
        })
        .collect();
    rt.block_on(async {
        assert!(log.flush_shipping(Duration::from_secs(10)).await, "shipped");
    });
    ids.extend((300..310).map(|n| log.record(Some("room-1"), None, joined(n)).unwrap()));
    rt.block_on(async {
        assert!(log.flush_shipping(Duration::from_secs(10)).await, "shipped");
        let entries = stream_entries(&redis.url()).await;
        assert_chain(&entries, log.chain(), &ids);
        assert_eq!(entries[0].event.pod, "pod-a");
        assert_eq!(entries[0].event.room.as_deref(), Some("room-1"));
        assert_eq!(entries[0].event.participant.as_deref(), Some("dr-who"));
        assert_eq!(entries[0].event.what, joined(0));
        // Shipped space is freed.
        assert!(eventually(Duration::from_secs(2), || async { log.spool_bytes() == 0 }).await);
        stop.send(true).unwrap();
        shipper.await.unwrap();
    });
    assert_eq!(log.pending(), 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn stop_ships_the_backlog_before_ending() {
    let redis = RedisServer::start();
    let dir = temp_folder("framechain-events-stop");
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    let ids: Vec<_> = (0..50)
        .map(|n| log.record(None, None, joined(n)).unwrap())
        .collect();
    let rt = runtime();
    let (stop, stop_rx) = stop_switch();
    // Stopped before it sent anything: it still sends what is there.
    stop.send(true).unwrap();
    rt.block_on(async {
        log.ship(&redis.url(), stop_rx).await.unwrap();
        assert_eq!(log.pending(), 0);
        assert_chain(&stream_entries(&redis.url()).await, log.chain(), &ids);
    });
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn long_untrusted_text_is_cut_to_one_line() {
    let dir = temp_folder("framechain-events-cut");
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    let redis = RedisServer::start();
    let hostile = format!("evil\n\u{1b}[31m{}", "x".repeat(10_000));
    log.record(
        Some(&hostile),
        Some(&hostile),
        framechain_events::EventKind::PodStopping {
            reason: hostile.clone(),
        },
    )
    .unwrap();
    let rt = runtime();
    let (_stop, stop_rx) = stop_switch();
    rt.block_on(async {
        let _shipper = log.ship(&redis.url(), stop_rx);
        assert!(log.flush_shipping(Duration::from_secs(10)).await);
        let entries = stream_entries(&redis.url()).await;
        let event = &entries[0].event;
        for text in [
            event.room.as_deref().unwrap(),
            event.participant.as_deref().unwrap(),
        ] {
            assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text}");
            assert!(
                text.chars().count() < 300,
                "cut: {} chars",
                text.chars().count()
            );
        }
        assert!(entries[0].sealed.body.len() < 2000);
    });
    std::fs::remove_dir_all(&dir).ok();
}
