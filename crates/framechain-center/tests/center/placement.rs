//! Placement, redirects with tickets, failover: a real centre (its HTTP
//! server, its loop) on a real PostgreSQL and Redis. Pods are registered
//! by writing their heartbeat keys as a pod does (registrations without
//! media, as the issue allows for placement).

use framechain_test_support::prometheus::{Sample, value_of};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use framechain_center::placement::simulated_pod as pod;
use framechain_center::{CenterSettings, RunningCenter};
use framechain_events::PodStatus;
use framechain_events::pod::{
    HEARTBEAT_TTL_MS, PLACEMENT_HASH, PODS_SET, ROOMS_HASH, TICKET_KEYS_KEY,
};
use framechain_identity::Verifier;
use framechain_identity::tools::{KeyKind, TokenRequest, make_token, new_keys};
use framechain_test_support::services::{Postgres, RedisServer, temp_folder};

const ADMIN_TOKEN: &str = "admin-token-0123456789";

/// Unix seconds now.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// PostgreSQL, Redis, the clinic's keys and a centre; pods beat from a task
/// every 500 ms while they are in `pods`.
struct World {
    runtime: tokio::runtime::Runtime,
    postgres: Postgres,
    redis: RedisServer,
    dir: PathBuf,
    clinic_key: PathBuf,
    settings: CenterSettings,
    centers: Vec<RunningCenter>,
    pods: Arc<Mutex<Vec<PodStatus>>>,
}

impl World {
    fn new() -> World {
        World::with_rooms_file(None)
    }

