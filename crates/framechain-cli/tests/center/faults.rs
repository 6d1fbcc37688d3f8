//! The issue's fault run with real calls, counted by id: a centre, two
//! `framechain serve` pods, a real Redis and PostgreSQL 15, a call that
//! runs throughout and new joins through the centre's URL all along.
//! In turn:
//!
//! 1. Redis is stopped: the pods spool, the running call goes on, and the
//!    pod with a small spool (`--spool-max-bytes`) refuses joins with
//!    `503` once it is full;
//! 2. PostgreSQL is stopped: the events wait in the stream;
//! 3. the centre is killed (`SIGKILL`) in the middle of a batch: its
//!    insert is held on a table lock inside its transaction, read from
//!    the stream and not acknowledged, when it dies; it starts again;
//! 4. a pod is killed (`SIGKILL`) with records in its spool (Redis's
//!    writes paused, so they cannot leave) and started again on it.
//!
//! Then every record the pods' spools ever held (each chain from seq 0 to
//! its head, and the ids left in the killed pod's spool) is in PostgreSQL
//! exactly once, the chains verify, and every join the pods admitted has
//! its row while no join refused for want of a record has one.
//!
//! The outages last `FRAMECHAIN_FAULT_SECONDS` (2 s here; 30 s in
//! `scripts/center-faults.sh`).

use std::collections::{BTreeMap, HashSet};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use framechain_events::spool::Spool;
use framechain_loadgen::{Endpoint, Error, PublishOptions, Publisher, ViewOptions, Viewer};
use framechain_test_support::prometheus::{parse_exposition, value_of};
use framechain_test_support::services::{POSTGRES_USER, Postgres};

use super::failover::clip;
use super::fleet::{Fleet, Pod, Setup, wait_for};

/// The running call's room, on pod-0, whose spool is small.
const ROOM_A: &str = "faults-a";
/// The other room, on pod-1, the pod killed with records in its spool.
const ROOM_B: &str = "faults-b";
pub(super) const PATIENT: &str = "p-1";
pub(super) const WATCHER: &str = "d-w";
/// Clinicians who join and leave in turn (a room holds 16 participants).
const JOINERS: usize = 14;
/// pod-0's spool bound: a handful of records.
pub(super) const SMALL_SPOOL: &str = "4096";
/// Join attempts at most, over the whole run (the 30 s outages of
/// `scripts/center-faults.sh` make about 1800; a refusal is quick).
const MAX_JOINS: usize = 6000;
/// Longest wait for the fleet to come back after a fault.
const RECOVERY: Duration = Duration::from_secs(45);

fn fault_time() -> Duration {
    let seconds = std::env::var("FRAMECHAIN_FAULT_SECONDS")
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(2);
    Duration::from_secs(seconds)
}

pub(super) fn room_json(room: &str, site: &str) -> String {
    let mut clinicians: Vec<String> = (0..JOINERS).map(|n| format!("\"d-{n}\"")).collect();
    clinicians.push(format!("\"{WATCHER}\""));
    format!(
        r#"{{"room": "{room}", "patient": "{PATIENT}", "clinicians": [{}],
            "pipelines": {{"patient": "forward"}}, "labels": {{"site": "{site}"}}}}"#,
        clinicians.join(", ")
    )
}

/// What became of one join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// `201` from a pod: it must have its record.
    Admitted,
    /// `503` from a pod whose audit trail could not take the record.
    AuditRefused,
    /// Anything else (the centre or a pod away, no publisher yet): counted
    /// by kind, asserted nothing about but that it left at most one row.
    Other(String),
}

/// New joins through the centre, one at a time, and what became of each.
pub(super) struct Joins {
    center: String,
    pod_urls: Vec<String>,
    attempts: Vec<(&'static str, String, Outcome)>,
}

impl Joins {
    pub(super) fn new(fleet: &Fleet) -> Joins {
        Joins {
            center: fleet.center.clone(),
            pod_urls: fleet.pods.iter().map(|pod| pod.url.clone()).collect(),
            attempts: Vec::new(),
        }
    }

