//! A crash in the middle of an append leaves a torn last record: opening
//! the spool cuts it off and the chain goes on from the record before.

use std::fs::{self, OpenOptions};
use std::time::Duration;

use framechain_events::{EventLog, SpoolError};
use framechain_test_support::services::{RedisServer, temp_folder};

use crate::common::{assert_chain, joined, runtime, stop_switch, stream_entries};

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("seg-")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_torn_tail_is_cut_off_at_open() {
    let dir = temp_folder("framechain-events-torn");
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    let chain = log.chain();
    let mut ids: Vec<_> = (0..5)
        .map(|n| log.record(None, None, joined(n)).unwrap())
        .collect();
    drop(log);
    // The last record was half written when the pod died.
    let last = segments(&dir).pop().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    let torn = ids.pop().unwrap();
    let file = OpenOptions::new().write(true).open(&last).unwrap();
    file.set_len(len - 40).unwrap();
    drop(file);

    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    assert_eq!(log.chain(), chain);
    assert_eq!(log.pending(), 4, "the torn record is gone, the rest kept");
    ids.push(log.record(None, None, joined(5)).unwrap());
    // The cut is on disk: the old segment, no longer the last, opens clean.
    drop(log);
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    assert_eq!(log.pending(), 5);

    let redis = RedisServer::start();
    let rt = runtime();
    let (_stop, stop_rx) = stop_switch();
    rt.block_on(async {
        let _shipper = log.ship(&redis.url(), stop_rx);
        assert!(log.flush_shipping(Duration::from_secs(10)).await);
        let entries = stream_entries(&redis.url()).await;
        assert!(entries.iter().all(|entry| entry.id != torn));
        // The new record takes the torn one's seq and links to the one
        // before it.
        assert_chain(&entries, chain, &ids);
    });
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn damage_before_the_tail_is_an_error_not_a_cut() {
    let dir = temp_folder("framechain-events-damaged");
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    for n in 0..3 {
        log.record(None, None, joined(n)).unwrap();
    }
    drop(log);
    // A reopen starts a new segment, so the first is no longer the tail.
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    log.record(None, None, joined(3)).unwrap();
    drop(log);
    let first = segments(&dir).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    bytes[100] ^= 0x01;
    fs::write(&first, bytes).unwrap();

    let error = EventLog::open(&dir, 1 << 20, "pod-a").unwrap_err();
    assert!(matches!(error, SpoolError::Corrupt { .. }), "{error}");
    let line = error.to_string();
    assert!(line.contains("CRC") && !line.contains('\n'), "{line}");
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_last_record_that_fails_its_crc_is_cut_but_one_with_records_after_it_is_damage() {
    let dir = temp_folder("framechain-events-crc");
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    let frame_starts: Vec<u64> = (0..3)
        .map(|n| {
            let before = log.spool_bytes();
            log.record(None, None, joined(n)).unwrap();
            before
        })
        .collect();
    drop(log);
    let segment = segments(&dir).pop().unwrap();

    // The last frame's body half reached the disk: same length, bad CRC.
    let mut bytes = fs::read(&segment).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x20;
    fs::write(&segment, &bytes).unwrap();
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    assert_eq!(log.pending(), 2, "the torn last record is cut");
    assert_eq!(log.spool_bytes(), frame_starts[2]);
    drop(log);
    fs::remove_dir_all(&dir).unwrap();

    // A new spool whose first frame is bad with whole records after it:
    // not a tear.
    let log = EventLog::open(&dir, 1 << 20, "pod-a").unwrap();
    for n in 0..3 {
        log.record(None, None, joined(n)).unwrap();
    }
    drop(log);
    let segment = segments(&dir).pop().unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    bytes[frame_starts[0] as usize + 200] ^= 0x20;
    fs::write(&segment, &bytes).unwrap();
    let error = EventLog::open(&dir, 1 << 20, "pod-a").unwrap_err();
    assert!(matches!(error, SpoolError::Corrupt { .. }), "{error}");
    fs::remove_dir_all(&dir).ok();
}
