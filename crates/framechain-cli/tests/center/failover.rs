//! The centre end to end, as an operator runs it: `framechain center` and
//! three `framechain serve` edge pods as processes, on a real Redis and a
//! real PostgreSQL 15. A WHIP publisher and a WHEP viewer start at the
//! centre's URL, follow its `307` with a placement ticket to a pod, and
//! exchange real H.264 over WebRTC. The pod is killed (`SIGKILL`) in the
//! running call: the centre places the room again, the publisher's and the
//! viewer's reconnects through the centre land on another pod, and the
//! audit trail holds both halves. The interruption is printed.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use framechain_loadgen::{Clip, Endpoint, PublishOptions, Publisher, ViewOptions, Viewer};
use framechain_serve::identity::tools::{KeyKind, TokenRequest, make_token, new_keys};
use framechain_test_support::services::{Postgres, RedisServer, free_loopback_port, temp_folder};

const ROOM: &str = "visit-failover";
/// A failed pod's rooms must be placed again within this (issue 21).
const REPLACED_WITHIN: Duration = Duration::from_secs(10);

/// A child process killed when dropped, its output kept in a file.
pub(super) struct Process {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    pub(super) fn spawn(name: &str, args: &[String], dir: &Path) -> Process {
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

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_text(&self) -> String {
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

pub(super) fn get_json(url: &str) -> Option<serde_json::Value> {
    let text = framechain_loadgen::get_text(url, None).ok()?;
    serde_json::from_str(&text).ok()
}

pub(super) fn wait_for<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node the centre placed the room on, as its status says.
fn placed_node(center: &str) -> Option<String> {
    let status = get_json(&format!("{center}/center/status.json"))?;
    status["rooms"]
        .as_array()?
        .iter()
        .find(|room| room["room"] == ROOM)?["node"]
        .as_str()
        .map(str::to_owned)
}

pub(super) fn alive_pods(center: &str) -> usize {
    get_json(&format!("{center}/center/status.json"))
        .and_then(|status| {
            status["pods"]
                .as_array()
                .map(|pods| pods.iter().filter(|pod| pod["alive"] == true).count())
        })
        .unwrap_or(0)
}

fn token(key: &Path, sub: &str, role: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    make_token(&TokenRequest {
        key: key.to_path_buf(),
        sub: sub.into(),
        role: role.into(),
        room: Some(ROOM.into()),
        ttl_s: 600,
        audience: "framechain".into(),
        kid: None,
        now_unix: now,
    })
    .unwrap()
}

pub(super) fn clip() -> Option<Clip> {
    let path = framechain_test_support::h264_testdata()?.join("conformance/MIDR_MW_D.264");
    Some(Clip::open(&path).unwrap())
}

fn publish(center: &str, token: &str, clip: &Clip) -> Publisher {
    let publisher = Publisher::start(
        &Endpoint::new(center, ROOM, token),
        clip.clone(),
        PublishOptions {
            fps: 30.0,
            ..PublishOptions::default()
        },
    )
    .expect("the publisher's offer is answered through the centre");
    publisher
        .wait_connected(Duration::from_secs(10))
        .expect("the publisher connects to the pod");
    publisher
}

fn view(center: &str, token: &str) -> Viewer {
    let viewer = Viewer::start(
        &Endpoint::new(center, format!("{ROOM}/p-1"), token),
        ViewOptions::default(),
    )
    .expect("the viewer's offer is answered through the centre");
    viewer
        .wait_connected(Duration::from_secs(10))
        .expect("the viewer connects to the pod");
    viewer
}

fn audit_rows(postgres: &Postgres) -> Vec<serde_json::Value> {
    let output = super::framechain(&[
        "audit",
        "--postgres",
        &postgres.url(),
        "--room",
        ROOM,
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

/// Which (action, participant, pod) joins the audit trail holds.
fn joins(rows: &[serde_json::Value]) -> Vec<(String, String, String)> {
    rows.iter()
        .filter(|row| row["what"] == "joined")
        .map(|row| {
            let text = |key: &str| row[key].as_str().unwrap_or_default().to_owned();
            (text("action"), text("participant"), text("pod"))
        })
        .collect()
}

#[test]
fn a_killed_pod_s_room_moves_and_the_audit_trail_holds_both_halves() {
    let Some(clip) = clip() else {
        return;
    };
    let dir = temp_folder("framechain-center-e2e");
    let redis = RedisServer::start();
    let postgres = Postgres::start();
    let users = new_keys(&dir.join("users"), KeyKind::P256).unwrap();
    let tickets = new_keys(&dir.join("tickets"), KeyKind::P256).unwrap();
    let admin = dir.join("admin-token");
    std::fs::write(&admin, "an-admin-token-of-the-test-0123456789").unwrap();
    let rooms = dir.join("rooms.json");
    std::fs::write(
        &rooms,
        format!(
            r#"[{{"room": "{ROOM}", "patient": "p-1", "clinicians": ["d-1"],
                "pipelines": {{"patient": "forward"}}}}]"#
        ),
    )
    .unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let center_port = free_loopback_port();
    let center = format!("http://127.0.0.1:{center_port}");
    let _center = Process::spawn(
        "center",
        &[
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
            path(&tickets.private),
            "--rooms".into(),
            path(&rooms),
            "--name".into(),
            "center-a".into(),
            "--migrate".into(),
        ],
        &dir,
    );
    let pipeline = framechain_test_support::workspace_root().join("examples/telemedicine.yaml");
    let mut pods: Vec<(String, Process)> = (0..3)
        .map(|index| {
            let node = format!("pod-{index}");
            let http = free_loopback_port();
            let media = free_loopback_port();
            let process = Process::spawn(
                &node,
                &[
                    "serve".into(),
                    "--pipeline".into(),
                    path(&pipeline),
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
                    format!("http://127.0.0.1:{http}"),
                    "--spool".into(),
                    path(&dir.join(format!("spool-{index}"))),
                    "--capacity".into(),
                    "10".into(),
                ],
                &dir,
            );
            (node, process)
        })
        .collect();
    wait_for(
        "three pods alive at the centre",
        Duration::from_secs(60),
        || (alive_pods(&center) == 3).then_some(()),
    );

    // A visit through the centre: both ends land on the room's pod.
    let patient = token(&users.private, "p-1", "patient");
    let clinician = token(&users.private, "d-1", "clinician");
    let publisher = publish(&center, &patient, &clip);
    let viewer = view(&center, &clinician);
    let first = placed_node(&center).expect("the room is placed");
    assert!(
        publisher.resource().contains("127.0.0.1"),
        "{}",
        publisher.resource()
    );
    viewer
        .wait_units(10, Duration::from_secs(15))
        .expect("the viewer receives the patient's video through the first pod");

    // The pod dies in the running call.
    let killed_at = Instant::now();
    pods.iter_mut()
        .find(|(node, _)| *node == first)
        .expect("the placed pod is one of ours")
        .1
        .kill();
    let second = wait_for(
        "the room placed again on another pod",
        REPLACED_WITHIN + Duration::from_secs(5),
        || placed_node(&center).filter(|node| *node != first),
    );
    let replaced_after = killed_at.elapsed();
    assert!(
        replaced_after <= REPLACED_WITHIN,
        "the room moved after {replaced_after:?}, over {REPLACED_WITHIN:?}"
    );
    drop(publisher);
    drop(viewer);

    // The reconnects go through the centre again and land on the new pod.
    let publisher = publish(&center, &patient, &clip);
    let viewer = view(&center, &clinician);
    viewer
        .wait_units(10, Duration::from_secs(15))
        .expect("the viewer receives the patient's video through the second pod");
    let interrupted = killed_at.elapsed();
    eprintln!(
        "failover: {first} killed; room on {second} after {:.1} s; video back at the viewer after {:.1} s",
        replaced_after.as_secs_f64(),
        interrupted.as_secs_f64()
    );

    // The audit trail shows both halves, and its chains are intact.
    let expected = [
        ("publish", "p-1", first.as_str()),
        ("watch", "d-1", first.as_str()),
        ("publish", "p-1", second.as_str()),
        ("watch", "d-1", second.as_str()),
    ];
    let rows = wait_for(
        "both halves in the audit trail",
        Duration::from_secs(20),
        || {
            let rows = audit_rows(&postgres);
            let found = joins(&rows);
            expected
                .iter()
                .all(|(action, who, pod)| {
                    found
                        .iter()
                        .any(|(a, p, n)| a == action && p == who && n == pod)
                })
                .then_some(rows)
        },
    );
    assert!(rows.len() >= expected.len());
    // The centre's status tells the call's story from the same events: the
    // call runs on the second pod now.
    let stream = format!("{ROOM}/p-1");
    wait_for(
        "the call on the second pod in the status",
        Duration::from_secs(20),
        || {
            let status = get_json(&format!("{center}/center/status.json"))?;
            status["calls"]
                .as_array()?
                .iter()
                .any(|call| {
                    call["stream"] == stream.as_str()
                        && call["pod"] == second.as_str()
                        && call["running"] == true
                })
                .then_some(())
        },
    );
    let verify = super::framechain(&["audit", "verify", "--postgres", &postgres.url()]);
    assert!(
        verify.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        super::stderr(&verify)
    );
    drop(publisher);
    drop(viewer);
    drop(pods);
    let _ = std::fs::remove_dir_all(&dir);
}