    /// One viewer joins `room` (the next clinician in turn) and leaves.
    pub(super) fn one(&mut self, fleet: &Fleet, room: &'static str) -> Outcome {
        assert!(
            self.attempts.len() < MAX_JOINS,
            "more than {MAX_JOINS} joins; the last: {:?}",
            &self.attempts[self.attempts.len() - 5..]
        );
        let who = format!("d-{}", self.attempts.len() % JOINERS);
        let token = fleet.token(&who, "clinician", room);
        let outcome = match Viewer::start(
            &Endpoint::new(&self.center, format!("{room}/{PATIENT}"), &token),
            ViewOptions {
                keep_data: false,
                connect_timeout: Duration::from_secs(5),
            },
        ) {
            Ok(viewer) => {
                // Leaves at once (`DELETE`); a pod that cannot answer it
                // ends the session on its own.
                let _ = viewer.stop();
                Outcome::Admitted
            }
            Err(Error::Refused {
                url, status, body, ..
            }) if status == 503
                && body.contains("audit trail")
                && self
                    .pod_urls
                    .iter()
                    .any(|pod| url.starts_with(pod.as_str())) =>
            {
                Outcome::AuditRefused
            }
            Err(Error::Refused { url, status, .. }) => {
                let at = if url.starts_with(&self.center) {
                    "centre"
                } else {
                    "pod"
                };
                Outcome::Other(format!("{status} from the {at}"))
            }
            Err(Error::Http(_)) => Outcome::Other("no answer".into()),
            Err(error) => Outcome::Other(format!("{error}").chars().take(60).collect()),
        };
        if matches!(outcome, Outcome::Other(_)) {
            // Something is away: try again soon, not in a tight loop.
            std::thread::sleep(Duration::from_millis(100));
        }
        self.attempts.push((room, who, outcome.clone()));
        outcome
    }

    /// Joins both rooms in turn until `probe` holds, at most `within`.
    fn until<T>(
        &mut self,
        fleet: &Fleet,
        what: &str,
        within: Duration,
        mut probe: impl FnMut(&mut Joins, &Fleet) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + within;
        let mut turn = 0usize;
        loop {
            if let Some(value) = probe(self, fleet) {
                return value;
            }
            assert!(Instant::now() < deadline, "{what}: not within {within:?}");
            let room = if turn.is_multiple_of(2) {
                ROOM_A
            } else {
                ROOM_B
            };
            turn += 1;
            self.one(fleet, room);
        }
    }

    /// Whether a join into `room` was admitted since attempt `since`.
    fn admitted_since(&self, since: usize, room: &str) -> bool {
        self.attempts[since..]
            .iter()
            .any(|(r, _, outcome)| *r == room && *outcome == Outcome::Admitted)
    }

    /// Joins until both rooms admitted one again: the fleet is back.
    fn until_both_admit(&mut self, fleet: &Fleet, after: &str) {
        let since = self.attempts.len();
        self.until(
            fleet,
            &format!("joins admitted in both rooms again after {after}"),
            RECOVERY,
            |joins, _| {
                (joins.admitted_since(since, ROOM_A) && joins.admitted_since(since, ROOM_B))
                    .then_some(())
            },
        );
    }

    fn count(&self, wanted: impl Fn(&Outcome) -> bool) -> usize {
        self.attempts
            .iter()
            .filter(|(_, _, outcome)| wanted(outcome))
            .count()
    }
}

pub(super) fn publish(
    fleet: &Fleet,
    room: &str,
    clip: &framechain_loadgen::Clip,
    fps: f64,
) -> Publisher {
    let token = fleet.token(PATIENT, "patient", room);
    let publisher = Publisher::start(
        &Endpoint::new(&fleet.center, room, &token),
        clip.clone(),
        PublishOptions {
            fps,
            ..PublishOptions::default()
        },
    )
    .unwrap_or_else(|error| panic!("{room}: the publisher's offer: {error}"));
    publisher
        .wait_connected(Duration::from_secs(15))
        .unwrap_or_else(|error| panic!("{room}: the publisher connects: {error}"));
    publisher
}

/// The clinician `WATCHER` watching `room`'s patient through the centre,
/// keeping no payloads (the calls here count and time what arrives).
pub(super) fn watch(fleet: &Fleet, room: &str) -> Viewer {
    Viewer::start(
        &Endpoint::new(
            &fleet.center,
            format!("{room}/{PATIENT}"),
            fleet.token(WATCHER, "clinician", room),
        ),
        ViewOptions {
            keep_data: false,
            ..ViewOptions::default()
        },
    )
    .unwrap_or_else(|error| panic!("{room}: the viewer is admitted: {error}"))
}

/// Waits until the running call's viewer got `more` access units beyond
/// what it had: the call goes on.
fn call_goes_on(viewer: &Viewer, more: u64, when: &str) {
    let had = viewer.stats().units;
    viewer
        .wait_units(had + more, Duration::from_secs(20))
        .unwrap_or_else(|error| panic!("the running call, {when}: {error}"));
}

pub(super) fn pod_metric(pod: &Pod, name: &str) -> Option<f64> {
    value_of(&parse_exposition(&pod.metrics()?), name, &[])
}

/// One Redis command over RESP on loopback (the test binary has no Redis
/// client of its own): the first line of the reply.
fn redis_command(port: u16, args: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("Redis answers");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = [0u8; 256];
    let read = stream.read(&mut reply).expect("Redis replies");
    String::from_utf8_lossy(&reply[..read]).trim().to_owned()
}

/// A `psql` session holding a SHARE lock on `audit_events` (reads go on,
/// inserts wait) for at most a minute, until [`release_lock`].
fn hold_insert_lock(postgres: &Postgres) -> Child {
    Command::new("/usr/lib/postgresql/15/bin/psql")
        .args(["-h", "127.0.0.1", "-p"])
        .arg(postgres.port().to_string())
        .args(["-U", POSTGRES_USER, "-d", "framechain", "-c"])
        .arg("BEGIN; LOCK TABLE audit_events IN SHARE MODE; SELECT pg_sleep(60); COMMIT;")
        .env("PGPASSWORD", POSTGRES_USER)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run psql")
}

fn release_lock(postgres: &Postgres, mut locker: Child) {
    postgres.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()",
    );
    let _ = locker.kill();
    let _ = locker.wait();
}