    /// A world whose centre reads (and watches) `rooms`.
    fn with_rooms_file(rooms: Option<PathBuf>) -> World {
        let postgres = Postgres::start();
        let redis = RedisServer::start();
        let dir = temp_folder("framechain-center-test");
        let clinic = new_keys(&dir.join("clinic"), KeyKind::Ed25519).unwrap();
        let tickets = new_keys(&dir.join("tickets"), KeyKind::P256).unwrap();
        let admin = dir.join("admin-token");
        std::fs::write(&admin, ADMIN_TOKEN).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let settings = CenterSettings {
            http: "127.0.0.1:0".parse().unwrap(),
            redis: redis.url(),
            postgres: postgres.url(),
            keys: clinic.jwks,
            audience: "framechain".into(),
            admin_token_file: admin,
            ticket_key: Some(tickets.private),
            rooms,
            name: "center-1".into(),
            migrate: true,
        };
        let pods = Arc::new(Mutex::new(Vec::<PodStatus>::new()));
        let beating = pods.clone();
        let url = redis.url();
        runtime.spawn(async move {
            let client = redis::Client::open(url).unwrap();
            let mut connection = None;
            loop {
                if connection.is_none() {
                    connection = client.get_multiplexed_async_connection().await.ok();
                }
                let statuses = beating.lock().unwrap().clone();
                if let Some(connection) = connection.as_mut() {
                    for status in statuses {
                        let _: Result<(), _> = redis::pipe()
                            .cmd("SET")
                            .arg(PodStatus::key(&status.node))
                            .arg(serde_json::to_string(&status).unwrap())
                            .arg("PX")
                            .arg(HEARTBEAT_TTL_MS)
                            .ignore()
                            .sadd(PODS_SET, &status.node)
                            .ignore()
                            .query_async(connection)
                            .await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let mut world = World {
            runtime,
            postgres,
            redis,
            clinic_key: clinic.private,
            dir,
            settings,
            centers: Vec::new(),
            pods,
        };
        world.start_center("center-1");
        world
    }

    fn start_center(&mut self, name: &str) -> String {
        let mut settings = self.settings.clone();
        settings.name = name.into();
        let running = self
            .runtime
            .block_on(framechain_center::start(settings))
            .unwrap();
        let base = format!("http://{}", running.address);
        self.centers.push(running);
        base
    }

    fn base(&self) -> String {
        format!("http://{}", self.centers[0].address)
    }

    /// Registers (or updates) pods and waits until they beat.
    fn beat(&self, pods: &[PodStatus]) {
        {
            let mut beating = self.pods.lock().unwrap();
            for pod in pods {
                beating.retain(|other| other.node != pod.node);
                beating.push(pod.clone());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let present = pods.iter().all(|pod| {
                self.redis_get(&PodStatus::key(&pod.node)).as_deref()
                    == Some(&*serde_json::to_string(pod).unwrap())
            });
            if present {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the heartbeats did not land");
    }

    /// Kills a pod: it beats no more, and its key is deleted.
    fn kill_pod(&self, node: &str) {
        self.pods.lock().unwrap().retain(|pod| pod.node != node);
        // A beat that read the list before may still be writing.
        std::thread::sleep(Duration::from_millis(600));
        let _: i64 = self.redis_command(redis::cmd("DEL").arg(PodStatus::key(node)));
    }

    fn redis_command<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> T {
        let url = self.redis.url();
        self.runtime.block_on(async move {
            let client = redis::Client::open(url).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            command.query_async(&mut connection).await.unwrap()
        })
    }

    fn redis_get(&self, key: &str) -> Option<String> {
        self.redis_command(redis::cmd("GET").arg(key))
    }

    fn token(&self, sub: &str, role: &str, room: Option<&str>) -> String {
        make_token(&TokenRequest {
            key: self.clinic_key.clone(),
            sub: sub.into(),
            role: role.into(),
            room: room.map(str::to_owned),
            ttl_s: 600,
            audience: "framechain".into(),
            kid: None,
            now_unix: now(),
        })
        .unwrap()
    }

    fn add_room(&self, json: &str) -> serde_json::Value {
        let response = agent()
            .post(&format!("{}/admin/rooms", self.base()))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .send_string(json)
            .unwrap();
        assert!(matches!(response.status(), 200 | 201));
        serde_json::from_str(&response.into_string().unwrap()).unwrap()
    }

    fn status(&self) -> serde_json::Value {
        get_json(&format!("{}/center/status.json", self.base()))
    }

    /// room → (node, generation, previous node) from the status JSON.
    fn placements(&self) -> HashMap<String, (String, i64, Option<String>)> {
        self.status()["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|room| {
                Some((
                    room["room"].as_str()?.to_owned(),
                    (
                        room["node"].as_str()?.to_owned(),
                        room["generation"].as_i64()?,
                        room["previous_node"].as_str().map(str::to_owned),
                    ),
                ))
            })
            .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for running in self.centers.drain(..) {
            self.runtime.block_on(running.stop());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = &self.postgres;
    }
}

/// An HTTP client that does not follow redirects (the 307 is the answer).
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(10))
        .build()
}

fn get_json(url: &str) -> serde_json::Value {
    let body = agent().get(url).call().unwrap().into_string().unwrap();
    serde_json::from_str(&body).unwrap()
}

/// A POST's status, Location and body, whatever the status.
fn post(url: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    let mut request = agent().post(url).set("Content-Type", "application/sdp");
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let response = match request.send_string("v=0\r\n") {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{url}: {error}"),
    };
    let status = response.status();
    let location = response.header("Location").map(str::to_owned);
    (status, location, response.into_string().unwrap())
}

fn room_json(room: &str) -> String {
    format!(r#"{{"room": "{room}", "patient": "p-1", "clinicians": ["d-1"]}}"#)
}

fn ticket_claims(ticket: &str) -> serde_json::Value {
    let payload = ticket.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[test]
fn thirty_rooms_spread_over_three_pods_within_capacity_and_draining_or_full_pods_get_none() {
    let world = World::new();
    let mut draining = pod("d-draining", 100, 0);
    draining.draining = true;
    let mut unready = pod("e-unready", 100, 0);
    unready.ready = false;
    world.beat(&[
        pod("a", 10, 0),
        pod("b", 12, 0),
        pod("c", 15, 0),
        draining,
        unready,
        pod("f-full", 5, 5),
    ]);
    for index in 0..30 {
        let answer = world.add_room(&room_json(&format!("visit-{index:02}")));
        assert!(answer["node"].is_string(), "{answer}");
    }
    let placements = world.placements();
    assert_eq!(placements.len(), 30);
    let mut held: HashMap<&str, u32> = HashMap::new();
    for (node, generation, _) in placements.values() {
        assert_eq!(*generation, 1);
        *held.entry(node.as_str()).or_default() += 1;
    }
    // Within capacity, on the three pods that take rooms, spread by ratio:
    // 30 of 37 places, so each is about 81 % full.
    assert_eq!(held.keys().len(), 3, "{held:?}");
    for (node, capacity) in [("a", 10), ("b", 12), ("c", 15)] {
        let count = held[node];
        assert!(count <= capacity, "{node}: {count} > {capacity}");
        let ratio = f64::from(count) / f64::from(capacity);
        assert!((0.7..=0.9).contains(&ratio), "{node}: {count}/{capacity}");
    }
    // What the pods read: both hashes, the room object as serve takes it.
    let in_redis: HashMap<String, String> =
        world.redis_command(redis::cmd("HGETALL").arg(PLACEMENT_HASH));
    assert_eq!(in_redis.len(), 30);
    for (room, (node, _, _)) in &placements {
        assert_eq!(&in_redis[room], node);
    }
    let spec: Option<String> =
        world.redis_command(redis::cmd("HGET").arg(ROOMS_HASH).arg("visit-07"));
    let spec: serde_json::Value = serde_json::from_str(&spec.unwrap()).unwrap();
    assert_eq!(spec["patient"], "p-1");
    // A further room when every pod is full: 503 at the redirect.
    world.beat(&[pod("a", 10, 10), pod("b", 12, 12), pod("c", 15, 15)]);
    let answer = world.add_room(&room_json("visit-overflow"));
    assert!(answer["node"].is_null(), "{answer}");
    let token = world.token("p-1", "patient", Some("visit-overflow"));
    let (status, _, body) = post(
        &format!("{}/whip/visit-overflow", world.base()),
        Some(&token),
    );
    assert_eq!(status, 503, "{body}");
}

#[test]
fn a_whip_or_whep_post_is_redirected_to_the_least_loaded_pod_with_a_ticket_bound_to_it() {
    let world = World::new();
    world.beat(&[pod("busy", 10, 6), pod("idle", 10, 1)]);
    world.add_room(&room_json("visit-1"));
    // The room went to the idle pod when it was added.
    let token = world.token("p-1", "patient", Some("visit-1"));
    let started = now();
    let (status, location, body) = post(&format!("{}/whip/visit-1", world.base()), Some(&token));
    assert_eq!(status, 307, "{body}");
    let location = location.unwrap();
    let prefix = "http://idle.pods.test:8080/whip/visit-1?ticket=";
    assert!(location.starts_with(prefix), "{location}");
    let ticket = &location[prefix.len()..];
    let claims = ticket_claims(ticket);
    assert_eq!(claims["iss"], "framechain-center");
    assert_eq!(claims["aud"], "framechain-pod:idle");
    assert_eq!(claims["sub"], "p-1");
    assert_eq!(claims["role"], "patient");
    assert_eq!(claims["room"], "visit-1");
    assert_eq!(claims["act"], "publish");
    let iat = claims["iat"].as_u64().unwrap();
    assert!(iat >= started && iat <= now());
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 30);
    assert!(uuid_like(claims["jti"].as_str().unwrap()));
    // The pod's check: the ticket keys the centre published (Redis and
    // HTTP say the same) verify it for this node, and for no other.
    let published = world.redis_get(TICKET_KEYS_KEY).unwrap();
    let served = get_json(&format!("{}/center/ticket-keys.json", world.base()));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&published).unwrap(),
        served
    );
    let keys = world.dir.join("ticket-jwks.json");
    std::fs::write(&keys, &published).unwrap();
    let header = format!("Bearer {ticket}");
    let pod_verifier = Verifier::load(&keys, "framechain-pod:idle").unwrap();
    let verified = pod_verifier.verify(Some(header.as_bytes()), now()).unwrap();
    assert_eq!(
        (verified.sub.as_str(), verified.room.as_deref()),
        ("p-1", Some("visit-1"))
    );
    let other_pod = Verifier::load(&keys, "framechain-pod:busy").unwrap();
    assert!(other_pod.verify(Some(header.as_bytes()), now()).is_err());
    // The clinic's key does not verify tickets: they are the centre's.
    let clinic = Verifier::load(&world.settings.keys, "framechain-pod:idle").unwrap();
    assert!(clinic.verify(Some(header.as_bytes()), now()).is_err());
    // A viewer goes where the room runs, even when that pod is now the
    // busier one, with a watch ticket.
    world.beat(&[pod("idle", 10, 9)]);
    let token = world.token("d-1", "clinician", Some("visit-1"));
    let (status, location, body) =
        post(&format!("{}/whep/visit-1/p-1", world.base()), Some(&token));
    assert_eq!(status, 307, "{body}");
    let location = location.unwrap();
    let prefix = "http://idle.pods.test:8080/whep/visit-1/p-1?ticket=";
    assert!(location.starts_with(prefix), "{location}");
    let claims = ticket_claims(&location[prefix.len()..]);
    assert_eq!(
        (claims["act"].as_str(), claims["sub"].as_str()),
        (Some("watch"), Some("d-1"))
    );
    // The preflight of a page on another origin.
    let preflight = agent()
        .request("OPTIONS", &format!("{}/whip/visit-1", world.base()))
        .set("Origin", "https://clinic.example")
        .set("Access-Control-Request-Method", "POST")
        .call()
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.header("Access-Control-Allow-Origin"), Some("*"));
    assert!(
        preflight
            .header("Access-Control-Allow-Headers")
            .unwrap()
            .contains("Authorization")
    );
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.bytes().filter(|&b| b == b'-').count() == 4
}

#[test]
fn refusals_are_one_line_401_403_404_and_503() {
    let world = World::new();
    world.beat(&[pod("a", 10, 0)]);
    world.add_room(&room_json("visit-1"));
    world.add_room(
        r#"{"room": "visit-eu", "patient": "p-1", "clinicians": ["d-1"], "labels": {"region": "eu"}}"#,
    );
    world.add_room(
        r#"{"room": "visit-old", "patient": "p-1", "clinicians": ["d-1"], "not_after": "2020-01-01T00:00:00Z"}"#,
    );
    let base = world.base();
    let good = world.token("p-1", "patient", None);
    // 401: none, junk, another key's signature.
    let other = new_keys(&world.dir.join("other"), KeyKind::Ed25519).unwrap();
    let forged = make_token(&TokenRequest {
        key: other.private,
        sub: "p-1".into(),
        role: "patient".into(),
        room: None,
        ttl_s: 600,
        audience: "framechain".into(),
        kid: Some(make_kid(&world)),
        now_unix: now(),
    })
    .unwrap();
    for token in [None, Some("junk"), Some(forged.as_str())] {
        let (status, location, body) = post(&format!("{base}/whip/visit-1"), token);
        assert_eq!(status, 401, "{token:?}: {body}");
        assert!(location.is_none());
        assert_eq!(body.lines().count(), 1, "{body}");
    }
    // 403: a token for another room; a room whose window has closed.
    let elsewhere = world.token("p-1", "patient", Some("visit-2"));
    assert_eq!(
        post(&format!("{base}/whip/visit-1"), Some(&elsewhere)).0,
        403
    );
    assert_eq!(post(&format!("{base}/whip/visit-old"), Some(&good)).0, 403);
    // 404: a room or a participant not known.
    let (status, _, body) = post(&format!("{base}/whip/visit-none"), Some(&good));
    assert_eq!((status, body.as_str()), (404, "no such room\n"));
    assert_eq!(
        post(&format!("{base}/whep/visit-1/nobody"), Some(&good)).0,
        404
    );
    // 503: no pod with the room's labels; then no pod at all.
    let (status, _, body) = post(&format!("{base}/whip/visit-eu"), Some(&good));
    assert_eq!(status, 503, "{body}");
    world.kill_pod("a");
    world.add_room(&room_json("visit-3"));
    let (status, _, body) = post(&format!("{base}/whip/visit-3"), Some(&good));
    assert_eq!(status, 503, "{body}");
    // The admin API wants its token.
    let refused = agent()
        .post(&format!("{base}/admin/rooms"))
        .set("Authorization", "Bearer wrong-token-0123456789")
        .send_string(&room_json("visit-x"));
    assert!(matches!(refused, Err(ureq::Error::Status(401, _))));
}

/// The clinic key's id, so the forged token names a key the centre has.
fn make_kid(world: &World) -> String {
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&world.settings.keys).unwrap()).unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
}

#[test]
fn a_dead_pods_rooms_are_placed_again_within_ten_seconds() {
    let world = World::new();
    world.beat(&[pod("a", 10, 0), pod("b", 10, 0), pod("c", 10, 0)]);
    for index in 0..6 {
        world.add_room(&room_json(&format!("visit-{index}")));
    }
    let before = world.placements();
    let on_a: Vec<String> = before
        .iter()
        .filter(|(_, (node, _, _))| node == "a")
        .map(|(room, _)| room.clone())
        .collect();
    assert_eq!(on_a.len(), 2, "{before:?}");
    let killed = Instant::now();
    world.kill_pod("a");
    let deadline = killed + Duration::from_secs(10);
    let after = loop {
        let now = world.placements();
        if on_a.iter().all(|room| now[room].0 != "a") {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "not placed again within 10 s: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "a dead pod's rooms placed again after {:?}",
        killed.elapsed()
    );
    for room in &on_a {
        let (node, generation, previous) = &after[room];
        assert_ne!(node, "a");
        assert_eq!(*generation, 2);
        assert_eq!(previous.as_deref(), Some("a"));
        let published: Option<String> =
            world.redis_command(redis::cmd("HGET").arg(PLACEMENT_HASH).arg(room));
        assert_eq!(published.as_deref(), Some(node.as_str()));
    }
    // The others did not move.
    for (room, placement) in &before {
        if !on_a.contains(room) {
            assert_eq!(&after[room], placement);
        }
    }
    // A publisher reconnecting through the centre lands on the new pod.
    let token = world.token("p-1", "patient", Some(&on_a[0]));
    let (status, location, _) = post(&format!("{}/whip/{}", world.base(), on_a[0]), Some(&token));
    assert_eq!(status, 307);
    let node = &after[&on_a[0]].0;
    assert!(
        location
            .unwrap()
            .starts_with(&format!("http://{node}.pods.test:8080/"))
    );
}

#[test]
fn concurrent_placements_never_place_a_room_twice_nor_overfill_a_pod() {
    let world = World::new();
    for index in 0..20 {
        world.add_room(&room_json(&format!("visit-{index:02}")));
    }
    // Pods that never beat: the centre's own loop sees none and places
    // nothing, so only the racing calls below place. Four connections,
    // as four replicas would have, each placing every room at once.
    let alive = vec![pod("a", 8, 0), pod("b", 8, 0)];
    let url = world.settings.postgres.clone();
    let outcomes: Vec<(String, Option<(String, i64)>)> = world.runtime.block_on(async move {
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(Arc::new(
                framechain_center::store::Store::connect(&url)
                    .await
                    .unwrap(),
            ));
        }
        let mut racing = Vec::new();
        for store in &stores {
            for index in 0..20 {
                let store = store.clone();
                let alive = alive.clone();
                let room = format!("visit-{index:02}");
                racing.push(tokio::spawn(async move {
                    let placed = store.place(&room, &alive).await;
                    let outcome = match placed {
                        Ok(placed) => Some((placed.placement.node, placed.placement.generation)),
                        Err(framechain_center::store::PlaceError::NoPod(_)) => None,
                        Err(error) => panic!("{room}: {error}"),
                    };
                    (room, outcome)
                }));
            }
        }
        let mut outcomes = Vec::new();
        for task in racing {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    });
    // Sixteen places: sixteen rooms placed once each (generation 1), and
    // every call that placed a room names the same pod for it.
    let mut node_of: HashMap<String, String> = HashMap::new();
    for (room, outcome) in &outcomes {
        if let Some((node, generation)) = outcome {
            assert_eq!(*generation, 1, "room {room} placed twice");
            let first = node_of.entry(room.clone()).or_insert(node.clone());
            assert_eq!(first, node, "room {room} sent to two pods");
        }
    }
    let placements = world.placements();
    assert_eq!(placements.len(), 16, "{placements:?}");
    let mut held: HashMap<&str, u32> = HashMap::new();
    for (room, (node, generation, _)) in &placements {
        assert_eq!(*generation, 1, "{room}");
        assert_eq!(&node_of[room], node);
        *held.entry(node.as_str()).or_default() += 1;
    }
    assert_eq!(
        (held.get("a"), held.get("b")),
        (Some(&8), Some(&8)),
        "{held:?}"
    );
}

#[test]
fn without_migrate_a_centre_on_an_empty_database_says_what_to_do() {
    let world = World::new();
    // A fresh database beside the migrated one.
    world.postgres.psql("CREATE DATABASE empty");
    let mut settings = world.settings.clone();
    let (server, _) = settings.postgres.rsplit_once('/').unwrap();
    settings.postgres = format!("{server}/empty");
    settings.migrate = false;
    let error = match world.runtime.block_on(framechain_center::start(settings)) {
        Ok(_) => panic!("a centre started on an empty database"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("--migrate"), "{error}");
    assert_eq!(error.lines().count(), 1);
    // On the migrated database the check passes.
    let mut settings = world.settings.clone();
    settings.migrate = false;
    let running = world
        .runtime
        .block_on(framechain_center::start(settings))
        .unwrap();
    world.runtime.block_on(running.stop());
}

#[test]
fn a_centre_whose_login_role_has_only_the_writer_role_places_rooms() {
    let world = World::new();
    // As docs/center.md and deploy/k3s/postgres-init.yaml set it up: a
    // login role with nothing but framechain_center_writer (V3).
    world.postgres.psql(
        "CREATE ROLE centre_login LOGIN PASSWORD 'centre-password'; \
         GRANT framechain_center_writer TO centre_login",
    );
    let mut settings = world.settings.clone();
    settings.postgres = world.postgres.url_for("centre_login", "centre-password");
    settings.migrate = false;
    settings.name = "center-weak".into();
    let running = world
        .runtime
        .block_on(framechain_center::start(settings))
        .expect("the centre starts with the writer role alone");
    let base = format!("http://{}", running.address);
    world.beat(&[pod("only", 10, 0)]);
    let response = agent()
        .post(&format!("{base}/admin/rooms"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .send_string(&room_json("visit-weak"))
        .unwrap();
    assert!(matches!(response.status(), 200 | 201));
    let token = world.token("p-1", "patient", Some("visit-weak"));
    let (status, location, body) = post(&format!("{base}/whip/visit-weak"), Some(&token));
    assert_eq!(status, 307, "{body}");
    assert!(
        location.unwrap().starts_with("http://only."),
        "placed on the one pod"
    );
    world.runtime.block_on(running.stop());
}

#[test]
fn a_thousand_rooms_on_fifty_registered_pods_through_postgres_and_redis() {
    let world = World::new();
    let fleet: Vec<PodStatus> = (0..50)
        .map(|index| pod(&format!("pod-{index:02}"), [20, 30, 40, 50][index % 4], 0))
        .collect();
    world.beat(&fleet);
    let center = world.centers[0].center.clone();
    let started = Instant::now();
    let placed: Vec<String> = world.runtime.block_on(async move {
        let mut nodes = Vec::new();
        for index in 0..1000 {
            let room = framechain_center::rooms::Room::parse(
                room_json(&format!("r-{index:04}")).as_bytes(),
            )
            .unwrap();
            center.store.put_room(&room).await.unwrap();
            let (placed, _) = center.place(&room.spec.room).await.unwrap();
            nodes.push(placed.placement.node);
        }
        nodes
    });
    let elapsed = started.elapsed();
    eprintln!(
        "1000 rooms stored and placed on 50 pods through PostgreSQL and Redis in {elapsed:?} ({:.2} ms a room)",
        elapsed.as_secs_f64()
    );
    let mut held: HashMap<&str, u32> = HashMap::new();
    for node in &placed {
        *held.entry(node.as_str()).or_default() += 1;
    }
    for pod in &fleet {
        let count = held.get(pod.node.as_str()).copied().unwrap_or(0);
        assert!(count <= pod.capacity, "{}: {count}", pod.node);
        // 1000 of 1750 places: each pod about 57 % full.
        let ratio = f64::from(count) / f64::from(pod.capacity);
        assert!(
            (0.5..=0.65).contains(&ratio),
            "{}: {count}/{}",
            pod.node,
            pod.capacity
        );
    }
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}

fn metrics(world: &World) -> Vec<Sample> {
    let text = agent()
        .get(&format!("{}/metrics", world.base()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    framechain_test_support::prometheus::parse_exposition(&text)
}

/// The value of `name` with exactly the labels `labels`, or 0.
fn sample(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    value_of(samples, name, labels).unwrap_or(0.0)
}

#[test]
fn metrics_parse_and_count_pods_placements_failovers_tickets_and_requests_with_bounded_labels() {
    let world = World::new();
    let mut draining = pod("c", 10, 0);
    draining.draining = true;
    world.beat(&[pod("a", 10, 0), pod("b", 10, 0), draining]);
    for index in 0..4 {
        world.add_room(&room_json(&format!("metrics-{index}")));
    }
    let token = world.token("p-1", "patient", Some("metrics-0"));
    let (status, _, _) = post(&format!("{}/whip/metrics-0", world.base()), Some(&token));
    assert_eq!(status, 307);
    let (status, _, _) = post(&format!("{}/whip/metrics-0", world.base()), None);
    assert_eq!(status, 401);
    // Hostile paths: each one is counted under the one route "other".
    for index in 0..40 {
        let _ = agent()
            .get(&format!("{}/no/such/{index}/%22%0a", world.base()))
            .call();
    }
    // The pods by state are the centre's last heartbeat round (every 1 s).
    let deadline = Instant::now() + Duration::from_secs(5);
    while sample(
        &metrics(&world),
        "framechain_center_pods",
        &[("state", "draining")],
    ) < 1.0
    {
        assert!(Instant::now() < deadline, "the pods are not counted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let samples = metrics(&world);
    let get = |name: &str, labels: &[(&str, &str)]| sample(&samples, name, labels);
    assert_eq!(get("framechain_center_pods", &[("state", "ready")]), 2.0);
    assert_eq!(get("framechain_center_pods", &[("state", "draining")]), 1.0);
    assert_eq!(get("framechain_center_rooms", &[]), 4.0);
    assert_eq!(get("framechain_center_rooms_placed", &[]), 4.0);
    assert_eq!(get("framechain_center_placements_total", &[]), 4.0);
    assert_eq!(get("framechain_center_replacements_total", &[]), 0.0);
    assert_eq!(
        get("framechain_center_tickets_total", &[("act", "publish")]),
        1.0
    );
    assert_eq!(
        get("framechain_center_tickets_total", &[("act", "watch")]),
        0.0
    );
    assert_eq!(get("framechain_center_ticket_keys", &[]), 1.0);
    let requests = |route: &str, status: &str| {
        get(
            "framechain_center_http_requests_total",
            &[("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("whip", "307"), 1.0);
    assert_eq!(requests("whip", "401"), 1.0);
    assert_eq!(requests("admin_rooms", "201"), 4.0);
    assert_eq!(requests("other", "404"), 40.0);
    let series = samples
        .iter()
        .filter(|sample| sample.name == "framechain_center_http_requests_total")
        .count();
    assert!(series <= 6, "{series} HTTP series");
    // Every ingest series is there, at zero on a quiet stream.
    for name in [
        "framechain_center_ingest_entries_read_total",
        "framechain_center_ingest_rows_inserted_total",
        "framechain_center_ingest_duplicates_total",
        "framechain_center_ingest_claimed_total",
        "framechain_center_ingest_batch_seconds_count",
    ] {
        assert!(
            samples.iter().any(|sample| sample.name == name),
            "{name} missing"
        );
    }
    assert_eq!(
        samples
            .iter()
            .filter(|sample| sample.name == "framechain_center_ingest_rejects_total")
            .count(),
        4
    );

    // A pod dies: its rooms are placed again, counted as failovers.
    let on_a = world
        .placements()
        .values()
        .filter(|(node, _, _)| node == "a")
        .count();
    assert!(on_a > 0);
    world.kill_pod("a");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let samples = metrics(&world);
        if sample(&samples, "framechain_center_replacements_total", &[]) == on_a as f64 {
            assert_eq!(
                sample(&samples, "framechain_center_pods", &[("state", "dead")]),
                1.0
            );
            break;
        }
        assert!(Instant::now() < deadline, "the failovers are not counted");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The admin API's list of room names.
fn room_names(world: &World) -> Vec<String> {
    let body = agent()
        .get(&format!("{}/admin/rooms", world.base()))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let rooms: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let mut names: Vec<String> = rooms
        .iter()
        .map(|room| room["room"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Replaces `path` as an operator's tooling (or a ConfigMap) does: a new
/// file renamed over the old one.
fn replace_file(path: &std::path::Path, text: &str) {
    let new = path.with_extension("new");
    std::fs::write(&new, text).unwrap();
    std::fs::rename(&new, path).unwrap();
}

#[test]
fn a_changed_rooms_file_is_read_again_and_a_bad_one_keeps_the_rooms_in_force() {
    let dir = temp_folder("framechain-center-rooms-watch");
    let file = dir.join("rooms.json");
    let rooms = |names: &[&str]| {
        let list: Vec<String> = names.iter().map(|name| room_json(name)).collect();
        format!("[{}]", list.join(","))
    };
    std::fs::write(&file, rooms(&["watched-a"])).unwrap();
    let world = World::with_rooms_file(Some(file.clone()));
    world.beat(&[pod("a", 10, 0)]);
    assert_eq!(room_names(&world), ["watched-a"]);
    let wait_rooms = |expected: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let names = room_names(&world);
            if names == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "rooms {names:?}, not {expected:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    replace_file(&file, &rooms(&["watched-a", "watched-b"]));
    wait_rooms(&["watched-a", "watched-b"]);
    // The new room is placed and published to the pods, as a room of the
    // admin API is.
    let deadline = Instant::now() + Duration::from_secs(5);
    while world
        .redis_command::<Option<String>>(redis::cmd("HGET").arg(PLACEMENT_HASH).arg("watched-b"))
        .is_none()
    {
        assert!(Instant::now() < deadline, "watched-b is not published");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A bad file: refused, counted, the rooms of before stay.
    replace_file(&file, r#"[{"room": "watched-c", "patient": 7}]"#);
    let deadline = Instant::now() + Duration::from_secs(5);
    while sample(
        &metrics(&world),
        "framechain_center_reloads_refused_total",
        &[],
    ) < 1.0
    {
        assert!(
            Instant::now() < deadline,
            "the bad rooms file is not refused"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(room_names(&world), ["watched-a", "watched-b"]);
    // Mended: read again.
    replace_file(&file, &rooms(&["watched-a", "watched-b", "watched-c"]));
    wait_rooms(&["watched-a", "watched-b", "watched-c"]);
    drop(world);
    let _ = std::fs::remove_dir_all(&dir);
}
