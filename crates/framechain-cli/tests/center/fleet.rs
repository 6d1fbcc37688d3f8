//! A centre and its edge pods as an operator runs them, for the
//! end-to-end tests: `framechain center` and `framechain serve --center`
//! as processes, on a real Redis and a real PostgreSQL 15 of the test's
//! own, with a clinic key set and a ticket key.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use framechain_serve::identity::tools::{KeyKind, NewKeys, TokenRequest, make_token, new_keys};
use framechain_test_support::services::{Postgres, RedisServer, free_loopback_port, temp_folder};

/// The centre's admin token in these tests.
pub const ADMIN_TOKEN: &str = "an-admin-token-of-the-test-0123456789";

/// A child process killed when dropped, its output kept in a file.
pub struct Process {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    pub fn spawn(name: &str, args: &[String], dir: &Path) -> Process {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_framechain"))
            .args(args)
            .env("FRAMECHAIN_STAGE_PATH", super::stage_path())
            .env("XDG_CACHE_HOME", super::scratch().join("cache"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("framechain runs");
        Process {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log_text());
        }
    }
}

/// One `framechain serve` edge pod.
pub struct Pod {
    pub node: String,
    /// Its `--public-url`, where the centre sends clients.
    pub url: String,
    /// Its `--spool` folder.
    pub spool: PathBuf,
    pub process: Process,
    /// Its command line, to start it again on the same ports and spool.
    args: Vec<String>,
    starts: u32,
}

impl Pod {
    /// Kills the pod (`SIGKILL`) if it runs and starts it again with the
    /// same arguments: same node, ports and spool.
    pub fn restart(&mut self, dir: &Path) {
        self.process.kill();
        self.starts += 1;
        let name = format!("{}.{}", self.node, self.starts);
        self.process = Process::spawn(&name, &self.args, dir);
    }

    /// The pod's `/metrics`, when it answers.
    pub fn metrics(&self) -> Option<String> {
        framechain_loadgen::get_text(&format!("{}/metrics", self.url), None).ok()
    }
}

/// What a fleet is made of, beyond its defaults.
pub struct Setup<'a> {
    /// A rooms file's JSON for the centre's `--rooms`.
    pub rooms: Option<&'a str>,
    /// One pod per entry, with this `--capacity`.
    pub capacities: &'a [u32],
    /// The pods' `--pipeline`.
    pub pipeline: &'a Path,
    /// More arguments for pod `index` (`urls`: every pod's public URL).
    pub pod_args: &'a dyn Fn(usize, &[String]) -> Vec<String>,
}

/// A centre, its pods and their services.
pub struct Fleet {
    pub dir: PathBuf,
    pub center: String,
    pub users: NewKeys,
    /// The centre's `--ticket-key`: a copy of a fresh key that a test may
    /// replace (rotation).
    pub ticket_key: PathBuf,
    pub pods: Vec<Pod>,
    // Dropped after the pods and the centre (fields drop in order).
    center_process: Process,
    center_args: Vec<String>,
    center_starts: u32,
    pub postgres: Postgres,
    pub redis: RedisServer,
}

impl Fleet {
    /// A centre (with `rooms`, a rooms file's JSON, when given) and
    /// `pods` pods of capacity 10 running `pipeline`, each with
    /// `pod_args(index, urls)` beside the centre's options (`urls`: every
    /// pod's public URL), waited for until all are alive at the centre.
    pub fn start(
        name: &str,
        rooms: Option<&str>,
        pods: usize,
        pipeline: &Path,
        pod_args: impl Fn(usize, &[String]) -> Vec<String>,
    ) -> Fleet {
        Fleet::start_with(
            name,
            &Setup {
                rooms,
                capacities: &vec![10; pods],
                pipeline,
                pod_args: &pod_args,
            },
        )
    }

    /// A fleet as `setup` says, waited for until every pod is alive at the
    /// centre.
    pub fn start_with(name: &str, setup: &Setup<'_>) -> Fleet {
        let dir = temp_folder(name);
        let redis = RedisServer::start();
        let postgres = Postgres::start();
        let users = new_keys(&dir.join("users"), KeyKind::P256).unwrap();
        let tickets = new_keys(&dir.join("tickets"), KeyKind::P256).unwrap();
        let ticket_key = dir.join("ticket-key.pem");
        std::fs::copy(&tickets.private, &ticket_key).unwrap();
        let admin = dir.join("admin-token");
        std::fs::write(&admin, ADMIN_TOKEN).unwrap();
        let path = |p: &Path| p.to_str().unwrap().to_owned();
        let center_port = free_loopback_port();
        let center = format!("http://127.0.0.1:{center_port}");
        let mut center_args: Vec<String> = vec![
            "center".into(),
            "--http".into(),
            format!("127.0.0.1:{center_port}"),
            "--redis".into(),
            redis.url(),
            "--postgres".into(),
            postgres.url(),
            "--keys".into(),
            path(&users.jwks),
            "--admin-token-file".into(),
            path(&admin),
            "--ticket-key".into(),
            path(&ticket_key),
            "--name".into(),
            "center-a".into(),
            "--migrate".into(),
        ];
        if let Some(rooms) = setup.rooms {
            let file = dir.join("rooms.json");
            std::fs::write(&file, rooms).unwrap();
            center_args.extend(["--rooms".into(), path(&file)]);
        }
        let center_process = Process::spawn("center", &center_args, &dir);
        let ports: Vec<(u16, u16)> = setup
            .capacities
            .iter()
            .map(|_| (free_loopback_port(), free_loopback_port()))
            .collect();
        let urls: Vec<String> = ports
            .iter()
            .map(|(http, _)| format!("http://127.0.0.1:{http}"))
            .collect();
        let pods: Vec<Pod> = ports
            .iter()
            .zip(setup.capacities)
            .enumerate()
            .map(|(index, ((http, media), capacity))| {
                let node = format!("pod-{index}");
                let spool = dir.join(format!("spool-{index}"));
                let mut args: Vec<String> = vec![
                    "serve".into(),
                    "--pipeline".into(),
                    path(setup.pipeline),
                    "--http".into(),
                    format!("127.0.0.1:{http}"),
                    "--media".into(),
                    format!("127.0.0.1:{media}"),
                    "--keys".into(),
                    path(&users.jwks),
                    "--center".into(),
                    center.clone(),
                    "--redis".into(),
                    redis.url(),
                    "--node".into(),
                    node.clone(),
                    "--public-url".into(),
                    urls[index].clone(),
                    "--spool".into(),
                    path(&spool),
                    "--capacity".into(),
                    capacity.to_string(),
                ];
                args.extend((setup.pod_args)(index, &urls));
                Pod {
                    process: Process::spawn(&node, &args, &dir),
                    node,
                    url: urls[index].clone(),
                    spool,
                    args,
                    starts: 0,
                }
            })
            .collect();
        let fleet = Fleet {
            dir,
            center,
            users,
            ticket_key,
            pods,
            center_process,
            center_args,
            center_starts: 0,
            postgres,
            redis,
        };
        let count = fleet.pods.len();
        wait_for(
            "every pod alive at the centre",
            Duration::from_secs(60),
            || (fleet.alive_pods() == count).then_some(()),
        );
        fleet
    }