/// What a pod's spool says once the pod is down: its chain, how many
/// records the chain holds, the last one's hash, and the records not yet
/// shipped (id, seq).
struct Head {
    chain: String,
    records: u64,
    last_hash: String,
    unshipped: Vec<(String, u64)>,
}

fn read_spool(dir: &Path) -> Head {
    let spool = Spool::open(dir, u64::MAX).expect("the spool opens once its pod is down");
    let batch = spool.peek(100_000).unwrap();
    Head {
        chain: spool.chain().to_string(),
        records: spool.next_seq(),
        last_hash: spool.last_hash().to_owned(),
        unshipped: batch
            .records
            .iter()
            .map(|record| (record.id.to_string(), record.seq))
            .collect(),
    }
}

/// Stops a pod once its spool is shipped and reads the spool's head. A
/// record written between the last look and the kill is shipped by
/// starting the pod again on its spool (at most three times).
fn settle(fleet: &mut Fleet, index: usize) -> Head {
    let dir = fleet.dir.clone();
    for _ in 0..3 {
        let pod = &mut fleet.pods[index];
        wait_for(&format!("{}'s spool shipped", pod.node), RECOVERY, || {
            (pod_metric(pod, "framechain_audit_pending") == Some(0.0)).then_some(())
        });
        pod.process.kill();
        let head = read_spool(&pod.spool);
        if head.unshipped.is_empty() {
            return head;
        }
        pod.restart(&dir);
        wait_for(&format!("{} back", pod.node), RECOVERY, || {
            pod.metrics().map(drop)
        });
    }
    panic!("pod-{index}'s spool never emptied");
}

fn sql_number(postgres: &Postgres, sql: &str) -> i64 {
    let text = postgres.psql(sql);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{sql}: {text}"))
}

