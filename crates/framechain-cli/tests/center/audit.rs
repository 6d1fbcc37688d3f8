//! `framechain audit` and `framechain audit verify` as an auditor runs
//! them, on a real PostgreSQL 15 holding events stored the way the
//! centre's ingest stores them.

use std::time::{SystemTime, UNIX_EPOCH};

use framechain_center::ingest::{StreamEntry, store};
use framechain_events::chain::GENESIS;
use framechain_events::{Action, Event, EventKind, Sealed};
use framechain_test_support::services::Postgres;
use uuid::Uuid;

use super::{assert_one_line_error, framechain, stderr};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A visit on pod-a: the patient publishes, a clinician watches, a
/// stranger is refused, the clinician leaves; and another room's join.
/// Returns the ids in order.
fn a_visit(postgres: &Postgres) -> Vec<Uuid> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = framechain_center::db::connect(&postgres.url())
            .await
            .unwrap();
        framechain_center::db::migrate(&mut client).await.unwrap();
        let chain = Uuid::now_v7();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let joined =
            |action, role: &str, address: &str, decision: &str| EventKind::ParticipantJoined {
                action,
                role: role.into(),
                address: address.into(),
                stream: "visit1/p-1".into(),
                pipeline_digest: "sha256:4f2a9c0e7b1d3a5c8e6f0b2d4a6c8e0f".into(),
                decision: decision.into(),
            };
        let what = [
            (
                "visit1",
                Some("p-1"),
                joined(
                    Action::Publish,
                    "patient",
                    "203.0.113.7:50123",
                    "allow: patient publishes",
                ),
            ),
            (
                "visit1",
                Some("c-1"),
                joined(
                    Action::Watch,
                    "clinician",
                    "198.51.100.4:41000",
                    "allow: clinician watches patient",
                ),
            ),
            (
                "visit1",
                None,
                EventKind::ParticipantRefused {
                    action: Action::Watch,
                    address: "192.0.2.66:5000".into(),
                    status: 403,
                    reason: "deny: not a participant of visit1".into(),
                },
            ),
            (
                "visit1",
                Some("c-1"),
                EventKind::ParticipantLeft {
                    action: Action::Watch,
                    stream: "visit1/p-1".into(),
                    reason: "hung up".into(),
                },
            ),
            (
                "visit2",
                Some("c-1"),
                joined(
                    Action::Watch,
                    "clinician",
                    "198.51.100.4:41002",
                    "allow: clinician watches patient",
                ),
            ),
        ];
        let mut prev = GENESIS.to_owned();
        let mut entries = Vec::new();
        let mut ids = Vec::new();
        for (seq, (room, participant, what)) in what.into_iter().enumerate() {
            let event = Event {
                id: Uuid::now_v7(),
                pod: "pod-a".into(),
                chain,
                seq: seq as u64,
                time_ms: now_ms + seq as i64,
                room: Some(room.into()),
                participant: participant.map(str::to_owned),
                what,
            };
            let sealed = Sealed::new(&prev, event.body());
            prev = sealed.hash.clone();
            entries.push(StreamEntry::of(&format!("1-{seq}"), event.id, &sealed));
            ids.push(event.id);
        }
        let stored = store(&mut client, &entries).await.unwrap();
        assert_eq!(stored.inserted, 5);
        ids
    })
}

#[test]
fn audit_answers_who_published_and_who_watched_a_room() {
    let postgres = Postgres::start();
    let ids = a_visit(&postgres);
    let url = postgres.url();

    let output = framechain(&["audit", "--postgres", &url, "--room", "visit1", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    // Oldest first.
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    let expected: Vec<String> = ids[..4].iter().map(Uuid::to_string).collect();
    assert_eq!(events, expected);
    let publisher = &lines[0];
    assert_eq!(publisher["what"], "joined");
    assert_eq!(publisher["action"], "publish");
    assert_eq!(publisher["participant"], "p-1");
    assert_eq!(publisher["address"], "203.0.113.7:50123");
    assert_eq!(
        publisher["pipeline_digest"],
        "sha256:4f2a9c0e7b1d3a5c8e6f0b2d4a6c8e0f"
    );
    assert_eq!(publisher["decision"], "allow: patient publishes");
    assert!(publisher["time"].as_str().unwrap().ends_with('Z'));
    let watcher = &lines[1];
    assert_eq!(
        (
            &watcher["action"],
            &watcher["participant"],
            &watcher["role"]
        ),
        (
            &serde_json::json!("watch"),
            &serde_json::json!("c-1"),
            &serde_json::json!("clinician")
        )
    );
    assert_eq!(lines[2]["what"], "refused");
    assert_eq!(
        lines[2]["decision"],
        "403 deny: not a participant of visit1"
    );
    assert_eq!(lines[3]["what"], "left");

    // A participant across rooms; a window; the table.
    let output = framechain(&[
        "audit",
        "--postgres",
        &url,
        "--participant",
        "c-1",
        "--json",
    ]);
    assert_eq!(stdout(&output).lines().count(), 3, "{}", stdout(&output));
    let output = framechain(&["audit", "--postgres", &url, "--since", "1h", "--json"]);
    assert_eq!(stdout(&output).lines().count(), 5, "{}", stdout(&output));
    let output = framechain(&[
        "audit",
        "--postgres",
        &url,
        "--since",
        "2999-01-01",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    let output = framechain(&["audit", "--postgres", &url, "--room", "visit1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 5, "{table}");
    assert!(
        rows[0].starts_with("TIME") && rows[0].contains("DECISION"),
        "{table}"
    );
    assert!(
        rows[1].contains("publish") && rows[1].contains("p-1") && rows[1].contains("203.0.113.7"),
        "{table}"
    );

    // Mistakes: one line, exit 1.
    let output = framechain(&["audit", "--postgres", &url, "--since", "last week"]);
    assert_one_line_error(&output, "--since: expected RFC 3339");
    let closed = format!(
        "postgres://framechain:framechain@127.0.0.1:{}/framechain",
        framechain_test_support::services::free_loopback_port()
    );
    let output = framechain(&["audit", "--postgres", &closed]);
    assert_one_line_error(&output, "PostgreSQL");
    let output = framechain(&["audit", "--postgres", "not a url"]);
    assert_one_line_error(&output, "--postgres");
}

#[test]
fn audit_verify_says_ok_then_names_the_rows_changed_behind_its_back() {
    let postgres = Postgres::start();
    let ids = a_visit(&postgres);
    let url = postgres.url();
    let output = framechain(&["audit", "verify", "--postgres", &url]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "ok: 5 records in 1 chains\n");

    postgres.tamper(&format!(
        "UPDATE audit_events SET participant = 'c-2' WHERE id = '{}';
         DELETE FROM audit_events WHERE id = '{}';",
        ids[1], ids[3]
    ));
    let output = framechain(&["audit", "verify", "--postgres", &url]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("altered: chain ")
            && lines[0].contains(&format!("seq 1 id {}", ids[1]))
            && lines[0].contains("column participant differs from the body"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("removed: chain ") && lines[1].contains("seq 3 missing"),
        "{text}"
    );
    assert_eq!(lines[2], "bad: 2 problems in 4 records of 1 chains");
}