    /// Kills the centre (`SIGKILL`).
    pub fn kill_center(&mut self) {
        self.center_process.kill();
    }

    /// Starts the centre again with the same arguments (same port, name
    /// and consumer name), after [`Fleet::kill_center`].
    pub fn start_center_again(&mut self) {
        self.center_process.kill();
        self.center_starts += 1;
        let name = format!("center.{}", self.center_starts);
        self.center_process = Process::spawn(&name, &self.center_args, &self.dir);
    }

    /// A user's token for `room`, signed by the clinic's key.
    pub fn token(&self, sub: &str, role: &str, room: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        make_token(&TokenRequest {
            key: self.users.private.clone(),
            sub: sub.into(),
            role: role.into(),
            room: Some(room.into()),
            ttl_s: 600,
            audience: "framechain".into(),
            kid: None,
            now_unix: now,
        })
        .unwrap()
    }

    /// Adds a room at the centre (`POST /admin/rooms`), which places it
    /// at once; the status (`201` new, `200` replaced).
    pub fn add_room(&self, room: &str) -> u16 {
        let answer = ureq::post(&format!("{}/admin/rooms", self.center))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .set("Content-Type", "application/json")
            .send_string(room);
        match answer {
            Ok(response) => {
                assert!(response.status() < 300, "{}", response.status());
                response.status()
            }
            Err(error) => panic!("POST /admin/rooms: {error}"),
        }
    }

    /// The node the centre placed `room` on, as its status says.
    pub fn placed_node(&self, room: &str) -> Option<String> {
        let status = get_json(&format!("{}/center/status.json", self.center))?;
        status["rooms"]
            .as_array()?
            .iter()
            .find(|entry| entry["room"] == room)?["node"]
            .as_str()
            .map(str::to_owned)
    }

    pub fn alive_pods(&self) -> usize {
        alive_pods(&self.center)
    }

    /// `framechain audit --room ROOM --json`, one object per row.
    pub fn audit_rows(&self, room: &str) -> Vec<serde_json::Value> {
        let output = super::framechain(&[
            "audit",
            "--postgres",
            &self.postgres.url(),
            "--room",
            room,
            "--json",
        ]);
        assert!(output.status.success(), "{}", super::stderr(&output));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Array(rows)) => rows,
            _ => text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
                .collect(),
        }
    }

    /// Waits until the audit trail of `room` holds every (action,
    /// participant, pod) join of `expected`.
    pub fn wait_for_joins(&self, room: &str, expected: &[(&str, &str, &str)]) {
        wait_for(
            "the joins in the audit trail",
            Duration::from_secs(20),
            || {
                let found = joins(&self.audit_rows(room));
                expected
                    .iter()
                    .all(|(action, who, pod)| {
                        found
                            .iter()
                            .any(|(a, p, n)| a == action && p == who && n == pod)
                    })
                    .then_some(())
            },
        );
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.pods.clear();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// How many pods the centre at `center` sees alive, as its status says.
pub fn alive_pods(center: &str) -> usize {
    get_json(&format!("{center}/center/status.json"))
        .and_then(|status| {
            status["pods"]
                .as_array()
                .map(|pods| pods.iter().filter(|pod| pod["alive"] == true).count())
        })
        .unwrap_or(0)
}

pub fn get_json(url: &str) -> Option<serde_json::Value> {
    let text = framechain_loadgen::get_text(url, None).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn wait_for<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Which (action, participant, pod) joins the audit trail holds.
pub fn joins(rows: &[serde_json::Value]) -> Vec<(String, String, String)> {
    rows.iter()
        .filter(|row| row["what"] == "joined")
        .map(|row| {
            let text = |key: &str| row[key].as_str().unwrap_or_default().to_owned();
            (text("action"), text("participant"), text("pod"))
        })
        .collect()
}