#[test]
fn faults_during_real_calls_lose_no_event_and_admit_no_join_unrecorded() {
    let Some(clip) = clip() else {
        return;
    };
    let fault = fault_time();
    let started = Instant::now();
    let pipeline = framechain_test_support::workspace_root().join("examples/telemedicine.yaml");
    let rooms = format!("[{}, {}]", room_json(ROOM_A, "a"), room_json(ROOM_B, "b"));
    let pod_args = |index: usize, _: &[String]| {
        let mut args = vec!["--label".to_owned(), format!("site={}", ["a", "b"][index])];
        if index == 0 {
            args.extend(["--spool-max-bytes".to_owned(), SMALL_SPOOL.to_owned()]);
        }
        args
    };
    let mut fleet = Fleet::start_with(
        "framechain-center-faults",
        &Setup {
            rooms: Some(&rooms),
            capacities: &[10, 10],
            pipeline: &pipeline,
            pod_args: &pod_args,
        },
    );
    let mut joins = Joins::new(&fleet);

    // The running call in room A (pod-0), a publisher in room B (pod-1).
    let publisher_a = publish(&fleet, ROOM_A, &clip, 15.0);
    let watcher = watch(&fleet, ROOM_A);
    watcher
        .wait_units(10, Duration::from_secs(20))
        .expect("the running call's video");
    assert_eq!(fleet.placed_node(ROOM_A).as_deref(), Some("pod-0"));
    assert_eq!(fleet.placed_node(ROOM_B).as_deref(), Some("pod-1"));
    let mut publisher_b = publish(&fleet, ROOM_B, &clip, 15.0);
    joins.until_both_admit(&fleet, "the start");

    // 1. Redis away: the pods spool; pod-0's small spool fills and refuses.
    fleet.redis.stop();
    let since = joins.attempts.len();
    let down = Instant::now();
    joins.until(
        &fleet,
        "a join refused by pod-0's full spool while Redis is away",
        fault + RECOVERY,
        |joins, _| {
            let refused = joins.attempts[since..]
                .iter()
                .any(|(room, _, outcome)| *room == ROOM_A && *outcome == Outcome::AuditRefused);
            (refused && down.elapsed() >= fault).then_some(())
        },
    );
    call_goes_on(&watcher, 10, "while Redis is away and the spool is full");
    let redis_refused = joins.count(|outcome| *outcome == Outcome::AuditRefused);
    fleet.redis.start_again();
    joins.until_both_admit(&fleet, "Redis came back");
    // The pods' keys may have expired while Redis was away; the rooms
    // stay where they run.
    assert_eq!(fleet.placed_node(ROOM_A).as_deref(), Some("pod-0"));
    call_goes_on(&watcher, 10, "after Redis came back");

    // 2. PostgreSQL away: the events wait in the stream.
    fleet.postgres.stop();
    let down = Instant::now();
    joins.until(&fleet, "the PostgreSQL outage", fault + RECOVERY, |_, _| {
        (down.elapsed() >= fault).then_some(())
    });
    call_goes_on(&watcher, 10, "while PostgreSQL is away");
    fleet.postgres.start_again();
    joins.until_both_admit(&fleet, "PostgreSQL came back");

    // 3. The centre dies in the middle of a batch: its transaction's insert
    // waits on a lock (entries read, nothing committed nor acknowledged).
    let locker = hold_insert_lock(&fleet.postgres);
    let postgres_url = fleet.postgres.url();
    joins.until(
        &fleet,
        "the centre's insert held inside its transaction",
        RECOVERY,
        |_, fleet| {
            (sql_number(
                &fleet.postgres,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND query LIKE 'INSERT INTO audit_events%'",
            ) > 0)
                .then_some(())
        },
    );
    fleet.kill_center();
    release_lock(&fleet.postgres, locker);
    fleet.start_center_again();
    wait_for("the centre back", RECOVERY, || {
        (fleet.alive_pods() == 2).then_some(())
    });
    joins.until_both_admit(&fleet, "the centre was killed");
    call_goes_on(&watcher, 10, "after the centre was killed");

    // 4. pod-1 dies with records in its spool: Redis takes no writes, so a
    // join's record cannot leave the spool.
    assert_eq!(
        redis_command(fleet.redis.port(), &["CLIENT", "PAUSE", "30000", "WRITE"]),
        "+OK"
    );
    let in_spool = {
        let since = joins.attempts.len();
        let mut turn = 0;
        loop {
            let pending = pod_metric(&fleet.pods[1], "framechain_audit_pending").unwrap_or(0.0);
            if pending >= 1.0 && joins.admitted_since(since, ROOM_B) {
                break;
            }
            assert!(turn < 50, "no record waits in pod-1's spool");
            turn += 1;
            joins.one(&fleet, ROOM_B);
        }
        fleet.pods[1].process.kill();
        read_spool(&fleet.pods[1].spool).unshipped
    };
    assert!(!in_spool.is_empty(), "records in the killed pod's spool");
    assert_eq!(
        redis_command(fleet.redis.port(), &["CLIENT", "UNPAUSE"]),
        "+OK"
    );
    let dir = fleet.dir.clone();
    fleet.pods[1].restart(&dir);
    wait_for("pod-1 back", RECOVERY, || {
        (fleet.pods[1].metrics().is_some() && fleet.alive_pods() == 2).then_some(())
    });
    drop(publisher_b);
    publisher_b = publish(&fleet, ROOM_B, &clip, 15.0);
    joins.until_both_admit(&fleet, "pod-1 was killed");
    call_goes_on(&watcher, 10, "at the end");

    // The calls end; every pod's spool is shipped and read.
    drop(watcher);
    drop(publisher_a);
    drop(publisher_b);
    let heads: Vec<Head> = (0..fleet.pods.len())
        .map(|index| settle(&mut fleet, index))
        .collect();
    let written: u64 = heads.iter().map(|head| head.records).sum();
    let deadline = Instant::now() + RECOVERY;
    loop {
        let rows = sql_number(&fleet.postgres, "SELECT count(*) FROM audit_events");
        if rows >= written as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{rows} rows in PostgreSQL within {RECOVERY:?}, of the {written} records the spools held"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Every record exactly once, by chain and seq, and the chains' heads
    // are the spools' heads.
    assert_eq!(
        sql_number(&fleet.postgres, "SELECT count(*) FROM audit_events"),
        written as i64,
        "rows against the records the spools held"
    );
    for head in &heads {
        let row = fleet.postgres.psql(&format!(
            "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM audit_events \
             WHERE chain = '{}'",
            head.chain
        ));
        assert_eq!(
            row.trim(),
            format!("{}|{}|0|{}", head.records, head.records, head.records - 1),
            "chain {}",
            head.chain
        );
        let last = fleet.postgres.psql(&format!(
            "SELECT hash FROM audit_events WHERE chain = '{}' AND seq = {}",
            head.chain,
            head.records - 1
        ));
        assert_eq!(
            last.trim(),
            head.last_hash,
            "chain {}'s last record",
            head.chain
        );
    }
    // The records left in the killed pod's spool, by id.
    let ids: Vec<String> = in_spool.iter().map(|(id, _)| format!("'{id}'")).collect();
    assert_eq!(
        sql_number(
            &fleet.postgres,
            &format!(
                "SELECT count(*) FROM audit_events WHERE id IN ({})",
                ids.join(",")
            )
        ),
        in_spool.len() as i64,
        "the killed pod's spooled records"
    );
    assert_eq!(
        sql_number(&fleet.postgres, "SELECT count(*) FROM audit_rejects"),
        0
    );
    let verify = super::framechain(&["audit", "verify", "--postgres", &postgres_url]);
    assert!(
        verify.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        super::stderr(&verify)
    );

    // No join admitted without its row, none refused with one.
    let rows = fleet.postgres.psql(
        "SELECT room, participant, count(*) FROM audit_events \
         WHERE kind = 'participant_joined' GROUP BY room, participant",
    );
    let recorded: BTreeMap<(String, String), usize> = rows
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('|').collect();
            (
                (fields[0].to_owned(), fields[1].to_owned()),
                fields[2].parse().unwrap(),
            )
        })
        .collect();
    let mut keys: HashSet<(String, String)> = HashSet::new();
    for (room, who, _) in &joins.attempts {
        keys.insert((room.to_string(), who.clone()));
    }
    for key in &keys {
        let of = |wanted: &dyn Fn(&Outcome) -> bool| {
            joins
                .attempts
                .iter()
                .filter(|(room, who, outcome)| *room == key.0 && *who == key.1 && wanted(outcome))
                .count()
        };
        let admitted = of(&|outcome| *outcome == Outcome::Admitted);
        let other = of(&|outcome| matches!(outcome, Outcome::Other(_)));
        let rows = recorded.get(key).copied().unwrap_or(0);
        assert!(
            admitted <= rows && rows <= admitted + other,
            "{key:?}: {admitted} joins admitted, {other} ended otherwise, {rows} joined rows"
        );
    }
    let admitted = joins.count(|outcome| *outcome == Outcome::Admitted);
    let refused = joins.count(|outcome| *outcome == Outcome::AuditRefused);
    let mut others: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, outcome) in &joins.attempts {
        if let Outcome::Other(kind) = outcome {
            *others.entry(kind.clone()).or_default() += 1;
        }
    }
    assert!(redis_refused > 0);
    eprintln!(
        "faults ({} s outages): {} joins: {admitted} admitted, each recorded once; {refused} refused \
         with 503 for want of an audit record ({redis_refused} while Redis was away); others {others:?}; \
         {written} records in {} chains, all in PostgreSQL once ({} left in the killed pod's spool); {:.1} s",
        fault.as_secs(),
        joins.attempts.len(),
        heads.len(),
        in_spool.len(),
        started.elapsed().as_secs_f64()
    );
    drop(fleet);
}
