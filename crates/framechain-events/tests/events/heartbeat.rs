//! The heartbeat key appears with its expiry and vanishes on stop.

use std::collections::BTreeMap;
use std::time::Duration;

use framechain_events::PodStatus;
use framechain_events::pod::{HEARTBEAT_TTL_MS, PODS_SET};
use framechain_test_support::services::RedisServer;

use crate::common::{eventually, runtime, stop_switch};

fn status() -> PodStatus {
    PodStatus {
        node: "pod-a".into(),
        address: "http://127.0.0.1:8081".into(),
        capacity: 10,
        load: 2,
        calls: 3,
        ready: true,
        draining: false,
        labels: BTreeMap::from([("region".to_owned(), "eu-west".to_owned())]),
        version: "0.1.0".into(),
        time_ms: 1,
    }
}

#[test]
fn the_heartbeat_key_lives_with_a_ttl_and_goes_on_stop() {
    let redis = RedisServer::start();
    let rt = runtime();
    let (stop, stop_rx) = stop_switch();
    rt.block_on(async {
        let client = redis::Client::open(redis.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let key = PodStatus::key("pod-a");
        let beating = framechain_events::heartbeat(&redis.url(), status, stop_rx);

        let mut c = connection.clone();
        let k = key.clone();
        assert!(
            eventually(Duration::from_secs(3), move || {
                let mut c = c.clone();
                let k = k.clone();
                async move {
                    redis::cmd("EXISTS")
                        .arg(&k)
                        .query_async::<bool>(&mut c)
                        .await
                        .unwrap()
                }
            })
            .await,
            "the key appears"
        );
        let json: String = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(serde_json::from_str::<PodStatus>(&json).unwrap(), status());
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(ttl > 0 && ttl <= HEARTBEAT_TTL_MS as i64, "PTTL {ttl}");
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(PODS_SET)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(members, ["pod-a"]);

        // It is renewed: after two beats the TTL is still near full.
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(ttl > HEARTBEAT_TTL_MS as i64 - 1500, "renewed: PTTL {ttl}");

        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(3), beating)
            .await
            .unwrap()
            .unwrap();
        c = connection.clone();
        let exists: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(!exists, "a clean stop deletes the key at once");
    });
}

#[test]
fn the_heartbeat_comes_back_after_redis_does() {
    let mut redis = RedisServer::start();
    let rt = runtime();
    let (stop, stop_rx) = stop_switch();
    let key = PodStatus::key("pod-a");
    let exists = |url: String, key: String| async move {
        let client = redis::Client::open(url).unwrap();
        match client.get_multiplexed_async_connection().await {
            Ok(mut c) => redis::cmd("EXISTS")
                .arg(&key)
                .query_async::<bool>(&mut c)
                .await
                .unwrap_or(false),
            Err(_) => false,
        }
    };
    let beating = {
        let _in_runtime = rt.enter();
        framechain_events::heartbeat(&redis.url(), status, stop_rx)
    };
    rt.block_on(async {
        assert!(eventually(Duration::from_secs(3), || exists(redis.url(), key.clone())).await);
    });
    // Redis restarts without the key (its data folder keeps it, so delete
    // it first): only a heartbeat that kept trying writes it again.
    rt.block_on(async {
        redis.stop();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        redis.start_again();
        let client = redis::Client::open(redis.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(
            eventually(Duration::from_secs(4), || exists(redis.url(), key.clone())).await,
            "the heartbeat is back within a few beats"
        );
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(3), beating)
            .await
            .unwrap()
            .unwrap();
    });
}
